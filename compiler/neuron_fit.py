"""The LIF -> DPI mapping under a neuron model with positive feedback (``--neuron-model``).

Without feedback (model ``none``) the DPI membrane is linear above ``I_gain`` and the mapping of
``compiler/circuits.py`` is exact: threshold 1 is ``I_mem = I_spkthr = S``. With feedback the
membrane runs away, and spikes, once the feedback outgrows the leak: at a current set by the
feedback, not by ``S`` (DynapSim's rheobase is ~18 pA at default currents whatever ``S``). The
neuron then behaves as a LIF whose threshold is that runaway point ``k S``. The mapping keeps its
relations with ``S`` replaced by ``k S`` (drive ``I_dc = offset + drive k S / r_m``, weight currents
scaled by ``k``, so that PSPs keep their size relative to the threshold), and two inversions fix
what the model adds to the leak:

* ``dynapsim`` subtracts the leak ``I_tau + I_ahp`` twice and always has ``I_ahp >= I_0``: the DC
  offset that cancels it is ``2 (I_tau + I_0)``, and ``I_tau`` is set so that the membrane's decay
  rate ``(I_tau + I_0)^2 / I_tau`` (its ``tau`` uses the whole leak, its decay term adds
  ``I_ahp / I_tau``) equals the requested ``I_tau``'s;
* ``dpi`` models keep the offset ``I_tau``.

``k`` is found by calibration-by-simulation, deterministic: one neuron per candidate ``k`` and
drive, simulated without mismatch by the circuit simulator under the model, and the ``k`` whose
rates best match (least squares in log rate) the LIF's discrete-time rates at drives
:data:`FIT_DRIVES` (the operating range above threshold) is kept; a coarse log grid, then a fine
one around the best. The residual (largest relative rate error over the drives) is reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from neurocc.backends.circuit_constants import CircuitConstants
from neurocc.backends.neuron_model import NeuronModel

#: Constant drives (threshold 1) at which the chip's rates are matched to the LIF's.
FIT_DRIVES = (1.1, 1.25, 1.5, 2.0, 3.0, 4.0)
#: Candidate threshold scales: coarse log grid, then a fine grid between the best's neighbours.
COARSE_SCALES = np.geomspace(1e-5, 2.0, 48)
#: Candidate drive shifts (units of the fitted threshold): the DC offset the feedback needs.
SHIFTS = np.linspace(-1.5, 0.5, 41)
FINE_POINTS = 24
#: Steps simulated per fit: this many periods of the slowest LIF rate (bounded).
PERIODS, MIN_STEPS, MAX_STEPS = 30, 400, 20000


@dataclass(frozen=True)
class NeuronFit:
    """How one population is mapped under ``model``: threshold scale ``k``, drive shift ``b``
    (``I_dc = offset + (drive + b) k S / r_m``) and the largest relative rate error of the fitted
    neuron against the LIF over :data:`FIT_DRIVES`."""

    model: str
    threshold_scale: float
    drive_shift: float
    rate_rel_error: float


def neuron_model_for(target: Any, options: Any) -> NeuronModel:
    """The target's model named by ``options.neuron_model`` (None: the target's default)."""
    return target.neuron_models.get(options.neuron_model)


def leak_current(model: NeuronModel, i_tau: Any, i_0: float) -> np.ndarray:
    """The ``I_tau_mem`` to set for the membrane to decay as ``i_tau`` sets it without extras."""
    i_tau = np.asarray(i_tau, float)
    if model.equations != "dynapsim":
        return i_tau
    # (x + I_0)^2 / x = i_tau  ->  x^2 + (2 I_0 - i_tau) x + I_0^2 = 0, the larger root
    b = i_tau - 2 * i_0
    disc = np.maximum(b * b - 4 * i_0 * i_0, 0.0)
    return np.maximum((b + np.sqrt(disc)) / 2, i_0)


def effective_leak(model: NeuronModel, i_tau_set: Any, i_0: float) -> np.ndarray:
    """The inverse of :func:`leak_current`: the leak current the membrane decays with."""
    i_tau_set = np.asarray(i_tau_set, float)
    if model.equations != "dynapsim":
        return i_tau_set
    return (i_tau_set + i_0) ** 2 / i_tau_set


def dc_offset(model: NeuronModel, i_tau_set: Any, i_0: float) -> np.ndarray:
    """The DC current that cancels the model's leak terms at the input (zero drive)."""
    i_tau_set = np.asarray(i_tau_set, float)
    return 2 * (i_tau_set + i_0) if model.equations == "dynapsim" else i_tau_set


def lif_rates(drives: np.ndarray, decay: float, ref_steps: int) -> np.ndarray:
    """Spikes per step of the IR's LIF (``v += (1 - decay)(u - v)`` from 0, spike above 1, then
    ``ref_steps`` held) at constant drives ``u > 1``."""
    cross = np.floor(np.log1p(-1.0 / drives) / math.log(decay)) + 1
    return 1.0 / (cross + ref_steps)


@lru_cache(maxsize=64)
def fit_population(model: NeuronModel, circuit: CircuitConstants, options: Any, i_tau: float,
                   t_ref: float, i_pulse: float, dt_chip: float, ref_steps: int) -> NeuronFit:
    """The threshold scale and drive shift of a population whose (median) membrane sets
    ``i_tau`` (the requested current, before :func:`leak_current`), refractory ``t_ref`` and
    pulse current ``i_pulse``, on a chip of constants ``circuit`` (cached: populations alike
    share one fit)."""
    c = circuit
    tau = c.capacitance["mem"] * c.U_T / (c.kappa * i_tau)
    want = lif_rates(np.asarray(FIT_DRIVES), math.exp(-dt_chip / tau), ref_steps)
    steps = int(np.clip(PERIODS / want.min(), MIN_STEPS, MAX_STEPS))
    sim = _Simulator(model, circuit, options, i_tau, t_ref, i_pulse, dt_chip, steps)
    if model.feedback == "none":
        return NeuronFit(model.name, 1.0, 0.0, _residual(sim.rates([(1.0, 0.0)])[0], want))
    k, shift = _search(sim, want, COARSE_SCALES, 0.0, "scale")
    k, shift = _search(sim, want, SHIFTS, k, "shift", shift)
    k, shift = _search(sim, want, _around(COARSE_SCALES, k), 0.0, "scale", shift)
    k, shift = _search(sim, want, _around(SHIFTS, shift, linear=True), k, "shift", shift)
    return NeuronFit(model.name, float(k), float(shift),
                     _residual(sim.rates([(k, shift)])[0], want))


def _search(sim: "_Simulator", want: np.ndarray, values: np.ndarray, k: float, axis: str,
            shift: float = 0.0) -> tuple[float, float]:
    """The best ``(scale, shift)`` varying one of them over ``values``."""
    points = [(v, shift) if axis == "scale" else (k, v) for v in values]
    rates = sim.rates(points)
    err = np.log((rates + 0.5 / sim.steps) / want)
    return points[int(np.argmin(np.sum(err * err, axis=1)))]


def _around(grid: np.ndarray, value: float, linear: bool = False) -> np.ndarray:
    """A fine grid between the neighbours of ``value`` in ``grid``."""
    i = int(np.argmin(np.abs(grid - value)))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    return np.linspace(lo, hi, FINE_POINTS) if linear else np.geomspace(lo, hi, FINE_POINTS)


def _residual(rates: np.ndarray, want: np.ndarray) -> float:
    return float(np.max(np.abs(rates - want) / want))


class _Simulator:
    """Rates (spikes per step) of one neuron per (scale, drive) under the model, no mismatch."""

    def __init__(self, model: NeuronModel, circuit: CircuitConstants, options: Any, i_tau: float,
                 t_ref: float, i_pulse: float, dt_chip: float, steps: int):
        c = circuit
        self.model, self.constants, self.steps, self.dt = model, c, steps, dt_chip
        set_tau = float(leak_current(model, i_tau, c.I_0))
        self.fixed = {"I_tau_mem": set_tau, "I_gain_mem": options.membrane_gain_ratio * set_tau,
                      "I_ref": c.V_th * c.capacitance["ref"] / t_ref, "I_pulse": i_pulse,
                      "I_spkthr": options.spike_threshold_current}
        self.offset = float(dc_offset(model, set_tau, c.I_0))
        self.unit = options.spike_threshold_current / options.membrane_gain_ratio

    def rates(self, points: list[tuple[float, float]]) -> np.ndarray:
        """Rates ``(points, drives)`` for ``(scale, shift)`` points."""
        from neurocc.runtime.circuit import simulate_circuit
        from neurocc.runtime.hardware_network import neuron_network

        drives = np.asarray(FIT_DRIVES)
        k, b = np.asarray(points, float).T
        dc = np.maximum(self.offset + (k[:, None] * (drives + b[:, None])) * self.unit,
                        0.0).ravel()
        currents = {role: np.full(dc.size, v) for role, v in self.fixed.items()}
        currents["I_dc"] = dc
        hw = neuron_network(currents, self.constants, self.model)
        res = simulate_circuit(hw, np.zeros((self.steps, 0), np.float32), dt=self.dt,
                               mismatch=0.0, connectivity="dense")
        counts = res.spikes[0, 0].sum(axis=0, dtype=np.float64)
        return (counts / self.steps).reshape(k.size, drives.size)
