"""Conformance: neurocc's ``dynapsim`` neuron model vs Rockpool 3.1's DynapSim, no mismatch.

Run in the simulator benchmark's environment (Rockpool is never a dependency of neurocc)::

    python -m venv /tmp/sim-bench-venv
    /tmp/sim-bench-venv/bin/pip install -r benchmarks/requirements-simulator.txt -e .
    /tmp/sim-bench-venv/bin/python benchmarks/fidelity.py [--quick]

Cases, each at dt = 1 ms and 0.1 ms, with the README's DYNAP-SE2 default currents (tau_mem 20 ms,
synapses 10 ms, gain ratios 4 and 100, t_ref 1 ms, t_pulse 10 us, I_spkthr 100 nA):

* ``fI``: one neuron per DC current, I_dc from 20 pA to 1 uA (log-spaced), no input;
* ``excitatory``: one neuron per weight current (2, 8, 32 nA) receiving 50 Hz regular events on
  an AMPA synapse; rates and the synaptic current trace;
* ``inhibitory``: neurons driven by DC (three currents) receiving 50 Hz events on a GABA synapse
  (DynapSim clips its single synapse's input at I_0: inhibition alone does nothing);
* ``network``: the N = 256 network of ``benchmarks/simulator.py`` (25 Hz Poisson inputs), its
  mean rate (individual neurons of a recurrent network diverge chaotically under float rounding).

Rockpool simulates the same currents: ``DynapSim`` with its one synapse given the AMPA time
constant and gain (neurocc's lumped synapse makes the same choice) and inhibitory weights
negative. Without Rockpool only neurocc's rates are printed. Ends with one JSON line:
``max_rate_rel_error_vs_dynapsim`` (over points where either simulator fires >= 1 Hz),
``max_trace_rel_error_vs_dynapsim`` and the per-case table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from neurocc.backends.target import load_target  # noqa: E402
from neurocc.runtime.circuit import simulate_circuit  # noqa: E402
from neurocc.runtime.hardware_network import HardwareNetwork, build_hardware_network  # noqa: E402

#: Rates below this (Hz) are not compared relatively (a neuron that fires once or never).
MIN_RATE = 1.0
EVENT_RATE = 50.0
EXC_WEIGHTS = (2e-9, 8e-9, 32e-9)
INH_DC = (2e-10, 1e-9, 5e-9)
INH_WEIGHT = 16e-9
ISCALE = 1e-9


def default_currents(target: Any) -> dict[str, float]:
    """The README's DYNAP-SE2 defaults per role (the simulator benchmark's, without weights)."""
    c = target.circuit
    tau = lambda t, cap: c.U_T * cap / (c.kappa * t)  # noqa: E731
    width = lambda t, cap: c.V_th * cap / t  # noqa: E731
    cur = {"I_tau_mem": tau(20e-3, c.capacitance["mem"]), "I_ref": width(1e-3, c.capacitance["ref"]),
           "I_pulse": width(10e-6, c.capacitance["pulse"]), "I_spkthr": 1e-7}
    cur["I_gain_mem"] = 4 * cur["I_tau_mem"]
    return cur


def single_neurons(target: Any, dc: np.ndarray, weights: np.ndarray, kind: str
                   ) -> HardwareNetwork:
    """``len(dc)`` unconnected neurons; neuron ``j`` receives input channel ``j`` through one
    synapse of type AMPA (``kind='excitatory'``) or GABA of weight current ``weights[j]``."""
    n = dc.size
    types = [target.synapse_type(name) for name in ("AMPA", "GABA")]
    cur = default_currents(target)
    currents = {role: np.full(n, value) for role, value in cur.items()}
    currents["I_dc"] = np.asarray(dc, float)
    tau = np.array([target.circuit.U_T * st.capacitance / (target.circuit.kappa * 10e-3)
                    for st in types])
    currents["I_tau_syn"] = np.tile(tau, (n, 1))
    currents["I_gain_syn"] = 100 * currents["I_tau_syn"]
    keep = np.flatnonzero(np.asarray(weights) > 0)
    return HardwareNetwork(
        currents=currents, syn_weight=np.asarray(weights, float)[keep],
        syn_src=n + keep, syn_post=keep, syn_type=np.full(keep.size, 0 if kind == "excitatory"
                                                         else 1),
        syn_group=np.zeros(keep.size, np.int64), hw_ids=np.arange(n), neuron_index=np.arange(n),
        n_neurons=n, n_inputs=n, syn_types=("AMPA", "GABA"),
        syn_kinds=("excitatory", "inhibitory"), constants=target.circuit,
        syn_capacitance=tuple(float(st.capacitance) for st in types),
        neuron_model=target.neuron_models.get("dynapsim"), populations=(("n", n),),
        outputs=("n",))


def regular_events(steps: int, channels: int, dt: float, rate: float) -> np.ndarray:
    x = np.zeros((steps, channels), np.float32)
    period = int(round(1.0 / (rate * dt)))
    x[period // 2::period] = 1.0
    return x


# -- Rockpool ----------------------------------------------------------------------------------
def rockpool_run(hw: HardwareNetwork, x: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """DynapSim on ``hw``'s nominal currents; ``x`` ``(T, inputs)`` events. Returns spike counts
    ``(T, n)`` and the synaptic current ``(T, n)``."""
    from rockpool.devices.dynapse import DynapSim

    n, c, cur = hw.n_neurons, hw.constants, hw.currents
    lump = hw.syn_kinds.index("excitatory")
    sign = np.where(np.asarray(hw.syn_kinds)[hw.syn_type] == "excitatory", 1.0, -1.0)
    w = sign * hw.syn_weight / ISCALE
    w_in = np.zeros((hw.n_inputs, n))
    w_rec = np.zeros((n, n), np.float32)
    rec = hw.syn_src < n
    np.add.at(w_rec, (hw.syn_src[rec], hw.syn_post[rec]), w[rec])
    np.add.at(w_in, (hw.syn_src[~rec] - n, hw.syn_post[~rec]), w[~rec])
    sim = DynapSim(
        (n, n), has_rec=bool(rec.any()), w_rec=w_rec if rec.any() else None, dt=dt,
        Iscale=ISCALE, Idc=cur["I_dc"], Igain_mem=cur["I_gain_mem"], Itau_mem=cur["I_tau_mem"],
        Iref=cur["I_ref"], Ipulse=cur["I_pulse"], Ispkthr=cur["I_spkthr"],
        Itau_syn=cur["I_tau_syn"][:, lump], Igain_syn=cur["I_gain_syn"][:, lump],
        C_syn=hw.syn_capacitance[lump], C_mem=c.capacitance["mem"], C_ref=c.capacitance["ref"],
        C_pulse=c.capacitance["pulse"], C_ahp=c.capacitance["ahp"], Io=c.I_0, Ut=c.U_T,
        Vth=c.V_th, kappa_n=c.kappa_n, kappa_p=c.kappa_p)
    out, _, record = sim((x @ w_in).astype(np.float32)[None], record=True)
    return np.asarray(out)[0], np.asarray(record["isyn"])[0]


def rockpool_available() -> bool:
    try:
        import rockpool.devices.dynapse  # noqa: F401
    except ImportError:
        return False
    return True


# -- cases -------------------------------------------------------------------------------------
def run_case(name: str, hw: HardwareNetwork, x: np.ndarray, dt: float, with_rockpool: bool,
             mean_only: bool = False) -> list[dict[str, Any]]:
    """Rates (Hz) of neurocc and Rockpool per neuron (or their mean), one row per point."""
    res = simulate_circuit(hw, x, dt=dt, mismatch=0.0, record_states=True)
    steps = x.shape[0]
    ours = res.spikes[0, 0].astype(float).sum(0) / (steps * dt)
    theirs = trace_err = None
    if with_rockpool:
        spikes, isyn = rockpool_run(hw, x, dt)
        theirs = spikes.sum(0) / (steps * dt)
        mine = res.i_syn[0, 0, :, :, 0]
        trace_err = float(np.max(np.abs(mine - isyn)) / max(float(np.max(np.abs(isyn))), 1e-30))
    if mean_only:
        ours = np.array([ours.mean()])
        theirs = None if theirs is None else np.array([theirs.mean()])
    rows = []
    for j in range(ours.size):
        row = {"case": name, "dt": dt, "point": j, "neurocc_hz": float(ours[j])}
        if theirs is not None:
            row["dynapsim_hz"] = float(theirs[j])
            row["rel_error"] = _rel(ours[j], theirs[j])
            row["trace_rel_error"] = trace_err
        rows.append(row)
    return rows


def _rel(a: float, b: float) -> float | None:
    if max(a, b) < MIN_RATE:
        return None
    return float(abs(a - b) / max(b, 1e-12))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="0.5 s per case, 9 f-I points")
    args = ap.parse_args()
    target = load_target("dynapse2")
    seconds = 0.5 if args.quick else 2.0
    dcs = np.geomspace(20e-12, 1e-6, 9 if args.quick else 25)
    with_rp = rockpool_available()
    rows: list[dict[str, Any]] = []
    for dt in (1e-3, 1e-4):
        steps = int(round(seconds / dt))
        zero = np.zeros((steps, dcs.size), np.float32)
        rows += run_case("fI", single_neurons(target, dcs, np.zeros(dcs.size), "excitatory"),
                         zero, dt, with_rp)
        w = np.asarray(EXC_WEIGHTS)
        rows += run_case("excitatory", single_neurons(target, np.zeros(w.size), w, "excitatory"),
                         regular_events(steps, w.size, dt, EVENT_RATE), dt, with_rp)
        dc = np.asarray(INH_DC)
        rows += run_case("inhibitory", single_neurons(target, dc, np.full(dc.size, INH_WEIGHT),
                                                      "inhibitory"),
                         regular_events(steps, dc.size, dt, EVENT_RATE), dt, with_rp)
        rows += network_case(target, steps, dt, with_rp)
    for row in rows:
        print(json.dumps(row))
    errors = [r["rel_error"] for r in rows if r.get("rel_error") is not None]
    traces = [r["trace_rel_error"] for r in rows if r.get("trace_rel_error") is not None]
    print(json.dumps({"rockpool": with_rp,
                      "max_rate_rel_error_vs_dynapsim": max(errors) if errors else None,
                      "max_trace_rel_error_vs_dynapsim": max(traces) if traces else None,
                      "points_compared": len(errors), "table": rows}))


def network_case(target: Any, steps: int, dt: float, with_rp: bool) -> list[dict[str, Any]]:
    from simulator import benchmark_tables, poisson_inputs

    tables, _ = benchmark_tables(256, seed=0)
    hw = build_hardware_network(tables, target, neuron_model="dynapsim")
    x = poisson_inputs(steps, 25.0, dt, seed=0)[0]
    return run_case("network", hw, x, dt, with_rp, mean_only=True)


if __name__ == "__main__":
    main()
