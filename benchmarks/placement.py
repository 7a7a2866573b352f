"""Placement and routing benchmark: neurocc vs index-order placement vs plain graph partitioning.

For every network (a synthetic suite from 256 to 65,536 neurons, and the shared NIR models) it
measures, on DYNAP-SE2 boards of as many chips as needed:

* neurocc: ``place`` + ``route`` wall time, expected routed events (uniform source rates, hop
  cost 1), the proven lower bound and gap, and whether the independent checker accepts the tables;
* index order (what Rockpool does): cores filled in neuron index order (one class per core), one
  global tag per neuron, so it only routes when all sources fit in 2,048 tags;
* graph partitioning: neurocc's class-respecting partition alone (spectral cut + local search),
  blocks laid onto cores in block order, no chip-level optimisation;
* best known (when Mt-KaHyPar is installed: ``pip install -e ".[partition]"``): on one
  chip with one class, the routed events of a placement are the connectivity of the hypergraph
  whose hyperedges are the sources' target sets, which Mt-KaHyPar, a state-of-the-art
  partitioner, minimises; its best of ten seeds (highest-quality preset) is the reference.

Two more figures say how far the lower bound is from the optimum, since a gap to the bound mixes
both: the best-known ratio above, and tiny random networks of the ``random`` family (4 cores of
n/4 neurons) that CP-SAT solves to proven optimality, where the optimum is compared with the
per-source lower bound (:mod:`placement.bound`) that the gap of the large networks is taken to.

Events are computed with the same formula for all three (:func:`placement.cost.events`).
The script ends with one JSON line. ``--quick`` runs a subset in under a minute;
``--partitioner mtkahypar`` places with Mt-KaHyPar's blocks (:mod:`placement.hypergraph`).

Synthetic families (seeded):

* ``random``: one recurrent population, each neuron sends to 4 uniformly random neurons (more
  random targets than SRAM entries cannot be served once they spread over more chips);
* ``layered``: input -> 4 layers, each neuron listens to a window of the previous layer around
  its topographic position (index order is the natural order here);
* ``conv``: an unrolled 3x3 convolution stack (input C x H x W -> conv -> conv stride 2), neurons
  in channel-major index order as frameworks flatten them;
* ``clusters``: one recurrent population of shuffled clusters of 256 (dense inside, a few
  sources from the neighbouring clusters of a ring).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from neurocc.backends.target import load_target
from neurocc.compiler.checker import check, expected_synapses
from neurocc.compiler.errors import NeuroccError
from neurocc.compiler.ir import Network, Projection, make_population
from neurocc.compiler.placement import PlacementOptions, place
from neurocc.compiler.placement.bound import lower_bound
from neurocc.compiler.placement.hypergraph import class_hyperedges, cut
from neurocc.compiler.placement.cost import events
from neurocc.compiler.placement.partition import partition
from neurocc.compiler.placement.problem import build_problem
from neurocc.compiler.synapses import synapse_list
from neurocc.compiler.placement.resources import as_resources
from neurocc.compiler.routing import route

SHARED = Path(__file__).resolve().parents[2] / "shared" / "models"
HOP_COST = 1.0


# -- synthetic networks -------------------------------------------------------------------------
def _net(name: str) -> Network:
    return Network(name=name)


def _lif(net: Network, name: str, size: int) -> None:
    net.add_population(make_population(name, "LIF", size, tau_mem=0.02))


def _proj(net: Network, name: str, src: str, dst: str, rows, cols, shape, delay=0) -> None:
    w = sp.csr_array((np.ones(len(rows)), (rows, cols)), shape=shape)
    w.sum_duplicates()
    net.add_projection(Projection(name, src, dst, w, delay=delay))


def random_sparse(n: int, seed: int, fan_out: int = 4, n_in: int = 64) -> Network:
    rng = np.random.default_rng(seed)
    net = _net(f"random-{n}")
    net.add_population(make_population("x", "input", n_in))
    _lif(net, "h", n)
    _proj(net, "rec", "h", "h", rng.integers(0, n, n * fan_out),
          np.repeat(np.arange(n), fan_out), (n, n), delay=1)
    _proj(net, "in", "x", "h", np.arange(n), rng.integers(0, n_in, n), (n, n_in))
    return net.verify()


def layered(n: int, seed: int, layers: int = 4, fan_in: int = 16, window: int = 48) -> Network:
    rng = np.random.default_rng(seed)
    width = n // layers
    net = _net(f"layered-{n}")
    net.add_population(make_population("x", "input", width))
    prev = "x"
    for i in range(layers):
        name = f"l{i}"
        _lif(net, name, width)
        centre = np.repeat(np.arange(width), fan_in)
        cols = np.clip(centre + rng.integers(-window // 2, window // 2 + 1, centre.size), 0,
                       width - 1)
        _proj(net, f"{prev}->{name}", prev, name, centre, cols, (width, width))
        prev = name
    return net.verify()


def conv(n: int, seed: int) -> Network:
    """input C0 x S x S -> conv3x3 (C1 x S x S) -> conv3x3 stride 2 (C2 x S/2 x S/2)."""
    del seed
    c1, c2 = 6, 16  # 6 input channels x 3 x 3 = 54 CAM entries for a c2 neuron
    side = int(round(math.sqrt(n / (c1 + c2 / 4))))
    side -= side % 2
    net = _net(f"conv-{c1 * side * side + c2 * (side // 2) ** 2}")
    net.add_population(make_population("x", "input", 2 * side * side))
    _lif(net, "c1", c1 * side * side)
    _lif(net, "c2", c2 * (side // 2) ** 2)
    _conv_proj(net, "x", "c1", 2, c1, side, 1)
    _conv_proj(net, "c1", "c2", c1, c2, side, 2)
    return net.verify()


def _conv_proj(net, src, dst, cin, cout, side, stride) -> None:
    out_side = side // stride
    co, oy, ox = np.meshgrid(np.arange(cout), np.arange(out_side), np.arange(out_side),
                             indexing="ij")
    rows, cols = [], []
    for ci in range(cin):
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                iy, ix = oy * stride + dy, ox * stride + dx
                ok = (iy >= 0) & (iy < side) & (ix >= 0) & (ix < side)
                rows.append(((co * out_side + oy) * out_side + ox)[ok])
                cols.append(((ci * side + iy) * side + ix)[ok])
    _proj(net, f"{src}->{dst}", src, dst, np.concatenate(rows), np.concatenate(cols),
          (cout * out_side ** 2, cin * side * side))


def cluster_labels(n: int, seed: int, size: int = 256) -> np.ndarray:
    """The planted cluster of every neuron of :func:`clusters` (its generator's first draw)."""
    return np.random.default_rng(seed).permutation(n) % max(n // size, 1)


def clusters(n: int, seed: int, size: int = 256, fan_in: int = 54, cross: int = 6,
             n_in: int = 64) -> Network:
    """Shuffled clusters; the ``cross`` extra sources of a neuron come from the clusters at
    distance 1 and 2 in a ring of clusters (modular networks talk to a few neighbours)."""
    label = cluster_labels(n, seed, size)
    k = max(n // size, 1)
    rng = np.random.default_rng(seed + 1)
    members = [np.flatnonzero(label == c) for c in range(k)]
    rows, cols = [], []
    for v in range(n):
        own = members[label[v]]
        near = np.concatenate([members[(label[v] + d) % k] for d in (-2, -1, 1, 2)])
        src = np.concatenate([own[rng.choice(own.size, fan_in, replace=False)],
                              near[rng.integers(0, near.size, cross)]])
        rows.append(np.full(src.size, v))
        cols.append(src)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    keep = rows != cols
    net = _net(f"clusters-{n}")
    net.add_population(make_population("x", "input", n_in))
    _lif(net, "h", n)
    _proj(net, "rec", "h", "h", rows[keep], cols[keep], (n, n), delay=1)
    _proj(net, "in", "x", "h", np.repeat(np.arange(n), 2), rng.integers(0, n_in, 2 * n),
          (n, n_in))
    return net.verify()


FAMILIES = {"random": random_sparse, "layered": layered, "conv": conv, "clusters": clusters}


def shared_models() -> list[Network]:
    from neurocc.frontend.load import LoadOptions, load_model

    nets = []
    for name in ("braille_noDelay_bias_zero.nir", "spyx_shd.nir", "cnn_sinabs_nmnist.nir"):
        try:
            net = load_model(SHARED / name, LoadOptions(dt=1e-4))
        except NeuroccError as exc:
            print(f"  skip {name}: {exc}", file=sys.stderr)
            continue
        net.name = name.removesuffix(".nir")
        nets.append(net)
    return nets


# -- the three methods --------------------------------------------------------------------------
def classes_of(net: Network) -> np.ndarray:
    """One parameter class per population (trained populations rarely share biases)."""
    return np.concatenate([np.full(p.size, i) for i, p in enumerate(net.populations.values())
                           if not p.is_input])


def target_for(net: Network):
    """Boards of 4 chips, enough for one core per population part (at most 64 chips: the
    +-7 hop range)."""
    cores = sum(math.ceil(p.size / 256) for p in net.populations.values() if not p.is_input)
    chips = max(1, math.ceil(cores / 4))
    chips = 1 if chips == 1 else min(64, 4 * math.ceil(chips / 4))
    return load_target("dynapse2", chips=chips)


def index_order(problem, res) -> np.ndarray:
    """Cores in index order, one class per core (a new core when the class changes or the
    core is full)."""
    core_of = np.empty(problem.n_neurons, dtype=np.int64)
    core, fill, cls = 0, 0, problem.neuron_class[0]
    for v in range(problem.n_neurons):
        if fill == res.neurons_per_core or problem.neuron_class[v] != cls:
            core, fill, cls = core + 1, 0, problem.neuron_class[v]
        core_of[v] = core
        fill += 1
    return core_of


def best_known(problem, res, seeds=range(10)) -> float | None:
    """Mt-KaHyPar's best placement over ``seeds`` (highest-quality preset), in routed events, on
    the fewest cores that hold the network; None where its objective is not the events (several
    chips: hops; several classes: one class per core; unequal rates), where one core holds the
    network (nothing to partition), or when it is not installed."""
    cores = -(-problem.n_neurons // res.neurons_per_core)
    if (res.chips > 1 or cores < 2 or np.unique(problem.neuron_class).size > 1
            or np.ptp(problem.rate) > 0 or importlib.util.find_spec("mtkahypar") is None):
        return None
    edges, weights = class_hyperedges(problem, np.arange(problem.n_neurons))
    caps = res.core_capacity()[:cores]
    return min(events(problem, cut(problem.n_neurons, edges, weights, caps, seed,
                                   preset="HIGHEST_QUALITY"), res, HOP_COST)
               for seed in seeds)


def proven_optima(sizes: list[int], seeds: range, time_limit_s: float = 60.0) -> list[dict]:
    """Tiny ``random`` networks on 4 cores of n/4 neurons, solved to proven optimality: the
    optimum against the per-source lower bound."""
    se2 = as_resources(load_target("dynapse2", chips=1))
    rows = []
    for n in sizes:
        res = dataclasses.replace(se2, neurons_per_core=n // se2.cores_per_chip)
        for seed in seeds:
            problem = build_problem(random_sparse(n, seed, n_in=2),
                                    np.zeros(n, dtype=np.int64))
            pl = place(problem, res, PlacementOptions(seed=seed, time_limit_s=time_limit_s))
            bound = lower_bound(problem, res, HOP_COST)
            rows.append({"neurons": n, "seed": seed, "status": pl.status,
                         "optimum": pl.objective, "per_source_bound": bound,
                         "optimum_over_bound": pl.objective / bound})
    return rows


def run_one(net: Network, options: PlacementOptions, check_tables: bool, seed: int) -> dict:
    target = target_for(net)
    res = as_resources(target)
    classes = classes_of(net)
    syn = synapse_list(net)
    weights = np.concatenate([p.weights.data[p.weights.data != 0]
                              for p in net.projections.values()])
    types = np.where(weights >= 0, res.syn_types.index("AMPA"), res.syn_types.index("GABA"))
    codes = np.ones(syn.size, dtype=np.int64)
    row = {"network": net.name, "neurons": net.neurons(), "synapses": syn.size,
           "chips": res.chips}
    start = time.perf_counter()
    problem = build_problem(net, classes)
    try:
        pl = place(problem, target, options)
        tables = route(net, pl, target, types, codes)
    except NeuroccError as exc:
        row["error"] = str(exc)[:200]
        return row
    row["seconds"] = time.perf_counter() - start
    row["events"] = pl.objective
    row["bound"], row["gap"], row["method"] = pl.bound, pl.gap, pl.method
    if check_tables:
        t0 = time.perf_counter()
        report = check(tables, target, expected_synapses(net, types, codes, target.weights),
                       classes)
        row["check_ok"], row["check_seconds"] = report.ok, time.perf_counter() - t0
    t0 = time.perf_counter()
    idx = index_order(problem, res)
    row["index_seconds"] = time.perf_counter() - t0
    row["index_fits"] = bool(idx.max() < res.total_cores)
    row["index_events"] = events(problem, idx, res, HOP_COST) if row["index_fits"] else None
    row["index_tags_ok"] = problem.n_sources <= res.key_count  # one global tag per source
    t0 = time.perf_counter()
    block_of, _ = partition(problem, res, options.local_rounds, options.seed)
    row["partition_seconds"] = time.perf_counter() - t0
    row["partition_events"] = events(problem, block_of, res, HOP_COST)
    if row["index_events"]:
        row["ratio_vs_index"] = row["events"] / row["index_events"]
    if net.name.startswith("clusters-"):
        # the planted solution (cluster c on core c) bounds the optimum from above
        row["planted_events"] = events(problem, cluster_labels(net.neurons(), seed), res,
                                       HOP_COST)
        row["ratio_vs_planted"] = row["events"] / row["planted_events"]
    row["ratio_vs_partition"] = row["events"] / row["partition_events"]
    if net.neurons() <= 1024:
        reference = best_known(problem, res)
        if reference is not None:
            row["best_known_events"] = reference
            row["ratio_vs_best_known"] = row["events"] / reference
    return row


def largest_on_4_chips(options: PlacementOptions, sizes: list[int]) -> int:
    """Largest clustered network that places, routes and checks on one 4-chip SE2 board."""
    best = 0
    target = load_target("dynapse2", chips=4)
    for n in sizes:
        net = clusters(n, seed=7)
        classes = classes_of(net)
        syn = synapse_list(net)
        types = np.zeros(syn.size, dtype=np.int64)
        codes = np.ones(syn.size, dtype=np.int64)
        try:
            pl = place(build_problem(net, classes), target, options)
            tables = route(net, pl, target, types, codes)
        except NeuroccError:
            continue
        if check(tables, target, expected_synapses(net, types, codes, target.weights)).ok:
            best = max(best, n)
    return best


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a subset that runs in under a minute")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--partitioner", default="spectral", help="spectral or mtkahypar")
    args = ap.parse_args(argv)
    options = PlacementOptions(seed=args.seed, partitioner=args.partitioner)
    if args.quick:
        suite = [(f, n) for f in FAMILIES for n in (256, 1024)] + [("clusters", 4096)]
    else:
        suite = [(f, n) for f in FAMILIES for n in (256, 1024, 4096, 16384, 65536)]
    rows = []
    nets = [(FAMILIES[f](n, args.seed)) for f, n in suite]
    if not args.quick:
        nets += shared_models()
    for net in nets:
        row = run_one(net, options, check_tables=net.neurons() <= 16384, seed=args.seed)
        rows.append(row)
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v)
                          for k, v in row.items()}), file=sys.stderr)
    optima = proven_optima([12, 16] if args.quick else [12, 16, 20], range(3))
    for row in optima:
        print(json.dumps(row), file=sys.stderr)
    proven = [r["optimum_over_bound"] for r in optima if r["status"] == "OPTIMAL"]
    known = [r["ratio_vs_best_known"] for r in rows if "ratio_vs_best_known" in r]
    ratios = [r["ratio_vs_index"] for r in rows if "ratio_vs_index" in r]
    gaps = [r["gap"] for r in rows if "gap" in r and r["neurons"] <= 1024]
    by_name = {r["network"]: r for r in rows}
    big = [r for r in rows if r["neurons"] >= 65536 and "seconds" in r]
    multi = [r["ratio_vs_index"] for r in rows if "ratio_vs_index" in r and r["neurons"] > 256]
    summary = {
        "events_ratio_vs_index_order": float(np.median(ratios)) if ratios else None,
        # the same over the networks larger than one core (where placement can matter)
        "events_ratio_vs_index_order_multicore": float(np.median(multi)) if multi else None,
        "events_ratio_vs_partition": float(np.median([r["ratio_vs_partition"] for r in rows
                                                      if "ratio_vs_partition" in r])),
        "seconds_4096_se2": by_name.get("clusters-4096", {}).get("seconds"),
        "max_neurons_4chip_se2": largest_on_4_chips(
            options, [1024, 4096] if args.quick else [1024, 2048, 3072, 4096]),
        "seconds_64k": max((r["seconds"] for r in big), default=None),
        "max_gap_up_to_1k": max(gaps) if gaps else None,
        "median_gap_up_to_1k": float(np.median(gaps)) if gaps else None,
        # events / Mt-KaHyPar's best (None without it), and the proven optimum / the bound
        "max_ratio_vs_best_known_up_to_1k": max(known) if known else None,
        "median_optimum_over_bound_small": float(np.median(proven)) if proven else None,
        "checks_ok": all(r.get("check_ok", True) for r in rows),
        "failures": [r["network"] for r in rows if "error" in r],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
