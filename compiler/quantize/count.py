"""The ``count`` weight scheme (DYNAP-SE1): a weight is a number of repeated binary CAM entries.

Every CAM entry of type ``t`` on a core adds the same quantum ``q_t`` (the core's weight bias of
that type), so a synapse of type ``t`` that holds ``n >= 0`` entries weighs ``n * q_t``; ``n = 0``
drops it. The entries of one post neuron add up to at most its CAM budget.

For fixed quanta the error of a synapse is convex in ``n`` (each extra entry reduces the error by
``q (2a - (2n + 1) q)``, a decreasing amount), so per neuron the greedy that takes the largest
reductions first, up to the budget, is optimal. For fixed counts each ``q_t`` is a least-squares
fit. We alternate the two exact steps (the error never increases) from several starting quanta:
the naive rounding of :func:`naive_count` (so the result is never worse than it), finer
fractions of it, and each type's smallest magnitude (so weights that are multiples of it and fit
the budget are recovered exactly), and keep the best.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CapacityError
from .common import (QuantStats, SynapseArrays, cam_per_neuron, check_budget, check_synapses,
                       quant_stats, sum_sq)

#: Starting quanta are ``max |w_t| / (r * f)`` for these ``f``, ``r`` being the naive resolution.
_REFINEMENTS = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
_MAX_ITER = 50
_TOL = 1e-9
_BISECTIONS = 18
_ALTERNATED_STARTS = 2


@dataclass(frozen=True)
class CountResult:
    """Quantized weights of one core under the ``count`` scheme.

    ``quantized[i] == sign(w[i]) * (counts[i] * quanta[types[i]])`` exactly; ``counts[i]`` CAM
    entries of neuron ``post[i]`` carry synapse ``i``.
    """

    quanta: dict[int, float]
    counts: np.ndarray
    quantized: np.ndarray
    stats: QuantStats


class _Problem:
    """Magnitudes of the synapses (non-zero weights only) with their type and neuron indices."""

    def __init__(self, syn: SynapseArrays):
        self.syn = syn
        self.index = np.flatnonzero(syn.present)
        self.a = syn.magnitudes[self.index]
        self.type_ids, self.type_of = np.unique(syn.types[self.index], return_inverse=True)
        _, self.neuron = np.unique(syn.post[self.index], return_inverse=True)
        self.fan_in = np.bincount(self.neuron)

    def top(self) -> np.ndarray:
        """Largest magnitude of each type."""
        out = np.zeros(len(self.type_ids))
        np.maximum.at(out, self.type_of, self.a)
        return out

    def smallest(self) -> np.ndarray:
        """Smallest magnitude of each type."""
        out = np.full(len(self.type_ids), np.inf)
        np.minimum.at(out, self.type_of, self.a)
        return out

    def naive_resolution(self, cam_budget: int) -> int:
        """Entries each synapse may take so that every neuron fits: ``budget // max fan-in``."""
        return max(1, cam_budget // int(self.fan_in.max()))


def _greedy_counts(prob: _Problem, quanta: np.ndarray, cam_budget: int) -> np.ndarray:
    """Optimal counts for fixed quanta: per neuron the ``cam_budget`` largest error reductions.

    Step ``n -> n + 1`` of synapse ``i`` reduces its error by ``alpha_i - beta_i * n`` with
    ``alpha = q (2a - q)`` and ``beta = 2 q^2``. Without a budget a synapse takes every positive
    step (``n`` = nearest integer of ``a / q``). For the neurons over budget, a bisection on the
    reduction finds a level ``lam`` with at least ``cam_budget`` steps above it; only those steps
    are listed and sorted (largest first, ties to the lower synapse index), so the work stays near
    ``cam_budget`` steps per neuron however small ``q`` is.
    """
    q = quanta[prob.type_of]
    alpha, beta = q * (2 * prob.a - q), 2 * q * q
    wanted = np.clip(np.ceil(prob.a / q - 0.5), 0, cam_budget).astype(np.int64)
    over = np.bincount(prob.neuron, weights=wanted) > cam_budget
    if not over.any():
        return wanted
    idx = np.flatnonzero(over[prob.neuron] & (wanted > 0))
    neuron_of = prob.neuron[idx]

    def steps_above(lam: np.ndarray) -> np.ndarray:
        n = np.floor((alpha[idx] - lam[neuron_of]) / beta[idx]) + 1
        return np.clip(n, 0, wanted[idx]).astype(np.int64)

    lo = np.zeros(over.size)
    hi = np.full(over.size, alpha[idx].max() + 1.0)
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        enough = np.bincount(neuron_of, weights=steps_above(mid), minlength=over.size) \
            >= cam_budget
        lo, hi = np.where(enough, mid, lo), np.where(enough, hi, mid)
    # One step more than the bound per synapse absorbs rounding in steps_above.
    reps = np.minimum(steps_above(lo) + 1, wanted[idx])
    syn = np.repeat(idx, reps)
    step = np.arange(syn.size) - np.repeat(np.cumsum(reps) - reps, reps)
    gain = alpha[syn] - beta[syn] * step
    neuron = prob.neuron[syn]
    order = np.lexsort((syn, -gain, neuron))
    sorted_neuron = neuron[order]
    rank = np.arange(order.size) - np.searchsorted(sorted_neuron, sorted_neuron, side="left")
    counts = wanted.copy()
    counts[idx] = 0
    counts += np.bincount(syn[order[rank < cam_budget]], minlength=counts.size)
    return counts


def _fit_quanta(prob: _Problem, counts: np.ndarray, old: np.ndarray) -> np.ndarray:
    """Least-squares quantum of each type for fixed counts (unchanged where all counts are 0)."""
    num = np.bincount(prob.type_of, weights=prob.a * counts, minlength=old.size)
    den = np.bincount(prob.type_of, weights=counts.astype(np.float64) ** 2, minlength=old.size)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), old)


def _error(prob: _Problem, quanta: np.ndarray, counts: np.ndarray) -> float:
    err = prob.a - counts * quanta[prob.type_of]
    return sum_sq(err)


def _alternate(prob: _Problem, start: tuple[float, np.ndarray, np.ndarray], cam_budget: int
               ) -> tuple[float, np.ndarray, np.ndarray]:
    """Alternate optimal quanta and optimal counts until the error stops falling."""
    err, quanta, counts = start
    energy = sum_sq(prob.a)
    for _ in range(_MAX_ITER):
        new_q = _fit_quanta(prob, counts, quanta)
        new_counts = _greedy_counts(prob, new_q, cam_budget)
        new_err = _error(prob, new_q, new_counts)
        if not new_err < err - _TOL * energy:
            if new_err < err:
                err, quanta, counts = new_err, new_q, new_counts
            break
        err, quanta, counts = new_err, new_q, new_counts
    return err, quanta, counts


def _result(prob: _Problem, quanta: np.ndarray, counts: np.ndarray) -> CountResult:
    full = np.zeros(prob.syn.weights.size, np.int64)
    full[prob.index] = counts
    scale = np.zeros(prob.syn.weights.size)
    scale[prob.index] = quanta[prob.type_of]
    quantized = np.sign(prob.syn.weights) * (full * scale)
    return CountResult(quanta={int(t): float(v) for t, v in zip(prob.type_ids, quanta)},
                       counts=full, quantized=quantized,
                       stats=quant_stats(prob.syn, quantized, full))


def quantize_count(weights: np.ndarray, types: np.ndarray, post: np.ndarray, *,
                   cam_budget: int = 64) -> CountResult:
    """Quantize one core's synapses to ``counts * quanta[type]`` under a per-neuron CAM budget.

    ``weights``, ``types`` and ``post`` are parallel arrays over the core's synapses (see
    :mod:`neurocc.compiler.quantize.common`). A neuron may have more synapses than CAM entries: the
    least useful are dropped (count 0). Deterministic.
    """
    where = "count quantizer"
    cam_budget = check_budget(cam_budget, where)
    prob = _Problem(check_synapses(weights, types, post, where))
    if prob.a.size == 0:
        return _result(prob, np.zeros(0), np.zeros(0, np.int64))
    base = prob.top() / prob.naive_resolution(cam_budget)
    starts = []
    for quanta in [base / f for f in _REFINEMENTS] + [prob.smallest()]:
        counts = _greedy_counts(prob, quanta, cam_budget)
        starts.append((_error(prob, quanta, counts), quanta, counts))
    ranked = sorted(range(len(starts)), key=lambda i: starts[i][0])
    finals = [_alternate(prob, starts[i], cam_budget) for i in ranked[:_ALTERNATED_STARTS]]
    best = min(finals + starts, key=lambda candidate: candidate[0])
    return _result(prob, best[1], best[2])


def naive_count(weights: np.ndarray, types: np.ndarray, post: np.ndarray, *,
                cam_budget: int = 64) -> CountResult:
    """Baseline: give every synapse an equal share ``r = budget // max fan-in`` of its neuron's
    CAM, set ``q_t = max |w_t| / r`` and round each weight to the nearest multiple."""
    where = "naive count baseline"
    cam_budget = check_budget(cam_budget, where)
    syn = check_synapses(weights, types, post, where)
    fan_in = cam_per_neuron(syn.post, syn.present.astype(np.int64))
    if fan_in.max(initial=0) > cam_budget:
        raise CapacityError(
            f"a neuron receives {fan_in.max()} synapses but has {cam_budget} CAM entries",
            where=where, fix="use quantize_count, which drops the least useful synapses")
    prob = _Problem(syn)
    if prob.a.size == 0:
        return _result(prob, np.zeros(0), np.zeros(0, np.int64))
    r = prob.naive_resolution(cam_budget)
    quanta = prob.top() / r
    counts = np.clip(np.floor(prob.a / quanta[prob.type_of] + 0.5), 0, r).astype(np.int64)
    return _result(prob, quanta, counts)
