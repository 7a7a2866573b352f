"""Routing tables (+ meta) -> the JSON dict of a configuration, validated by the decoder before it
is returned so that no invalid configuration is ever written."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from neurocc.backends.target import Target
from neurocc.compiler.circuits import CircuitOptions
from neurocc.compiler.errors import ConfigError, TargetError
from neurocc.compiler.tables import CoreConfig, RoutingTables

from .canonical import canonical_tables, population_offsets
from .codec import Codec, Unrepresentable
from .decode import VERSION, decode
from .meta import ConfigMeta

TABLES = "routing tables"


def encode(tables: RoutingTables, target: Target, meta: ConfigMeta, codec_type: type[Codec]
           ) -> dict[str, Any]:
    """The JSON dict of a deployment; validated by :func:`decode` before it is returned."""
    check_tables(tables, target)
    codec = codec_type(target)
    t = canonical_tables(tables)
    data: dict[str, Any] = {
        "format": codec.format,
        "version": VERSION,
        "target": {"name": target.name, "chips": target.chips, "sram_usable": target.sram_usable,
                   "options": dict(target.options)},
        "populations": [{"name": n, "size": s} for n, s in t.populations],
        "neuron_map": _neuron_map(t),
        "inputs": _inputs(t, codec),
        "outputs": [{"population": name, "neurons": _locations(t, _population_hw(t, name))}
                    for name in t.outputs],
        "chips": _chips(t, meta, codec),
    }
    mapping: dict[str, Any] = {}
    if meta.dt is not None:
        mapping["dt"] = float(meta.dt)
    if meta.circuit_options is not None:
        mapping["circuit_options"] = _options_json(meta.circuit_options)
    if meta.network_sha256 is not None:
        mapping["network_sha256"] = meta.network_sha256
    if mapping:
        data["mapping"] = mapping
    if meta.projections:
        data["projections"] = [dataclasses.asdict(p) for p in meta.projections]
    decode(data, target, codec_type, where="config generated from the routing tables")
    return data


def _options_json(options: CircuitOptions) -> dict[str, Any]:
    """The options as JSON, floats as floats (``time_scale=1`` reads back as 1.0)."""
    out = {}
    for f in dataclasses.fields(options):
        value = getattr(options, f.name)
        out[f.name] = float(value) if value is not None and str(f.type).startswith("float") \
            else value
    return out


def check_tables(t: RoutingTables, target: Target) -> None:
    """Raise :class:`ConfigError` unless ``t`` was routed for ``target`` and is self-consistent."""
    expected = {"target": target.name, "chips": target.chips,
                "cores_per_chip": target.cores_per_chip,
                "neurons_per_core": target.neurons_per_core,
                "syn_types": tuple(st.name for st in target.synapse_types)}
    for name, value in expected.items():
        got = getattr(t, name)
        if (tuple(got) if name == "syn_types" else got) != value:
            raise ConfigError(f"tables.{name} is {got!r} but target {target.name} has {value!r}",
                              where=TABLES, fix="emit the tables with the target they were "
                                                "routed for")
    n = sum(s for _, s in t.populations)
    if len(t.neuron_hw) != n:
        raise ConfigError(f"neuron_hw has {len(t.neuron_hw)} entries for {n} neurons",
                          where=TABLES, fix="give every IR neuron its hardware id")
    total = target.total_neurons
    for name, values in (("neuron_hw", t.neuron_hw), ("cam_post", t.cam_post),
                         ("sram_src", t.sram_src[t.sram_src >= 0])):
        bad = np.flatnonzero((values < 0) | (values >= total))
        if bad.size:
            raise ConfigError(f"{name}[{bad[0]}] = {values[bad[0]]} is not a hardware neuron "
                              f"(0..{total - 1})", where=TABLES,
                              fix="route the network for this target")
    channels = sum(s for _, s in t.input_populations)
    bad = np.flatnonzero(t.sram_src < -channels)
    if bad.size:
        raise ConfigError(f"sram_src[{bad[0]}] = {t.sram_src[bad[0]]} names input channel "
                          f"{-1 - t.sram_src[bad[0]]} but there are {channels}", where=TABLES,
                          fix="number input channels over input_populations")
    for key, core in t.cores.items():
        if key != (core.chip, core.core):
            raise ConfigError(f"cores[{key}] holds the settings of core {(core.chip, core.core)}",
                              where=TABLES, fix="key cores by (chip, core)")


def _population_hw(t: RoutingTables, name: str) -> np.ndarray:
    offsets = population_offsets(t.populations)
    if name not in offsets:
        raise ConfigError(f"output {name!r} is not a population of the tables", where=TABLES,
                          fix=f"outputs name populations of {[n for n, _ in t.populations]}")
    start, size = offsets[name]
    return t.neuron_hw[start:start + size]


def _locations(t: RoutingTables, hw: np.ndarray) -> list[list[int]]:
    chip, core, slot = t.hw_location(hw)
    return [[int(a), int(b), int(c)] for a, b, c in zip(chip, core, slot)]


def _neuron_map(t: RoutingTables) -> dict[str, list[list[int]]]:
    """Runs ``[chip, core, first_slot, count]`` of consecutive IR neurons on consecutive slots."""
    out = {}
    for name, _ in t.populations:
        hw = _population_hw(t, name)
        breaks = np.flatnonzero((np.diff(hw) != 1) |
                                (hw[1:] // t.neurons_per_core != hw[:-1] // t.neurons_per_core))
        starts = np.concatenate(([0], breaks + 1))
        counts = np.diff(np.concatenate((starts, [hw.size])))
        chip, core, slot = t.hw_location(hw[starts])
        out[name] = [[int(a), int(b), int(c), int(n)]
                     for a, b, c, n in zip(chip, core, slot, counts)]
    return out


def _inputs(t: RoutingTables, codec: Codec) -> list[dict[str, Any]]:
    rows = np.flatnonzero(t.sram_src < 0)
    channel = -1 - t.sram_src[rows]
    order = rows[np.argsort(channel, kind="stable")]
    by_channel: dict[int, list[dict[str, Any]]] = {}
    for i in order.tolist():
        c = -1 - int(t.sram_src[i])
        by_channel.setdefault(c, []).append(codec.input_destination(
            int(t.sram_key[i]), int(t.sram_chip[i]), int(t.sram_cores[i])))
    out = []
    for name, (start, size) in population_offsets(t.input_populations).items():
        channels = [{"index": c - start, "destinations": by_channel[c]}
                    for c in range(start, start + size) if c in by_channel]
        out.append({"population": name, "size": size, "channels": channels})
    return out


def _chips(t: RoutingTables, meta: ConfigMeta, codec: Codec) -> list[dict[str, Any]]:
    npc, cpc = t.neurons_per_core, t.cores_per_chip
    src_rows = np.flatnonzero(t.sram_src >= 0)
    s_src = t.sram_src[src_rows]
    used = np.unique(np.concatenate((t.cam_post, s_src,
                                     np.fromiter(meta.latches, dtype=np.int64))))
    c_lo, c_hi = np.searchsorted(t.cam_post, used), np.searchsorted(t.cam_post, used, "right")
    s_lo, s_hi = np.searchsorted(s_src, used), np.searchsorted(s_src, used, "right")
    cam = [a.tolist() for a in (t.cam_key, t.cam_type, t.cam_code)]
    sram = [t.sram_key[src_rows].tolist(), t.sram_chip[src_rows].tolist(),
            t.sram_cores[src_rows].tolist()]
    cores: dict[int, dict[str, Any]] = {}
    for chip, core in t.cores:
        cores[chip * cpc + core] = _core_entry(t.cores[chip, core], codec)
    for j, hw in enumerate(used.tolist()):
        chip, slot = hw // (npc * cpc), hw % npc
        where = f"neuron (chip {chip}, core {(hw // npc) % cpc}, neuron {slot})"
        entry: dict[str, Any] = {"id": slot}
        try:
            if c_hi[j] > c_lo[j]:
                entry["synapses"] = [codec.synapse(cam[0][i], cam[1][i], cam[2][i])
                                     for i in range(c_lo[j], c_hi[j])]
            if s_hi[j] > s_lo[j]:
                entry["destinations"] = [codec.destination(chip, slot, sram[0][i], sram[1][i],
                                                           sram[2][i])
                                         for i in range(s_lo[j], s_hi[j])]
        except Unrepresentable as exc:
            raise ConfigError(f"{where}: {exc.message}", where=TABLES, fix=exc.fix) from None
        if hw in meta.latches:
            entry["latches"] = {k: bool(v) for k, v in meta.latches[hw].items()}
        cores.setdefault(hw // npc, {"id": (hw // npc) % cpc}).setdefault(
            "neurons", []).append(entry)
    chips: dict[int, list[dict[str, Any]]] = {}
    for gcore in sorted(cores):
        chips.setdefault(gcore // cpc, []).append(cores[gcore])
    return [{"id": chip, "cores": chips[chip]} for chip in sorted(chips)]


def _core_entry(core: CoreConfig, codec: Codec) -> dict[str, Any]:
    params: Any = {name: {"coarse_value": int(c), "fine_value": int(f),
                          "type": _transistor(codec.target, name)}
                   for name, (c, f) in core.biases.items()}
    for key in reversed(codec.parameters_path[1:]):
        params = {key: params}
    return {"id": core.core, "parameter_class": int(core.parameter_class),
            codec.parameters_path[0]: params}


def _transistor(target: Target, name: str) -> str:
    try:
        return target.bias(name).transistor
    except TargetError as exc:
        raise ConfigError(f"a core sets unknown bias {name!r}", where=TABLES, fix=exc.fix) from None
