"""Routing: tags (with reuse), SE1 addresses free of clashes, CAM and SRAM rows."""

from __future__ import annotations

import numpy as np
import pytest

from neurocc.backends.target import load_target
from neurocc.compiler.checker import check, expected_synapses
from neurocc.compiler.errors import InvalidModelError
from neurocc.compiler.placement import PlacementOptions, place
from neurocc.compiler.placement.problem import build_problem
from neurocc.compiler.synapses import synapse_list
from neurocc.compiler.placement.resources import as_resources
from neurocc.compiler.routing import route
from networks import make_net, manual_placement, random_matrix, toy_resources

OPTIONS = PlacementOptions(time_limit_s=0.3, lns_iterations=1, exact_max_neurons=0)


def route_and_check(net, pl, target, codes=None, repeats=None):
    syn = synapse_list(net)
    types = np.zeros(syn.size, dtype=np.int64)
    codes = np.ones(syn.size, dtype=np.int64) if codes is None else codes
    tables = route(net, pl, target, types, codes, repeats)
    scheme = as_resources(target).weights
    report = check(tables, target, expected_synapses(net, types, codes, scheme, repeats),
                   pl.neuron_class)
    assert report.ok, report.summary()
    return tables


def test_tags_are_reused_across_cores_beyond_the_tag_count():
    # 2,100 input channels > 2,048 tags: each core hears fewer than 2,048, so tags are reused
    rng = np.random.default_rng(0)
    w = np.zeros((512, 2100))
    w[np.arange(2100) * 512 // 2100 % 512, np.arange(2100)] = 1.0
    w[:, :50] += random_matrix(rng, 512, 50, 2)
    net = make_net([("h", 512)], [("x", "h", w)], inputs=[("x", 2100)])
    target = load_target("dynapse2")
    pl = place(build_problem(net, np.zeros(512, dtype=int)), target, OPTIONS)
    tables = route_and_check(net, pl, target)
    assert tables.sram_key.max() < 2048
    keys, counts = np.unique(tables.sram_key, return_counts=True)
    assert counts.max() >= 2  # one tag serves several sources, on disjoint cores
    shared = keys[counts >= 2][0]
    rows = np.flatnonzero(tables.sram_key == shared)
    cores = [(int(tables.sram_chip[r]), int(tables.sram_cores[r])) for r in rows]
    for i in range(len(cores)):
        for j in range(i + 1, len(cores)):
            assert cores[i][0] != cores[j][0] or not cores[i][1] & cores[j][1]


def test_tag_colouring_with_a_tiny_tag_space():
    # 6 sources, 4 tags: feasible only because the two cores reuse tags
    w = np.zeros((8, 6))
    w[:4, :3] = 1.0
    w[4:, 3:] = 1.0
    net = make_net([("h", 8)], [("x", "h", w)], inputs=[("x", 6)])
    res = toy_resources(chips=1, cores=2, npc=4, keys=4)
    pl = manual_placement(res, [0] * 8, [0] * 4 + [1] * 4, list(range(4)) * 2)
    tables = route_and_check(net, pl, res)
    assert tables.sram_key.max() < 4 and np.unique(tables.sram_key).size == 3


def test_se1_same_address_on_two_chips_gets_distinct_virtual_cores():
    # neurons 0 and 1 sit at (core 1, slot 5) of chips 0 and 1; both reach neuron 2
    target = load_target("dynapse1")
    w = np.zeros((3, 3))
    w[2, 0] = w[2, 1] = 1.0
    net = make_net([("h", 3)], [("h", "h", w)])
    pl = manual_placement(target, chip=[0, 1, 0], core=[1, 1, 2], slot=[5, 5, 7])
    tables = route_and_check(net, pl, target)
    keys = tables.sram_key
    assert keys.size == 2 and keys[0] != keys[1]  # the naive real-core address would clash
    assert np.all(keys % 256 == 5)  # only the virtual core differs
    assert 1 * 256 + 5 in keys.tolist()  # one of them keeps its real core


def test_se1_many_source_cores_reaching_one_core_are_balanced_over_slots():
    # five source cores (five classes) of 200 neurons all feed one 64-neuron core: 1,000
    # sources share 1,023 addresses, so slots must be spread and virtual cores chosen well
    rng = np.random.default_rng(1)
    pops = [(f"s{i}", 200) for i in range(5)] + [("d", 64)]
    w = np.zeros((64, 1000))
    for j in range(1000):
        w[(3 * j + np.arange(3)) % 64, j] = 1.0  # fan-in <= 47 per target
    w = w[:, rng.permutation(1000)]
    edges = [(f"s{i}", "d", w[:, 200 * i:200 * (i + 1)]) for i in range(5)]
    net = make_net(pops, edges)
    classes = np.repeat(np.arange(6), [200] * 5 + [64])
    target = load_target("dynapse1")
    pl = place(build_problem(net, classes), target, OPTIONS)
    tables = route_and_check(net, pl, target)
    dest = tables.neuron_hw[1000] // 256
    to_dest = np.flatnonzero(((tables.sram_cores >> (dest % 4)) & 1 == 1)
                             & (tables.sram_chip == dest // 4))
    assert np.unique(tables.sram_key[to_dest]).size == to_dest.size == 1000
    assert 0 not in tables.sram_key.tolist()


def test_cam_rows_follow_the_weight_scheme():
    w = np.array([[1.0, 1.0, 1.0]])
    net = make_net([("h", 1)], [("x", "h", w)], inputs=[("x", 3)])
    se1 = load_target("dynapse1")
    pl = manual_placement(se1, [0], [1], [3])
    tables = route_and_check(net, pl, se1, codes=np.array([3, 0, 1]))
    assert tables.cam_post.size == 4 and np.all(tables.cam_code == 1)  # counts 3 + 0 + 1
    assert tables.sram_src.size == 2  # the channel with count 0 sends nothing
    se2 = load_target("dynapse2")
    pl = manual_placement(se2, [0], [1], [3])
    tables = route_and_check(net, pl, se2, codes=np.array([5, 9, 0]),
                             repeats=np.array([2, 1, 4]))
    assert sorted(tables.cam_code.tolist()) == [5, 5, 9]


def test_one_sram_entry_per_destination_chip_with_its_core_mask():
    target = load_target("dynapse2")
    w = np.zeros((4, 4))
    w[1:, 0] = 1.0  # neuron 0 -> neurons 1, 2, 3
    net = make_net([("h", 4)], [("h", "h", w)])
    pl = manual_placement(target, chip=[0, 1, 1, 2], core=[0, 0, 3, 1], slot=[0, 0, 0, 0])
    tables = route_and_check(net, pl, target)
    rows = sorted(zip(tables.sram_chip.tolist(), tables.sram_cores.tolist()))
    assert rows == [(1, 0b1001), (2, 0b0010)]


def test_bad_per_synapse_arrays_are_rejected_clearly():
    target = load_target("dynapse2")
    net = make_net([("h", 2)], [("x", "h", np.ones((2, 2)))], inputs=[("x", 2)])
    pl = manual_placement(target, [0, 0], [0, 0], [0, 1])
    with pytest.raises(InvalidModelError, match="3 synapse types given for 4 synapses"):
        route(net, pl, target, np.zeros(3, int), np.ones(4, int))
    with pytest.raises(InvalidModelError, match="weight codes must be in 0..15"):
        route(net, pl, target, np.zeros(4, int), np.full(4, 16))
    with pytest.raises(InvalidModelError, match="no synapse types given for projection"):
        route(net, pl, target, {}, np.ones(4, int))
