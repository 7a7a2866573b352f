"""A parsed configuration -> routing tables and meta, every field validated against the target.

Types, ranges, counts and references are checked section by section; a failure is one
:class:`ConfigError` naming the JSON path of the culprit, e.g.
``chips[0].cores[2].neurons[17].synapses[3].tag``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from neurocc.backends.json_fields import Fields, child
from neurocc.backends.target import Target, load_target
from neurocc.compiler.circuits import CircuitOptions
from neurocc.compiler.errors import ConfigError, TargetError
from neurocc.compiler.tables import CoreConfig, RoutingTables

from .canonical import canonical_tables, population_offsets
from .codec import Codec
from .meta import ConfigMeta, Deployment, ProjectionRecord
from .text import REGENERATE

VERSION = 1


_ROOT_REQUIRED = ("format", "version", "target", "populations", "neuron_map", "inputs",
                  "outputs", "chips")


def decode(data: Any, target: Target | None, codec_type: type[Codec], where: str) -> Deployment:
    """Validate a parsed config and rebuild its tables and meta.

    ``target`` None loads the target the file names; a given target must agree with the file.
    """
    r = Fields(where, ConfigError, regenerate=REGENERATE)
    root = r.obj(data, "", _ROOT_REQUIRED, ("mapping", "projections"))
    fmt = codec_type.format
    if r.str(root["format"], "format") != fmt:
        raise r.fail("format", f"is {root['format']!r}",
                     fix=f"this reader reads {fmt!r} files; use the reader of that format")
    version = r.int(root["version"], "version", lo=1)
    if version != VERSION:
        raise r.fail("version", f"{version} is newer than this neurocc (reads {VERSION})",
                     fix="upgrade neurocc or regenerate the config")
    target = _resolve_target(r, root["target"], target)
    codec = codec_type(target)
    builder = _Builder(r, target, codec)
    pops = builder.populations(root["populations"])
    input_pops, in_src, in_rows = builder.inputs(root["inputs"])
    neuron_hw = builder.neuron_map(root["neuron_map"], pops)
    outputs = builder.outputs(root["outputs"], pops, neuron_hw)
    builder.chips(root["chips"], set(neuron_hw.tolist()))
    mapping = r.obj(root.get("mapping", {}), "mapping", (),
                    ("dt", "circuit_options", "network_sha256"))
    dt = r.number(mapping["dt"], "mapping.dt", positive=True) if "dt" in mapping else None
    options = _circuit_options(r, mapping["circuit_options"]) \
        if "circuit_options" in mapping else None
    projections = builder.projections(root.get("projections", []), pops, input_pops)
    sram = [np.asarray(builder.sram[k] + in_rows[k], dtype=np.int64) for k in range(3)]
    tables = RoutingTables(
        target=target.name, chips=target.chips, cores_per_chip=target.cores_per_chip,
        neurons_per_core=target.neurons_per_core, syn_types=codec.type_names,
        populations=pops, input_populations=input_pops, neuron_hw=neuron_hw,
        cam_post=np.asarray(builder.cam[0], dtype=np.int64),
        cam_key=np.asarray(builder.cam[1], dtype=np.int64),
        cam_type=np.asarray(builder.cam[2], dtype=np.int64),
        cam_code=np.asarray(builder.cam[3], dtype=np.int64),
        sram_src=np.asarray(builder.sram_src + in_src, dtype=np.int64),
        sram_key=sram[0], sram_chip=sram[1], sram_cores=sram[2],
        cores=builder.cores, outputs=outputs)
    digest = _sha256(r, mapping["network_sha256"]) if "network_sha256" in mapping else None
    meta = ConfigMeta(dt=dt, circuit_options=options, projections=projections,
                      latches=builder.latches, network_sha256=digest)
    return Deployment(tables=canonical_tables(tables), meta=meta)


def _sha256(r: Fields, value: Any) -> str:
    text = r.str(value, "mapping.network_sha256")
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise r.fail("mapping.network_sha256", "is not 64 lowercase hex digits",
                     fix="write the digest neurocc recorded")
    return text


def _resolve_target(r: Fields, value: Any, given: Target | None) -> Target:
    block = r.obj(value, "target", ("name", "chips", "sram_usable", "options"))
    name = r.str(block["name"], "target.name")
    chips = r.int(block["chips"], "target.chips", lo=1)
    sram_usable = r.int(block["sram_usable"], "target.sram_usable", lo=1)
    options = block["options"]
    if not isinstance(options, dict):
        r.obj(options, "target.options", ())
    for key, v in options.items():
        r.str(v, f"target.options.{key}")
    if given is None:
        try:
            return load_target(name, chips=chips, sram_usable=sram_usable, options=options)
        except TargetError as exc:
            raise r.fail("target", exc.message, fix="name a shipped target") from None
    wanted = {"name": name, "chips": chips, "sram_usable": sram_usable, "options": options}
    have = {"name": given.name, "chips": given.chips, "sram_usable": given.sram_usable,
            "options": dict(given.options)}
    for key in wanted:
        if wanted[key] != have[key]:
            raise r.fail(f"target.{key}", f"the file was written for {wanted[key]!r}, the given "
                                          f"target has {have[key]!r}",
                         fix="load the target the file names, or pass no target")
    return given


def _circuit_options(r: Fields, value: Any) -> CircuitOptions:
    fields = {f.name: f for f in dataclasses.fields(CircuitOptions)}
    obj = r.obj(value, "mapping.circuit_options", (), fields)
    kwargs: dict[str, Any] = {}
    for key, v in obj.items():
        path = f"mapping.circuit_options.{key}"
        kinds = str(fields[key].type)
        if v is None and "None" in kinds:
            kwargs[key] = None
        elif kinds.startswith("float"):
            kwargs[key] = r.number(v, path)
        else:
            kwargs[key] = r.str(v, path)
    return CircuitOptions(**kwargs)


class _Builder:
    """Accumulates the rows of the tables while validating the config section by section."""

    def __init__(self, r: Fields, target: Target, codec: Codec):
        self.r, self.target, self.codec = r, target, codec
        self.npc, self.cpc = target.neurons_per_core, target.cores_per_chip
        self.cam: list[list[int]] = [[], [], [], []]
        self.sram_src: list[int] = []
        self.sram: list[list[int]] = [[], [], []]
        self.cores: dict[tuple[int, int], CoreConfig] = {}
        self.latches: dict[int, dict[str, bool]] = {}
        self.names: set[str] = set()

    def _name(self, value: Any, path: str) -> str:
        name = self.r.str(value, path)
        if name in self.names:
            raise self.r.fail(path, f"population {name!r} is listed twice",
                              fix="give every population a unique name")
        self.names.add(name)
        return name

    def populations(self, value: Any) -> list[tuple[str, int]]:
        out = []
        for i, item in enumerate(self.r.list(value, "populations")):
            at = child("populations", i)
            pop = self.r.obj(item, at, ("name", "size"))
            out.append((self._name(pop["name"], child(at, "name")),
                        self.r.int(pop["size"], child(at, "size"), lo=1)))
        return out

    def inputs(self, value: Any) -> tuple[list[tuple[str, int]], list[int], list[list[int]]]:
        pops: list[tuple[str, int]] = []
        src: list[int] = []
        rows: list[list[int]] = [[], [], []]
        offset = 0
        for i, item in enumerate(self.r.list(value, "inputs")):
            at = child("inputs", i)
            block = self.r.obj(item, at, ("population", "size", "channels"))
            name = self._name(block["population"], child(at, "population"))
            size = self.r.int(block["size"], child(at, "size"), lo=1)
            seen: set[int] = set()
            for j, ch in enumerate(self.r.list(block["channels"], child(at, "channels"))):
                cat = child(child(at, "channels"), j)
                channel = self.r.obj(ch, cat, ("index", "destinations"))
                index = self.r.int(channel["index"], child(cat, "index"), 0, size - 1)
                if index in seen:
                    raise self.r.fail(child(cat, "index"), f"channel {index} is listed twice",
                                      fix="merge its destinations into one entry")
                seen.add(index)
                dests = self.r.list(channel["destinations"], child(cat, "destinations"))
                for k, dest in enumerate(dests):
                    key, chip, cores = self.codec.read_input_destination(
                        self.r, dest, child(child(cat, "destinations"), k))
                    src.append(-1 - (offset + index))
                    for row, v in zip(rows, (key, chip, cores)):
                        row.append(v)
            pops.append((name, size))
            offset += size
        return pops, src, rows

    def neuron_map(self, value: Any, pops: list[tuple[str, int]]) -> np.ndarray:
        t = self.target
        names = [n for n, _ in pops]
        block = self.r.obj(value, "neuron_map", names)
        owner: dict[int, str] = {}
        hw_all: list[int] = []
        for name, size in pops:
            at = child("neuron_map", name)
            runs = self.r.list(block[name], at)
            hw: list[int] = []
            for i, run in enumerate(runs):
                rat = child(at, i)
                items = self.r.list(run, rat)
                if len(items) != 4:
                    raise self.r.fail(rat, f"has {len(items)} numbers",
                                      fix="write a run as [chip, core, first_neuron, count]")
                chip = self.r.int(items[0], child(rat, 0), 0, t.chips - 1)
                core = self.r.int(items[1], child(rat, 1), 0, self.cpc - 1)
                first = self.r.int(items[2], child(rat, 2), 0, self.npc - 1)
                count = self.r.int(items[3], child(rat, 3), 1, self.npc - first)
                base = (chip * self.cpc + core) * self.npc + first
                for h in range(base, base + count):
                    if h in owner:
                        raise self.r.fail(rat, f"neuron (chip {chip}, core {core}, neuron "
                                               f"{h % self.npc}) is also used by {owner[h]!r}",
                                          fix="map every IR neuron to its own hardware neuron")
                    owner[h] = name
                    hw.append(h)
            if len(hw) != size:
                raise self.r.fail(at, f"places {len(hw)} neurons but population {name!r} has "
                                      f"{size}", fix="give the runs' counts the population size")
            hw_all.extend(hw)
        return np.asarray(hw_all, dtype=np.int64)

    def outputs(self, value: Any, pops: list[tuple[str, int]], neuron_hw: np.ndarray
                ) -> list[str]:
        offsets = population_offsets(pops)
        out: list[str] = []
        for i, item in enumerate(self.r.list(value, "outputs")):
            at = child("outputs", i)
            block = self.r.obj(item, at, ("population", "neurons"))
            name = self.r.str(block["population"], child(at, "population"), list(offsets))
            if name in out:
                raise self.r.fail(child(at, "population"), f"{name!r} is listed twice",
                                  fix="list each output population once")
            start, size = offsets[name]
            neurons = self.r.list(block["neurons"], child(at, "neurons"))
            if len(neurons) != size:
                raise self.r.fail(child(at, "neurons"), f"lists {len(neurons)} neurons, "
                                                        f"population {name!r} has {size}",
                                  fix="list every neuron of the output population")
            for j, loc in enumerate(neurons):
                h = int(neuron_hw[start + j])
                want = [h // (self.npc * self.cpc), (h // self.npc) % self.cpc, h % self.npc]
                if loc != want:
                    raise self.r.fail(child(child(at, "neurons"), j),
                                      f"is {loc!r} but neuron_map places neuron {j} of {name!r} "
                                      f"at {want}", fix="make outputs agree with neuron_map")
            out.append(name)
        return out

    def chips(self, value: Any, mapped: set[int]) -> None:
        r, t = self.r, self.target
        seen_chips: set[int] = set()
        for i, item in enumerate(r.list(value, "chips", max_len=t.chips, what="chips")):
            at = child("chips", i)
            chip_obj = r.obj(item, at, ("id", "cores"))
            chip = r.int(chip_obj["id"], child(at, "id"), 0, t.chips - 1)
            if chip in seen_chips:
                raise r.fail(child(at, "id"), f"chip {chip} is listed twice",
                             fix="list each chip once")
            seen_chips.add(chip)
            seen_cores: set[int] = set()
            cores = r.list(chip_obj["cores"], child(at, "cores"), max_len=self.cpc, what="cores")
            for j, core_item in enumerate(cores):
                cat = child(child(at, "cores"), j)
                core = self.core(core_item, cat, chip, seen_cores)
                neurons = core.get("neurons", [])
                seen: set[int] = set()
                for k, neuron in enumerate(r.list(neurons, child(cat, "neurons"),
                                                  max_len=self.npc, what="neurons")):
                    self.neuron(neuron, child(child(cat, "neurons"), k), chip, core["id"],
                                seen, mapped)

    def core(self, value: Any, at: str, chip: int, seen: set[int]) -> dict[str, Any]:
        r = self.r
        head = self.codec.parameters_path[0]
        core = r.obj(value, at, ("id",), ("parameter_class", head, "neurons"))
        cid = r.int(core["id"], child(at, "id"), 0, self.cpc - 1)
        if cid in seen:
            raise r.fail(child(at, "id"), f"core {cid} is listed twice", fix="list each core once")
        seen.add(cid)
        if ("parameter_class" in core) != (head in core):
            missing = head if "parameter_class" in core else "parameter_class"
            raise r.fail(child(at, missing), "is missing (a core's parameters and its parameter "
                                             "class come together)",
                         fix=f"give both parameter_class and {head}, or neither")
        if "parameter_class" in core:
            klass = r.int(core["parameter_class"], child(at, "parameter_class"), lo=0)
            self.cores[chip, cid] = CoreConfig(chip, cid, klass, self.parameters(core, at))
        return core

    def parameters(self, core: dict[str, Any], at: str) -> dict[str, tuple[int, int]]:
        r, gen = self.r, self.target.generator
        keys = self.codec.parameters_path
        path, value = child(at, keys[0]), core[keys[0]]
        for key in keys[1:]:
            value = r.obj(value, path, (key,))[key]
            path = child(path, key)
        if not isinstance(value, dict):
            r.obj(value, path, ())
        out = {}
        for name, spec in value.items():
            pat = child(path, name)
            try:
                bias = self.target.bias(name)
            except TargetError as exc:
                raise r.fail(pat, f"{self.target.name} has no bias {name!r}", fix=exc.fix) \
                    from None
            entry = r.obj(spec, pat, ("coarse_value", "fine_value", "type"))
            coarse = r.int(entry["coarse_value"], child(pat, "coarse_value"), 0, gen.coarse_max)
            fine = r.int(entry["fine_value"], child(pat, "fine_value"), 0, gen.fine_max)
            kind = r.str(entry["type"], child(pat, "type"), ("N", "P"))
            if kind != bias.transistor:
                raise r.fail(child(pat, "type"), f"{name} is a {bias.transistor}-type bias, "
                                                 f"not {kind}", fix=f"write {bias.transistor!r}")
            out[name] = (coarse, fine)
        return dict(sorted(out.items()))

    def neuron(self, value: Any, at: str, chip: int, core: int, seen: set[int],
               mapped: set[int]) -> None:
        r, t, codec = self.r, self.target, self.codec
        optional = ("synapses", "destinations") + (("latches",) if codec.latches else ())
        neuron = r.obj(value, at, ("id",), optional)
        slot = r.int(neuron["id"], child(at, "id"), 0, self.npc - 1)
        if slot in seen:
            raise r.fail(child(at, "id"), f"neuron {slot} is listed twice",
                         fix="list each neuron once")
        seen.add(slot)
        hw = (chip * self.cpc + core) * self.npc + slot
        if hw not in mapped:
            raise r.fail(child(at, "id"), f"neuron (chip {chip}, core {core}, neuron {slot}) is "
                                          f"not in neuron_map",
                         fix="map it to a population in neuron_map, or remove it")
        syn_at = child(at, "synapses")
        for k, syn in enumerate(r.list(neuron.get("synapses", []), syn_at,
                                       max_len=t.cam_per_neuron, what="CAM entries",
                                       fix=f"CAM overflow: a neuron has {t.cam_per_neuron} CAM "
                                           f"entries; reduce its fan-in")):
            key, kind, code = codec.quick_synapse(syn) or \
                codec.read_synapse(r, syn, child(syn_at, k))
            for row, v in zip(self.cam, (hw, key, kind, code)):
                row.append(v)
        dest_at = child(at, "destinations")
        dests = r.list(neuron.get("destinations", []), dest_at, max_len=t.sram_usable,
                       what="destinations",
                       fix=f"SRAM size limit reached: {t.sram_usable} usable entries per "
                           f"neuron; merge destinations or place targets on fewer chips")
        if dests and (core, slot) in t.addressing.forbidden_sources:
            raise r.fail(dest_at, f"neuron {slot} of core {core} must not be a source: empty CAM "
                                  f"entries hold its address", fix="place another neuron there")
        for k, dest in enumerate(dests):
            key, dchip, cores = codec.read_destination(r, dest, child(dest_at, k), chip, slot)
            self.sram_src.append(hw)
            for row, v in zip(self.sram, (key, dchip, cores)):
                row.append(v)
        if "latches" in neuron:
            lat = r.obj(neuron["latches"], child(at, "latches"), (), codec.latches)
            self.latches[hw] = {k: r.bool(v, child(child(at, "latches"), k))
                                for k, v in sorted(lat.items())}

    def projections(self, value: Any, pops: list[tuple[str, int]],
                    input_pops: list[tuple[str, int]]) -> tuple[ProjectionRecord, ...]:
        r = self.r
        targets = [n for n, _ in pops]
        sources = targets + [n for n, _ in input_pops]
        out: list[ProjectionRecord] = []
        names: set[str] = set()
        for i, item in enumerate(r.list(value, "projections")):
            at = child("projections", i)
            p = r.obj(item, at, ("name", "source", "target", "delay"))
            name = r.str(p["name"], child(at, "name"))
            if name in names:
                raise r.fail(child(at, "name"), f"projection {name!r} is listed twice",
                             fix="give every projection a unique name")
            names.add(name)
            out.append(ProjectionRecord(
                name=name, source=r.str(p["source"], child(at, "source"), sources),
                target=r.str(p["target"], child(at, "target"), targets),
                delay=r.int(p["delay"], child(at, "delay"), lo=0)))
        return tuple(out)
