"""The circuit simulator's time loop and driver: instances, sharding, validation and results."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, PartitionSpec

from neurocc.compiler.errors import SimulationError

from .. import mismatch as mm
from ..hardware_network import HardwareNetwork
from .dpi import (Coefficients, StepConfig, coefficients, initial_state, neuron_step,
                  nominal_params)
from .events import (Connectivity, _chunk_size, _input_chunk_size, build_connectivity,
                     event_drive, shared_event_drive)

#: Memory budget (bytes per device) of one group of instances where the device does not say.
DEFAULT_MEMORY_BUDGET = 2 << 30


def _instance_weights(weight: jax.Array, conn: Connectivity, keys: jax.Array,
                      sigma: jax.Array) -> dict[str, jax.Array]:
    """Each instance's mismatched weight currents in the connectivity's layout: ``w``
    ``(instances, sources, slots)`` (dense), or ``w`` and ``w_in`` ``(instances, rows + 1,
    width)`` for the neurons' and the inputs' :class:`EventRows` (event)."""
    if conn.mode == "dense":
        ids = jnp.arange(weight.shape[0])
        return {"w": jax.vmap(lambda k: jnp.zeros((conn.n_sources, conn.n_slots), jnp.float32).at[
            conn.syn_src, conn.syn_slot].add(weight * mm.synapse_factors(k, ids, sigma)))(keys)}

    def rows(syn: jax.Array) -> jax.Array:
        nominal = jnp.append(weight, 0.0)[syn]              # shared by all instances
        return jax.vmap(lambda k: nominal * mm.synapse_factors(k, syn, sigma))(keys)

    return {"w": rows(conn.neurons.row_syn), "w_in": rows(conn.inputs.row_syn)}


# -- the step ----------------------------------------------------------------------------------
def _drive(w: dict[str, jax.Array], conn: Connectivity, spikes: jax.Array, x_t: jax.Array
           ) -> jax.Array:
    """Synaptic input ``(instances, batch, slots)`` from the neurons' spikes ``(instances, batch,
    neurons)`` and this step's inputs: ``(batch, inputs)`` (dense) or the input rows' spike
    counts ``(batch, rows)`` (event)."""
    if conn.mode == "dense":
        s_src = jnp.concatenate([spikes, jnp.broadcast_to(x_t, spikes.shape[:1] + x_t.shape)], -1)
        return jnp.einsum("ibs,isp->ibp", s_src, w["w"], precision=lax.Precision.HIGHEST)
    s_rows = conn.neurons.spikes(spikes)
    return event_drive(s_rows, w["w"], conn.neurons.row_slot, _chunk_size(s_rows.size),
                       conn.n_slots) + \
        shared_event_drive(x_t, w["w_in"], conn.inputs.row_slot, _input_chunk_size(x_t.size),
                           conn.n_slots)


def _run(coef: Coefficients, w: dict[str, jax.Array], alive: jax.Array, conn: Connectivity,
         cfg: StepConfig, x: jax.Array, keys: jax.Array, noise_std: jax.Array
         ) -> tuple[jax.Array, ...]:
    """Simulate all instances (``coef`` and ``w`` leaves have a leading instance axis) on ``x``
    ``(batch, T, inputs)``; returns the recorded arrays time-major, ``(T, instances, batch, ...)``
    (a device transpose of the outputs is costly; the caller takes a free host view)."""
    n_inst, n = alive.shape
    batch = x.shape[0]
    n_types = coef.decay_syn.shape[-1]
    # per-neuron coefficients broadcast against the (instances, batch, neurons) state
    c = coef.broadcast()
    live = alive[:, None]
    lumped = cfg.model.equations == "dynapsim"

    def step(carry, xs):
        state, spikes = carry
        x_t, t = xs
        drive = _drive(w, conn, spikes, x_t).reshape(n_inst, batch, n, n_types)
        noise = None
        if cfg.noise:
            z = jax.vmap(jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(k, t), (n,))))
            noise = noise_std[:, None] * z(keys)
        state, s = neuron_step(c, cfg, state, drive, spikes, noise, live)
        if cfg.differentiable:
            out = s
        else:
            out = s.astype(jnp.uint8) if cfg.model.multi_spike else s > 0
        i_syn = state[0][..., None] if lumped else state[0]
        record = (out, state[1], i_syn) if cfg.record else (out,)
        return (state, s), record

    shape = (n_inst, batch, n)
    init = (initial_state(cfg, shape, n_types), jnp.zeros(shape, jnp.float32))
    x_steps = x if conn.mode == "dense" else conn.inputs.spikes(x)
    _, ys = lax.scan(step, init, (jnp.swapaxes(x_steps, 0, 1), jnp.arange(x.shape[1])))
    return ys


def _noise_std(coef: Coefficients, noise: jax.Array) -> jax.Array:
    """Per-step noise so that the stationary fluctuation is ``noise * I_spkthr``."""
    return noise * coef.thr * jnp.sqrt(-jnp.expm1(-2.0 * coef.rate))


def _simulate_instances(nominal: dict[str, jax.Array], hw: HardwareNetwork, conn: Connectivity,
                        cfg: StepConfig, inputs: jax.Array, instances: jax.Array,
                        seed: jax.Array, sigma: jax.Array, noise: jax.Array, silence: jax.Array
                        ) -> tuple[jax.Array, ...]:
    keys = jax.vmap(lambda i: mm.instance_key(seed, i))(instances)
    neuron = {k: v for k, v in nominal.items() if k != "syn_weight"}
    coef = jax.vmap(lambda k: coefficients(mm.apply_mismatch(k, neuron, sigma), hw, cfg.dt))(keys)
    w = _instance_weights(nominal["syn_weight"], conn, keys, sigma)
    alive = jax.vmap(lambda k: mm.alive_mask(k, hw.n_neurons, silence))(keys) if cfg.silence \
        else jnp.ones((instances.shape[0], hw.n_neurons), jnp.float32)
    rows = jnp.arange(inputs.shape[0])
    row_keys = jax.vmap(lambda k: jax.vmap(
        lambda b: jax.random.fold_in(mm.noise_key(k), b))(rows))(keys)
    return _run(coef, w, alive, conn, cfg, inputs, row_keys, _noise_std(coef, noise))


def step_config(hw: HardwareNetwork, dt: float, *, noise: bool = False, silence: bool = False,
                record: bool = False, differentiable: bool = True) -> StepConfig:
    """The static configuration of the step function for ``hw`` (and its neuron model):
    ``noise`` and ``silence`` say whether those draws are made at all (their amounts are
    arguments of the simulation)."""
    return StepConfig(dt=float(dt), kinds=hw.syn_kinds, constants=hw.constants,
                      model=hw.neuron_model, noise=noise, silence=silence, record=record,
                      differentiable=differentiable)


def circuit_forward(nominal: dict[str, jax.Array], hw: HardwareNetwork, conn: Connectivity,
                    cfg: StepConfig, inputs: jax.Array, instances: jax.Array, *,
                    seed: int | jax.Array = 0, mismatch: float | jax.Array = 0.2,
                    noise: float | jax.Array = 0.0, silence: float | jax.Array = 0.0
                    ) -> tuple[jax.Array, ...]:
    """Pure, differentiable simulation of ``instances`` (ids) on ``inputs`` ``(batch, T, inputs)``.

    ``nominal`` is :func:`nominal_params` (or any currents of the same shapes: the quantities to
    fine-tune). Returns ``(spikes,)``, or ``(spikes, i_mem, i_syn)`` when ``cfg.record``, of shape
    ``(instances, batch, T, neurons)`` (``i_syn``: ``(..., neurons, types)``); spikes are float 0/1
    when ``cfg.differentiable``, else booleans. ``noise`` and ``silence`` act only when ``cfg``
    was made with ``noise=True`` / ``silence=True`` (:func:`step_config`).
    """
    ys = _simulate_instances(nominal, hw, conn, cfg, inputs, instances,
                             jnp.asarray(seed, jnp.uint32), jnp.float32(mismatch),
                             jnp.float32(noise), jnp.float32(silence))
    return tuple(jnp.moveaxis(y, 0, 2) for y in ys)


# -- the driver: validation, instance groups, sharding, results ---------------------------------
@dataclass(frozen=True, eq=False)
class CircuitResult:
    """Spikes of every simulated neuron ``(instances, batch, T, n)`` and optional traces.

    ``spikes`` are booleans, or per-step counts (uint8) under a neuron model that can fire several
    times in one step (``dynapsim``). ``i_mem`` ``(instances, batch, T, n)`` (after the reset) and
    ``i_syn`` ``(..., n, types)`` (``(..., n, 1)``: the lumped synapse of ``dynapsim``), in
    amperes, when ``record_states`` was asked. ``instances`` holds the instance numbers.
    """

    spikes: np.ndarray
    hw: HardwareNetwork
    instances: np.ndarray
    i_mem: np.ndarray | None = None
    i_syn: np.ndarray | None = None

    def population(self, name: str) -> np.ndarray:
        """Spikes of IR population ``name`` ``(instances, batch, T, size)``, in IR neuron order."""
        return self.spikes[..., self.hw.population_neurons(name)]

    @property
    def outputs(self) -> dict[str, np.ndarray]:
        return {name: self.population(name) for name in self.hw.outputs}


def simulate_circuit(hw: HardwareNetwork, inputs: Any, *, dt: float, instances: int = 1,
                     mismatch: float = 0.2, seed: int = 0, noise: float = 0.0,
                     silence: float = 0.0, weight_bits: int | None = None,
                     record_states: bool = False, first_instance: int = 0,
                     connectivity: str = "auto",
                     memory_budget: int | None = None, devices: Sequence[Any] | None = None
                     ) -> CircuitResult:
    """Simulate chips ``first_instance .. first_instance + instances - 1`` on ``inputs``.

    ``inputs``: spike counts per step ``(batch, T, n_inputs)`` (or ``(T, n_inputs)``).
    ``mismatch``: relative sigma of every current (0 = the nominal chip). ``seed``: with the
    instance number, fixes everything random about an instance. ``noise``: membrane noise, as a
    fraction of the spike threshold current. ``silence``: fraction of neurons that never spike.
    ``weight_bits``: round the weights to this many bits first. ``devices``: where instances are
    sharded (default: all visible devices). ``memory_budget``: bytes per device for one group of
    instances (default: 40% of an accelerator's memory, 2 GiB on CPU). ``connectivity``: ``auto``, ``dense`` or ``event`` synaptic input.
    ``first_instance``: number of the first simulated chip (instance ``k`` is the same chip in
    every call with the same seed).
    """
    x = _check_inputs(hw, inputs)
    _check_options(dt, instances, mismatch, noise, silence, weight_bits, first_instance)
    conn = build_connectivity(hw, connectivity)
    nominal = nominal_params(hw, weight_bits)
    cfg = step_config(hw, dt, noise=noise > 0, silence=silence > 0, record=record_states,
                      differentiable=False)
    devices = list(devices) if devices is not None else jax.devices()
    group = _group_size(hw, conn, x.shape, instances, record_states, len(devices),
                        memory_budget or _default_budget(devices))
    run = _compiled_group(tuple(devices), cfg)
    ids = np.arange(first_instance, first_instance + instances)
    scalars = (np.uint32(seed), np.float32(mismatch), np.float32(noise), np.float32(silence))
    parts = []
    for start in range(0, instances, group):
        chunk = np.arange(ids[start], ids[start] + group, dtype=np.int32)
        out = run(nominal, hw, conn, jnp.asarray(x), jnp.asarray(chunk), *scalars)
        take = min(group, instances - start)
        parts.append([np.asarray(a)[:, :take] for a in out])
    # time-major (T, instances, batch, ...) -> (instances, batch, T, ...), a view
    joined = [np.moveaxis(np.concatenate(arrays, axis=1), 0, 2) for arrays in zip(*parts)]
    return CircuitResult(spikes=joined[0], hw=hw, instances=ids,
                         i_mem=joined[1] if record_states else None,
                         i_syn=joined[2] if record_states else None)


@lru_cache(maxsize=32)
def _compiled_group(devices: tuple[Any, ...], cfg: StepConfig):
    """jit of one group's simulation, its instances sharded over ``devices``."""
    def group(nominal, hw, conn, x, ids, seed, sigma, noise, silence):
        return _simulate_instances(nominal, hw, conn, cfg, x, ids, seed, sigma, noise, silence)

    mesh = Mesh(np.asarray(devices), ("instances",))
    rep = PartitionSpec()
    sharded = jax.shard_map(group, mesh=mesh, in_specs=(rep,) * 4 + (PartitionSpec(
        "instances"),) + (rep,) * 4, out_specs=PartitionSpec(None, "instances"), check_vma=False)
    return jax.jit(sharded)


def _group_size(hw: HardwareNetwork, conn: Connectivity, shape: tuple[int, ...], instances: int,
                record: bool, n_devices: int, budget: int) -> int:
    """Instances per group: as many as ``budget`` bytes per device hold, a multiple of the
    devices. Counted per instance: its weights (and their reverse-mode copies), parameters and
    outputs."""
    batch, steps = shape[0], shape[1]
    weights = conn.n_sources * conn.n_slots if conn.mode == "dense" else \
        conn.neurons.row_syn.size + conn.inputs.row_syn.size
    n_types = max(len(hw.syn_types), 1)
    per_instance = 4 * (3 * weights + 2 * hw.n_synapses + 8 * hw.n_neurons * n_types) + \
        batch * steps * hw.n_neurons * (1 + (4 + 4 * n_types if record else 0))
    per_device = max(1, budget // max(per_instance, 1))
    # flat indices of the event scatter are int32
    per_device = min(per_device, max(1, (2 ** 31 - 1) // (batch * (conn.n_slots + 1))))
    group = min(instances, per_device * n_devices)
    return int(-(-group // n_devices) * n_devices)


def _default_budget(devices: list[Any]) -> int:
    """40% of an accelerator's memory, or :data:`DEFAULT_MEMORY_BUDGET` where it is not known."""
    try:
        stats = devices[0].memory_stats() or {}
    except (AttributeError, NotImplementedError, RuntimeError):
        stats = {}
    limit = stats.get("bytes_limit")
    return int(0.4 * limit) if limit else DEFAULT_MEMORY_BUDGET


def _check_inputs(hw: HardwareNetwork, inputs: Any) -> np.ndarray:
    try:
        x = np.asarray(inputs, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise SimulationError(f"inputs cannot be read as numbers ({exc})",
                              fix="pass spike counts as an array (batch, T, inputs)") from None
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[2] != hw.n_inputs or x.shape[1] == 0:
        raise SimulationError(f"inputs have shape {np.shape(inputs)}, expected (batch, T, "
                              f"{hw.n_inputs}) or (T, {hw.n_inputs}) with T >= 1",
                              fix=f"give one column per input channel ({hw.n_inputs})")
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        raise SimulationError("inputs hold negative or non-finite spike counts",
                              fix="inputs are event counts per step, >= 0")
    return x


def _check_options(dt: float, instances: int, mismatch: float, noise: float, silence: float,
                   weight_bits: int | None, first_instance: int) -> None:
    checks = [
        (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0, f"dt = {dt!r}",
         "give the step in seconds, > 0"),
        (isinstance(instances, (int, np.integer)) and instances >= 1,
         f"instances = {instances!r}", "simulate at least one instance"),
        (isinstance(first_instance, (int, np.integer)) and first_instance >= 0,
         f"first_instance = {first_instance!r}", "instance numbers are >= 0"),
        (math.isfinite(mismatch) and mismatch >= 0, f"mismatch = {mismatch!r}",
         "sigma is a relative deviation >= 0 (0.2 = 20%)"),
        (math.isfinite(noise) and noise >= 0, f"noise = {noise!r}", "noise is >= 0"),
        (0 <= silence <= 1, f"silence = {silence!r}", "silence is a fraction in [0, 1]"),
        (weight_bits is None or (isinstance(weight_bits, (int, np.integer)) and
                                 1 <= weight_bits <= 24),
         f"weight_bits = {weight_bits!r}", "use None or an integer number of bits 1..24"),
    ]
    for ok, what, fix in checks:
        if not ok:
            raise SimulationError(f"{what} is not valid", fix=fix)
