"""Placement: problem building, constraints, exact optimality, determinism, quality."""

from __future__ import annotations


import numpy as np
import pytest

from neurocc.backends.target import load_target
from neurocc.compiler.errors import InvalidModelError
from neurocc.compiler.placement import PlacementOptions, place
from neurocc.compiler.placement.solver import lns
from neurocc.compiler.driver import rates_from_simulation
from neurocc.compiler.placement.problem import build_problem
from neurocc.compiler.synapses import synapse_list
from neurocc.compiler.placement.repair import repair_sram
from neurocc.compiler.placement.resources import Resources
from networks import (brute_force_optimum, clustered_net, events_by_hand, make_net, random_matrix,
                      reached, toy_resources)

FAST = PlacementOptions(time_limit_s=0.3, lns_iterations=2)


# -- helpers shared with the routing, checker and diagnostics tests ------------------------------


# -- independent recomputations (plain loops, not the code under test) --------------------------


# -- problem building ---------------------------------------------------------------------------
def test_build_problem_numbers_sources_and_merges_parallel_synapses():
    w_in = np.array([[1.0, 0.0], [0.0, 2.0], [0.5, 0.0]])
    w_hh = np.array([[0, 1, 0], [0, 0, 0], [1, 0, 0]], dtype=float)
    net = make_net([("h", 3)], [("x", "h", w_in), ("h", "h", w_hh), ("h", "h", 2 * w_hh)],
                   inputs=[("x", 2)])
    prob = build_problem(net, np.zeros(3, dtype=int))
    pairs = sorted(zip(prob.pre.tolist(), prob.post.tolist()))
    # input channel c is source 3 + c; the two h->h projections give the same pairs once
    assert pairs == [(0, 2), (1, 0), (3, 0), (3, 2), (4, 1)]
    assert prob.n_sources == 5 and np.all(prob.rate == 1.0)
    assert synapse_list(net).size == 7
    with pytest.raises(InvalidModelError, match="parameter classes"):
        build_problem(net, np.zeros(2, dtype=int))
    with pytest.raises(InvalidModelError, match="rates"):
        build_problem(net, np.zeros(3, dtype=int), rates=-np.ones(5))


def test_rates_come_from_the_reference_simulator():
    # input 0 spikes every step, input 1 never; h[0] is driven hard by input 0, h[1] by nothing
    net = make_net([("h", 2)], [("x", "h", np.array([[500.0, 0.0], [0.0, 500.0]]))],
                   inputs=[("x", 2)])
    spikes = np.zeros((50, 2))
    spikes[:, 0] = 1.0
    rate = rates_from_simulation(net, {"x": spikes})
    assert rate.shape == (4,)
    assert rate[2] == 1.0 and rate[3] == 0.0  # input channels come after the neurons
    assert rate[0] > 0.5 and rate[1] == 0.0
    prob = build_problem(net, np.zeros(2, dtype=int), rates=rate)
    assert np.array_equal(prob.rate, rate)


# -- constraints --------------------------------------------------------------------------------
@pytest.mark.parametrize("target_name", ["dynapse1", "dynapse2"])
def test_every_constraint_holds_on_a_multi_class_network(target_name):
    rng = np.random.default_rng(3)
    sizes = [("a", 300), ("b", 200), ("c", 150)]
    edges = [("x", "a", random_matrix(rng, 300, 40, 6)),
             ("a", "b", random_matrix(rng, 200, 300, 20)),
             ("b", "c", random_matrix(rng, 150, 200, 20)),
             ("c", "a", random_matrix(rng, 300, 150, 5))]
    net = make_net(sizes, edges, inputs=[("x", 40)])
    classes = np.repeat([0, 1, 2], [300, 200, 150])
    classes[::7] = 3  # a fourth class scattered over every population
    target = load_target(target_name)
    prob = build_problem(net, classes)
    pl = place(prob, target, FAST)
    core = pl.chip * target.cores_per_chip + pl.core
    hw = pl.hw
    assert np.unique(hw).size == hw.size  # one neuron per hardware neuron
    for k in np.unique(core):
        members = np.flatnonzero(core == k)
        assert members.size <= target.neurons_per_core
        assert np.unique(classes[members]).size == 1
        assert len({s for s, p in zip(prob.pre, prob.post) if core[p] == k}) <= 2048
    for s, cores in reached(prob, core).items():
        if s < prob.n_neurons:
            assert len({c // target.cores_per_chip for c in cores}) <= target.sram_usable
    for c, n in target.addressing.forbidden_sources:  # never a source at a forbidden address
        assert not np.any((pl.core == c) & (pl.slot == n))
    assert pl.objective == pytest.approx(
        events_by_hand(prob, core, _hops(target), target.cores_per_chip, FAST.hop_cost))


def _hops(target) -> np.ndarray:
    return np.array([[target.hop_distance(a, b) for b in range(target.chips)]
                     for a in range(target.chips)])


def test_a_core_sized_population_takes_exactly_one_core():
    rng = np.random.default_rng(0)
    net = make_net([("h", 256)], [("x", "h", random_matrix(rng, 256, 16, 4))],
                   inputs=[("x", 16)])
    pl = place(build_problem(net, np.zeros(256, dtype=int)), load_target("dynapse2"), FAST)
    assert np.unique(pl.core_of).size == 1


def test_key_limit_splits_cores_that_hear_too_many_sources():
    # 6 inputs each reach a different neuron; a toy core tells apart only 4 sources
    net = make_net([("h", 6)], [("x", "h", np.eye(6))], inputs=[("x", 6)])
    res = toy_resources(cores=4, npc=8, keys=4)
    pl = place(build_problem(net, np.zeros(6, dtype=int)), res, FAST)
    for k in np.unique(pl.core_of):
        assert np.count_nonzero(pl.core_of == k) <= 4


# -- optimality, bound, determinism -------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_exact_solve_matches_brute_force_and_proves_it(seed):
    rng = np.random.default_rng(seed)
    w = (rng.random((6, 6)) < 0.35).astype(float)
    np.fill_diagonal(w, 0.0)
    net = make_net([("h", 6)], [("x", "h", (rng.random((6, 2)) < 0.5).astype(float)),
                                ("h", "h", w)], inputs=[("x", 2)])
    classes = np.array([0, 0, 0, 1, 1, 1]) if seed else np.zeros(6, dtype=int)
    res = toy_resources(chips=2, cores=2, npc=2)
    prob = build_problem(net, classes, rates=rng.uniform(0.5, 2.0, 8))
    pl = place(prob, res, PlacementOptions(time_limit_s=5.0, hop_cost=0.5))
    assert pl.method == "exact" and pl.status == "OPTIMAL"
    assert pl.objective == pytest.approx(brute_force_optimum(prob, res, 0.5), rel=1e-6)
    assert pl.bound == pytest.approx(pl.objective, rel=1e-3) and pl.gap < 1e-3


@pytest.mark.parametrize("exact_max", [512, 0])  # the exact path and the hierarchical one
def test_same_seed_same_placement(exact_max):
    rng = np.random.default_rng(5)
    net, _ = clustered_net(rng, clusters=4, size=24, fan_in=8, cross=2)
    prob = build_problem(net, np.zeros(96, dtype=int))
    res = toy_resources(chips=4, cores=2, npc=16)
    options = PlacementOptions(time_limit_s=0.3, lns_iterations=2, exact_max_neurons=exact_max)
    a, b = place(prob, res, options), place(prob, res, options)
    assert a.method == ("exact" if exact_max else "hierarchical")
    assert np.array_equal(a.hw, b.hw) and a.objective == b.objective


# -- quality ------------------------------------------------------------------------------------
def index_order_events(problem, res: Resources) -> float:
    """Rockpool-style: fill cores in neuron index order (one class here)."""
    core_of = np.arange(problem.n_neurons) // res.neurons_per_core
    return events_by_hand(problem, core_of, res.hops(), res.cores_per_chip, 0.0)


def test_shuffled_clusters_beat_index_order_by_far():
    rng = np.random.default_rng(1)
    net, label = clustered_net(rng, clusters=4, size=256, fan_in=24, cross=2)
    prob = build_problem(net, np.zeros(1024, dtype=int))
    res = toy_resources(chips=1, cores=4, npc=256)
    pl = place(prob, res, PlacementOptions(time_limit_s=0.3, hop_cost=0.0, lns_iterations=1,
                                           exact_max_neurons=0))
    assert pl.objective <= 0.6 * index_order_events(prob, res)
    # the clusters are found: each core is dominated by one cluster
    purity = [np.bincount(label[pl.core_of == k]).max() / np.count_nonzero(pl.core_of == k)
              for k in np.unique(pl.core_of)]
    assert min(purity) > 0.9


def test_lns_never_worsens_and_improves_a_poor_start():
    rng = np.random.default_rng(2)
    net, _ = clustered_net(rng, clusters=3, size=40, fan_in=10, cross=1)
    prob = build_problem(net, np.zeros(120, dtype=int))
    res = toy_resources(chips=2, cores=2, npc=40)
    start = np.arange(120) // 40  # index order: clusters shuffled across cores
    hop = res.hops()
    before = events_by_hand(prob, start, hop, 2, 1.0)
    after_core = lns(prob, res, PlacementOptions(lns_iterations=3, lns_neurons=80), start,
                     budget=0.6)
    after = events_by_hand(prob, after_core, hop, 2, 1.0)
    assert after < before
    assert np.all(np.bincount(after_core, minlength=4) <= 40)


def test_sram_repair_moves_a_stray_target_onto_a_reached_chip():
    # neuron 0 reaches chips 1, 2 and 3 (one stray target, neuron 5, on chip 3); 2 SRAM entries
    w = np.zeros((8, 8))
    w[[1, 2, 3, 4, 5], 0] = 1.0
    net = make_net([("h", 8)], [("h", "h", w)])
    res = toy_resources(chips=4, cores=1, npc=4, sram=2)
    core_of = np.array([0, 1, 1, 2, 2, 3, 3, 3])
    prob = build_problem(net, np.zeros(8, dtype=int))
    fixed = repair_sram(prob, core_of, res)
    assert len({int(fixed[t]) for t in (1, 2, 3, 4, 5)}) == 2
    assert np.all(np.bincount(fixed, minlength=4) <= 4)
    # when the stray target's class differs from every reached core's, nothing may move
    other = build_problem(net, np.array([0, 0, 0, 0, 0, 1, 1, 1]))
    assert np.array_equal(repair_sram(other, core_of, res), core_of)
