"""Benchmark: neurocc's circuit simulator vs Rockpool 3.1's DynapSim, Monte-Carlo over mismatch.

Run in the benchmark's own environment (Rockpool is never a dependency of neurocc)::

    python -m venv /tmp/sim-bench-venv
    /tmp/sim-bench-venv/bin/pip install -r benchmarks/requirements-simulator.txt -e .
    /tmp/sim-bench-venv/bin/python benchmarks/simulator.py            # full (several minutes)
    /tmp/sim-bench-venv/bin/python benchmarks/simulator.py --quick    # N = 256 only, < 2 minutes

The network is hardware-realistic: N DYNAP-SE2 neurons (256 per core) and 64 input channels; every
neuron has 64 CAM entries, 16 listening to random input channels and 48 to random neurons (20% of
the neurons are inhibitory: GABA), 4-bit weight masks over the core's base weights. The biases are
the README's DYNAP-SE2 defaults (tau_mem 20 ms, synapses 10 ms, gain ratios 4 and 100, t_ref 1 ms,
t_pulse 10 us, I_spkthr 100 nA) set through the bias generator, with base weights 4, 8, 16, 32 nA;
Poisson inputs at 25 Hz make the network fire at ~15-20 Hz. Rockpool simulates the same
configuration: ``Sequential(LinearJax(inputs), DynapSim(N, w_rec))`` with the same nominal currents
and weight currents (its single synapse takes inhibitory weights as negative ones). Its equations
differ (positive feedback, its input current), so it fires faster on the same configuration; its
dense computation costs the same at any activity, while neurocc's event-driven input grows with it,
hence the extra neurocc line at 40 Hz inputs.

What each simulates per instance and step (read from Rockpool 3.1's ``DynapSim.evolve``,
``frozen_mismatch_prototype`` and ``mismatch_generator``), so that the comparison is not unequal
work in neurocc's favour:

* DynapSim: the recurrent input ``w_rec.T @ spikes``, a dense N x N product at any activity (the
  external input is one dense ``LinearJax`` product over all steps, outside its time loop); one
  DPI synapse current per neuron; the AHP current; the membrane with positive feedback (an
  exponential of ``vmem``, whose logarithm it also computes every step); refractory timer. Its
  states are recorded in the scan, but only the spikes are returned here, so XLA drops the rest.
  Mismatch (frozen prototype): every DynapSim current, capacitance and ``Io``, ``kappa``, ``Ut``,
  ``Vth``, per neuron, as ``x + sigma * z * x`` (not clipped); the weights (``w_rec`` and the
  ``LinearJax`` weights) are NOT varied: a Rockpool instance differs from another only in its
  per-neuron parameters. The vmap still carries a weight matrix per instance (the regenerated
  parameter tree holds every parameter), so the 10-at-a-time runs are batched matrix-vector
  products, like the per-instance products a weight mismatch would need.
* neurocc: two synapse currents per neuron (AMPA and GABA, the types the CAMs use), the membrane
  (no feedback, no AHP: the compiler assigns no bias to them), refractory counter; per-neuron
  mismatch of the same currents (clipped at 0) AND an independent factor per synapse on every
  weight; only the spikes are recorded (``record_states=False``). Synaptic input is event-driven,
  so neurocc does less arithmetic at low activity by design, not by simulating less.

Timed, per network size, for ``--instances`` mismatch instances (sigma 0.2) of ``--steps`` steps at
dt = 1 ms: compile time is reported separately (each function runs once first, untimed), then
``--repeats`` rounds (5; 3 with ``--quick``, which also skips the 40 Hz and weight-mismatch runs)
call every contender once in turn, so that load from other processes on the shared machine hits
all alike; the medians are reported, wall-clock time and this process's CPU time (which load
inflates less: it is the work done, whatever the other processes take):

* neurocc ``simulate_circuit`` on all visible devices (``--cpu-devices`` makes XLA expose that many
  host devices, over which the instances are sharded; the default is XLA's single CPU device);
* Rockpool Monte-Carlo loop as its users write it, per instance: ``regenerate_mismatch(net, key)``,
  ``net.set_attributes(...)``, ``net(x)``. It takes seconds per instance, so it is timed over
  ``--loop-instances`` instances after a first one, and reported per instance (x instances for
  the total);
* DynapSim vmap-ed over the instances' mismatched parameters and jit-compiled: over all instances
  at once (the issue's baseline), 10 at a time (two to three times as fast on this CPU:
  Rockpool's fastest), and 10 at a time with Rockpool's mismatch extended to the weights.

Ends with one JSON line: median times, rates, ``speedup_vs_rockpool_mc_cpu`` (vs the loop),
``speedup_vs_dynapsim_vmap_cpu`` (vs the vmap over all instances) and
``speedup_vs_dynapsim_vmap_best_cpu`` (vs its fastest grouping) for the largest N run, every
speedup per N (``..._n256``, ``..._n1024``) and the same ratios of CPU time (``cpu_speedup_...``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable

CORE = 256
INPUTS = 64
FAN_IN_INPUT, FAN_IN_REC = 16, 48
INHIBITORY_FRACTION = 0.2
#: Smallest base weight (A; the others double it): 4x the README's 1 nA, and input rate (Hz),
#: chosen so that the network fires at a realistic ~15-20 Hz on average.
BASE_WEIGHT = 4e-9
INPUT_RATE = 25.0
#: A second input rate that makes the network several times busier (cost of activity).
BUSY_INPUT_RATE = 40.0
#: DynapSim's vmap is fastest over about 10 instances at a time on this CPU (at N = 256, 21-32
#: ms/instance over 100 at once, 9-11 over groups of 10, measured): both are timed.
VMAP_GROUP = 10


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="N = 256 only, one timed loop instance, no 40 Hz and weight-mismatch runs")
    ap.add_argument("--sizes", type=int, nargs="+", default=None)
    ap.add_argument("--instances", type=int, default=100)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--loop-instances", type=int, default=None,
                    help="instances timed in the Rockpool loop (default 5; quick 1)")
    ap.add_argument("--cpu-devices", type=int, default=None,
                    help="host devices XLA exposes on CPU (instances are sharded over them; "
                         "default: XLA's own, one)")
    ap.add_argument("--repeats", type=int, default=None,
                    help="timed rounds per contender, medians reported (default 5; quick 3)")
    ap.add_argument("--no-rockpool", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args()


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None and ARGS.cpu_devices and \
        "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_force_host_platform_device_count={ARGS.cpu_devices}")

import jax  # noqa: E402  (after XLA_FLAGS)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from neurocc.backends.target import load_target  # noqa: E402
from neurocc.compiler.biasgen import assign_bias  # noqa: E402
from neurocc.compiler.tables import CoreConfig, RoutingTables  # noqa: E402
from neurocc.runtime.circuit import simulate_circuit  # noqa: E402
from neurocc.runtime.hardware_network import HardwareNetwork, build_hardware_network  # noqa: E402


# -- the network ------------------------------------------------------------------------------
def default_currents(target: Any) -> dict[str, float]:
    """The README's DYNAP-SE2 starting point, as currents per role."""
    c = target.circuit
    tau = lambda t, cap: c.U_T * cap / (c.kappa * t)  # noqa: E731
    width = lambda t, cap: c.V_th * cap / t  # noqa: E731
    cur = {"I_tau_mem": tau(20e-3, c.capacitance["mem"]),
           "I_ref": width(1e-3, c.capacitance["ref"]),
           "I_pulse": width(10e-6, c.capacitance["pulse"]), "I_spkthr": 1e-7,
           "I_dc": 0.0}
    cur["I_gain_mem"] = 4 * cur["I_tau_mem"]
    for st in target.synapse_types:
        cur[st.tau_role] = tau(10e-3, st.capacitance)
        cur[st.gain_role] = 100 * cur[st.tau_role]
    for k in range(4):
        cur[f"I_w_base.{k}"] = BASE_WEIGHT * 2 ** k
    return cur


def core_biases(target: Any, currents: dict[str, float]) -> dict[str, tuple[int, int]]:
    out = {}
    for role, value in currents.items():
        name = target.bias_for_role(role).name
        if value == 0:
            out[name] = (0, 0)
        else:
            choice = assign_bias(target, name, value)
            out[name] = (int(choice.coarse), int(choice.fine))
    return out


def benchmark_tables(n: int, seed: int) -> tuple[RoutingTables, Any]:
    """Random recurrent SE2 network of ``n`` neurons, fan-in 64 (16 inputs + 48 neurons)."""
    target = load_target("dynapse2")
    rng = np.random.default_rng(seed)
    cores = -(-n // CORE)
    types = tuple(st.name for st in target.synapse_types)
    ampa, gaba = types.index("AMPA"), types.index("GABA")
    inhibitory = rng.random(n) < INHIBITORY_FRACTION
    # tags: neuron j -> j, input channel c -> n + c (unique on the chip)
    posts, keys, kinds, codes = [], [], [], []
    for j in range(n):
        ins = rng.choice(INPUTS, FAN_IN_INPUT, replace=False)
        recs = rng.choice(np.delete(np.arange(n), j), FAN_IN_REC, replace=False)
        posts.append(np.full(FAN_IN_INPUT + FAN_IN_REC, j))
        keys.append(np.concatenate([n + ins, recs]))
        kinds.append(np.concatenate([np.full(FAN_IN_INPUT, ampa),
                                     np.where(inhibitory[recs], gaba, ampa)]))
        codes.append(np.concatenate([rng.integers(4, 16, FAN_IN_INPUT),
                                     rng.integers(1, 6, FAN_IN_REC)]))
    mask = (1 << cores) - 1
    biases = core_biases(target, default_currents(target))
    tables = RoutingTables(
        target="dynapse2", chips=1, cores_per_chip=4, neurons_per_core=CORE, syn_types=types,
        populations=[("hidden", n)], input_populations=[("input", INPUTS)],
        neuron_hw=np.arange(n), cam_post=np.concatenate(posts), cam_key=np.concatenate(keys),
        cam_type=np.concatenate(kinds), cam_code=np.concatenate(codes),
        sram_src=np.concatenate([np.arange(n), -1 - np.arange(INPUTS)]),
        sram_key=np.concatenate([np.arange(n), n + np.arange(INPUTS)]),
        sram_chip=np.zeros(n + INPUTS, np.int64), sram_cores=np.full(n + INPUTS, mask),
        cores={(0, k): CoreConfig(0, k, 0, dict(biases)) for k in range(cores)},
        outputs=["hidden"])
    return tables, target


def poisson_inputs(steps: int, rate_hz: float, dt: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    return (rng.random((1, steps, INPUTS)) < rate_hz * dt).astype(np.float32)


# -- timing helpers ----------------------------------------------------------------------------
def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall-clock and CPU seconds (this process, all threads) of one call, and its result."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def time_rounds(contenders: dict[str, Callable[[], Any]], repeats: int
                ) -> dict[str, dict[str, Any]]:
    """One untimed call of each contender (compiles), then ``repeats`` rounds that call every
    contender once in turn; median wall and CPU seconds per contender, the compile time (first
    call minus the median) and the last result."""
    first = {name: timed(fn)[0] for name, fn in contenders.items()}
    runs: dict[str, list[tuple[float, float, Any]]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            runs[name].append(timed(fn))
    out = {}
    for name, rs in runs.items():
        wall = float(np.median([r[0] for r in rs]))
        out[name] = {"run_s": wall, "cpu_s": float(np.median([r[1] for r in rs])),
                     "compile_s": max(first[name] - wall, 0.0), "result": rs[-1][2]}
    return out


def neurocc_contender(hw: HardwareNetwork, x: np.ndarray, instances: int, devices: list[Any]
                      ) -> Callable[[], np.ndarray]:
    return lambda: simulate_circuit(hw, x, dt=1e-3, instances=instances, mismatch=0.2,
                                    seed=ARGS.seed, devices=devices).spikes


# -- Rockpool ----------------------------------------------------------------------------------
def rockpool_network(hw: HardwareNetwork) -> Any:
    """``Sequential(LinearJax, DynapSim)`` with ``hw``'s nominal currents and weight currents."""
    from rockpool.devices.dynapse import DynapSim
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LinearJax

    n, c = hw.n_neurons, hw.constants
    ampa = hw.syn_types.index("AMPA")
    cur = hw.currents
    iscale = 1e-9
    sign = np.where(np.asarray(hw.syn_kinds)[hw.syn_type] == "excitatory", 1.0, -1.0)
    w = sign * hw.syn_weight / iscale
    w_in = np.zeros((hw.n_inputs, n), np.float32)
    w_rec = np.zeros((n, n), np.float32)
    rec = hw.syn_src < n
    np.add.at(w_rec, (hw.syn_src[rec], hw.syn_post[rec]), w[rec])
    np.add.at(w_in, (hw.syn_src[~rec] - n, hw.syn_post[~rec]), w[~rec])
    syn = DynapSim(
        (n, n), has_rec=True, w_rec=w_rec, dt=1e-3, Iscale=iscale,
        Idc=np.maximum(cur["I_dc"], c.I_0), Igain_mem=cur["I_gain_mem"],
        Itau_mem=cur["I_tau_mem"], Iref=cur["I_ref"], Ipulse=cur["I_pulse"],
        Ispkthr=cur["I_spkthr"], Itau_syn=cur["I_tau_syn"][:, ampa],
        Igain_syn=cur["I_gain_syn"][:, ampa], C_syn=hw.syn_capacitance[ampa],
        C_mem=c.capacitance["mem"], C_ref=c.capacitance["ref"], C_pulse=c.capacitance["pulse"],
        Io=c.I_0, Ut=c.U_T, Vth=c.V_th)
    return Sequential(LinearJax((hw.n_inputs, n), weight=w_in, has_bias=False), syn)


def rockpool_loop(net: Any, regenerate: Any, key: Any, xr: np.ndarray, loop_instances: int
                  ) -> dict[str, float]:
    """Rockpool's per-instance Monte-Carlo loop: regenerate, set, evolve (seconds per instance)."""
    def one(k: int) -> Any:
        new = regenerate(net, rng_key=jax.random.fold_in(key, k))
        out, _, _ = net.set_attributes(new)(xr)
        return np.asarray(out)

    warm_s, _, _ = timed(lambda: one(0))
    loop_s, _, out = timed(lambda: [one(k) for k in range(1, loop_instances + 1)])
    return {"loop_first_s": warm_s, "loop_per_instance_s": loop_s / loop_instances,
            "loop_rate_hz": float(np.mean([o.mean() for o in out]) / 1e-3)}


def dynapsim_contenders(hw: HardwareNetwork, x: np.ndarray, instances: int
                        ) -> tuple[Any, Any, Any, dict[str, Callable[[], list[Any]]]]:
    """The Rockpool network, its mismatch generator and key, and the jit(vmap(DynapSim)) runs:
    ``vmap_<group>`` over all instances and 10 at a time, ``vmap_weights`` (not with --quick)
    10 at a time with Rockpool's mismatch extended to the weights (equal fidelity)."""
    from rockpool.devices.dynapse.simulation.mismatch_prototype import frozen_mismatch_prototype
    from rockpool.transform.mismatch import mismatch_generator

    net = rockpool_network(hw)
    # sigma 0.2 of the nominal value: Rockpool's sigma is percent_deviation / sigma_rule
    prototype = frozen_mismatch_prototype(net)
    regenerate = mismatch_generator(prototype, percent_deviation=0.2, sigma_rule=1.0)
    key = jax.random.PRNGKey(ARGS.seed)
    small = VMAP_GROUP if instances % VMAP_GROUP == 0 else instances
    runs = {f"vmap_{group}": _vmap_run(net, regenerate, key, x[0], instances, group)
            for group in sorted({instances, small})}
    if not ARGS.quick:
        linear, dynapsim = prototype              # the Sequential's two modules, in order
        with_weights = {linear: {**prototype[linear], "weight": True},
                        dynapsim: {**prototype[dynapsim], "w_rec": True}}
        regen_w = mismatch_generator(with_weights, percent_deviation=0.2, sigma_rule=1.0)
        runs["vmap_weights"] = _vmap_run(net, regen_w, key, x[0], instances, small)
    return net, regenerate, key, runs


def _vmap_run(net: Any, regenerate: Any, key: Any, xr: np.ndarray, instances: int, group: int
              ) -> Callable[[], list[Any]]:
    """jit(vmap(DynapSim)) over the instances' mismatched parameters, ``group`` at a time (the
    groups cover all instances: ``group`` divides ``instances`` or equals it)."""
    # the same draws as the loop's, made in one compiled call (not timed)
    keys = jax.vmap(lambda k: jax.random.fold_in(key, k))(jnp.arange(instances))
    stacked = jax.jit(jax.vmap(lambda k: regenerate(net, rng_key=k)))(keys)
    parts = [jax.tree_util.tree_map(lambda a, i=i: a[i:i + group], stacked)
             for i in range(0, instances, group)]
    vmapped = jax.jit(jax.vmap(lambda p: net.set_attributes(p)(xr)[0]))
    return lambda: [vmapped(p).block_until_ready() for p in parts]


# -- main --------------------------------------------------------------------------------------
def main() -> None:
    sizes = ARGS.sizes or ([256] if ARGS.quick else [256, 1024])
    loop_k = ARGS.loop_instances or (1 if ARGS.quick else 5)
    repeats = ARGS.repeats or (3 if ARGS.quick else 5)
    inst, steps = ARGS.instances, ARGS.steps
    have_rockpool = not ARGS.no_rockpool
    if have_rockpool:
        try:
            __import__("rockpool")
        except ImportError:
            print("rockpool not importable: install benchmarks/requirements-simulator.txt in a "
                  "separate venv (see the module docstring); timing neurocc only")
            have_rockpool = False
    devices = jax.devices()
    print(f"jax {jax.__version__}, devices: {len(devices)} x {devices[0].platform}, "
          f"{os.cpu_count()} CPU cores; {inst} instances x {steps} steps, dt = 1 ms; medians of "
          f"{repeats} interleaved rounds (wall-clock, and this process's CPU time)")
    summary: dict[str, Any] = {"instances": inst, "steps": steps, "devices": len(devices),
                               "platform": devices[0].platform, "repeats": repeats, "sizes": {}}
    for n in sizes:
        tables, target = benchmark_tables(n, ARGS.seed)
        hw = build_hardware_network(tables, target)
        x = poisson_inputs(steps, INPUT_RATE, 1e-3, ARGS.seed)
        work = n * steps * inst
        print(f"\nN = {n}: {hw.n_synapses} synapses, {hw.n_inputs} inputs, "
              f"{work / 1e6:.1f} M neuron-steps per Monte-Carlo run")
        contenders = {"neurocc": neurocc_contender(hw, x, inst, devices)}
        if len(devices) > 1:
            contenders["neurocc_1dev"] = neurocc_contender(hw, x, inst, devices[:1])
        if not ARGS.quick:
            busy = poisson_inputs(steps, BUSY_INPUT_RATE, 1e-3, ARGS.seed)
            contenders["neurocc_busy"] = neurocc_contender(hw, busy, inst, devices)
        if have_rockpool:
            net, regenerate, key, vmaps = dynapsim_contenders(hw, x, inst)
            contenders.update(vmaps)
        t = time_rounds(contenders, repeats)
        ours = t["neurocc"]
        rate = lambda r: float(np.mean([np.asarray(o).mean() for o in r["result"]]) / 1e-3)  # noqa
        row: dict[str, Any] = {"synapses": hw.n_synapses, "neurocc_s": ours["run_s"],
                               "neurocc_cpu_s": ours["cpu_s"],
                               "neurocc_compile_s": ours["compile_s"],
                               "neurocc_rate_hz": float(ours["result"].mean() / 1e-3)}
        _line("neurocc simulate_circuit", ours, work, f"{len(devices)} device(s), compile "
              f"{ours['compile_s']:.1f} s, mean rate {row['neurocc_rate_hz']:.1f} Hz")
        if "neurocc_1dev" in t:
            row["neurocc_1dev_s"] = t["neurocc_1dev"]["run_s"]
            _line("neurocc simulate_circuit", t["neurocc_1dev"], work, "1 device")
        if "neurocc_busy" in t:
            busy_t = t["neurocc_busy"]
            row["neurocc_busy_s"] = busy_t["run_s"]
            row["neurocc_busy_rate_hz"] = float(busy_t["result"].mean() / 1e-3)
            _line("neurocc, inputs at 40 Hz", busy_t, work, f"mean rate "
                  f"{row['neurocc_busy_rate_hz']:.1f} Hz: event-driven cost grows with activity")
        if have_rockpool:
            lp = rockpool_loop(net, regenerate, key, x[0], loop_k)
            loop_total = lp["loop_per_instance_s"] * inst
            groups = {k: t[k] for k in vmaps if k[5:].isdigit()}
            best = min(groups, key=lambda k: groups[k]["run_s"])
            vmap_all, vmap_best = groups[f"vmap_{inst}"], groups[best]
            row.update(rockpool_loop_s=loop_total,
                       rockpool_loop_per_instance_s=lp["loop_per_instance_s"],
                       rockpool_loop_first_s=lp["loop_first_s"],
                       dynapsim_vmap_s={k[5:]: v["run_s"] for k, v in groups.items()},
                       dynapsim_vmap_cpu_s={k[5:]: v["cpu_s"] for k, v in groups.items()},
                       dynapsim_vmap_best_group=int(best[5:]),
                       rockpool_rate_hz=rate(vmap_best),
                       speedup_vs_rockpool_mc=loop_total / ours["run_s"],
                       speedup_vs_dynapsim_vmap=vmap_all["run_s"] / ours["run_s"],
                       speedup_vs_dynapsim_vmap_best=vmap_best["run_s"] / ours["run_s"],
                       cpu_speedup_vs_dynapsim_vmap=vmap_all["cpu_s"] / ours["cpu_s"],
                       cpu_speedup_vs_dynapsim_vmap_best=vmap_best["cpu_s"] / ours["cpu_s"])
            print(f"  {'Rockpool loop (regen, set, evolve)':<36} {loop_total:9.3f} s  "
                  f"{work / loop_total / 1e6:9.2f} M neuron-steps/s  "
                  f"({lp['loop_per_instance_s'] * 1e3:.0f} ms/instance over {loop_k} instances, "
                  f"first call {lp['loop_first_s']:.1f} s excluded)")
            for k, v in groups.items():
                _line(f"DynapSim jit(vmap), {k[5:]} at a time", v, work,
                      f"{v['run_s'] / inst * 1e3:.1f} ms/instance, compile {v['compile_s']:.1f} s,"
                      f" mean rate {rate(v):.1f} Hz")
            if "vmap_weights" in t:
                w = t["vmap_weights"]
                row.update(dynapsim_vmap_weight_mismatch_s=w["run_s"],
                           speedup_vs_dynapsim_vmap_weight_mismatch=w["run_s"] / ours["run_s"])
                _line("DynapSim vmap + weight mismatch", w, work,
                      f"{w['run_s'] / inst * 1e3:.1f} ms/instance: the same per-synapse mismatch "
                      f"as neurocc (Rockpool's default leaves weights exact)")
            print(f"  speedup vs Rockpool loop: {row['speedup_vs_rockpool_mc']:.1f}x; vs DynapSim "
                  f"vmap over all {inst}: {row['speedup_vs_dynapsim_vmap']:.2f}x, over "
                  f"{best[5:]} at a time (fastest): {row['speedup_vs_dynapsim_vmap_best']:.2f}x "
                  f"(CPU time: {row['cpu_speedup_vs_dynapsim_vmap']:.2f}x, "
                  f"{row['cpu_speedup_vs_dynapsim_vmap_best']:.2f}x)")
        summary["sizes"][str(n)] = row
    last = summary["sizes"][str(sizes[-1])]
    summary["speedup_vs_rockpool_mc_cpu"] = last.get("speedup_vs_rockpool_mc")
    summary["speedup_vs_dynapsim_vmap_cpu"] = last.get("speedup_vs_dynapsim_vmap")
    summary["speedup_vs_dynapsim_vmap_best_cpu"] = last.get("speedup_vs_dynapsim_vmap_best")
    for n, row in summary["sizes"].items():
        for key in ("rockpool_mc", "dynapsim_vmap", "dynapsim_vmap_best",
                    "dynapsim_vmap_weight_mismatch"):
            summary[f"speedup_vs_{key}_cpu_n{n}"] = row.get(f"speedup_vs_{key}")
        for key in ("dynapsim_vmap", "dynapsim_vmap_best"):
            summary[f"cpu_speedup_vs_{key}_n{n}"] = row.get(f"cpu_speedup_vs_{key}")
    print(json.dumps(summary, default=float))


def _line(label: str, timing: dict[str, Any], work: int, note: str) -> None:
    seconds = timing["run_s"]
    print(f"  {label:<36} {seconds:9.3f} s  {work / seconds / 1e6:9.2f} M neuron-steps/s  "
          f"CPU {timing['cpu_s']:7.3f} s  ({note})")


if __name__ == "__main__":
    sys.exit(main())
