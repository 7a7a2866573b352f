"""Core-sized blocks from Mt-KaHyPar, a multilevel hypergraph partitioner (the opt-in start of
:mod:`placement.partition`, ``PlacementOptions(partitioner="mtkahypar")``).

With blocks of one class each, the destination blocks of a source are the blocks its targets of
each class occupy, so without hops the routed events are the connectivity of one hypergraph per
class: a hyperedge per source (its targets of that class) weighted by the source's rate. That is
the objective Mt-KaHyPar minimises, so every class is cut on its own. Mt-KaHyPar's deterministic
preset gives the same blocks for a seed whatever the thread count (checked by the tests).

Mt-KaHyPar is an optional dependency (``pip install "neurocc[partition]"``); the default
partitioner (spectral) does not need it.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from ..errors import UnsupportedError
from .local import Layout
from .problem import PlacementProblem

#: Rates become integer hyperedge weights on this many levels (the highest rate gets all).
RATE_LEVELS = 1000


def hypergraph_blocks(problem: PlacementProblem, layout: Layout, seed: int) -> np.ndarray:
    """The block of every neuron: each class cut into its blocks of ``layout`` by Mt-KaHyPar,
    every block within its capacity."""
    _mtkahypar()  # the same error whether or not a class needs cutting
    block_of = np.empty(problem.n_neurons, dtype=np.int64)
    for c in np.unique(layout.block_class[layout.block_class >= 0]):
        members = np.flatnonzero(problem.neuron_class == c)
        blocks = np.flatnonzero(layout.block_class == c)
        caps = layout.block_cap[blocks]
        edges, weights = class_hyperedges(problem, members)
        if blocks.size == 1 or not edges:
            parts = np.repeat(np.arange(blocks.size), _fill(members.size, caps))
        else:
            parts = cut(members.size, edges, weights, caps, seed)
        block_of[members] = blocks[fit_capacities(parts, caps)]
    return block_of


def class_hyperedges(problem: PlacementProblem, members: np.ndarray
                     ) -> tuple[list[list[int]], list[int]]:
    """Hyperedges over ``members`` (local indices): the targets among them of every source with
    a positive rate and at least two such targets (one pin cannot be cut), and their weights."""
    local = np.full(problem.n_neurons, -1, dtype=np.int64)
    local[members] = np.arange(members.size)
    keep = (local[problem.post] >= 0) & (problem.rate[problem.pre] > 0)
    pre, post = problem.pre[keep], local[problem.post[keep]]
    order = np.lexsort((post, pre))  # the pairs are distinct (PlacementProblem)
    pre, post = pre[order], post[order]
    if pre.size == 0:
        return [], []
    starts = np.flatnonzero(np.r_[True, pre[1:] != pre[:-1]])
    sizes = np.diff(np.r_[starts, pre.size])
    sources = pre[starts]
    rate = problem.rate[sources]
    weight = np.maximum(1, np.round(RATE_LEVELS * rate / rate.max())).astype(np.int64)
    edges = np.split(post, starts[1:])
    cut = np.flatnonzero(sizes > 1)
    return [edges[i].tolist() for i in cut], weight[cut].tolist()


def fit_capacities(parts: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """``parts`` with the last members of every over-full part moved to parts with room
    (Mt-KaHyPar keeps the weights it is given, so this only guards the limit)."""
    parts = parts.copy()
    sizes = np.bincount(parts, minlength=caps.size)
    for p in np.flatnonzero(sizes > caps):
        extra = np.flatnonzero(parts == p)[caps[p]:]
        room = np.repeat(np.arange(caps.size), np.maximum(caps - sizes, 0))
        parts[extra] = room[:extra.size]
        sizes = np.bincount(parts, minlength=caps.size)
    return parts


def _fill(total: int, caps: np.ndarray) -> np.ndarray:
    """Part sizes that fill the parts in order."""
    return np.diff(np.minimum(np.r_[0, np.cumsum(caps)], total))


def cut(n: int, edges: list[list[int]], weights: list[int], caps: np.ndarray, seed: int,
        preset: str = "DETERMINISTIC") -> np.ndarray:
    """Mt-KaHyPar's part of each of ``n`` vertices: ``caps.size`` parts of at most ``caps``
    weight, least connectivity of the weighted ``edges``. ``preset``: a ``PresetType`` name
    (only ``DETERMINISTIC`` repeats across thread counts)."""
    mtk, init = _mtkahypar()
    mtk.set_seed(seed)
    ctx = init.context_from_preset(getattr(mtk.PresetType, preset))
    ctx.set_partitioning_parameters(int(caps.size), 0.0, mtk.Objective.KM1)
    ctx.set_individual_target_block_weights(caps.tolist())
    ctx.logging = False
    graph = init.create_hypergraph(ctx, n, len(edges), edges, [1] * n, weights)
    parts = graph.partition(ctx)
    return np.fromiter((parts.block_id(v) for v in range(n)), dtype=np.int64, count=n)


@functools.lru_cache(maxsize=1)
def _mtkahypar():
    """(module, initializer): Mt-KaHyPar's thread pool is started once per process."""
    try:
        import mtkahypar
    except ImportError:
        raise UnsupportedError(
            "the mtkahypar partitioner needs the Mt-KaHyPar package, which is not installed",
            fix='pip install "neurocc[partition]", or use the default partitioner '
                '(--partitioner spectral)') from None
    return mtkahypar, mtkahypar.initialize(os.cpu_count() or 1, False)
