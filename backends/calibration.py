"""Measured constants of one chip (``--calibration FILE.json``), applied to a target.

The target files hold nominal values; a calibration file holds what was measured on one chip
(see ``docs/calibration.md`` and ``examples/calibration_example.json``)::

    {"format": "neurocc-calibration/1", "chip": "free text", "source": "how it was measured",
     "constants": {"C_mem": 7.7e-12, "I_0": 4e-13, "kappa_n": 0.72, ...},
     "bias_scale": {"SOIF_LEAK_N": 1.1, ...},
     "core_bias_scale": {"0.1": {"SOIF_DC_P": 0.95}, ...},
     "neuron_gain": {"17": 1.2, ...}}

* ``constants``: any of ``U_T kappa_n kappa_p I_0 V_th`` and ``C_<circuit>`` (``C_mem``,
  ``C_ref``, ``C_pulse``, ``C_ahp``; farads) replace the target's. Used for the bias choice
  (time constants, pulse and refractory widths) and the simulation.
* ``bias_scale``: per bias name, the factor between the measured and the nominal current of every
  setting, on every core. Used for the bias choice (the chosen setting is the one whose measured
  current is nearest the request) and the simulation.
* ``core_bias_scale``: ``"chip.core"`` -> per bias name, a further factor for that core only.
  Used for the bias choice of that core (the quantize pass chooses every bias per placed core,
  through :meth:`Target.for_core`) and the simulation.
* ``neuron_gain``: hardware neuron id -> factor on that neuron's membrane gain current, used by
  the simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from neurocc.backends.circuit_constants import CircuitConstants
from neurocc.backends.json_fields import Fields, read_json
from neurocc.compiler.errors import TargetError

FORMAT = "neurocc-calibration/1"
SCALARS = ("U_T", "kappa_n", "kappa_p", "I_0", "V_th")
#: A factor outside this range is a unit or transcription error, not a chip.
FACTOR_RANGE = (0.01, 100.0)


@dataclass(frozen=True)
class Calibration:
    """A parsed calibration file (see the module docstring)."""

    path: str
    constants: Mapping[str, float]
    bias_scale: Mapping[str, float]
    core_bias_scale: Mapping[tuple[int, int], Mapping[str, float]]
    neuron_gain: Mapping[int, float]


def load_calibration(path: str | Path, target: Any) -> Calibration:
    """Read and validate a calibration file for ``target`` (bias names and cores are checked)."""
    raw = read_json(path, "the calibration file (--calibration)", TargetError)
    return _Parser(str(path), target).parse(raw)


def calibrated_target(target: Any, calibration: Calibration) -> Any:
    """``target`` with the measured constants and per-bias scale factors of ``calibration``."""
    c = target.circuit
    values = {k: calibration.constants.get(k, getattr(c, k)) for k in SCALARS}
    caps = dict(c.capacitance)
    caps.update({k[2:]: v for k, v in calibration.constants.items() if k.startswith("C_")})
    circuit = CircuitConstants(**values, capacitance=MappingProxyType(caps))
    return replace(target.with_bias_scale(calibration.bias_scale), circuit=circuit,
                   core_bias_scale=calibration.core_bias_scale)


class _Parser(Fields):
    """A calibration file's fields, checked against the target; errors are :class:`TargetError`."""

    def __init__(self, path: str, target: Any):
        super().__init__(path, TargetError)
        self.path, self.target = path, target

    def positive(self, value: Any, at: str, factor: bool) -> float:
        ok = not isinstance(value, bool) and isinstance(value, (int, float)) and \
            math.isfinite(value) and value > 0
        lo, hi = FACTOR_RANGE
        if ok and factor and not lo <= value <= hi:
            raise self.fail(at, f"is {value!r}, outside {lo}..{hi}",
                            fix="a scale factor is measured / nominal current (1 = nominal)")
        if not ok:
            raise self.fail(at, f"is {value!r}", fix="use a finite number > 0 (SI units)")
        return float(value)

    def parse(self, raw: Any) -> Calibration:
        root = self.mapping(raw, "")
        if root.get("format") != FORMAT:
            raise self.fail("format", f"is {root.get('format')!r}", fix=f"set it to {FORMAT!r}")
        unknown = sorted(set(root) - {"format", "chip", "source", "constants", "bias_scale",
                                      "core_bias_scale", "neuron_gain"})
        if unknown:
            raise self.fail("<root>", f"has unknown field(s) {unknown}",
                            fix="use constants, bias_scale, core_bias_scale, neuron_gain")
        if not isinstance(root.get("source"), str) or not root["source"].strip():
            raise self.fail("source", "is missing or empty",
                            fix="say how and on which chip the values were measured")
        return Calibration(path=self.path, constants=self.constants(root.get("constants", {})),
                           bias_scale=self.biases(root.get("bias_scale", {}), "bias_scale"),
                           core_bias_scale=self.cores(root.get("core_bias_scale", {})),
                           neuron_gain=self.neurons(root.get("neuron_gain", {})))

    def constants(self, raw: Any) -> Mapping[str, float]:
        known = set(SCALARS) | {f"C_{k}" for k in self.target.circuit.capacitance}
        out = {}
        for key, value in self.mapping(raw, "constants").items():
            if key not in known:
                raise self.fail(f"constants.{key}", "is not a constant of the target",
                                fix=f"use one of {sorted(known)}")
            out[key] = self.positive(value, f"constants.{key}", factor=False)
        return MappingProxyType(out)

    def biases(self, raw: Any, at: str) -> Mapping[str, float]:
        out = {}
        for name, value in self.mapping(raw, at).items():
            if name not in self.target._bias_by_name:
                raise self.fail(f"{at}.{name}", f"is not a bias of {self.target.name}",
                                fix=f"use bias names of the target, e.g. "
                                    f"{sorted(self.target._bias_by_name)[:4]}")
            out[name] = self.positive(value, f"{at}.{name}", factor=True)
        return MappingProxyType(out)

    def cores(self, raw: Any) -> Mapping[tuple[int, int], Mapping[str, float]]:
        out = {}
        for key, value in self.mapping(raw, "core_bias_scale").items():
            try:
                chip, core = (int(p) for p in key.split("."))
            except ValueError:
                chip = core = -1
            if not (0 <= chip < self.target.chips and 0 <= core < self.target.cores_per_chip):
                raise self.fail(f"core_bias_scale.{key}", "is not a core of the board",
                                fix=f"name cores 'chip.core' with chip 0..{self.target.chips - 1}"
                                    f" and core 0..{self.target.cores_per_chip - 1}")
            out[(chip, core)] = self.biases(value, f"core_bias_scale.{key}")
        return MappingProxyType(out)

    def neurons(self, raw: Any) -> Mapping[int, float]:
        out = {}
        for key, value in self.mapping(raw, "neuron_gain").items():
            if not key.isdigit() or int(key) >= self.target.total_neurons:
                raise self.fail(f"neuron_gain.{key}", "is not a hardware neuron id",
                                fix=f"use ids 0..{self.target.total_neurons - 1}")
            out[int(key)] = self.positive(value, f"neuron_gain.{key}", factor=True)
        return MappingProxyType(out)
