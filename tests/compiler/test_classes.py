"""Parameter classes: tolerance held for every neuron, optimal in 1-D, shared across populations."""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from neurocc.backends.target import load_target
from neurocc.compiler.biasgen import assign_bias, bias_table
from neurocc.compiler.circuits import (CircuitMap, CircuitOptions, PopulationCircuits,
                                       map_circuits)
from neurocc.compiler.classes import assign_classes, class_biases, fit_to_cores
from neurocc.compiler.errors import TargetError
from neurocc.compiler.ir import Network, Projection, make_population
from networks import REPO

SE1, SE2 = load_target("dynapse1"), load_target("dynapse2")


def _one_role_map(values: np.ndarray, role: str = "I_tau_mem") -> CircuitMap:
    pc = PopulationCircuits("p", "LIF", values.size, MappingProxyType({role: values}), ())
    return CircuitMap(target="t", options=CircuitOptions(), dt=1e-4,
                      populations=MappingProxyType({"p": pc}), projections=MappingProxyType({}))


def _optimum_1d(values: np.ndarray, grid: np.ndarray, t: float) -> int:
    """Independent optimum: DP over sorted values; a run i..j fits one representable current
    iff some table value lies in [x_j (1 - t), x_i (1 + t)]."""
    x = np.unique(values)
    best = np.full(x.size + 1, np.inf)
    best[0] = 0
    for j in range(x.size):
        for i in range(j + 1):
            lo, hi = x[j] * (1 - t), x[i] * (1 + t)
            k = np.searchsorted(grid, lo, side="left")
            if k < grid.size and grid[k] <= hi:
                best[j + 1] = min(best[j + 1], best[i] + 1)
    return int(best[-1])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 40), tol=st.sampled_from([0.02, 0.03, 0.05]),
       span=st.floats(0.05, 3.0))
def test_one_dimension_is_optimal(seed, n, tol, span):
    rng = np.random.default_rng(seed)
    values = 1e-10 * np.exp(rng.uniform(0, span, n))
    classes = assign_classes(_one_role_map(values), SE2, tolerance=tol)
    grid = bias_table(SE2, "SOIF_LEAK_N").distinct
    assert classes.n_classes == _optimum_1d(values, grid, tol) == classes.lower_bound
    assert np.all(classes.max_error <= tol * (1 + 1e-9))


def test_separated_groups_give_exactly_one_class_each():
    rng = np.random.default_rng(1)
    centres = 1e-10 * 2.0 ** np.arange(6)
    values = np.concatenate([c * (1 + rng.uniform(-0.015, 0.015, 20)) for c in centres])
    classes = assign_classes(_one_role_map(values), SE1, tolerance=0.05)
    assert classes.n_classes == 6
    assert np.array_equal(np.unique(classes.class_of[:20]), [classes.class_of[0]])


def _two_population_net(seed: int = 0, n: int = 60, same: bool = False) -> Network:
    rng = np.random.default_rng(seed)
    net = Network(dt=1e-4)
    net.add_population(make_population("in", "input", 3))
    b = dict(tau_mem=2e-3, tau_syn=5e-4, bias=0.2)
    a = b if same else dict(tau_mem=rng.uniform(1e-3, 3e-3, n),
                            tau_syn=rng.uniform(3e-4, 6e-4, n), bias=rng.uniform(0, 0.5, n))
    net.add_population(make_population("a", "CubaLIF", n, **a))
    net.add_population(make_population("b", "CubaLIF", n, **b))
    net.add_projection(Projection("in_a", "in", "a", sp.csr_array(rng.normal(size=(n, 3)))))
    net.add_projection(Projection("in_b", "in", "b", sp.csr_array(rng.uniform(0.1, 1, (n, 3)))))
    return net.verify()


@pytest.mark.parametrize("target", [SE1, SE2], ids=["se1", "se2"])
@pytest.mark.parametrize("tol", [0.02, 0.05])
def test_tolerance_held_for_every_neuron_and_representatives_are_table_values(target, tol):
    net = _two_population_net()
    cmap = map_circuits(net, target, CircuitOptions(time_scale=4.0))
    classes = assign_classes(cmap, target, tolerance=tol)
    floor = dict(zip(classes.roles, classes.floor))
    for name, off, size in classes.populations:
        for j, role in enumerate(classes.roles):
            if role not in cmap.populations[name].currents:
                continue
            x = cmap.populations[name].currents[role]
            rep = classes.representatives[classes.class_of[off:off + size], j]
            assert np.all(np.abs(rep - x) <= tol * np.maximum(x, floor[role]) * (1 + 1e-9)), role
            realised = assign_bias(target, target.bias_for_role(role).name, rep).realised
            assert np.array_equal(realised, rep), role
    assert classes.lower_bound <= classes.n_classes <= 2 * net.populations["a"].size
    assert classes.sizes().sum() == 120
    again = assign_classes(cmap, target, tolerance=tol)
    assert np.array_equal(again.class_of, classes.class_of)


def test_identical_parameters_share_one_class_across_populations():
    net = _two_population_net(same=True)
    cmap = map_circuits(net, SE2)
    classes = assign_classes(cmap, SE2)
    assert classes.n_classes == 1 and classes.lower_bound == 1
    # "a" also receives inhibition: its GABA currents set the class's, "b" does not care.
    assert "I_tau_syn.GABA" in cmap.populations["a"].currents
    assert "I_tau_syn.GABA" not in cmap.populations["b"].currents
    assert np.isfinite(classes.class_currents(0)["I_tau_syn.GABA"])
    gaba = classes.roles.index("I_tau_syn.GABA")
    assert np.all(np.isnan(classes.error[classes.neuron_index("b", 0):, gaba]))
    assert not np.any(np.isnan(classes.error[:classes.neuron_index("b", 0), gaba]))


def test_dc_current_is_held_to_the_drive_not_to_its_own_size():
    # Drives 0..0.04 (threshold 1): I_dc varies ~3x relatively, but within 5% of a unit drive.
    net = Network(dt=1e-4)
    net.add_population(make_population("in", "input", 1))
    net.add_population(make_population("h", "LIF", 30, tau_mem=2e-3,
                                       bias=np.linspace(0, 0.04, 30)))
    net.add_projection(Projection("p", "in", "h", sp.csr_array(np.ones((30, 1)))))
    cmap = map_circuits(net, SE2)
    dc = cmap.populations["h"].currents["I_dc"]
    assert dc.max() / dc.min() > 2
    classes = assign_classes(cmap, SE2, tolerance=0.05)
    assert classes.n_classes == 1
    assert assign_classes(cmap, SE2, tolerance=0.05, floors={}).n_classes > 5


def test_role_tolerance_loosens_one_axis():
    net = _two_population_net(seed=5)
    cmap = map_circuits(net, SE2)
    tight = assign_classes(cmap, SE2, tolerance=0.02)
    loose = assign_classes(cmap, SE2, tolerance=0.02, role_tolerance={"I_dc": 0.5})
    assert loose.n_classes < tight.n_classes
    j = loose.roles.index("I_dc")
    assert np.nanmax(loose.error[:, j]) <= 0.5 + 1e-9
    assert np.nanmax(np.delete(loose.error, j, axis=1)) <= 0.02 + 1e-9
    with pytest.raises(TargetError, match="names roles \\['I_w.AMPA'\\]"):
        assign_classes(cmap, SE2, role_tolerance={"I_w.AMPA": 0.1})


def test_unservable_requests_and_bad_tolerances_fail_clearly():
    cmap = _one_role_map(np.array([1e-10, 1e-2]))
    with pytest.raises(TargetError) as info:
        assign_classes(cmap, SE2)
    assert "population 'p'" in str(info.value) and "SOIF_LEAK_N (I_tau_mem)" in str(info.value)
    # In range but between two table values further apart than the tolerance allows: the
    # tolerance of that role widens to the table's distance (a preference, not a refusal).
    low = _one_role_map(np.array([5.086e-10]))
    widened = assign_classes(low, SE2, tolerance=0.01)
    assert 0.01 < widened.tolerance[0] < 0.5
    assert np.nanmax(widened.error) <= widened.tolerance[0]
    assert widened.error[0, 0] == pytest.approx(widened.tolerance[0], rel=1e-6)
    with pytest.raises(TargetError, match="not in \\(0, 1\\)"):
        assign_classes(_one_role_map(np.array([1e-10])), SE2, tolerance=1.5)


def test_braille_model_classes(shared_models):
    from neurocc.frontend.nir.reader import read_nir

    net = read_nir(shared_models / "braille_noDelay_bias_zero.nir")
    cmap = map_circuits(net, SE2, CircuitOptions(negative_drive="clip"))
    for role_tolerance in (None, {"I_dc": 0.5}):
        classes = assign_classes(cmap, SE2, role_tolerance=role_tolerance)
        assert np.all(classes.max_error <= 0.5 + 1e-9)
        j = [i for i, r in enumerate(classes.roles) if r != "I_dc"]
        assert np.nanmax(classes.error[:, j]) <= 0.05 + 1e-9
        # lif2's membrane is 4.5x faster than lif1's: they never share a class.
        lif1 = set(classes.class_of[:38])
        assert lif1.isdisjoint(classes.class_of[38:])
        assert classes.lower_bound <= classes.n_classes


def test_class_biases_realise_the_representatives_exactly():
    net = _two_population_net(seed=2)
    cmap = map_circuits(net, SE1)
    classes = assign_classes(cmap, SE1)
    settings_ = class_biases(classes, SE1)
    assert len(settings_) == classes.n_classes
    for k, choices in enumerate(settings_):
        assert set(choices) == set(classes.class_currents(k))
        for role, choice in choices.items():
            assert float(choice.realised) == classes.class_currents(k)[role]
            assert SE1.bias_current(choice.name, int(choice.coarse), int(choice.fine)) == \
                float(choice.realised)


# -- fitting the cores: the tolerance is a preference -------------------------------------------
def _spread_net(n: int = 40) -> Network:
    """A hidden population with n per-neuron membranes spread 30x (about n/2 classes at 5%)
    and a small output population: far more classes than one SE2 chip's 4 cores."""
    net = Network(dt=1e-4)
    net.add_population(make_population("in", "input", 2))
    net.add_population(make_population("h", "LIF", n, tau_mem=np.geomspace(1e-3, 3e-2, n),
                                       bias=np.linspace(0.05, 0.3, n)))
    net.add_population(make_population("o", "LIF", 4, tau_mem=5e-3))
    rng = np.random.default_rng(0)
    net.add_projection(Projection("in_h", "in", "h", sp.csr_array(rng.uniform(0.1, 1, (n, 2)))))
    net.add_projection(Projection("h_o", "h", "o", sp.csr_array(rng.uniform(0.1, 1, (4, n)))))
    return net.verify()


def test_classes_beyond_the_cores_merge_to_exactly_the_cores_with_the_error_reported():
    from neurocc.compiler import compile_model
    from neurocc.compiler.circuits import precision_floors

    net = _spread_net()
    assert assign_classes(map_circuits(net, SE2), SE2).n_classes > 4
    compiled = compile_model(net, "dynapse2", chips=1)
    c, report = compiled.compilation, compiled.report
    # every class holds fewer neurons than a core: the most classes that fit is one per core
    assert report["parameter_classes"] == c.classes.n_classes == 4
    assert report["parameter_classes"] < report["parameter_classes_lower_bound"]
    merged = [n for n in report["notes"] if "merged to 4" in n]
    assert len(merged) == 1 and "--class-tolerance 0.05" in merged[0]
    # recomputed from the configured (coarse, fine) of each neuron's core, not from the classes
    biases = {(core["chip"], core["core"]): {b["role"]: b for b in core["biases"]}
              for core in report["cores"]}
    floors = precision_floors(c.circuits)
    gains = {st.gain_role for st in SE2.synapse_types}
    offset = 0
    for name, pc in c.circuits.populations.items():
        rows = range(offset, offset + pc.size)
        entry = report["parameter_error"][name]
        roles = [r for r in pc.currents if r not in gains and SE2.bias_for_role(r) is not None]
        assert sorted(entry["roles"]) == sorted(roles)
        for role in roles:
            realised = np.array([
                SE2.bias_current(b["bias"], b["coarse"], b["fine"]) for b in
                (biases[(int(c.placement.chip[i]), int(c.placement.core[i]))][role]
                 for i in rows)])
            x = pc.currents[role]
            err = np.abs(realised - x) / np.maximum(x, floors.get(role, 0.0))
            assert entry["roles"][role]["max"] == pytest.approx(err.max(), rel=1e-3, abs=1e-9)
            assert entry["roles"][role]["mean"] == pytest.approx(err.mean(), rel=1e-3, abs=1e-9)
        offset += pc.size
    assert report["parameter_error"]["h"]["classes_merged"] > 0
    assert max(e["max"] for e in report["parameter_error"]["h"]["roles"].values()) > 0.05
    assert compile_model(net, "dynapse2", chips=1).files == compiled.files


def _ratio_cost(values: np.ndarray, grid: np.ndarray) -> float:
    """Independent cost of one merged class: members x the least, over every table value, worst
    symmetric error |v - x| / min(v, x)."""
    err = np.abs(grid[:, None] - values[None]) / np.minimum(grid[:, None], values[None])
    return values.size * float(err.max(axis=1).min())


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_one_merge_picks_the_best_pair(seed):
    """When one merge suffices (three classes, two cores) it is the best of all three pairs."""
    rng = np.random.default_rng(seed)
    centres = np.cumsum(rng.uniform(0.3, 1.5, 3))
    values = 1e-10 * np.exp(np.concatenate([c + rng.uniform(0, 0.01, k) for c, k in
                                            zip(centres, rng.permutation([1, 2, 2]))]))
    cmap = _one_role_map(values)
    classes = assign_classes(cmap, SE2, tolerance=0.03)
    assume(classes.n_classes == 3)
    caps = np.array([4, 4])
    fit = fit_to_cores(classes, cmap, SE2, caps)
    grid = bias_table(SE2, "SOIF_LEAK_N").distinct
    grid = grid[grid > 0]

    def total(class_of: np.ndarray) -> float:
        return sum(_ratio_cost(values[class_of == k], grid) for k in np.unique(class_of))

    options = [np.where(classes.class_of == b, a, classes.class_of)
               for a, b in ((0, 1), (0, 2), (1, 2))]
    assert fit.n_classes == 2
    assert total(fit.class_of) == pytest.approx(min(total(o) for o in options), rel=1e-12)
    # the representatives are that independent optimum, and table values
    for k in range(2):
        members = values[fit.class_of == k]
        v = fit.representatives[k, 0]
        assert v in grid
        assert _ratio_cost(members, np.array([v])) == pytest.approx(_ratio_cost(members, grid))


def test_merging_is_deterministic_and_leaves_fitting_classes_alone():
    values = 1e-10 * np.geomspace(1, 40, 60)
    cmap = _one_role_map(values)
    classes = assign_classes(cmap, SE2, tolerance=0.02)
    assert classes.n_classes > 8
    assert fit_to_cores(classes, cmap, SE2, np.full(classes.n_classes, 256)) is classes
    caps = np.array([32, 32, 31, 32])
    a, b = fit_to_cores(classes, cmap, SE2, caps), fit_to_cores(classes, cmap, SE2, caps)
    assert a.n_classes == 4 and np.array_equal(a.class_of, b.class_of)
    assert np.array_equal(a.representatives, b.representatives)
    assert np.array_equal(a.unmerged_of, classes.class_of)
    err = np.abs(a.representatives[a.class_of, 0] - values) / values
    assert np.allclose(a.error[:, 0], err)


def test_a_tolerance_finer_than_the_bias_table_widens_with_one_note():
    """--class-tolerance below the bias generator's step is a preference: the compile widens the
    roles the table cannot serve, says so once, and reports errors within the widened ones."""
    from neurocc.compiler import CompileOptions, compile_model
    report = compile_model(REPO / "examples" / "tiny.ncl", "dynapse2",
                           options=CompileOptions(class_tolerance=0.001)).report
    notes = [n for n in report["notes"] if "coarser than --class-tolerance 0.001" in n]
    assert len(notes) == 1 and report["checker_ok"]
    assert "I_tau_mem" in notes[0] or "I_gain_mem" in notes[0] or "I_ref" in notes[0]
