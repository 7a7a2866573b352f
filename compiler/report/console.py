"""``neurocc report``: everything known about a compiled folder, as data and as terminal tables.

:func:`collect` reads a folder written by ``neurocc compile`` (and ``neurocc verify``) and returns
one JSON-ready dict with these stable keys:

* ``summary``: network, target, chips/cores used and available, neurons, input channels,
  synapses, parameter classes and their lower bound, CAM/SRAM per neuron (max and limit), routed
  events, ``solver`` (status, method, objective, bound, gap), ``checker_ok``, weight and bias
  errors, ``dt_s``, ``time_scale``, ``notes``.
* ``cores``: per configured core: chip, core, parameter class, neurons, ``utilisation`` (neurons /
  neurons per core), CAM max/total, weight levels used, ``biases`` (requested vs realised).
* ``projections``: per projection: synapses, kept, CAM entries, ``weight_rel_error``.
* ``traffic``: ``labels`` (used cores ``chip.core`` and ``inputs``), ``events_per_step`` (rows:
  sources, columns: used cores) and ``rates`` (``inputs`` or ``placeholder``).
* ``resources``: ``cam_per_neuron`` and ``sram_per_neuron``: histograms over the placed neurons
  (index = entries, value = neurons), read from the configuration.
* ``energy``: :func:`neurocc.compiler.report.energy.estimate`.
* ``verification``: ``verify/verify.json`` plus ``plots`` (the PNG names present), or null.

Same folder and options give the same dict (no paths, no timings).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..driver import read_compiled
from .energy import activity_from_report, activity_from_verify, estimate, fanouts
from ..limits import DEFAULT_MAX_MEMORY
from .build import _round

if TYPE_CHECKING:
    from neurocc.backends.target import Target

VIEW_FORMAT = "neurocc-report-view"
VIEW_VERSION = 1


def collect(outdir: str | Path, energy_file: str | Path | None = None,
            max_memory: int = DEFAULT_MAX_MEMORY) -> dict[str, Any]:
    """The report of compiled folder ``outdir``; ``energy_file`` overrides energy figures;
    ``max_memory`` bounds what reading the folder's files may take."""
    from neurocc.backends.target import load_energy_figures

    outdir = Path(outdir)
    folder = read_compiled(outdir, max_memory)
    r, tables, target = folder.report, folder.deployment.tables, folder.target
    meta = folder.deployment.meta
    time_scale = meta.circuit_options.time_scale if meta.circuit_options else 1.0
    dt = float(meta.dt or folder.network.dt)
    verification = _verification(outdir, max_memory)
    figures = dict(target.energy)
    if energy_file is not None:
        figures.update(load_energy_figures(energy_file))
    fanout, inputs_fanout = fanouts(tables)
    if verification is not None:
        activity = activity_from_verify(verification, fanout, dt * time_scale, inputs_fanout)
    elif r.get("expected_activity"):
        activity = activity_from_report(r["expected_activity"], dt * time_scale)
    else:
        activity = None
    energy = estimate(figures, fanout, int(r["chips_used"]), activity)
    return {
        "format": VIEW_FORMAT, "version": VIEW_VERSION,
        "summary": _summary(r, target, dt, time_scale),
        "cores": [{**c, "utilisation": _round(c["neurons"] / target.neurons_per_core, 4)}
                  for c in r["cores"]],
        "projections": r["projections"],
        "traffic": _traffic(r, tables.cores_per_chip),
        "resources": _resources(tables),
        "energy": _rounded(energy),
        "verification": verification,
    }


def _summary(r: dict[str, Any], target: Target, dt: float, time_scale: float) -> dict[str, Any]:
    keys = ("network", "target", "chips_used", "chips_available", "cores_used", "neurons",
            "input_channels", "synapses", "parameter_classes", "parameter_classes_lower_bound",
            "max_cam_per_neuron", "cam_per_neuron_limit", "max_sram_per_neuron",
            "sram_per_neuron_limit", "routed_events", "solver", "checker_ok",
            "weight_rel_error", "bias_rel_error_max", "notes")
    return {**{k: r[k] for k in keys}, "cores_available": int(target.total_cores),
            "neurons_per_core": int(target.neurons_per_core),
            "cores_per_chip": int(target.cores_per_chip),
            "core_grid": None if target.core_grid is None else list(target.core_grid), "dt_s": dt,
            "time_scale": float(time_scale)}


def _traffic(r: dict[str, Any], cores_per_chip: int) -> dict[str, Any]:
    """The core-to-core matrix restricted to the configured cores (plus the inputs row)."""
    matrix = r["core_traffic_events"]
    used = [(c["chip"], c["core"]) for c in r["cores"]]
    cols = [chip * cores_per_chip + core for chip, core in used]
    rows = cols + [len(matrix) - 1]
    return {"labels": [f"{chip}.{core}" for chip, core in used] + ["inputs"],
            "events_per_step": [[float(matrix[i][j]) for j in cols] for i in rows],
            "rates": "inputs" if r.get("expected_activity") else "placeholder"}


def _resources(tables: Any) -> dict[str, list[int]]:
    n_hw = tables.chips * tables.cores_per_chip * tables.neurons_per_core
    cam = np.bincount(tables.cam_post, minlength=n_hw)[tables.neuron_hw]
    src = tables.sram_src[tables.sram_src >= 0]
    sram = np.bincount(src, minlength=n_hw)[tables.neuron_hw]
    return {"cam_per_neuron": [int(v) for v in np.bincount(cam)],
            "sram_per_neuron": [int(v) for v in np.bincount(sram)]}


def _verification(outdir: Path, max_memory: int) -> dict[str, Any] | None:
    from neurocc.runtime.verify import read_results
    return read_results(outdir, max_memory)


def _rounded(obj: Any) -> Any:
    if isinstance(obj, float):
        return _round(obj)
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rounded(v) for v in obj]
    return obj


# -- terminal ------------------------------------------------------------------------------------
def si(value: float | None, unit: str) -> str:
    """``value`` with an SI prefix (``2.5e-06, "J"`` -> ``2.5 uJ``); ``-`` when unknown."""
    if value is None:
        return "-"
    if value == 0:
        return f"0 {unit}"
    for factor, prefix in ((1.0, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p"),
                           (1e-15, "f")):
        if abs(value) >= factor:
            break
    return f"{value / factor:.4g} {prefix}{unit}"


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> Table:
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    return table


def summary_rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(measure, value) lines of the summary, shared by the terminal and the HTML page."""
    s = data["summary"]
    solver = s["solver"]
    return [
        ("network -> target", f"{s['network']} -> {s['target']}"),
        ("chips used / available", f"{s['chips_used']} / {s['chips_available']}"),
        ("cores used / available", f"{s['cores_used']} / {s['cores_available']}"),
        ("neurons, input channels, synapses",
         f"{s['neurons']}, {s['input_channels']}, {s['synapses']}"),
        ("parameter classes / lower bound",
         f"{s['parameter_classes']} / {s['parameter_classes_lower_bound']}"),
        ("CAM per neuron (max / limit)", f"{s['max_cam_per_neuron']} / {s['cam_per_neuron_limit']}"),
        ("SRAM per neuron (max / limit)",
         f"{s['max_sram_per_neuron']} / {s['sram_per_neuron_limit']}"),
        ("routed events per step", f"{s['routed_events']:.4g}"),
        ("placement objective / bound / gap",
         f"{solver['objective']:.4g} / {solver['bound']:.4g} / {100 * solver['gap']:.1f}% "
         f"({solver['status']}, {solver['method']})"),
        ("weight error (relative)", _pct(s["weight_rel_error"])),
        ("bias error (worst neuron)", _pct(s["bias_rel_error_max"])),
        ("independent check", "passed" if s["checker_ok"] else "FAILED"),
    ]


def energy_lines(e: dict[str, Any]) -> list[str]:
    """What the energy estimate says, in sentences (terminal and HTML)."""
    lines = [f"per neuron spike: {si(e['per_spike_J'], 'J')} ({e['routed_per_spike']:.4g} routed "
             f"+ {e['synaptic_per_spike']:.4g} synaptic events); static: "
             f"{si(e['static_W'], 'W')} for {e['chips']} chip(s)"]
    act = e["activity"]
    if act is None:
        lines.append("no activity known: run `neurocc verify`, or compile with --inputs, for "
                     "energy per inference")
    else:
        lines.append(f"activity ({act['source']}): {act['spikes']:.4g} spikes, "
                     f"{act['routed_events']:.4g} routed and {act['synaptic_events']:.4g} "
                     f"synaptic events per {act['window']}; {act['basis']}")
        if act["window"] == "inference":
            lines.append(f"per inference: {si(e['per_inference_J'], 'J')}")
        lines.append(f"per second of operation: {si(e['per_second_W'], 'W')}")
    if e["missing"]:
        lines.append(f"no figure for {', '.join(e['missing'])}: supply them with --energy "
                     f"FILE.json (a missing E_spike drops its term; any other missing figure "
                     f"leaves no total)")
    if e["unconfirmed"]:
        lines.append(f"WARNING: the estimate uses unconfirmed figure(s) "
                     f"{', '.join(e['unconfirmed'])}")
    return lines


def print_report(data: dict[str, Any], console: Console) -> None:
    """The report as rich tables (the verification summary is printed by the caller)."""
    console.print(_table("Summary", ("measure", "value"), summary_rows(data)))
    for note in data["summary"]["notes"]:
        console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    console.print(_table("Cores", ("chip", "core", "class", "neurons", "used", "CAM max",
                                   "CAM total", "weight levels", "worst bias error"),
                         [(str(c["chip"]), str(c["core"]), str(c["parameter_class"]),
                           str(c["neurons"]), _pct(c["utilisation"]), str(c["cam_max"]),
                           str(c["cam_total"]), str(c["weight_levels_used"]),
                           _pct(max((b["rel_error"] for b in c["biases"]), default=0.0)))
                          for c in data["cores"]]))
    console.print(_table("Quantization error per projection",
                         ("projection", "synapses", "kept", "CAM entries", "weight error"),
                         [(p["name"], str(p["synapses"]), str(p["kept"]), str(p["cam_entries"]),
                           _pct(p["weight_rel_error"])) for p in data["projections"]]))
    e = data["energy"]
    console.print(_table("Energy figures", ("figure", "value", "source"),
                         [(name, si(f["value"], f["unit"]), f["source"])
                          for name, f in e["figures"].items()]))
    for line in energy_lines(e):
        style = "[bold yellow]" if line.startswith("WARNING") else ""
        console.print(f"{style}{escape(line)}", soft_wrap=True)
