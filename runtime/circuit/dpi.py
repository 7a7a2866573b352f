"""The DPI neuron and synapse equations of the circuit simulator: per-instance coefficients, one
membrane step and the spike (see the package docstring for the model)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import jax
import jax.numpy as jnp
import numpy as np

from neurocc.backends.circuit_constants import NEURON_ROLES, CircuitConstants
from neurocc.backends.neuron_model import NeuronModel

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
    constants: CircuitConstants
    model: NeuronModel
    noise: bool
    silence: bool
    record: bool
    differentiable: bool

    @property
    def I_0(self) -> float:
        return self.constants.I_0

    @property
    def lumped(self) -> int:
        """The synapse type whose time constant and gain DynapSim's single synapse uses: the
        first excitatory one (else the first)."""
        return self.kinds.index("excitatory") if "excitatory" in self.kinds else 0


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Coefficients:
    """Everything the step needs that does not change over time, from one instance's currents.

    Per neuron ``(n,)`` (or with leading instance/batch axes once broadcast): ``rate`` is
    ``dt / tau_mem``, ``decay_mem = exp(-rate)``, ``i_tau`` and ``gain`` the membrane's ``I_tau``
    and ``I_gain``, ``ratio`` ``I_gain / I_tau``, ``inv_tau`` ``1 / I_tau``, ``dc`` the DC input,
    ``thr`` the spike threshold current, ``t_ref`` the refractory period (s) and ``ref_steps`` it
    in steps. Per neuron and synapse type ``(n, types)``: ``decay_syn`` the per-step decay,
    ``mean_syn`` the step-mean factor, ``syn_ratio`` ``I_gain / I_tau``, ``pulse_charge``
    ``1 - exp(-t_pulse / tau)`` and ``charge``, which turns a weight current into the synaptic jump
    of one event.
    """

    rate: jax.Array
    decay_mem: jax.Array
    i_tau: jax.Array
    gain: jax.Array
    ratio: jax.Array
    inv_tau: jax.Array
    dc: jax.Array
    thr: jax.Array
    t_ref: jax.Array
    ref_steps: jax.Array
    decay_syn: jax.Array
    mean_syn: jax.Array
    syn_ratio: jax.Array
    pulse_charge: jax.Array
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
    neuron = dict(rate=rate, decay_mem=jnp.exp(-rate), i_tau=i_tau, gain=gain, ratio=gain / i_tau,
                  inv_tau=1.0 / i_tau, dc=jnp.maximum(p["I_dc"], 0.0), thr=p["I_spkthr"],
                  t_ref=t_ref,
                  ref_steps=jnp.minimum(jnp.round(t_ref / dt), 2 ** 30).astype(jnp.int32))
    if not hw.syn_types:            # no synapses: one inert synapse slot per neuron
        ones = jnp.ones((hw.n_neurons, 1), jnp.float32)
        return Coefficients(**neuron, decay_syn=ones, mean_syn=ones, syn_ratio=0.0 * ones,
                            pulse_charge=0.0 * ones, charge=0.0 * ones)
    t_pulse = c.V_th * c.capacitance["pulse"] / floor(p["I_pulse"])
    i_tau_syn = floor(p["I_tau_syn"])
    tau_syn = jnp.asarray(hw.syn_capacitance, jnp.float32) * c.U_T / (c.kappa * i_tau_syn)
    syn_ratio = floor(p["I_gain_syn"]) / i_tau_syn
    pulse_charge = -jnp.expm1(-t_pulse[:, None] / tau_syn)
    coef = Coefficients(
        **neuron, decay_syn=jnp.exp(-dt / tau_syn),
        # mean of exp(-s / tau) over a step: the membrane sees the step's average current
        mean_syn=-jnp.expm1(-dt / tau_syn) * tau_syn / dt,
        syn_ratio=syn_ratio, pulse_charge=pulse_charge, charge=syn_ratio * pulse_charge)
    if hw.neuron_model.equations == "dynapsim":
        coef = _dynapsim_rounding(coef, p, hw, dt)
    return coef


def _dynapsim_rounding(coef: Coefficients, p: dict[str, jax.Array], hw: HardwareNetwork,
                       dt: float) -> Coefficients:
    """The refractory period and synapse factors computed as DynapSim computes them (float32
    constants, ``1 - exp`` rather than ``expm1``): they decide, at small ``dt``, on which step a
    refractory timer runs out."""
    ut, v_th, kappa, cap = _f32_constants(hw.constants)
    t_pulse = v_th * cap["pulse"] / p["I_pulse"]
    tau_syn = (ut / kappa) * jnp.asarray(hw.syn_capacitance, jnp.float32) / \
        jnp.maximum(p["I_tau_syn"], np.float32(hw.constants.I_0))
    return replace(coef, t_ref=v_th * cap["ref"] / p["I_ref"], decay_syn=jnp.exp(-dt / tau_syn),
                   pulse_charge=1.0 - jnp.exp(-t_pulse[:, None] / tau_syn))


def _f32_constants(k: CircuitConstants) -> tuple[np.float32, np.float32, np.float32,
                                                 dict[str, np.float32]]:
    """``U_T``, ``V_th``, ``kappa = (kappa_n + kappa_p) / 2`` and the capacitances in float32
    arithmetic, as DynapSim holds them."""
    kappa = (np.float32(k.kappa_n) + np.float32(k.kappa_p)) / np.float32(2)
    return (np.float32(k.U_T), np.float32(k.V_th), kappa,
            {name: np.float32(v) for name, v in k.capacitance.items()})


# -- the neuron step ---------------------------------------------------------------------------
def initial_state(cfg: StepConfig, shape: tuple[int, ...], n_types: int) -> tuple[jax.Array, ...]:
    """The neuron state at rest for the ``(instances, batch, n)`` ``shape``.

    ``dpi``: ``(I_syn per type, I_mem, refractory steps left)``; ``dynapsim``: ``(lumped I_syn,
    I_mem, refractory timer (s), I_ahp, V_mem)`` with DynapSim's initial values (currents at
    ``I_0``, ``V_mem = 0``).
    """
    i0 = jnp.float32(cfg.I_0)
    if cfg.model.equations == "dpi":
        return (jnp.zeros(shape + (n_types,), jnp.float32), jnp.full(shape, i0),
                jnp.zeros(shape, jnp.int32))
    full = jnp.full(shape, i0)
    return full, full, jnp.zeros(shape, jnp.float32), full, jnp.zeros(shape, jnp.float32)


def neuron_step(c: Coefficients, cfg: StepConfig, state: tuple[jax.Array, ...], drive: jax.Array,
                spikes: jax.Array, noise: jax.Array | None, alive: jax.Array
                ) -> tuple[tuple[jax.Array, ...], jax.Array]:
    """One step of every neuron: ``drive`` ``(..., n, types)`` is this step's summed weight
    current per synapse type, ``spikes`` the previous step's spikes, ``noise`` the membrane noise
    current (or None) and ``alive`` 0 for silenced neurons. Returns the new state and the spikes
    (float; counts for a :attr:`NeuronModel.multi_spike` model)."""
    if cfg.model.equations == "dpi":
        return _dpi_step(c, cfg, state, drive, noise, alive)
    return _dynapsim_step(c, cfg, state, drive, spikes, noise, alive)


def _dpi_step(c: Coefficients, cfg: StepConfig, state: tuple[jax.Array, ...], drive: jax.Array,
              noise: jax.Array | None, alive: jax.Array
              ) -> tuple[tuple[jax.Array, ...], jax.Array]:
    i0 = jnp.float32(cfg.I_0)
    i_syn, i_mem, ref = state
    i_syn = i_syn * c.decay_syn + drive * c.charge
    i_new = membrane(c, cfg, i_syn, i_mem)
    if noise is not None:
        i_new = i_new + noise
    clamped = ref > 0
    i_new = jnp.where(clamped, i0, jnp.maximum(i_new, i0))
    s = spike_fn(i_new / c.thr - 1.0) * jnp.where(clamped, 0.0, alive)
    i_new = i_new * (1.0 - s) + i0 * s
    ref = jnp.where(s > 0, c.ref_steps, jnp.maximum(ref - 1, 0))
    return (i_syn, i_new, ref), s


def feedback_current(c: Coefficients, cfg: StepConfig, i_mem: jax.Array) -> jax.Array:
    """The positive-feedback current ``I_a`` of a ``dpi`` model (0 for feedback ``none``)."""
    form = cfg.model.feedback
    if form == "exponential":
        kappa = cfg.constants.kappa
        return cfg.I_0 * (i_mem / cfg.I_0) ** (kappa / (kappa + 1.0))
    if form == "sigmoid":
        gain, threshold, width = cfg.model.sigmoid
        return c.thr * gain / (1.0 + jnp.exp(-(i_mem / c.thr - threshold) / width))
    return jnp.zeros_like(i_mem)


def membrane(c: Coefficients, cfg: StepConfig, i_syn: jax.Array, i_mem: jax.Array) -> jax.Array:
    """One exponential-Euler step of the ``dpi`` membrane current (before noise, reset,
    refractory).

    ``c`` holds the coefficients broadcast against the ``(instances, batch, n)`` state.
    """
    mean = i_syn * c.mean_syn
    by_kind = {k: sum(mean[..., i] for i, kind in enumerate(cfg.kinds) if kind == k)
               for k in ("excitatory", "inhibitory", "shunting")}
    i_in = jnp.maximum(by_kind["excitatory"] - by_kind["inhibitory"] + c.dc, 0.0)
    g = c.gain
    drive = c.ratio * (i_in - by_kind["shunting"]) - g
    if cfg.model.feedback != "none":
        drive = drive + feedback_current(c, cfg, i_mem) * c.inv_tau * (i_mem + g)
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


def _dynapsim_step(c: Coefficients, cfg: StepConfig, state: tuple[jax.Array, ...],
                   drive: jax.Array, spikes: jax.Array, noise: jax.Array | None, alive: jax.Array
                   ) -> tuple[tuple[jax.Array, ...], jax.Array]:
    """Rockpool 3.1 DynapSim's step (see ``backends/neuron_model.py`` for its quirks)."""
    k, dt, i0 = cfg.constants, cfg.dt, jnp.float32(cfg.I_0)
    ut, _, kappa, cap = _f32_constants(k)
    i_syn, i_mem, timer, i_ahp, v_mem = state
    sign = jnp.asarray([1.0 if kind == "excitatory" else -1.0 for kind in cfg.kinds] or [1.0],
                       jnp.float32)
    lump = cfg.lumped
    # the lumped synapse: its steady-state input is clipped at I_0 even without an event
    i_inf = jnp.maximum(c.syn_ratio[..., lump] * jnp.sum(drive * sign, -1), i0)
    i_syn = c.decay_syn[..., lump] * i_syn + c.pulse_charge[..., lump] * i_inf
    # the always-on adaptation block: charged by the previous step's spikes, never below I_0
    tau_ahp, ratio_ahp, i_w_ahp, t_pulse_ahp = cfg.model.adaptation
    i_ahp = math.exp(-dt / tau_ahp) * i_ahp + \
        -math.expm1(-t_pulse_ahp / tau_ahp) * ratio_ahp * i_w_ahp * spikes
    i_ahp = jnp.maximum(i_ahp, i0)
    # the membrane: the leak (I_tau + I_ahp) is subtracted twice; input blocked while refractory
    feedback = i0 * jnp.exp(kappa ** 2 / (kappa + 1) * (v_mem / ut))
    i_leak = c.i_tau + i_ahp
    i_in = jnp.where(timer > 0, 0.0, i_syn - i_leak + c.dc)
    i_in = jnp.maximum(i_in, i0)
    i_inf_mem = c.ratio * (i_in - i_leak)
    f_mem = feedback / i_leak * (i_mem + c.gain)
    tau_mem = (ut / kappa) * cap["mem"] / i_leak
    change = i_mem / (tau_mem * (i_mem + c.gain)) * (
        i_inf_mem + f_mem - i_mem * (1.0 + i_ahp / c.i_tau))
    i_mem = i_mem + change * dt
    if noise is not None:
        i_mem = i_mem + noise
    i_mem = jnp.maximum(i_mem, i0)
    v_mem = (ut / kappa) * jnp.log(i_mem / i0)          # before the reset, as DynapSim
    count = jax.lax.stop_gradient(jnp.maximum(jnp.ceil(jnp.log(i_mem / c.thr)), 1.0))
    s = spike_fn(i_mem / c.thr - 1.0) * count * alive
    fired = s > 0
    i_mem = jnp.where(fired, i0, i_mem)
    timer = jnp.where(fired, c.t_ref, jnp.maximum(timer - dt, 0.0))
    return (i_syn, i_mem, timer, i_ahp, v_mem), s
