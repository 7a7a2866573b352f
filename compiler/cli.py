"""The ``neurocc`` command line: one sub-command per user job.

Every :class:`NeuroccError` becomes one line on stderr and exit code 2; no traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from .errors import NeuroccError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="neurocc: compile trained spiking networks to DYNAP-SE1/SE2 chips.")
console = Console()
err_console = Console(stderr=True)


def _load(model: Path, dt: float, reset: str, refractory: float):
    from neurocc.frontend.load import LoadOptions, load_model
    return load_model(model, LoadOptions(dt=dt, reset=reset, refractory=refractory))


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version
        typer.echo(f"neurocc {version('neurocc')}")
        raise typer.Exit()


@app.callback()
def cli(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                     help="Print the version and exit.")) -> None:
    """neurocc: compile trained spiking networks to DYNAP-SE1/SE2 chips."""


DT_OPTION = typer.Option(1e-4, "--dt", help="Seconds per step (NIR files do not store it; "
                                            "snnTorch exports assume 1e-4).")
RESET_OPTION = typer.Option("zero", "--reset", help="Reset mode: zero or subtract.")
REFRACTORY_OPTION = typer.Option(0.0, "--refractory", help="Refractory period in seconds.")


@app.command()
def inspect(model: Path = typer.Argument(..., help="NIR file or .ncl text network"),
            as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
            dt: float = DT_OPTION, reset: str = RESET_OPTION,
            refractory: float = REFRACTORY_OPTION) -> None:
    """Summarise a model: populations, parameters, connectivity, and what a chip would need."""
    from neurocc.backends.target import load_target, shipped_targets
    from .inspect import summarize

    net = _load(model, dt, reset, refractory)
    summary = summarize(net, [load_target(name) for name in shipped_targets()])
    if as_json:
        typer.echo(json.dumps(summary, indent=2, sort_keys=True))
        return
    _print_summary(summary)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _print_summary(s: dict) -> None:
    console.print(f"[bold]{s['name']}[/]: {s['total_neurons']} neurons, "
                  f"{s['total_input_channels']} input channels, {s['total_synapses']} synapses, "
                  f"dt = {_fmt(s['dt_s'])} s, recurrent: {'yes' if s['recurrent'] else 'no'}")
    pops = Table(title="Populations")
    for col in ("name", "model", "size", "reset", "fan-in mean/max", "fan-out mean/max"):
        pops.add_column(col)
    for p in s["populations"]:
        pops.add_row(p["name"], p["model"], str(p["size"]), p["reset"] or "-",
                     f"{p['fan_in']['mean']:.1f}/{int(p['fan_in']['max'])}",
                     f"{p['fan_out']['mean']:.1f}/{int(p['fan_out']['max'])}")
    console.print(pops)
    params = Table(title="Parameters (normalised: threshold 1; time in seconds)")
    for col in ("population", "parameter", "min", "mean", "max"):
        params.add_column(col)
    for p in s["populations"]:
        for name, v in p["params"].items():
            params.add_row(p["name"], name, _fmt(v["min"]), _fmt(v["mean"]), _fmt(v["max"]))
    console.print(params)
    projs = Table(title="Projections")
    for col in ("name", "source -> target", "synapses", "density", "delay", "sign",
                "weight min..max"):
        projs.add_column(col)
    for q in s["projections"]:
        projs.add_row(q["name"], f"{q['source']} -> {q['target']}", str(q["synapses"]),
                      f"{q['density']:.3f}", str(q["delay"]), q["sign"],
                      f"{_fmt(q['weight']['min'])}..{_fmt(q['weight']['max'])}")
    console.print(projs)
    needs = Table(title="What a chip would need (lower bounds)")
    for col in ("target", "cores needed / available", "chips needed / available",
                "max fan-in / CAM", "neurons over CAM", "fits"):
        needs.add_column(col)
    for t in s.get("targets", []):
        needs.add_row(t["target"], f"{t['cores_lower_bound']} / {t['cores_available']}",
                      f"{t['chips_lower_bound']} / {t['chips_available']}",
                      f"{t['max_fan_in']} / {t['cam_per_neuron']}", str(t["neurons_over_cam"]),
                      "yes" if t["fits"] else "[red]no[/]")
    console.print(needs)


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point: run the app, turning neurocc errors into one clear line and exit code 2."""
    try:
        app(args=argv, standalone_mode=False)
    except NeuroccError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors come through here in non-standalone mode
        import click
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
