"""Over-capacity networks get one message: resource, who, by how much, and the fix."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from neurocc.backends.target import load_target
from neurocc.compiler.errors import CapacityError, InfeasibleError
from neurocc.compiler.placement import PlacementOptions, place
from neurocc.compiler.placement.problem import build_problem
from networks import make_net, random_matrix, toy_resources

OPTIONS = PlacementOptions(time_limit_s=0.5, lns_iterations=1)


def test_too_many_classes_for_the_cores():
    rng = np.random.default_rng(0)
    net = make_net([("a", 600), ("b", 500)], [("x", "a", random_matrix(rng, 600, 8, 2)),
                                              ("a", "b", random_matrix(rng, 500, 600, 4))],
                   inputs=[("x", 8)])
    classes = np.repeat([0, 1], [600, 500])
    with pytest.raises(CapacityError) as err:
        place(build_problem(net, classes), load_target("dynapse2", chips=1), OPTIONS)
    text = str(err.value)
    assert "not enough cores" in text and "need 5 cores" in text and "short by 1" in text
    assert "population 'a' (600)" in text and "population 'b' (500)" in text
    assert "Fix: pass --chips 2" in text and "--class-tolerance" not in text


def test_fan_in_over_the_cam_names_the_neurons_and_the_excess():
    w = np.zeros((4, 80))
    w[3, :70] = 1.0  # h[3] needs 70 entries
    w[1, :66] = 1.0
    net = make_net([("h", 4)], [("x", "h", w)], inputs=[("x", 80)])
    with pytest.raises(CapacityError) as err:
        place(build_problem(net, np.zeros(4, int)), load_target("dynapse2"), OPTIONS)
    text = str(err.value)
    assert "CAM overflow: 2 neurons need more than 64" in text
    assert "h[3]: 70 entries (6 over)" in text and "h[1]: 66 entries (2 over)" in text
    assert "population 'h' (2)" in text and "--max-fanin prune" in text


def test_repeated_entries_count_against_the_cam():
    net = make_net([("h", 2)], [("x", "h", np.ones((2, 40)))], inputs=[("x", 40)])
    cam = np.array([40, 80])  # h[1]'s weights need two entries each
    with pytest.raises(CapacityError, match=r"h\[1\]: 80 entries \(16 over\)"):
        place(build_problem(net, np.zeros(2, int), cam), load_target("dynapse2"), OPTIONS)


def test_fan_out_over_the_sram_before_solving():
    # one neuron drives 5 populations of 5 classes, each a full core: 5 cores need 2 chips
    # of 4 cores... on a toy target of 1-core chips they need 5 chips, SRAM allows 3
    pops = [("s", 1)] + [(f"t{i}", 4) for i in range(5)]
    edges = [("s", f"t{i}", np.ones((4, 1))) for i in range(5)]
    net = make_net(pops, edges)
    classes = np.repeat(np.arange(6), [1] + [4] * 5)
    res = dataclasses.replace(toy_resources(chips=6, cores=1, npc=4, sram=3), sram_entries=4)
    with pytest.raises(CapacityError) as err:
        place(build_problem(net, classes), res, OPTIONS)
    text = str(err.value)
    assert "SRAM (fan-out) overflow" in text and "s[0]: 5 chips (2 over)" in text
    assert "--sram-usable 4" in text


def test_too_many_distinct_sources_for_one_core():
    # 6 input channels all reach the one neuron of a one-core toy target telling apart 4
    net = make_net([("h", 1)], [("x", "h", np.ones((1, 6)))], inputs=[("x", 6)])
    res = toy_resources(chips=1, cores=1, npc=4, keys=4)
    with pytest.raises((CapacityError, InfeasibleError)) as err:
        place(build_problem(net, np.zeros(1, int)), res, OPTIONS)
    text = str(err.value)
    assert "too many distinct sources per core" in text and "6 sources (2 over)" in text
    assert "population 'h' (1)" in text and "more chips" in text


def test_infeasible_core_names_sram_when_no_single_bound_fails():
    # a -> {x, y}, b -> {y, z}: each source alone fits one chip (cores of 2), but x, y, z
    # cannot all share one; with one SRAM entry per neuron no placement exists
    w = np.zeros((5, 5))
    w[[2, 3], 0] = 1.0
    w[[3, 4], 1] = 1.0
    net = make_net([("n", 5)], [("n", "n", w)])
    res = toy_resources(chips=4, cores=1, npc=2, sram=1)
    with pytest.raises(InfeasibleError) as err:
        place(build_problem(net, np.zeros(5, int)), res, PlacementOptions(time_limit_s=2.0))
    text = str(err.value)
    assert "SRAM (fan-out) overflow" in text and "in every placement" in text
    assert "(1 over)" in text and ("n[0]" in text or "n[1]" in text)


def test_chips_beyond_the_hop_range_are_refused():
    net = make_net([("h", 2)], [("x", "h", np.ones((2, 1)))], inputs=[("x", 1)])
    res = toy_resources(chips=2, grid=[(0, 0), (9, 0)])
    with pytest.raises(CapacityError, match=r"cannot reach each other within the hop range"):
        place(build_problem(net, np.zeros(2, int)), res, OPTIONS)
