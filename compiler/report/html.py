"""The self-contained HTML page of ``neurocc report``: tables and inline SVG plots.

One file, no external URL, no script: plots are matplotlib SVG written inline (``svg.hashsalt``
fixed, no date, the metadata block dropped) and the verification PNGs are embedded as base64 data
URIs, so the same folder gives a byte-identical page. Matplotlib is used through ``Figure``
objects (Agg canvas), never pyplot's global state.
"""

from __future__ import annotations

import base64
import io
import re
from html import escape
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neurocc.runtime.verify import RESULTS_DIR

from ..files import write_atomic
from .console import energy_lines, si, summary_rows

SVG_SALT = "neurocc-report"
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)

STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 2px 8px; text-align: left; }
th { background: #f0f0f0; }
.plot svg, .plot img { max-width: 100%; height: auto; }
.warn { color: #a60; font-weight: bold; } .bad { color: #b00; font-weight: bold; }
"""


def write_html(data: dict[str, Any], outdir: str | Path, path: str | Path) -> Path:
    """Render the report ``data`` of folder ``outdir`` to ``path``; returns the path."""
    path = Path(path)
    text = render(data, Path(outdir))
    return write_atomic(path, text, fix="pass --html a path in an existing, writable folder")


def render(data: dict[str, Any], outdir: Path) -> str:
    """The whole page as text."""
    s = data["summary"]
    parts = [f"<h1>neurocc report: {escape(s['network'])} on {escape(s['target'])}</h1>",
             _section("Summary", _rows_table(("measure", "value"), summary_rows(data))
                      + "".join(f"<p class='warn'>note: {escape(n)}</p>" for n in s["notes"])),
             _section("Placement on the chips", _plot(_core_map, data)
                      + _cores_table(data["cores"])),
             _section("Placement solver", _solver_text(s["solver"]) + _plot(_solver_plot, s, size=(6, 1.6))),
             _section("Memory use per neuron", _plot(_memory_plot, data)),
             _section("Core-to-core traffic", _traffic_text(data["traffic"])
                      + _plot(_traffic_plot, data["traffic"])),
             _section("Biases: requested vs realised", _plot(_bias_plot, data["cores"])
                      + _bias_table(data["cores"])),
             _section("Quantization error per projection", _plot(_projection_plot,
                                                                 data["projections"])
                      + _projection_table(data["projections"])),
             _section("Energy estimate", _energy(data["energy"])),
             _section("Verification", _verification(data["verification"], outdir))]
    return ("<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
            f"<title>neurocc report: {escape(s['network'])}</title>\n"
            f"<style>{STYLE}</style>\n</head>\n<body>\n" + "\n".join(parts)
            + "\n</body>\n</html>\n")


# -- HTML pieces ---------------------------------------------------------------------------------
def _section(title: str, body: str) -> str:
    return f"<section>\n<h2>{escape(title)}</h2>\n{body}\n</section>"


def _rows_table(columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>\n"
                   for row in rows)
    return f"<table>\n<tr>{head}</tr>\n{body}</table>"


def _cores_table(cores: list[dict[str, Any]]) -> str:
    return _rows_table(("chip", "core", "class", "neurons", "used", "CAM max", "CAM total",
                        "weight levels"),
                       [(c["chip"], c["core"], c["parameter_class"], c["neurons"],
                         f"{100 * c['utilisation']:.2f}%", c["cam_max"], c["cam_total"],
                         c["weight_levels_used"]) for c in cores])


def _solver_text(solver: dict[str, Any]) -> str:
    return (f"<p>{escape(solver['status'])} ({escape(solver['method'])}): objective "
            f"{solver['objective']:.6g} expected routed events per step, lower bound "
            f"{solver['bound']:.6g}, gap {100 * solver['gap']:.2f}%.</p>")


def _traffic_text(traffic: dict[str, Any]) -> str:
    basis = ("rates of the reference simulator on the compile's --inputs" if
             traffic["rates"] == "inputs" else
             "the placeholder rate of one event per source per step (compile without --inputs)")
    return f"<p>Expected events per step from each core (rows) to each core, from {basis}.</p>"


def _bias_table(cores: list[dict[str, Any]]) -> str:
    rows = [(f"{c['chip']}.{c['core']}", b["bias"], b["role"], b["coarse"], b["fine"],
             f"{b['requested_A']:.4g}", f"{b['realised_A']:.4g}", f"{100 * b['rel_error']:.3g}%")
            for c in cores for b in c["biases"]]
    return ("<details><summary>bias table</summary>\n"
            + _rows_table(("core", "bias", "role", "coarse", "fine", "requested (A)",
                           "realised (A)", "error"), rows) + "\n</details>")


def _projection_table(projections: list[dict[str, Any]]) -> str:
    return _rows_table(("projection", "synapses", "kept", "CAM entries", "weight error"),
                       [(p["name"], p["synapses"], p["kept"], p["cam_entries"],
                         f"{100 * p['weight_rel_error']:.3g}%") for p in projections])


def _energy(e: dict[str, Any]) -> str:
    figures = _rows_table(("figure", "value", "source"),
                          [(name, si(f["value"], f["unit"]), f["source"])
                           for name, f in e["figures"].items()])
    lines = "".join(f"<p class='{'warn' if line.startswith('WARNING') else ''}'>"
                    f"{escape(line)}</p>\n" for line in energy_lines(e))
    return figures + "\n" + lines


def _verification(v: dict[str, Any] | None, outdir: Path) -> str:
    if v is None:
        return "<p>Not verified yet: run <code>neurocc verify</code> on the folder.</p>"
    verdict = ("<p>verdict: PASS</p>" if v["passed"] else
               f"<p class='bad'>verdict: FAIL: {escape('; '.join(v['reasons']))}</p>")
    head = (f"<p>{v['instances']} simulated chips, mismatch {v['mismatch']:g}, noise "
            f"{v['noise']:g}, silenced {v['silence']:g}; reference: "
            f"{v['reference']['spikes_per_inference']:.4g} spikes per inference.</p>")
    table = _rows_table(("metric", "median", "5%", "95%"),
                        [(name, f"{m['median']:.4g}", f"{m['p5']:.4g}", f"{m['p95']:.4g}")
                         for name, m in v["summary"].items()])
    images = "".join(
        f"<div class='plot'><img alt='{escape(name)}' src='data:image/png;base64,"
        f"{base64.b64encode((outdir / RESULTS_DIR / name).read_bytes()).decode()}'>"
        f"</div>\n" for name in v["plots"])
    return head + verdict + table + "\n" + images


# -- plots ---------------------------------------------------------------------------------------
def _plot(draw: Callable[[Any, Any], None], data: Any,
          size: tuple[float, float] = (8, 3.2)) -> str:
    """Inline SVG of ``draw(figure, data)``, byte-identical for the same data."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"svg.hashsalt": SVG_SALT, "svg.fonttype": "path"}):
        fig = Figure(figsize=size)
        FigureCanvasAgg(fig)
        draw(fig, data)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    svg = _METADATA.sub("", svg[svg.index("<svg"):])
    return f"<div class='plot'>{svg}</div>"


def _core_map(fig: Any, data: dict[str, Any]) -> None:
    s = data["summary"]
    cols, rows = s["core_grid"] or (s["cores_per_chip"], 1)
    by_chip: dict[int, dict[int, dict[str, Any]]] = {}
    for c in data["cores"]:
        by_chip.setdefault(c["chip"], {})[c["core"]] = c
    chips = sorted(by_chip)
    axes = fig.subplots(1, max(1, len(chips)), squeeze=False)[0]
    image = None
    for ax, chip in zip(axes, chips):
        grid = np.zeros((rows, cols))
        for core in range(s["cores_per_chip"]):
            y, x = divmod(core, cols)
            c = by_chip[chip].get(core)
            grid[y, x] = c["utilisation"] if c else 0.0
            text = f"core {core}\nclass {c['parameter_class']}\n{c['neurons']} neurons" if c \
                else f"core {core}\nunused"
            ax.text(x, y, text, ha="center", va="center", fontsize=8)
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="YlOrRd")
        ax.set_title(f"chip {chip}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if image is not None:
        fig.colorbar(image, ax=list(axes), label="neurons / core size")


def _memory_plot(fig: Any, data: dict[str, Any]) -> None:
    s, res = data["summary"], data["resources"]
    for ax, key, limit, title in zip(fig.subplots(1, 2), ("cam_per_neuron", "sram_per_neuron"),
                                     (s["cam_per_neuron_limit"], s["sram_per_neuron_limit"]),
                                     ("CAM entries per neuron", "SRAM entries per neuron")):
        counts = res[key]
        ax.bar(np.arange(len(counts)), counts, color="tab:blue")
        ax.axvline(limit, color="tab:red", linestyle="--", label=f"limit {limit}")
        ax.set_xlabel(title)
        ax.set_ylabel("neurons")
        ax.legend(fontsize=8)
    fig.tight_layout()


def _traffic_plot(fig: Any, traffic: dict[str, Any]) -> None:
    matrix = np.asarray(traffic["events_per_step"], dtype=float)
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Blues", aspect="auto")
    labels = traffic["labels"]
    ax.set_xticks(range(len(labels) - 1), labels[:-1], fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("to core (chip.core)")
    ax.set_ylabel("from")
    if matrix.size <= 100:
        dark = matrix.max(initial=0) / 2
        for (i, j), v in np.ndenumerate(matrix):
            ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=7,
                    color="white" if v > dark > 0 else "black")
    fig.colorbar(image, ax=ax, label="events per step")


def _bias_plot(fig: Any, cores: list[dict[str, Any]]) -> None:
    req = np.array([b["requested_A"] for c in cores for b in c["biases"]], dtype=float)
    real = np.array([b["realised_A"] for c in cores for b in c["biases"]], dtype=float)
    ax_scatter, ax_err = fig.subplots(1, 2)
    keep = (req > 0) & (real > 0)
    ax_scatter.loglog(req[keep], real[keep], "o", markersize=3)
    if keep.any():
        lo, hi = min(req[keep].min(), real[keep].min()), max(req[keep].max(), real[keep].max())
        ax_scatter.loglog([lo, hi], [lo, hi], "k--", linewidth=0.8, label="realised = requested")
        ax_scatter.legend(fontsize=8)
    ax_scatter.set_xlabel("requested current (A)")
    ax_scatter.set_ylabel("realised current (A)")
    err = np.array([b["rel_error"] for c in cores for b in c["biases"]], dtype=float)
    ax_err.hist(100 * err, bins=20, color="tab:orange")
    ax_err.set_xlabel("relative error (%)")
    ax_err.set_ylabel("biases")
    fig.tight_layout()


def _projection_plot(fig: Any, projections: list[dict[str, Any]]) -> None:
    ax = fig.subplots()
    names = [p["name"] for p in projections]
    ax.bar(range(len(names)), [100 * p["weight_rel_error"] for p in projections],
           color="tab:green")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("weight error (%)")
    fig.tight_layout()


def _solver_plot(fig: Any, solver: dict[str, Any]) -> None:
    ax = fig.subplots()
    solver = solver["solver"]
    ax.barh(["lower bound", "objective"], [solver["bound"], solver["objective"]],
            color=["tab:gray", "tab:blue"])
    ax.set_xlabel("expected routed events per step")
    ax.set_title(f"gap {100 * solver['gap']:.2f}%", fontsize=9)
    fig.tight_layout()
