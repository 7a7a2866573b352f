"""The Mt-KaHyPar partitioner (``--partitioner mtkahypar``): hyperedges, capacities, classes,
determinism across thread counts, quality on planted clusters, and its errors."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neurocc.compiler.placement import hypergraph as placement_hypergraph
from neurocc.compiler.errors import UnsupportedError
from neurocc.compiler.placement import PlacementOptions, place
from neurocc.compiler.placement.cost import events
from neurocc.compiler.placement.hypergraph import (RATE_LEVELS, class_hyperedges,
                                                   fit_capacities, hypergraph_blocks)
from neurocc.compiler.placement.partition import partition, plan_blocks
from neurocc.compiler.placement.problem import build_problem
import networks
from networks import REPO, clustered_net, make_net, toy_resources


TINY = REPO / "examples" / "tiny.ncl"
needs_mtkahypar = pytest.mark.skipif(
    importlib.util.find_spec("mtkahypar") is None,
    reason="Mt-KaHyPar not installed (pip install -e '.[partition]'; CI installs it)")


def test_class_hyperedges_are_distinct_targets_of_live_sources():
    # sources: input 0 -> h0,h1, input 1 -> h2 only, h0 -> h1,h2,h3
    w_in = np.array([[1, 0], [1, 0], [0, 1], [0, 0]], dtype=float)
    w_rec = np.zeros((4, 4))
    w_rec[[1, 2, 3], 0] = 1.0
    net = make_net([("h", 4)], [("x", "h", w_in), ("h", "h", w_rec)], inputs=[("x", 2)])
    rates = np.array([0.5, 0.0, 0.0, 0.0, 0.25, 0.1])  # neurons h0..h3, then inputs x0, x1
    problem = build_problem(net, np.zeros(4, dtype=np.int64), rates=rates)
    edges, weights = class_hyperedges(problem, np.arange(4))
    # h0's hyperedge (rate 0.5) and x0's (0.25); x1 has one target, h1..h3 none or rate 0
    assert sorted(map(sorted, edges)) == [[0, 1], [1, 2, 3]]
    assert sorted(weights) == [RATE_LEVELS // 2, RATE_LEVELS]
    # restricted to members {1, 2}: only h0 keeps two targets, in local indices
    edges, _ = class_hyperedges(problem, np.array([1, 2]))
    assert edges == [[0, 1]]


def test_fit_capacities_moves_only_the_excess():
    caps = np.array([3, 3, 3])
    parts = np.array([0, 0, 0, 0, 0, 1, 2])
    fitted = fit_capacities(parts, caps)
    assert (np.bincount(fitted, minlength=3) <= caps).all()
    assert (fitted[:3] == 0).all() and (fitted[5:] == parts[5:]).all()
    within = np.array([0, 1, 2, 0])
    assert np.array_equal(fit_capacities(within, caps), within)


@needs_mtkahypar
def test_blocks_respect_classes_and_capacities():
    rng = np.random.default_rng(3)
    net, _ = clustered_net(rng, clusters=4, size=8, fan_in=5, cross=1)
    classes = np.arange(32) % 2  # two classes interleaved in index order
    problem = build_problem(net, classes)
    res = toy_resources(chips=1, cores=8, npc=8)
    layout = plan_blocks(problem, res)
    block_of = hypergraph_blocks(problem, layout, seed=0)
    assert (np.bincount(block_of, minlength=layout.size) <= layout.block_cap).all()
    assert (layout.block_class[block_of] == classes).all()


@needs_mtkahypar
def test_recovers_planted_clusters_and_is_deterministic():
    rng = np.random.default_rng(0)
    net, label = clustered_net(rng, clusters=4, size=16, fan_in=8, cross=1)
    problem = build_problem(net, np.zeros(64, dtype=np.int64))
    res = toy_resources(chips=1, cores=4, npc=16)
    layout = plan_blocks(problem, res)
    first = hypergraph_blocks(problem, layout, seed=0)
    assert np.array_equal(first, hypergraph_blocks(problem, layout, seed=0))
    assert events(problem, first, res, 1.0) <= events(problem, label, res, 1.0)
    # the placement built on it keeps that quality and reports the same objective twice
    options = PlacementOptions(partitioner="mtkahypar", time_limit_s=0.3)
    a, b = place(problem, res, options), place(problem, res, options)
    assert np.array_equal(a.hw, b.hw) and a.objective <= events(problem, label, res, 1.0)


@needs_mtkahypar
def test_same_blocks_with_one_thread(tmp_path):
    """The deterministic preset: a process with a one-thread pool cuts the same blocks."""
    rng = np.random.default_rng(1)
    net, _ = clustered_net(rng, clusters=4, size=16, fan_in=8, cross=2)
    problem = build_problem(net, np.zeros(64, dtype=np.int64))
    layout = plan_blocks(problem, toy_resources(chips=1, cores=4, npc=16))
    np.savez(tmp_path / "p.npz", pre=problem.pre, post=problem.post)
    here = hypergraph_blocks(problem, layout, seed=5)
    script = f"""
import os, sys, numpy as np
os.cpu_count = lambda: 1
sys.path.insert(0, {str(Path(networks.__file__).parent)!r})
from networks import clustered_net, toy_resources
from neurocc.compiler.placement.hypergraph import hypergraph_blocks
from neurocc.compiler.placement.partition import plan_blocks
from neurocc.compiler.placement.problem import build_problem
net, _ = clustered_net(np.random.default_rng(1), clusters=4, size=16, fan_in=8, cross=2)
problem = build_problem(net, np.zeros(64, dtype=np.int64))
layout = plan_blocks(problem, toy_resources(chips=1, cores=4, npc=16))
print(hypergraph_blocks(problem, layout, seed=5).tolist())
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    assert json.loads(out) == here.tolist()


def test_unknown_partitioner_is_named():
    net = make_net([("h", 4)], [("h", "h", np.eye(4)[::-1])])
    problem = build_problem(net, np.zeros(4, dtype=np.int64))
    with pytest.raises(UnsupportedError, match="partitioner 'metis' unknown.*spectral, mtkahypar"):
        partition(problem, toy_resources(), rounds=1, partitioner="metis")


def test_missing_mtkahypar_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mtkahypar", None)  # import fails
    placement_hypergraph._mtkahypar.cache_clear()
    try:
        with pytest.raises(UnsupportedError, match=r"neurocc\[partition\]"):
            placement_hypergraph._mtkahypar()
    finally:
        placement_hypergraph._mtkahypar.cache_clear()


@needs_mtkahypar
def test_cli_partitioner_option_reaches_the_report(tmp_path, cli):
    code, _, _ = cli(["compile", str(TINY), "-o", str(tmp_path), "--partitioner", "mtkahypar"])
    report = json.loads((tmp_path / "report.json").read_text())
    assert code == 0 and report["solver"]["partitioner"] == "mtkahypar" and report["checker_ok"]
    code, out, err = cli(["compile", str(TINY), "-o", str(tmp_path / "bad"), "--partitioner",
                          "metis"])
    assert code == 2 and "partitioner 'metis' unknown" in " ".join(err.split())
    assert "Traceback" not in err and not (tmp_path / "bad").exists()
