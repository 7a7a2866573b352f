"""The reference simulator against answers worked out by hand and an independent numpy loop.

Hand cases use dyadic numbers (dt = 1 s, tau = 2 or 4 s, weights like 0.375) so that every value
is exact in float32 and the expected spike steps follow from a few lines of arithmetic written in
the comments. The randomised test compares with ``numpy_reference`` below, a plain per-step loop
that keeps the full output history instead of the simulator's ring buffers.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
import scipy.sparse as sp

from neurocc.compiler.errors import IRVerifyError, SimulationError
from neurocc.compiler.ir import Network, Projection, make_population
from neurocc.runtime import _sim_projection, reference
from neurocc.runtime.reference import simulate


# ---------------------------------------------------------------------------------------------
# helpers


def chain(model: str, size: int = 1, *, weight: float = 1.0, dt: float = 1.0, delay: int = 0,
          **params) -> Network:
    """input[size] -> model[size] through a diagonal projection of ``weight``."""
    net = Network(dt=dt, name=f"chain-{model}")
    net.add_population(make_population("in", "input", size))
    net.add_population(make_population("n", model, size, **params))
    net.add_projection(Projection("in->n", "in", "n", sp.csr_array(weight * np.eye(size)),
                                  delay=delay))
    net.outputs.append("n")
    return net


def steps_of(spikes) -> list[int]:
    """Steps at which neuron 0 of batch 0 spiked."""
    return np.flatnonzero(np.asarray(spikes)[0, :, 0]).tolist()


def silent(t: int, size: int = 1) -> np.ndarray:
    return np.zeros((t, size), dtype=bool)


def numpy_reference(net: Network, inputs: dict[str, np.ndarray], n_steps: int):
    """The IR semantics as a plain loop over steps (float64): ``(outputs, v)`` per population.

    ``outputs[name][t]`` is what the population delivers at step t (spikes or state),
    ``v[name][t]`` its membrane after the step.
    """
    pops = net.populations
    delivered = {n: np.zeros((n_steps, p.size)) for n, p in pops.items()}
    v_trace = {n: np.zeros((n_steps, p.size)) for n, p in pops.items()}
    v = {n: np.zeros(p.size) for n, p in pops.items()}
    i_syn = {n: np.zeros(p.size) for n, p in pops.items()}
    refractory_left = {n: np.zeros(p.size, dtype=int) for n, p in pops.items()}
    for t in range(n_steps):
        for name in net.step_order():
            pop = pops[name]
            if pop.model == "input":
                delivered[name][t] = inputs[name][t]
                continue
            x = np.zeros(pop.size)
            for proj in net.incoming(name):
                if t - proj.delay >= 0:
                    x = x + proj.weights @ delivered[proj.source][t - proj.delay]
            x = x + pop.params["bias"]
            if pop.model == "Threshold":
                delivered[name][t] = x > 1
                continue
            if pop.model in ("IF", "I"):
                v[name] = v[name] + x
            else:
                drive = x
                if pop.model in ("CubaLIF", "CubaLI"):
                    i_syn[name] = i_syn[name] + net.dt / pop.params["tau_syn"] * (x - i_syn[name])
                    drive = i_syn[name]
                v[name] = v[name] + net.dt / pop.params["tau_mem"] * (
                    pop.params["v_leak"] - v[name] + drive)
            if pop.model in ("LI", "CubaLI", "I"):
                delivered[name][t] = v[name]
                v_trace[name][t] = v[name]
                continue
            held = refractory_left[name] > 0
            v[name][held] = pop.params["v_reset"][held]
            spike = (v[name] > 1) & ~held
            if pop.reset == "subtract":
                v[name][spike] -= 1
            else:
                v[name][spike] = pop.params["v_reset"][spike]
            refractory_left[name] = np.maximum(refractory_left[name] - 1, 0)
            refractory_left[name][spike] = int(round(pop.refractory / net.dt))
            delivered[name][t] = spike
            v_trace[name][t] = v[name]
    return delivered, v_trace


# ---------------------------------------------------------------------------------------------
# hand-built cases


def test_lif_with_constant_input_spikes_at_the_predicted_step():
    # a = dt/tau = 0.1, x = 3 each step: v_n = 3 (1 - 0.9^n) after n steps from rest.
    # v_3 = 0.813 <= 1 < v_4 = 1.0317, so the 4th step (index 3) spikes; zero reset restarts it.
    net = chain("LIF", weight=3.0, dt=1e-3, tau_mem=1e-2)
    result = simulate(net, np.ones((16, 1)), record_states=True)
    assert steps_of(result.spikes["n"]) == [3, 7, 11, 15]
    v = np.asarray(result.states["n"]["v"])[0, :, 0]
    np.testing.assert_allclose(v[:3], 3 * (1 - 0.9 ** np.arange(1, 4)), rtol=1e-6)
    assert v[3] == 0.0
    assert np.array_equal(np.asarray(result.outputs["n"]), np.asarray(result.spikes["n"]))


def test_subtract_reset_keeps_the_excess_and_zero_reset_drops_it():
    # IF, x = 0.375 per step. zero: .375 .75 1.125* -> 0, period 3: spikes 2, 5, 8, 11.
    # subtract: .375 .75 1.125*->.125 .5 .875 1.25*->.25 .625 1.0 (not > 1) 1.375*->.375 .75
    # 1.125*: spikes 2, 5, 8, 10 -- step 7 sits exactly on threshold and must not spike.
    x = np.ones((12, 1))
    zero = simulate(chain("IF", weight=0.375, reset="zero"), x, record_states=True)
    sub = simulate(chain("IF", weight=0.375, reset="subtract"), x, record_states=True)
    assert steps_of(zero.spikes["n"]) == [2, 5, 8, 11]
    assert steps_of(sub.spikes["n"]) == [2, 5, 8, 10]
    assert np.asarray(sub.states["n"]["v"])[0, 2, 0] == 0.125
    assert np.asarray(sub.states["n"]["v"])[0, 7, 0] == 1.0
    assert np.asarray(zero.states["n"]["v"])[0, 2, 0] == 0.0


def test_refractory_period_holds_v_at_reset_and_blocks_spikes():
    # IF, x = 0.375, v_reset = 0.25. Without refractoriness: 2*->.25 .625 1.0 1.375* -> period 3.
    # With 2 steps: 2*->.25, steps 3 and 4 held at .25, then .625 1.0 1.375*: period 5.
    x = np.ones((13, 1))
    free = simulate(chain("IF", weight=0.375, v_reset=0.25), x)
    held = simulate(chain("IF", weight=0.375, v_reset=0.25, refractory=2.0), x,
                    record_states=True)
    assert steps_of(free.spikes["n"]) == [2, 5, 8, 11]
    assert steps_of(held.spikes["n"]) == [2, 7, 12]
    v = np.asarray(held.states["n"]["v"])[0, :, 0]
    assert v[2:7].tolist() == [0.25, 0.25, 0.25, 0.625, 1.0]


def test_refractory_steps_round_the_period_to_whole_steps():
    # refractory 0.0003 s / dt 0.0001 s = 2.9999999999999996 -> 3 steps; a large weight would
    # make the neuron spike every step otherwise.
    net = chain("IF", weight=2.0, dt=1e-4, refractory=3e-4)
    assert steps_of(simulate(net, np.ones((9, 1))).spikes["n"]) == [0, 4, 8]


def test_cubalif_updates_the_synapse_before_the_membrane():
    # a_syn = 1/2, a_mem = 1/4, one input spike of weight 8 at step 0.
    # step 0: i = 4, v = 0 + (0 - 0 + 4)/4 = 1.0 (not a spike; with the old i it would be 0)
    # step 1: i = 4 - 4/2 = 2, v = 1 + (0 - 1 + 2)/4 = 1.25 -> spike, reset to 0
    # step 2: i = 1, v = (0 - 0 + 1)/4 = 0.25
    net = chain("CubaLIF", weight=8.0, tau_mem=4.0, tau_syn=2.0)
    x = silent(4)
    x[0] = True
    result = simulate(net, x, record_states=True)
    assert np.asarray(result.states["n"]["i_syn"])[0, :3, 0].tolist() == [4.0, 2.0, 1.0]
    assert np.asarray(result.states["n"]["v"])[0, :3, 0].tolist() == [1.0, 0.0, 0.25]
    assert steps_of(result.spikes["n"]) == [1]


def test_if_integrates_each_step_without_leak_and_i_delivers_its_sum():
    # IF with weight 0.25 and bias 0.125: v after step t = 0.375 * (t + 1) until it passes 1.
    # The I population below it (weight 1 from the input) is a pure running sum of its input.
    net = chain("IF", weight=0.25, bias=0.125)
    net.add_population(make_population("acc", "I", 1))
    net.add_projection(Projection("in->acc", "in", "acc", sp.csr_array(np.ones((1, 1)))))
    net.outputs.append("acc")
    x = np.array([[1], [0], [1], [1], [0]])
    result = simulate(net, x, record_states=True)
    assert np.asarray(result.states["n"]["v"])[0, :2, 0].tolist() == [0.375, 0.5]
    np.testing.assert_array_equal(np.asarray(result.outputs["acc"])[0, :, 0], np.cumsum(x[:, 0]))
    assert "acc" not in result.spikes


def test_li_readout_has_no_spikes_and_follows_the_closed_form():
    # LI with constant x = 0.75, v_leak = 0.5, a = 1/4: v_t = 1.25 (1 - 0.75^(t+1)).
    net = chain("LI", weight=0.75, tau_mem=4.0, v_leak=0.5)
    result = simulate(net, np.ones((20, 1)))
    expected = 1.25 * (1 - 0.75 ** np.arange(1, 21))
    np.testing.assert_allclose(np.asarray(result.outputs["n"])[0, :, 0], expected, rtol=1e-6)
    assert "n" not in result.spikes
    assert float(np.asarray(result.outputs["n"]).max()) > 1.0  # above threshold, still silent


def test_non_spiking_source_delivers_its_state_of_this_step():
    # LI (a = 1/2, x = 1 per step) -> Threshold through weight 1: v = .5, .75, .875, .9375, ...
    # never above 1, so the Threshold with bias 0.2 fires once v > 0.8: from step 2 on.
    net = chain("LI", weight=1.0, tau_mem=2.0)
    net.add_population(make_population("th", "Threshold", 1, bias=0.2))
    net.add_projection(Projection("n->th", "n", "th", sp.csr_array(np.ones((1, 1)))))
    result = simulate(net, np.ones((5, 1)))
    assert steps_of(result.spikes["th"]) == [2, 3, 4]


@pytest.mark.parametrize("delay", [1, 3])
def test_self_excitation_fires_again_exactly_delay_steps_later(delay):
    # One input spike at step 0 fires the IF neuron (weight 2 > 1, zero reset); its own spike
    # comes back through the delay-d self-loop with weight 2 and fires it again d steps later.
    net = chain("IF", weight=2.0)
    net.add_projection(Projection("self", "n", "n", sp.csr_array(2.0 * np.ones((1, 1))),
                                  delay=delay))
    x = silent(10)
    x[0] = True
    assert steps_of(simulate(net, x).spikes["n"]) == list(range(0, 10, delay))
    net.projections["self"].weights = sp.csr_array(0.5 * np.ones((1, 1)))
    assert steps_of(simulate(net, x).spikes["n"]) == [0]


def test_delay_on_a_feed_forward_projection_shifts_the_spikes():
    x = silent(8)
    x[[1, 4]] = True
    plain = simulate(chain("IF", weight=2.0), x)
    delayed = simulate(chain("IF", weight=2.0, delay=2), x)
    assert steps_of(plain.spikes["n"]) == [1, 4]
    assert steps_of(delayed.spikes["n"]) == [3, 6]


def test_bias_alone_drives_spiking():
    # LIF, no input, bias 2, a = 0.1: v_n = 2 (1 - 0.9^n) > 1 first at n = 7 (0.9^7 = 0.478).
    net = chain("LIF", weight=0.0, dt=1e-3, tau_mem=1e-2, bias=2.0)
    n_first = next(n for n in range(1, 100) if 2 * (1 - 0.9 ** n) > 1)
    assert n_first == 7
    assert steps_of(simulate(net, silent(21)).spikes["n"]) == [6, 13, 20]
    net.populations["n"].params["bias"][:] = 0.9  # v tends to 0.9: never spikes
    assert steps_of(simulate(net, silent(100)).spikes["n"]) == []


def test_leak_potential_above_threshold_makes_a_neuron_spike_by_itself():
    # LIF, v_leak = 1.5, a = 0.1: v_n = 1.5 (1 - 0.9^n) > 1 first at n = 11 (0.9^11 = 0.314).
    net = chain("LIF", weight=0.0, dt=1e-3, tau_mem=1e-2, v_leak=1.5)
    assert steps_of(simulate(net, silent(33)).spikes["n"]) == [10, 21, 32]


def test_threshold_is_stateless_and_strict():
    # x = 0.5 bias + 0.5 (channel 0) and/or 0.625 (channel 1): 1.0 exactly does not spike.
    net = Network(dt=1.0)
    net.add_population(make_population("in", "input", 2))
    net.add_population(make_population("n", "Threshold", 1, bias=0.5))
    net.add_projection(Projection("in->n", "in", "n", sp.csr_array(np.array([[0.5, 0.625]]))))
    x = np.array([[1, 0], [1, 1], [0, 1], [0, 0], [1, 0]])
    assert steps_of(simulate(net, x).spikes["n"]) == [1, 2]


def test_a_batch_equals_its_sequences_run_one_by_one():
    rng = np.random.default_rng(7)
    net = random_network(rng)
    x = {name: rng.random((4, 30, net.populations[name].size)) < 0.3 for name in net.inputs}
    together = simulate(net, x, record_states=True)
    for b in range(4):
        alone = simulate(net, {k: v[b] for k, v in x.items()}, record_states=True)
        for name, spikes in alone.spikes.items():
            np.testing.assert_array_equal(np.asarray(spikes)[0], np.asarray(together.spikes[name])[b])
        for name, states in alone.states.items():
            for key, value in states.items():
                np.testing.assert_allclose(np.asarray(value)[0],
                                           np.asarray(together.states[name][key])[b],
                                           rtol=1e-6, atol=1e-6)


def test_same_input_gives_the_same_output():
    rng = np.random.default_rng(3)
    net = random_network(rng)
    x = {name: rng.random((2, 25, net.populations[name].size)) < 0.3 for name in net.inputs}
    first, second = simulate(net, x, record_states=True), simulate(net, x, record_states=True)
    for name in first.spikes:
        np.testing.assert_array_equal(np.asarray(first.spikes[name]),
                                      np.asarray(second.spikes[name]))


# ---------------------------------------------------------------------------------------------
# input validation


def test_bad_inputs_raise_one_clear_simulation_error():
    net = chain("LIF", size=3, tau_mem=1e-2, dt=1e-3)
    with pytest.raises(SimulationError, match=r"'in'.*shape \(5, 2\).*\(T, 3\)"):
        simulate(net, np.zeros((5, 2)))
    with pytest.raises(SimulationError, match=r"unknown input populations \['inp'\].*\['in'\]"):
        simulate(net, {"inp": np.zeros((5, 3))})
    with pytest.raises(SimulationError, match=r"no spike trains given for inputs \['in'\]"):
        simulate(net, {})
    with pytest.raises(SimulationError, match="values other than 0 and 1"):
        simulate(net, np.full((5, 3), 0.5))
    with pytest.raises(SimulationError, match="no batch entry or no time step"):
        simulate(net, np.zeros((0, 3)))
    two = chain("LIF", size=3, tau_mem=1e-2, dt=1e-3)
    two.add_population(make_population("in2", "input", 2))
    with pytest.raises(SimulationError, match="single array .* 2 inputs"):
        simulate(two, np.zeros((5, 3)))
    with pytest.raises(SimulationError, match="disagree on \\(batch, steps\\)"):
        simulate(two, {"in": np.zeros((5, 3)), "in2": np.zeros((6, 2))})


def test_dtype_errors_and_input_free_networks():
    net = chain("LIF", tau_mem=1e-2, dt=1e-3)
    with pytest.raises(SimulationError, match="not a floating-point type"):
        simulate(net, silent(3), dtype=np.int32)
    if not jax.config.read("jax_enable_x64"):
        with pytest.raises(SimulationError, match="float64 is not available.*enable_x64"):
            simulate(net, silent(3), dtype=np.float64)
    solo = Network(dt=1e-3)
    solo.add_population(make_population("n", "LIF", 1, tau_mem=1e-2, v_leak=1.5))
    with pytest.raises(SimulationError, match="no input population.*steps=T"):
        simulate(solo, {})
    assert steps_of(simulate(solo, {}, steps=22).spikes["n"]) == [10, 21]


def test_an_invalid_network_is_refused_before_simulating():
    net = chain("IF")
    net.projections["in->n"].delay = -1
    with pytest.raises(IRVerifyError, match="delay -1"):
        simulate(net, silent(3))


# ---------------------------------------------------------------------------------------------
# weight layouts


def test_the_three_weight_layouts_compute_the_same_product():
    rng = np.random.default_rng(0)
    dense = sp.random_array((37, 53), density=0.2, rng=rng).toarray()
    dense[5] = 0  # a target without synapses
    w = sp.csr_array(dense)
    s = (rng.random((3, 53)) < 0.5).astype(np.float64)
    expected = s @ w.toarray().T
    with jax.enable_x64(True):
        for layout in _sim_projection.LAYOUTS:
            arrays = _sim_projection.pack_weights(w, layout, np.dtype(np.float64))
            got = _sim_projection.apply_weights(layout, arrays, s, 37)
            np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-12, atol=1e-12)


def test_layout_choice_follows_size_and_fan_in():
    rng = np.random.default_rng(1)
    assert _sim_projection.choose_layout(sp.csr_array(np.ones((10, 10)))) == "dense"
    assert _sim_projection.choose_layout(
        sp.csr_array(sp.random_array((2000, 2000), density=0.5, rng=rng))) == "dense"
    # Even fan-in (like an unrolled convolution): 9 synapses per target.
    n = 3000
    rows = np.repeat(np.arange(n), 9)
    cols = (rows + np.tile(np.arange(9), n)) % n
    conv = sp.csr_array((np.ones(rows.size), (rows, cols)), shape=(n, n))
    assert _sim_projection.choose_layout(conv) == "ell"
    # One target listening to everything, the others to one source: padding would be huge.
    skew = sp.lil_array((n, n))
    skew[0, :] = 1.0
    skew.setdiag(1.0)
    assert _sim_projection.choose_layout(sp.csr_array(skew)) == "segment"


# ---------------------------------------------------------------------------------------------
# randomised comparison with the numpy loop

MODELS = ("LIF", "CubaLIF", "IF", "LI", "CubaLI", "I", "Threshold")


def random_network(rng: np.random.Generator) -> Network:
    """2 inputs and 4-6 populations of random models, with feed-forward, skip, back and self
    edges; every population a candidate source so that non-spiking sources are exercised."""
    dt = 1e-3
    net = Network(dt=dt, name="random")
    for k in range(2):
        net.add_population(make_population(f"in{k}", "input", int(rng.integers(2, 6))))
    n_hidden = int(rng.integers(4, 7))
    models = list(rng.permutation(MODELS))[:n_hidden] + ["LIF"] * max(0, n_hidden - len(MODELS))
    for k, model in enumerate(models):
        size = int(rng.integers(2, 9))
        params = {}
        if model in ("LIF", "CubaLIF", "LI", "CubaLI"):
            params["tau_mem"] = dt * rng.uniform(1.5, 20, size)
            params["v_leak"] = rng.uniform(-0.2, 0.4, size)
        if model in ("CubaLIF", "CubaLI"):
            params["tau_syn"] = dt * rng.uniform(1.5, 10, size)
        if model in ("LIF", "CubaLIF", "IF"):
            params["v_reset"] = rng.uniform(-0.3, 0.3, size)
            params["reset"] = str(rng.choice(["zero", "subtract"]))
            params["refractory"] = dt * int(rng.integers(0, 4))
        params["bias"] = rng.uniform(-0.1, 0.3, size) * (0.1 if model == "I" else 1.0)
        net.add_population(make_population(f"p{k}", model, size, **params))
    names = list(net.populations)

    def connect(src: str, tgt: str, delay: int) -> None:
        s, t = net.populations[src], net.populations[tgt]
        gain = 3.0 if t.model in ("LIF", "CubaLIF", "LI", "CubaLI") else 1.0
        gain *= 0.2 if s.model in ("LI", "CubaLI", "I") else 1.0
        w = rng.normal(0.5, 1.0, (t.size, s.size)) * gain / np.sqrt(s.size)
        w[rng.random(w.shape) < 0.3] = 0.0
        net.add_projection(Projection(f"e{len(net.projections)}", src, tgt, sp.csr_array(w),
                                      delay=delay))

    for j in range(2, len(names)):  # every hidden population gets a feed-forward input
        connect(names[int(rng.integers(0, j))], names[j], 0)
    for _ in range(3):  # extra edges: forward ones may be delayed, back and self ones must be
        src, tgt = int(rng.integers(0, len(names))), int(rng.integers(2, len(names)))
        delay = int(rng.integers(0, 3)) if src < tgt else int(rng.integers(1, 4))
        connect(names[src], names[tgt], delay)
    net.outputs.extend(names[-2:])
    return net.verify()


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["chosen", "ell", "segment"])
def test_random_networks_match_the_numpy_loop_in_float64(layout, monkeypatch):
    if layout != "chosen":
        monkeypatch.setattr(reference, "choose_layout", lambda weights: layout)
    seeds = range(8) if layout == "chosen" else range(10, 12)
    spikes_by_model: dict[str, list[float]] = {}
    with jax.enable_x64(True):
        for seed in seeds:
            rng = np.random.default_rng(seed)
            net = random_network(rng)
            n_steps = 60
            x = {name: rng.random((n_steps, net.populations[name].size)) < 0.4
                 for name in net.inputs}
            result = simulate(net, x, record_states=True, dtype=np.float64)
            delivered, v_trace = numpy_reference(net, x, n_steps)
            for name, pop in net.populations.items():
                if pop.model == "input":
                    continue
                if pop.spiking:
                    got = np.asarray(result.spikes[name])[0]
                    np.testing.assert_array_equal(got, delivered[name].astype(bool),
                                                  err_msg=f"seed {seed}, {name} ({pop.model})")
                    spikes_by_model.setdefault(pop.model, []).append(float(got.mean()))
                if pop.model != "Threshold":
                    np.testing.assert_allclose(np.asarray(result.states[name]["v"])[0],
                                               v_trace[name], rtol=1e-9, atol=1e-9,
                                               err_msg=f"seed {seed}, {name} ({pop.model})")
            for name in net.outputs:
                np.testing.assert_allclose(np.asarray(result.outputs[name])[0], delivered[name],
                                           rtol=1e-9, atol=1e-9)
    # The comparison saw real activity in every spiking model that occurred.
    assert {m: np.mean(r) > 0.02 for m, r in spikes_by_model.items()} == \
        dict.fromkeys(spikes_by_model, True)


# ---------------------------------------------------------------------------------------------
# real models


def _read(path, **options) -> Network:
    from neurocc.frontend.load import LoadOptions
    from neurocc.frontend.nir.reader import read_nir
    return read_nir(path, LoadOptions(**options))


def test_braille_rsnn_runs_with_recurrent_dynamics(shared_models):
    net = _read(shared_models / "braille_noDelay_bias_zero.nir", dt=1e-4)
    recurrent = [p for p in net.projections.values() if p.delay >= 1]
    assert len(recurrent) == 1 and recurrent[0].source == recurrent[0].target
    hidden = recurrent[0].target
    assert net.populations[hidden].size == 38
    (channels,) = [net.populations[name].size for name in net.inputs]
    assert channels == 12
    rng = np.random.default_rng(42)
    n_steps = 250
    x = rng.random((3, n_steps, 12)) < 0.1  # Poisson spike trains, 10 % per step
    result = simulate(net, x)
    hidden_spikes = np.asarray(result.spikes[hidden])
    assert hidden_spikes.sum() > 50 and hidden_spikes.any(axis=(0, 1)).sum() >= 5
    cut = net.copy()
    cut.projections[recurrent[0].name].weights.data[:] = 0.0
    cut_spikes = np.asarray(simulate(cut, x).spikes[hidden])
    assert not np.array_equal(cut_spikes, hidden_spikes)
    # And the whole run agrees with the plain numpy loop (float64, first sequence).
    with jax.enable_x64(True):
        exact = simulate(net, x[:1], dtype=np.float64)
    delivered, _ = numpy_reference(net, {net.inputs[0]: x[0]}, n_steps)
    for name, spikes in exact.spikes.items():
        np.testing.assert_array_equal(np.asarray(spikes)[0], delivered[name].astype(bool))


def test_sinabs_cnn_runs_sparse_and_matches_the_numpy_loop(shared_models):
    net = _read(shared_models / "cnn_sinabs_nmnist.nir", dt=1e-3, reset="subtract")
    assert net.neurons() == 8970
    # The unrolled convolutions are stored sparse: far below the 114 MB of dense float32 matrices.
    _, params = reference.compile_network(net)
    packed = sum(a.nbytes for a in jax.tree_util.tree_leaves(params))
    dense = sum(4 * p.weights.shape[0] * p.weights.shape[1] for p in net.projections.values())
    assert packed < dense / 5
    rng = np.random.default_rng(5)
    n_steps = 12
    x = {name: rng.random((n_steps, net.populations[name].size)) < 0.3 for name in net.inputs}
    with jax.enable_x64(True):
        result = simulate(net, x, dtype=np.float64)
    delivered, _ = numpy_reference(net, x, n_steps)
    for name, spikes in result.spikes.items():
        np.testing.assert_array_equal(np.asarray(spikes)[0], delivered[name].astype(bool),
                                      err_msg=name)
    assert sum(int(np.asarray(s).sum()) for n, s in result.spikes.items()
               if n not in net.inputs) > 100
