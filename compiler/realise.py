"""Pass ``realise``: the IR network the chip implements, from the realised currents.

Every current the bias generators and the quantized weights actually give is turned back into
IR parameters (:func:`neurocc.compiler.circuits.currents_to_params`), so that the reference
simulator can run what the chip runs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .circuits import currents_to_params

if TYPE_CHECKING:
    from .compilation import Compilation


def run(c: Compilation) -> Compilation:
    realised_map = c.circuits.with_currents(c.weights.neuron_currents, c.weights.realised_iw)
    return replace(c, realised=currents_to_params(c.network, realised_map, c.target))
