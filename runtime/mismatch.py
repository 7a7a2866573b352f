"""Per-instance variations of a simulated chip: device mismatch, silenced neurons, weight precision.

Every simulated chip (an *instance*) is reproducible on its own: everything random about instance
``k`` is drawn from ``instance_key(seed, k)`` only, never from how many instances run together or in
which group, so that simulating instances 0..9 and then instance 7 alone gives instance 7 twice.
Mismatch, silencing and noise draw from separate streams (``fold_in`` of fixed stream numbers).

Mismatch is independent multiplicative Gaussian noise, ``value * max(1 + sigma * z, 0)`` with
``z ~ N(0, 1)``, per parameter per neuron (each neuron circuit role), per neuron and synapse type
(the synapse DPI currents) and per synapse (the weight current of every delivered CAM entry).
Capacitances and the physical constants are not varied: transistor currents carry the mismatch.

A synapse's factor is a function of (instance key, synapse number) alone, computed element-wise by
a counter-based hash (Threefry, as ``jax.random`` uses), so that a simulator can evaluate it in
whatever layout it stores its synapses, without drawing and rearranging an array per instance.
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.random import threefry_2x32

#: Neuron-level quantities that mismatch varies, in the order their draws are made.
VARIED = ("I_tau_mem", "I_gain_mem", "I_dc", "I_ref", "I_pulse", "I_spkthr", "I_tau_syn",
          "I_gain_syn")
#: Stream numbers of the random draws of an instance.
MISMATCH_STREAM = 99
SILENCE_STREAM = 100
NOISE_STREAM = 101
SYNAPSE_STREAM = 102


def instance_key(seed: jax.Array | int, instance: jax.Array | int) -> jax.Array:
    """The random key of instance ``instance`` of the chips simulated with ``seed``."""
    return jax.random.fold_in(jax.random.PRNGKey(seed), instance)


def mismatch_factors(key: jax.Array, shapes: Mapping[str, tuple[int, ...]],
                     sigma: jax.Array | float) -> dict[str, jax.Array]:
    """Multiplicative factors ``max(1 + sigma * z, 0)`` for each quantity of ``shapes``.

    One draw of standard normals (one random call compiles and runs far faster than one per
    quantity) is cut into the quantities in :data:`VARIED` order.
    """
    unknown = set(shapes) - set(VARIED)
    if unknown:
        raise KeyError(f"mismatch varies {VARIED}, not {sorted(unknown)}")
    names = [name for name in VARIED if name in shapes]
    sizes = [int(np.prod(shapes[name], dtype=np.int64)) for name in names]
    z = jax.random.normal(jax.random.fold_in(key, MISMATCH_STREAM), (sum(sizes),), jnp.float32)
    parts = jnp.split(z, np.cumsum(sizes)[:-1]) if names else []
    return {name: jnp.maximum(1.0 + sigma * part.reshape(shapes[name]), 0.0)
            for name, part in zip(names, parts)}


def synapse_factors(key: jax.Array, ids: jax.Array, sigma: jax.Array | float) -> jax.Array:
    """Factor ``max(1 + sigma * z, 0)`` of each synapse number in ``ids`` (any shape).

    ``z`` depends only on ``key`` and the synapse's number: the Threefry hash of the pair
    (number, 0) gives 32 random bits, turned into a normal deviate like ``jax.random.normal``.
    """
    flat = jnp.ravel(ids).astype(jnp.uint32)
    keypair = jax.random.key_data(jax.random.fold_in(key, SYNAPSE_STREAM)) \
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else jax.random.fold_in(
            key, SYNAPSE_STREAM)
    bits = threefry_2x32(keypair, jnp.concatenate([flat, jnp.zeros_like(flat)]))[:flat.size]
    unit = lax.bitcast_convert_type((bits >> 9) | np.uint32(0x3F800000), jnp.float32) - 1.0
    lo = np.nextafter(np.float32(-1.0), np.float32(0.0))
    z = np.float32(np.sqrt(2.0)) * lax.erf_inv(jnp.maximum(lo, unit * 2.0 - 1.0))
    return jnp.maximum(1.0 + sigma * z, 0.0).reshape(jnp.shape(ids))


def apply_mismatch(key: jax.Array, nominal: Mapping[str, jax.Array],
                   sigma: jax.Array | float) -> dict[str, jax.Array]:
    """``nominal`` (a dict keyed by names of :data:`VARIED`) times this instance's factors."""
    factors = mismatch_factors(key, {k: jnp.shape(v) for k, v in nominal.items()}, sigma)
    return {k: v * factors[k] for k, v in nominal.items()}


def alive_mask(key: jax.Array, n: int, fraction: jax.Array | float) -> jax.Array:
    """1.0 for neurons that may spike, 0.0 for the ``round(fraction * n)`` silenced ones.

    The silenced neurons are the ones with the lowest random ranks of this instance, so raising
    ``fraction`` only ever adds neurons to the silenced set.
    """
    u = jax.random.uniform(jax.random.fold_in(key, SILENCE_STREAM), (n,))
    rank = jnp.argsort(jnp.argsort(u))
    return (rank >= jnp.round(fraction * n)).astype(jnp.float32)


def noise_key(key: jax.Array) -> jax.Array:
    """The key of the membrane noise of an instance (fold in the batch row, then the step)."""
    return jax.random.fold_in(key, NOISE_STREAM)


def quantize_weights(weight: np.ndarray, group: np.ndarray, bits: int) -> np.ndarray:
    """Round each weight to ``2**bits - 1`` equal steps of the largest weight of its group.

    Groups are the synapses that share weight biases (same post core and synapse type). A weight
    that rounds to level 0 becomes 0: the synapse is lost, as on a chip with fewer weight bits.
    """
    weight = np.asarray(weight, dtype=np.float64)
    group = np.asarray(group)
    if weight.size == 0:
        return weight.copy()
    _, inverse = np.unique(group, return_inverse=True)
    top = np.zeros(inverse.max() + 1)
    np.maximum.at(top, inverse, weight)
    scale = top[inverse]
    levels = 2 ** bits - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.where(scale > 0, np.round(weight / scale * levels) * scale / levels, 0.0)
    return q
