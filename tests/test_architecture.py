"""The layering rules of docs/architecture.md, checked on every import statement of the package."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from networks import REPO

PACKAGES = {"compiler": "neurocc.compiler", "frontend": "neurocc.frontend",
            "backends": "neurocc.backends", "runtime": "neurocc.runtime"}
#: Compiler modules outside the passes: they orchestrate, so they may reach every package.
ORCHESTRATION = ("neurocc.compiler.driver", "neurocc.compiler.cli", "neurocc.compiler.report")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    rest = [p for p in parts[1:] if p != "__init__"]
    return ".".join([PACKAGES[parts[0]], *rest])


def imports() -> list[tuple[str, str, str | None]]:
    """(importing module, imported module, imported name) for every neurocc import."""
    out = []
    for folder in PACKAGES:
        for path in sorted((REPO / folder).rglob("*.py")):
            name = module_name(path)
            package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom):
                    base = package.split(".")[:len(package.split(".")) - node.level + 1] \
                        if node.level else []
                    source = ".".join(base + ([node.module] if node.module else []))
                    out += [(name, source, a.name) for a in node.names
                            if source.startswith("neurocc")]
                elif isinstance(node, ast.Import):
                    out += [(name, a.name, None) for a in node.names
                            if a.name.startswith("neurocc")]
    return out


IMPORTS = imports()


def within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def offenders(importer: str, allowed) -> list[str]:
    """Imports of a package's modules, across packages, that ``allowed`` refuses."""
    return [f"{a} imports {b}.{n}" for a, b, n in IMPORTS
            if within(a, (importer,)) and not within(b, (importer,)) and not allowed(b, n)]


def test_the_scan_sees_the_imports_it_judges():
    # the scan must see relative, absolute and function-local imports
    assert ("neurocc.compiler.pipeline", "neurocc.compiler.compilation", "verify") in IMPORTS
    assert ("neurocc.frontend.nir.reader", "neurocc.compiler.ir", "Network") in IMPORTS
    assert any(a == "neurocc.compiler.cli" and b == "neurocc.runtime.verify" for a, b, _ in IMPORTS)


def test_frontends_build_ir_only():
    compiler_ok = ("neurocc.compiler.ir", "neurocc.compiler.errors", "neurocc.compiler.limits")
    assert offenders("neurocc.frontend", lambda b, n: within(b, compiler_ok)) == []


def test_the_runtime_reads_configurations_never_compiler_internals():
    compiler_ok = ("neurocc.compiler.ir", "neurocc.compiler.errors", "neurocc.compiler.limits",
                   "neurocc.compiler.files", "neurocc.compiler.tables")

    def allowed(module: str, name: str | None) -> bool:
        return within(module, ("neurocc.backends",) + compiler_ok) or \
            (module == "neurocc.compiler.circuits" and name == "CircuitOptions")
    assert offenders("neurocc.runtime", allowed) == []


def test_backends_know_chips_not_passes():
    compiler_ok = ("neurocc.compiler.ir", "neurocc.compiler.errors", "neurocc.compiler.limits",
                   "neurocc.compiler.files", "neurocc.compiler.tables", "neurocc.compiler.circuits")
    assert offenders("neurocc.backends", lambda b, n: within(b, compiler_ok)) == []


#: The target data passes read (the chip's facts, its neuron model and circuit constants).
TARGET_DATA = ("neurocc.backends.target", "neurocc.backends.neuron_model",
               "neurocc.backends.circuit_constants")
#: The one pass-side module that calibrates a mapping by simulating the circuit model.
CALIBRATES_BY_SIMULATION = "neurocc.compiler.neuron_fit"


def test_passes_never_reach_outward():
    def allowed(importer: str, module: str) -> bool:
        if within(module, ("neurocc.compiler",) + TARGET_DATA):
            return True
        return importer == CALIBRATES_BY_SIMULATION and \
            within(module, ("neurocc.runtime.circuit", "neurocc.runtime.hardware_network"))
    bad = [f"{a} imports {b}.{n}" for a, b, n in IMPORTS
           if within(a, ("neurocc.compiler",)) and not within(a, ORCHESTRATION)
           and not allowed(a, b)]
    assert bad == []


CHIP = re.compile(r"dynapse|\bse[12]\b", re.IGNORECASE)


def chip_names(path: Path) -> list[str]:
    """Identifiers and string literals (docstrings aside) of a module that name a chip."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    found = []
    for node in ast.walk(tree):
        text = node.id if isinstance(node, ast.Name) else node.attr \
            if isinstance(node, ast.Attribute) else node.value \
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
            id(node) not in docstrings else None
        if text is not None and CHIP.search(text):
            found.append(f"{path.name}:{node.lineno}: {text[:60]!r}")
    return found


def test_no_pass_names_a_chip():
    passes = [p for p in sorted((REPO / "compiler").rglob("*.py"))
              if not within(module_name(p), ORCHESTRATION)]
    assert len(passes) > 20
    assert [hit for p in passes for hit in chip_names(p)] == []


def test_the_chip_name_detector_detects(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text('"""Docstrings may say DYNAP-SE2."""\nTARGET = "dynapse2"\nse1 = 1\n')
    assert [h.split(": ", 1)[1] for h in chip_names(probe)] == ["'dynapse2'", "'se1'"]


@pytest.mark.parametrize("module, heavy", [("neurocc.compiler.errors", ("ortools", "jax")),
                                           ("neurocc.compiler", ("ortools", "jax")),
                                           ("neurocc.backends.target", ("ortools", "jax"))])
def test_light_imports_load_neither_solver_nor_simulator(module, heavy):
    code = f"import sys, {module}; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_every_module_imports():
    """A moved module whose relative imports were not updated fails here, not in a user's run."""
    code = """
import importlib, pkgutil
bad = []
for top in ("neurocc.compiler", "neurocc.frontend", "neurocc.backends", "neurocc.runtime"):
    for info in pkgutil.walk_packages(importlib.import_module(top).__path__, top + "."):
        try:
            importlib.import_module(info.name)
        except Exception as exc:
            bad.append(f"{info.name}: {exc!r}")
print(bad)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
