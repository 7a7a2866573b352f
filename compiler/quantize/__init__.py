"""Weight quantization per placed core and the realisation of every current as a bias.

``cores`` (the per-core driver), ``base_sum`` (SE2: base weights + bit masks), ``count`` (SE1:
repeated CAM entries), ``common`` (shared synapse arrays, budgets, statistics).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .cores import CoreWeights, WeightOptions, quantize_cores

if TYPE_CHECKING:
    from ..compilation import Compilation

__all__ = ["CoreWeights", "WeightOptions", "quantize_cores"]


def run(c: Compilation) -> Compilation:
    """Pass ``quantize``: per placed core, quantize the incoming weight currents and realise
    every current as a bias."""
    weights = quantize_cores(c.circuits, c.classes, c.placement.core_of, c.target,
                             c.options.weights)
    return replace(c, weights=weights)
