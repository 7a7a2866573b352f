"""Vectorised local search on a neuron -> block assignment (a block is one core's content).

Every round computes, for all neurons at once, the change of the objective if the neuron moved to
another block of its class that one of its sources already reaches (moving elsewhere can only add
events), then applies the best non-conflicting moves: plain moves into blocks with room, and pairs
of opposite moves (swaps) between full blocks. Moves decided together can interfere, so a round is
kept only if the recomputed score improves; otherwise it is retried with the better half of the
moves. The score is the expected events plus a large penalty per unit of excess over the key
(distinct sources per core) and SRAM (destination chips per source) limits.

Gain of moving neuron ``v`` from block ``b`` to block ``j``, with ``C[s, k]`` the number of
targets of source ``s`` in block ``k`` and ``c(s, k)`` the charge of the pair::

    sum over sources s of v:  [C[s, b] == 1] c(s, b)  -  [C[s, j] == 0] c(s, j)
    + change of v's own outgoing hops when v changes chip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .problem import PlacementProblem

EPS = 1e-9
#: Attempts per round, each with a quarter of the previous moves, before giving up.
RETRIES = 3
#: A round gaining less than this fraction of the objective is the last one.
MIN_ROUND_GAIN = 1e-3
#: Swap rounds consider at most this many block pairs per block.
MAX_SWAP_GROUPS = 2


@dataclass(eq=False)
class Layout:
    """The blocks: class, capacity, and chip (None before chips exist).

    An empty block (class -1) never receives moves: no source reaches it, so no move into it
    can lower the events."""

    block_class: np.ndarray
    block_cap: np.ndarray
    block_chip: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(self.block_cap.size)


@dataclass(frozen=True, eq=False)
class Limits:
    """Per-block key limit and per-source SRAM limit (0: not enforced), hop matrix and cost."""

    keys: int
    sram: int
    hops: np.ndarray | None  # (chips, chips), None: no chips yet
    hop_cost: float


@dataclass(eq=False)
class State:
    """A block assignment and everything derived from it."""

    block_of: np.ndarray
    pair_src: np.ndarray  # distinct (source, block) pairs
    pair_blk: np.ndarray
    pair_inv: np.ndarray  # pair of every pin
    pair_cnt: np.ndarray  # targets of the source in the block
    charge: np.ndarray  # expected events of every pair
    objective: float
    excess: int  # units over the key and SRAM limits
    chip_reach: tuple | None = None  # see LocalSearch._chip_reach

    def score(self, penalty: float) -> float:
        return self.objective + penalty * self.excess


#: Above this many (source, block) combinations, distinct pairs are found by sorting.
DENSE_PAIRS = 1 << 22


def distinct_pairs(src: np.ndarray, blk: np.ndarray, n_src: int, n_blk: int):
    """Distinct (source, block) pairs of the pins: sources, blocks, pair of every pin, and pins
    per pair. Counting in a dense table when it is small, sorting otherwise."""
    key = src * n_blk + blk
    if n_src * n_blk <= DENSE_PAIRS:
        counts = np.bincount(key, minlength=n_src * n_blk)
        present = counts > 0
        rank = np.cumsum(present) - 1
        uniq = np.flatnonzero(present)
        return uniq // n_blk, uniq % n_blk, rank[key], counts[uniq]
    uniq, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
    return uniq // n_blk, uniq % n_blk, inv, cnt


def is_member(sorted_keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Whether each value occurs in ``sorted_keys`` (sorted, possibly empty)."""
    if sorted_keys.size == 0:
        return np.zeros(values.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, values), sorted_keys.size - 1)
    return sorted_keys[pos] == values


class LocalSearch:
    """Holds the static arrays of a problem so that rounds only redo what depends on moves."""

    def __init__(self, problem: PlacementProblem, layout: Layout, limits: Limits):
        self.p = problem
        self.layout = layout
        self.limits = limits
        self.n = problem.n_neurons
        self.pt = sp.csr_array((np.ones(problem.pre.size), (problem.post, problem.pre)),
                               shape=(self.n, problem.n_sources))
        self.rate = problem.rate
        self.rate_in = np.bincount(problem.post, weights=problem.rate[problem.pre],
                                   minlength=self.n)
        self.penalty = float(problem.rate.sum()) + 1.0
        # pins grouped by post neuron (CSR order of pt): used by the SRAM feasibility test
        order = np.lexsort((problem.pre, problem.post))
        self.pin_pre_by_post = problem.pre[order]
        self.pin_indptr = np.concatenate([[0], np.cumsum(np.bincount(problem.post,
                                                                     minlength=self.n))])

    # -- evaluation -------------------------------------------------------------------------
    def chips_on(self) -> bool:
        return self.layout.block_chip is not None and self.limits.hops is not None

    def source_chip(self, block_of: np.ndarray) -> np.ndarray:
        """Chip of every source (-1 for input channels)."""
        chip = np.full(self.p.n_sources, -1, dtype=np.int64)
        chip[:self.n] = self.layout.block_chip[block_of]
        return chip

    def evaluate(self, block_of: np.ndarray) -> State:
        p, nb = self.p, self.layout.size
        src, blk, inv, cnt = distinct_pairs(p.pre, block_of[p.post], p.n_sources, nb)
        charge = self.rate[src].copy()
        excess = 0
        if self.chips_on():
            schip = self.source_chip(block_of)[src]
            dchip = self.layout.block_chip[blk]
            is_n = schip >= 0
            charge[is_n] *= 1.0 + self.limits.hop_cost * self.limits.hops[schip[is_n], dchip[is_n]]
            if self.limits.sram:
                cp = np.unique(src[is_n] * self.limits.hops.shape[0] + dchip[is_n])
                per_src = np.bincount(cp // self.limits.hops.shape[0])
                excess += int(np.maximum(per_src - self.limits.sram, 0).sum())
        if self.limits.keys:
            excess += int(np.maximum(np.bincount(blk, minlength=nb) - self.limits.keys, 0).sum())
        return State(block_of, src, blk, inv, cnt[inv], charge, float(charge.sum()), excess)

    # -- proposing moves --------------------------------------------------------------------
    def _gain_terms(self, st: State):
        """Per-neuron loss term, sparse reach term A, and dense chip terms T and O."""
        n, nb = self.n, self.layout.size
        leave = np.bincount(self.p.post, weights=(st.pair_cnt == 1) * st.charge[st.pair_inv],
                            minlength=n)
        cc = sp.csr_array((st.charge, (st.pair_src, st.pair_blk)), shape=(self.p.n_sources, nb))
        a = (self.pt @ cc).tocsr()
        if not self.chips_on():
            return leave, a, None, None
        h, hc = self.limits.hops, self.limits.hop_cost
        nchips = h.shape[0]
        schip = self.source_chip(st.block_of)
        is_n = np.flatnonzero(schip >= 0)
        on_chip = sp.csr_array((self.rate[is_n], (is_n, schip[is_n])),
                               shape=(self.p.n_sources, nchips))
        d = (self.pt @ on_chip).toarray()
        t = self.rate_in[:, None] + hc * (d @ h)
        own = st.pair_src < n
        r = np.zeros((n, nchips))
        np.add.at(r, (st.pair_src[own], self.layout.block_chip[st.pair_blk[own]]), 1.0)
        o = (self.rate[:n] * hc)[:, None] * (r @ h)
        return leave, a, t, o

    def _gain(self, v, j, a_vj, leave, t, o, block_of):
        if t is None:
            return leave[v] - (self.rate_in[v] - a_vj)
        chip = self.layout.block_chip
        cj, cb = chip[j], chip[block_of[v]]
        return leave[v] - (t[v, cj] - a_vj) + o[v, cb] - o[v, cj]

    def _chip_reach(self, st: State) -> tuple[np.ndarray, np.ndarray]:
        """Sorted (source * chips + chip) keys of the chips each neuron source reaches, and
        the number of such chips per source (cached on the state)."""
        if st.chip_reach is None:
            nchips = self.limits.hops.shape[0]
            own = st.pair_src < self.n
            cp = np.unique(st.pair_src[own] * nchips + self.layout.block_chip[st.pair_blk[own]])
            st.chip_reach = (cp, np.bincount(cp // nchips, minlength=self.p.n_sources))
        return st.chip_reach

    def _sram_ok(self, v: np.ndarray, j: np.ndarray, st: State) -> np.ndarray:
        """Whether moving each v to block j keeps every source of v within its SRAM limit."""
        if not (self.chips_on() and self.limits.sram) or v.size == 0:
            return np.ones(v.size, dtype=bool)
        nchips = self.limits.hops.shape[0]
        chip = self.layout.block_chip
        cp, n_chips = self._chip_reach(st)
        starts, ends = self.pin_indptr[v], self.pin_indptr[v + 1]
        lens = ends - starts
        idx = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
        pre = self.pin_pre_by_post[idx]
        dest = np.repeat(chip[j], lens)
        known = is_member(cp, pre * nchips + dest)
        bad = (pre < self.n) & ~known & (n_chips[pre] >= self.limits.sram)
        return np.bincount(np.repeat(np.arange(v.size), lens), weights=bad,
                           minlength=v.size) == 0

    def propose(self, st: State):
        """Candidate moves: best target block per neuron with its gain, sorted by gain."""
        leave, a, t, o = self._gain_terms(st)
        coo = a.tocoo()
        v, j, a_vj = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data
        cls = self.layout.block_class
        keep = (j != st.block_of[v]) & (cls[j] == self.p.neuron_class[v])
        v, j, a_vj = v[keep], j[keep], a_vj[keep]
        g = self._gain(v, j, a_vj, leave, t, o, st.block_of)
        pos = g > EPS
        v, j, g = v[pos], j[pos], g[pos]  # still grouped by v, blocks ascending
        if v.size:
            starts = np.flatnonzero(np.concatenate([[True], v[1:] != v[:-1]]))
            best = np.repeat(np.maximum.reduceat(g, starts), np.diff(np.append(starts, v.size)))
            top = np.flatnonzero(g >= best)
            first = top[np.concatenate([[True], v[top][1:] != v[top][:-1]])]
            v, j, g = v[first], j[first], g[first]
        ok = self._sram_ok(v, j, st)
        v, j, g = v[ok], j[ok], g[ok]
        order = np.lexsort((v, -g))
        return (v[order], j[order], g[order]), (leave, a, t, o)

    def select(self, cand, terms, st: State, limit: int) -> np.ndarray:
        """Apply up to ``limit`` of the candidates (moves, then swaps) respecting capacities;
        returns the new block assignment."""
        v, j, g = (x[:limit] for x in cand)
        block_of = st.block_of.copy()
        sizes = np.bincount(block_of, minlength=self.layout.size)
        free = self.layout.block_cap - sizes
        moved = np.zeros(self.n, dtype=bool)
        blocked = []
        for vi, ji, gi in zip(v.tolist(), j.tolist(), g.tolist()):
            if free[ji] > 0:
                free[ji] -= 1
                free[block_of[vi]] += 1
                block_of[vi] = ji
                moved[vi] = True
            else:
                blocked.append((vi, ji, gi))
        self._swaps(blocked, block_of, moved, terms, st)
        return block_of

    def _swaps(self, blocked, block_of, moved, terms, st: State) -> None:
        """Pair blocked moves b -> j with the best opposite moves j -> b (for the
        ``MAX_SWAP_GROUPS`` block pairs with the most blocked gain)."""
        if not blocked:
            return
        leave, _, t, o = terms
        groups: dict[tuple[int, int], list[tuple[int, float]]] = {}
        for vi, ji, gi in blocked:
            groups.setdefault((int(st.block_of[vi]), ji), []).append((vi, gi))
        order = sorted(groups, key=lambda k: -sum(g for _, g in groups[k]))
        by_block = np.argsort(st.block_of, kind="stable")
        bounds = np.searchsorted(st.block_of[by_block], np.arange(self.layout.size + 1))
        for b, j in order[:MAX_SWAP_GROUPS * self.layout.size]:
            members = by_block[bounds[j]:bounds[j + 1]]
            members = members[~moved[members]]
            if members.size == 0:
                continue
            toward = np.full(members.size, b)
            gu = self._gain(members, toward, self._reach_charge(members, b, st), leave, t, o,
                            st.block_of)
            gu = np.where(self._sram_ok(members, toward, st), gu, -np.inf)
            rank = np.argsort(-gu, kind="stable")
            k = 0
            for vi, gi in groups[(b, j)]:
                if moved[vi] or k >= rank.size:
                    continue
                u = members[rank[k]]
                if gi + gu[rank[k]] <= EPS:
                    break
                block_of[vi], block_of[u] = j, b
                moved[vi] = moved[u] = True
                k += 1

    def _reach_charge(self, v: np.ndarray, b: int, st: State) -> np.ndarray:
        """For each neuron v: summed charge of its sources that already reach block b."""
        nb = self.layout.size
        starts, ends = self.pin_indptr[v], self.pin_indptr[v + 1]
        lens = ends - starts
        idx = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
        want = self.pin_pre_by_post[idx] * nb + b
        keys = st.pair_src * nb + st.pair_blk  # sorted: pairs come out of a sort or a table
        pos = np.minimum(np.searchsorted(keys, want), max(keys.size - 1, 0))
        hit = keys[pos] == want if keys.size else np.zeros(want.size, dtype=bool)
        value = np.where(hit, st.charge[pos], 0.0)
        return np.bincount(np.repeat(np.arange(v.size), lens), weights=value, minlength=v.size)

    # -- the loop ---------------------------------------------------------------------------
    def run(self, block_of: np.ndarray, rounds: int, min_gain: float = MIN_ROUND_GAIN) -> State:
        """At most ``rounds`` rounds; stops after a round gaining less than ``min_gain`` of the
        objective."""
        st = self.evaluate(block_of)
        for _ in range(rounds):
            cand, terms = self.propose(st)
            limit = cand[0].size
            improved = False
            for _attempt in range(RETRIES):
                if limit < 1:
                    break
                new = self.evaluate(self.select(cand, terms, st, limit))
                if new.score(self.penalty) < st.score(self.penalty) - EPS:
                    gain = st.score(self.penalty) - new.score(self.penalty)
                    st, improved = new, gain > min_gain * max(st.objective, EPS)
                    break
                limit //= 4
            if not improved:
                break
        return st
