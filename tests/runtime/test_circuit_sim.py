"""The circuit simulator on hand-built configurations with answers known from the DPI relations.

Expected values are computed here from the target's bias currents and the README's circuit
formulas, never by the simulator's own code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp

from neurocc.backends.target import load_target
from neurocc.compiler.biasgen import assign_bias
from neurocc.compiler.circuits import currents_to_params, map_circuits, tau_current, width_current
from neurocc.compiler.errors import ConfigError, SimulationError
from neurocc.compiler.ir import Network, Projection, make_population
from neurocc.compiler.tables import CoreConfig, RoutingTables
from neurocc.runtime import circuit as cs
from neurocc.runtime.circuit import events as ev
from neurocc.runtime.hardware_network import build_hardware_network
from neurocc.runtime.reference import simulate

SE2 = load_target("dynapse2")
DT = 1e-3
TYPES = tuple(st.name for st in SE2.synapse_types)


#: A DC drive 100x the spike threshold: the membrane crosses it within one step of any reset.
STRONG_DC = {"I_dc": 5e-7, "I_spkthr": 2e-8}


def default_currents(**overrides: float) -> dict[str, float]:
    """README DYNAP-SE2 defaults (tau_mem 20 ms, synapses 10 ms, gains 4 / 100, ...), by role."""
    c, caps = SE2.circuit, SE2.circuit.capacitance
    cur = {"I_tau_mem": float(tau_current(20e-3, caps["mem"], c)), "I_dc": 0.0,
           "I_ref": float(width_current(1e-3, caps["ref"], c)),
           "I_pulse": float(width_current(10e-6, caps["pulse"], c)), "I_spkthr": 1e-7}
    cur["I_gain_mem"] = 4 * cur["I_tau_mem"]
    for st in SE2.synapse_types:
        cur[st.tau_role] = float(tau_current(10e-3, st.capacitance, c))
        cur[st.gain_role] = 100 * cur[st.tau_role]
    for k in range(4):
        cur[f"I_w_base.{k}"] = 2e-9 * 2 ** k
    cur.update(overrides)
    return cur


def se2_tables(n: int, n_inputs: int, synapses: list[tuple[int, int, str, int]],
               currents: dict[str, float] | None = None, neuron_hw: list[int] | None = None
               ) -> RoutingTables:
    """One core; ``synapses`` are (source, post, type, mask), source < 0 = input channel -1-src.

    Every source sends one SRAM event to core 0 with its own tag (neuron j: j + 1, channel c:
    1000 + c); each synapse is a CAM entry of the post neuron listening to that tag.
    """
    biases = {}
    for role, value in (currents or default_currents()).items():
        name = SE2.bias_for_role(role).name
        choice = assign_bias(SE2, name, value) if value > 0 else None
        biases[name] = (0, 0) if choice is None else (int(choice.coarse), int(choice.fine))
    tag = lambda s: s + 1 if s >= 0 else 1000 - 1 - s  # noqa: E731
    sources = sorted({s for s, *_ in synapses})
    hw = list(range(n)) if neuron_hw is None else neuron_hw
    return RoutingTables(
        target="dynapse2", chips=1, cores_per_chip=4, neurons_per_core=256, syn_types=TYPES,
        populations=[("pop", n)], input_populations=[("in", n_inputs)], neuron_hw=np.array(hw),
        cam_post=np.array([hw[p] for _, p, _, _ in synapses], dtype=np.int64),
        cam_key=np.array([tag(s) for s, *_ in synapses], dtype=np.int64),
        cam_type=np.array([TYPES.index(t) for _, _, t, _ in synapses], dtype=np.int64),
        cam_code=np.array([m for *_, m in synapses], dtype=np.int64),
        sram_src=np.array([hw[s] if s >= 0 else s for s in sources], dtype=np.int64),
        sram_key=np.array([tag(s) for s in sources], dtype=np.int64),
        sram_chip=np.zeros(len(sources), np.int64), sram_cores=np.ones(len(sources), np.int64),
        cores={(0, 0): CoreConfig(0, 0, 0, biases)}, outputs=["pop"])


def realised(tables: RoutingTables, role: str) -> float:
    """The current the core's bias for ``role`` delivers (the target's table, not the simulator)."""
    name = SE2.bias_for_role(role).name
    return float(SE2.bias_current(name, *tables.cores[(0, 0)].biases[name]))


def tau_of(current: float, capacitance: float) -> float:
    c = SE2.circuit
    return capacitance * c.U_T / (c.kappa * current)


def events(steps: int, channels: int, at: dict[int, list[int]]) -> np.ndarray:
    x = np.zeros((1, steps, channels), np.float32)
    for ch, ts in at.items():
        x[0, ts, ch] = 1
    return x


# -- DPI relations ---------------------------------------------------------------------------
def test_synapse_jump_and_time_constant_match_the_dpi_formula():
    tables = se2_tables(1, 1, [(-1, 0, "AMPA", 0b1011)])
    hw = build_hardware_network(tables, SE2)
    res = cs.simulate_circuit(hw, events(20, 1, {0: [5]}), dt=DT, mismatch=0.0,
                              record_states=True)
    i_syn = res.i_syn[0, 0, :, 0, 0]
    i_w = sum(realised(tables, f"I_w_base.{k}") for k in (0, 1, 3))
    i_tau, i_gain = realised(tables, "I_tau_syn.AMPA"), realised(tables, "I_gain_syn.AMPA")
    tau = tau_of(i_tau, SE2.synapse_type("AMPA").capacitance)
    t_pulse = SE2.circuit.V_th * SE2.circuit.capacitance["pulse"] / realised(tables, "I_pulse")
    jump = i_gain * i_w / i_tau * (1 - np.exp(-t_pulse / tau))
    assert np.all(i_syn[:5] == 0)
    np.testing.assert_allclose(i_syn[5], jump, rtol=1e-5)
    np.testing.assert_allclose(i_syn[6:] / i_syn[5:-1], np.exp(-DT / tau), rtol=1e-5)


def test_membrane_steady_state_and_time_constant():
    # neuron 0: DC only, settles at I_gain/I_tau * I_dc - I_gain. Neuron 1: kicked by a fast
    # synapse (tau 1 ms), then decays with tau_mem: (I + I_gain) shrinks by exp(-dt/tau_mem).
    fast = float(tau_current(1e-3, SE2.synapse_type("NMDA").capacitance, SE2.circuit))
    cur = default_currents(I_dc=2e-9, **{"I_tau_syn.NMDA": fast, "I_gain_syn.NMDA": 100 * fast,
                                         "I_w_base.3": 1.5e-7})
    tables = se2_tables(2, 1, [(-1, 1, "NMDA", 15)], cur)
    hw = build_hardware_network(tables, SE2)
    # neuron 1 has the same DC: measure its decay relative to the DC fixed point
    res = cs.simulate_circuit(hw, events(300, 1, {0: [200]}), dt=DT, mismatch=0.0,
                              record_states=True)
    i_mem = res.i_mem[0, 0]
    i_tau, gain, dc = (realised(tables, r) for r in ("I_tau_mem", "I_gain_mem", "I_dc"))
    fixed = gain / i_tau * dc - gain
    np.testing.assert_allclose(i_mem[199], [fixed, fixed], rtol=2e-4)
    tau_mem = tau_of(i_tau, SE2.circuit.capacitance["mem"])
    excess = i_mem[225:260, 1] - fixed     # the synapse has died out (exp(-25))
    assert excess[0] > 100 * gain
    np.testing.assert_allclose(excess[1:] / excess[:-1], np.exp(-DT / tau_mem), rtol=2e-3)


def test_refractory_period_sets_the_interspike_interval():
    # A strong DC drive reaches the threshold in one step: ISI = refractory steps + 1.
    intervals = {}
    for t_ref in (3e-3, 7e-3):
        cur = default_currents(**STRONG_DC, I_ref=float(width_current(
            t_ref, SE2.circuit.capacitance["ref"], SE2.circuit)))
        tables = se2_tables(1, 1, [], cur)
        res = cs.simulate_circuit(build_hardware_network(tables, SE2), np.zeros((60, 1)), dt=DT,
                                  mismatch=0.0)
        t_real = SE2.circuit.V_th * SE2.circuit.capacitance["ref"] / realised(tables, "I_ref")
        intervals[t_ref] = (np.diff(np.flatnonzero(res.spikes[0, 0, :, 0])), round(t_real / DT))
    for isi, steps in intervals.values():
        assert isi.size > 3 and np.all(isi == steps + 1)
    assert intervals[7e-3][1] == 7 and intervals[3e-3][1] == 3


def test_inhibitory_and_shunting_synapses_reduce_firing():
    rng = np.random.default_rng(1)
    x = (rng.random((1, 400, 2)) < [0.3, 0.5]).astype(np.float32)
    syn = [(-1, p, "AMPA", 15) for p in range(3)] + [(-2, 1, "GABA", 15), (-2, 2, "SHUNT", 15)]
    hw = build_hardware_network(se2_tables(3, 2, syn, default_currents(
        **{"I_w_base.3": 2e-7})), SE2)
    counts = cs.simulate_circuit(hw, x, dt=DT, mismatch=0.0).spikes[0, 0].sum(axis=0)
    assert counts[0] >= 10
    assert counts[1] < 0.7 * counts[0] and counts[2] < 0.7 * counts[0]


def test_silenced_neurons_never_spike_and_the_rest_do():
    hw = build_hardware_network(se2_tables(8, 1, [], default_currents(**STRONG_DC)), SE2)
    res = cs.simulate_circuit(hw, np.zeros((30, 1)), dt=DT, instances=3, mismatch=0.0,
                              silence=0.5)
    counts = res.spikes.sum(axis=(1, 2))            # (instances, neurons)
    assert np.all((counts == 0).sum(axis=1) == 4)
    assert np.all(counts[counts > 0] >= 5)
    assert len({tuple(c > 0) for c in counts}) > 1   # instances silence different neurons


# -- weights -----------------------------------------------------------------------------------
def test_weight_bits_override_rounds_weights_per_core_and_type():
    # masks 15, 5, 1 of one (core, AMPA) group; 1 bit keeps only the largest (15 -> itself),
    # 2 bits: levels max/3: 5 -> round(1) = max/3, 1 -> round(0.2) = 0.
    tables = se2_tables(1, 3, [(-1, 0, "AMPA", 15), (-2, 0, "AMPA", 5), (-3, 0, "AMPA", 1)])
    hw = build_hardware_network(tables, SE2)
    x = events(40, 3, {0: [2], 1: [15], 2: [30]})
    bases = np.array([realised(tables, f"I_w_base.{k}") for k in range(4)])
    full = bases.sum()
    for bits, expected in ((None, [full, bases[0] + bases[2], bases[0]]),
                           (1, [full, 0.0, 0.0]), (2, [full, full / 3, 0.0])):
        res = cs.simulate_circuit(hw, x, dt=DT, mismatch=0.0, weight_bits=bits,
                                  record_states=True)
        i_syn = res.i_syn[0, 0, :, 0, 0]
        decay = i_syn[3] / i_syn[2]
        jumps = [i_syn[t] - i_syn[t - 1] * decay for t in (2, 15, 30)]
        np.testing.assert_allclose(np.array(jumps) / jumps[0], np.array(expected) / full,
                                   rtol=1e-4, atol=1e-6)


def test_repeated_se1_cam_entries_add_and_fixed_threshold_is_used():
    se1 = load_target("dynapse1")
    biases = {}
    for role, value in {"I_tau_mem": 5e-12, "I_gain_mem": 2e-11, "I_dc": 1e-10, "I_ref": 5e-10,
                        "I_pulse": 3e-8, "I_tau_syn.AMPA": 3e-11, "I_gain_syn.AMPA": 3e-9,
                        "I_w.AMPA": 1e-9}.items():
        ch = assign_bias(se1, se1.bias_for_role(role).name, value)
        biases[se1.bias_for_role(role).name] = (int(ch.coarse), int(ch.fine))
    names = tuple(st.name for st in se1.synapse_types)
    tables = RoutingTables(
        target="dynapse1", chips=1, cores_per_chip=4, neurons_per_core=256, syn_types=names,
        populations=[("p", 2)], input_populations=[("in", 1)], neuron_hw=np.array([3, 4]),
        cam_post=np.array([3, 3, 4]), cam_key=np.array([7, 7, 7]),
        cam_type=np.array([names.index("AMPA")] * 3), cam_code=np.array([1, 1, 1]),
        sram_src=np.array([-1]), sram_key=np.array([7]), sram_chip=np.array([0]),
        sram_cores=np.array([1]), cores={(0, 0): CoreConfig(0, 0, 0, biases)})
    hw = build_hardware_network(tables, se1, spike_threshold=3e-8)
    i_w = se1.bias_current("PS_WEIGHT_EXC_F_N", *biases["PS_WEIGHT_EXC_F_N"])
    per_post = np.bincount(hw.syn_post, weights=hw.syn_weight, minlength=2)
    np.testing.assert_allclose(per_post, [2 * i_w, i_w])
    np.testing.assert_allclose(hw.currents["I_spkthr"], 3e-8)


# -- instances, mismatch, devices ----------------------------------------------------------------
def recurrent_net(n: int = 12, seed: int = 0) -> tuple[object, np.ndarray]:
    rng = np.random.default_rng(seed)
    syn = [(-1 - c, p, "AMPA", int(rng.integers(8, 16))) for p in range(n)
           for c in rng.choice(4, 2, replace=False)]
    syn += [(int(s), p, str(rng.choice(["AMPA", "GABA"])), int(rng.integers(1, 16)))
            for p in range(n) for s in rng.choice(np.delete(np.arange(n), p), 3, replace=False)]
    hw = build_hardware_network(se2_tables(n, 4, syn, default_currents(
        **{"I_w_base.3": 6e-8})), SE2)
    x = (rng.random((2, 150, 4)) < 0.15).astype(np.float32)
    return hw, x


def test_no_mismatch_is_deterministic_and_mismatch_varies_instances():
    hw, x = recurrent_net()
    a = cs.simulate_circuit(hw, x, dt=DT, instances=2, mismatch=0.0, record_states=True)
    b = cs.simulate_circuit(hw, x, dt=DT, instances=2, mismatch=0.0, record_states=True)
    assert a.spikes.any()
    assert np.array_equal(a.spikes, b.spikes) and np.array_equal(a.i_mem, b.i_mem)
    assert np.array_equal(a.i_mem[0], a.i_mem[1])
    m = cs.simulate_circuit(hw, x, dt=DT, instances=2, mismatch=0.2, record_states=True)
    assert not np.array_equal(m.spikes[0], m.spikes[1])


def test_an_instance_depends_only_on_seed_and_its_number():
    hw, x = recurrent_net()
    opts = dict(dt=DT, mismatch=0.2, noise=0.05, silence=0.25, seed=3, record_states=True)
    ten = cs.simulate_circuit(hw, x, instances=10, **opts)
    seven = cs.simulate_circuit(hw, x, instances=1, first_instance=7, **opts)
    assert np.array_equal(ten.spikes[7], seven.spikes[0])
    np.testing.assert_array_equal(ten.i_mem[7], seven.i_mem[0])
    grouped = cs.simulate_circuit(hw, x, instances=10, memory_budget=1, **opts)
    assert np.array_equal(grouped.spikes, ten.spikes)       # one instance per group
    other = cs.simulate_circuit(hw, x, instances=1, first_instance=7, **{**opts, "seed": 4})
    assert not np.array_equal(other.i_mem[0], seven.i_mem[0])


def test_event_driven_and_dense_synaptic_input_agree():
    hw, x = recurrent_net()
    res = {mode: cs.simulate_circuit(hw, x, dt=DT, instances=2, mismatch=0.2,
                                     connectivity=mode, record_states=True)
           for mode in ("dense", "event")}
    assert res["dense"].spikes.sum() > 20
    assert np.array_equal(res["dense"].spikes, res["event"].spikes)
    np.testing.assert_allclose(res["dense"].i_mem, res["event"].i_mem, rtol=1e-5, atol=1e-15)


def test_event_rows_hold_every_synapse_once():
    hw, _ = recurrent_net(seed=2)
    conn = cs.build_connectivity(hw, "event")
    n = hw.n_neurons
    # neuron sources are numbered 0..n-1, input channel c is c in its own rows
    for rows, first in ((conn.neurons, 0), (conn.inputs, n)):
        syn = np.asarray(rows.row_syn)[:-1]
        real = syn[syn < hw.n_synapses]
        n_src = syn.shape[0] - np.asarray(rows.extra_src).size
        row_src = np.concatenate([np.arange(n_src), np.asarray(rows.extra_src)])
        src_of = np.repeat(row_src, syn.shape[1]).reshape(syn.shape)
        assert np.array_equal(src_of[syn < hw.n_synapses] + first, hw.syn_src[real])
        slots = np.asarray(rows.row_slot)[:-1]
        assert np.array_equal(slots[syn < hw.n_synapses], np.asarray(conn.syn_slot)[real])
    together = np.concatenate([np.asarray(r.row_syn).ravel() for r in (conn.neurons, conn.inputs)])
    assert np.array_equal(np.sort(together[together < hw.n_synapses]), np.arange(hw.n_synapses))


@pytest.mark.parametrize("size, density", [(1, 1.0), (31, 0.3), (32, 1.0), (33, 0.05),
                                           (1000, 0.02), (4100, 0.7)])
def test_the_k_th_active_entry_is_found_for_every_k(size, density):
    active = np.random.default_rng(size).random(size) < density
    words, before = ev._active_words(jnp.asarray(active))
    expected = np.flatnonzero(active)
    assert int(before[-1]) == expected.size
    found = ev._active_position(words, before, jnp.arange(expected.size, dtype=jnp.int32))
    assert np.array_equal(np.asarray(found), expected)


@pytest.mark.parametrize("shared", [False, True])
def test_event_drive_values_and_gradients_match_a_dense_scatter(shared):
    rng = np.random.default_rng(3)
    inst, batch, rows, width, slots = 3, 2, 30, 5, 17
    s = jnp.asarray(rng.random((inst, batch, rows)) < 0.3, jnp.float32) * 2.0
    if shared:                           # inputs: the same events in every instance
        s = s[:1]
    w = jnp.asarray(rng.random((inst, rows + 1, width)), jnp.float32).at[:, -1].set(0.0)
    slot = jnp.asarray(rng.integers(0, slots + 1, (rows + 1, width)), jnp.int32).at[-1].set(slots)
    probe = jnp.asarray(rng.standard_normal((inst, batch, slots)), jnp.float32)

    def dense(s, w):
        one = lambda s1, w1: jnp.zeros(slots + 1).at[slot[:-1]].add(w1[:-1] * s1[:, None])  # noqa
        s = jnp.broadcast_to(s, (inst,) + s.shape[1:])
        return jax.vmap(lambda s_i, w_i: jax.vmap(lambda s_b: one(s_b, w_i))(s_i))(s, w)[..., :-1]

    def event(s, w):                     # chunk 4 (2 when shared): several loop iterations
        if shared:
            return cs.shared_event_drive(s[0], w, slot, 2, slots)
        return cs.event_drive(s, w, slot, 4, slots)

    assert int((s > 0).sum()) > 12
    np.testing.assert_allclose(event(s, w), dense(s, w), rtol=1e-6)
    g_event, g_dense = (jax.grad(lambda s, w: (f(s, w) * probe).sum(), argnums=(0, 1))(s, w)
                        for f in (event, dense))
    np.testing.assert_allclose(g_event[0], g_dense[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g_event[1][:, :-1], g_dense[1][:, :-1], rtol=1e-5, atol=1e-6)


def test_gradients_through_the_surrogate_are_finite_and_nonzero():
    hw, x = recurrent_net()
    conn = cs.build_connectivity(hw, "dense")     # the event rule is checked on its own above
    cfg = cs.step_config(hw, DT)

    def loss(params):
        (spikes,) = cs.circuit_forward(params, hw, conn, cfg, jnp.asarray(x), jnp.arange(2),
                                       mismatch=0.1)
        return spikes.sum()

    grads = jax.grad(loss)(cs.nominal_params(hw))
    for name in ("syn_weight", "I_tau_mem", "I_spkthr", "I_gain_syn"):
        g = np.asarray(grads[name])
        assert np.all(np.isfinite(g)) and np.any(g != 0), name
    # more weight current, more spikes: the summed weight gradient is positive
    assert float(np.asarray(grads["syn_weight"])[np.asarray(hw.syn_type) == 0].sum()) > 0


def test_sharded_over_four_cpu_devices_equals_one_device():
    script = """
import json, sys, jax, numpy as np
sys.path.insert(0, sys.argv[1])
from test_circuit_sim import recurrent_net, DT
from neurocc.runtime.circuit import simulate_circuit
hw, x = recurrent_net()
devs = jax.devices()
a = simulate_circuit(hw, x, dt=DT, instances=6, mismatch=0.2, devices=devs)
b = simulate_circuit(hw, x, dt=DT, instances=6, mismatch=0.2, devices=devs[:1])
print(json.dumps({"devices": len(devs), "equal": bool(np.array_equal(a.spikes, b.spikes)),
                  "spikes": int(a.spikes.sum())}))
"""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"devices": 4, "equal": True, "spikes": result["spikes"]}
    assert result["spikes"] > 0


# -- against the reference simulator -----------------------------------------------------------
def test_tracks_the_reference_simulator_with_mismatch_off():
    """A CubaLIF layer with a delay-1 recurrent projection, mapped by compiler.circuits.

    The reference runs the IR that ``currents_to_params`` reads back from the realised currents.
    Stated tolerance: every spike of every neuron within one step of the reference's, the same
    spike counts, and the membrane ``v = I_mem / I_spkthr`` within 0.01 of the reference's at every
    step (measured: identical spike trains, |dv| < 5e-4, from the growth out of I_0 after a reset).
    """
    rng = np.random.default_rng(5)
    net = Network(dt=DT)
    net.add_population(make_population("in", "input", 3))
    net.add_population(make_population("pop", "CubaLIF", 4, tau_mem=0.02, tau_syn=0.02,
                                       v_leak=0.2, refractory=2e-3))
    w_in = rng.uniform(2, 5, (4, 3)) * (rng.random((4, 3)) < 0.8)
    w_rec = rng.uniform(0.5, 1.5, (4, 4)) * (1 - np.eye(4))
    net.add_projection(Projection("ff", "in", "pop", sp.csr_array(w_in)))
    net.add_projection(Projection("rec", "pop", "pop", sp.csr_array(w_rec), delay=1))
    net.outputs = ["pop"]
    cmap = map_circuits(net.verify(), SE2)
    tables, realised_map = _realise(net, cmap)
    ref_net = currents_to_params(net, realised_map, SE2)
    x = (rng.random((1, 300, 3)) < 0.12).astype(np.float32)
    ref = simulate(ref_net, x, record_states=True)
    hw = build_hardware_network(tables, SE2)
    circ = cs.simulate_circuit(hw, x, dt=DT, mismatch=0.0, record_states=True)
    s_ref = np.asarray(ref.spikes["pop"][0])
    s_circ = circ.population("pop")[0, 0]
    assert s_ref.sum() >= 20 and s_ref[:, 1].sum() >= 1
    assert np.array_equal(s_circ.sum(axis=0), s_ref.sum(axis=0))
    for j in range(4):
        t_ref, t_circ = np.flatnonzero(s_ref[:, j]), np.flatnonzero(s_circ[:, j])
        assert np.all(np.abs(t_circ - t_ref) <= 1)
    idx = hw.population_neurons("pop")
    v_circ = circ.i_mem[0, 0][:, idx] / hw.currents["I_spkthr"][idx]
    np.testing.assert_allclose(v_circ, np.asarray(ref.states["pop"]["v"][0]), atol=0.01)


def _realise(net: Network, cmap) -> tuple[RoutingTables, object]:
    """Bias settings for the population's (uniform) currents, base weights and 4-bit masks."""
    pc = cmap.populations["pop"]
    currents = {role: float(np.median(v)) for role, v in pc.currents.items()}
    i_w = {name: prc.i_w for name, prc in cmap.projections.items()}
    top = max(float(v.max()) for v in i_w.values())
    currents.update({f"I_w_base.{k}": top / 15 * 2 ** k for k in range(4)})
    tables = se2_tables(4, 3, [], currents)
    bases = np.array([realised(tables, f"I_w_base.{k}") for k in range(4)])
    levels = np.array([[(m >> k) & 1 for k in range(4)] for m in range(16)]) @ bases
    synapses, realised_w = [], {}
    for name, prc in cmap.projections.items():
        masks = np.argmin(np.abs(levels[None, :] - prc.i_w[:, None]), axis=1)
        realised_w[name] = levels[masks]
        src = -1 - prc.pre if prc.source == "in" else prc.pre
        synapses += [(int(s), int(p), "AMPA", int(m)) for s, p, m in zip(src, prc.post, masks)]
    tables = se2_tables(4, 3, synapses, currents)
    real = {role: np.full(4, realised(tables, role)) for role in pc.currents}
    return tables, cmap.with_currents({"pop": real}, realised_w)


# -- errors ------------------------------------------------------------------------------------
def test_bad_inputs_and_options_raise_simulation_errors():
    hw = build_hardware_network(se2_tables(2, 3, [(-1, 0, "AMPA", 3)]), SE2)
    for bad in (np.zeros((1, 10, 2)), np.zeros((10,)), -np.ones((10, 3)),
                np.full((10, 3), np.nan)):
        with pytest.raises(SimulationError, match="inputs"):
            cs.simulate_circuit(hw, bad, dt=DT)
    for kwargs in ({"dt": 0.0}, {"dt": DT, "instances": 0}, {"dt": DT, "silence": 1.5},
                   {"dt": DT, "weight_bits": 0}, {"dt": DT, "mismatch": -0.1},
                   {"dt": DT, "connectivity": "csr"}):
        with pytest.raises(SimulationError):
            cs.simulate_circuit(hw, np.zeros((10, 3)), **kwargs)


def test_missing_bias_and_inconsistent_tables_raise_config_errors():
    tables = se2_tables(2, 1, [(-1, 0, "AMPA", 3)])
    del tables.cores[(0, 0)].biases["SOIF_LEAK_N"]
    with pytest.raises(ConfigError, match="SOIF_LEAK_N"):
        build_hardware_network(tables, SE2)
    tables = se2_tables(2, 1, [(-1, 0, "AMPA", 3)])
    tables.sram_src = np.array([-5])
    with pytest.raises(ConfigError, match="input channel 4"):
        build_hardware_network(tables, SE2)


def test_population_view_follows_ir_neuron_order():
    # IR neurons 0, 1, 2 sit on hardware neurons 9, 2, 5; only IR neuron 1 gets input.
    tables = se2_tables(3, 1, [(-1, 1, "AMPA", 15)], default_currents(**{"I_w_base.3": 3e-7}),
                        neuron_hw=[9, 2, 5])
    hw = build_hardware_network(tables, SE2)
    assert list(hw.hw_ids) == [2, 5, 9]
    res = cs.simulate_circuit(hw, np.ones((30, 1)), dt=DT, mismatch=0.0)
    counts = res.outputs["pop"][0, 0].sum(axis=0)
    assert counts[1] > 0 and counts[0] == 0 and counts[2] == 0
