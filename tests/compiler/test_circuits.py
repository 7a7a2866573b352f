"""Circuit mapping: the README's DPI relations, the inverse, sign -> synapse type, clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from neurocc.backends.target import load_target
from neurocc.compiler.biasgen import assign_roles
from neurocc.compiler.circuits import (CircuitOptions, chip_tau, currents_to_params, ir_tau,
                                       map_circuits)
from neurocc.compiler.classes import assign_classes
from neurocc.compiler.errors import UnsupportedError
from neurocc.compiler.ir import Network, Projection, make_population

SE1, SE2 = load_target("dynapse1"), load_target("dynapse2")
U_T, KAPPA, V_TH = 0.025, (0.75 + 0.66) / 2, 0.7  # README circuit constants
C_MEM, C_REF, C_PULSE, C_AMPA = 3e-12, 1.5e-12, 0.5e-12, 24.5e-12


def _net(model: str = "CubaLIF", n: int = 6, seed: int = 0, dt: float = 1e-4, **overrides
         ) -> Network:
    """input(4) -> hidden (mixed-sign weights, recurrent) -> out(3, LIF)."""
    rng = np.random.default_rng(seed)
    params = {"CubaLIF": dict(tau_mem=rng.uniform(1e-3, 3e-3, n),
                              tau_syn=rng.uniform(3e-4, 8e-4, n),
                              v_leak=rng.uniform(0, 0.2, n), bias=rng.uniform(0, 0.3, n)),
              "LIF": dict(tau_mem=rng.uniform(1e-3, 3e-3, n), v_leak=0.1, bias=0.2),
              "IF": dict(bias=rng.uniform(0, 1e-3, n))}[model]
    params.update(overrides)
    net = Network(dt=dt, name="toy")
    net.add_population(make_population("in", "input", 4))
    net.add_population(make_population("h", model, n, refractory=3 * dt, **params))
    net.add_population(make_population("out", "LIF", 3, tau_mem=2e-3))
    net.add_projection(Projection("in_h", "in", "h", sp.csr_array(rng.normal(0, 1, (n, 4)))))
    rec = sp.random_array((n, n), density=0.5, rng=rng, format="csr")
    rec.data = -rec.data  # inhibitory recurrence
    net.add_projection(Projection("h_h", "h", "h", rec, delay=1))
    net.add_projection(Projection("h_out", "h", "out", sp.csr_array(rng.uniform(0.1, 1, (3, n)))))
    net.outputs.append("out")
    return net.verify()


# -- elementary relations ----------------------------------------------------------------------
def test_membrane_time_constant_current_and_per_step_decay():
    net = _net()
    cmap = map_circuits(net, SE2)
    h = net.populations["h"]
    i_tau = cmap.populations["h"].currents["I_tau_mem"]
    tau_chip = C_MEM * U_T / (KAPPA * i_tau)  # README: tau = C U_T / (kappa I_tau)
    # The chip's continuous decay over one step equals the Euler factor 1 - dt/tau.
    assert np.allclose(np.exp(-net.dt / tau_chip), 1 - net.dt / h.params["tau_mem"], rtol=1e-12)
    cont = map_circuits(net, SE2, CircuitOptions(discretisation="continuous", time_scale=10))
    assert np.allclose(cont.populations["h"].currents["I_tau_mem"],
                       U_T * C_MEM / (KAPPA * 10 * h.params["tau_mem"]), rtol=1e-12)
    # 20 ms membrane with the README constants: 3 pF * 25 mV / (0.705 * 20 ms).
    one = _net("LIF", tau_mem=np.full(6, 0.02))
    got = map_circuits(one, SE2, CircuitOptions(discretisation="continuous"))
    assert got.populations["h"].currents["I_tau_mem"][0] == pytest.approx(5.319e-12, rel=1e-3)


def test_tau_conversions_are_inverse():
    taus = np.geomspace(2e-4, 1.0, 50)
    for o in (CircuitOptions(), CircuitOptions(discretisation="continuous", time_scale=7.0),
              CircuitOptions(time_scale=30.0)):
        assert np.allclose(ir_tau(chip_tau(taus, 1e-4, o), 1e-4, o), taus, rtol=1e-10)


def test_gain_refractory_pulse_threshold_and_drive():
    net = _net()
    o = CircuitOptions(time_scale=5.0)
    cur = map_circuits(net, SE2, o).populations["h"].currents
    assert np.allclose(cur["I_gain_mem"], 4 * cur["I_tau_mem"])  # README gain ratio 4
    assert np.allclose(cur["I_gain_syn.AMPA"], 100 * cur["I_tau_syn.AMPA"])  # and 100
    assert np.allclose(cur["I_ref"], V_TH * C_REF / (5.0 * 3 * net.dt))  # t_ref = V C_ref / I_ref
    assert np.allclose(cur["I_pulse"], V_TH * C_PULSE / 1e-5)  # 10 us pulse
    assert np.all(cur["I_spkthr"] == 1e-7)
    # Linear-regime steady state: tau dI/dt = (I_g/I_tau)(I_in - I_tau) - I_mem, so a constant
    # I_dc holds v = I_mem / S at r_m (I_dc - I_tau) / S = v_leak + bias.
    h = net.populations["h"]
    v_inf = cur["I_gain_mem"] / cur["I_tau_mem"] * (cur["I_dc"] - cur["I_tau_mem"]) / 1e-7
    assert np.allclose(v_inf, h.params["v_leak"] + h.params["bias"], rtol=1e-12)


@pytest.mark.parametrize("target", [SE1, SE2], ids=["se1", "se2"])
def test_weight_jump_formula(target):
    """dI = (I_gain I_w / I_tau)(1 - exp(-t_pulse/tau)); (r_m/S) dI tau_syn = w dt."""
    net = _net()
    o = CircuitOptions(time_scale=3.0)
    cmap = map_circuits(net, target, o)
    cur = cmap.populations["h"].currents
    proj = cmap.projections["in_h"]
    exc = proj.weight > 0
    assert np.all(proj.syn_code[exc] == target.synapse_type("AMPA").code)
    post = proj.post[exc]
    i_tau, i_gain = cur["I_tau_syn.AMPA"][post], cur["I_gain_syn.AMPA"][post]
    tau_syn = C_AMPA * U_T / (KAPPA * i_tau)
    t_pulse = V_TH * C_PULSE / cur["I_pulse"][post]
    jump = i_gain * proj.i_w[exc] / i_tau * (1 - np.exp(-t_pulse / tau_syn))
    k = cur["I_gain_mem"][post] / (cur["I_tau_mem"][post] * cur["I_spkthr"][post])
    assert np.allclose(k * jump * tau_syn, proj.weight[exc] * net.dt * 3.0, rtol=1e-10)
    # The synapse time constant is the neuron's tau_syn, matched per step like the membrane.
    h = net.populations["h"]
    assert np.allclose(np.exp(-net.dt * 3.0 / tau_syn), 1 - net.dt / h.params["tau_syn"][post])
    # Synapses are listed row-major with their IR weights.
    coo = net.projections["in_h"].weights.tocoo()
    assert np.array_equal(np.lexsort((proj.pre, proj.post)), np.arange(proj.post.size))
    assert proj.post.size == coo.nnz


# -- the inverse -------------------------------------------------------------------------------
@pytest.mark.parametrize("target", [SE1, SE2], ids=["se1", "se2"])
@pytest.mark.parametrize("options", [CircuitOptions(), CircuitOptions(time_scale=20.0),
                                     CircuitOptions(discretisation="continuous")])
def test_round_trip_cuba(target, options):
    net = _net()
    back = currents_to_params(net, map_circuits(net, target, options), target)
    h0, h1 = net.populations["h"], back.populations["h"]
    assert h1.model == "CubaLIF"
    for name in ("tau_mem", "tau_syn"):
        assert np.allclose(h1.params[name], h0.params[name], rtol=1e-10)
    drive = h0.params["v_leak"] + h0.params["bias"]
    assert np.allclose(h1.params["v_leak"] + h1.params["bias"], drive, rtol=1e-10)
    assert round(h1.refractory / net.dt) == round(h0.refractory / net.dt) == 3
    for name in ("in_h", "h_h"):
        w0, w1 = net.projections[name].weights, back.projections[name].weights
        assert abs(w1 - w0).max() <= 1e-10 * abs(w0).max()
        assert back.projections[name].delay == net.projections[name].delay


def test_round_trip_lif_gains_the_stand_in_synapse():
    net = _net("LIF")
    back = currents_to_params(net, map_circuits(net, SE2), SE2)
    h = back.populations["h"]
    assert h.model == "CubaLIF"
    # One-step chip synapse, written back in the IR's Euler form: dt / (1 - exp(-1)).
    assert np.allclose(h.params["tau_syn"], net.dt / (1 - math.exp(-1)))
    assert np.allclose(h.params["tau_mem"], net.populations["h"].params["tau_mem"])
    assert np.allclose(h.params["v_leak"], 0.3)
    assert abs(back.projections["in_h"].weights - net.projections["in_h"].weights).max() < 1e-10


def test_integrate_and_fire_gets_the_minimum_leak():
    net = _net("IF")
    cmap = map_circuits(net, SE1)
    cur = cmap.populations["h"].currents
    assert np.allclose(cur["I_tau_mem"], 5e-13)  # I_0, the leakage floor
    back = currents_to_params(net, cmap, SE1)
    tau_chip = C_MEM * U_T / (KAPPA * 5e-13)
    h = back.populations["h"]
    assert np.allclose(h.params["tau_mem"], net.dt / (1 - np.exp(-net.dt / tau_chip)))
    # Leaky form: an IF jump w becomes a weight w * tau / dt, an IF bias b a drive b * tau / dt.
    w0 = net.projections["in_h"].weights.toarray()
    w1 = back.projections["in_h"].weights.toarray()
    assert np.allclose(w1, w0 * tau_chip / net.dt, rtol=1e-9)
    assert np.allclose(h.params["v_leak"], net.populations["h"].params["bias"] * tau_chip / net.dt)


@pytest.mark.parametrize("target", [SE1, SE2], ids=["se1", "se2"])
def test_realised_currents_stay_within_the_class_tolerance(target):
    """classes -> bias generator -> realised currents -> parameters: within the tolerance."""
    net = _net(n=40, seed=3)
    cmap = map_circuits(net, target, CircuitOptions(time_scale=10.0))
    classes = assign_classes(cmap, target, tolerance=0.04)
    realised = {}
    for name, off, size in classes.populations:
        k = classes.class_of[off:off + size]
        cur = dict(cmap.populations[name].currents)
        for j, role in enumerate(classes.roles):
            if role in cur:
                reps = classes.representatives[k, j]
                choice = assign_roles(target, {role: reps})[role]
                assert np.array_equal(choice.realised, reps)  # representatives are table values
                cur[role] = choice.realised
        realised[name] = cur
    back = currents_to_params(net, cmap.with_currents(realised), target)
    h0, h1 = net.populations["h"], back.populations["h"]
    # A 4% error on I_tau changes tau_chip by 4%; the per-step match keeps it close in the IR.
    assert np.all(np.abs(h1.params["tau_mem"] / h0.params["tau_mem"] - 1) < 0.05)
    assert np.all(np.abs(h1.params["tau_syn"] / h0.params["tau_syn"] - 1) < 0.05)


# -- sign -> synapse type ------------------------------------------------------------------------
def _codes(cmap, name):
    proj = cmap.projections[name]
    return set(proj.syn_code[proj.weight > 0]), set(proj.syn_code[proj.weight < 0])


def test_sign_selects_the_type_se2():
    net = _net()
    assert _codes(map_circuits(net, SE2), "in_h") == ({1024}, {512})  # AMPA, GABA
    shunt = map_circuits(net, SE2, CircuitOptions(inhibition="shunting"))
    assert _codes(shunt, "h_h") == (set(), {128})  # SHUNT
    assert shunt.populations["h"].synapse_types == ("AMPA", "SHUNT")
    forced = map_circuits(net, SE2, CircuitOptions(excitatory_type="NMDA"))
    assert _codes(forced, "in_h")[0] == {256}
    with pytest.raises(UnsupportedError, match="GABA is inhibitory, not excitatory"):
        map_circuits(net, SE2, CircuitOptions(excitatory_type="GABA"))


def test_sign_selects_the_type_se1_by_time_constant_and_shunting_option():
    net = _net()
    # Default: GABA_A is the shunting type, so subtractive inhibition uses GABA_B.
    assert _codes(map_circuits(net, SE1), "in_h") == ({3}, {0})
    assert _codes(map_circuits(net, SE1, CircuitOptions(inhibition="shunting")), "in_h")[1] == {1}
    other = load_target("dynapse1", options={"shunting_type": "GABA_B"})
    assert _codes(map_circuits(net, other), "in_h")[1] == {1}
    # tau_syn ~0.5 ms stretched 200x ~ 100 ms: the slow excitatory type (NMDA).
    slow = map_circuits(net, SE1, CircuitOptions(time_scale=200.0))
    assert _codes(slow, "in_h")[0] == {2}


# -- errors --------------------------------------------------------------------------------------
def test_v_reset_and_subtract_reset():
    with pytest.raises(UnsupportedError) as info:
        map_circuits(_net(v_reset=np.r_[0, 0, 0.5, 0, 0, 0]), SE2)
    assert "population 'h'" in str(info.value) and "v_reset[2] = 0.5" in str(info.value)
    net = _net()
    net.populations["h"].reset = "subtract"
    with pytest.raises(UnsupportedError, match="subtractive reset.*--subtract-reset zero"):
        map_circuits(net, SE2)
    cmap = map_circuits(net, SE2, CircuitOptions(subtract_reset="zero"))
    assert any("subtractive reset" in note for note in cmap.notes)


def test_negative_drive_is_an_error_or_clipped():
    bias = np.array([0.1, -2.0, 0.0, -5.0, 0.2, 0.0])
    with pytest.raises(UnsupportedError) as info:
        map_circuits(_net(bias=bias, v_leak=0.0), SE2)
    text = str(info.value)
    assert "2 of 6 neurons" in text and "-5 at neuron 3" in text and "negative_drive='clip'" in text
    cmap = map_circuits(_net(bias=bias, v_leak=0.0), SE2, CircuitOptions(negative_drive="clip"))
    assert np.all(cmap.populations["h"].currents["I_dc"][[1, 3]] == 5e-13)
    assert len(cmap.notes) == 1


def test_non_spiking_and_threshold_populations():
    net = _net()
    net.add_population(make_population("readout", "LI", 2, tau_mem=1e-2))
    net.add_projection(Projection("out_r", "out", "readout", sp.csr_array(np.ones((2, 3)))))
    net.outputs[:] = ["readout"]
    cmap = map_circuits(net.verify(), SE2)
    assert cmap.host_readouts == ("readout",) and "out_r" not in cmap.projections
    back = currents_to_params(net, cmap, SE2)
    assert back.populations["readout"].model == "LI"
    net.add_population(make_population("after", "LIF", 1, tau_mem=1e-2))
    net.add_projection(Projection("r_a", "readout", "after", sp.csr_array(np.ones((1, 2)))))
    with pytest.raises(UnsupportedError, match="population 'readout' .LI.: non-spiking hidden"):
        map_circuits(net, SE2)
    thr = _net()
    thr.add_population(make_population("t", "Threshold", 1))
    with pytest.raises(UnsupportedError, match="Threshold"):
        map_circuits(thr, SE2)


def test_time_constant_not_above_dt_and_bad_options():
    net = _net(tau_syn=np.full(6, 1e-4))
    with pytest.raises(UnsupportedError, match=r"tau_syn\[0\] = 0.0001 s is not longer"):
        map_circuits(net, SE2)
    assert map_circuits(net, SE2, CircuitOptions(discretisation="continuous"))
    with pytest.raises(UnsupportedError, match="time_scale = -1"):
        map_circuits(_net(), SE2, CircuitOptions(time_scale=-1))
    with pytest.raises(UnsupportedError, match="discretisation = 'euler' is unknown"):
        map_circuits(_net(), SE2, CircuitOptions(discretisation="euler"))


# -- the Braille model -----------------------------------------------------------------------------
def test_braille_model(shared_models):
    from neurocc.frontend.nir.reader import read_nir

    net = read_nir(shared_models / "braille_noDelay_bias_zero.nir")
    with pytest.raises(UnsupportedError) as info:
        map_circuits(net, SE2)
    assert "population 'lif1.lif'" in str(info.value) and "29 of 38 neurons" in str(info.value)
    cmap = map_circuits(net, SE2, CircuitOptions(negative_drive="clip"))
    assert set(cmap.populations) == {"lif1.lif", "lif2"} and len(cmap.notes) == 1
    rec = cmap.projections["lif1.lif->lif1.lif"]
    w = net.projections["lif1.lif->lif1.lif"].weights
    assert rec.post.size == w.count_nonzero()
    assert set(rec.syn_code[rec.weight < 0]) == {512}  # GABA
    assert set(rec.syn_code[rec.weight > 0]) == {1024}  # AMPA
    back = currents_to_params(net, cmap, SE2)
    for name in ("lif1.lif", "lif2"):
        p0, p1 = net.populations[name], back.populations[name]
        assert np.allclose(p1.params["tau_mem"], p0.params["tau_mem"], rtol=1e-9)
        assert np.allclose(p1.params["tau_syn"], p0.params["tau_syn"], rtol=1e-9)
        kept = p0.params["bias"] >= 0
        assert np.allclose(p1.params["v_leak"][kept], p0.params["bias"][kept], rtol=1e-9)
        # Clipped: I_dc at the leakage floor I_0, i.e. the drive -r_m (I_tau - I_0) / S ~ 0.
        i_tau = cmap.populations[name].currents["I_tau_mem"][~kept]
        assert np.allclose(p1.params["v_leak"][~kept], -4 * (i_tau - 5e-13) / 1e-7)
        assert np.all(np.abs(p1.params["v_leak"][~kept]) < 0.01)
    assert abs(back.projections["lif1.lif->lif1.lif"].weights - w).max() < 1e-9 * abs(w).max()
