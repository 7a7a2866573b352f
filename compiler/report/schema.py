"""The shape of ``report.json`` that ``neurocc report`` relies on, checked before it is used.

A folder's ``report.json`` may have been edited or damaged; every field the report view and the
HTML page read is checked here once, so that a bad file is one :class:`ConfigError` naming the
field instead of a ``KeyError`` deep in the rendering.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import ConfigError

INT, NUM, STR, BOOL = "integer", "finite number", "string", "true or false"

_BIAS = {"bias": STR, "role": STR, "coarse": INT, "fine": INT, "rel_error": NUM,
         "requested_A": NUM, "realised_A": NUM}
_CORE = {"chip": INT, "core": INT, "parameter_class": INT, "neurons": INT, "cam_max": INT,
         "cam_total": INT, "weight_levels_used": INT, "biases": [_BIAS]}
_PROJECTION = {"name": STR, "synapses": INT, "kept": INT, "cam_entries": INT,
               "weight_rel_error": NUM}
_SOLVER = {"status": STR, "method": STR, "objective": NUM, "bound": NUM, "gap": NUM}
_ACTIVITY = {"spikes": NUM, "routed_events": NUM, "synaptic_events": NUM}

#: Field -> expected shape: a kind, ``[shape]`` (a list of), ``{key: shape}`` (an object with at
#: least these keys) or a tuple of alternatives (``None`` allows null).
REPORT: dict[str, Any] = {
    "network": STR, "target": STR, "chips_used": INT, "chips_available": INT, "cores_used": INT,
    "neurons": INT, "input_channels": INT, "synapses": INT, "parameter_classes": INT,
    "parameter_classes_lower_bound": INT, "max_cam_per_neuron": INT,
    "cam_per_neuron_limit": INT, "max_sram_per_neuron": INT, "sram_per_neuron_limit": INT,
    "routed_events": NUM, "solver": _SOLVER, "checker_ok": BOOL, "weight_rel_error": NUM,
    "bias_rel_error_max": NUM, "notes": [STR], "cores": [_CORE], "projections": [_PROJECTION],
    "core_traffic_events": [[NUM]], "expected_activity": (None, _ACTIVITY),
}

_STATS = {"median": NUM, "p5": NUM, "p95": NUM}
_SWEEP = {"axis": STR, "value": NUM, "agreement": NUM, "correlation": NUM,
          "accuracy": (None, NUM)}

#: ``verify/verify.json`` as the report reads it (``"*"``: every key of the object).
VERIFY: dict[str, Any] = {
    "passed": BOOL, "reasons": [STR], "instances": INT, "mismatch": NUM, "noise": NUM,
    "silence": NUM, "reference": {"spikes_per_inference": NUM},
    "summary": {"spikes_per_inference": _STATS, "*": _STATS}, "sweep": [_SWEEP],
    "steps": (None, INT), "input_events_per_inference": (None, NUM),
}

FIX = "regenerate the folder with `neurocc compile MODEL -o OUTDIR`"


def check_report(data: Any, where: str, shape: dict[str, Any] = REPORT,
                 name: str = "report.json", fix: str = FIX) -> dict[str, Any]:
    """Return ``data`` when it has ``shape`` (:data:`REPORT`, :data:`VERIFY`); else raise
    :class:`ConfigError` naming the field of file ``name``."""
    problem = _problem(data, shape, "")
    if problem is not None:
        path, message = problem
        raise ConfigError(f"{name} {path or '<root>'} {message}", where=where, fix=fix)
    return data


def _problem(value: Any, shape: Any, path: str) -> tuple[str, str] | None:
    if isinstance(shape, tuple):
        problems = [_problem(value, alt, path) for alt in shape if alt is not None]
        if (value is None and None in shape) or None in problems:
            return None
        return problems[0]
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return path, "is not an object"
        for key, sub in shape.items():
            if key == "*":
                problems = [_problem(v, sub, f"{path}.{k}".lstrip(".")) for k, v in value.items()]
                problem = next((p for p in problems if p is not None), None)
                if problem is not None:
                    return problem
                continue
            if key not in value:
                return f"{path}.{key}".lstrip("."), "is missing"
            problem = _problem(value[key], sub, f"{path}.{key}".lstrip("."))
            if problem is not None:
                return problem
        return None
    if isinstance(shape, list):
        if not isinstance(value, list):
            return path, "is not a list"
        for k, item in enumerate(value):
            problem = _problem(item, shape[0], f"{path}[{k}]")
            if problem is not None:
                return problem
        return None
    return None if _is_kind(value, shape) else (path, f"is not a {shape}")


def _is_kind(value: Any, kind: str) -> bool:
    if kind == BOOL:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == INT:
        return isinstance(value, int)
    if kind == NUM:  # an integer beyond float range is not a usable number either
        return abs(value) < 2.0**1023 if isinstance(value, int) else \
            isinstance(value, float) and math.isfinite(value)
    return isinstance(value, str)


def check_layout(r: dict[str, Any], tables: Any, where: str) -> None:
    """The cores and the traffic matrix of the report must fit the configuration's chips."""
    n_cores = tables.chips * tables.cores_per_chip
    for k, c in enumerate(r["cores"]):
        if not (0 <= c["chip"] < tables.chips and 0 <= c["core"] < tables.cores_per_chip):
            raise ConfigError(f"report.json cores[{k}] is core {c['core']} of chip {c['chip']}, "
                              f"outside the configuration's {tables.chips} chip(s) of "
                              f"{tables.cores_per_chip} cores", where=where, fix=FIX)
    matrix = r["core_traffic_events"]
    if len(matrix) != n_cores + 1 or any(len(row) != n_cores for row in matrix):
        raise ConfigError(f"report.json core_traffic_events is not {n_cores + 1} x {n_cores} "
                          "(from every core and the inputs, to every core)", where=where, fix=FIX)
