"""Neuron-level SRAM repair: take a source's stray targets off the chips it barely reaches.

After the block-level stages, a few sources may still reach more chips than they have SRAM
entries, because a block holds a handful of their targets. For such a source, each target on
the chip holding the fewest of them is moved (or swapped with a neuron that is not a target)
onto a core of its class on a chip the source already reaches, if that lowers the total excess
(destination chips over the limit, summed over sources) without breaking core capacity. The
counts are kept incrementally in a (sources x chips) table so that each trial is cheap.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .problem import PlacementProblem
from .resources import Resources

#: Trials per violating source before it is left to the diagnostics.
TRIALS_PER_SOURCE = 64


class _Counts:
    """Targets of every neuron source per chip, and the resulting SRAM excess."""

    def __init__(self, problem: PlacementProblem, core_of: np.ndarray, res: Resources):
        self.n, self.res = problem.n_neurons, res
        own = problem.pre < self.n
        by_post = sp.csr_array((np.ones(int(own.sum())), (problem.post[own], problem.pre[own])),
                               shape=(self.n, self.n))
        self.indptr, self.indices = by_post.indptr, by_post.indices
        self.count = np.zeros((self.n, res.chips), dtype=np.int64)
        np.add.at(self.count, (problem.pre[own], core_of[problem.post[own]] // res.cores_per_chip),
                  1)

    def excess_of(self, sources) -> int:
        chips = np.count_nonzero(self.count[sources], axis=1)
        return int(np.maximum(chips - self.res.sram_per_neuron, 0).sum())

    def pre_of(self, v: int) -> np.ndarray:
        """Neuron sources of neuron v."""
        return self.indices[self.indptr[v]:self.indptr[v + 1]]

    def move(self, v: int, old: int, new: int) -> None:
        srcs = self.pre_of(v)
        self.count[srcs, old] -= 1
        self.count[srcs, new] += 1


def repair_sram(problem: PlacementProblem, core_of: np.ndarray, res: Resources) -> np.ndarray:
    """A placement with fewer (ideally no) sources over their SRAM limit; never more."""
    if res.chips == 1:
        return core_of
    core_of = core_of.copy()
    cpc = res.cores_per_chip
    counts = _Counts(problem, core_of, res)
    cap = res.core_capacity()
    fill = np.bincount(core_of, minlength=res.total_cores)
    core_class = np.full(res.total_cores, -1, dtype=np.int64)
    core_class[core_of] = problem.neuron_class
    order = np.argsort(problem.pre, kind="stable")
    lo = np.searchsorted(problem.pre[order], np.arange(problem.n_sources))
    hi = np.searchsorted(problem.pre[order], np.arange(problem.n_sources), side="right")
    chips_of = np.count_nonzero(counts.count, axis=1)
    for s in np.flatnonzero(chips_of > res.sram_per_neuron).tolist():
        targets = problem.post[order[lo[s]:hi[s]]]
        for _ in range(TRIALS_PER_SOURCE):
            row = counts.count[s]
            if np.count_nonzero(row) <= res.sram_per_neuron:
                break
            lonely = int(np.argmin(np.where(row > 0, row, np.iinfo(np.int64).max)))
            reached = np.flatnonzero(row > 0)
            reached = reached[reached != lonely]
            moved = False
            for v in targets[core_of[targets] // cpc == lonely].tolist():
                if _relocate(v, s, targets, reached, core_of, counts, fill, cap, core_class,
                             problem, cpc):
                    moved = True
                    break
            if not moved:
                break
    return core_of


def _relocate(v, s, targets, reached, core_of, counts, fill, cap, core_class, problem,
              cpc) -> bool:
    """Move (or swap) target v onto a core of its class on one of ``reached`` chips if the
    total excess of the sources involved drops."""
    old = int(core_of[v])
    for chip in reached.tolist():
        for k in range(chip * cpc, (chip + 1) * cpc):
            if core_class[k] != problem.neuron_class[v]:
                continue
            partners = [None] if fill[k] < cap[k] else [
                u for u in np.flatnonzero(core_of == k).tolist() if u not in targets]
            for u in partners[:8]:
                involved = np.unique(np.concatenate(
                    [counts.pre_of(v), [s], counts.pre_of(u) if u is not None else []]
                ).astype(np.int64))
                before = counts.excess_of(involved)
                counts.move(v, old // cpc, chip)
                if u is not None:
                    counts.move(u, chip, old // cpc)
                if counts.excess_of(involved) < before:
                    core_of[v] = k
                    if u is None:
                        fill[old] -= 1
                        fill[k] += 1
                    else:
                        core_of[u] = old
                    return True
                counts.move(v, chip, old // cpc)
                if u is not None:
                    counts.move(u, old // cpc, chip)
    return False
