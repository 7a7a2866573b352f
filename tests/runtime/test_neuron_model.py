"""Neuron models as target data, and each model's equations stepped in plain numpy (float64)
against the JAX kernel of the circuit simulator."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

from networks import REPO

from neurocc.backends.target import load_target
from neurocc.compiler.circuits import CircuitOptions
from neurocc.compiler.errors import TargetError
from neurocc.runtime.circuit import simulate_circuit
from neurocc.runtime.hardware_network import HardwareNetwork

SE2 = load_target("dynapse2")
DT = 1e-3
STEPS = 300


def neurons(model: str, dc: np.ndarray, weights: np.ndarray, kinds: np.ndarray
            ) -> HardwareNetwork:
    """Unconnected neurons, neuron ``j`` fed by input ``j`` through one AMPA (kind 0) or GABA
    (kind 1) synapse of weight current ``weights[j]``; README default currents."""
    n = dc.size
    c = SE2.circuit
    types = [SE2.synapse_type(t) for t in ("AMPA", "GABA")]
    i_tau = c.U_T * c.capacitance["mem"] / (c.kappa * 20e-3)
    cur = {"I_tau_mem": np.full(n, i_tau), "I_gain_mem": np.full(n, 4 * i_tau),
           "I_ref": np.full(n, c.V_th * c.capacitance["ref"] / 2e-3),
           "I_pulse": np.full(n, c.V_th * c.capacitance["pulse"] / 10e-6),
           "I_spkthr": np.full(n, 1e-7), "I_dc": np.asarray(dc, float)}
    tau_syn = np.array([c.U_T * st.capacitance / (c.kappa * 10e-3) for st in types])
    cur["I_tau_syn"] = np.tile(tau_syn, (n, 1))
    cur["I_gain_syn"] = 100 * cur["I_tau_syn"]
    return HardwareNetwork(
        currents=cur, syn_weight=np.asarray(weights, float), syn_src=n + np.arange(n),
        syn_post=np.arange(n), syn_type=np.asarray(kinds), syn_group=np.zeros(n, np.int64),
        hw_ids=np.arange(n), neuron_index=np.arange(n), n_neurons=n, n_inputs=n,
        syn_types=("AMPA", "GABA"), syn_kinds=("excitatory", "inhibitory"), constants=c,
        syn_capacitance=tuple(float(st.capacitance) for st in types),
        neuron_model=SE2.neuron_models.get(model), populations=(("n", n),), outputs=("n",))


def drive_inputs() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """DC currents, weights, kinds and 40 Hz regular events covering sub- and supra-threshold
    DC, excitatory and inhibitory input."""
    dc = np.array([0.0, 2e-11, 3e-10, 2e-9, 0.0, 1e-9, 2e-9, 5e-8])
    weights = np.array([8e-9, 0.0 + 1e-12, 2e-9, 1e-9, 3.2e-8, 1.6e-8, 4e-9, 1e-9])
    kinds = np.array([0, 0, 0, 1, 0, 1, 1, 0])
    x = np.zeros((STEPS, dc.size), np.float32)
    x[5::25] = 1.0
    return dc, weights, kinds, x


def numpy_dpi(hw: HardwareNetwork, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ``dpi`` equations (backends/neuron_model.py, runtime/circuit) in float64 numpy."""
    c, cur, model = hw.constants, hw.currents, hw.neuron_model
    i0, kappa = c.I_0, c.kappa
    i_tau = np.maximum(cur["I_tau_mem"], i0)
    g = np.maximum(cur["I_gain_mem"], i0)
    rate = DT * kappa * i_tau / (c.capacitance["mem"] * c.U_T)
    thr = cur["I_spkthr"]
    ref_steps = np.round(c.V_th * c.capacitance["ref"] / cur["I_ref"] / DT)
    tau_syn = np.array(hw.syn_capacitance) * c.U_T / (kappa * cur["I_tau_syn"])
    t_pulse = c.V_th * c.capacitance["pulse"] / cur["I_pulse"]
    charge = cur["I_gain_syn"] / cur["I_tau_syn"] * (1 - np.exp(-t_pulse[:, None] / tau_syn))
    mean = (1 - np.exp(-DT / tau_syn)) * tau_syn / DT
    n = hw.n_neurons
    i_syn, i_mem, ref = np.zeros((n, 2)), np.full(n, i0), np.zeros(n)
    spikes, trace = [], []
    for t in range(x.shape[0]):
        ev = np.zeros((n, 2))
        ev[hw.syn_post, hw.syn_type] += hw.syn_weight * x[t, hw.syn_src - n]
        i_syn = i_syn * np.exp(-DT / tau_syn) + ev * charge
        m = i_syn * mean
        i_in = np.maximum(m[:, 0] - m[:, 1] + cur["I_dc"], 0.0)
        drive = g / i_tau * i_in - g
        if model.feedback == "sigmoid":
            a, th, w = model.sigmoid
            drive += thr * a / (1 + np.exp(-(i_mem / thr - th) / w)) / i_tau * (i_mem + g)
        elif model.feedback == "exponential":
            drive += i0 * (i_mem / i0) ** (kappa / (kappa + 1)) / i_tau * (i_mem + g)
        linear = drive + (i_mem - drive) * np.exp(-rate)
        level = np.maximum(i_mem, linear)
        new = drive + (i_mem - drive) * np.exp(-rate * level / (level + g))
        new = np.where(ref > 0, i0, np.maximum(new, i0))
        s = (new > thr) & (ref <= 0)
        i_mem = np.where(s, i0, new)
        ref = np.where(s, ref_steps, np.maximum(ref - 1, 0))
        spikes.append(s.astype(float))
        trace.append(i_mem)
    return np.array(spikes), np.array(trace)


def numpy_dynapsim(hw: HardwareNetwork, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rockpool 3.1 DynapSim's equations as read from its ``evolve``, in float64 numpy."""
    c, cur = hw.constants, hw.currents
    i0, ut, kappa = c.I_0, c.U_T, c.kappa
    tau_ahp, r_ahp, iw_ahp, tp_ahp = hw.neuron_model.adaptation
    i_tau, g = cur["I_tau_mem"], cur["I_gain_mem"]
    tau_syn = ut / kappa * hw.syn_capacitance[0] / cur["I_tau_syn"][:, 0]
    ratio_syn = cur["I_gain_syn"][:, 0] / cur["I_tau_syn"][:, 0]
    f_charge = 1 - np.exp(-(c.V_th * c.capacitance["pulse"] / cur["I_pulse"]) / tau_syn)
    t_ref = c.V_th * c.capacitance["ref"] / cur["I_ref"]
    n = hw.n_neurons
    i_syn, i_ahp, i_mem = np.full(n, i0), np.full(n, i0), np.full(n, i0)
    v_mem, timer, spikes_prev = np.zeros(n), np.zeros(n), np.zeros(n)
    sign = np.where(hw.syn_type == 0, 1.0, -1.0)
    spikes, trace = [], []
    for t in range(x.shape[0]):
        iws = np.zeros(n)
        iws[hw.syn_post] += sign * hw.syn_weight * x[t, hw.syn_src - n]
        i_syn = np.exp(-DT / tau_syn) * i_syn + f_charge * np.maximum(ratio_syn * iws, i0)
        i_ahp = np.maximum(np.exp(-DT / tau_ahp) * i_ahp +
                           (1 - np.exp(-tp_ahp / tau_ahp)) * r_ahp * iw_ahp * spikes_prev, i0)
        leak = i_tau + i_ahp
        i_in = np.maximum(np.where(timer > 0, 0.0, i_syn - leak + cur["I_dc"]), i0)
        fb = i0 * np.exp(kappa ** 2 / (kappa + 1) * v_mem / ut)
        tau = ut / kappa * c.capacitance["mem"] / leak
        d = i_mem / (tau * (i_mem + g)) * (g / i_tau * (i_in - leak) + fb / leak * (i_mem + g) -
                                          i_mem * (1 + i_ahp / i_tau))
        i_mem = np.maximum(i_mem + d * DT, i0)
        v_mem = ut / kappa * np.log(i_mem / i0)
        s = np.maximum(np.ceil(np.log(i_mem / cur["I_spkthr"])), 0.0)
        i_mem = np.where(s > 0, i0, i_mem)
        timer = np.where(s > 0, t_ref, np.maximum(timer - DT, 0.0))
        spikes_prev = s
        spikes.append(s)
        trace.append(i_mem)
    return np.array(spikes), np.array(trace)


@pytest.mark.parametrize("model", ["none", "sigmoid", "dynapsim"])
def test_the_kernel_steps_the_models_equations(model):
    dc, weights, kinds, x = drive_inputs()
    hw = neurons(model, dc, weights, kinds)
    res = simulate_circuit(hw, x, dt=DT, mismatch=0.0, record_states=True)
    ref_spikes, ref_trace = (numpy_dynapsim if model == "dynapsim" else numpy_dpi)(hw, x)
    spikes = res.spikes[0, 0].astype(float)
    assert spikes.sum() >= 10                              # the case exercises spiking
    assert np.array_equal(spikes.sum(0), ref_spikes.sum(0)), model
    np.testing.assert_allclose(res.i_mem[0, 0], ref_trace, rtol=2e-3, atol=2e-3 * 1e-7)


def test_feedback_models_fire_where_none_does_not():
    """The rheobase: DynapSim's feedback makes 50 pA of DC fire (README: ~18 pA), the sigmoid's
    onset at half the threshold lowers it below the feedback-free threshold / r_m (25 nA)."""
    dc = np.array([5e-11, 2e-8])
    x = np.zeros((1000, 2), np.float32)
    rates = {m: simulate_circuit(neurons(m, dc, np.zeros(2) + 1e-15, np.zeros(2, int)), x, dt=DT,
                                 mismatch=0.0).spikes[0, 0].sum(0) for m in SE2.neuron_models.names}
    assert rates["none"].tolist() == [0, 0]
    assert rates["dynapsim"][0] > 0 and rates["sigmoid"][1] > 0 and rates["sigmoid"][0] == 0


def test_dynapsim_can_fire_several_spikes_per_step():
    hw = neurons("dynapsim", np.array([1e-5]), np.array([1e-15]), np.array([0]))
    res = simulate_circuit(hw, np.zeros((50, 1), np.float32), dt=DT, mismatch=0.0)
    assert res.spikes.dtype == np.uint8 and res.spikes.max() >= 2


def test_shipped_targets_define_the_named_models_with_sources():
    for name in ("dynapse1", "dynapse2"):
        models = load_target(name).neuron_models
        assert {"none", "sigmoid", "dynapsim"} <= set(models.names)
        assert models.default in models.names and models.default_source
        assert set(models.constant_sources) >= {"C_mem", "I_0", "U_T", "kappa_n", "kappa_p"}
        for model in models.models.values():
            assert all(src.strip() for _, src in model.sources)


def _write_target(tmp_path, edit) -> str:
    raw = json.loads(load_target("dynapse1").path.read_text())   # no side files
    raw = copy.deepcopy(raw)
    edit(raw["neuron_model"])
    path = tmp_path / "target.json"
    path.write_text(json.dumps(raw))
    return str(path)


@pytest.mark.parametrize("edit, field", [
    (lambda b: b["constants"]["C_mem"].update(value=7.7e-12), "neuron_model.constants.C_mem"),
    (lambda b: b["models"]["dynapsim"].update(integration="exponential_euler"),
     "neuron_model.models.dynapsim.integration"),
    (lambda b: b["models"]["sigmoid"]["feedback"].update(form="cubic"),
     "neuron_model.models.sigmoid.feedback.form"),
    (lambda b: b["models"]["sigmoid"]["feedback"]["gain"].pop("source"),
     "neuron_model.models.sigmoid.feedback.gain.source"),
    (lambda b: b.update(default="teili"), "neuron_model.default"),
])
def test_a_bad_neuron_model_block_names_the_field(tmp_path, edit, field):
    with pytest.raises(TargetError, match=field.replace(".", r"\.")):
        load_target(_write_target(tmp_path, edit))


def test_an_unknown_model_name_lists_the_models():
    with pytest.raises(TargetError, match="--neuron-model"):
        SE2.neuron_models.get("teili")
    assert math.isclose(SE2.neuron_models.get("sigmoid").sigmoid[1], 0.5)


# -- the mapping under a model, and the command line ------------------------------------------
def _fit(model: str, cached: bool = True):
    from neurocc.compiler.neuron_fit import fit_population
    c = SE2.circuit
    i_tau = c.capacitance["mem"] * c.U_T / (c.kappa * 20e-3)
    fit = fit_population if cached else fit_population.__wrapped__
    return fit(SE2.neuron_models.get(model), SE2.circuit, CircuitOptions(), i_tau, 2e-3,
               c.V_th * c.capacitance["pulse"] / 1e-5, 1e-3, 2)


@pytest.mark.parametrize("model", ["sigmoid", "dynapsim"])
def test_the_fit_beats_the_feedback_free_mapping_under_the_model(model):
    from neurocc.compiler import neuron_fit as nf
    fit = _fit(model)
    assert fit == _fit(model, cached=False)            # deterministic
    assert fit.threshold_scale < 1.0                   # feedback: spikes below I_spkthr
    c = SE2.circuit
    i_tau = c.capacitance["mem"] * c.U_T / (c.kappa * 20e-3)
    want = nf.lif_rates(np.asarray(nf.FIT_DRIVES), math.exp(-1e-3 / 20e-3), 2)
    sim = nf._Simulator(SE2.neuron_models.get(model), SE2.circuit, CircuitOptions(), i_tau, 2e-3,
                        c.V_th * c.capacitance["pulse"] / 1e-5, 1e-3, 2000)
    unfitted = nf._residual(sim.rates([(1.0, 0.0)])[0], want)
    assert fit.rate_rel_error < 0.5 * unfitted


def test_dynapsim_leak_inversion_round_trips():
    from neurocc.compiler.neuron_fit import effective_leak, leak_current
    model = SE2.neuron_models.get("dynapsim")
    i_tau = np.array([5e-12, 3e-11, 1e-9])
    set_tau = leak_current(model, i_tau, SE2.circuit.I_0)
    assert np.all(set_tau < i_tau)
    np.testing.assert_allclose(effective_leak(model, set_tau, SE2.circuit.I_0), i_tau, rtol=1e-9)


def test_compile_records_the_model_and_verify_defaults_to_it(tmp_path, cli):
    tiny = REPO / "examples" / "tiny.ncl"
    for model in ("none", "dynapsim"):
        code, _, err = cli(["compile", str(tiny), "-o", str(tmp_path / model),
                            "--neuron-model", model])
        assert code == 0, err
    config = {m: json.loads((tmp_path / m / "config.json").read_text()) for m in ("none",
                                                                                "dynapsim")}
    assert config["dynapsim"]["mapping"]["circuit_options"]["neuron_model"] == "dynapsim"
    report = json.loads((tmp_path / "dynapsim" / "report.json").read_text())["neuron_model"]
    assert report["name"] == "dynapsim"
    assert all(0 < f["threshold_scale"] < 1 for f in report["fit"].values())
    # another model, other biases
    assert config["none"]["chips"] != config["dynapsim"]["chips"]
    code, out, _ = cli(["verify", str(tmp_path / "dynapsim"), "--instances", "4", "--json",
                        "--samples", "4", "--steps", "100"])
    assert json.loads(out)["neuron_model"] == "dynapsim"
    code, out, _ = cli(["verify", str(tmp_path / "dynapsim"), "--instances", "4", "--json",
                        "--samples", "4", "--steps", "100", "--neuron-model", "all"])
    s = json.loads(out)
    assert set(s["models"]) == set(SE2.neuron_models.names)
    assert s["passed"] == all(m["passed"] for m in s["models"].values())
    code, _, err = cli(["compile", str(tiny), "-o", str(tmp_path / "x"), "--neuron-model",
                        "teili"])
    assert code == 2 and "--neuron-model" in err


def test_the_sweep_has_a_neuron_model_axis(tmp_path, monkeypatch):
    pass

    from neurocc.compiler import compile_model
    from neurocc.compiler.driver import read_compiled
    from neurocc.runtime import verify
    tiny = REPO / "examples" / "tiny.ncl"
    compile_model(tiny, "dynapse2").save(tmp_path)
    folder = read_compiled(tmp_path)
    monkeypatch.setattr(verify, "SWEEP_AXES", {"mismatch": (0.0,)})
    stim = verify.poisson_stimulus(folder.network, samples=2, steps=100)
    points = verify.sweep(folder, stim, verify.VerifyOptions(instances=2))
    models = [p for p in points if p.axis == "neuron_model"]
    assert [p.value for p in models] == list(SE2.neuron_models.names)
    # the same chip under another model behaves differently (the feedback fires more)
    assert len({(p.agreement, p.correlation) for p in models}) > 1
