"""The ``neurocc`` command line: one sub-command per user job.

One error boundary (:func:`main`): every :class:`NeuroccError` becomes one line
``error: <cause> Fix: <CLI flags>`` on stderr and exit code 2; usage errors (missing argument,
unknown option, bad value) get the short usage text and exit code 2; anything unexpected is one
line ``internal error: ...`` and exit code 3 (``--debug``, anywhere on the line, shows the
traceback and library warnings, which are silenced otherwise); Ctrl-C is one line and exit code
130.
"""

from __future__ import annotations

import json
import sys
import traceback
import warnings
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .errors import NeuroccError

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="neurocc: compile trained spiking networks to DYNAP-SE1/SE2 chips.")
console = Console()
err_console = Console(stderr=True)


def _load(model: Path, dt: Optional[float], reset: Optional[str], refractory: Optional[float],
          max_memory: int, preset: str = "nir"):
    """The model and the notes loading it gave (the preset a file looks like it needs);
    ``None`` flags were not given (the preset's values, a .ncl file's own, or NIR's defaults)."""
    from neurocc.frontend.load import LoadOptions, load_model
    from neurocc.frontend.presets import PRESETS, mixup_notes
    if reset is not None:
        _choice(reset, "--reset", ("zero", "subtract"))
    _choice(preset, "--from", tuple(PRESETS))
    net = load_model(model, LoadOptions(dt=dt, reset=reset, refractory=refractory,
                                        max_memory=max_memory, preset=preset))
    return net, mixup_notes(net, preset, model)


def _print_notes(notes) -> None:
    for note in notes:
        console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)


def _max_memory(text: str) -> int:
    """``--max-memory``'s value in bytes; a bad value is a usage error."""
    from .limits import parse_bytes
    try:
        return parse_bytes(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a size: write bytes or a number with a "
                                 "K, M or G suffix (e.g. 8G)", param_hint="--max-memory") from None


def _choice(value: str, flag: str, choices: tuple[str, ...]) -> str:
    """``value`` when it is one of ``choices``; else a usage error naming ``flag``."""
    if value not in choices:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}",
                                 param_hint=flag)
    return value


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version
        typer.echo(f"neurocc {version('neurocc')}")
        raise typer.Exit()


@app.callback()
def cli(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                     help="Print the version and exit."),
        debug: bool = typer.Option(False, "--debug", help="Show the traceback of an internal "
                                                         "error (accepted anywhere on the line)."),
        ) -> None:
    """neurocc: compile trained spiking networks to DYNAP-SE1/SE2 chips."""


DT_OPTION = typer.Option(None, "--dt", help="Seconds per step (NIR files do not store it; "
                                            "default 1e-4, what snnTorch exports assume).")
RESET_OPTION = typer.Option(None, "--reset", help="Reset mode: zero or subtract (NIR default: "
                                                   "zero).")
REFRACTORY_OPTION = typer.Option(None, "--refractory", help="Refractory period in seconds (NIR "
                                                           "default: 0).")
FROM_OPTION = typer.Option("nir", "--from", help="The framework that exported the NIR file: "
                           "snntorch, norse, sinabs, rockpool, spyx, or nir (the file as "
                           "written); sets its dt, reset and units (explicit flags win)")
MAX_MEMORY_OPTION = typer.Option("4G", "--max-memory",
                                 help="Largest allocation a file's declared sizes may ask for: "
                                      "bytes, or with a K/M/G suffix")
#: Shared by the commands that map or simulate neurons (compile, verify).
NEURON_MODEL_OPTION = typer.Option(
    None, "--neuron-model",
    help="The target's neuron model (none, sigmoid, dynapsim; docs/circuit_mapping.md). compile: "
         "the model the biases are chosen for (default: the target's); verify: the model "
         "simulated (default: the one the folder was compiled for; 'all': every model must "
         "pass)")
CALIBRATION_OPTION = typer.Option(
    None, "--calibration",
    help="JSON file of one chip's measured constants (C_mem, I_0, kappa, bias scale factors, "
         "neuron gains; docs/calibration.md), used for the bias choice (compile) and the "
         "simulation (verify)")
#: ``--neuron-model all`` on verify.
ALL_MODELS = "all"


@app.command()
def inspect(model: Path = typer.Argument(..., metavar="MODEL",
                                         help="NIR file or .ncl text network"),
            as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
            dt: Optional[float] = DT_OPTION, reset: Optional[str] = RESET_OPTION,
            refractory: Optional[float] = REFRACTORY_OPTION,
            preset: str = FROM_OPTION,
            max_memory: str = MAX_MEMORY_OPTION) -> None:
    """Summarise a model: populations, parameters, connectivity, and what a chip would need."""
    from neurocc.backends.target import load_target, shipped_targets
    from .inspect import summarize

    net, notes = _load(model, dt, reset, refractory, _max_memory(max_memory), preset)
    summary = summarize(net, [load_target(name) for name in shipped_targets()])
    summary.update(preset=preset, notes=list(notes))
    if as_json:
        typer.echo(json.dumps(summary, indent=2, sort_keys=True))
        return
    _print_summary(summary)


@app.command("compile")
def compile_command(
        model: Path = typer.Argument(..., metavar="MODEL",
                                     help="NIR file or .ncl text network"),
        target: str = typer.Option("dynapse2", "--target", "-t",
                                   help="dynapse1, dynapse2, or a target JSON file"),
        chips: Optional[int] = typer.Option(None, "--chips", help="Chips available "
                                            "(default: the target's board)"),
        outdir: Path = typer.Option(Path("out"), "-o", "--output", help="Output folder"),
        dt: Optional[float] = DT_OPTION, reset: Optional[str] = RESET_OPTION,
        refractory: Optional[float] = REFRACTORY_OPTION,
        preset: str = FROM_OPTION,
        sram_usable: Optional[int] = typer.Option(None, "--sram-usable",
                                                  help="SRAM entries per neuron to use"),
        class_tolerance: float = typer.Option(0.05, "--class-tolerance",
                                              help="Preferred largest relative error of a "
                                                   "neuron's currents when sharing its core's "
                                                   "biases; exceeded (and reported) only where "
                                                   "the classes would need more cores than the "
                                                   "target has"),
        weight_bits: Optional[int] = typer.Option(None, "--weight-bits",
                                                  help="Base weights per core (1..4; SE2)"),
        time_scale: float = typer.Option(1.0, "--time-scale",
                                         help="Chip seconds per model second"),
        pulse_width: float = typer.Option(1e-5, "--pulse-width",
                                          help="Chip seconds of the pulse each input event "
                                               "gives a synapse (longer: stronger synapses "
                                               "for the same gain current)"),
        negative_drive: str = typer.Option("clip", "--negative-drive",
                                           help="clip (realise a negative constant drive as "
                                                "none; reported) or error"),
        max_fanin: str = typer.Option("error", "--max-fanin",
                                      help="A fan-in above the CAM: error, or prune (keep "
                                           "each neuron's strongest synapses by |weight| x "
                                           "source rate; reported)"),
        inputs: Optional[Path] = typer.Option(None, "--inputs", help=".npz of input spike "
                                              "trains (one array per input population, "
                                              "(batch, T, size)) to estimate event rates"),
        seed: int = typer.Option(0, "--seed", help="Seed of the solvers"),
        time_limit: float = typer.Option(1.0, "--time-limit",
                                         help="Placement solver budget (CP-SAT deterministic "
                                              "seconds; results depend on it, not on the clock)"),
        partitioner: str = typer.Option("spectral", "--partitioner",
                                        help="Where the placement's core-sized blocks start "
                                             "from: spectral, or mtkahypar (Mt-KaHyPar, pip "
                                             "install 'neurocc[partition]'; fewer routed events "
                                             "on large networks)"),
        discretisation: str = typer.Option("step_decay", "--discretisation",
                                           help="step_decay (the IR's Euler step, needs time "
                                                "constants above dt) or continuous"),
        inhibition: str = typer.Option("subtractive", "--inhibition",
                                       help="Inhibitory synapse type: subtractive or shunting"),
        subtract_reset: Optional[str] = typer.Option(None, "--subtract-reset",
                                                     help="A subtractive reset: error, or zero "
                                                          "(accept the chip's reset to ground; "
                                                          "reported). Default: the --from "
                                                          "preset's policy, else error"),
        force: bool = typer.Option(False, "--force", help="Write into an existing non-empty "
                                                          "folder that holds no neurocc output"),
        max_memory: str = MAX_MEMORY_OPTION,
        neuron_model: Optional[str] = NEURON_MODEL_OPTION,
        calibration: Optional[Path] = CALIBRATION_OPTION,
) -> None:
    """Compile a model to a chip configuration, with a placement and resource report."""
    from .circuits import CircuitOptions
    from .quantize.cores import WeightOptions
    from .driver import compile_model
    from .compilation import CompileOptions
    from .placement import PlacementOptions
    from .prune import MAX_FANIN_MODES

    from .files import prepare_output_dir, refuse_inputs

    budget = _max_memory(max_memory)
    _choice(negative_drive, "--negative-drive", ("clip", "error"))
    for name in _compiled_names():
        refuse_inputs(outdir / name, (model, inputs), fix="choose another output folder with -o")
    prepare_output_dir(outdir, force=force, create=False)
    net, notes = _load(model, dt, reset, refractory, budget, preset)
    _print_notes(notes)  # before compiling: the compile may refuse what the note explains
    rates = _rates(net, inputs, budget) if inputs is not None else None
    options = CompileOptions(
        circuit=CircuitOptions(time_scale=time_scale, pulse_width=pulse_width,
                               negative_drive=negative_drive,
                               discretisation=_choice(discretisation, "--discretisation",
                                                      ("step_decay", "continuous")),
                               inhibition=_choice(inhibition, "--inhibition",
                                                  ("subtractive", "shunting")),
                               subtract_reset=_subtract_reset(subtract_reset, preset),
                               neuron_model=neuron_model),
        class_tolerance=class_tolerance,
        weights=WeightOptions(bits=weight_bits, seed=seed),
        placement=PlacementOptions(seed=seed, time_limit_s=time_limit,
                                   partitioner=partitioner),
        rates=rates, notes=notes,
        max_fanin=_choice(max_fanin, "--max-fanin", MAX_FANIN_MODES))
    if calibration is not None:
        from neurocc.backends.calibration import calibrated_target, load_calibration
        from neurocc.backends.target import load_target
        loaded = load_target(target, chips=chips, sram_usable=sram_usable)
        target, chips, sram_usable = calibrated_target(
            loaded, load_calibration(calibration, loaded)), None, None
    with console.status("compiling") as status:
        compiled = compile_model(net, target, chips=chips, sram_usable=sram_usable,
                                 options=options,
                                 progress=lambda stage: status.update(f"compiling: {stage}"))
        status.update("writing files")
        written = compiled.save(outdir, force=force, reads=(model, inputs))
    _print_compile_summary(compiled.report, compiled.seconds, written, shown=notes)
    for name, why in compiled.skipped.items():
        console.print(f"[yellow]not written:[/] {name}: {escape(why)}", soft_wrap=True)


def _subtract_reset(flag: Optional[str], preset: str) -> str:
    """``--subtract-reset`` when given, else the preset's chip-side policy, else ``error``."""
    from neurocc.frontend.presets import get_preset
    if flag is not None:
        return _choice(flag, "--subtract-reset", ("error", "zero"))
    return get_preset(preset).subtract_reset or "error"


def _compiled_names() -> list[str]:
    """The files ``compile`` may write (checked before any work, so an input is never lost)."""
    from neurocc.backends import extra_formats
    from .driver import CONFIG_FILE, NETWORK_FILE, REPORT_FILE
    return [CONFIG_FILE, REPORT_FILE, NETWORK_FILE] + [f"{f}.txt" for f in extra_formats()]


def _rates(net, path: Path, max_memory: int):
    """Event rates of every source from the reference simulator on the user's input file."""
    from neurocc.compiler.driver import rates_from_simulation
    from neurocc.runtime.verify import load_stimulus
    return rates_from_simulation(net, dict(load_stimulus(path, net, max_memory).inputs))


def _print_compile_summary(r: dict, seconds: dict, written: list, shown=()) -> None:
    """The summary; notes in ``shown`` were printed already."""
    console.print(f"[bold]{r['network']}[/] -> [bold]{r['target']}[/]: {r['neurons']} neurons, "
                  f"{r['synapses']} synapses on {r['cores_used']} cores of {r['chips_used']} "
                  f"chip(s); {r['parameter_classes']} parameter classes")
    table = Table(title="Compile summary")
    table.add_column("measure")
    table.add_column("value")
    solver = r["solver"]
    rows = [
        ("CAM per neuron (max / limit)", f"{r['max_cam_per_neuron']} / {r['cam_per_neuron_limit']}"),
        ("SRAM per neuron (max / limit)",
         f"{r['max_sram_per_neuron']} / {r['sram_per_neuron_limit']}"),
        ("routed events per step", _fmt(r["routed_events"])),
        ("placement", f"{solver['status']} ({solver['method']}), bound {_fmt(solver['bound'])}, "
                      f"gap {100 * solver['gap']:.1f}%"),
        ("weight error (relative)", f"{100 * r['weight_rel_error']:.2f}%"),
        ("bias error (worst neuron)", f"{100 * r['bias_rel_error_max']:.2f}%"),
        ("independent check", "passed" if r["checker_ok"] else "[red]FAILED[/]"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    _print_notes(n for n in r["notes"] if n not in shown)
    timing = ", ".join(f"{k} {v:.2f}s" for k, v in seconds.items())
    console.print(f"stages: {timing}", soft_wrap=True)
    for path in written:
        console.print(f"wrote {path}")


@app.command("verify")
def verify_command(
        outdir: Path = typer.Argument(..., metavar="OUTDIR",
                                      help="Folder written by `neurocc compile`"),
        inputs: Optional[Path] = typer.Option(None, "--inputs", help=".npz: one spike array "
                                              "(batch, T, size) per input population, optional "
                                              "`labels` and `output_classes` (population "
                                              "readout); default: Poisson inputs"),
        instances: int = typer.Option(100, "--instances", min=1, help="Simulated chips"),
        mismatch: float = typer.Option(0.2, "--mismatch", help="Relative sigma of every current"),
        noise: float = typer.Option(0.0, "--noise", help="Membrane noise (x threshold current)"),
        silence: float = typer.Option(0.0, "--silence", help="Fraction of dead neurons"),
        weight_bits: Optional[int] = typer.Option(None, "--weight-bits",
                                                  help="Round weights to this many bits"),
        seed: int = typer.Option(0, "--seed", help="Seed of the simulated chips"),
        min_agreement: float = typer.Option(0.8, "--min-agreement"),
        min_correlation: float = typer.Option(0.7, "--min-correlation"),
        samples: int = typer.Option(16, "--samples", min=1, help="Poisson inputs: samples"),
        steps: int = typer.Option(200, "--steps", min=1, help="Poisson inputs: steps per sample"),
        rate: float = typer.Option(50.0, "--rate", help="Poisson inputs: Hz (model time)"),
        sweep: bool = typer.Option(False, "--sweep", help="Also sweep mismatch, weight bits, "
                                                          "noise, silenced fraction and neuron "
                                                          "model"),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON"),
        max_memory: str = MAX_MEMORY_OPTION,
        neuron_model: Optional[str] = NEURON_MODEL_OPTION,
        calibration: Optional[Path] = CALIBRATION_OPTION,
) -> None:
    """Verify a compiled network on simulated chips against the float reference."""
    from dataclasses import replace

    from neurocc.compiler.driver import read_compiled
    from neurocc.runtime.verify import (RESULTS_DIR, VerifyOptions, load_stimulus,
                                        poisson_stimulus, write_results)

    from .limits import check_memory

    budget = _max_memory(max_memory)
    folder = read_compiled(outdir, budget)
    if inputs is None:
        channels = sum(folder.network.populations[name].size for name in folder.network.inputs)
        check_memory(samples * steps * channels * 9, "the Poisson inputs (--samples x --steps "
                     "x input channels)", budget)
    stimulus = load_stimulus(inputs, folder.network, budget) if inputs is not None else \
        poisson_stimulus(folder.network, samples=samples, steps=steps, rate_hz=rate, seed=seed)
    neurons = sum(p.size for p in folder.network.populations.values())
    models = folder.target.neuron_models.names if neuron_model == ALL_MODELS else (neuron_model,)
    check_memory(len(models) * instances * stimulus.samples * _steps(stimulus) * neurons * 4,
                 "the simulated spikes (--instances x samples x steps x neurons, per neuron "
                 "model)", budget)
    options = VerifyOptions(instances=instances, mismatch=mismatch, noise=noise, silence=silence,
                            weight_bits=weight_bits, seed=seed, min_agreement=min_agreement,
                            min_correlation=min_correlation,
                            calibration=None if calibration is None else str(calibration))
    top = _results_dir(outdir / RESULTS_DIR, inputs)
    dirs = {m: top if len(models) == 1 else _results_dir(top / m, inputs) for m in models}
    summaries = {m: _verify_one(folder, stimulus, replace(options, neuron_model=m), sweep,
                                dirs[m], as_json) for m in models}
    summary = next(iter(summaries.values()))
    if len(models) > 1:
        # the folder's own model's results, with every model's verdict: what report reads
        own = folder.deployment.meta.circuit_options
        own = own.neuron_model if own is not None else None
        summary = {**summaries.get(own, summary),
                   "passed": all(s["passed"] for s in summaries.values()),
                   "reasons": [f"{m}: {r}" for m, s in summaries.items() for r in s["reasons"]],
                   "models": {m: {"passed": s["passed"], "reasons": s["reasons"]}
                              for m, s in summaries.items()}}
        write_results(top, summary)
    if as_json:
        typer.echo(json.dumps(summary, indent=1, sort_keys=True))
    if not summary["passed"]:
        raise typer.Exit(1)


def _verify_one(folder, stimulus, options, sweep: bool, plot_dir: Path, quiet: bool) -> dict:
    """Verify ``folder`` under ``options`` (one neuron model); write its plots and verify.json
    into ``plot_dir``; print the summary unless ``quiet``."""
    from neurocc.runtime import plots
    from neurocc.runtime.verify import RESULTS_FILE, verify_folder, write_results
    from neurocc.runtime.verify import sweep as run_sweep

    with console.status("simulating", spinner="dots") if not quiet else _Silent() as status:
        status.update(f"simulating {options.instances} chips")
        verification, reference = verify_folder(folder, stimulus, options)
        written = [
            plots.rasters(verification.reference_outputs, verification.compiled_outputs,
                          verification.metrics["count_correlation"], plot_dir / "rasters.png"),
            plots.histograms(verification.metrics, plot_dir / "metrics.png")]
        points = []
        if sweep:
            points = run_sweep(folder, stimulus, replace_instances(verification.options),
                               progress=lambda what: status.update(f"sweep: {what}"))
            written.append(plots.sweep_plot(points, plot_dir / "sweep.png"))
    summary = {**verification.as_dict(), "reference": reference,
               "steps": _steps(stimulus),
               "input_events_per_inference": float(sum(
                   int(x.sum()) for x in stimulus.inputs.values()) / stimulus.samples),
               "sweep": [p.__dict__ for p in points]}
    write_results(plot_dir, summary)
    if not quiet:
        _print_verification(summary, written + [plot_dir / RESULTS_FILE])
    return summary


def _steps(stimulus) -> int:
    return int(next(iter(stimulus.inputs.values())).shape[1])


def _results_dir(path: Path, inputs: Optional[Path]) -> Path:
    """A results folder of verify, created and checked writable before anything is simulated."""
    from neurocc.runtime.verify import RESULT_FILES

    from .files import prepare_output_dir, refuse_inputs
    fix = ("make OUTDIR/verify a writable folder (verify writes its results there), or verify "
           "a copy of the compiled folder")
    folder = prepare_output_dir(path, force=True, fix=fix)
    for name in RESULT_FILES:
        refuse_inputs(folder / name, (inputs,), fix="keep the --inputs file outside "
                                                    "OUTDIR/verify")
    return folder


@app.command("report")
def report_command(
        outdir: Path = typer.Argument(..., metavar="OUTDIR",
                                      help="Folder written by `neurocc compile`"),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON"),
        html: Optional[Path] = typer.Option(None, "--html", help="Where to write the HTML "
                                            "report (default: OUTDIR/report.html)"),
        energy: Optional[Path] = typer.Option(None, "--energy", help="JSON file of energy "
                                              "figures replacing the target's (same shape as "
                                              "the target's energy block)"),
        max_memory: str = MAX_MEMORY_OPTION,
) -> None:
    """Report a compiled folder: resources, placement, quantization, energy, verification."""
    from neurocc.runtime.verify import RESULT_FILES, RESULTS_DIR

    from .driver import CONFIG_FILE, NETWORK_FILE, REPORT_FILE
    from .files import refuse_inputs
    from .report.console import collect, print_report
    from .report.html import write_html

    html_path = html if html is not None else outdir / "report.html"
    reads = [outdir / name for name in (CONFIG_FILE, REPORT_FILE, NETWORK_FILE)]
    reads += [outdir / RESULTS_DIR / name for name in RESULT_FILES] + [energy]
    refuse_inputs(html_path, reads, fix="pass --html a new path, e.g. OUTDIR/report.html")
    data = collect(outdir, energy, _max_memory(max_memory))
    html_path = write_html(data, outdir, html_path)
    if as_json:
        typer.echo(json.dumps(data, indent=1, sort_keys=True))
        return
    print_report(data, console)
    if data["verification"] is not None:
        _print_verification(data["verification"], [])
    console.print(f"wrote {html_path}")


def replace_instances(options):
    """Sweeps run many configurations: a quarter of the chips each (at least 10)."""
    from dataclasses import replace
    return replace(options, instances=max(10, options.instances // 4))


class _Silent:
    """Stands in for a rich status when output must stay machine-readable."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, *_):
        return None


def _print_verification(s: dict, written: list) -> None:
    table = Table(title=f"Verification on {s['instances']} simulated chips "
                        f"(mismatch {s['mismatch']:g}, noise {s['noise']:g}, "
                        f"silenced {s['silence']:g}, neuron model {s['neuron_model']})")
    for col in ("metric", "median", "5%", "95%"):
        table.add_column(col)
    for name, v in s["summary"].items():
        table.add_row(name, _fmt(v["median"]), _fmt(v["p5"]), _fmt(v["p95"]))
    console.print(table)
    ref = s["reference"]
    line = f"reference: {_fmt(ref['spikes_per_inference'])} spikes per inference"
    if "accuracy" in ref:
        line += f", accuracy {ref['accuracy']:.3f}"
    console.print(line)
    if s["sweep"]:
        sweep = Table(title="Robustness sweep (medians)")
        for col in ("axis", "value", "agreement", "count correlation", "accuracy"):
            sweep.add_column(col)
        for p in s["sweep"]:
            acc = "-" if p["accuracy"] is None else f"{p['accuracy']:.3f}"
            value = p["value"] if isinstance(p["value"], str) else f"{p['value']:g}"
            sweep.add_row(p["axis"], value, f"{p['agreement']:.3f}",
                          f"{p['correlation']:.3f}", acc)
        console.print(sweep)
    verdict = "[green]PASS[/]" if s["passed"] else "[red]FAIL[/]: " + "; ".join(s["reasons"])
    console.print(f"verdict: {verdict}")
    for path in written:
        console.print(f"wrote {path}")


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
    _print_notes(s["notes"])


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point, the one error boundary (see the module docstring)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    try:
        with warnings.catch_warnings():
            if not debug:  # library warnings (fonts, numpy) would add lines to stderr
                warnings.simplefilter("ignore")
            code = _run(args)
    except NeuroccError as exc:
        _one_line(f"[bold red]error:[/] {escape(_flat(str(exc)))}")
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _one_line("interrupted")
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: click's short usage text, exit 2
        show = getattr(exc, "show", None)
        if show is None:
            _one_line(f"error: {escape(_flat(exc.format_message()))}")
        else:
            show()
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug: one line, the traceback only on request
        if debug:
            traceback.print_exc()
        _one_line(f"[bold red]internal error:[/] {escape(_flat(f'{type(exc).__name__}: {exc}'))} "
                  "(run with --debug for the traceback)")
        sys.exit(3)
    if isinstance(code, int) and code != 0:
        sys.exit(code)


def _run(args: list[str]) -> object:
    """Parse ``args`` and run the command, outside click's own ``main`` so that every exception
    reaches :func:`main` unchanged (click's ``main`` turns EOFError into an abort)."""
    command = typer.main.get_command(app)
    with command.make_context("neurocc", args) as ctx:
        return command.invoke(ctx)


def _flat(text: str, limit: int = 1000) -> str:
    """``text`` on one line (every line break, U+2028 included, becomes a space), capped."""
    line = " ".join(text.splitlines())
    return line if len(line) <= limit else line[:limit - 3] + "..."


def _one_line(markup: str) -> None:
    err_console.print(markup, highlight=False, soft_wrap=True)


if __name__ == "__main__":
    main()
