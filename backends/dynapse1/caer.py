"""The cAER netparser text format of DYNAP-SE1 labs: connection lines and bias lines.

Format (cAER ``modules/netparser`` documentation)::

    #! comment
    U00-C01-N005->3-08-U02-C03-N006     pre -> synapse type code - CAM slots (01..64) - post
    U04-C01-N005->3-02-U02-C03-N006     source chip U04: the FPGA spike generator sends (C01, N005)
    U0-C0-IF_DC_P-0-10-true             chip-core-bias-coarse-fine-current level (true = high)

Coarse values in these files follow libcaer: 0 is the largest current, 7 the smallest, the reverse
of samna's (and the tables') convention, so ``coarse_caer = coarse_max - coarse``. neurocc writes
only high current level (``true``); ``false`` and ``TAU2`` lines are refused on reading because the
target model has no facts for them.

What the format holds, and what it does not: a line is one connection, realised by the netparser as
``count`` CAM entries of the post neuron listening to the source's *real* address, and one SRAM
entry per (source, destination chip) whose core mask is the union of the cores it reaches. So it
holds every delivered synapse with its type and CAM count, the FPGA inputs' addresses and every
core's biases; it does not hold populations, the neuron map, outputs, parameter classes (read back
as 0), virtual core ids, the choice of SRAM entries, input channel numbering (read back as one
channel per distinct FPGA address, in address order, named ``fpga``), or CAM entries no source
reaches. The writer refuses tables it cannot express without changing what the chip does: a CAM
entry shared by several sources, an address clash once virtual cores are replaced by real cores,
a source reaching more chips than the usable SRAM entries, a forbidden source address.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from neurocc.backends.config.encode import check_tables
from neurocc.backends.config.text import read_text, write_text
from neurocc.backends.target import Target
from neurocc.compiler.errors import ConfigError
from neurocc.compiler.tables import CoreConfig, RoutingTables

#: Source chip id the netparser reserves for the FPGA spike generator.
FPGA_CHIP = 4
INPUT_POPULATION = "fpga"
HEADER = "#! neurocc: DYNAP-SE1 network for the cAER netparser (coarse 0 = largest current)"
_CONNECTION = re.compile(r"U(\d+)-C(\d+)-N(\d+)->(\d+)-(\d+)-U(\d+)-C(\d+)-N(\d+)")
_BIAS = re.compile(r"U(\d+)-C(\d+)-([A-Za-z0-9_]+)-(\d+)-(\d+)-(true|false)")
_TAU2 = re.compile(r"U\d+-C\d+-N\d+-TAU2")


def caer_coarse(coarse: int, target: Target) -> int:
    """Coarse value between the tables' convention (largest = coarse_max) and libcaer's
    (0 = largest); the map is its own inverse."""
    return target.generator.coarse_max - coarse


# -- writing -------------------------------------------------------------------------------------
def dump_caer(tables: RoutingTables, target: Target) -> str:
    """The netparser text of ``tables``: connections sorted by source, then biases."""
    check_tables(tables, target)
    _check_board(target, "cAER netparser")
    npc = target.neurons_per_core
    lines = [HEADER, f"#! target {target.name}", "#! connections"]
    for (src, key, post, kind), count in sorted(_connections(tables, target).items()):
        if src >= 0:
            pre = _name(src, tables)
        else:
            pre = f"U{FPGA_CHIP:02d}-C{key // npc:02d}-N{key % npc:03d}"
        code = target.synapse_type(tables.syn_types[kind]).code
        lines.append(f"{pre}->{code}-{count:02d}-{_name(post, tables)}")
    lines.append("#! biases")
    for (chip, core), config in sorted(tables.cores.items()):
        for name, (coarse, fine) in sorted(config.biases.items()):
            target.bias(name)
            lines.append(f"U{chip}-C{core}-{name}-{caer_coarse(coarse, target)}-{fine}-true")
    return "\n".join(lines) + "\n"


def _check_board(target: Target, where: str) -> None:
    if target.chips > FPGA_CHIP:
        raise ConfigError(f"the netparser addresses one board of chips U00..U03, the target has "
                          f"{target.chips} chips", where=where,
                          fix="pass --chips 4 or fewer, or use config.json")


def _name(src: int, tables: RoutingTables) -> str:
    if src < 0:
        return f"input channel {-1 - src}"
    chip, core, slot = (int(v) for v in tables.hw_location(src))
    return f"U{chip:02d}-C{core:02d}-N{slot:03d}"


def _fail(message: str, fix: str) -> ConfigError:
    return ConfigError(message, where="cAER netparser (routing tables)", fix=fix)


def _connections(tables: RoutingTables, target: Target) -> dict[tuple[int, int, int, int], int]:
    """(source, key, post hw, type) -> CAM entry count, for every CAM entry a source reaches."""
    npc, cpc = target.neurons_per_core, target.cores_per_chip
    reaching: dict[tuple[int, int], list[int]] = defaultdict(list)  # (post core, key) -> sources
    for src, key, chip, cores in zip(*(a.tolist() for a in (
            tables.sram_src, tables.sram_key, tables.sram_chip, tables.sram_cores))):
        for core in range(cpc):
            if (cores >> core) & 1:
                reaching[chip * cpc + core, key].append(src)
    counts: dict[tuple[int, int, int, int], int] = defaultdict(int)
    for post, key, kind in zip(*(a.tolist() for a in (
            tables.cam_post, tables.cam_key, tables.cam_type))):
        sources = reaching.get((post // npc, key), [])
        if len(sources) > 1:
            raise _fail(f"the CAM entry of {_name(post, tables)} listening to address {key} is "
                        f"reached by {_name(sources[0], tables)} and {_name(sources[1], tables)}: "
                        f"a netparser line connects one source",
                        fix="write the JSON or samna config instead")
        if sources:
            counts[sources[0], key, post, kind] += 1
    _check_limits(tables, target, counts)
    return counts


def _check_limits(tables: RoutingTables, target: Target,
                  counts: dict[tuple[int, int, int, int], int]) -> None:
    """The netparser's own rules: CAM count, real-address clashes, SRAM per chip, address 0."""
    npc, cpc = target.neurons_per_core, target.cores_per_chip
    cam: dict[int, int] = defaultdict(int)
    owner: dict[tuple[int, int], int] = {}
    chips: dict[int, set[int]] = defaultdict(set)
    for (src, key, post, _), n in counts.items():
        cam[post] += n
        address = key
        if src >= 0:  # the netparser sends the real core id, not the virtual one
            address = (src // npc) % cpc * npc + src % npc
            chips[src].add(post // (npc * cpc))
        if (address // npc, address % npc) in target.addressing.forbidden_sources:
            raise _fail(f"{_name(src, tables)} would send address {address}, which empty CAM "
                        f"entries hold", fix="place another neuron there")
        other = owner.setdefault((post // npc, address), src)
        if other != src:
            raise _fail(f"CAM clash at {_name(post, tables)}: {_name(other, tables)} and "
                        f"{_name(src, tables)} reach its core with the same address (the "
                        f"netparser uses real core ids, no virtual cores)",
                        fix="write the JSON or samna config, which keep virtual core ids")
    for post, n in cam.items():
        if n > target.cam_per_neuron:
            raise _fail(f"CAM overflow at {_name(post, tables)}: {n} entries, the chip has "
                        f"{target.cam_per_neuron}", fix="reduce the neuron's fan-in")
    for src, dest in chips.items():
        if len(dest) > target.sram_usable:
            raise _fail(f"SRAM size limit reached at {_name(src, tables)}: it reaches "
                        f"{len(dest)} chips, {target.sram_usable} SRAM entries are usable",
                        fix="place its targets on fewer chips")


# -- reading -------------------------------------------------------------------------------------
def load_caer(text: str, target: Target, *, where: str = "<cAER network>") -> RoutingTables:
    """Rebuild the hardware part of the tables from netparser text (see the module docstring)."""
    _check_board(target, where)
    parser = _Parser(target, where)
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parser.line(line, lineno)
    return parser.tables()


class _Parser:
    def __init__(self, target: Target, where: str):
        self.t, self.where = target, where
        self.npc, self.cpc = target.neurons_per_core, target.cores_per_chip
        self.by_code = {st.code: i for i, st in enumerate(target.synapse_types)}
        self.cam: list[tuple[int, int, int]] = []
        self.cam_count: dict[int, int] = defaultdict(int)
        self.owner: dict[tuple[int, int], tuple[int, int]] = {}
        self.routes: dict[tuple[int, int], int] = defaultdict(int)  # (source, chip) -> cores
        self.inputs: dict[tuple[int, int], int] = defaultdict(int)  # (address, chip) -> cores
        self.biases: dict[tuple[int, int], dict[str, tuple[int, int]]] = defaultdict(dict)

    def fail(self, lineno: int, message: str, fix: str) -> ConfigError:
        return ConfigError(message, where=f"{self.where}:{lineno}", fix=fix)

    def number(self, text: str, lineno: int, what: str, lo: int, hi: int) -> int:
        value = int(text)
        if not lo <= value <= hi:
            raise self.fail(lineno, f"{what} {value} is outside {lo}..{hi}",
                            fix=f"use a {what} in {lo}..{hi}")
        return value

    def line(self, line: str, lineno: int) -> None:
        if m := _CONNECTION.fullmatch(line):
            self.connection(m.groups(), lineno)
        elif m := _BIAS.fullmatch(line):
            self.bias(m.groups(), lineno)
        elif _TAU2.fullmatch(line):
            raise self.fail(lineno, "TAU2 selection is not supported: neurocc realises one "
                                    "membrane time constant per core (IF_TAU1_N)",
                            fix="remove the TAU2 line")
        else:
            raise self.fail(lineno, f"{line!r} is neither a connection "
                                    f"(U00-C01-N005->3-08-U02-C03-N006) nor a bias line "
                                    f"(U0-C0-IF_DC_P-0-10-true)", fix="fix the line's syntax")

    def connection(self, groups: tuple[str, ...], lineno: int) -> None:
        last_chip = self.t.chips - 1
        pre_chip = self.number(groups[0], lineno, "source chip", 0, FPGA_CHIP)
        pre_core = self.number(groups[1], lineno, "source core", 0, self.cpc - 1)
        pre_slot = self.number(groups[2], lineno, "source neuron", 0, self.npc - 1)
        code = int(groups[3])
        if code not in self.by_code:
            raise self.fail(lineno, f"connection type {code} is unknown",
                            fix=f"use one of {sorted(self.by_code)}")
        count = self.number(groups[4], lineno, "CAM slot count", 1, self.t.cam_per_neuron)
        chip = self.number(groups[5], lineno, "target chip", 0, last_chip)
        core = self.number(groups[6], lineno, "target core", 0, self.cpc - 1)
        slot = self.number(groups[7], lineno, "target neuron", 0, self.npc - 1)
        if pre_chip != FPGA_CHIP and pre_chip > last_chip:
            raise self.fail(lineno, f"source chip {pre_chip} does not exist",
                            fix=f"use U00..U{last_chip:02d}, or U04 for the FPGA")
        if (pre_core, pre_slot) in self.t.addressing.forbidden_sources:
            raise self.fail(lineno, f"neuron {pre_slot} of core {pre_core} must not be a source: "
                                    f"empty CAM entries hold its address",
                            fix="use another source neuron")
        post = (chip * self.cpc + core) * self.npc + slot
        address = pre_core * self.npc + pre_slot
        self.cam_count[post] += count
        if self.cam_count[post] > self.t.cam_per_neuron:
            raise self.fail(lineno, f"CAM overflow for U{chip:02d}-C{core:02d}-N{slot:03d}: "
                                    f"{self.cam_count[post]} CAM slots, the neuron has "
                                    f"{self.t.cam_per_neuron}", fix="use fewer CAM slots")
        other = self.owner.setdefault((post // self.npc, address), (pre_chip, address))
        if other[0] != pre_chip:
            raise self.fail(lineno, f"CAM clash at U{chip:02d}-C{core:02d}-N{slot:03d}: sources "
                                    f"on chips U{other[0]:02d} and U{pre_chip:02d} reach its core "
                                    f"with address C{pre_core:02d}-N{pre_slot:03d}",
                            fix="use different neuron addresses for the two sources")
        self.cam += [(post, address, self.by_code[code])] * count
        if pre_chip == FPGA_CHIP:
            self.inputs[address, chip] |= 1 << core
            return
        src = (pre_chip * self.cpc + pre_core) * self.npc + pre_slot
        self.routes[src, chip] |= 1 << core
        chips = sum(1 for s, _ in self.routes if s == src)
        if chips > self.t.sram_usable:
            raise self.fail(lineno, f"SRAM size limit reached: U{pre_chip:02d}-C{pre_core:02d}-"
                                    f"N{pre_slot:03d} reaches {chips} chips, "
                                    f"{self.t.sram_usable} SRAM entries are usable",
                            fix="connect each neuron to fewer chips")

    def bias(self, groups: tuple[str, ...], lineno: int) -> None:
        chip = self.number(groups[0], lineno, "chip", 0, self.t.chips - 1)
        core = self.number(groups[1], lineno, "core", 0, self.cpc - 1)
        name = groups[2]
        if name not in {b.name for b in self.t.biases}:
            raise self.fail(lineno, f"{self.t.name} has no bias {name!r}",
                            fix=f"use one of {sorted(b.name for b in self.t.biases)}")
        coarse = self.number(groups[3], lineno, "coarse value", 0, self.t.generator.coarse_max)
        fine = self.number(groups[4], lineno, "fine value", 0, self.t.generator.fine_max)
        if groups[5] != "true":
            raise self.fail(lineno, f"{name}: low current level (false) is not modelled",
                            fix="use current level true")
        if name in self.biases[chip, core]:
            raise self.fail(lineno, f"{name} of U{chip}-C{core} is set twice",
                            fix="set every bias once")
        self.biases[chip, core][name] = (caer_coarse(coarse, self.t), fine)

    def tables(self) -> RoutingTables:
        t = self.t
        cam = np.array(self.cam, dtype=np.int64).reshape(-1, 3).T
        channel = {a: c for c, a in enumerate(sorted({a for a, _ in self.inputs}))}
        rows = [(src, src % self.npc + ((src // self.npc) % self.cpc) * self.npc, chip, cores)
                for (src, chip), cores in self.routes.items()]
        rows += [(-1 - channel[a], a, chip, cores)
                 for (a, chip), cores in self.inputs.items()]
        sram = np.array(rows, dtype=np.int64).reshape(-1, 4).T
        cores = {key: CoreConfig(key[0], key[1], 0, dict(sorted(b.items())))
                 for key, b in sorted(self.biases.items())}
        return RoutingTables(
            target=t.name, chips=t.chips, cores_per_chip=self.cpc, neurons_per_core=self.npc,
            syn_types=tuple(st.name for st in t.synapse_types),
            input_populations=[(INPUT_POPULATION, len(channel))] if channel else [],
            cam_post=cam[0], cam_key=cam[1], cam_type=cam[2],
            cam_code=np.ones(cam.shape[1], dtype=np.int64),
            sram_src=sram[0], sram_key=sram[1], sram_chip=sram[2], sram_cores=sram[3],
            cores=cores)


# -- files ---------------------------------------------------------------------------------------
def write_caer(path: str | Path, tables: RoutingTables, target: Target) -> None:
    write_text(path, dump_caer(tables, target))


def read_caer(path: str | Path, target: Target) -> RoutingTables:
    return load_caer(read_text(path), target, where=str(path))
