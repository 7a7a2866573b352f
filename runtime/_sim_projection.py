"""How the reference simulator stores a projection's weights and applies them to a batch.

Three layouts, chosen per projection by :func:`choose_layout` from its size and sparsity:

* ``dense``: the transposed matrix ``(source, target)``; one matmul at full float precision. Used
  for small or dense projections, where it is the fastest and the memory is small.
* ``ell``: every target row padded to the largest fan-in ``K``: column indices and values of shape
  ``(target, K)``. A gather and a sum over ``K``; used for sparse projections with even fan-in
  (unrolled convolutions), where the padding costs little.
* ``segment``: the plain coordinate list ``(nnz,)`` summed per target with ``segment_sum``; used
  for sparse projections whose fan-in is too uneven for ``ell``.

All three compute ``s @ W.T`` for ``s`` of shape ``(batch, source)`` and agree up to float
rounding (summation order).
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

Layout = Literal["dense", "ell", "segment"]
LAYOUTS: tuple[Layout, ...] = ("dense", "ell", "segment")

#: A matrix with at most this many cells is always dense (64 k cells = 256 KiB in float32).
SMALL_DENSE_CELLS = 1 << 16
#: Larger matrices are dense when at least this fraction of their cells are synapses...
DENSE_FRACTION = 0.25
#: ...and they have at most this many cells (16 M cells = 64 MiB in float32).
LARGE_DENSE_CELLS = 1 << 24
#: ``ell`` is used while the padded size is at most this many times the number of synapses.
ELL_MAX_PADDING = 2.0


def choose_layout(weights: sp.csr_array) -> Layout:
    """Pick the layout that keeps memory near the synapse count and the work vectorised."""
    n_target, n_source = weights.shape
    cells = n_target * n_source
    nnz = int(weights.nnz)
    if cells <= SMALL_DENSE_CELLS or (nnz >= DENSE_FRACTION * cells and cells <= LARGE_DENSE_CELLS):
        return "dense"
    max_fan_in = int(np.diff(weights.indptr).max(initial=0))
    if n_target * max_fan_in <= ELL_MAX_PADDING * max(nnz, 1):
        return "ell"
    return "segment"


def pack_weights(weights: sp.csr_array, layout: Layout, dtype: np.dtype) -> dict[str, np.ndarray]:
    """The arrays of ``weights`` (shape ``(target, source)``) in ``layout``, values in ``dtype``."""
    w = sp.csr_array(weights)
    w.sum_duplicates()
    w.sort_indices()
    n_target = w.shape[0]
    if layout == "dense":
        return {"w_t": np.ascontiguousarray(w.toarray().T, dtype=dtype)}
    fan_in = np.diff(w.indptr)
    rows = np.repeat(np.arange(n_target, dtype=np.int32), fan_in)
    if layout == "segment":
        return {"rows": rows, "cols": w.indices.astype(np.int32),
                "vals": w.data.astype(dtype)}
    if layout == "ell":
        k = int(fan_in.max(initial=0))
        slot = np.arange(w.nnz) - np.repeat(w.indptr[:-1], fan_in)
        cols = np.zeros((n_target, k), dtype=np.int32)
        vals = np.zeros((n_target, k), dtype=dtype)
        cols[rows, slot] = w.indices
        vals[rows, slot] = w.data
        return {"cols": cols, "vals": vals}
    raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")


def apply_weights(layout: Layout, arrays: dict[str, jax.Array], s: jax.Array,
                  n_target: int) -> jax.Array:
    """``s @ W.T`` for ``s`` of shape ``(batch, source)``: the input each target receives."""
    if layout == "dense":
        return jnp.matmul(s, arrays["w_t"], precision=jax.lax.Precision.HIGHEST)
    if layout == "ell":
        return jnp.sum(s[:, arrays["cols"]] * arrays["vals"], axis=-1)
    if layout == "segment":
        contrib = s[:, arrays["cols"]] * arrays["vals"]
        summed = jax.ops.segment_sum(contrib.T, arrays["rows"], num_segments=n_target,
                                     indices_are_sorted=True)
        return summed.T
    raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")
