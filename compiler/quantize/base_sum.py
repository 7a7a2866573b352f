"""The ``base_sum`` weight scheme (DYNAP-SE2): a weight is a subset sum of the core's base weights.

A core has ``k`` base weights ``b`` shared by all its neurons; a CAM entry holds a ``k``-bit mask
and its weight is the sum of the selected bases times the gain of its synapse type, so the levels
of type ``t`` are ``s_t * {sum of a subset of b}`` (the empty subset gives 0). Repeating an entry
``r`` times (same tag, same mask) multiplies its weight by ``r`` at the cost of ``r`` CAM entries.

We minimise the squared weight error over the bases ``b >= 0``, the type scales ``s_t > 0`` (the
scale of the lowest type id present is fixed to 1: only products ``s_t * b`` matter) and the masks.
For fixed bases and scales the best mask of each synapse is its nearest level; for fixed masks the
error is a convex quadratic in ``b`` (normal equations, or coordinate descent where a base would
turn negative) and, given ``b``, a one-dimensional least-squares problem in each ``s_t``.
Alternating the three exact minimisations never increases the error (Lloyd's algorithm with
structured levels). The levels are one-dimensional, so with the magnitudes of each type sorted
once, the assignment is a ``searchsorted`` of the level midpoints and every group statistic a
difference of prefix sums: an iteration costs O(levels * log n), not O(n), and all starting points
run as one batch. The iteration stops when the leading starts improve by less than 0.1% (or after
12 rounds): the last fractions of a percent are not worth the time on a chip whose currents carry
device mismatch (modelled at up to 20%, see the hardware notes).

Starting points (all deterministic, the random ones drawn from ``seed``): the uniform grid (so the
result is never worse than :func:`uniform_base_sum`), geometric bases at several ratios and top
quantiles, bases read off the data when a type holds at most ``2**k`` distinct magnitudes (exact
recovery of weights already on a grid), random splits of the largest weight, and the solution for
``k - 1`` bases padded with one more (so the error never increases with ``k``).
"""

from __future__ import annotations

import functools
import heapq
from dataclasses import dataclass

import numpy as np

from ..errors import CapacityError, TargetError
from .common import (QuantStats, SynapseArrays, cam_per_neuron, check_budget, check_synapses,
                       quant_stats, sum_sq)

MAX_BITS = 8
_MAX_ITER = 12
_TOL = 1e-3
_GEOMETRIC_RATIOS = (1.5, 2.0, 3.0)
_TOP_QUANTILES = (1.0, 0.98)
_RANDOM_STARTS = 3
_REPEAT_ROUNDS = 3
_REPEAT_QUANTILES = (0.99, 0.9)


@dataclass(frozen=True)
class BaseSumResult:
    """Quantized weights of one core under the ``base_sum`` scheme.

    ``quantized[i] == sign(w[i]) * (repeats[i] * (base_sum_levels(bases)[mask[i]] *
    type_scales[types[i]]))`` exactly, floating point included. A synapse quantized to zero has
    mask 0 and repeats 0: it needs no CAM entry.
    """

    bases: np.ndarray
    type_scales: dict[int, float]
    mask: np.ndarray
    repeats: np.ndarray
    quantized: np.ndarray
    stats: QuantStats


@functools.cache
def _subset_bits(bits: int) -> np.ndarray:
    masks = np.arange(2 ** bits)
    table = ((masks[:, None] >> np.arange(bits)) & 1).astype(np.float64)
    table.flags.writeable = False
    return table


def subset_bits(bits: int) -> np.ndarray:
    """The read-only ``(2**bits, bits)`` 0/1 matrix whose row ``m`` holds the bits of mask ``m``."""
    return _subset_bits(int(bits))


def base_sum_levels(bases: np.ndarray) -> np.ndarray:
    """Level of every mask: ``levels[m]`` is the sum of the bases selected by ``m``."""
    bases = np.asarray(bases, dtype=np.float64)
    return subset_bits(bases.size) @ bases


def _check_bits(bits: int, where: str) -> int:
    if not (isinstance(bits, (int, np.integer)) and 1 <= bits <= MAX_BITS):
        raise TargetError(f"{bits!r} base weights per core is not supported", where=where,
                          fix=f"pass bits between 1 and {MAX_BITS} (--weight-bits)")
    return int(bits)


class _Problem:
    """The magnitudes of one core's synapses, sorted per type, with prefix sums."""

    def __init__(self, syn: SynapseArrays):
        self.syn = syn
        self.present = syn.present
        self.type_ids = np.unique(syn.types[self.present])
        #: Indices of the synapses of each type.
        self.members = [np.flatnonzero(self.present & (syn.types == t)) for t in self.type_ids]
        self.sorted: list[np.ndarray] = []
        self.c1: list[np.ndarray] = []
        self.c2: list[np.ndarray] = []
        for sel in self.members:
            a = np.sort(syn.magnitudes[sel])
            self.sorted.append(a)
            self.c1.append(np.concatenate([[0.0], np.cumsum(a)]))
            self.c2.append(np.concatenate([[0.0], np.cumsum(a * a)]))
        self.energy = float(sum(c[-1] for c in self.c2))
        # Index into type_ids of every synapse (clipped for non-synapses, whose level is 0).
        self.type_index = np.searchsorted(self.type_ids, syn.types).clip(
            0, max(len(self.type_ids) - 1, 0))

    @property
    def num_types(self) -> int:
        return len(self.type_ids)

    def top(self, quantile: float) -> np.ndarray:
        """Per-type quantile of the magnitudes (nearest rank; the maximum at 1)."""
        return np.array([a[int(round(quantile * (a.size - 1)))] for a in self.sorted])


# -- the batched Lloyd iteration ------------------------------------------------------------------

def _segments(prob: _Problem, ti: int, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                     np.ndarray]:
    """Count, sum and sum of squares of the magnitudes of type ``ti`` nearest to each level.

    ``levels`` is ``(starts, L)`` sorted ascending; a magnitude on a midpoint goes to the lower
    level.
    """
    a = prob.sorted[ti]
    bounds = np.empty((levels.shape[0], levels.shape[1] + 1), np.int64)
    bounds[:, 0], bounds[:, -1] = 0, a.size
    bounds[:, 1:-1] = np.searchsorted(a, 0.5 * (levels[:, :-1] + levels[:, 1:]), side="right")
    c1, c2 = prob.c1[ti][bounds], prob.c2[ti][bounds]
    return ((bounds[:, 1:] - bounds[:, :-1]).astype(np.float64), c1[:, 1:] - c1[:, :-1],
            c2[:, 1:] - c2[:, :-1])


def _fit_bases(b: np.ndarray, rows: np.ndarray, weight: np.ndarray, target: np.ndarray
               ) -> np.ndarray:
    """Minimise ``sum_g weight_g (rows_g @ b)^2 - 2 target_g (rows_g @ b)`` over ``b >= 0``.

    Batched over starts: ``rows`` is ``(starts, groups, k)`` of mask bits, ``weight`` and
    ``target`` are ``(starts, groups)``. For groups of magnitudes ``a`` whose level is ``c *
    rows_g @ b`` this is their squared error up to a constant with ``weight = sum c^2`` and
    ``target = sum c a``. The unconstrained minimiser of the normal equations is taken where it is
    non-negative, else coordinate descent from ``b`` lowers the error; neither is taken if it
    would raise it. A base that no group uses keeps its value, so that it can come back into use.
    """
    rows_t = rows.transpose(0, 2, 1)
    gram = (rows_t * weight[:, None, :]) @ rows
    rhs = (rows_t @ target[..., None])[..., 0]
    unused = gram.diagonal(axis1=1, axis2=2) <= 0
    if unused.any():
        off = unused[:, :, None] | unused[:, None, :]
        gram = np.where(off, 0.0, gram) + np.eye(b.shape[1]) * unused[:, :, None]
        rhs = np.where(unused, b, rhs)
    try:
        solved = np.linalg.solve(gram, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:  # two bases always used together: any split is a minimiser
        solved = (np.linalg.pinv(gram) @ rhs[..., None])[..., 0]
    good = np.all(solved >= 0, axis=1)
    if not good.all():
        solved = np.where(good[:, None], solved, _coordinate_descent(b, gram, rhs))

    def value(x: np.ndarray) -> np.ndarray:
        return np.sum(x * ((gram @ x[..., None])[..., 0] - 2 * rhs), axis=1)

    # Guard against an ill-conditioned solve: never step to a worse point.
    return np.where((value(solved) <= value(b))[:, None], solved, b)


def _coordinate_descent(b: np.ndarray, gram: np.ndarray, rhs: np.ndarray, sweeps: int = 8
                        ) -> np.ndarray:
    """Minimise ``b' G b - 2 h' b`` over ``b >= 0`` by exact steps along each coordinate (each
    step lowers or keeps the value; ``G`` has a positive diagonal)."""
    b = b.copy()
    for _ in range(sweeps):
        for j in range(b.shape[1]):
            gjj = gram[:, j, j]
            num = rhs[:, j] - np.sum(gram[:, j, :] * b, axis=1) + gjj * b[:, j]
            b[:, j] = np.maximum(num / gjj, 0.0)
    return b


def _fit_scale(lv: np.ndarray, cnt: np.ndarray, sum1: np.ndarray, old: np.ndarray) -> np.ndarray:
    """Exact least-squares scale of one type for fixed levels ``lv`` per group (batched)."""
    den = np.sum(lv * lv * cnt, axis=1)
    num = np.sum(lv * sum1, axis=1)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), old)


def _batch_stats(prob: _Problem, b: np.ndarray, s: np.ndarray
                 ) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Assign every start's magnitudes to their nearest levels.

    Returns the mask bits of each sorted level ``(starts, L, k)``, the (count, sum) of the
    magnitudes of each type on each level, and each start's squared error from prefix sums (exact
    up to rounding of the order of 1e-16 times the total energy).
    """
    bits_matrix = subset_bits(b.shape[1])
    levels = b @ bits_matrix.T
    order = np.argsort(levels, axis=1, kind="stable")  # ties: lower mask first
    levels = levels[np.arange(len(b))[:, None], order]
    err = np.zeros(len(b))
    stats = []
    for ti in range(prob.num_types):
        lv = s[:, ti, None] * levels
        cnt, sum1, sum2 = _segments(prob, ti, lv)
        err += np.sum(sum2 - lv * (2 * sum1 - lv * cnt), axis=1)
        stats.append((cnt, sum1))
    return bits_matrix[order], stats, err


def _lloyd(prob: _Problem, b: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Alternate nearest-level assignment, base fit and scale fit for every start at once."""
    prev = np.full(len(b), np.inf)
    for _ in range(_MAX_ITER):
        rows, stats, err = _batch_stats(prob, b, s)
        # Stop when the starts that can still win (within 10% of the best) have settled.
        contenders = err <= 1.1 * err.min()
        if np.all((prev - err)[contenders] <= _TOL * err.min() + 1e-12 * prob.energy):
            break
        prev = err
        weight = sum(s[:, ti, None] ** 2 * cnt for ti, (cnt, _) in enumerate(stats))
        target = sum(s[:, ti, None] * sum1 for ti, (_, sum1) in enumerate(stats))
        b = _fit_bases(b, rows, weight, target)
        group_levels = (rows @ b[..., None])[..., 0]
        for ti in range(1, prob.num_types):  # type 0 is the reference: its scale stays 1
            s[:, ti] = _fit_scale(group_levels, stats[ti][0], stats[ti][1], s[:, ti])
    return b, s


# -- direct evaluation ----------------------------------------------------------------------------

def _assign(prob: _Problem, b: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest mask of every synapse for one (bases, scales) and its unsigned level.

    Ties go to the lower level, as in :func:`_segments`; non-synapses get mask 0.
    """
    levels = b @ subset_bits(b.size).T
    order = np.argsort(levels, kind="stable")
    sorted_levels = levels[order]
    mask = np.zeros(prob.syn.weights.size, np.int64)
    a = prob.syn.magnitudes
    for ti, sel in enumerate(prob.members):
        lv = s[ti] * sorted_levels
        pos = np.searchsorted(0.5 * (lv[:-1] + lv[1:]), a[sel], side="left")
        mask[sel] = order[pos]
    return mask, levels[mask] * s[prob.type_index]


def _squared_error(prob: _Problem, b: np.ndarray, s: np.ndarray) -> float:
    """Exact squared error of one (bases, scales), same assignment as :func:`_assign`."""
    levels = np.sort(b @ subset_bits(b.size).T)
    total = 0.0
    for ti, a in enumerate(prob.sorted):
        lv = s[ti] * levels
        err = a - lv[np.searchsorted(0.5 * (lv[:-1] + lv[1:]), a, side="left")]
        total += sum_sq(err)
    return total


def _pick(prob: _Problem, b: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The candidate of least squared error: prefix sums rank them all, and the near-ties (within
    1e-9 of the energy) are settled by the exact error, first candidate first."""
    _, _, err = _batch_stats(prob, b, s)
    near = np.flatnonzero(err <= err.min() + 1e-9 * prob.energy)
    exact = [_squared_error(prob, b[i], s[i]) for i in near]
    best = near[int(np.argmin(exact))]
    return b[best], s[best]


# -- starting points ------------------------------------------------------------------------------

def _grid_bases(top: float, bits: int, ratio: float) -> np.ndarray:
    """Geometric bases ``c * ratio**j`` whose sum (the largest level) is ``top``."""
    shape = ratio ** np.arange(bits)
    return top * shape / shape.sum()


def _decomposed_bases(values: np.ndarray, bits: int) -> np.ndarray | None:
    """Bases whose subset sums contain every value, read greedily from the smallest up.

    Returns None when more than ``bits`` bases would be needed. A value already within a relative
    1e-9 of a subset sum is taken as represented.
    """
    tol = 1e-9 * values.max()
    bases: list[float] = []
    sums = np.zeros(1)
    for v in values:
        if np.min(np.abs(sums - v)) <= tol:
            continue
        if len(bases) == bits:
            return None
        bases.append(float(v))
        sums = np.concatenate([sums, sums + v])
    return np.array(bases + [0.0] * (bits - len(bases)))


def _starts(prob: _Problem, bits: int, seed: int, previous: np.ndarray | None,
            previous_scales: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Every starting (bases, scales) pair, stacked; the first is the uniform grid."""
    top = prob.top(1.0)
    ratio = top / top[0]
    starts_b: list[np.ndarray] = [_grid_bases(top.max(), bits, 2.0)]
    starts_s: list[np.ndarray] = [np.ones(prob.num_types)]
    for q in _TOP_QUANTILES:
        tq = prob.top(q)
        for r in _GEOMETRIC_RATIOS:
            starts_b.append(_grid_bases(tq[0], bits, r))
            starts_s.append(tq / tq[0])
    major = int(np.argmax([a.size for a in prob.sorted]))
    distinct = np.unique(prob.sorted[major])
    if distinct.size <= 2 ** bits:
        dec = _decomposed_bases(distinct, bits)
        if dec is not None:
            starts_b.append(dec / ratio[major])
            starts_s.append(ratio)
    rng = np.random.default_rng(seed)
    for _ in range(_RANDOM_STARTS):
        starts_b.append(top[0] * rng.dirichlet(np.ones(bits)))
        starts_s.append(ratio)
    if previous is not None:
        positive = previous[previous > 0]
        smallest = positive.min() if positive.size else top[0] / 2 ** bits
        for extra in (0.0, smallest / 2):
            starts_b.append(np.append(previous, extra))
            starts_s.append(previous_scales)
    return np.stack(starts_b), np.stack(starts_s)


def _best_fit(prob: _Problem, bits: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Best bases and scales with ``bits`` bases, warm-started from the best with one fewer."""
    previous = previous_scales = None
    for k in range(1, bits + 1):
        b0, s0 = _starts(prob, k, seed, previous, previous_scales)
        b1, s1 = _lloyd(prob, b0, s0.copy())
        previous, previous_scales = _pick(prob, np.concatenate([b0, b1]), np.concatenate([s0, s1]))
    return previous, previous_scales


# -- repeated CAM entries -------------------------------------------------------------------------

def _greedy_repeats(prob: _Problem, b: np.ndarray, s: np.ndarray, mask: np.ndarray,
                    cam_budget: int) -> tuple[np.ndarray, np.ndarray]:
    """Spend each neuron's spare CAM entries on repeats, largest error reduction first.

    Returns (mask, repeats); a synapse with ``r`` repeats takes the mask nearest to ``a / r``.
    """
    repeats = (mask != 0).astype(np.int64)
    uniq, neuron = np.unique(prob.syn.post, return_inverse=True)
    slack = cam_budget - np.bincount(neuron, weights=repeats, minlength=uniq.size).astype(int)
    a = prob.syn.magnitudes
    levels = base_sum_levels(b)
    order = np.argsort(levels, kind="stable")

    def best(i: int, r: int) -> tuple[float, int]:
        lv = r * s[prob.type_index[i]] * levels[order]
        pos = int(np.searchsorted(0.5 * (lv[:-1] + lv[1:]), a[i], side="left"))
        return float((a[i] - lv[pos]) ** 2), int(order[pos])

    current_err = (a - levels[mask] * s[prob.type_index]) ** 2
    heap: list[tuple[float, int, float, int]] = []
    for i in np.flatnonzero(repeats):
        if slack[neuron[i]] > 0:
            err, m = best(int(i), 2)
            if err < current_err[i]:
                heapq.heappush(heap, (err - current_err[i], int(i), err, m))
    mask = mask.copy()
    while heap:
        _, i, err, m = heapq.heappop(heap)
        if slack[neuron[i]] <= 0:
            continue
        slack[neuron[i]] -= 1
        repeats[i] += 1
        mask[i], current_err[i] = m, err
        if slack[neuron[i]] > 0:
            nxt, m2 = best(i, int(repeats[i]) + 1)
            if nxt < err:
                heapq.heappush(heap, (nxt - err, i, nxt, m2))
    return mask, repeats


def _refit_with_repeats(prob: _Problem, b: np.ndarray, s: np.ndarray, mask: np.ndarray,
                        repeats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Refit bases and scales for fixed masks and repeat counts (one start, groups per synapse)."""
    used = repeats > 0
    ti = prob.type_index[used]
    rows = subset_bits(b.size)[mask[used]]
    a = prob.syn.magnitudes[used]
    coef = repeats[used] * s[ti]
    b = _fit_bases(b[None], rows[None], (coef * coef)[None], (coef * a)[None])[0]
    s = s.copy()
    lv = (rows @ b) * repeats[used]
    for t in range(1, prob.num_types):
        sel = ti == t
        s[t] = _fit_scale(lv[sel][None], np.ones((1, sel.sum())), a[sel][None], s[t:t + 1])[0]
    return b, s


def _with_repeats(prob: _Problem, b: np.ndarray, s: np.ndarray, cam_budget: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Best of a few rounds of (greedy repeats, refit of bases and scales).

    The bases fitted without repeats must reach the largest weights, so the search also starts
    from them shrunk to put the largest level at a top quantile: the weights above it then use
    repeated entries and the bulk gets finer levels. The first round from the unshrunk bases only
    adds error-reducing repeats, so the result is never worse than without repeats.
    """
    pooled = np.sort(np.concatenate(prob.sorted))
    shrink = [1.0] + [pooled[int(round(q * (pooled.size - 1)))] / pooled[-1]
                      for q in _REPEAT_QUANTILES]
    best = None
    for factor in shrink:
        bases = b * factor
        scales = s
        for _ in range(_REPEAT_ROUNDS):
            mask, _ = _assign(prob, bases, scales)
            mask, repeats = _greedy_repeats(prob, bases, scales, mask, cam_budget)
            err = _repeat_error(prob, bases, scales, mask, repeats)
            if best is None or err < best[0]:
                best = (err, bases, scales, mask, repeats)
            bases, scales = _refit_with_repeats(prob, bases, scales, mask, repeats)
    return best[1:]


def _repeat_error(prob: _Problem, b: np.ndarray, s: np.ndarray, mask: np.ndarray,
                  repeats: np.ndarray) -> float:
    q = repeats * base_sum_levels(b)[mask] * s[prob.type_index]
    err = (prob.syn.magnitudes - q)[prob.present]
    return sum_sq(err)


# -- public entry points --------------------------------------------------------------------------

def _result(prob: _Problem, b: np.ndarray, s: np.ndarray, mask: np.ndarray,
            repeats: np.ndarray) -> BaseSumResult:
    mask = np.where(prob.present & (repeats > 0), mask, 0)
    repeats = np.where(mask != 0, repeats, 0)
    quantized = np.sign(prob.syn.weights) * (
        repeats * (base_sum_levels(b)[mask] * s[prob.type_index]))
    return BaseSumResult(
        bases=b.copy(), type_scales={int(t): float(v) for t, v in zip(prob.type_ids, s)},
        mask=mask, repeats=repeats, quantized=quantized,
        stats=quant_stats(prob.syn, quantized, repeats))


def _empty_result(prob: _Problem, bits: int) -> BaseSumResult:
    """No synapse at all: zero bases, every entry quantized to zero."""
    zeros = np.zeros(prob.syn.weights.size, np.int64)
    return _result(prob, np.zeros(bits), np.ones(1), zeros, zeros)


def _check_fan_in(syn: SynapseArrays, cam_budget: int, where: str) -> None:
    fan_in = cam_per_neuron(syn.post, syn.present.astype(np.int64))
    if fan_in.size and fan_in.max() > cam_budget:
        worst = int(np.argmax(fan_in))
        neuron = int(np.unique(syn.post)[worst])
        raise CapacityError(
            f"post neuron {neuron} receives {fan_in[worst]} synapses but has {cam_budget} CAM "
            f"entries", where=where,
            fix="split the neuron's inputs over several neurons or prune its smallest weights")


def quantize_base_sum(weights: np.ndarray, types: np.ndarray, post: np.ndarray, *, bits: int = 4,
                      cam_budget: int = 64, allow_repeats: bool = False, seed: int = 0
                      ) -> BaseSumResult:
    """Quantize one core's synapses to subset sums of ``bits`` shared base weights.

    ``weights``, ``types`` and ``post`` are parallel arrays over the core's synapses (see
    :mod:`neurocc.compiler.quantize.common`). With ``allow_repeats`` a neuron's spare CAM entries repeat
    its synapses where that lowers the error most. Deterministic for a given ``seed``.
    """
    where = "base_sum quantizer"
    bits = _check_bits(bits, where)
    cam_budget = check_budget(cam_budget, where)
    syn = check_synapses(weights, types, post, where)
    _check_fan_in(syn, cam_budget, where)
    prob = _Problem(syn)
    if prob.num_types == 0:
        return _empty_result(prob, bits)
    b, s = _best_fit(prob, bits, seed)
    if allow_repeats:
        b, s, mask, repeats = _with_repeats(prob, b, s, cam_budget)
    else:
        mask, _ = _assign(prob, b, s)
        repeats = np.ones_like(mask)
    return _result(prob, b, s, mask, repeats)


def uniform_base_sum(weights: np.ndarray, types: np.ndarray, post: np.ndarray, *, bits: int = 4
                     ) -> BaseSumResult:
    """Baseline: bases ``c * 2**j`` with the largest level at the largest magnitude, all types at
    scale 1, each synapse on its nearest level (a uniform grid of ``2**bits`` levels)."""
    where = "uniform base_sum baseline"
    bits = _check_bits(bits, where)
    syn = check_synapses(weights, types, post, where)
    prob = _Problem(syn)
    if prob.num_types == 0:
        return _empty_result(prob, bits)
    b = _grid_bases(float(prob.top(1.0).max()), bits, 2.0)
    s = np.ones(prob.num_types)
    mask, _ = _assign(prob, b, s)
    return _result(prob, b, s, mask, np.ones_like(mask))
