"""What the weight quantizers share: input checks, error statistics and the per-core summary.

A quantizer works on the synapses of one placed core, given as three parallel 1-D arrays: the
weight of each synapse (threshold-normalised IR units, rows of the CSR weights that reach the core),
its synapse type (an integer id chosen by the mapper: a dendrite of DYNAP-SE2, a synapse type of
DYNAP-SE1) and its post neuron (any integer id; synapses with the same id share one CAM). Zero
weights are not synapses: they are kept in place, quantized to zero, and use no CAM entry.

The schemes live in :mod:`quantize_base_sum` (subset sums of a core's base weights) and
:mod:`quantize_count` (integer repetitions of one quantum per type). Signs are carried by the
synapse type on the chip, so both quantize magnitudes and give each quantized weight the sign of
its original.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping, Protocol

import numpy as np

from ..errors import InvalidModelError, TargetError


@dataclass(frozen=True)
class SynapseArrays:
    """Checked inputs: weights (float64), types and post (int64), all of one length."""

    weights: np.ndarray
    types: np.ndarray
    post: np.ndarray

    @property
    def magnitudes(self) -> np.ndarray:
        return np.abs(self.weights)

    @property
    def present(self) -> np.ndarray:
        """Which entries are synapses (non-zero weights)."""
        return self.weights != 0


def check_synapses(weights: np.ndarray, types: np.ndarray, post: np.ndarray,
                   where: str) -> SynapseArrays:
    """Validate the three parallel arrays a quantizer takes; raise one clear error if bad."""
    w = np.asarray(weights, dtype=np.float64)
    t = np.asarray(types)
    p = np.asarray(post)
    for name, arr in (("weights", w), ("types", t), ("post", p)):
        if arr.ndim != 1:
            raise InvalidModelError(f"{name} has shape {arr.shape}, expected one value per synapse",
                                    where=where, fix="pass 1-D arrays of equal length")
    if not (w.size == t.size == p.size):
        raise InvalidModelError(
            f"weights, types and post have lengths {w.size}, {t.size}, {p.size}", where=where,
            fix="pass one type id and one post neuron per weight")
    bad = np.flatnonzero(~np.isfinite(w))
    if bad.size:
        raise InvalidModelError(f"weight {bad[0]} is {w[bad[0]]}", where=where,
                                fix="weights must be finite numbers")
    for name, arr in (("types", t), ("post", p)):
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise InvalidModelError(f"{name} has dtype {arr.dtype}, expected integers", where=where,
                                    fix=f"pass integer {name} ids")
        if arr.size and arr.min() < 0:
            raise InvalidModelError(f"{name} holds the negative id {arr.min()}", where=where,
                                    fix=f"{name} ids must be >= 0")
    return SynapseArrays(w, t.astype(np.int64), p.astype(np.int64))


def check_budget(cam_budget: int, where: str) -> int:
    if not (isinstance(cam_budget, (int, np.integer)) and cam_budget >= 1):
        raise TargetError(f"CAM budget {cam_budget!r} is not a positive integer", where=where,
                          fix="pass the target's CAM entries per neuron (target.cam_per_neuron)")
    return int(cam_budget)


def cam_per_neuron(post: np.ndarray, entries: np.ndarray) -> np.ndarray:
    """CAM entries used by each distinct post neuron (in the order of ``np.unique(post)``)."""
    _, inverse = np.unique(post, return_inverse=True)
    return np.bincount(inverse, weights=entries, minlength=inverse.max(initial=-1) + 1
                       ).astype(np.int64)


@dataclass(frozen=True)
class QuantStats:
    """Error and resource figures of one quantized core (or projection).

    ``mse`` averages over synapses (non-zero original weights). ``levels_used`` counts the distinct
    non-zero (type, magnitude) pairs among the quantized weights. ``dropped`` counts synapses whose
    quantized weight is zero. ``cam_max`` is the most CAM entries any post neuron uses.
    """

    synapses: int
    mse: float
    rel_error: float
    levels_used: int
    cam_max: int
    cam_total: int
    dropped: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def sum_sq(x: np.ndarray) -> float:
    """Sum of squares without BLAS (whose threads stall on a loaded machine for small vectors)."""
    return float(np.sum(x * x))


def quant_stats(syn: SynapseArrays, quantized: np.ndarray, entries: np.ndarray) -> QuantStats:
    """Statistics of ``quantized`` against the original synapses; ``entries``: CAM rows of each."""
    present = syn.present
    w, q = syn.weights[present], quantized[present]
    n = int(present.sum())
    err = q - w
    norm = float(np.sqrt(sum_sq(w)))
    used = q != 0
    types, mags = syn.types[present][used], np.abs(q[used])
    order = np.lexsort((mags, types))
    types, mags = types[order], mags[order]
    levels = int(np.sum((np.diff(types) != 0) | (np.diff(mags) != 0))) + 1 if mags.size else 0
    per_neuron = cam_per_neuron(syn.post, entries)
    return QuantStats(
        synapses=n,
        mse=float(np.mean(err ** 2)) if n else 0.0,
        rel_error=float(np.sqrt(sum_sq(err)) / norm) if norm > 0 else 0.0,
        levels_used=levels,
        cam_max=int(per_neuron.max(initial=0)),
        cam_total=int(entries.sum()),
        dropped=int(np.sum(~used)),
    )


class HasStats(Protocol):
    stats: QuantStats


def summary_table(results: Mapping[str, HasStats]) -> str:
    """A plain-text table, one row per named result (a projection or a core)."""
    header = f"{'core':<28} {'synapses':>8} {'rel err':>8} {'levels':>6} {'CAM max':>7} " \
             f"{'CAM sum':>7} {'dropped':>7}"
    rows = [header, "-" * len(header)]
    for name, result in results.items():
        s = result.stats
        rows.append(f"{name:<28} {s.synapses:>8} {s.rel_error:>8.4f} {s.levels_used:>6} "
                    f"{s.cam_max:>7} {s.cam_total:>7} {s.dropped:>7}")
    return "\n".join(rows)
