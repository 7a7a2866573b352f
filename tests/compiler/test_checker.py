"""The independent checker catches every kind of broken table."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from neurocc.backends.target import WeightScheme, load_target
from neurocc.compiler.checker import check, expected_synapses
from neurocc.compiler.errors import ConfigError
from neurocc.compiler.placement.resources import as_resources
from neurocc.compiler.routing import route
from neurocc.compiler.tables import CoreConfig
from networks import make_net, manual_placement


def small_case(target_name: str):
    """Inputs x[0..2] and neurons h[0..5] on two chips; every synapse has its own code."""
    target = load_target(target_name)
    w_in = np.zeros((6, 3))
    w_in[[0, 1, 2], [0, 1, 2]] = 1.0
    w_in[4, 0] = 1.0
    w_hh = np.zeros((6, 6))
    w_hh[[3, 4, 5, 5], [0, 1, 2, 3]] = 1.0
    net = make_net([("h", 6)], [("x", "h", w_in), ("h", "h", w_hh)], inputs=[("x", 3)])
    pl = manual_placement(target, chip=[0, 0, 1, 1, 0, 1], core=[1, 2, 1, 2, 3, 3],
                          slot=[5, 9, 5, 9, 1, 2])
    n_syn = 8
    types = np.array([0, 0, 0, 0, 1, 1, 0, 1])
    codes = np.array([1, 2, 3, 4, 5, 6, 7, 8]) if target_name == "dynapse2" else \
        np.array([1, 2, 3, 1, 2, 3, 1, 2])
    assert codes.size == n_syn
    tables = route(net, pl, target, types, codes)
    expected = expected_synapses(net, types, codes, as_resources(target).weights)
    return target, tables, expected, pl.neuron_class


@pytest.fixture(params=["dynapse1", "dynapse2"])
def case(request):
    return small_case(request.param)


def test_correct_tables_pass(case):
    target, tables, expected, classes = case
    report = check(tables, target, expected, classes)
    assert report.ok, report.summary()
    report.raise_if_failed()  # no exception


def test_expected_synapses_expand_counts_and_repeats():
    net = make_net([("h", 1)], [("x", "h", np.ones((1, 3)))], inputs=[("x", 3)])
    e = expected_synapses(net, np.zeros(3, int), np.array([3, 0, 1]),
                          WeightScheme("count", 0, 0, True))
    assert sorted(zip(e.pre.tolist(), e.code.tolist(), e.count.tolist())) == [(-3, 1, 1),
                                                                              (-1, 1, 3)]
    e = expected_synapses(net, np.zeros(3, int), np.array([7, 0, 2]),
                          WeightScheme("base_sum", 4, 4, True),
                          repeats=np.array([2, 5, 1]))
    assert sorted(zip(e.pre.tolist(), e.code.tolist(), e.count.tolist())) == [(-3, 2, 1),
                                                                              (-1, 7, 2)]


def broken(tables, **changes):
    t = copy.deepcopy(tables)
    for name, value in changes.items():
        setattr(t, name, value)
    return t


def test_missing_cam_entry_is_reported(case):
    target, t, exp, _ = case
    bad = broken(t, cam_post=t.cam_post[1:], cam_key=t.cam_key[1:], cam_type=t.cam_type[1:],
                 cam_code=t.cam_code[1:])
    report = check(bad, target, exp)
    assert len(report.missing) == 1 and not report.extra
    assert "1 missing" in report.summary()


def test_duplicate_sram_entry_double_delivers(case):
    target, t, exp, _ = case
    cat = (lambda a: np.concatenate([a, a[:1]]))
    bad = broken(t, sram_src=cat(t.sram_src), sram_key=cat(t.sram_key),
                 sram_chip=cat(t.sram_chip), sram_cores=cat(t.sram_cores))
    report = check(bad, target, exp)
    assert report.extra and not report.missing


def test_aliased_key_is_an_extra_synapse_and_a_clash(case):
    target, t, exp, _ = case
    # make source row 1 send the key of row 0, to the same chip and cores
    key, chip, cores = t.sram_key.copy(), t.sram_chip.copy(), t.sram_cores.copy()
    key[1], chip[1], cores[1] = key[0], chip[0], cores[0]
    report = check(broken(t, sram_key=key, sram_chip=chip, sram_cores=cores), target, exp)
    assert report.extra and report.missing
    assert any("CAM clash" in v for v in report.violations)


def test_wrong_weight_code_is_missing_plus_extra(case):
    target, t, exp, _ = case
    code = t.cam_code.copy()
    typ = t.cam_type.copy()
    typ[0] = 1 - typ[0]
    report = check(broken(t, cam_type=typ), target, exp)
    assert len(report.missing) == 1 and len(report.extra) == 1
    if target.name == "dynapse2":
        code[0] = 15 if code[0] != 15 else 14
        report = check(broken(t, cam_code=code), target, exp)
        assert len(report.missing) == 1 and len(report.extra) == 1


def test_cam_overflow_is_a_violation(case):
    target, t, exp, _ = case
    n = target.cam_per_neuron + 1
    post = np.full(n, t.cam_post[0])
    bad = broken(t, cam_post=np.concatenate([t.cam_post, post]),
                 cam_key=np.concatenate([t.cam_key, np.full(n, 3)]),
                 cam_type=np.concatenate([t.cam_type, np.zeros(n, int)]),
                 cam_code=np.concatenate([t.cam_code, np.ones(n, int)]))
    assert any("CAM overflow" in v for v in check(bad, target, exp).violations)


def test_sram_overflow_is_a_violation(case):
    target, t, exp, _ = case
    n = target.sram_usable + 1
    src = np.flatnonzero(t.sram_src >= 0)[0]
    rep = (lambda a, v: np.concatenate([a, np.full(n, v)]))
    bad = broken(t, sram_src=rep(t.sram_src, t.sram_src[src]),
                 sram_key=rep(t.sram_key, t.sram_key[src]), sram_chip=rep(t.sram_chip, 3),
                 sram_cores=rep(t.sram_cores, 1))
    report = check(bad, target, exp)
    assert any("SRAM overflow" in v for v in report.violations)


def test_key_out_of_range_or_forbidden_is_a_violation(case):
    target, t, exp, _ = case
    res = as_resources(target)
    key = t.cam_key.copy()
    key[0] = res.key_count
    assert any("CAM keys outside" in v for v in check(broken(t, cam_key=key), target,
                                                       exp).violations)
    if res.forbidden_keys:
        skey = t.sram_key.copy()
        skey[0] = res.forbidden_keys[0]
        assert any("forbidden key" in v for v in check(broken(t, sram_key=skey), target,
                                                        exp).violations)


def test_se1_source_at_the_forbidden_address_or_wrong_slot_in_key():
    target, t, exp, _ = small_case("dynapse1")
    hw = t.neuron_hw.copy()
    hw[0] = 0  # neuron 0 (a source) onto chip 0, core 0, neuron 0
    src = np.where(t.sram_src == t.neuron_hw[0], 0, t.sram_src)
    report = check(broken(t, neuron_hw=hw, sram_src=src), target, exp)
    assert any("forbidden source address" in v for v in report.violations)
    key = t.sram_key.copy()
    key[np.flatnonzero(t.sram_src >= 0)[0]] += 1  # slot part no longer the source's slot
    report = check(broken(t, sram_key=key), target, exp)
    assert any("virtual core, own slot" in v for v in report.violations)


def test_two_neurons_on_one_hardware_neuron_is_a_violation(case):
    target, t, exp, _ = case
    hw = t.neuron_hw.copy()
    hw[1] = hw[0]
    assert any("hold several IR neurons" in v for v in
               check(broken(t, neuron_hw=hw), target, exp).violations)


def test_hop_range_is_checked():
    target, t, exp, _ = small_case("dynapse2")
    far = dataclasses.replace(as_resources(target),
                              chip_xy=np.array([[0, 0], [0, 1], [9, 0], [9, 1]]))
    row = np.flatnonzero((t.sram_src >= 0) & (t.sram_chip == 1))[0]
    chip = t.sram_chip.copy()
    chip[row] = 2
    assert any("beyond the hop range" in v for v in
               check(broken(t, sram_chip=chip), far, exp).violations)


def test_core_class_mismatch_is_a_violation(case):
    target, t, exp, classes = case
    cores = dict(t.cores)
    (chip, core), cfg = next(iter(cores.items()))
    cores[(chip, core)] = CoreConfig(chip=chip, core=core, parameter_class=7)
    report = check(broken(t, cores=cores), target, exp, classes)
    assert any("parameter class 7" in v for v in report.violations)


def test_raise_if_failed_names_the_problem(case):
    target, t, exp, _ = case
    bad = broken(t, cam_post=t.cam_post[1:], cam_key=t.cam_key[1:], cam_type=t.cam_type[1:],
                 cam_code=t.cam_code[1:])
    with pytest.raises(ConfigError, match="1 missing synapse entries"):
        check(bad, target, exp).raise_if_failed()
