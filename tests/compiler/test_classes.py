"""Parameter classes: tolerance held for every neuron, optimal in 1-D, shared across populations."""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from neurocc.backends.target import load_target
from neurocc.compiler.biasgen import assign_bias, bias_table
from neurocc.compiler.circuits import (CircuitMap, CircuitOptions, PopulationCircuits,
                                       map_circuits)
from neurocc.compiler.classes import assign_classes, class_biases
from neurocc.compiler.errors import TargetError
from neurocc.compiler.ir import Network, Projection, make_population

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
    # In range but between two table values further apart than the tolerance allows.
    low = _one_role_map(np.array([5.086e-10]))
    with pytest.raises(TargetError, match="more than the class tolerance 1.0%"):
        assign_classes(low, SE2, tolerance=0.01)
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
