"""Weight quantization per placed core and the realisation of every current as a bias.

``cores`` (the per-core driver), ``base_sum`` (SE2: base weights + bit masks), ``count`` (SE1:
repeated CAM entries), ``common`` (shared synapse arrays, budgets, statistics).
"""

from .cores import CoreWeights, WeightOptions, quantize_cores

__all__ = ["CoreWeights", "WeightOptions", "quantize_cores"]
