"""Circuit-level simulator of a configured DYNAP chip: DPI neurons and synapses, in JAX.

Model (per simulated neuron; currents in amperes, ``kappa = (kappa_n + kappa_p) / 2``)::

    tau of a DPI block    tau = C * U_T / (kappa * I_tau)      (bias currents floored at I_0)
    pulse, refractory     t_pulse = V_th * C_pulse / I_pulse,   t_ref = V_th * C_ref / I_ref
    synapse (per type)    I_syn <- I_syn * exp(-dt / tau_syn) + sum over this step's events of
                          (I_gain_syn * I_w / I_tau_syn) * (1 - exp(-t_pulse / tau_syn))
    input current         I_in = max(I_exc - I_inh + I_dc, 0)   (excitatory and subtractive
                          inhibitory synapse currents; shunting currents I_sh act below)
    membrane (DPI)        tau (1 + g / I_mem) dI_mem/dt = A - B * I_mem  with  g = I_gain_mem,
                          A = (g / I_tau_mem) * (I_in - I_sh) - g,  B = 1 + I_sh / I_tau_mem
    spike                 I_mem > I_spkthr; then I_mem := I_0 and, for round(t_ref / dt) steps,
                          I_mem is held at I_0 and cannot spike (the synapses keep integrating)

This is the membrane equation of Chicca et al. (2014) as teili and Rockpool write it, shunting
inhibition entering like the adaptation current. The optional positive feedback (``feedback=True``)
adds Rockpool DynapSim's ``f(I_mem) = (I_a / I_tau_mem) * (I_mem + g)`` with
``I_a = I_0 * (I_mem / I_0) ** (kappa / (kappa + 1))``; it is off by default because the hardware
facts give no formula and no bias for it. Adaptation (AHP) is not simulated: no bias of the
targets is assigned to it.

Time stepping (step ``dt``): a neuron's spike of step ``t`` reaches its targets' synapses in step
``t + 1``; external input events of step ``t`` act in step ``t``. The synapses are updated first
(events at the start of the step), then the membrane from the new synaptic currents, each taken as
its exact mean over the step, ``I_syn * (1 - exp(-dt / tau_syn)) * tau_syn / dt``, so that an
event delivers the continuous circuit's charge ``jump * tau_syn`` whatever ``dt``. The membrane
takes an exponential-Euler step: with ``q = I / (I + g)`` frozen over the step,
``I <- I* + (I - I*) exp(-q B dt / tau)`` where ``I* = A / B``; ``q`` is taken at the larger of
``I_mem`` and its linear-regime prediction, because the growth out of the nonlinear region after a
reset takes a small fraction of a step. In the linear regime (``I_mem >> g``) without shunting, this
is exactly the IR's Euler update ``v += dt / tau_IR * (v_inf - v)`` of ``v = I_mem / I_spkthr``
when ``1 - dt / tau_IR = exp(-dt / tau)``, the correspondence ``compiler.circuits`` uses; with the
step-mean synaptic current the IR's synaptic update is matched exactly too.

Approximation-free settings (the circuit simulator then tracks the reference simulator; the test
``test_tracks_the_reference_simulator_with_mismatch_off`` states the tolerance): ``mismatch=0``,
``noise=0``, ``feedback=False``, no shunting and no inhibition that drives the input below zero
(chip currents cannot go below ``I_0`` or 0, the IR's ``v`` can), a single layer (hidden
neuron-to-neuron connections take one step here and none in a delay-0 IR chain) and recurrent IR
projections of delay 1. What remains is the DPI's growth out of ``I_0`` after each reset.

Noise (``noise=s``): white Gaussian current noise on the membrane, scaled so that alone it makes
the membrane current fluctuate with standard deviation ``s * I_spkthr`` (linear regime).

Computation: ``jax.jit`` + ``lax.scan`` over time on arrays ``(instances, batch, neurons)``,
float32; per-instance parameters are drawn with ``vmap``. Instances run in groups sized to a memory
budget; each group is sharded across all visible devices with ``jax.shard_map`` (no collectives:
instances are independent). Synaptic input is either a dense per-instance matrix product (small or
dense networks) or event-driven: the synapses of each source are stored in rows of equal width,
the (instance, batch, row) triples whose source spiked are packed into 32-bit activity words with a
running count per word, the ``k``-th of them is found by branch-free binary search, and only their
rows are scattered into the targets, in chunks, so the cost follows the number of events rather
than of synapses. External inputs are the same in every instance: their active (batch, row) pairs
are found once and each is delivered to all instances at once. The spike is a Heaviside step with
a fast-sigmoid surrogate derivative and the event-driven scatters have their own reverse rules, so
``circuit_forward`` is differentiable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, PartitionSpec

from neurocc.compiler.errors import SimulationError

from . import mismatch as mm
from .hardware_network import NEURON_ROLES, SYNAPSE_ROLES, HardwareNetwork

#: Slope of the fast-sigmoid surrogate derivative, per unit of I_mem / I_spkthr - 1.
SURROGATE_SLOPE = 10.0
#: Dense synaptic input when the per-instance matrix has at most this many entries...
DENSE_MAX_ENTRIES = 1 << 14
#: ...or when at least this fraction of its entries are synapses.
DENSE_MIN_DENSITY = 0.5
#: Memory budget (bytes per device) of one group of instances where the device does not say.
DEFAULT_MEMORY_BUDGET = 2 << 30


# -- connectivity ------------------------------------------------------------------------------
@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class EventRows:
    """The outgoing synapses of a set of sources (numbered locally from 0) in rows of equal width.

    ``row_syn``: synapse index, ``row_slot``: slot, ``(rows + 1, width)``; padding and the one extra
    all-padding row at the end point at synapse ``S`` and slot ``slots``, which are zero and
    discarded. Row ``j`` is source ``j``'s first row for every source; the sources of the rows
    after them (more synapses than one row holds) are ``extra_src``.
    """

    extra_src: jax.Array
    row_syn: jax.Array
    row_slot: jax.Array

    def spikes(self, s: jax.Array) -> jax.Array:
        """Each row's source spike count, from the sources' ``s`` (``(..., sources)``)."""
        return jnp.concatenate([s, s[..., self.extra_src]], -1)


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Connectivity:
    """Where each synapse delivers, in the layout the step function uses.

    Every synapse ``s`` adds to slot ``syn_slot[s] = post * types + type``. ``dense``: a
    ``(sources, slots)`` matrix is built per instance. ``event``: the synapses of the neurons
    (``neurons``) and of the input channels (``inputs``, channel ``c`` numbered ``c``) are laid out
    as :class:`EventRows`; input spikes are the same in every instance, so their events are found
    once per batch row and delivered to all instances together.
    """

    syn_src: jax.Array
    syn_slot: jax.Array
    neurons: EventRows
    inputs: EventRows
    mode: str = field(metadata=dict(static=True))
    n_sources: int = field(metadata=dict(static=True))
    n_slots: int = field(metadata=dict(static=True))


def build_connectivity(hw: HardwareNetwork, mode: str = "auto") -> Connectivity:
    """Choose dense or event-driven synaptic input (``auto``: by size and density); lay it out."""
    if mode not in ("auto", "dense", "event"):
        raise SimulationError(f"connectivity {mode!r} is unknown",
                              fix="use 'auto', 'dense' or 'event'")
    n_types = max(len(hw.syn_types), 1)
    n, n_slots = hw.n_neurons, hw.n_neurons * n_types
    n_src = n + hw.n_inputs
    src = np.asarray(hw.syn_src, np.int64)
    slot = np.asarray(hw.syn_post, np.int64) * n_types + np.asarray(hw.syn_type, np.int64)
    entries = n_src * n_slots
    if mode == "auto":
        dense = entries <= DENSE_MAX_ENTRIES or src.size >= DENSE_MIN_DENSITY * entries
        mode = "dense" if dense else "event"
    if mode == "event":
        rec = np.flatnonzero(src < n)
        inp = np.flatnonzero(src >= n)
        neurons = _event_rows(src[rec], rec, slot, n, n_slots)
        inputs = _event_rows(src[inp] - n, inp, slot, hw.n_inputs, n_slots)
    else:
        neurons = inputs = EventRows(*(jnp.zeros(shape, jnp.int32) for shape in (0, (1, 1), (1, 1))))
    return Connectivity(syn_src=jnp.asarray(src, jnp.int32), syn_slot=jnp.asarray(slot, jnp.int32),
                        neurons=neurons, inputs=inputs, mode=mode, n_sources=n_src,
                        n_slots=n_slots)


def _event_rows(src: np.ndarray, syn: np.ndarray, slot: np.ndarray, n_src: int, n_slots: int
                ) -> EventRows:
    """Synapses ``syn`` (sources ``src``, local numbers ``0..n_src-1``) in rows of the width that
    wastes the fewest entries; ``slot`` holds the slots of all ``S`` synapses."""
    fan_out = np.bincount(src, minlength=n_src)
    widths = [w for w in range(8, 513, 8) if w < max(int(fan_out.max(initial=0)), 8) + 8]
    # total padded entries plus a per-row overhead of 8 entries
    cost = [int((np.maximum(np.ceil(fan_out / w), 1) * (w + 8)).sum()) for w in widths]
    width = widths[int(np.argmin(cost))]
    extra_per_src = np.maximum(np.ceil(fan_out / width).astype(np.int64) - 1, 0)
    extra_src = np.repeat(np.arange(n_src), extra_per_src)
    first_extra = n_src + np.concatenate([[0], np.cumsum(extra_per_src)])[:-1]
    order = np.argsort(src, kind="stable")
    rank = np.arange(src.size) - np.repeat(np.concatenate([[0], np.cumsum(fan_out)])[:-1],
                                           fan_out)
    sorted_src = src[order]
    block = rank // width
    row = np.where(block == 0, sorted_src, first_extra[sorted_src] + block - 1)
    n_rows = n_src + extra_src.size
    row_syn = np.full((n_rows + 1, width), slot.size, np.int32)
    row_slot = np.full((n_rows + 1, width), n_slots, np.int32)
    row_syn[row, rank % width] = syn[order]
    row_slot[row, rank % width] = slot[syn[order]]
    return EventRows(extra_src=jnp.asarray(extra_src, jnp.int32), row_syn=jnp.asarray(row_syn),
                     row_slot=jnp.asarray(row_slot))


def _input_chunk_size(n_rows: int) -> int:
    """Active input rows (shared by all instances) delivered per loop iteration: 1% of the
    ``n_rows`` rows of all batch rows, at least 1. Each is delivered to every instance, so a
    padding row costs as much as a row of every instance: one row at a time measured fastest on
    CPU for one batch row at 25 Hz."""
    return int(max(1, math.ceil(n_rows * 0.01)))


def _chunk_size(n_rows: int) -> int:
    """Active rows scattered per loop iteration, for ``n_rows`` rows of all instances and batch
    rows: 0.5% of them (5 Hz at dt = 1 ms in one iteration), at least 8. Larger chunks scatter
    more padding, smaller ones loop more; 0.5% measured best on CPU at 18 Hz."""
    return int(max(8, math.ceil(n_rows * 0.005)))


#: Entries of the activity bit words of the event-driven input.
_WORD = 32


def _prefix_sum_exact(x: jax.Array, block: int = 32) -> jax.Array:
    """Inclusive running sum of the small non-negative integers ``x`` (1-D float32), exact while
    the total stays below 2**24. XLA's cumsum is slow on CPU: blocks of 32 are summed with a
    triangular matrix product and the block totals recursively."""
    # full float32 products: accelerators may otherwise round the inputs (TF32)
    upper = lambda k: jnp.triu(jnp.ones((k, k), x.dtype))  # noqa: E731
    n = x.shape[0]
    if n <= block:
        return jnp.dot(x, upper(n), precision=lax.Precision.HIGHEST)
    m = -(-n // block)
    within = jnp.dot(jnp.pad(x, (0, m * block - n)).reshape(m, block), upper(block),
                     precision=lax.Precision.HIGHEST)
    totals = within[:, -1]
    offsets = _prefix_sum_exact(totals) - totals
    return (within + offsets[:, None]).reshape(-1)[:n]


def _active_words(active: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``active`` (1-D bool) as 32-bit words and, per word, how many active entries come before it.

    This index is all that finding the ``k``-th active entry needs (:func:`_active_position`): one
    pass over ``active`` and a running count over 32 times fewer entries. The counts are padded
    with the total to a power-of-two length, which the search uses; the total is the last one.
    """
    n = active.shape[0]
    m = -(-n // _WORD)
    bits = jnp.pad(active, (0, m * _WORD - n)).reshape(m, _WORD).astype(jnp.uint32)
    words = jnp.sum(bits << jnp.arange(_WORD, dtype=jnp.uint32), axis=1, dtype=jnp.uint32)
    counts = lax.population_count(words).astype(jnp.int32)
    if n >= 2 ** 24:
        ends = jnp.cumsum(counts)
    else:
        ends = _prefix_sum_exact(counts.astype(jnp.float32)).astype(jnp.int32)
    before = jnp.concatenate([jnp.zeros(1, jnp.int32), ends])
    return words, jnp.pad(before, (0, (1 << m.bit_length()) - m - 1), mode="edge")


def _active_position(words: jax.Array, before: jax.Array, k: jax.Array) -> jax.Array:
    """Index of the ``k``-th (0-based) active entry, for ``k`` below the number of active entries.

    Branch-free binary searches with a single carried position (unrolled, so no device loop and
    no duplicated work in fusions): the word, the last whose ``before`` count is at most ``k``;
    then the bit, the highest whose lower bits of the word hold at most ``j`` active entries.
    """
    word = jnp.zeros_like(k)
    step = before.shape[0] // 2
    while step:
        word = jnp.where(before[word + step] <= k, word + step, word)
        step //= 2
    w = words[word]
    j = (k - before[word]).astype(jnp.uint32)
    bit = jnp.zeros_like(w)
    for width in (16, 8, 4, 2, 1):
        below = lax.population_count(w & ((np.uint32(1) << (bit + width)) - np.uint32(1)))
        bit = jnp.where(below <= j, bit + width, bit)
    return word * _WORD + bit.astype(jnp.int32)


def _scatter_active(counts: jax.Array, chunk: int, init: jax.Array,
                    add: Callable[[jax.Array, jax.Array, jax.Array], jax.Array]) -> jax.Array:
    """``add(acc, pos, valid)`` over the active entries of ``counts`` (1-D), ``chunk`` at a time.

    ``pos`` holds the indices of up to ``chunk`` active entries, in order; where ``valid`` is
    false it is ``counts.size`` (past the end). The active entries are indexed once
    (:func:`_active_words`), so the work follows their number.
    """
    words, before = _active_words(counts != 0)
    n_active = before[-1]
    offsets = jnp.arange(chunk, dtype=jnp.int32)

    def body(state: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        start, acc = state
        k = start + offsets
        valid = k < n_active
        pos = jnp.where(valid, _active_position(words, before, k), counts.shape[0])
        return start + chunk, add(acc, pos, valid)

    return lax.while_loop(lambda st: st[0] < n_active, body, (jnp.zeros((), jnp.int32), init))[1]


@partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def event_drive(s_rows: jax.Array, wrow: jax.Array, row_slot: jax.Array, chunk: int,
                n_slots: int) -> jax.Array:
    """Synaptic input ``(instances, batch, n_slots)`` from the rows whose source spiked.

    ``s_rows`` ``(instances, batch, rows)``: each row's source spike count. ``wrow``
    ``(instances, rows + 1, width)``: each row's synaptic weights per instance; ``row_slot``
    ``(rows + 1, width)``: their slots (the last row and the padding point at slot ``n_slots``,
    discarded). The active (instance, batch, row) triples of all instances and batch rows are
    scattered together, ``chunk`` at a time.
    """
    n_inst, batch, rows = s_rows.shape
    flat = s_rows.reshape(-1)
    s_pad = jnp.append(flat, 0.0)
    w_flat = wrow.reshape(n_inst * (rows + 1), -1)

    def add(acc: jax.Array, pos: jax.Array, valid: jax.Array) -> jax.Array:
        # non-negative: truncating division is floor division, without its sign fix-ups
        row = jnp.where(valid, lax.div(pos, rows), 0)           # (instance, batch) row
        src = jnp.where(valid, lax.rem(pos, rows), rows)        # padding -> the empty row
        # computed once per active row, not once per synapse inside the fusions that use them
        row, src, w_index, spikes = lax.optimization_barrier(
            (row, src, lax.div(row, batch) * (rows + 1) + src, s_pad[pos]))
        weights = jnp.take(w_flat, w_index, axis=0, mode="clip")
        target = row[:, None] * (n_slots + 1) + row_slot[src]
        return acc.at[target].add(weights * spikes[:, None])

    acc = _scatter_active(flat, chunk, jnp.zeros(n_inst * batch * (n_slots + 1), wrow.dtype), add)
    return acc.reshape(n_inst, batch, n_slots + 1)[..., :n_slots]


def _event_drive_fwd(s_rows, wrow, row_slot, chunk, n_slots):
    return event_drive(s_rows, wrow, row_slot, chunk, n_slots), (s_rows, wrow, row_slot)


def _event_drive_bwd(chunk, n_slots, residual, g):
    s_rows, wrow, row_slot = residual
    g_at = _at_rows(g, row_slot)
    g_s = jnp.einsum("ibrw,irw->ibr", g_at[:, :, :-1], wrow[:, :-1])
    g_w = jnp.einsum("ibr,ibrw->irw", _pad_row(s_rows), g_at)
    return g_s, g_w, None


event_drive.defvjp(_event_drive_fwd, _event_drive_bwd)


@partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def shared_event_drive(x_rows: jax.Array, wrow: jax.Array, row_slot: jax.Array, chunk: int,
                       n_slots: int) -> jax.Array:
    """Synaptic input ``(instances, batch, n_slots)`` from events that every instance receives.

    As :func:`event_drive`, but ``x_rows`` ``(batch, rows)`` is the same for all instances (the
    external inputs): the active (batch, row) pairs are found once and each is delivered to all
    instances' weights at once.
    """
    n_inst = wrow.shape[0]
    batch, rows = x_rows.shape
    flat = x_rows.reshape(-1)
    s_pad = jnp.append(flat, 0.0)

    def add(acc: jax.Array, pos: jax.Array, valid: jax.Array) -> jax.Array:
        row = jnp.where(valid, lax.div(pos, rows), 0)           # batch row
        src = jnp.where(valid, lax.rem(pos, rows), rows)
        row, src, spikes = lax.optimization_barrier((row, src, s_pad[pos]))
        target = row[:, None] * (n_slots + 1) + row_slot[src]
        return acc.at[:, target].add(wrow[:, src] * spikes[:, None])

    acc = _scatter_active(flat, chunk, jnp.zeros((n_inst, batch * (n_slots + 1)), wrow.dtype), add)
    return acc.reshape(n_inst, batch, n_slots + 1)[..., :n_slots]


def _shared_event_drive_fwd(x_rows, wrow, row_slot, chunk, n_slots):
    return shared_event_drive(x_rows, wrow, row_slot, chunk, n_slots), (x_rows, wrow, row_slot)


def _shared_event_drive_bwd(chunk, n_slots, residual, g):
    x_rows, wrow, row_slot = residual
    g_at = _at_rows(g, row_slot)
    g_x = jnp.einsum("ibrw,irw->br", g_at[:, :, :-1], wrow[:, :-1])
    g_w = jnp.einsum("br,ibrw->irw", _pad_row(x_rows), g_at)
    return g_x, g_w, None


shared_event_drive.defvjp(_shared_event_drive_fwd, _shared_event_drive_bwd)


def _at_rows(g: jax.Array, row_slot: jax.Array) -> jax.Array:
    """The cotangent ``g`` ``(..., n_slots)`` read at every row entry's slot (0 for padding)."""
    return jnp.concatenate([g, jnp.zeros(g.shape[:-1] + (1,), g.dtype)], -1)[..., row_slot]


def _pad_row(s: jax.Array) -> jax.Array:
    """Row spike counts ``(..., rows)`` with the empty padding row appended."""
    return jnp.concatenate([s, jnp.zeros(s.shape[:-1] + (1,), s.dtype)], -1)


# -- spike with surrogate gradient -------------------------------------------------------------
@jax.custom_jvp
def spike_fn(x: jax.Array) -> jax.Array:
    """Heaviside step ``x > 0`` whose derivative is taken as ``1 / (1 + SLOPE * |x|) ** 2``."""
    return (x > 0).astype(x.dtype)


@spike_fn.defjvp
def _spike_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return spike_fn(x), t / (1.0 + SURROGATE_SLOPE * jnp.abs(x)) ** 2


# -- per-instance coefficients ----------------------------------------------------------------
@dataclass(frozen=True)
class StepConfig:
    """What the step function is specialised on (static under jit)."""

    dt: float
    kinds: tuple[str, ...]
    I_0: float
    feedback_exponent: float | None
    noise: bool
    silence: bool
    record: bool
    differentiable: bool


def nominal_params(hw: HardwareNetwork, weight_bits: int | None = None) -> dict[str, jax.Array]:
    """The network's nominal currents as float32 arrays: the neuron roles of
    :data:`mismatch.VARIED` and ``syn_weight`` (the weight current of each synapse).

    ``weight_bits`` rounds the weight currents first (:func:`mismatch.quantize_weights`).
    """
    weight = np.asarray(hw.syn_weight, np.float64)
    if weight_bits is not None:
        weight = mm.quantize_weights(weight, np.asarray(hw.syn_group), weight_bits)
    params = {role: jnp.asarray(hw.currents[role], jnp.float32)
              for role in NEURON_ROLES + SYNAPSE_ROLES}
    params["syn_weight"] = jnp.asarray(weight, jnp.float32)
    return params


def _coefficients(p: dict[str, jax.Array], hw: HardwareNetwork, dt: float
                  ) -> dict[str, jax.Array]:
    """Everything the step needs that does not change over time, from one instance's currents.

    ``charge`` ``(n, types)`` turns a weight current into the synaptic jump of one event.
    """
    c = hw.constants
    floor = lambda x: jnp.maximum(x, c.I_0)  # noqa: E731  (DPI currents never go below I_0)
    i_tau, gain = floor(p["I_tau_mem"]), floor(p["I_gain_mem"])
    rate = dt * c.kappa * i_tau / (c.C_mem * c.U_T)          # dt / tau_mem
    t_ref = c.V_th * c.C_ref / floor(p["I_ref"])
    coef = {
        "rate": rate, "decay_mem": jnp.exp(-rate), "gain": gain, "ratio": gain / i_tau,
        "inv_tau": 1.0 / i_tau, "dc": jnp.maximum(p["I_dc"], 0.0), "thr": p["I_spkthr"],
        "ref_steps": jnp.minimum(jnp.round(t_ref / dt), 2 ** 30).astype(jnp.int32),
    }
    if not hw.syn_types:            # no synapses: one inert synapse slot per neuron
        ones = jnp.ones((hw.n_neurons, 1), jnp.float32)
        return {**coef, "decay_syn": ones, "mean_syn": ones, "charge": 0.0 * ones}
    t_pulse = c.V_th * c.C_pulse / floor(p["I_pulse"])
    i_tau_syn = floor(p["I_tau_syn"])
    tau_syn = jnp.asarray(c.C_syn, jnp.float32) * c.U_T / (c.kappa * i_tau_syn)
    return {**coef, "decay_syn": jnp.exp(-dt / tau_syn),
            # mean of exp(-s / tau) over a step: the membrane sees the step's average current
            "mean_syn": -jnp.expm1(-dt / tau_syn) * tau_syn / dt,
            "charge": floor(p["I_gain_syn"]) / i_tau_syn * -jnp.expm1(-t_pulse[:, None] / tau_syn)}


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


def _membrane(c: dict[str, jax.Array], cfg: StepConfig, i_syn: jax.Array, i_mem: jax.Array
              ) -> jax.Array:
    """One exponential-Euler step of the DPI membrane current (before noise, reset, refractory).

    ``c`` holds the coefficients broadcast against the ``(instances, batch, n)`` state.
    """
    mean = i_syn * c["mean_syn"]
    by_kind = {k: sum(mean[..., i] for i, kind in enumerate(cfg.kinds) if kind == k)
               for k in ("excitatory", "inhibitory", "shunting")}
    i_in = jnp.maximum(by_kind["excitatory"] - by_kind["inhibitory"] + c["dc"], 0.0)
    g = c["gain"]
    drive = c["ratio"] * (i_in - by_kind["shunting"]) - g
    if cfg.feedback_exponent is not None:
        i_a = cfg.I_0 * (i_mem / cfg.I_0) ** cfg.feedback_exponent
        drive = drive + i_a * c["inv_tau"] * (i_mem + g)
    if "shunting" in cfg.kinds:
        leak = 1.0 + by_kind["shunting"] * c["inv_tau"]
        target = drive / leak
        rate = c["rate"] * leak
        linear = target + (i_mem - target) * jnp.exp(-rate)
    else:
        target, rate = drive, c["rate"]
        linear = target + (i_mem - target) * c["decay_mem"]
    level = jnp.maximum(i_mem, linear)
    return target + (i_mem - target) * jnp.exp(-rate * level / (level + g))


def _run(coef: dict[str, jax.Array], alive: jax.Array, conn: Connectivity, cfg: StepConfig,
         x: jax.Array, keys: jax.Array, noise_std: jax.Array) -> tuple[jax.Array, ...]:
    """Simulate all instances (``coef`` leaves have a leading instance axis) on ``x``
    ``(batch, T, inputs)``; returns the recorded arrays time-major, ``(T, instances, batch, ...)``
    (a device transpose of the outputs is costly; the caller takes a free host view)."""
    n_inst, n = alive.shape
    batch = x.shape[0]
    n_types = coef["decay_syn"].shape[-1]
    i0 = jnp.float32(cfg.I_0)
    # per-neuron coefficients broadcast against the (instances, batch, neurons) state
    c = {k: v[:, None] for k, v in coef.items() if k not in ("w", "w_in")}
    w = {k: v for k, v in coef.items() if k in ("w", "w_in")}

    def step(carry, xs):
        i_syn, i_mem, ref, spikes = carry
        x_t, t = xs
        drive = _drive(w, conn, spikes, x_t).reshape(n_inst, batch, n, n_types)
        i_syn = i_syn * c["decay_syn"] + drive * c["charge"]
        i_new = _membrane(c, cfg, i_syn, i_mem)
        if cfg.noise:
            z = jax.vmap(jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(k, t), (n,))))
            i_new = i_new + noise_std[:, None] * z(keys)
        clamped = ref > 0
        i_new = jnp.where(clamped, i0, jnp.maximum(i_new, i0))
        s = spike_fn(i_new / c["thr"] - 1.0) * jnp.where(clamped, 0.0, alive[:, None])
        i_new = i_new * (1.0 - s) + i0 * s
        ref = jnp.where(s > 0, c["ref_steps"], jnp.maximum(ref - 1, 0))
        out = s if cfg.differentiable else s > 0
        record = (out, i_new, i_syn) if cfg.record else (out,)
        return (i_syn, i_new, ref, s), record

    shape = (n_inst, batch, n)
    init = (jnp.zeros(shape + (n_types,), jnp.float32), jnp.full(shape, i0),
            jnp.zeros(shape, jnp.int32), jnp.zeros(shape, jnp.float32))
    x_steps = x if conn.mode == "dense" else conn.inputs.spikes(x)
    _, ys = lax.scan(step, init, (jnp.swapaxes(x_steps, 0, 1), jnp.arange(x.shape[1])))
    return ys


def _noise_std(coef: dict[str, jax.Array], noise: jax.Array) -> jax.Array:
    """Per-step noise so that the stationary fluctuation is ``noise * I_spkthr``."""
    return noise * coef["thr"] * jnp.sqrt(-jnp.expm1(-2.0 * coef["rate"]))


def _simulate_instances(nominal: dict[str, jax.Array], hw: HardwareNetwork, conn: Connectivity,
                        cfg: StepConfig, inputs: jax.Array, instances: jax.Array,
                        seed: jax.Array, sigma: jax.Array, noise: jax.Array, silence: jax.Array
                        ) -> tuple[jax.Array, ...]:
    keys = jax.vmap(lambda i: mm.instance_key(seed, i))(instances)
    neuron = {k: v for k, v in nominal.items() if k != "syn_weight"}
    coef = jax.vmap(lambda k: _coefficients(mm.apply_mismatch(k, neuron, sigma), hw, cfg.dt))(keys)
    coef.update(_instance_weights(nominal["syn_weight"], conn, keys, sigma))
    alive = jax.vmap(lambda k: mm.alive_mask(k, hw.n_neurons, silence))(keys) if cfg.silence \
        else jnp.ones((instances.shape[0], hw.n_neurons), jnp.float32)
    rows = jnp.arange(inputs.shape[0])
    row_keys = jax.vmap(lambda k: jax.vmap(
        lambda b: jax.random.fold_in(mm.noise_key(k), b))(rows))(keys)
    return _run(coef, alive, conn, cfg, inputs, row_keys, _noise_std(coef, noise))


def step_config(hw: HardwareNetwork, dt: float, *, noise: bool = False, silence: bool = False,
                record: bool = False, feedback: bool = False, differentiable: bool = True
                ) -> StepConfig:
    """The static configuration of the step function for ``hw``: ``noise`` and ``silence`` say
    whether those draws are made at all (their amounts are arguments of the simulation)."""
    kappa = hw.constants.kappa
    return StepConfig(dt=float(dt), kinds=hw.syn_kinds, I_0=hw.constants.I_0,
                      feedback_exponent=kappa / (kappa + 1.0) if feedback else None,
                      noise=noise, silence=silence, record=record, differentiable=differentiable)


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

    ``i_mem`` ``(instances, batch, T, n)`` (after the reset) and ``i_syn`` ``(..., n, types)``, in
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
                     feedback: bool = False, connectivity: str = "auto",
                     memory_budget: int | None = None, devices: Sequence[Any] | None = None
                     ) -> CircuitResult:
    """Simulate chips ``first_instance .. first_instance + instances - 1`` on ``inputs``.

    ``inputs``: spike counts per step ``(batch, T, n_inputs)`` (or ``(T, n_inputs)``).
    ``mismatch``: relative sigma of every current (0 = the nominal chip). ``seed``: with the
    instance number, fixes everything random about an instance. ``noise``: membrane noise, as a
    fraction of the spike threshold current. ``silence``: fraction of neurons that never spike.
    ``weight_bits``: round the weights to this many bits first. ``devices``: where instances are
    sharded (default: all visible devices). ``memory_budget``: bytes per device for one group of
    instances (default: 40% of an accelerator's memory, 2 GiB on CPU). ``feedback``: add the
    positive-feedback current. ``connectivity``: ``auto``, ``dense`` or ``event`` synaptic input.
    ``first_instance``: number of the first simulated chip (instance ``k`` is the same chip in
    every call with the same seed).
    """
    x = _check_inputs(hw, inputs)
    _check_options(dt, instances, mismatch, noise, silence, weight_bits, first_instance)
    conn = build_connectivity(hw, connectivity)
    nominal = nominal_params(hw, weight_bits)
    cfg = step_config(hw, dt, noise=noise > 0, silence=silence > 0, record=record_states,
                      feedback=feedback, differentiable=False)
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
