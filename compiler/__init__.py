"""Compiler: the network IR, the pass pipeline, the driver and the command line.

Public API: :func:`compile_model` returns a :class:`Compiled` (save, report, realised network,
samna); :class:`CompileOptions` gathers every choice of the passes. The names are loaded on
first use, so that importing a light module (``neurocc.compiler.errors``) loads neither the
solver nor the simulators.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> module that defines it.
_PUBLIC = {
    "CircuitOptions": "circuits",
    "CompileOptions": "compilation",
    "Compiled": "driver",
    "compile_model": "driver",
    "PlacementOptions": "placement",
    "WeightOptions": "quantize",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
