"""The reference simulator: the IR's discrete-time semantics, exactly, in JAX.

Compiled networks are judged against this simulator, so it implements the update documented in
``neurocc.compiler.ir`` literally and nothing more:

* One step updates the populations in ``Network.step_order()``. A population's input ``x`` is the
  sum of its incoming projections (in the order the network lists them) plus its ``bias``.
  A delay-0 projection delivers what its source produced in this same step; a delay-``d``
  projection what it produced ``d`` steps earlier (nothing, i.e. zeros, before step 0).
* Spiking sources deliver spikes of amplitude 1; non-spiking sources (LI, CubaLI, I) their ``v``
  after this step's update.
* Euler updates as listed in the IR; the Cuba models update the synapse first and the membrane
  from the new synaptic current. A spike is ``v > 1`` (strict), the reset (``zero``: ``v :=
  v_reset``; ``subtract``: ``v -= 1``) follows at once, in the same step.
* Refractory period: for ``round(refractory / dt)`` steps after a spike the membrane ignores its
  input, is held at ``v_reset`` and cannot spike. The synaptic current of a CubaLIF neuron keeps
  integrating meanwhile (only the membrane is clamped).
* Every state (``v``, ``i_syn``) starts at 0 and no neuron starts refractory.

The network is turned once into a static :class:`Plan` (hashable, the ``jax.jit`` static argument)
and a parameter pytree; time runs in one ``lax.scan``, the batch is the leading array axis.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

from neurocc.compiler.errors import SimulationError
from neurocc.compiler.ir import RESETTING_MODELS, Network

from ._sim_inputs import normalise_inputs
from ._sim_projection import Layout, apply_weights, choose_layout, pack_weights

CUBA_MODELS = frozenset({"CubaLIF", "CubaLI"})
LEAKY_MODELS = frozenset({"LIF", "CubaLIF", "LI", "CubaLI"})
#: Models that keep a membrane state ``v`` from step to step.
STATEFUL_MODELS = frozenset({"LIF", "CubaLIF", "IF", "LI", "CubaLI", "I"})

Params = dict[str, dict[str, dict[str, jax.Array]]]


@dataclass(frozen=True)
class EdgePlan:
    """One incoming projection of a population, as the step function needs it."""

    name: str
    source: str
    delay: int
    layout: Layout


@dataclass(frozen=True)
class PopulationPlan:
    """What the step function needs to know about a population at trace time."""

    name: str
    model: str
    size: int
    spiking: bool
    reset: str
    refractory_steps: int
    incoming: tuple[EdgePlan, ...]


@dataclass(frozen=True)
class Plan:
    """The static structure of a network: populations in step order and the delay buffers.

    ``history`` lists ``(population, depth)`` for every source of a delayed projection: its last
    ``depth`` outputs are kept in a ring buffer.
    """

    populations: tuple[PopulationPlan, ...]
    history: tuple[tuple[str, int], ...]
    outputs: tuple[str, ...]
    dtype: str


@jax.tree_util.register_dataclass
@dataclass
class SimResult:
    """What a simulation returns; every array is ``(batch, T, size)``.

    ``spikes``: per spiking population (inputs included), booleans. ``states``: per stateful
    population ``{"v": ..., "i_syn": ...}`` (``i_syn`` for the Cuba models), only when
    ``record_states`` was asked, else empty. ``outputs``: per output population, its spikes when it
    spikes and its ``v`` otherwise.
    """

    spikes: dict[str, jax.Array] = field(default_factory=dict)
    states: dict[str, dict[str, jax.Array]] = field(default_factory=dict)
    outputs: dict[str, jax.Array] = field(default_factory=dict)


def simulate(net: Network, inputs: Mapping[str, Any] | Any, *, record_states: bool = False,
             dtype: DTypeLike = jnp.float32, steps: int | None = None) -> SimResult:
    """Run ``net`` on external spike trains and return spikes, outputs and (optionally) states.

    ``inputs``: per input population a 0/1 array ``(batch, T, size)`` or ``(T, size)``; a bare
    array when the network has one input. ``dtype``: the float type of every state (float64 needs
    ``jax_enable_x64``). ``steps``: the number of steps, needed only when the network has no input.
    """
    net.verify()
    arrays, n_steps = normalise_inputs(net, inputs, steps)
    plan, params = compile_network(net, dtype=dtype)
    return run_compiled(plan, params, arrays, n_steps=n_steps, record_states=record_states)


def compile_network(net: Network, *, dtype: DTypeLike = jnp.float32) -> tuple[Plan, Params]:
    """Turn ``net`` into its static :class:`Plan` and parameter pytree, both reusable."""
    np_dtype = _float_dtype(dtype)
    order = net.step_order()
    pops = []
    for name in order:
        pop = net.populations[name]
        edges = tuple(EdgePlan(p.name, p.source, int(p.delay), choose_layout(p.weights))
                      for p in net.incoming(name))
        refractory = int(round(pop.refractory / net.dt)) if pop.model in RESETTING_MODELS else 0
        pops.append(PopulationPlan(name, pop.model, pop.size, pop.spiking, pop.reset, refractory,
                                   edges))
    depth: dict[str, int] = {}
    for proj in net.projections.values():
        if proj.delay > 0:
            depth[proj.source] = max(depth.get(proj.source, 0), int(proj.delay))
    plan = Plan(populations=tuple(pops),
                history=tuple((name, depth[name]) for name in order if name in depth),
                outputs=tuple(net.outputs), dtype=np_dtype.name)
    params: Params = {"populations": {}, "projections": {}}
    for pop_plan in pops:
        params["populations"][pop_plan.name] = _population_params(net, pop_plan.name, np_dtype)
        for edge in pop_plan.incoming:
            packed = pack_weights(net.projections[edge.name].weights, edge.layout, np_dtype)
            params["projections"][edge.name] = {k: jnp.asarray(v) for k, v in packed.items()}
    return plan, params


def run_compiled(plan: Plan, params: Params, inputs: Mapping[str, np.ndarray], *,
                 n_steps: int, record_states: bool = False) -> SimResult:
    """Simulate a compiled network on already validated boolean inputs ``(batch, T, size)``."""
    batch = next(iter(inputs.values())).shape[0] if inputs else 1
    spikes, states, values = _run(plan, record_states, n_steps, batch, params,
                                  {k: jnp.asarray(v) for k, v in inputs.items()})
    spikes = {**{k: jnp.asarray(v) for k, v in inputs.items()}, **spikes}
    by_name = {p.name: p for p in plan.populations}
    outputs = {name: spikes[name] if by_name[name].spiking else values[name]
               for name in plan.outputs}
    return SimResult(spikes=spikes, states=states if record_states else {}, outputs=outputs)


def _float_dtype(dtype: DTypeLike) -> np.dtype:
    np_dtype = np.dtype(dtype)
    if not np.issubdtype(np_dtype, np.floating):
        raise SimulationError(f"dtype {np_dtype} is not a floating-point type",
                              fix="use jnp.float32 (default) or jnp.float64")
    if jax.dtypes.canonicalize_dtype(np_dtype) != np_dtype:
        raise SimulationError(f"dtype {np_dtype} is not available: JAX runs with 32-bit floats",
                              fix="enable it with jax.config.update('jax_enable_x64', True) or "
                                  "inside `with jax.enable_x64(True):`")
    return np_dtype


def _population_params(net: Network, name: str, dtype: np.dtype) -> dict[str, jax.Array]:
    """Per-neuron constants of the update; Euler factors ``dt / tau`` are formed in float64."""
    pop = net.populations[name]
    out: dict[str, np.ndarray] = {}
    if pop.model in LEAKY_MODELS:
        out["a_mem"] = net.dt / pop.param("tau_mem")
        out["v_leak"] = pop.param("v_leak")
    if pop.model in CUBA_MODELS:
        out["a_syn"] = net.dt / pop.param("tau_syn")
    if pop.model in RESETTING_MODELS:
        out["v_reset"] = pop.param("v_reset")
    if "bias" in pop.params:
        out["bias"] = pop.param("bias")
    return {k: jnp.asarray(np.asarray(v, dtype=dtype)) for k, v in out.items()}


def _initial_carry(plan: Plan, batch: int) -> tuple[dict, dict]:
    dtype = jnp.dtype(plan.dtype)
    state: dict[str, dict[str, jax.Array]] = {}
    for pop in plan.populations:
        st = {}
        if pop.model in STATEFUL_MODELS:
            st["v"] = jnp.zeros((batch, pop.size), dtype)
        if pop.model in CUBA_MODELS:
            st["i_syn"] = jnp.zeros((batch, pop.size), dtype)
        if pop.refractory_steps > 0:
            st["refractory"] = jnp.zeros((batch, pop.size), jnp.int32)
        state[pop.name] = st
    sizes = {p.name: p.size for p in plan.populations}
    history = {name: jnp.zeros((depth, batch, sizes[name]), dtype) for name, depth in plan.history}
    return state, history


def _summed_input(pop: PopulationPlan, params: Params, now: dict[str, jax.Array],
                  history: dict[str, jax.Array], t: jax.Array, batch: int) -> jax.Array:
    """``x``: the weighted input of this step from every incoming projection, plus the bias."""
    dtype = params["populations"][pop.name]["bias"].dtype
    x = jnp.zeros((batch, pop.size), dtype)
    for edge in pop.incoming:
        if edge.delay == 0:
            source = now[edge.source]
        else:
            buffer = history[edge.source]
            source = jax.lax.dynamic_index_in_dim(buffer, (t - edge.delay) % buffer.shape[0],
                                                  axis=0, keepdims=False)
        x = x + apply_weights(edge.layout, params["projections"][edge.name], source, pop.size)
    return x + params["populations"][pop.name]["bias"]


def _update(pop: PopulationPlan, p: dict[str, jax.Array], st: dict[str, jax.Array],
            x: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
    """One Euler step of one population: ``(what it delivers, new state)``."""
    if pop.model == "Threshold":
        return (x > 1).astype(x.dtype), {}
    new: dict[str, jax.Array] = {}
    if pop.model in LEAKY_MODELS:
        drive = x
        if pop.model in CUBA_MODELS:
            drive = new["i_syn"] = st["i_syn"] + p["a_syn"] * (x - st["i_syn"])
        v = st["v"] + p["a_mem"] * (p["v_leak"] - st["v"] + drive)
    else:
        v = st["v"] + x
    if not pop.spiking:
        new["v"] = v
        return v, new
    if pop.refractory_steps > 0:
        clamped = st["refractory"] > 0
        v = jnp.where(clamped, p["v_reset"], v)
        spike = (v > 1) & ~clamped
        new["refractory"] = jnp.where(spike, pop.refractory_steps,
                                      jnp.maximum(st["refractory"] - 1, 0))
    else:
        spike = v > 1
    new["v"] = jnp.where(spike, v - 1 if pop.reset == "subtract" else p["v_reset"], v)
    return spike.astype(v.dtype), new


def _step(plan: Plan, record_states: bool, batch: int, params: Params, carry: tuple,
          xs: tuple) -> tuple[tuple, tuple]:
    state, history = carry
    t, external = xs
    now: dict[str, jax.Array] = {}
    new_state: dict[str, dict[str, jax.Array]] = {}
    for pop in plan.populations:
        if pop.model == "input":
            now[pop.name] = external[pop.name]
            new_state[pop.name] = {}
            continue
        x = _summed_input(pop, params, now, history, t, batch)
        now[pop.name], new_state[pop.name] = _update(pop, params["populations"][pop.name],
                                                     state[pop.name], x)
    new_history = {
        name: jax.lax.dynamic_update_index_in_dim(buffer, now[name], t % buffer.shape[0], axis=0)
        for name, buffer in history.items()}
    spikes = {p.name: now[p.name] > 0 for p in plan.populations
              if p.spiking and p.model != "input"}
    states = {p.name: {k: v for k, v in new_state[p.name].items() if k in ("v", "i_syn")}
              for p in plan.populations if p.model in STATEFUL_MODELS} if record_states else {}
    values = {p.name: now[p.name] for p in plan.populations
              if p.name in plan.outputs and not p.spiking}
    return (new_state, new_history), (spikes, states, values)


def _run_impl(plan: Plan, record_states: bool, n_steps: int, batch: int, params: Params,
              inputs: dict[str, jax.Array]) -> tuple[dict, dict, dict]:
    dtype = jnp.dtype(plan.dtype)
    # Time-major for the scan: (T, batch, size).
    external = {k: jnp.swapaxes(v, 0, 1).astype(dtype) for k, v in inputs.items()}
    carry = _initial_carry(plan, batch)

    def step(c, xs):
        return _step(plan, record_states, batch, params, c, xs)

    _, ys = jax.lax.scan(step, carry, (jnp.arange(n_steps, dtype=jnp.int32), external),
                         length=n_steps)
    return jax.tree_util.tree_map(lambda a: jnp.swapaxes(a, 0, 1), ys)


_run = jax.jit(_run_impl, static_argnums=(0, 1, 2, 3))
