"""The DPI neuron and synapse equations of the circuit simulator: per-instance coefficients, one
membrane step and the spike (see the package docstring for the model)."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from neurocc.backends.circuit_constants import NEURON_ROLES

from .. import mismatch as mm
from ..hardware_network import SYNAPSE_ROLES, HardwareNetwork

#: Slope of the fast-sigmoid surrogate derivative, per unit of I_mem / I_spkthr - 1.
SURROGATE_SLOPE = 10.0


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


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Coefficients:
    """Everything the step needs that does not change over time, from one instance's currents.

    Per neuron ``(n,)`` (or with leading instance/batch axes once broadcast): ``rate`` is
    ``dt / tau_mem``, ``decay_mem = exp(-rate)``, ``gain`` the membrane's ``I_gain``, ``ratio``
    ``I_gain / I_tau``, ``inv_tau`` ``1 / I_tau``, ``dc`` the DC input, ``thr`` the spike threshold
    current, ``ref_steps`` the refractory steps. Per neuron and synapse type ``(n, types)``:
    ``decay_syn`` the per-step decay, ``mean_syn`` the step-mean factor and ``charge``, which turns
    a weight current into the synaptic jump of one event.
    """

    rate: jax.Array
    decay_mem: jax.Array
    gain: jax.Array
    ratio: jax.Array
    inv_tau: jax.Array
    dc: jax.Array
    thr: jax.Array
    ref_steps: jax.Array
    decay_syn: jax.Array
    mean_syn: jax.Array
    charge: jax.Array

    def broadcast(self) -> Coefficients:
        """Every leaf with a batch axis after the leading instance axis (``(inst, 1, n, ...)``)."""
        return jax.tree.map(lambda v: v[:, None], self)


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


def coefficients(p: dict[str, jax.Array], hw: HardwareNetwork, dt: float) -> Coefficients:
    """The :class:`Coefficients` of one instance whose currents are ``p``."""
    c = hw.constants
    floor = lambda x: jnp.maximum(x, c.I_0)  # noqa: E731  (DPI currents never go below I_0)
    i_tau, gain = floor(p["I_tau_mem"]), floor(p["I_gain_mem"])
    rate = dt * c.kappa * i_tau / (c.capacitance["mem"] * c.U_T)          # dt / tau_mem
    t_ref = c.V_th * c.capacitance["ref"] / floor(p["I_ref"])
    neuron = dict(rate=rate, decay_mem=jnp.exp(-rate), gain=gain, ratio=gain / i_tau,
                  inv_tau=1.0 / i_tau, dc=jnp.maximum(p["I_dc"], 0.0), thr=p["I_spkthr"],
                  ref_steps=jnp.minimum(jnp.round(t_ref / dt), 2 ** 30).astype(jnp.int32))
    if not hw.syn_types:            # no synapses: one inert synapse slot per neuron
        ones = jnp.ones((hw.n_neurons, 1), jnp.float32)
        return Coefficients(**neuron, decay_syn=ones, mean_syn=ones, charge=0.0 * ones)
    t_pulse = c.V_th * c.capacitance["pulse"] / floor(p["I_pulse"])
    i_tau_syn = floor(p["I_tau_syn"])
    tau_syn = jnp.asarray(hw.syn_capacitance, jnp.float32) * c.U_T / (c.kappa * i_tau_syn)
    return Coefficients(
        **neuron, decay_syn=jnp.exp(-dt / tau_syn),
        # mean of exp(-s / tau) over a step: the membrane sees the step's average current
        mean_syn=-jnp.expm1(-dt / tau_syn) * tau_syn / dt,
        charge=floor(p["I_gain_syn"]) / i_tau_syn * -jnp.expm1(-t_pulse[:, None] / tau_syn))


def membrane(c: Coefficients, cfg: StepConfig, i_syn: jax.Array, i_mem: jax.Array) -> jax.Array:
    """One exponential-Euler step of the DPI membrane current (before noise, reset, refractory).

    ``c`` holds the coefficients broadcast against the ``(instances, batch, n)`` state.
    """
    mean = i_syn * c.mean_syn
    by_kind = {k: sum(mean[..., i] for i, kind in enumerate(cfg.kinds) if kind == k)
               for k in ("excitatory", "inhibitory", "shunting")}
    i_in = jnp.maximum(by_kind["excitatory"] - by_kind["inhibitory"] + c.dc, 0.0)
    g = c.gain
    drive = c.ratio * (i_in - by_kind["shunting"]) - g
    if cfg.feedback_exponent is not None:
        i_a = cfg.I_0 * (i_mem / cfg.I_0) ** cfg.feedback_exponent
        drive = drive + i_a * c.inv_tau * (i_mem + g)
    if "shunting" in cfg.kinds:
        leak = 1.0 + by_kind["shunting"] * c.inv_tau
        target = drive / leak
        rate = c.rate * leak
        linear = target + (i_mem - target) * jnp.exp(-rate)
    else:
        target, rate = drive, c.rate
        linear = target + (i_mem - target) * c.decay_mem
    level = jnp.maximum(i_mem, linear)
    return target + (i_mem - target) * jnp.exp(-rate * level / (level + g))
