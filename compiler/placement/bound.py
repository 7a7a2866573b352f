"""A proven lower bound on the expected routed events of any valid placement.

Each source is bounded on its own, so the sum over sources bounds the whole objective:

* destination cores: one class per core and at most ``cap`` neurons per core, so a source whose
  targets of class ``c`` number ``n_c`` reaches at least ``m = sum_c ceil(n_c / cap)`` cores;
* hops (neuron sources, several chips, ``hop_cost > 0``): a chip has ``cores_per_chip`` cores,
  one of which holds the source itself and can take only targets of the source's own class. So
  at most ``a`` destination cores (``cores_per_chip``, less one when no target shares the
  source's class) cost no hop; the other ``m - a`` or more cost at least the cheapest cores of
  the other chips, ``1 + hop_cost * hops``, taken in increasing order from the best chip for
  the source. Input channels enter at their destination chip and pay no hops.

Every other limit (keys, SRAM, capacity shared between sources) is relaxed, which can only
lower the minimum: the bound is valid for every placement that respects the limits.
"""

from __future__ import annotations

import numpy as np

from .capacity import min_dest_cores
from .problem import PlacementProblem
from .resources import Resources


def shares_class(problem: PlacementProblem) -> np.ndarray:
    """Per source: whether one of its targets has its class (only then can a neuron source's
    own core hold a target)."""
    own = problem.pre < problem.n_neurons
    same = own & (problem.neuron_class[np.minimum(problem.pre, problem.n_neurons - 1)] ==
                  problem.neuron_class[problem.post])
    out = np.zeros(problem.n_sources, dtype=bool)
    out[problem.pre[same]] = True
    return out


def cheapest_remote(res: Resources, hop_cost: float) -> np.ndarray:
    """``q[j]``: least total cost of ``j`` cores off the source's chip (``q[0] = 0``), the best
    chip for the source chosen for each ``j``."""
    hops = res.hops().astype(np.float64)
    cost = np.repeat(1.0 + hop_cost * hops, res.cores_per_chip, axis=1)  # (chips, cores)
    remote = np.sort(np.where(np.repeat(np.eye(res.chips, dtype=bool), res.cores_per_chip,
                                        axis=1), np.inf, cost), axis=1)[:, :-res.cores_per_chip]
    prefix = np.concatenate([np.zeros((res.chips, 1)), np.cumsum(remote, axis=1)], axis=1)
    return prefix.min(axis=0)


def lower_bound(problem: PlacementProblem, res: Resources, hop_cost: float) -> float:
    """Expected events that every valid placement of ``problem`` on ``res`` reaches at least."""
    m = min_dest_cores(problem, res)
    shares = shares_class(problem)
    cost = m.astype(np.float64)
    if hop_cost > 0 and res.chips > 1:
        n = problem.n_neurons
        local = res.cores_per_chip - (~shares[:n]).astype(np.int64)
        remote = np.maximum(m[:n] - local, 0)
        q = cheapest_remote(res, hop_cost)
        # more cores than the target has cannot occur in a valid placement (capacity error)
        cost[:n] = np.minimum(m[:n], local) + q[np.minimum(remote, q.size - 1)]
    return float((problem.rate * cost).sum())
