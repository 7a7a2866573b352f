"""Compile, verify and report every worked example on both chips; write the README's results table.

For each example (``examples/<name>/model.nir`` + ``test.npz``) and each target this runs exactly
what a user runs::

    neurocc compile examples/<name>/model.nir --target <target> -o out/examples/<name>-<target>
    neurocc verify  out/examples/<name>-<target> --inputs examples/<name>/test.npz --json
    neurocc report  out/examples/<name>-<target> --json

and collects the float accuracy (the reference simulator), the compiled accuracy on 100 simulated
chips with 20% mismatch (median and 5-95% range), spikes per inference and the energy estimate.

    python examples/run_all.py            # full run; prints the table and one JSON line
    python examples/run_all.py --write    # ... and stores examples/results.json + README table
    python examples/run_all.py --quick    # CI: 10 chips; checks the stored results still hold
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results.json"
README = REPO / "README.md"
TABLE_START = "<!-- examples-table:start (written by examples/run_all.py --write) -->"
TABLE_END = "<!-- examples-table:end -->"
TARGETS = ("dynapse2", "dynapse1")
#: --quick: how far a compiled median accuracy on fewer chips may drift from the stored one.
QUICK_TOLERANCE = 0.1


@dataclass(frozen=True)
class Example:
    name: str
    title: str
    compile_flags: tuple[str, ...] = ()


EXAMPLES = (
    Example("frozen_noise", "Frozen-noise patterns (60 in, 16 outputs per class, 2 classes)"),
    Example("digits", "8x8 digits, rate code, 32 outputs per class (64 in, 10 classes)"),
    Example("temporal_memory", "Temporal memory, recurrent (cue order after a delay)"),
)


def neurocc(*args: str) -> tuple[int, str]:
    """Run the CLI as a user would; returns (exit code, stdout). Exit 1 (failed verdict) is data."""
    done = subprocess.run([sys.executable, "-m", "neurocc.compiler.cli", *args],
                          capture_output=True, text=True, cwd=REPO)
    if done.returncode not in (0, 1):
        raise SystemExit(f"neurocc {' '.join(args)} failed:\n{done.stderr}")
    return done.returncode, done.stdout


def run_one(example: Example, target: str, instances: int, outroot: Path) -> dict:
    folder = outroot / f"{example.name}-{target}"
    src = HERE / example.name
    neurocc("compile", str(src / "model.nir"), "--target", target, "-o", str(folder),
            *example.compile_flags)
    _, out = neurocc("verify", str(folder), "--inputs", str(src / "test.npz"),
                     "--instances", str(instances), "--json")
    verify = json.loads(out)
    report = json.loads(neurocc("report", str(folder), "--json")[1])
    acc = verify["summary"]["accuracy"]
    energy = report["energy"]
    return {
        "float_accuracy": verify["reference"]["accuracy"],
        "accuracy_median": acc["median"], "accuracy_p5": acc["p5"], "accuracy_p95": acc["p95"],
        "agreement_median": verify["summary"]["agreement"]["median"],
        "passed": verify["passed"],
        "spikes_per_inference": verify["summary"]["spikes_per_inference"]["median"],
        "routed_events_per_inference": energy["activity"]["routed_events"],
        "synaptic_events_per_inference": energy["activity"]["synaptic_events"],
        "energy_per_inference_J": energy["per_inference_J"],
        "energy_missing_figures": energy["missing"],
        "chips": report["summary"]["chips_used"], "cores": report["summary"]["cores_used"],
        "instances": instances,
    }


def run_all(instances: int, outroot: Path) -> dict:
    results = {}
    for example in EXAMPLES:
        for target in TARGETS:
            print(f"{example.name} on {target} ...", file=sys.stderr, flush=True)
            results[f"{example.name}/{target}"] = run_one(example, target, instances, outroot)
    return results


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _energy(r: dict) -> str:
    if r["energy_per_inference_J"] is not None:
        return f"{r['energy_per_inference_J'] * 1e9:.3g} nJ"
    return "n/a (" + ", ".join(r["energy_missing_figures"]) + " unknown)"


def table(results: dict) -> str:
    """The README table (Markdown), a pure function of the stored results."""
    lines = ["| example | target | float accuracy | compiled accuracy, median (5-95%) "
             "| spikes / inference | routed / synaptic events per inference "
             "| energy / inference |",
             "|---|---|---|---|---|---|---|"]
    for example in EXAMPLES:
        for target in TARGETS:
            r = results[f"{example.name}/{target}"]
            lines.append(
                f"| {example.title} | {target} | {_pct(r['float_accuracy'])} | "
                f"{_pct(r['accuracy_median'])} ({_pct(r['accuracy_p5'])}-"
                f"{_pct(r['accuracy_p95'])}) | {r['spikes_per_inference']:.0f} | "
                f"{r['routed_events_per_inference']:.0f} / "
                f"{r['synaptic_events_per_inference']:.0f} | {_energy(r)} |")
    return "\n".join(lines)


def readme_with_table(readme: str, results: dict) -> str:
    head, rest = readme.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    return f"{head}{TABLE_START}\n{table(results)}\n{TABLE_END}{tail}"


def quick_check(fresh: dict, stored: dict) -> list[str]:
    """What no longer holds: float accuracy must be identical, the compiled median close."""
    problems = []
    for key, r in fresh.items():
        s = stored[key]
        if r["float_accuracy"] != s["float_accuracy"]:
            problems.append(f"{key}: float accuracy {r['float_accuracy']} != stored "
                            f"{s['float_accuracy']}")
        if abs(r["accuracy_median"] - s["accuracy_median"]) > QUICK_TOLERANCE:
            problems.append(f"{key}: compiled median accuracy {r['accuracy_median']:.3f} on "
                            f"{r['instances']} chips, stored {s['accuracy_median']:.3f}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 chips; check stored results")
    parser.add_argument("--write", action="store_true", help="store results + README table")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "examples")
    args = parser.parse_args()
    if args.quick and args.write:
        parser.error("--quick results are not stored: run the full script with --write")
    results = run_all(10 if args.quick else 100, args.out)
    print(table(results))
    if args.write:
        RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
        README.write_text(readme_with_table(README.read_text(), results))
    problems = quick_check(results, json.loads(RESULTS.read_text())) if args.quick else []
    for problem in problems:
        print(f"MISMATCH {problem}", file=sys.stderr)
    print(json.dumps({key: {"float_accuracy": r["float_accuracy"],
                            "compiled_accuracy_median": r["accuracy_median"]}
                      for key, r in results.items()}, sort_keys=True))
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
