"""Circuit-level simulator of a configured DYNAP chip: DPI neurons and synapses, in JAX.

The neuron model is the target's (``HardwareNetwork.neuron_model``, ``backends/neuron_model.py``).
The ``dpi`` equations, per simulated neuron (currents in amperes,
``kappa = (kappa_n + kappa_p) / 2``)::

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
inhibition entering like the adaptation current. A model with feedback (``sigmoid``,
``exponential``) adds ``f(I_mem) = (I_a / I_tau_mem) * (I_mem + g)`` to ``A``; model ``none`` has
none. Adaptation (AHP) is not simulated by the ``dpi`` equations: no bias of the targets is
assigned to it. The ``dynapsim`` equations are Rockpool 3.1 DynapSim's, quirks included (forward
Euler, one lumped synapse, an always-on AHP block, several spikes per step; see
``backends/neuron_model.py``); what follows describes the ``dpi`` equations.

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
``noise=0``, neuron model ``none``, no shunting and no inhibition that drives the input below zero
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

Layout: :mod:`.events` (connectivity and the event-driven synaptic input), :mod:`.dpi` (the neuron
and synapse equations: per-instance coefficients, the membrane step, the spike), :mod:`.simulate`
(the time loop, instances, sharding, validation and results).
"""

from .dpi import Coefficients, StepConfig, nominal_params, spike_fn
from .events import Connectivity, EventRows, build_connectivity, event_drive, shared_event_drive
from .simulate import (CircuitResult, DEFAULT_MEMORY_BUDGET, circuit_forward, simulate_circuit,
                       step_config)

__all__ = ["CircuitResult", "Coefficients", "Connectivity", "DEFAULT_MEMORY_BUDGET", "EventRows",
           "StepConfig", "build_connectivity", "circuit_forward", "event_drive", "nominal_params",
           "shared_event_drive", "simulate_circuit", "spike_fn", "step_config"]
