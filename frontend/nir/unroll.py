"""Convolution and pooling layers as sparse matrices.

A layer acting on a tensor of shape ``(C, *spatial)`` stored row-major (channel first, then the
spatial axes, as PyTorch and NIR lay it out) is a linear map; these functions return it as a
``scipy.sparse.csr_array`` of shape ``(output size, input size)`` (rows are outputs, the IR's
convention) together with the output shape. They work for any number of spatial axes (Conv1d,
Conv2d). Semantics follow PyTorch: cross-correlation (no kernel flip), zero padding, and for
``padding='same'`` the extra padding goes after (right/bottom). Weights that are exactly zero make
no matrix entries.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from neurocc.compiler.errors import InvalidModelError, UnsupportedError
from neurocc.compiler.limits import DEFAULT_MAX_MEMORY, check_memory

from .values import whole_numbers

Padding = int | str | Sequence[int]
#: Bytes the unrolling takes per (output, input, weight) entry: the index and value arrays it
#: builds (int64 rows and columns, float64 values, the mask) and the CSR result.
_BYTES_PER_ENTRY = 64


def per_axis(value: int | Sequence[int] | np.ndarray, ndim: int, what: str) -> tuple[int, ...]:
    """Expand an int (or 0-d / length-1 array) to one int per spatial axis and check the length."""
    arr = whole_numbers(value, what)
    if arr.size == 1:
        arr = np.repeat(arr, ndim)
    if arr.size != ndim:
        raise InvalidModelError(f"{what} {np.asarray(value).tolist()} has {arr.size} entries for "
                                f"{ndim} spatial axes")
    return tuple(int(v) for v in arr)


def resolve_padding(padding: Padding, kernel: Sequence[int], stride: Sequence[int],
                    dilation: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """``(before, after)`` padding per spatial axis from an int, a sequence, 'same' or 'valid'."""
    ndim = len(kernel)
    if isinstance(padding, bytes):
        padding = padding.decode()
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * ndim
        if padding == "same":
            if any(s != 1 for s in stride):
                raise UnsupportedError(f"padding 'same' with stride {list(stride)}",
                                       fix="use stride 1 with 'same', or explicit padding")
            totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return tuple((t // 2, t - t // 2) for t in totals)
        raise InvalidModelError(f"padding {padding!r} is not an int, a sequence, 'same' or 'valid'")
    pads = per_axis(padding, ndim, "padding")
    if any(p < 0 for p in pads):
        raise InvalidModelError(f"padding {list(pads)} is negative")
    return tuple((p, p) for p in pads)


def conv_output_shape(spatial: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                      pads: Sequence[tuple[int, int]], dilation: Sequence[int]) -> tuple[int, ...]:
    """Spatial output shape of a convolution (PyTorch's floor formula)."""
    out = tuple((n + lo + hi - d * (k - 1) - 1) // s + 1
                for n, k, s, (lo, hi), d in zip(spatial, kernel, stride, pads, dilation))
    if any(o <= 0 for o in out):
        raise InvalidModelError(f"kernel {list(kernel)} (dilation {list(dilation)}) does not fit "
                                f"the padded input {list(spatial)}: output shape {list(out)}")
    return out


def conv_matrix(weight: np.ndarray, input_shape: Sequence[int], *, stride: int | Sequence[int] = 1,
                padding: Padding = 0, dilation: int | Sequence[int] = 1, groups: int = 1,
                max_memory: int = DEFAULT_MAX_MEMORY) -> tuple[sp.csr_array, tuple[int, ...]]:
    """Unroll a convolution with ``weight`` of shape ``(C_out, C_in / groups, *kernel)``.

    ``input_shape`` is ``(C_in, *spatial)``. Returns the matrix ``(C_out * prod(out), C_in *
    prod(spatial))`` and the output shape ``(C_out, *out)``. The unrolling is refused (before it
    allocates) when its estimated memory exceeds ``max_memory`` bytes.
    """
    weight = np.asarray(weight, dtype=np.float64)
    c_out, cin_group, *kernel = weight.shape
    ndim = len(kernel)
    c_in, *spatial = (int(v) for v in input_shape)
    if len(spatial) != ndim:
        raise InvalidModelError(f"input shape {list(input_shape)} does not have the {ndim} "
                                f"spatial axes of the kernel {list(kernel)}")
    if groups < 1 or c_out % groups or cin_group * groups != c_in:
        raise InvalidModelError(
            f"weight {list(weight.shape)} with groups={groups} expects {cin_group * groups} input "
            f"channels (and C_out divisible by groups), the input has {c_in}")
    strides = per_axis(stride, ndim, "stride")
    dilations = per_axis(dilation, ndim, "dilation")
    if any(v < 1 for v in strides + dilations):
        raise InvalidModelError(f"stride {list(strides)} and dilation {list(dilations)} must be "
                                f">= 1")
    pads = resolve_padding(padding, kernel, strides, dilations)
    out = conv_output_shape(spatial, kernel, strides, pads, dilations)
    entries = c_out * cin_group * math.prod(kernel) * math.prod(out)
    check_memory(entries * _BYTES_PER_ENTRY, f"unrolling the convolution (weight "
                 f"{list(weight.shape)} over {list(out)} output positions)", max_memory)

    # Positions: k indexes kernel taps, o output positions; pos[a] has shape (taps, outputs).
    taps = np.indices(kernel).reshape(ndim, -1)
    outs = np.indices(out).reshape(ndim, -1)
    pos = [outs[a][None, :] * strides[a] - pads[a][0] + taps[a][:, None] * dilations[a]
           for a in range(ndim)]
    inside = np.all([(p >= 0) & (p < n) for p, n in zip(pos, spatial)], axis=0)
    flat_in = np.ravel_multi_index([np.clip(p, 0, n - 1) for p, n in zip(pos, spatial)], spatial)

    n_out, n_spatial = int(np.prod(out)), int(np.prod(spatial))
    co = np.arange(c_out)[:, None, None, None]
    ci = (co // (c_out // groups)) * cin_group + np.arange(cin_group)[None, :, None, None]
    rows = co * n_out + np.arange(n_out)[None, None, None, :]
    cols = ci * n_spatial + flat_in[None, None, :, :]
    data = weight.reshape(c_out, cin_group, -1)[..., None]
    keep = inside[None, None] & (data != 0)
    shape = (c_out * n_out, c_in * n_spatial)
    rows, cols, data = (np.broadcast_to(a, keep.shape)[keep] for a in (rows, cols, data))
    matrix = sp.csr_array(sp.coo_array((data, (rows, cols)), shape=shape))
    return matrix, (c_out, *out)


def pool_matrix(input_shape: Sequence[int], kernel_size: int | Sequence[int], *,
                stride: int | Sequence[int] | None = None, padding: Padding = 0,
                average: bool = False,
                max_memory: int = DEFAULT_MAX_MEMORY) -> tuple[sp.csr_array, tuple[int, ...]]:
    """Unroll sum pooling (or average pooling, ``average=True``) over ``(C, *spatial)``.

    Pooling is a depthwise convolution with a kernel of ones. Average pooling divides by the
    kernel area including padded cells (PyTorch's default ``count_include_pad=True``). ``stride``
    defaults to the kernel size, as in PyTorch.
    """
    channels, *spatial = (int(v) for v in input_shape)
    kernel = per_axis(kernel_size, len(spatial), "kernel_size")
    if any(k < 1 for k in kernel):
        raise InvalidModelError(f"kernel_size {list(kernel)} must be >= 1")
    check_memory(channels * math.prod(kernel) * 8, f"the pooling kernel {list(kernel)} over "
                 f"{channels} channels", max_memory)
    value = 1.0 / float(math.prod(kernel)) if average else 1.0
    weight = np.full((channels, 1, *kernel), value)
    return conv_matrix(weight, input_shape, stride=kernel if stride is None else stride,
                       padding=padding, groups=channels, max_memory=max_memory)
