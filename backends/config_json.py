"""Shared machinery of neurocc's JSON chip configurations (DYNAP-SE1 and DYNAP-SE2).

Both generations' configs have the same skeleton (documented in ``docs/config_format.md``)::

    {"format": ..., "version": 1, "target": {...}, "populations": [...], "neuron_map": {...},
     "inputs": [...], "outputs": [...], "chips": [...], "mapping": {...}, "projections": [...]}

and differ only in how a CAM entry, an SRAM entry, an input's destination and a core's parameters
are spelled (samna's ``Dynapse2Configuration`` vs ``Dynapse1Configuration`` field names). A
:class:`Codec` per generation spells those; everything else lives here, once:

* :func:`dumps`: canonical text (sorted keys, Python's shortest round-trip float repr, one line per
  CAM/SRAM entry, newline at the end), so equal configs are byte-identical files.
* :func:`encode` / :func:`decode`: :class:`~neurocc.compiler.tables.RoutingTables` (+
  :class:`ConfigMeta`) <-> JSON dict. The decoder validates every field against the target (types,
  ranges, counts, references) and raises :class:`ConfigError` naming the JSON path of the culprit,
  e.g. ``chips[0].cores[2].neurons[17].synapses[3].tag``. The encoder re-runs the decoder on what it
  produced, so no invalid config is ever written.
* :func:`canonical_tables` / :func:`tables_equal`: the row order of CAM and SRAM rows carries no
  meaning on the chip (any CAM slot matches, any SRAM slot sends), so tables compare in a canonical
  order: CAM rows by (post, key, type, code), SRAM rows by (source, chip, core mask, key).
"""

from __future__ import annotations

import dataclasses
import json
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from neurocc.backends.target import Target, load_target
from neurocc.compiler.circuits import CircuitOptions
from neurocc.compiler.errors import ConfigError, TargetError
from neurocc.compiler.files import check_regular_file, write_atomic
from neurocc.compiler.ir import Network
from neurocc.compiler.limits import DEFAULT_MAX_MEMORY, JSON_EXPANSION, check_memory
from neurocc.compiler.tables import CoreConfig, RoutingTables

VERSION = 1
TABLES = "routing tables"


# -- what a config holds besides the routing tables -------------------------------------------
@dataclass(frozen=True)
class ProjectionRecord:
    """Identity of one IR projection; the chip merges projections, the config remembers them."""

    name: str
    source: str
    target: str
    delay: int


@dataclass(frozen=True)
class ConfigMeta:
    """Everything a config carries beyond :class:`RoutingTables`.

    ``dt`` and ``circuit_options`` let :func:`neurocc.backends.readback.tables_to_network` turn the
    realised currents back into IR parameters; ``projections`` give the read-back network the IR's
    projection names and delays; ``latches`` maps a hardware neuron id to the per-neuron latches
    it sets (DYNAP-SE2 only; absent = chip default). ``network_sha256``: hex SHA-256 of the
    ``network.ncl`` written beside the config, so that verification refuses a source network that
    does not belong to this configuration.
    """

    dt: float | None = None
    circuit_options: CircuitOptions | None = None
    projections: tuple[ProjectionRecord, ...] = ()
    latches: Mapping[int, Mapping[str, bool]] = field(default_factory=dict)
    network_sha256: str | None = None

    @classmethod
    def from_network(cls, net: Network, circuit_options: CircuitOptions | None = None
                     ) -> "ConfigMeta":
        """The meta of a compiled network: its dt, the mapping options and its projections."""
        projections = tuple(ProjectionRecord(p.name, p.source, p.target, int(p.delay))
                            for p in net.projections.values())
        return cls(dt=float(net.dt), circuit_options=circuit_options, projections=projections)


@dataclass(eq=False)
class Deployment:
    """A config read back: the routing tables (canonical row order) and the meta."""

    tables: RoutingTables
    meta: ConfigMeta


# -- canonical tables --------------------------------------------------------------------------
def canonical_tables(tables: RoutingTables) -> RoutingTables:
    """A copy with CAM and SRAM rows in canonical order and cores sorted by (chip, core)."""
    cam = np.lexsort((tables.cam_code, tables.cam_type, tables.cam_key, tables.cam_post))
    sram = np.lexsort((tables.sram_key, tables.sram_cores, tables.sram_chip, tables.sram_src))
    cores = {k: CoreConfig(c.chip, c.core, int(c.parameter_class),
                           {n: (int(v[0]), int(v[1])) for n, v in sorted(c.biases.items())})
             for k, c in sorted(tables.cores.items())}

    def ints(a: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
        a = np.asarray(a, dtype=np.int64)
        return a[order] if order is not None else a.copy()

    return RoutingTables(
        target=tables.target, chips=int(tables.chips), cores_per_chip=int(tables.cores_per_chip),
        neurons_per_core=int(tables.neurons_per_core), syn_types=tuple(tables.syn_types),
        populations=[(n, int(s)) for n, s in tables.populations],
        input_populations=[(n, int(s)) for n, s in tables.input_populations],
        neuron_hw=ints(tables.neuron_hw),
        cam_post=ints(tables.cam_post, cam), cam_key=ints(tables.cam_key, cam),
        cam_type=ints(tables.cam_type, cam), cam_code=ints(tables.cam_code, cam),
        sram_src=ints(tables.sram_src, sram), sram_key=ints(tables.sram_key, sram),
        sram_chip=ints(tables.sram_chip, sram), sram_cores=ints(tables.sram_cores, sram),
        cores=cores, outputs=list(tables.outputs))


def tables_equal(a: RoutingTables, b: RoutingTables) -> bool:
    """Equality up to the (meaningless) order of CAM rows, SRAM rows and cores."""
    a, b = canonical_tables(a), canonical_tables(b)
    scalars = ("target", "chips", "cores_per_chip", "neurons_per_core", "syn_types",
               "populations", "input_populations", "outputs", "cores")
    arrays = ("neuron_hw", "cam_post", "cam_key", "cam_type", "cam_code",
              "sram_src", "sram_key", "sram_chip", "sram_cores")
    return all(getattr(a, s) == getattr(b, s) for s in scalars) and \
        all(np.array_equal(getattr(a, s), getattr(b, s)) for s in arrays)


# -- canonical text ----------------------------------------------------------------------------
def dumps(data: Any) -> str:
    """Canonical JSON text: equal data give byte-identical text.

    Keys are sorted (no object in the format has meaningful key order; lists keep theirs), floats
    use Python's shortest round-trip repr, NaN and infinities are refused. A container holding only
    scalars is written on one line, and so is a list element whose containers hold only scalars
    (one CAM or SRAM entry per line); everything else is indented by two spaces.
    """
    out: list[str] = []
    _emit(data, "", False, out)
    out.append("\n")
    return "".join(out)


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(", ", ": "), allow_nan=False)


def _flat(x: dict[str, Any] | list[Any]) -> bool:
    for v in (x.values() if isinstance(x, dict) else x):
        if isinstance(v, (dict, list)):
            return False
    return True


def _inline(x: dict[str, Any] | list[Any], in_list: bool) -> bool:
    if _flat(x):
        return True
    if not in_list:
        return False
    for v in (x.values() if isinstance(x, dict) else x):
        if isinstance(v, (dict, list)) and not _flat(v):
            return False
    return True


def _emit(x: Any, indent: str, in_list: bool, out: list[str]) -> None:
    if not isinstance(x, (dict, list)) or _inline(x, in_list):
        out.append(_ENCODER.encode(x))
        return
    inner = indent + "  "
    if isinstance(x, dict):
        out.append("{\n")
        for i, key in enumerate(sorted(x)):
            out.append(f"{inner}{_ENCODER.encode(key)}: ")
            _emit(x[key], inner, False, out)
            out.append(",\n" if i < len(x) - 1 else "\n")
        out.append(indent + "}")
    else:
        out.append("[\n")
        for i, item in enumerate(x):
            out.append(inner)
            _emit(item, inner, True, out)
            out.append(",\n" if i < len(x) - 1 else "\n")
        out.append(indent + "]")


#: What to do about a damaged file of a compiled folder.
REGENERATE = "regenerate the folder with `neurocc compile MODEL -o OUTDIR`"


def parse(text: str, where: str, fix: str = REGENERATE) -> Any:
    """Parse JSON; syntax errors, duplicate keys and NaN/Infinity become :class:`ConfigError`."""
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) != len(items):
            keys = [k for k, _ in items]
            dup = next(k for k in keys if keys.count(k) > 1)
            raise ConfigError(f"duplicate key {dup!r} in one object", where=where,
                              fix=f"write every field once; {fix}")
        return obj

    def constant(name: str) -> Any:
        raise ConfigError(f"{name} is not a valid JSON number", where=where,
                          fix=f"write finite numbers only; {fix}")

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                          where=where, fix=fix) from None
    except RecursionError:
        raise ConfigError("nests lists or objects too deeply", where=where, fix=fix) from None
    except ValueError as exc:  # e.g. an integer longer than Python's digit limit
        why = str(exc).split(":")[0]
        raise ConfigError(f"has a value that cannot be read ({why})", where=where,
                          fix=fix) from None


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` as UTF-8 with ``\\n`` line ends on every platform, atomically."""
    write_atomic(path, text, fix="choose a writable output folder with -o")


def read_text(path: str | Path, max_memory: int = DEFAULT_MAX_MEMORY) -> str:
    """The text of a regular file whose parsed form fits ``max_memory`` bytes."""
    size = check_regular_file(path, max_bytes=max_memory, what="the file",
                              fix="pass the folder that `neurocc compile -o` wrote")
    check_memory(size * JSON_EXPANSION, f"parsing {path}", max_memory)
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot be read ({exc.strerror})", where=str(path),
                          fix="check the path of the config file") from None
    except UnicodeDecodeError:
        raise ConfigError("is not UTF-8 text", where=str(path),
                          fix="give the config file neurocc wrote") from None


# -- typed, path-naming access to parsed JSON ----------------------------------------------------
def child(path: str, key: str | int) -> str:
    """JSON path of a field (``a.b``) or list element (``a[3]``)."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class Reader:
    """Checks values of a parsed config; every failure names the JSON path and the fix."""

    def __init__(self, where: str):
        self.where = where

    def fail(self, path: str, message: str, fix: str) -> ConfigError:
        return ConfigError(f"{path or '<root>'}: {message}", where=self.where,
                           fix=f"{fix} in the file, or {REGENERATE}")

    def obj(self, value: Any, path: str, required: Iterable[str],
            optional: Iterable[str] = ()) -> dict[str, Any]:
        required, optional = tuple(required), tuple(optional)
        if not isinstance(value, dict):
            raise self.fail(path, f"is {_kind(value)}, expected an object",
                            fix="write it as a JSON object {...}")
        missing = [k for k in required if k not in value]
        if missing:
            raise self.fail(child(path, missing[0]), "is missing",
                            fix=f"add {missing[0]!r} to {path or 'the top level'}")
        known = set(required) | set(optional)
        unknown = sorted(k for k in value if k not in known)
        if unknown:
            raise self.fail(child(path, unknown[0]), "is not a field of this format",
                            fix=f"remove it; {path or 'the top level'} has the fields "
                                f"{sorted(known)}")
        return value

    def list(self, value: Any, path: str, max_len: int | None = None, what: str = "entries",
             fix: str = "") -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(path, f"is {_kind(value)}, expected a list",
                            fix="write it as a JSON list [...]")
        if max_len is not None and len(value) > max_len:
            raise self.fail(path, f"has {len(value)} {what}, the target allows {max_len}",
                            fix=fix or f"use at most {max_len}")
        return value

    def int(self, value: Any, path: str, lo: int | None = None, hi: int | None = None) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(path, f"is {_kind(value)}, expected an integer",
                            fix="write a whole number")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            span = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            raise self.fail(path, f"{value} is outside {span}", fix=f"use a value in {span}")
        return value

    def bool(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, f"is {_kind(value)}, expected true or false",
                            fix="write true or false")
        return value

    def str(self, value: Any, path: str, choices: Iterable[str] | None = None) -> str:
        if not isinstance(value, str):
            raise self.fail(path, f"is {_kind(value)}, expected a string", fix="write a string")
        if choices is not None:
            choices = list(choices)
            if value not in choices:
                raise self.fail(path, f"{value!r} is unknown", fix=f"use one of {choices}")
        return value

    def number(self, value: Any, path: str, positive: bool = False) -> float:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or \
                not _finite(value):
            raise self.fail(path, f"is {_kind(value)}, expected a finite number",
                            fix="write a number")
        if positive and value <= 0:
            raise self.fail(path, f"{value} is not positive", fix="write a number > 0")
        return float(value)

    def bools(self, value: Any, path: str, length: int) -> int:
        """A list of ``length`` booleans as a bit mask (element k = bit k)."""
        items = self.list(value, path)
        if len(items) != length:
            raise self.fail(path, f"has {len(items)} entries, expected {length}",
                            fix=f"write {length} booleans")
        return sum(1 << k for k, v in enumerate(items) if self.bool(v, child(path, k)))


def _finite(value: int | float) -> bool:
    """A finite number a float can hold (an integer of 400 digits is not)."""
    return abs(value) < 2.0**1023 if isinstance(value, int) else math.isfinite(value)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return f"{value!r} ({type(value).__name__})" if not isinstance(value, (dict, list)) \
        else type(value).__name__


def mask_bools(mask: int, length: int) -> list[bool]:
    return [bool((mask >> k) & 1) for k in range(length)]


# -- the per-generation spelling ----------------------------------------------------------------
class Unrepresentable(Exception):
    """Raised by a codec's encoder for a table value the format cannot express."""

    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.message, self.fix = message, fix


class Codec(ABC):
    """How one chip generation spells CAM entries, SRAM entries, inputs and core parameters."""

    format: str
    #: Nesting of the per-core parameter map inside a core object (samna's names).
    parameters_path: tuple[str, ...]
    #: Per-neuron latch names the format accepts (empty: none).
    latches: tuple[str, ...] = ()

    def __init__(self, target: Target):
        self.target = target
        self.npc = target.neurons_per_core
        self.cpc = target.cores_per_chip
        self.type_names = tuple(st.name for st in target.synapse_types)

    @abstractmethod
    def synapse(self, key: int, syn_type: int, code: int) -> dict[str, Any]:
        """One CAM entry as JSON (``syn_type`` indexes ``type_names``)."""

    @abstractmethod
    def read_synapse(self, r: Reader, obj: Any, path: str) -> tuple[int, int, int]:
        """(key, type index, code) of a CAM entry."""

    def quick_synapse(self, obj: Any) -> tuple[int, int, int] | None:
        """:meth:`read_synapse` for the common well-formed entry without building paths, or None
        (then :meth:`read_synapse` decides). It must accept nothing that one refuses."""
        return None

    @abstractmethod
    def destination(self, chip: int, slot: int, key: int, dest_chip: int,
                    cores: int) -> dict[str, Any]:
        """One SRAM entry of the neuron in ``slot`` of a core on ``chip``, as JSON."""

    @abstractmethod
    def read_destination(self, r: Reader, obj: Any, path: str, chip: int,
                         slot: int) -> tuple[int, int, int]:
        """(key, destination chip, core mask) of an SRAM entry."""

    @abstractmethod
    def input_destination(self, key: int, dest_chip: int, cores: int) -> dict[str, Any]:
        """Where an external input channel's events go, as JSON."""

    @abstractmethod
    def read_input_destination(self, r: Reader, obj: Any, path: str) -> tuple[int, int, int]:
        """(key, destination chip, core mask) of an input destination."""


# -- encoding ----------------------------------------------------------------------------------
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


def _offsets(pops: list[tuple[str, int]]) -> dict[str, tuple[int, int]]:
    out, start = {}, 0
    for name, size in pops:
        out[name] = (start, size)
        start += size
    return out


def _population_hw(t: RoutingTables, name: str) -> np.ndarray:
    offsets = _offsets(t.populations)
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
    for name, (start, size) in _offsets(t.input_populations).items():
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


# -- the file API of one format ----------------------------------------------------------------
@dataclass(frozen=True)
class JsonConfig:
    """Writer and reader of one generation's JSON config (a :class:`Codec` subclass)."""

    codec: type[Codec]

    def to_json(self, tables: RoutingTables, target: Target, meta: ConfigMeta = ConfigMeta()
                ) -> dict[str, Any]:
        """The config as a JSON dict, validated before it is returned."""
        return encode(tables, target, meta, self.codec)

    def from_json(self, data: Any, target: Target | None = None, *, where: str = "<config>"
                  ) -> Deployment:
        """Validate a parsed config; rebuild tables and meta (target None: the file's target)."""
        return decode(data, target, self.codec, where)

    def dumps(self, tables: RoutingTables, target: Target, meta: ConfigMeta = ConfigMeta()
              ) -> str:
        """Canonical text of the config: the same input gives the same bytes."""
        return dumps(self.to_json(tables, target, meta))

    def loads(self, text: str, target: Target | None = None, *, where: str = "<config>"
              ) -> Deployment:
        return self.from_json(parse(text, where), target, where=where)

    def write(self, path: str | Path, tables: RoutingTables, target: Target,
              meta: ConfigMeta = ConfigMeta()) -> None:
        write_text(path, self.dumps(tables, target, meta))

    def read(self, path: str | Path, target: Target | None = None) -> Deployment:
        return self.loads(read_text(path), target, where=str(path))


# -- decoding ----------------------------------------------------------------------------------
_ROOT_REQUIRED = ("format", "version", "target", "populations", "neuron_map", "inputs",
                  "outputs", "chips")


def decode(data: Any, target: Target | None, codec_type: type[Codec], where: str) -> Deployment:
    """Validate a parsed config and rebuild its tables and meta.

    ``target`` None loads the target the file names; a given target must agree with the file.
    """
    r = Reader(where)
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


def _sha256(r: Reader, value: Any) -> str:
    text = r.str(value, "mapping.network_sha256")
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise r.fail("mapping.network_sha256", "is not 64 lowercase hex digits",
                     fix="regenerate the folder with `neurocc compile MODEL -o OUTDIR`")
    return text


def _resolve_target(r: Reader, value: Any, given: Target | None) -> Target:
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
            raise r.fail("target", exc.message, fix="regenerate the configuration with "
                                                    "`neurocc compile MODEL -o OUTDIR`") from None
    wanted = {"name": name, "chips": chips, "sram_usable": sram_usable, "options": options}
    have = {"name": given.name, "chips": given.chips, "sram_usable": given.sram_usable,
            "options": dict(given.options)}
    for key in wanted:
        if wanted[key] != have[key]:
            raise r.fail(f"target.{key}", f"the file was written for {wanted[key]!r}, the given "
                                          f"target has {have[key]!r}",
                         fix="regenerate the configuration with `neurocc compile MODEL -o OUTDIR`")
    return given


def _circuit_options(r: Reader, value: Any) -> CircuitOptions:
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

    def __init__(self, r: Reader, target: Target, codec: Codec):
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
        offsets = _offsets(pops)
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
