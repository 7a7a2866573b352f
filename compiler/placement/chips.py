"""Assign blocks to chips and cores (stage 2 of the hierarchy).

Given the blocks, the destination cores of every source are fixed; what remains is where the
blocks sit on the chip grid: copies of events sent to another chip cost ``hop_cost`` per hop, and
a source may reach at most ``sram`` distinct chips. A greedy placement (heaviest-talking block
next, on the chip closest to its partners) is improved by pairwise swaps, then handed as a full
hint to a CP-SAT model (block coordinates on the grid, Manhattan distances, SRAM constraints
added lazily for the sources that break them), solved with a deterministic time limit. Very
large, unstructured block graphs skip the CP-SAT stage (see ``CPSAT_MAX_PAIRS``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from .local import Layout, distinct_pairs
from .problem import PlacementProblem
from .resources import Resources

#: Scale of the integer objective coefficients handed to CP-SAT.
OBJECTIVE_SCALE = 10_000
#: Rounds of "solve, find sources over their SRAM limit, add their constraints".
SRAM_ROUNDS = 3
#: Above this many talking block pairs the CP-SAT stage is skipped (greedy + swaps only):
#: its Manhattan-distance model grows with the pairs and stops helping within its time limit.
CPSAT_MAX_PAIRS = 3000
SWAP_STEPS_PER_BLOCK = 20
#: Alternations of SRAM repair and hop-reducing swaps (each swap pass reshuffles the blocks
#: that the next repair pass can use).
REPAIR_PASSES = 3
#: Best swaps checked against the SRAM limit per step.
SWAP_TRIES = 16


def block_traffic(problem: PlacementProblem, block_of: np.ndarray, nb: int) -> tuple:
    """(nb x nb) expected events from neurons of block a to block b (a != b), and the
    destination blocks of every neuron source (as distinct pairs)."""
    src, blk, _, _ = distinct_pairs(problem.pre, block_of[problem.post], problem.n_sources, nb)
    own = src < problem.n_neurons
    a, b = block_of[src[own]], blk[own]
    w = np.zeros((nb, nb))
    np.add.at(w, (a, b), problem.rate[src[own]])
    np.fill_diagonal(w, 0.0)
    return w, src[own], b


def assign_chips(problem: PlacementProblem, block_of: np.ndarray, layout: Layout,
                 res: Resources, hop_cost: float, seed: int,
                 deterministic_time: float) -> np.ndarray:
    """Global core of every block."""
    nb = layout.size
    sizes = np.bincount(block_of, minlength=nb)
    w, pair_src, pair_blk = block_traffic(problem, block_of, nb)
    wsym = w + w.T
    slots = _chip_slots(res)
    big = sizes > slots.small_cap
    wide = np.bincount(pair_src)[pair_src] > res.sram_per_neuron  # may break the SRAM limit
    chip = _greedy(wsym, big, res, slots)
    for _ in range(REPAIR_PASSES):
        chip = _repair_sram(wsym, chip, big, res, pair_src[wide], pair_blk[wide])
        chip = _swap_search(wsym, chip, big, res, pair_src[wide], pair_blk[wide])
    sram_sets = _violating_sets(pair_src, pair_blk, chip, res, frozenset())
    pairs = int(np.count_nonzero(np.triu(wsym, 1)))
    model_worth_it = (res.chips > 1 and nb > 1 and (hop_cost > 0 or sram_sets)
                      and pairs <= CPSAT_MAX_PAIRS)
    known: frozenset = frozenset()
    for _ in range(SRAM_ROUNDS if model_worth_it else 0):
        known = known | sram_sets
        solved = _cpsat(wsym, big, res, slots, chip, known, seed, deterministic_time)
        if solved is not None:
            chip = solved
        sram_sets = _violating_sets(pair_src, pair_blk, chip, res, known)
        if not sram_sets:
            break
    return _cores_within_chips(chip, sizes, res)


@dataclass(frozen=True)
class _Slots:
    cores: np.ndarray  # (chips,) cores per chip
    big: np.ndarray  # (chips,) cores per chip with the largest capacity
    small_cap: int  # smallest core capacity


def _chip_slots(res: Resources) -> _Slots:
    cap = res.core_capacity().reshape(res.chips, res.cores_per_chip)
    return _Slots(cores=np.full(res.chips, res.cores_per_chip),
                  big=(cap > cap.min()).sum(axis=1) if cap.min() < cap.max()
                  else np.full(res.chips, res.cores_per_chip),
                  small_cap=int(cap.min()) if cap.min() < cap.max() else int(cap.max()))


def _greedy(wsym: np.ndarray, big: np.ndarray, res: Resources, slots: _Slots) -> np.ndarray:
    """Blocks in order of their link to the blocks already placed, each on the feasible chip
    that minimises its weighted hops to them (ties: the chip nearest the grid's centre)."""
    nb = wsym.shape[0]
    hops = res.hops()
    centrality = hops.sum(axis=1)
    chip = np.full(nb, -1, dtype=np.int64)
    free, free_big = slots.cores.copy(), slots.big.copy()
    link = np.zeros(nb)
    for _ in range(nb):
        cand = np.where(chip < 0, link, -np.inf)
        b = int(np.argmax(cand)) if link.any() else int(np.argmax(np.where(
            chip < 0, wsym.sum(axis=1), -np.inf)))
        ok = (free > 0) & ((free_big > 0) | ~big[b])
        cost = np.where(ok, _chip_cost(wsym[b], chip, hops), np.inf)
        c = int(np.lexsort((np.arange(res.chips), centrality, cost))[0])
        chip[b] = c
        free[c] -= 1
        free_big[c] -= int(big[b])
        link += wsym[b]
    return chip


def _chip_cost(row: np.ndarray, chip: np.ndarray, hops: np.ndarray) -> np.ndarray:
    placed = chip >= 0
    return hops[:, chip[placed]] @ row[placed]


def _swap_search(wsym: np.ndarray, chip: np.ndarray, big: np.ndarray, res: Resources,
                 src: np.ndarray, blk: np.ndarray) -> np.ndarray:
    """Best-improvement swaps of two blocks on different chips (same capacity needs), at most
    ``SWAP_STEPS_PER_BLOCK`` per block; a swap that would add SRAM violations among the
    (``src``, ``blk``) destination pairs is skipped."""
    hops = res.hops().astype(np.float64)
    chip = chip.copy()
    same_need = big[:, None] == big[None, :]
    violations = _excess(src, blk, chip, res)
    for _ in range(SWAP_STEPS_PER_BLOCK * chip.size):
        m = wsym @ hops[chip]  # m[a, c]: weighted hops of a if it sat on chip c
        x = m[:, chip]  # x[a, b] = m[a, chip[b]]
        d = np.diag(x)
        delta = x - d[:, None] + x.T - d[None, :] + 2 * wsym * hops[chip][:, chip]
        delta[~same_need | (chip[:, None] == chip[None, :])] = np.inf
        order = np.argsort(delta, axis=None, kind="stable")[:SWAP_TRIES]
        for flat in order.tolist():
            a, b = divmod(flat, chip.size)
            if not delta[a, b] < -1e-9:
                return chip
            trial = chip.copy()
            trial[a], trial[b] = chip[b], chip[a]
            after = _excess(src, blk, trial, res)
            if after <= violations:
                chip, violations = trial, after
                break
        else:
            return chip
    return chip


def _repair_sram(wsym, chip, big, res: Resources, pair_src, pair_blk) -> np.ndarray:
    """Swap blocks until no source reaches more chips than its SRAM allows (or no swap helps).
    ``pair_src``/``pair_blk``: the destination blocks of the sources that could break it.

    For a violating source, a block of it that sits on a chip holding few of its blocks is
    swapped onto another chip the source already reaches (or moved to a free core there);
    the trial leaving the smallest total excess (then the fewest weighted hops) wins, if it
    lowers the excess at all.
    """
    src, blk = pair_src, pair_blk
    if res.chips == 1 or src.size == 0:
        return chip
    hops = res.hops().astype(np.float64)
    chip = chip.copy()
    stuck: set[int] = set()
    excess = _excess(src, blk, chip, res)
    for _ in range(SWAP_STEPS_PER_BLOCK * chip.size):
        over = [s for s in _over_sources(src, blk, chip, res).tolist() if s not in stuck]
        if not over:
            break
        s = over[0]
        mine = blk[src == s]
        best, best_key = None, (excess, np.inf)
        for trial in _trials(chip, mine, big, res):
            key = (_excess(src, blk, trial, res), float((wsym * hops[trial][:, trial]).sum()))
            if key < best_key:
                best, best_key = trial, key
        if best is None:
            stuck.add(s)
            continue
        chip, excess = best, best_key[0]
    return chip


def _trials(chip: np.ndarray, mine: np.ndarray, big: np.ndarray, res: Resources):
    """Placements with one of ``mine`` (the blocks of a source) taken off the chip holding
    fewest of them onto another chip holding some: by a swap, or a move to a free core."""
    chips, counts = np.unique(chip[mine], return_counts=True)
    lonely = mine[chip[mine] == chips[np.argmin(counts)]]
    for b in lonely.tolist():
        for c in chips.tolist():
            if c == chip[b]:
                continue
            if np.count_nonzero(chip == c) < res.cores_per_chip:
                trial = chip.copy()
                trial[b] = c
                yield trial
            for other in np.flatnonzero((chip == c) & (big == big[b])).tolist():
                if other not in mine:
                    trial = chip.copy()
                    trial[b], trial[other] = chip[other], chip[b]
                    yield trial


def _over_sources(src, blk, chip, res: Resources) -> np.ndarray:
    """Sources (among ``src``) whose destination blocks sit on more chips than SRAM entries."""
    if src.size == 0:
        return src
    cp = np.unique(src * res.chips + chip[blk])
    return np.flatnonzero(np.bincount(cp // res.chips) > res.sram_per_neuron)


def _excess(src, blk, chip, res: Resources) -> int:
    """Destination chips over the SRAM limit, summed over the sources."""
    if src.size == 0:
        return 0
    cp = np.unique(src * res.chips + chip[blk])
    return int(np.maximum(np.bincount(cp // res.chips) - res.sram_per_neuron, 0).sum())


def _violating_sets(pair_src, pair_blk, chip, res: Resources, known: frozenset) -> frozenset:
    """Destination block sets of sources reaching more chips than their SRAM allows."""
    if res.chips == 1:
        return frozenset()
    dest_chip = chip[pair_blk]
    cp = np.unique(pair_src * res.chips + dest_chip)
    n_chips = np.bincount(cp // res.chips, minlength=int(pair_src.max(initial=-1)) + 1)
    bad = np.flatnonzero(n_chips > res.sram_per_neuron)
    out = set()
    for s in bad:
        out.add(tuple(np.unique(pair_blk[pair_src == s]).tolist()))
    return frozenset(out) - known


def _cpsat(wsym, big, res: Resources, slots: _Slots, hint: np.ndarray, sram_sets: frozenset,
           seed: int, deterministic_time: float):
    """Blocks -> chips minimising weighted Manhattan hops, with capacity and SRAM limits."""
    nb, nc = wsym.shape[0], res.chips
    xy = np.asarray(res.chip_xy, dtype=np.int64)
    m = cp_model.CpModel()
    z = [[m.NewBoolVar(f"z{b}_{c}") for c in range(nc)] for b in range(nb)]
    # each block on one chip
    for b in range(nb):
        m.AddExactlyOne(z[b])
    # chip capacity (cores, and cores able to hold the biggest blocks)
    for c in range(nc):
        m.Add(sum(z[b][c] for b in range(nb)) <= int(slots.cores[c]))
        if big.any():
            m.Add(sum(z[b][c] for b in np.flatnonzero(big)) <= int(slots.big[c]))
    # coordinates of each block
    pos = []
    for axis in range(2):
        hi = int(xy[:, axis].max())
        v = [m.NewIntVar(0, hi, f"p{axis}_{b}") for b in range(nb)]
        for b in range(nb):
            m.Add(v[b] == sum(int(xy[c, axis]) * z[b][c] for c in range(nc)))
        pos.append(v)
    # symmetry breaking: the grid's mirror images are equivalent; pin the busiest block
    # to the lower half of each symmetric axis
    heavy = int(np.argmax(wsym.sum(axis=1)))
    for axis in range(2):
        if _mirror_symmetric(xy, axis):
            m.Add(2 * pos[axis][heavy] <= int(xy[:, axis].max()))
    # Manhattan distance of every talking pair, weighted in the objective
    lo, hi = res.hop_range
    reach = min(-lo, hi)
    scale = OBJECTIVE_SCALE / max(float(wsym.max(initial=0.0)), 1e-12)
    terms, hint_d = [], []
    rows, cols = np.nonzero(np.triu(wsym, 1))
    for a, b in zip(rows.tolist(), cols.tolist()):
        for axis in range(2):
            hi_ax = int(np.ptp(xy[:, axis]))
            d = m.NewIntVar(0, hi_ax, f"d{axis}_{a}_{b}")
            m.Add(d >= pos[axis][a] - pos[axis][b])
            m.Add(d >= pos[axis][b] - pos[axis][a])
            if hi_ax > reach:
                m.Add(d <= reach)
            terms.append((int(round(wsym[a, b] * scale)), d))
            hint_d.append((d, abs(int(xy[hint[a], axis]) - int(xy[hint[b], axis]))))
    # a source reaches at most sram chips
    for k, dest in enumerate(sorted(sram_sets)):
        used = [m.NewBoolVar(f"u{k}_{c}") for c in range(nc)]
        for b in dest:
            for c in range(nc):
                m.AddImplication(z[b][c], used[c])
        m.Add(sum(used) <= res.sram_per_neuron)
    m.Minimize(sum(w * d for w, d in terms if w))
    # full hint
    for b in range(nb):
        for c in range(nc):
            m.AddHint(z[b][c], int(hint[b] == c))
        for axis in range(2):
            m.AddHint(pos[axis][b], int(xy[hint[b], axis]))
    for d, value in hint_d:
        m.AddHint(d, value)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    solver.parameters.max_deterministic_time = deterministic_time
    if solver.Solve(m) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    return np.array([[solver.Value(z[b][c]) for c in range(nc)] for b in range(nb)]).argmax(1)


def _mirror_symmetric(xy: np.ndarray, axis: int) -> bool:
    mirrored = xy.copy()
    mirrored[:, axis] = xy[:, axis].max() - xy[:, axis]
    return set(map(tuple, mirrored.tolist())) == set(map(tuple, xy.tolist()))


def _cores_within_chips(chip: np.ndarray, sizes: np.ndarray, res: Resources) -> np.ndarray:
    """Global core of each block: on its chip, the biggest blocks take the biggest cores."""
    cap = res.core_capacity()
    core = np.empty(chip.size, dtype=np.int64)
    for c in np.unique(chip):
        blocks = np.flatnonzero(chip == c)
        blocks = blocks[np.argsort(-sizes[blocks], kind="stable")]
        cores = c * res.cores_per_chip + np.argsort(-cap[c * res.cores_per_chip:
                                                         (c + 1) * res.cores_per_chip],
                                                    kind="stable")
        core[blocks] = cores[:blocks.size]
    return core
