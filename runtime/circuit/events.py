"""Connectivity layouts and the event-driven synaptic input of the circuit simulator."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from neurocc.compiler.errors import SimulationError

from ..hardware_network import HardwareNetwork

#: Dense synaptic input when the per-instance matrix has at most this many entries...
DENSE_MAX_ENTRIES = 1 << 14
#: ...or when at least this fraction of its entries are synapses.
DENSE_MIN_DENSITY = 0.5


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
