"""NIR neuron nodes <-> IR populations, with the threshold normalisation of ``compiler/ir.py``.

NIR's equations (``I`` the summed input, ``x`` the IR's input after the gain ``g``)::

    LIF      tau dv/dt = (v_leak - v) + r*I
    CubaLIF  tau_syn dI_s/dt = -I_s + w_in*I;  tau_mem dv/dt = (v_leak - v) + r*I_s
    IF       v += r*I every step (NIR writes dv/dt = r*I; exporters such as Sinabs use r as a
             per-step gain, so dt is not applied)
    I        v += r*I every step (likewise)
    LI, CubaLI   as LIF, CubaLIF without spikes
    Threshold    spike if I > threshold (stateless)

Dividing the state by the threshold ``thr`` gives the IR's threshold-1 form with gain
``g = r * w_in / thr`` on every incoming weight row and bias (``w_in`` only for the Cuba models,
``r`` absent for Threshold, ``thr = 1`` for the non-spiking ones) and ``v_leak / thr``,
``v_reset / thr``. The file's ``v_threshold`` (Threshold: ``threshold``), ``r`` and ``w_in`` are
kept in ``Population.scale``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from neurocc.compiler.errors import InvalidModelError, ModelFormatError
from neurocc.compiler.ir import MODEL_PARAMS, RESETTING_MODELS, Population, make_population

from .values import check_finite, float_array, strip_batch

#: Per NIR neuron type: required parameters, and the optional ones with their default.
NEURON_FIELDS: dict[str, tuple[tuple[str, ...], dict[str, float]]] = {
    "LIF": (("tau", "r", "v_leak", "v_threshold"), {"v_reset": 0.0}),
    "CubaLIF": (("tau_syn", "tau_mem", "r", "v_leak", "v_threshold"),
                {"v_reset": 0.0, "w_in": 1.0}),
    "IF": (("r", "v_threshold"), {"v_reset": 0.0}),
    "LI": (("tau", "r", "v_leak"), {}),
    "CubaLI": (("tau_syn", "tau_mem", "r", "v_leak"), {"w_in": 1.0}),
    "I": (("r",), {}),
    "Threshold": (("threshold",), {}),
}
#: IR parameter name -> NIR parameter name where they differ (the IR model names equal NIR's).
IR_TO_NIR = {"tau_mem": {"LIF": "tau", "LI": "tau"}}
#: NIR factors that normalisation folds into the weights (all 1 in normal form).
GAIN_FIELDS = ("v_threshold", "threshold", "r", "w_in")
_THRESHOLDS = ("v_threshold", "threshold")
_TIME_CONSTANTS = ("tau", "tau_mem", "tau_syn")


def nir_name(model: str, ir_param: str) -> str:
    """The NIR parameter that holds the IR parameter ``ir_param`` of ``model``."""
    return IR_TO_NIR.get(ir_param, {}).get(model, ir_param)


@dataclass
class NeuronNode:
    """A parsed neuron node: float64 parameters without batch dimension (scalars stay 0-d)."""

    name: str
    type: str
    values: dict[str, np.ndarray]
    shape: tuple[int, ...] | None  # None when every parameter is a scalar

    def flat(self, key: str, size: int) -> np.ndarray:
        """Parameter ``key`` as a vector of ``size`` neurons (row-major over the node's shape)."""
        return np.broadcast_to(self.values[key], self.shape or (size,)).reshape(size).copy()


def parse_neuron(name: str, node: Mapping[str, Any]) -> NeuronNode:
    """Check and convert a neuron node's parameters; errors name the parameter and index."""
    kind = node["type"]
    required, optional = NEURON_FIELDS[kind]
    missing = [p for p in required if p not in node]
    if missing:
        raise ModelFormatError(f"{kind} node lacks parameter(s) {missing}",
                               fix=f"a {kind} node needs {list(required)}")
    values = {p: strip_batch(float_array(node.get(p, optional.get(p)), p))
              for p in (*required, *optional)}
    try:
        shape = np.broadcast_shapes(*(v.shape for v in values.values()))
    except ValueError:
        shapes = {p: v.shape for p, v in values.items()}
        raise InvalidModelError(f"parameters have incompatible shapes {shapes}",
                                fix="give every parameter one value per neuron") from None
    for key in (*_TIME_CONSTANTS, *_THRESHOLDS):
        if key in values:
            _check_positive(key, values[key])
    return NeuronNode(name, kind, values, tuple(int(n) for n in shape) or None)


def _check_positive(key: str, value: np.ndarray) -> None:
    bad = np.flatnonzero(value.reshape(-1) <= 0)
    if not bad.size:
        return
    first = value.reshape(-1)[bad[0]]
    what = "time constant" if key in _TIME_CONSTANTS else "threshold"
    fix = ("time constants are in seconds and must be > 0 (exporters computing tau = dt/(1-beta) "
           "give tau < 0 when beta > 1): constrain the trained parameters and export again"
           if what == "time constant" else "firing thresholds must be > 0")
    raise InvalidModelError(f"{what} {key}[{bad[0]}] = {first:.6g} is not positive "
                            f"({bad.size} of {value.size} values are <= 0)", fix=fix)


def gain(node: NeuronNode, size: int) -> np.ndarray:
    """Per-neuron factor ``r * w_in / thr`` that multiplies the incoming weight rows and bias."""
    keys = [key for key in ("r", "w_in") if key in node.values]
    g = np.ones(size)
    with np.errstate(over="ignore", invalid="ignore"):
        for key in keys:
            g = g * node.flat(key, size)
    return per_threshold(node, size, g, "*".join(keys) or "gain")


def per_threshold(node: NeuronNode, size: int, values: np.ndarray, what: str) -> np.ndarray:
    """``values / threshold`` per neuron; a result that is not finite blames the threshold.

    A tiny (e.g. denormal) threshold overflows the normal form; numpy's warnings are silenced
    here and the error names the parameter and the neuron instead.
    """
    key = next((k for k in _THRESHOLDS if k in node.values), None)
    thr = node.flat(key, size) if key else np.ones(size)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        out = values / thr
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        i = bad[0]
        divisor = f"{key}[{i}] = {thr[i]:.6g}" if key else "1"
        raise InvalidModelError(
            f"normalising by the threshold overflows: {what}[{i}] = {values[i]:.6g} divided by "
            f"{divisor} is not a finite number ({bad.size} of {size} neurons)",
            fix=f"{key or 'the threshold'} is too small (or {what} too large) for 64-bit floats; "
                f"check the export and rescale the layer")
    return out


def finite_product(factor: np.ndarray, values: np.ndarray, what: str) -> np.ndarray:
    """``factor * values`` elementwise, refused (without numpy warnings) when it overflows."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = factor * values
    check_finite(out, what, "check the export: the layer's values are far too large for its "
                            "threshold")
    return out


def to_population(node: NeuronNode, size: int, bias: np.ndarray, reset: str,
                  refractory: float) -> Population:
    """The normalised population; ``bias`` is the summed raw input bias (before the gain)."""
    params: dict[str, Any] = {"bias": finite_product(gain(node, size), bias,
                                                     "the input bias times the gain")}
    for key in MODEL_PARAMS[node.type]:
        if key != "bias":
            name = nir_name(node.type, key)
            value = node.flat(name, size)
            params[key] = per_threshold(node, size, value, name) if key.startswith("v_") \
                else value
    scale = {("v_threshold" if key in _THRESHOLDS else key): node.flat(key, size)
             for key in GAIN_FIELDS if key in node.values}
    if node.type in RESETTING_MODELS:
        params.update(reset=reset, refractory=refractory)
    return make_population(node.name, node.type, size, scale=scale, **params)
