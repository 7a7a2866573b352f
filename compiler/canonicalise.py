"""Pass ``canonicalise``: a private copy of the network whose weights are canonical CSR.

Sorted indices and no explicit zeros, so that every per-synapse array of the later stages aligns
with ``weights.data``. The user's network is never modified.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import scipy.sparse as sp

if TYPE_CHECKING:
    from .compilation import Compilation


def run(c: Compilation) -> Compilation:
    net = c.network.copy()
    for proj in net.projections.values():
        w = sp.csr_array(proj.weights, copy=True)
        w.sum_duplicates()
        w.eliminate_zeros()
        w.sort_indices()
        proj.weights = w
    return replace(c, network=net)
