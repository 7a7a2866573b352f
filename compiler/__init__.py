"""Compiler: the network IR, the pass pipeline, the driver and the command line.

Public API: :func:`compile_model` returns a :class:`Compiled` (save, report, realised network,
samna); :class:`CompileOptions` gathers every choice of the passes.
"""

from .circuits import CircuitOptions
from .quantize.cores import WeightOptions
from .driver import Compiled, compile_model
from .pipeline import CompileOptions
from .placement import PlacementOptions

__all__ = ["CircuitOptions", "CompileOptions", "Compiled", "PlacementOptions", "WeightOptions",
           "compile_model"]
