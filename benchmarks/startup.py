"""Start-up cost of the command line: ``neurocc --help`` against a bare ``import typer, rich``.

Both are run as fresh processes, alternating, ``--rounds`` times each; the minimum wall time of
each is the figure (start-up cost is noise plus a floor, and the floor is what the code decides).
It also checks which heavy libraries ``import neurocc.compiler.errors`` pulls in. Ends with one
JSON line: ``help_seconds``, ``baseline_seconds``, ``help_over_baseline`` (target <= 2.5) and
``errors_import_loads`` (target: empty).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time

HEAVY = ("ortools", "jax", "scipy", "networkx", "h5py", "nir", "matplotlib")


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    neurocc = shutil.which("neurocc")
    if neurocc is None:
        sys.exit("neurocc is not on PATH: pip install -e . first")
    help_cmd = [neurocc, "--help"]
    base_cmd = [sys.executable, "-c", "import typer, rich"]
    times: dict[str, list[float]] = {"help": [], "baseline": []}
    for _ in range(args.rounds):
        times["help"].append(wall(help_cmd))
        times["baseline"].append(wall(base_cmd))
    probe = f"import sys, neurocc.compiler.errors; print(','.join(m for m in {HEAVY!r} " \
            f"if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True).stdout.strip()
    best = {k: min(v) for k, v in times.items()}
    print(f"neurocc --help            {best['help'] * 1e3:7.1f} ms (min of {args.rounds})")
    print(f"python -c 'import typer, rich' {best['baseline'] * 1e3:7.1f} ms")
    print(f"ratio                     {best['help'] / best['baseline']:7.2f} (target <= 2.5)")
    print(f"import neurocc.compiler.errors loads: {loaded or 'none of ' + ', '.join(HEAVY)}")
    print(json.dumps({"help_seconds": round(best["help"], 4),
                      "baseline_seconds": round(best["baseline"], 4),
                      "help_over_baseline": round(best["help"] / best["baseline"], 3),
                      "errors_import_loads": [m for m in loaded.split(",") if m]}))


if __name__ == "__main__":
    main()
