"""The physical constants of the DPI circuits and the neuron's circuit roles: one home for both.

The target reader (``backends/target.py``), the circuit mapping, the configuration reader and the
circuit simulator all import them from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

#: Per-neuron circuit currents (one per core bias). ``I_spkthr`` is realised by a bias only on
#: targets whose spike threshold is adjustable (``Target.spike_threshold_adjustable``).
NEURON_ROLES = ("I_tau_mem", "I_gain_mem", "I_dc", "I_ref", "I_pulse", "I_spkthr")


@dataclass(frozen=True)
class CircuitConstants:
    """Physical constants of the DPI circuits (SI units; hashable, so usable as static data).

    ``capacitance`` maps a circuit name (``mem``, ``ref``, ``pulse``, ``ahp``, ...) to farads.
    """

    U_T: float
    kappa_n: float
    kappa_p: float
    I_0: float
    V_th: float
    capacitance: Mapping[str, float]

    def __hash__(self) -> int:
        return hash((self.U_T, self.kappa_n, self.kappa_p, self.I_0, self.V_th,
                     tuple(sorted(self.capacitance.items()))))

    @property
    def kappa(self) -> float:
        """Mean subthreshold slope, used in ``tau = C * U_T / (kappa * I_tau)``."""
        return (self.kappa_n + self.kappa_p) / 2
