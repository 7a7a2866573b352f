"""Cut the neurons into core-sized blocks of one parameter class each (stage 1 of the hierarchy).

Each class gets the fewest blocks that hold it (more blocks can only add destination cores). The
start is the better of two cuts (index order; the partitioner's: recursive spectral bisection,
which keeps neurons sharing sources together, or Mt-KaHyPar's multilevel cut,
:mod:`placement.hypergraph`), then :mod:`placement.local` improves it. Spectral is the default:
Mt-KaHyPar's cut is never worse at this stage, but it costs about 5 CPU seconds on 4,096 neurons
(the whole placement's budget) and the chip stage lays its blocks out worse on clustered networks
(README, Benchmarks).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import UnsupportedError
from .capacity import cores_error
from .hypergraph import hypergraph_blocks
from .local import Layout, Limits, LocalSearch
from .problem import PlacementProblem
from .resources import Resources, class_blocks

#: Eigenvectors per split, power iterations to find them, 2-means iterations in that embedding.
EMBED_DIM = 6
POWER_ITERATIONS = 40
KMEANS_ITERATIONS = 8

#: Where the start of the partition comes from (see the module docstring).
PARTITIONERS = ("spectral", "mtkahypar")


def plan_blocks(problem: PlacementProblem, res: Resources) -> Layout:
    """Blocks per class and their capacities, drawn from the largest core capacities.

    When cores differ in capacity (a forbidden source slot), the classes with the least slack
    take the largest ones; a class still short of room gets one more block.
    """
    caps = np.sort(res.core_capacity())[::-1]
    classes, counts = np.unique(problem.neuron_class, return_counts=True)
    plan = class_blocks(counts, caps)
    if plan is None:
        raise cores_error(problem, res)
    n_blocks, order = plan
    block_cls = np.repeat(classes[order], n_blocks[order])
    return Layout(block_class=block_cls.astype(np.int64),
                  block_cap=caps[:block_cls.size].astype(np.int64))


def index_blocks(problem: PlacementProblem, layout: Layout) -> np.ndarray:
    """Blocks filled in neuron index order, class by class (what index-order mappers do)."""
    block_of = np.empty(problem.n_neurons, dtype=np.int64)
    for c in np.unique(layout.block_class):
        members = np.flatnonzero(problem.neuron_class == c)
        blocks = np.flatnonzero(layout.block_class == c)
        block_of[members] = np.repeat(blocks, _shares(members.size, layout.block_cap[blocks]))
    return block_of


def spectral_blocks(problem: PlacementProblem, layout: Layout, seed: int,
                    with_sender: bool = False) -> np.ndarray:
    """Recursive spectral bisection of the neurons into the blocks of ``layout``.

    Each part is embedded with the leading non-trivial eigenvectors of its clique-expanded
    source hypergraph (each source links its targets with weight rate / (edge size - 1)).
    ``with_sender`` puts a neuron source in its own hyperedge: when copies to other chips cost
    hops, where the sender sits matters as much as where its targets do. Two
    splits are tried, along the Fiedler vector and by balanced 2-means in the embedding (which
    keeps tight groups whole when eigenvalues are degenerate, as with equal clusters); the one
    whose sources reach both sides least is kept. The part's blocks are halved with the classes
    ordered by their mean score, and each class's neurons follow their score.
    """
    block_of = np.empty(problem.n_neurons, dtype=np.int64)
    inc = _hyperedges(problem, with_sender)
    weight = problem.rate / np.maximum(np.diff(inc.indptr) - 1, 1)
    inc = inc.tocsc()
    rng = np.random.default_rng(seed)
    stack = [(np.arange(problem.n_neurons), np.arange(layout.size))]
    while stack:
        members, blocks = stack.pop()
        if blocks.size == 1:
            block_of[members] = blocks[0]
            continue
        part = sp.csr_array(inc[:, members])
        best = None
        scores = [np.arange(members.size, dtype=np.float64)] if members.size < 4 else \
            _split_scores(_embedding(part, weight, rng), layout.block_cap[blocks])
        for score in scores:
            sides = _halve_blocks(blocks, members, score, problem, layout)
            left = _left_side(members, score, sides, problem, layout)
            cost = _cut(part, problem.rate, left)
            if best is None or cost < best[0]:
                best = (cost, left, sides)
        _, left, (left_blocks, right_blocks) = best
        stack.append((members[~left], right_blocks))
        stack.append((members[left], left_blocks))
    return block_of


def _hyperedges(problem: PlacementProblem, with_sender: bool) -> sp.csr_array:
    """(sources x neurons) 0/1 hyperedges: each source's targets, and itself if asked (neuron
    sources with targets only)."""
    inc = problem.incidence()
    if not with_sender:
        return inc
    n = problem.n_neurons
    senders = np.flatnonzero(problem.fan_out()[:n] > 0)
    own = sp.csr_array((np.ones(senders.size), (senders, senders)), shape=inc.shape)
    return sp.csr_array((inc + own) > 0, dtype=np.float64)


def _left_side(members, score, sides, problem, layout) -> np.ndarray:
    """Which members go to the left blocks: per class, the lowest scores, as many as fit."""
    left_blocks, right_blocks = sides
    left = np.zeros(members.size, dtype=bool)
    for c in np.unique(layout.block_class[np.concatenate(sides)]):
        mine = np.flatnonzero(problem.neuron_class[members] == c)
        cap_l = layout.block_cap[left_blocks][layout.block_class[left_blocks] == c].sum()
        cap_r = layout.block_cap[right_blocks][layout.block_class[right_blocks] == c].sum()
        n_left = _shares(mine.size, np.array([cap_l, cap_r]))[0]
        left[mine[np.argsort(score[mine], kind="stable")[:n_left]]] = True
    return left


def _cut(part: sp.csr_array, rate: np.ndarray, left: np.ndarray) -> float:
    """Expected events of sources that reach both sides."""
    both = ((part @ left.astype(float)) > 0) & ((part @ (~left).astype(float)) > 0)
    return float(rate[both].sum())


def _halve_blocks(blocks, members, score, problem, layout):
    """Split a part's blocks in two, classes ordered by the mean score of their neurons."""
    cls = layout.block_class[blocks]
    classes = np.unique(cls)
    mean = np.array([score[problem.neuron_class[members] == c].mean() for c in classes])
    rank = np.argsort(mean, kind="stable")
    order = np.concatenate([blocks[cls == classes[r]] for r in rank])
    half = order.size // 2
    return np.sort(order[:half]), np.sort(order[half:])


def _embedding(part: sp.csr_array, weight: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Leading non-trivial eigenvectors of the normalised clique-expansion affinity of the
    part's neurons, divided by sqrt(degree) (random-walk form), strongest first; isolated
    neurons sit at 0.

    Computed by a fixed number of block power iterations on ``(M + I) / 2`` with the trivial
    eigenvector projected out: deterministic, cheap, and accurate where it matters (groups
    well separated from the rest converge first)."""
    n = part.shape[1]
    rows = np.flatnonzero(np.diff(part.indptr))
    p = part[rows]
    w = weight[rows]
    pt = sp.csr_array(p.T)
    degree = pt @ (w * (p @ np.ones(n)))
    degree = degree + 1e-12 * max(float(degree.max(initial=0.0)), 1.0)
    dinv = 1.0 / np.sqrt(degree)
    top = np.sqrt(degree) / np.linalg.norm(np.sqrt(degree))
    k = max(1, min(EMBED_DIM, n - 2))
    x = rng.standard_normal((n, k))
    for _ in range(POWER_ITERATIONS):
        x -= top[:, None] * (top @ x)[None, :]
        x = _orthonormal(x)
        y = dinv[:, None] * (pt @ (w[:, None] * (p @ (dinv[:, None] * x))))
        x = 0.5 * (x + y)
    x -= top[:, None] * (top @ x)[None, :]
    # Rayleigh-Ritz: order the directions by eigenvalue
    q = _orthonormal(x)
    mq = dinv[:, None] * (pt @ (w[:, None] * (p @ (dinv[:, None] * q))))
    _, vecs = np.linalg.eigh(q.T @ mq)
    emb = (q @ vecs[:, ::-1]) * dinv[:, None]
    # fix signs so that the result does not depend on the eigensolver's choice
    flip = emb[np.argmax(np.abs(emb), axis=0), np.arange(emb.shape[1])] < 0
    emb[:, flip] *= -1
    return emb


def _orthonormal(x: np.ndarray) -> np.ndarray:
    """Orthonormal basis of x's columns (Cholesky QR: a k x k factorisation, cheap for tall x)."""
    gram = x.T @ x
    gram += 1e-12 * max(float(np.trace(gram)), 1e-300) * np.eye(gram.shape[0])
    try:
        chol = np.linalg.cholesky(gram)
    except np.linalg.LinAlgError:
        return np.linalg.qr(x)[0]
    return np.linalg.solve(chol, x.T).T


def _split_scores(emb: np.ndarray, caps: np.ndarray) -> list[np.ndarray]:
    """Scores to sort neurons by (low = left): the Fiedler vector, and balanced 2-means."""
    scores = [emb[:, 0]]
    if emb.shape[1] > 1:
        norm = np.linalg.norm(emb, axis=1, keepdims=True)
        x = emb / np.where(norm > 0, norm, 1.0)
        n_left = int(round(emb.shape[0] * caps[:caps.size // 2].sum() / caps.sum()))
        c1 = x[np.argmax(((x - x.mean(axis=0)) ** 2).sum(axis=1))]
        c2 = x[np.argmax(((x - c1) ** 2).sum(axis=1))]
        for _ in range(KMEANS_ITERATIONS):
            score = ((x - c1) ** 2).sum(axis=1) - ((x - c2) ** 2).sum(axis=1)
            left = np.zeros(x.shape[0], dtype=bool)
            left[np.argsort(score, kind="stable")[:n_left]] = True
            if left.all() or not left.any():
                break
            c1, c2 = x[left].mean(axis=0), x[~left].mean(axis=0)
        scores.append(score)
    return scores


def _shares(total: int, caps: np.ndarray) -> np.ndarray:
    """Split ``total`` items proportionally to ``caps`` (integer sizes, each <= its cap)."""
    caps = np.asarray(caps, dtype=np.int64)
    sizes = np.floor(total * caps / max(int(caps.sum()), 1)).astype(np.int64)
    rest = total - int(sizes.sum())
    room = np.flatnonzero(sizes < caps)
    sizes[room[:rest]] += 1
    return sizes


def partition(problem: PlacementProblem, res: Resources, rounds: int,
              seed: int = 0, hop_cost: float = 0.0, partitioner: str = "spectral"
              ) -> tuple[np.ndarray, Layout]:
    """Blocks of one class each, at most one core's capacity, few destination blocks per source.

    Starts from the better of index order and the ``partitioner``'s cut, improves it with the
    local search, and splits blocks over the key limit (distinct sources per core) while spare
    cores remain.
    """
    if partitioner not in PARTITIONERS:
        raise UnsupportedError(f"partitioner {partitioner!r} unknown",
                               fix=f"use one of {', '.join(PARTITIONERS)}")
    layout = plan_blocks(problem, res)
    limits = Limits(keys=res.usable_keys, sram=0, hops=None, hop_cost=0.0)
    search = LocalSearch(problem, layout, limits)
    cut = (hypergraph_blocks(problem, layout, seed) if partitioner == "mtkahypar" else
           _spectral_start(problem, layout, res, seed, hop_cost))
    starts = [search.evaluate(index_blocks(problem, layout)), search.evaluate(cut)]
    st = search.run(min(starts, key=lambda s: s.score(search.penalty)).block_of, rounds)
    while st.excess and layout.size < res.total_cores:
        block_of, layout = _split_worst(problem, st.block_of, layout, res)
        search = LocalSearch(problem, layout, limits)
        st = search.run(block_of, rounds)
    return st.block_of, layout


def _spectral_start(problem: PlacementProblem, layout: Layout, res: Resources, seed: int,
                    hop_cost: float) -> np.ndarray:
    """Spectral blocks; when the blocks will span chips at a hop cost, the better (events with
    hops, blocks laid on chips in block order) of the cuts without and with senders in their
    own hyperedges."""
    plain = spectral_blocks(problem, layout, seed)
    if hop_cost <= 0 or res.chips == 1:
        return plain
    with_sender = spectral_blocks(problem, layout, seed, with_sender=True)
    laid = Layout(layout.block_class, layout.block_cap,
                  block_chip=np.arange(layout.size) // res.cores_per_chip)
    limits = Limits(keys=0, sram=0, hops=res.hops().astype(np.float64), hop_cost=hop_cost)
    probe = LocalSearch(problem, laid, limits)
    return min((plain, with_sender), key=lambda b: probe.evaluate(b).objective)


def _split_worst(problem: PlacementProblem, block_of: np.ndarray, layout: Layout,
                 res: Resources) -> tuple[np.ndarray, Layout]:
    """Halve the block that receives the most distinct sources (a new block on a spare core)."""
    nb = layout.size
    pairs = np.unique(problem.pre * nb + block_of[problem.post])
    worst = int(np.argmax(np.bincount(pairs % nb, minlength=nb)))
    members = np.flatnonzero(block_of == worst)
    spare = np.sort(res.core_capacity())[::-1][nb]
    block_of = block_of.copy()
    block_of[members[members.size // 2:]] = nb
    return block_of, Layout(block_class=np.append(layout.block_class, layout.block_class[worst]),
                            block_cap=np.append(layout.block_cap, spare))
