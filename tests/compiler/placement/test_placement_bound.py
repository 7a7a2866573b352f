"""The placement lower bound is valid: never above the brute-force optimum, never above a found
placement, and strictly above the hop-free bound where hops are unavoidable."""

from __future__ import annotations


import numpy as np
import pytest

from neurocc.compiler.placement import PlacementOptions, place
from neurocc.compiler.placement.bound import cheapest_remote, lower_bound
from neurocc.compiler.placement.problem import build_problem
from networks import brute_force_optimum, make_net, random_matrix, toy_resources



def small_instance(seed: int):
    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(1, 4)), int(rng.integers(1, 3))]
    pops = [("a", sizes[0]), ("b", sizes[1])]
    edges = [("x", "a", random_matrix(rng, sizes[0], 2, 1)),
             ("a", "b", random_matrix(rng, sizes[1], sizes[0], int(rng.integers(1, 3)))),
             ("b", "a", random_matrix(rng, sizes[0], sizes[1], 1))]
    net = make_net(pops, edges, inputs=[("x", 2)])
    classes = rng.integers(0, 2, net.neurons())
    rates = rng.uniform(0.1, 2.0, net.neurons() + 2)
    return build_problem(net, classes, rates=rates)


@pytest.mark.parametrize("seed", range(12))
def test_bound_never_exceeds_the_brute_force_optimum(seed):
    problem = small_instance(seed)
    res = toy_resources(chips=3, cores=2, npc=2, grid=[(0, 0), (1, 0), (2, 0)])
    optimum = brute_force_optimum(problem, res, hop_cost=1.5)
    assert lower_bound(problem, res, 1.5) <= optimum + 1e-9


def test_bound_is_reached_when_one_source_must_spill_onto_the_next_chip():
    """One neuron with 5 targets of another class, cores of 1 neuron, chips of 2 cores: its own
    core takes no target, one core of its chip does, the other 4 sit one hop (cost 2) or more
    away. The bound says 1 + 4 * 2 = 9, and so does the exact optimum."""
    w = np.ones((5, 1))
    net = make_net([("s", 1), ("t", 5)], [("s", "t", w)])
    problem = build_problem(net, np.array([0, 1, 1, 1, 1, 1]))
    res = toy_resources(chips=4, cores=2, npc=1, grid=[(1, 0), (0, 0), (2, 0), (3, 0)])
    assert lower_bound(problem, res, 0.0) == 5.0
    assert lower_bound(problem, res, 1.0) == 9.0
    assert brute_force_optimum(problem, res, 1.0) == 9.0


def test_cheapest_remote_takes_the_nearest_chips_of_the_best_source_chip():
    res = toy_resources(chips=3, cores=2, npc=4, grid=[(0, 0), (1, 0), (2, 0)])
    # from the middle chip: 4 cores one hop away (cost 2 each); from an end chip 2 at 2, 2 at 3
    assert cheapest_remote(res, 1.0).tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]


@pytest.mark.parametrize("seed", range(3))
def test_bound_never_exceeds_a_found_placement_on_larger_networks(seed):
    rng = np.random.default_rng(100 + seed)
    net = make_net([("h", 40), ("o", 24)],
                   [("x", "h", random_matrix(rng, 40, 8, 3)),
                    ("h", "h", random_matrix(rng, 40, 40, 6)),
                    ("h", "o", random_matrix(rng, 24, 40, 12))], inputs=[("x", 8)])
    problem = build_problem(net, np.repeat([0, 1], [40, 24]))
    res = toy_resources(chips=4, cores=2, npc=8, grid=[(0, 0), (1, 0), (0, 1), (1, 1)])
    pl = place(problem, res, PlacementOptions(seed=seed, time_limit_s=0.3, lns_iterations=2))
    assert lower_bound(problem, res, 1.0) <= pl.objective + 1e-9
    assert pl.bound >= lower_bound(problem, res, 1.0) - 1e-9
