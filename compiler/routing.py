"""Routing: choose every event's key and write the CAM and SRAM tables.

Each source (neuron or input channel) gets one SRAM entry per destination chip, whose core mask
covers the cores holding its targets there. Keys must be unambiguous among the events arriving at
each core:

* ``tag`` addressing: the tag of each entry is a colour; entries whose masks share a core need
  different tags. Cores of different chips, and disjoint cores of one chip, reuse tags. Greedy
  colouring per destination chip, widest masks first, lowest free tag.
* ``core_neuron`` addressing: a neuron's key is ``virtual core * neurons_per_core + slot``; only
  the virtual core is chosen per entry (preferring the real core). Entries of equal slot whose
  masks share a core need different virtual cores; forbidden keys are never used. When a slot
  runs out of virtual cores, the source moves to another slot of its core (slot repair). Input
  channels take any free key.

CAM rows follow the target's weight scheme: ``base_sum`` writes ``repeats`` rows with the weight
code (mask); ``count`` writes ``code`` rows of code 1 (a count of repeated binary synapses).
Synapses with no row (count 0, mask 0) are not written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from .errors import CapacityError, InvalidModelError, KeyCapacityError
from .ir import Network
from .placement import Placement
from .placement.resources import Resources, as_resources
from .synapses import PopulationIndex, per_synapse, synapse_list
from .tables import CoreConfig, RoutingTables

if TYPE_CHECKING:
    from neurocc.backends.target import Target

    from .compilation import Compilation

#: Slot repairs tried before a CAM clash is reported.
MAX_SLOT_REPAIRS = 256

#: Keys run out when a core receives too many distinct sources; the compile then spreads the
#: neurons over more of the given cores (:func:`neurocc.compiler.pipeline.route_events`).
SPREAD_FIX = ("pass more chips with --chips (the compile spreads the neurons over the cores it "
              "is given, so that fewer share a core), or reduce the fan-in diversity")


def route(net: Network, placement: Placement, target: Target | Resources, synapse_types,
          weight_codes,
          repeats: Mapping[str, np.ndarray] | np.ndarray | None = None) -> RoutingTables:
    """Routing tables of ``net`` placed by ``placement`` on ``target``.

    ``synapse_types`` (index into the target's synapse types), ``weight_codes`` and ``repeats``
    are per synapse: a mapping projection name -> array aligned with its non-zero weights, or one
    array in the canonical order of :func:`placement.problem.synapse_list`.
    """
    res = as_resources(target)
    index = PopulationIndex.of(net)
    syn = synapse_list(net)
    types = per_synapse(synapse_types, syn, "synapse types")
    codes = per_synapse(weight_codes, syn, "weight codes")
    reps = np.ones(syn.size, dtype=np.int64) if repeats is None else per_synapse(
        repeats, syn, "repeat counts")
    _check_codes(types, codes, reps, res)
    rows, written = res.weights.cam_entries(codes, reps)
    keep = rows > 0
    pre, post = syn.pre[keep], syn.post[keep]
    n = index.n_neurons
    slot = placement.slot.copy()
    core_of = placement.core_of
    entries = _entries(pre, core_of[post], res)
    keys, slot = _keys(entries, core_of, slot, n, res, index)
    hw = core_of * res.neurons_per_core + slot
    # CAM rows: one per written entry of every kept synapse
    dest_chip = core_of[post] // res.cores_per_chip
    at = np.searchsorted(entries.id, pre * res.chips + dest_chip)
    count = rows[keep]
    tables = RoutingTables(
        target=res.name, chips=res.chips, cores_per_chip=res.cores_per_chip,
        neurons_per_core=res.neurons_per_core, syn_types=res.syn_types,
        populations=[(name, size) for name, _, size in index.neuron_pops],
        input_populations=[(name, size) for name, _, size in index.input_pops],
        neuron_hw=hw,
        cam_post=np.repeat(hw[post], count), cam_key=np.repeat(keys[at], count),
        cam_type=np.repeat(types[keep], count), cam_code=np.repeat(written[keep], count),
        sram_src=np.where(entries.src < n, hw[np.minimum(entries.src, n - 1)],
                          -1 - (entries.src - n)),
        sram_key=keys, sram_chip=entries.chip, sram_cores=entries.mask,
        cores=_cores(core_of, placement.neuron_class, res), outputs=list(net.outputs))
    _check_limits(tables, entries, n, res, index)
    return tables


def _check_codes(types, codes, reps, res: Resources) -> None:
    if types.size and (types.min() < 0 or types.max() >= len(res.syn_types)):
        raise InvalidModelError(f"synapse type ids must be in 0..{len(res.syn_types) - 1} "
                                f"({', '.join(res.syn_types)})", where=f"target {res.name}")
    top = res.weights.code_limit(res.cam_per_neuron)
    if codes.size and (codes.min() < 0 or codes.max() > top):
        raise InvalidModelError(f"weight codes must be in 0..{top} for {res.weights.scheme} "
                                f"weights", where=f"target {res.name}")
    if reps.size and reps.min() < 0:
        raise InvalidModelError("repeat counts must be >= 0", where=f"target {res.name}")


class _Entries:
    """One SRAM entry per (source, destination chip): id = source * chips + chip."""

    def __init__(self, id_: np.ndarray, mask: np.ndarray, chips: int):
        self.id, self.mask = id_, mask
        self.src, self.chip = id_ // chips, id_ % chips


def _entries(pre: np.ndarray, post_core: np.ndarray, res: Resources) -> _Entries:
    ident = pre * res.chips + post_core // res.cores_per_chip
    bit = np.left_shift(1, post_core % res.cores_per_chip).astype(np.int64)
    order = np.argsort(ident, kind="stable")
    ident, bit = ident[order], bit[order]
    first = np.flatnonzero(np.concatenate([[True], ident[1:] != ident[:-1]])) if ident.size \
        else np.zeros(0, dtype=np.int64)
    mask = np.bitwise_or.reduceat(bit, first) if ident.size else bit
    return _Entries(ident[first], mask, res.chips)


def _keys(entries: _Entries, core_of: np.ndarray, slot: np.ndarray, n: int, res: Resources,
          index: PopulationIndex) -> tuple[np.ndarray, np.ndarray]:
    if res.addressing == "tag":
        return _colour_free(entries, np.arange(entries.id.size), {}, res), slot
    for _ in range(MAX_SLOT_REPAIRS):
        keys, used, clash = _virtual_cores(entries, core_of, slot, n, res)
        if clash is None:
            inputs = np.flatnonzero(entries.src >= n)
            keys[inputs] = _colour_free(entries, inputs, used, res)[inputs]
            return keys, slot
        slot = _repair_slot(clash, core_of, slot, n, res, entries)
    raise _clash_error(clash, entries, res, index)


def _order(entries: _Entries, which: np.ndarray) -> np.ndarray:
    """Widest masks first, then by source: the hardest entries pick first."""
    pop = np.array([bin(int(m)).count("1") for m in entries.mask[which]], dtype=np.int64)
    return which[np.lexsort((entries.src[which], -pop))]


def _colour_free(entries: _Entries, which: np.ndarray, used: dict,
                 res: Resources) -> np.ndarray:
    """Lowest key free on every core of the entry's mask (per-core bitsets of used keys)."""
    keys = np.full(entries.id.size, -1, dtype=np.int64)
    forbidden = _forbidden(res)
    cpc = res.cores_per_chip
    for e in _order(entries, which).tolist():
        cores = [int(entries.chip[e]) * cpc + c for c in range(cpc) if entries.mask[e] >> c & 1]
        busy = forbidden
        for k in cores:
            busy |= used.get(k, 0)
        key = (~busy & (busy + 1)).bit_length() - 1
        if key >= res.key_count:
            raise _keys_error(cores, used, res)
        for k in cores:
            used[k] = used.get(k, 0) | (1 << key)
        keys[e] = key
    return keys


def _virtual_cores(entries: _Entries, core_of, slot, n: int, res: Resources):
    """Virtual core of every neuron entry; returns (keys, per-core used-key bitsets, clash)
    where clash is the entry that found no free virtual core (None when all did)."""
    npc, cpc = res.neurons_per_core, res.cores_per_chip
    keys = np.full(entries.id.size, -1, dtype=np.int64)
    used: dict[int, int] = {}
    forbidden = set(res.forbidden_keys)
    neurons = np.flatnonzero(entries.src < n)
    for e in _order(entries, neurons).tolist():
        s = int(entries.src[e])
        sl = int(slot[s])
        cores = [int(entries.chip[e]) * cpc + c for c in range(cpc) if entries.mask[e] >> c & 1]
        busy = 0
        for k in cores:
            busy |= used.get(k, 0)
        own = int(core_of[s]) % cpc
        choices = [own] + [v for v in range(res.virtual_cores) if v != own]
        pick = next((v for v in choices if (v * npc + sl) not in forbidden
                     and not busy >> (v * npc + sl) & 1), None)
        if pick is None:
            return keys, used, e
        key = pick * npc + sl
        for k in cores:
            used[k] = used.get(k, 0) | (1 << key)
        keys[e] = key
    return keys, used, None


def _repair_slot(clash: int, core_of, slot, n: int, res: Resources, entries: _Entries):
    """Move the clashing source to the slot of its core least used by other sources' keys
    at its destinations (swapping with the neuron there, if any)."""
    s = int(entries.src[clash])
    mates = np.flatnonzero(core_of == core_of[s])
    taken = np.zeros(res.neurons_per_core, dtype=np.int64)
    # how often each slot value is already sent to the chips this source reaches
    dest = entries.chip[entries.src == s]
    senders = entries.src[np.isin(entries.chip, dest) & (entries.src < n)]
    np.add.at(taken, slot[senders], 1)
    for core, bad in res.forbidden_source_slots:
        if core_of[s] % res.cores_per_chip == core:
            taken[bad] = np.iinfo(np.int64).max
    taken[slot[s]] = np.iinfo(np.int64).max
    target = int(np.argmin(taken))
    other = mates[slot[mates] == target]
    slot = slot.copy()
    if other.size:
        slot[other[0]] = slot[s]
    slot[s] = target
    return slot


def _keys_error(cores: list[int], used: dict, res: Resources) -> KeyCapacityError:
    """One event reaches ``cores`` of a chip with one key: no key is free on all of them."""
    busy = 0
    for k in cores:
        busy |= used.get(k, 0)
    cpc = res.cores_per_chip
    each = ", ".join(f"core {k % cpc}: {bin(used.get(k, 0)).count('1')}" for k in cores)
    return KeyCapacityError(
        f"no key is free on every core one event must reach (chip {cores[0] // cpc}, "
        f"{each} keys in use): together they use {bin(busy & ~_forbidden(res)).count('1')} of "
        f"the {res.usable_keys} distinct sources a core tells apart", where=f"target {res.name}",
        fix=SPREAD_FIX)


def _forbidden(res: Resources) -> int:
    return sum(1 << k for k in res.forbidden_keys)


def _clash_error(e: int, entries: _Entries, res: Resources,
                 index: PopulationIndex) -> CapacityError:
    s = int(entries.src[e])
    return KeyCapacityError(
        f"CAM clash: {index.describe_source(s)} found no free address at chip "
        f"{int(entries.chip[e])} (every virtual core of its slot is taken by other sources "
        f"reaching the same cores, even after {MAX_SLOT_REPAIRS} slot changes)",
        where=f"target {res.name}",
        fix=SPREAD_FIX)


def _check_limits(tables: RoutingTables, entries: _Entries, n: int, res: Resources,
                  index: PopulationIndex) -> None:
    per_post = np.bincount(tables.cam_post, minlength=res.total_cores * res.neurons_per_core)
    over = np.flatnonzero(per_post > res.cam_per_neuron)
    if over.size:
        ir = np.flatnonzero(np.isin(tables.neuron_hw, over))
        raise CapacityError(
            f"CAM overflow: {over.size} neurons get more than {res.cam_per_neuron} CAM entries "
            f"(worst {int(per_post.max())}), e.g. {index.describe_source(int(ir[0]))}",
            where=f"target {res.name}", fix="prune fan-in or use fewer repeated entries")
    per_src = np.bincount(entries.src[entries.src < n], minlength=n)
    over = np.flatnonzero(per_src > res.sram_per_neuron)
    if over.size:
        raise CapacityError(
            f"SRAM overflow: {over.size} neurons need more than {res.sram_per_neuron} "
            f"destination chips, e.g. {index.describe_source(int(over[0]))} needs "
            f"{int(per_src[over[0]])}", where=f"target {res.name}",
            fix="place with the SRAM limit enforced (compiler.placement.place)")


def _cores(core_of: np.ndarray, neuron_class: np.ndarray, res: Resources) -> dict:
    out = {}
    for k in np.unique(core_of).tolist():
        chip, core = divmod(k, res.cores_per_chip)
        out[(chip, core)] = CoreConfig(chip=chip, core=core,
                                       parameter_class=int(neuron_class[core_of == k][0]))
    return out


def run(c: Compilation) -> Compilation:
    """Pass ``routing``: keys, CAM and SRAM rows; every used core gets the (coarse, fine)
    biases the quantize pass chose for it."""
    w = c.weights
    tables = route(c.network, c.placement, c.target, w.syn_type, w.code, w.repeats)
    for (chip, core), config in tables.cores.items():
        choices = w.core_biases[chip * tables.cores_per_chip + core]
        config.biases = {ch.name: (int(ch.coarse), int(ch.fine)) for ch in choices.values()}
    return replace(c, tables=tables)
