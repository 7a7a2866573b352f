"""The shape of ``report.json`` that ``neurocc report`` relies on, checked before it is used.

A folder's ``report.json`` may have been edited or damaged; every field the report view and the
HTML page read is checked here once, so that a bad file is one :class:`ConfigError` naming the
field instead of a ``KeyError`` deep in the rendering.
"""

from __future__ import annotations

from typing import Any

from neurocc.backends.json_fields import BOOL, INT, NUM, STR, check_shape

from ..errors import ConfigError


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

FIX = "regenerate the folder with `neurocc compile MODEL -o OUTDIR`"


def check_report(data: Any, where: str) -> dict[str, Any]:
    """Return ``data`` when it has the shape of :data:`REPORT`; else one :class:`ConfigError`
    naming the field."""
    return check_shape(data, REPORT, where, "report.json", FIX, ConfigError)


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
