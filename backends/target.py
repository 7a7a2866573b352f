"""Targets as data: everything a compiler pass may know about a chip, loaded from a JSON file.

A pass never names a chip; it reads a :class:`Target`. The two shipped targets live beside this
module (``dynapse1/target.json``, ``dynapse2/target.json``); any other file of the same format can
be given by path. Every fact in them is transcribed from ``shared/hardware/README.md`` (and, for the
DYNAP-SE2 bias generator, the vendor-measured table copied into ``dynapse2/biasgen.json``).

Vocabulary shared with the passes:

* A bias's *role* is the circuit current it realises: ``I_tau_mem``, ``I_gain_mem``, ``I_dc``,
  ``I_ref``, ``I_pulse``, ``I_spkthr`` for the neuron; ``I_tau_syn.<TYPE>``, ``I_gain_syn.<TYPE>``
  per synapse type; ``I_w.<TYPE>`` (weight bias per type, ``count`` weights) or ``I_w_base.<k>``
  (base weight currents, ``base_sum`` weights). Biases the compiler does not drive have no role.
* Facts the sources disagree on are *options* (``options`` in the file, each with a default);
  ``load_target(..., options={...})`` picks another choice. Option values are substituted into bias
  names written ``{option_name}``; the option ``shunting_type`` names the shunting inhibitory type.
* Bias currents: ``table[transistor][coarse, fine] * scale[bias]``. ``base_times_fine`` generators
  build the table from ``base[coarse] * fine / fine_max``; ``table`` generators read a measured one.
* The optional ``energy`` block holds the figures of the energy estimate (``compiler/energy.py``),
  each ``{"value": number or null, "unit": "J" | "W", "source": citation}``; a null value means no
  figure is known, a source starting with ``unconfirmed`` marks a figure nobody checked against its
  source. :func:`load_energy_figures` reads an override file of the same shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

import numpy as np

from neurocc.backends.circuit_constants import NEURON_ROLES, CircuitConstants
from neurocc.backends.neuron_model import NeuronModels, parse_neuron_models
from neurocc.compiler.errors import TargetError

from .json_fields import Fields, read_json

BACKENDS_DIR = Path(__file__).resolve().parent
FORMAT = "neurocc-target/1"
ADDRESSING_SCHEMES = ("tag", "core_neuron")
WEIGHT_SCHEMES = ("base_sum", "count")
SIGNS = ("excitatory", "inhibitory")
SPEEDS = ("fast", "slow")
#: Energy figures and their units: energy per routed event (one SRAM entry sent), per synaptic
#: event (one CAM entry matched), per neuron spike, and static power per chip.
ENERGY_FIGURES = {"E_route": "J", "E_syn": "J", "E_spike": "J", "P_static": "W"}
UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True)
class BiasSpec:
    """One per-core bias: its name, transistor type (``N``/``P``), role and table scale factor."""

    name: str
    transistor: str
    role: str | None
    scale: float


@dataclass(frozen=True)
class SynapseType:
    """A synapse (dendrite) type: hardware code, sign, shunting or not, speed, capacitance."""

    name: str
    code: int
    sign: str
    shunting: bool
    speed: str | None
    capacitance: float

    @property
    def tau_role(self) -> str:
        return f"I_tau_syn.{self.name}"

    @property
    def gain_role(self) -> str:
        return f"I_gain_syn.{self.name}"

    @property
    def weight_role(self) -> str:
        return f"I_w.{self.name}"


@dataclass(frozen=True, eq=False)
class BiasGenerator:
    """Coarse/fine current generator: ``tables[transistor][coarse, fine]`` in amperes."""

    coarse_max: int
    fine_max: int
    tables: Mapping[str, np.ndarray]

    def current(self, transistor: str, coarse: Any, fine: Any) -> np.ndarray:
        """Table current (before the bias's scale factor); vectorised over coarse and fine."""
        return self.tables[transistor][np.asarray(coarse), np.asarray(fine)]


@dataclass(frozen=True)
class Addressing:
    """How events are keyed: ``tag`` (explicit tag per SRAM entry) or ``core_neuron``."""

    scheme: str
    tag_bits: int | None
    #: Where a tag must be unambiguous (``receiving_core``: among the events reaching one core).
    tag_scope: str | None
    core_bits: int | None
    neuron_bits: int | None
    virtual_core: bool
    chip_id_in_cam: bool
    #: (core, neuron) addresses no neuron may use as a source on any chip.
    forbidden_sources: tuple[tuple[int, int], ...]

    @property
    def tags(self) -> int | None:
        """Number of distinct tags per receiving core (``tag`` scheme)."""
        return None if self.tag_bits is None else 2 ** self.tag_bits


@dataclass(frozen=True)
class WeightScheme:
    """``base_sum``: ``bases`` currents per core, a ``mask_bits`` mask per CAM entry.
    ``count``: one weight bias per (core, synapse type), integer counts of repeated entries."""

    scheme: str
    bases: int
    mask_bits: int
    repeats_add: bool

    @property
    def masked(self) -> bool:
        """Codes are bit masks over the core's base weights (``base_sum``), not entry counts."""
        return self.scheme == "base_sum"

    @staticmethod
    def base_role(k: int) -> str:
        """The role of base weight current ``k`` (``base_sum``)."""
        return f"I_w_base.{k}"

    def code_limit(self, cam_per_neuron: int) -> int:
        """Largest weight code of one synapse: a full mask, or every CAM entry of a neuron."""
        return 2 ** self.mask_bits - 1 if self.masked else cam_per_neuron

    def entry_code_limit(self) -> int:
        """Largest code one CAM entry holds: a full mask, or 1 (one binary synapse)."""
        return 2 ** self.mask_bits - 1 if self.masked else 1

    def cam_entries(self, codes: np.ndarray, repeats: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
        """(CAM entries each synapse occupies, the code each of those entries holds): ``repeats``
        entries of the mask (none for mask 0), or ``code`` binary entries of code 1."""
        codes = np.asarray(codes)
        if self.masked:
            return np.where(codes > 0, repeats, 0), codes
        return codes, np.ones_like(codes)

    def entry_current(self, codes: np.ndarray, types: np.ndarray,
                      synapse_types: "tuple[SynapseType, ...] | list[SynapseType]",
                      current: "Callable[[str, np.ndarray], Any]") -> np.ndarray:
        """Weight current of CAM entries from their codes: the sum of the base currents a mask
        selects, or the count times the weight current of the entry's synapse type.

        ``types`` indexes ``synapse_types``; ``current(role, rows)`` gives the current of
        ``role`` for the entries selected by the boolean array ``rows`` (a scalar or an array
        over those rows).
        """
        codes, types = np.asarray(codes), np.asarray(types)
        out = np.zeros(codes.size)
        if self.masked:
            for k in range(self.bases):
                rows = ((codes >> k) & 1).astype(bool)
                if rows.any():
                    out[rows] += current(self.base_role(k), rows)
            return out
        for i, st in enumerate(synapse_types):
            rows = types == i
            if rows.any():
                out[rows] = codes[rows] * current(st.weight_role, rows)
        return out


@dataclass(frozen=True)
class EnergyFigure:
    """One energy figure: ``value`` in ``unit`` (None: not known) and where it comes from."""

    value: float | None
    unit: str
    source: str

    @property
    def confirmed(self) -> bool:
        """Known and traced to a source someone read (not marked ``unconfirmed``)."""
        return self.value is not None and not self.source.lower().startswith(UNCONFIRMED)


@dataclass(frozen=True, eq=False)
class Target:
    """A chip family and board size as the compiler passes see it; see :func:`load_target`."""

    name: str
    description: str
    path: Path
    chips: int
    chips_per_board: int
    board_grid: tuple[int, int]
    cores_per_chip: int
    neurons_per_core: int
    #: Layout of the cores on a chip and of the neurons in a core, where the facts give one.
    core_grid: tuple[int, int] | None
    neuron_grid: tuple[int, int] | None
    cam_per_neuron: int
    sram_per_neuron: int
    sram_usable: int
    hop_range: tuple[int, int]
    hop_encoding: str
    core_mask_bits: int
    addressing: Addressing
    weights: WeightScheme
    synapse_types: tuple[SynapseType, ...]
    biases: tuple[BiasSpec, ...]
    spike_threshold_adjustable: bool
    generator: BiasGenerator
    circuit: CircuitConstants
    #: The neuron models the target defines (``backends/neuron_model.py``) and its default.
    neuron_models: NeuronModels
    options: Mapping[str, str]
    #: Every name of ``ENERGY_FIGURES`` -> its figure (value None where the file gives none).
    energy: Mapping[str, EnergyFigure]
    _bias_by_name: Mapping[str, BiasSpec] = field(repr=False)
    _bias_by_role: Mapping[str, BiasSpec] = field(repr=False)
    #: ``(chip, core)`` -> bias name -> a measured factor of that core only (a calibration file's
    #: ``core_bias_scale``; empty for a nominal target).
    core_bias_scale: Mapping[tuple[int, int], Mapping[str, float]] = field(
        default_factory=lambda: MappingProxyType({}))

    def with_bias_scale(self, factors: Mapping[str, float]) -> "Target":
        """This target with the currents of every bias named in ``factors`` multiplied by its
        factor (measured / nominal)."""
        biases = tuple(replace(b, scale=b.scale * factors.get(b.name, 1.0)) for b in self.biases)
        by_name = {b.name: b for b in biases}
        by_role = {role: by_name[spec.name] for role, spec in self._bias_by_role.items()}
        return replace(self, biases=biases, _bias_by_name=MappingProxyType(by_name),
                       _bias_by_role=MappingProxyType(by_role))

    def for_core(self, chip: int, core: int) -> "Target":
        """The target as core ``(chip, core)`` realises it: that core's measured factors applied
        (itself when it has none)."""
        factors = self.core_bias_scale.get((chip, core))
        return self.with_bias_scale(factors) if factors else self

    # -- sizes -------------------------------------------------------------------------------
    @property
    def total_cores(self) -> int:
        return self.chips * self.cores_per_chip

    @property
    def neurons_per_chip(self) -> int:
        return self.cores_per_chip * self.neurons_per_core

    @property
    def total_neurons(self) -> int:
        return self.chips * self.neurons_per_chip

    # -- chip grid ---------------------------------------------------------------------------
    def chip_xy(self, chip: int) -> tuple[int, int]:
        """Grid position of ``chip``: boards of ``board_grid`` chips tile a near-square grid."""
        if not 0 <= chip < self.chips:
            raise TargetError(f"chip {chip} does not exist", where=self.name,
                              fix=f"chips are numbered 0..{self.chips - 1}")
        return _chip_xy(chip, self.chips, self.chips_per_board, self.board_grid)

    def hops(self, src: int, dst: int) -> tuple[int, int]:
        """Relative hops ``(dx, dy)`` from chip ``src`` to chip ``dst``."""
        (x0, y0), (x1, y1) = self.chip_xy(src), self.chip_xy(dst)
        return x1 - x0, y1 - y0

    def hop_distance(self, src: int, dst: int) -> int:
        """Manhattan distance in chips (the number of chip-to-chip links an event crosses)."""
        dx, dy = self.hops(src, dst)
        return abs(dx) + abs(dy)

    def in_hop_range(self, src: int, dst: int) -> bool:
        lo, hi = self.hop_range
        return all(lo <= d <= hi for d in self.hops(src, dst))

    # -- biases and synapse types ---------------------------------------------------------------
    def bias(self, name: str) -> BiasSpec:
        try:
            return self._bias_by_name[name]
        except KeyError:
            raise TargetError(f"no bias named {name!r}", where=self.name,
                              fix=f"use one of {sorted(self._bias_by_name)}") from None

    def bias_for_role(self, role: str) -> BiasSpec | None:
        """The bias that realises circuit current ``role``, or None (fixed or absent circuit)."""
        return self._bias_by_role.get(role)

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self._bias_by_role)

    def synapse_type(self, name: str) -> SynapseType:
        for st in self.synapse_types:
            if st.name == name:
                return st
        raise TargetError(f"no synapse type named {name!r}", where=self.name,
                          fix=f"use one of {[s.name for s in self.synapse_types]}")

    def synapse_type_by_code(self, code: int) -> SynapseType:
        for st in self.synapse_types:
            if st.code == code:
                return st
        raise TargetError(f"no synapse type with code {code}", where=self.name,
                          fix=f"codes are {[s.code for s in self.synapse_types]}")

    def bias_current(self, name: str, coarse: Any, fine: Any) -> Any:
        """Current (A) that bias ``name`` delivers at ``(coarse, fine)``; vectorised."""
        spec = self.bias(name)
        coarse, fine = np.asarray(coarse), np.asarray(fine)
        if np.any((coarse < 0) | (coarse > self.generator.coarse_max)) or \
                np.any((fine < 0) | (fine > self.generator.fine_max)):
            raise TargetError(f"({coarse}, {fine}) is not a valid (coarse, fine) pair",
                              where=f"{self.name} bias {name}",
                              fix=f"coarse in 0..{self.generator.coarse_max}, "
                                  f"fine in 0..{self.generator.fine_max}")
        value = self.generator.current(spec.transistor, coarse, fine) * spec.scale
        return float(value) if value.ndim == 0 else value

    def bias_range(self, name: str) -> tuple[float, float]:
        """Smallest positive and largest current bias ``name`` can deliver."""
        spec = self.bias(name)
        table = self.generator.tables[spec.transistor] * spec.scale
        return float(table[table > 0].min()), float(table.max())


def _chip_xy(chip: int, chips: int, per_board: int, grid: tuple[int, int]) -> tuple[int, int]:
    boards = math.ceil(chips / per_board)
    board_cols = math.ceil(math.sqrt(boards))
    board, local = divmod(chip, per_board)
    by, bx = divmod(board, board_cols)
    ly, lx = divmod(local, grid[0])
    return bx * grid[0] + lx, by * grid[1] + ly


# -- loading ------------------------------------------------------------------------------------
def load_target(name_or_path: str | Path, *, chips: int | None = None,
                sram_usable: int | None = None,
                options: Mapping[str, str] | None = None) -> Target:
    """Load a shipped target by name (``dynapse1``, ``dynapse2``) or any target file by path.

    ``chips`` overrides the board size (boards tile the chip grid; every chip pair must stay within
    the hop range). ``sram_usable`` overrides the fan-out entries the compiler may use.
    ``options`` picks choices for the facts the sources disagree on (see the file's ``options``).
    """
    path = _resolve(name_or_path)
    raw = read_json(path, "the target file", TargetError)
    return _Reader(raw, path).target(chips=chips, sram_usable=sram_usable, options=options or {})


def load_energy_figures(path: str | Path) -> dict[str, EnergyFigure]:
    """Read an energy override file: an object of figures shaped like a target's ``energy``
    block. Only the figures it names are returned (they replace the target's)."""
    path = Path(path)
    raw = read_json(path, "the energy file (--energy)", TargetError)
    return _Reader(raw, path).energy_figures(raw, "")


def shipped_targets() -> tuple[str, ...]:
    """Names of the targets shipped beside this module."""
    return tuple(sorted(p.parent.name for p in BACKENDS_DIR.glob("*/target.json")))


def _resolve(name_or_path: str | Path) -> Path:
    text = str(name_or_path)
    if text in shipped_targets():
        return BACKENDS_DIR / text / "target.json"
    path = Path(name_or_path)
    if path.is_file():
        return path
    raise TargetError(f"unknown target {text!r}", where=text,
                      fix=f"use one of {list(shipped_targets())} or the path of a target JSON file")


class _Reader(Fields):
    """The target file's fields, checked; errors are :class:`TargetError` naming the path."""

    def __init__(self, raw: Any, path: Path):
        super().__init__(str(path), TargetError)
        self.raw = raw
        self.path = path

    # -- the target ------------------------------------------------------------------------------
    def target(self, *, chips: int | None, sram_usable: int | None,
               options: Mapping[str, str]) -> Target:
        raw = self.raw
        fmt = self.field(raw, "format", str, "")
        if fmt != FORMAT:
            raise self.fail("format", f"is {fmt!r}", fix=f"this loader reads {FORMAT!r}")
        name = self.field(raw, "name", str, "")
        chosen = self.options(options)
        board = self.field(raw, "board", dict, "")
        per_board = self.positive_int(board, "chips", "board")
        grid = self.int_pair(board, "grid", "board")
        if grid[0] * grid[1] != per_board or min(grid) <= 0:
            raise self.fail("board.grid", f"{list(grid)} does not hold {per_board} chips",
                            fix="make the grid's columns x rows equal board.chips")
        routing = self.field(raw, "routing", dict, "")
        hop_range = self.int_pair(routing, "hop_range", "routing")
        if not hop_range[0] <= 0 <= hop_range[1]:
            raise self.fail("routing.hop_range", f"{list(hop_range)} excludes 0",
                            fix="write [lowest, highest] relative hop, e.g. [-7, 7]")
        n_chips = self.positive_int(raw, "chips", "")
        if chips is not None:
            if not isinstance(chips, int) or chips <= 0:
                raise TargetError(f"chips={chips!r} is not a positive integer", where=name,
                                  fix="ask for at least one chip")
            n_chips = chips
        self.check_grid(name, n_chips, per_board, grid, hop_range, from_option=chips is not None)
        sram = self.field(raw, "sram", dict, "")
        entries = self.positive_int(sram, "entries", "sram")
        usable = self.positive_int(sram, "usable", "sram")
        if sram_usable is not None:
            usable = sram_usable
        if not (isinstance(usable, int) and 1 <= usable <= entries):
            raise TargetError(f"sram_usable={usable!r} is outside 1..{entries}", where=name,
                              fix=f"a neuron has {entries} SRAM (fan-out) entries")
        cores = self.positive_int(raw, "cores_per_chip", "")
        neurons = self.positive_int(raw, "neurons_per_core", "")
        types = self.synapse_types(chosen)
        generator, scales = self.generator()
        biases = self.biases(chosen, scales)
        by_role = {b.role: b for b in biases if b.role is not None}
        weights = self.weights()
        spike = self.field(raw, "spike_threshold", dict, "")
        adjustable = self.field(spike, "adjustable", bool, "spike_threshold")
        self.check_roles(types, by_role, weights, adjustable)
        circuit = self.circuit()
        return Target(
            name=name,
            description=self.field(raw, "description", str, "", default=""),
            path=self.path,
            chips=n_chips,
            chips_per_board=per_board,
            board_grid=grid,
            cores_per_chip=cores,
            neurons_per_core=neurons,
            core_grid=self.layout("core_grid", cores),
            neuron_grid=self.layout("neuron_grid", neurons),
            cam_per_neuron=self.positive_int(raw, "cam_per_neuron", ""),
            sram_per_neuron=entries,
            sram_usable=usable,
            hop_range=hop_range,
            hop_encoding=self.choice(routing, "hop_encoding", ("signed", "sign_magnitude"),
                                     "routing"),
            core_mask_bits=self.positive_int(routing, "core_mask_bits", "routing"),
            addressing=self.addressing(),
            weights=weights,
            synapse_types=types,
            biases=biases,
            spike_threshold_adjustable=adjustable,
            generator=generator,
            circuit=circuit,
            neuron_models=parse_neuron_models(raw.get("neuron_model"), circuit, self.path),
            options=MappingProxyType(dict(chosen)),
            energy=MappingProxyType(self.energy()),
            _bias_by_name=MappingProxyType({b.name: b for b in biases}),
            _bias_by_role=MappingProxyType(by_role),
        )

    def check_grid(self, name: str, chips: int, per_board: int, grid: tuple[int, int],
                   hop_range: tuple[int, int], from_option: bool) -> None:
        reach = min(-hop_range[0], hop_range[1])
        most = _max_chips(per_board, grid, reach)
        # a huge count is refused before the grid of every chip is built
        span = None if chips > most else int(np.ptp(np.array(
            [_chip_xy(c, chips, per_board, grid) for c in range(chips)]), axis=0).max())
        if span is None or span > reach:
            spans = ":" if span is None else f" span {span + 1} chips of the grid but"
            message = (f"{chips} chips{spans} events reach only "
                       f"{reach} hops (hop range {list(hop_range)}): at most {most} chips")
            if from_option:
                raise TargetError(message, where=name, fix=f"pass --chips {most} or fewer")
            raise self.fail("chips", message, fix=f"use at most {most} chips")

    def layout(self, key: str, count: int) -> tuple[int, int] | None:
        if key not in self.raw:
            return None
        grid = self.int_pair(self.raw, key, "")
        if grid[0] * grid[1] != count or min(grid) <= 0:
            raise self.fail(key, f"{list(grid)} does not hold {count}",
                            fix="make columns x rows equal the count it lays out")
        return grid

    def options(self, given: Mapping[str, str]) -> dict[str, str]:
        declared = self.field(self.raw, "options", dict, "", default={})
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise TargetError(f"unknown target option(s) {unknown}", where=str(self.path),
                              fix=f"this target has options {sorted(declared)}")
        chosen = {}
        for key, spec in declared.items():
            at = f"options.{key}"
            choices = tuple(self.field(spec, "choices", list, at))
            default = self.field(spec, "default", str, at)
            if default not in choices:
                raise self.fail(f"{at}.default", f"{default!r} is not among {list(choices)}",
                                fix="make the default one of the choices")
            value = given.get(key, default)
            if value not in choices:
                raise TargetError(f"option {key}={value!r} is not among {list(choices)}",
                                  where=str(self.path), fix=f"use one of {list(choices)}")
            chosen[key] = value
        return chosen

    def synapse_types(self, chosen: Mapping[str, str]) -> tuple[SynapseType, ...]:
        items = self.field(self.raw, "synapse_types", list, "")
        if not items:
            raise self.fail("synapse_types", "is empty", fix="list at least one synapse type")
        shunting_choice = chosen.get("shunting_type")
        out = []
        for i, item in enumerate(items):
            at = f"synapse_types[{i}]"
            name = self.field(item, "name", str, at)
            sign = self.choice(item, "sign", SIGNS, at)
            if shunting_choice is not None:
                shunting = name == shunting_choice
            elif sign == "excitatory":
                shunting = self.field(item, "shunting", bool, at, default=False)
            else:
                shunting = self.field(item, "shunting", bool, at)
            speed = self.field(item, "speed", (str, type(None)), at, default=None)
            if speed is not None and speed not in SPEEDS:
                raise self.fail(f"{at}.speed", f"is {speed!r}", fix=f"use one of {list(SPEEDS)}")
            cap = self.field(item, "capacitance_F", float, at)
            if not cap > 0:
                raise self.fail(f"{at}.capacitance_F", f"is {cap}", fix="use a positive value")
            out.append(SynapseType(name=name, code=self.field(item, "code", int, at), sign=sign,
                                   shunting=shunting and sign == "inhibitory", speed=speed,
                                   capacitance=float(cap)))
        for attr in ("name", "code"):
            values = [getattr(t, attr) for t in out]
            dup = sorted({v for v in values if values.count(v) > 1}, key=str)
            if dup:
                raise self.fail("synapse_types", f"duplicate {attr}s {dup}",
                                fix=f"give every synapse type a distinct {attr}")
        if shunting_choice is not None and shunting_choice not in [t.name for t in out
                                                                   if t.sign == "inhibitory"]:
            raise self.fail("options.shunting_type", f"{shunting_choice!r} is not an inhibitory "
                            f"synapse type", fix="choose an inhibitory type")
        return tuple(out)

    def generator(self) -> tuple[BiasGenerator, Mapping[str, float] | None]:
        """The generator and, for a measured table, its per-bias scale factors."""
        at = "bias_generator"
        spec = self.field(self.raw, at, dict, "")
        c_lo, c_hi = self.int_pair(spec, "coarse", at)
        f_lo, f_hi = self.int_pair(spec, "fine", at)
        if c_lo != 0 or f_lo != 0 or c_hi < 0 or f_hi <= 0:
            raise self.fail(f"{at}.coarse/fine", f"ranges [{c_lo}, {c_hi}] / [{f_lo}, {f_hi}]",
                            fix="ranges start at 0 and the fine range is not empty")
        formula = self.choice(spec, "formula", ("base_times_fine", "table"), at)
        if formula == "base_times_fine":
            base = self.field(spec, "base_A", list, at)
            if len(base) != c_hi + 1 or not all(isinstance(b, (int, float)) for b in base):
                raise self.fail(f"{at}.base_A", f"has {len(base)} entries",
                                fix=f"give one number per coarse value ({c_hi + 1})")
            table = np.outer(np.asarray(base, float), np.arange(f_hi + 1) / f_hi)
            tables, scales = {"N": table, "P": table}, None
        else:
            tables, scales = self.measured_tables(spec, c_hi, f_hi)
        dip = float(self.field(spec, "fine_dip_tolerance", float, at, default=0.0))
        for transistor, table in tables.items():
            self.check_table(table, f"{at} table {transistor}", dip)
            table.setflags(write=False)
        generator = BiasGenerator(coarse_max=c_hi, fine_max=f_hi, tables=MappingProxyType(tables))
        return generator, scales

    def measured_tables(self, spec: Any, c_hi: int, f_hi: int
                        ) -> tuple[dict[str, np.ndarray], Mapping[str, float]]:
        path = self.path.parent / self.field(spec, "table_file", str, "bias_generator")
        data = read_json(path, "the bias table (bias_generator.table_file)", TargetError)
        currents = self.field(data, "current_A", dict, "table_file")
        tables = {}
        for transistor in ("N", "P"):
            rows = self.field(currents, transistor, dict, "table_file.current_A")
            try:
                table = np.array([rows[str(c)] for c in range(c_hi + 1)], dtype=float)
            except (KeyError, ValueError, TypeError):
                table = None
            if table is None or table.shape != (c_hi + 1, f_hi + 1):
                raise self.fail(f"table_file.current_A.{transistor}",
                                f"is not {c_hi + 1} rows of {f_hi + 1} numbers",
                                fix="give one row per coarse value, one number per fine value")
            tables[transistor] = table
        return tables, self.field(data, "scale_factor", dict, "table_file")

    def check_table(self, table: np.ndarray, at: str, dip: float) -> None:
        if not np.all(np.isfinite(table)) or np.any(table < 0):
            raise self.fail(at, "holds a negative or non-finite current",
                            fix="currents are finite amperes >= 0")
        steps = np.diff(table[:, 1:], axis=0)
        if np.any(steps <= 0):
            c, f = np.argwhere(steps <= 0)[0]
            raise self.fail(at, f"is not increasing in coarse: coarse {c + 1} gives "
                            f"{table[c + 1, f + 1]:.3g} A <= coarse {c} {table[c, f + 1]:.3g} A "
                            f"at fine {f + 1}", fix="coarse steps must raise the current")
        prev, nxt = table[:, :-1], table[:, 1:]
        drop = np.where(prev > 0, (prev - nxt) / np.where(prev > 0, prev, 1), 0.0)
        if np.any(drop > dip):
            c, f = np.argwhere(drop > dip)[0]
            raise self.fail(at, f"is not monotonic in fine: coarse {c}, fine {f} -> {f + 1} "
                            f"drops by {drop[c, f]:.1%} (tolerance {dip:.1%})",
                            fix="check the table rows, or raise bias_generator.fine_dip_tolerance "
                                "if the measured table really dips")

    def biases(self, chosen: Mapping[str, str], scales: Mapping[str, float] | None
               ) -> tuple[BiasSpec, ...]:
        items = self.field(self.raw, "biases", list, "")
        out = []
        for i, item in enumerate(items):
            at = f"biases[{i}]"
            template = self.field(item, "name", str, at)
            try:
                name = template.format(**chosen)
            except KeyError as exc:
                raise self.fail(f"{at}.name", f"uses undeclared option {exc}",
                                fix="declare the option under 'options'") from None
            transistor = self.choice(item, "type", ("N", "P"), at)
            if name[-2:] in ("_N", "_P") and name[-1] != transistor:
                raise self.fail(f"{at}.type", f"is {transistor} but {name} ends in {name[-2:]}",
                                fix="make the type match the name's _N/_P suffix")
            role = self.field(item, "role", (str, type(None)), at, default=None)
            if scales is None:
                scale = 1.0
            else:
                key = self.field(item, "scale_key", str, at, default=template)
                if key not in scales:
                    raise self.fail(f"{at}", f"{key} has no scale factor in the bias table",
                                    fix="add it to scale_factor or set scale_key")
                scale = float(scales[key])
            out.append(BiasSpec(name=name, transistor=transistor, role=role, scale=scale))
        for attr in ("name", "role"):
            values = [getattr(b, attr) for b in out if getattr(b, attr) is not None]
            dup = sorted({v for v in values if values.count(v) > 1})
            if dup:
                raise self.fail("biases", f"duplicate {attr}s {dup}",
                                fix=f"each bias needs a distinct {attr}")
        return tuple(out)

    def weights(self) -> WeightScheme:
        at = "weights"
        spec = self.field(self.raw, at, dict, "")
        scheme = self.choice(spec, "scheme", WEIGHT_SCHEMES, at)
        repeats = self.field(spec, "repeats_add", bool, at)
        if scheme == "base_sum":
            bases = self.positive_int(spec, "bases", at)
            bits = self.positive_int(spec, "mask_bits", at)
            if bits != bases:
                raise self.fail(f"{at}.mask_bits", f"{bits} bits for {bases} base currents",
                                fix="one mask bit per base current")
            return WeightScheme(scheme=scheme, bases=bases, mask_bits=bits, repeats_add=repeats)
        return WeightScheme(scheme=scheme, bases=0, mask_bits=0, repeats_add=repeats)

    def addressing(self) -> Addressing:
        at = "addressing"
        spec = self.field(self.raw, at, dict, "")
        scheme = self.choice(spec, "scheme", ADDRESSING_SCHEMES, at)
        if scheme == "tag":
            return Addressing(scheme=scheme, tag_bits=self.positive_int(spec, "tag_bits", at),
                              tag_scope=self.choice(spec, "unique_per", ("receiving_core",), at),
                              core_bits=None, neuron_bits=None, virtual_core=False,
                              chip_id_in_cam=False, forbidden_sources=())
        forbidden = self.field(spec, "forbidden_sources", list, at, default=[])
        if not all(isinstance(p, list) and len(p) == 2 for p in forbidden):
            raise self.fail(f"{at}.forbidden_sources", f"is {forbidden!r}",
                            fix="list [core, neuron] pairs")
        return Addressing(scheme=scheme, tag_bits=None, tag_scope=None,
                          core_bits=self.positive_int(spec, "core_bits", at),
                          neuron_bits=self.positive_int(spec, "neuron_bits", at),
                          virtual_core=self.field(spec, "virtual_core", bool, at),
                          chip_id_in_cam=self.field(spec, "chip_id_in_cam", bool, at),
                          forbidden_sources=tuple((int(c), int(n)) for c, n in forbidden))

    def circuit(self) -> CircuitConstants:
        at = "circuit"
        spec = self.field(self.raw, at, dict, "")
        values = {k: float(self.field(spec, k, float, at))
                  for k in ("U_T", "kappa_n", "kappa_p", "I_0", "V_th")}
        caps = self.field(spec, "capacitance_F", dict, at)
        for key in ("mem", "ref", "pulse"):
            self.field(caps, key, float, f"{at}.capacitance_F")
        bad = [k for k, v in {**values, **caps}.items()
               if not (isinstance(v, (int, float)) and v > 0)]
        if bad:
            raise self.fail(at, f"{bad} must be positive numbers", fix="use SI units > 0")
        return CircuitConstants(**values, capacitance=MappingProxyType(
            {k: float(v) for k, v in caps.items()}))

    def energy(self) -> dict[str, EnergyFigure]:
        """The target's figures; the ones the block leaves out (or a missing block) are unknown."""
        given = self.energy_figures(self.field(self.raw, "energy", dict, "", default={}), "energy")
        unknown = EnergyFigure(None, "", "not given in the target file")
        return {name: given.get(name, replace(unknown, unit=unit))
                for name, unit in ENERGY_FIGURES.items()}

    def energy_figures(self, block: Any, at: str) -> dict[str, EnergyFigure]:
        """Validate an object of energy figures (keys ``note`` and ``ENERGY_FIGURES``)."""
        if not isinstance(block, dict):
            raise self.fail(at or "<root>", f"is {type(block).__name__}, expected an object",
                            fix="write the energy figures as a JSON object {...}")
        unknown = sorted(set(block) - set(ENERGY_FIGURES) - {"note"})
        if unknown:
            raise self.fail(at or "<root>", f"has unknown figure(s) {unknown}",
                            fix=f"name figures {list(ENERGY_FIGURES)}")
        out = {}
        for name, unit in ENERGY_FIGURES.items():
            if name not in block:
                continue
            fpath = f"{at}.{name}" if at else name
            item = self.field(block, name, dict, at)
            value = self.field(item, "value", (float, type(None)), fpath)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise self.fail(f"{fpath}.value", f"is {value!r}",
                                fix="use a finite number >= 0, or null when no figure is known")
            given_unit = self.field(item, "unit", str, fpath)
            if given_unit != unit:
                raise self.fail(f"{fpath}.unit", f"is {given_unit!r}, expected {unit!r}",
                                fix=f"give {name} in {unit} (SI, no prefix)")
            source = self.field(item, "source", str, fpath)
            if not source.strip():
                raise self.fail(f"{fpath}.source", "is empty",
                                fix=f"cite where the figure comes from, or start with "
                                    f"'{UNCONFIRMED}:' and say why")
            out[name] = EnergyFigure(None if value is None else float(value), unit, source)
        return out

    def check_roles(self, types: tuple[SynapseType, ...], by_role: Mapping[str, BiasSpec],
                    weights: WeightScheme, spike_adjustable: bool) -> None:
        # every neuron role, the spike threshold only when it is adjustable
        needed = [r for r in NEURON_ROLES if r != "I_spkthr" or spike_adjustable]
        for st in types:
            needed += [st.tau_role, st.gain_role]
            if not weights.masked:
                needed.append(st.weight_role)
        needed += [weights.base_role(k) for k in range(weights.bases)]
        missing = [r for r in needed if r not in by_role]
        if missing:
            raise self.fail("biases", f"no bias realises {missing}",
                            fix="give the bias that sets each of these currents its 'role'")
        if not spike_adjustable and "I_spkthr" in by_role:
            raise self.fail("spike_threshold.adjustable", "is false but a bias has role I_spkthr",
                            fix="make them agree")


def _max_chips(per_board: int, grid: tuple[int, int], reach: int) -> int:
    chips = 1
    while True:
        xy = np.array([_chip_xy(c, chips + 1, per_board, grid) for c in range(chips + 1)])
        if int((xy.max(axis=0) - xy.min(axis=0)).max()) > reach or chips > 4096:
            return chips
        chips += 1
