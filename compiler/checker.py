"""Independent checker: do the routing tables realise exactly the quantized network?

It reads only the tables, the target's limits and the list of synapses the quantized IR says
must exist; it never looks at the placer's or router's data structures. The tables' meaning is
the SRAM/CAM join of :func:`compiler.tables.delivered_synapses` (what the hardware does); every
delivered (pre, post, type, code) is mapped back to IR numbering through ``neuron_hw`` and
compared, as a multiset, with the expected synapses: nothing missing, nothing extra (aliasing,
double delivery), and every hardware limit respected.

Expected synapses use IR numbering: ``pre`` is a neuron index (non-input populations in order)
or ``-1 - c`` for input channel ``c``; ``post`` a neuron index; ``count`` the number of CAM
entries with that code (weight scheme ``count``: code 1, count = the integer weight).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from .errors import ConfigError
from .ir import Network
from .placement.resources import Resources, as_resources
from .synapses import PopulationIndex, per_synapse, synapse_list
from .tables import RoutingTables, delivered_synapses

if TYPE_CHECKING:
    from neurocc.backends.target import Target, WeightScheme

    from .compilation import Compilation

#: Problems listed in a report's summary before "...".
SUMMARY_MAX = 8


@dataclass(frozen=True, eq=False)
class ExpectedSynapses:
    pre: np.ndarray
    post: np.ndarray
    syn_type: np.ndarray
    code: np.ndarray
    count: np.ndarray


def expected_synapses(net: Network, synapse_types, weight_codes, weight_scheme: WeightScheme,
                      repeats=None) -> ExpectedSynapses:
    """The CAM entries the quantized IR asks for, from per-synapse arrays (per projection, in
    the order of its non-zero weights, or one array over the projections in order).

    ``base_sum``: ``repeats`` entries (default 1) with code ``weight_codes``; ``count``:
    ``weight_codes`` entries with code 1. Synapses with no entry are left out.
    """
    syn = synapse_list(net)
    types = per_synapse(synapse_types, syn, "synapse types")
    codes = per_synapse(weight_codes, syn, "weight codes")
    reps = np.ones_like(codes) if repeats is None else per_synapse(repeats, syn, "repeat counts")
    count, code = weight_scheme.cam_entries(codes, reps)
    keep = count > 0
    pre = syn.table_sources(PopulationIndex.of(net).n_neurons)
    return ExpectedSynapses(pre[keep], syn.post[keep], types[keep], code[keep], count[keep])


@dataclass
class CheckReport:
    """Differences between tables and expectation, and broken limits (empty when all is well).

    ``missing``/``extra`` rows are (pre, post, type, code, how many entries)."""

    missing: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    extra: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.violations)

    def summary(self) -> str:
        if self.ok:
            return "routing tables match the quantized network; every limit is respected"
        parts = [f"{len(self.missing)} missing synapse entries" if self.missing else "",
                 f"{len(self.extra)} extra synapse entries (aliasing or double delivery)"
                 if self.extra else "",
                 f"{len(self.violations)} limit violations" if self.violations else ""]
        lines = ["; ".join(p for p in parts if p)]
        lines += [f"missing (pre, post, type, code) x n: {r}" for r in self.missing[:SUMMARY_MAX]]
        lines += [f"extra (pre, post, type, code) x n: {r}" for r in self.extra[:SUMMARY_MAX]]
        lines += self.violations[:SUMMARY_MAX]
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        if not self.ok:
            raise ConfigError(self.summary(), where="routing check",
                              fix="this is a compiler bug: please report it with the model")


def check(tables: RoutingTables, target: Target | Resources, expected: ExpectedSynapses,
          neuron_class: np.ndarray | None = None) -> CheckReport:
    """Compare what ``tables`` deliver with ``expected`` and check every limit of ``target``.

    ``neuron_class`` (class id per IR neuron), when given, is checked against the class of the
    core each neuron sits on.
    """
    res = as_resources(target)
    report = CheckReport()
    hw_to_ir = _placement_map(tables, res, report)
    _compare(tables, expected, hw_to_ir, report)
    _limits(tables, res, hw_to_ir, report)
    if neuron_class is not None:
        _classes(tables, neuron_class, report)
    return report


def _placement_map(tables: RoutingTables, res: Resources, report: CheckReport) -> np.ndarray:
    total_hw = res.chips * res.cores_per_chip * res.neurons_per_core
    hw = np.asarray(tables.neuron_hw, dtype=np.int64)
    n = sum(size for _, size in tables.populations)
    if hw.size != n:
        report.violations.append(f"neuron_hw has {hw.size} entries for {n} neurons")
    bad = np.flatnonzero((hw < 0) | (hw >= total_hw))
    if bad.size:
        report.violations.append(f"{bad.size} neurons sit outside the {total_hw} hardware "
                                 f"neurons (e.g. neuron {int(bad[0])} at {int(hw[bad[0]])})")
    hw = np.clip(hw, 0, total_hw - 1)
    ids, counts = np.unique(hw, return_counts=True)
    if np.any(counts > 1):
        report.violations.append(f"{int(np.count_nonzero(counts > 1))} hardware neurons hold "
                                 f"several IR neurons (e.g. hw {int(ids[counts > 1][0])})")
    inv = np.full(total_hw, -2 ** 40, dtype=np.int64)  # no IR neuron: never matches
    inv[hw] = np.arange(hw.size)
    return inv


def _compare(tables: RoutingTables, expected: ExpectedSynapses, hw_to_ir: np.ndarray,
             report: CheckReport) -> None:
    d = delivered_synapses(tables)
    total_hw = hw_to_ir.size
    src_ok = d.src < total_hw
    post_ok = (d.post >= 0) & (d.post < total_hw)
    pre = np.where(d.src >= 0, hw_to_ir[np.clip(d.src, 0, total_hw - 1)], d.src)
    post = hw_to_ir[np.clip(d.post, 0, total_hw - 1)]
    pre = np.where(src_ok, pre, -2 ** 41)
    post = np.where(post_ok, post, -2 ** 41)
    got = np.stack([pre, post, d.syn_type, d.code, -np.ones_like(pre)], axis=1)
    want = np.stack([expected.pre, expected.post, expected.syn_type, expected.code,
                     expected.count], axis=1).astype(np.int64)
    rows = np.concatenate([want, got])
    keys, inv = np.unique(rows[:, :4], axis=0, return_inverse=True)
    balance = np.bincount(inv.ravel(), weights=rows[:, 4], minlength=len(keys)).astype(np.int64)
    for i in np.flatnonzero(balance > 0):
        report.missing.append((*map(int, keys[i]), int(balance[i])))
    for i in np.flatnonzero(balance < 0):
        report.extra.append((*map(int, keys[i]), int(-balance[i])))


def _limits(tables: RoutingTables, res: Resources, hw_to_ir: np.ndarray,
            report: CheckReport) -> None:
    v = report.violations
    npc, cpc = res.neurons_per_core, res.cores_per_chip
    total_hw = hw_to_ir.size
    # CAM: entries per neuron, types, codes, keys
    per_post = np.bincount(np.clip(tables.cam_post, 0, total_hw - 1), minlength=total_hw)
    over = np.flatnonzero(per_post > res.cam_per_neuron)
    if over.size:
        v.append(f"CAM overflow: {over.size} hardware neurons hold more than "
                 f"{res.cam_per_neuron} CAM entries (hw {int(over[0])}: {int(per_post[over[0]])})")
    if np.any((tables.cam_type < 0) | (tables.cam_type >= len(res.syn_types))):
        v.append(f"CAM synapse types outside 0..{len(res.syn_types) - 1}")
    top = res.weights.entry_code_limit()
    low = 1
    if np.any((tables.cam_code < low) | (tables.cam_code > top)):
        v.append(f"CAM weight codes outside {low}..{top} ({res.weights.scheme} weights)")
    for name, keys in (("CAM", tables.cam_key), ("SRAM", tables.sram_key)):
        if np.any((keys < 0) | (keys >= res.key_count)):
            v.append(f"{name} keys outside 0..{res.key_count - 1}")
        bad = np.isin(keys, res.forbidden_keys)
        if np.any(bad):
            v.append(f"{name} uses forbidden key(s) {sorted(set(keys[bad].tolist()))}")
    # SRAM: entries per neuron source, chips, core masks, hops, addresses
    neuron_src = tables.sram_src >= 0
    per_src = np.bincount(tables.sram_src[neuron_src], minlength=total_hw)
    over = np.flatnonzero(per_src > res.sram_per_neuron)
    if over.size:
        v.append(f"SRAM overflow: {over.size} neurons use more than {res.sram_per_neuron} SRAM "
                 f"entries (hw {int(over[0])}: {int(per_src[over[0]])})")
    if np.any((tables.sram_chip < 0) | (tables.sram_chip >= res.chips)):
        v.append(f"SRAM destination chips outside 0..{res.chips - 1}")
    if np.any((tables.sram_cores <= 0) | (tables.sram_cores >= 2 ** cpc)):
        v.append(f"SRAM core masks outside 1..{2 ** cpc - 1}")
    src = np.clip(tables.sram_src[neuron_src], 0, total_hw - 1)
    unmapped = hw_to_ir[src] < 0
    if np.any(unmapped):
        v.append(f"{int(np.count_nonzero(unmapped))} SRAM entries belong to hardware neurons "
                 f"that hold no network neuron")
    src_chip = src // (npc * cpc)
    dst_chip = np.clip(tables.sram_chip[neuron_src], 0, res.chips - 1)
    far = ~res.in_hop_range()[src_chip, dst_chip]
    if np.any(far):
        v.append(f"{int(np.count_nonzero(far))} SRAM entries point beyond the hop range "
                 f"{list(res.hop_range)}")
    slot, core = src % npc, (src // npc) % cpc
    for fcore, fslot in res.forbidden_source_slots:
        if np.any((core == fcore) & (slot == fslot)):
            v.append(f"a neuron at the forbidden source address (core {fcore}, neuron {fslot}) "
                     f"sends events")
    if res.addressing == "core_neuron":
        keys = tables.sram_key[neuron_src]
        if np.any(keys % npc != slot) or np.any(keys // npc >= max(res.virtual_cores, 1)):
            v.append("SRAM keys of neurons must be (virtual core, own slot) addresses")
    _ambiguous_keys(tables, v)


def _ambiguous_keys(tables: RoutingTables, v: list[str]) -> None:
    """Two sources sending one key to a core where a CAM entry listens to it (a CAM clash)."""
    cpc = tables.cores_per_chip
    bits = (tables.sram_cores[:, None] >> np.arange(cpc)[None, :]) & 1
    rows, cores = np.nonzero(bits)
    core = tables.sram_chip[rows] * cpc + cores
    span = int(max(tables.sram_key.max(initial=0), tables.cam_key.max(initial=0))) + 1
    sent = np.unique(np.stack([core * span + tables.sram_key[rows], tables.sram_src[rows]], 1),
                     axis=0)
    ids, counts = np.unique(sent[:, 0], return_counts=True)
    shared = ids[counts > 1]
    listened = np.unique(tables.cam_post // tables.neurons_per_core * span + tables.cam_key)
    clash = np.intersect1d(shared, listened)
    if clash.size:
        k, key = divmod(int(clash[0]), span)
        v.append(f"CAM clash: {clash.size} (core, key) pairs receive events from several "
                 f"sources, e.g. key {key} at chip {k // cpc} core {k % cpc}")


def _classes(tables: RoutingTables, neuron_class: np.ndarray, report: CheckReport) -> None:
    hw = np.asarray(tables.neuron_hw)
    core = hw // tables.neurons_per_core
    for k in np.unique(core).tolist():
        chip, c = divmod(k, tables.cores_per_chip)
        cfg = tables.cores.get((chip, c))
        classes = np.unique(neuron_class[core == k])
        if cfg is None:
            report.violations.append(f"chip {chip} core {c} holds neurons but has no core "
                                     f"configuration")
        elif classes.size > 1 or classes[0] != cfg.parameter_class:
            report.violations.append(f"chip {chip} core {c} has parameter class "
                                     f"{cfg.parameter_class} but holds neurons of classes "
                                     f"{classes.tolist()}")


def run(c: Compilation) -> Compilation:
    """Pass ``checker``: what the tables deliver must be exactly the quantized network."""
    w = c.weights
    expected = expected_synapses(c.network, w.syn_type, w.code, c.target.weights, w.repeats)
    report = check(c.tables, c.target, expected, c.classes.class_of)
    report.raise_if_failed()
    return replace(c, check=report)
