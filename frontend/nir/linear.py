"""Stateless NIR nodes as linear maps: ``y = matrix @ x + bias`` over flattened tensors.

Each node becomes a :class:`LinearOp` once the shape of its input is known (its predecessors'
output shape). Tolerated quirks of real exports: weights stored transposed (``(in, out)``, older
Spyx; detected from the input size, a square matrix is kept as stored), a leading batch dimension
of 1, a missing Conv ``input_shape`` (taken from the input), a Flatten ``start_dim`` counted with
the batch dimension, a Flatten ``input_type`` placeholder such as ``[0, 0, 0, 0]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import scipy.sparse as sp

from neurocc.compiler.errors import InvalidModelError, ModelFormatError, UnsupportedError
from neurocc.compiler.limits import DEFAULT_MAX_MEMORY

from .values import field, float_array, size_of, strip_batch, whole_number, whole_numbers
from .unroll import conv_matrix, per_axis, pool_matrix

Shape = tuple[int, ...]


@dataclass
class LinearOp:
    """``matrix`` is ``(output size, input size)``; ``bias`` has the output size or is None."""

    matrix: sp.csr_array
    bias: np.ndarray | None
    shape: Shape


def linear_op(node: Mapping[str, Any], in_shape: Shape | None,
              max_memory: int = DEFAULT_MAX_MEMORY) -> LinearOp:
    """The node's map, given the shape of its input (None when nothing feeds the node).

    Convolutions and pooling are refused before unrolling when they would need more than
    ``max_memory`` bytes; the other maps are no larger than their input or their stored weights.
    """
    return _BUILDERS[node["type"]](node, in_shape, max_memory)


def _dense(node: Mapping[str, Any], in_shape: Shape | None, max_memory: int) -> LinearOp:
    weight = strip_batch(float_array(field(node, "weight"), "weight"), min_ndim=2)
    if weight.ndim != 2:
        raise UnsupportedError(f"weight has shape {list(weight.shape)}; only 2-d weight "
                               f"matrices (out, in) are supported")
    if in_shape is not None:
        n_in = size_of(in_shape)
        if weight.shape[1] != n_in:
            if weight.shape[0] != n_in:
                raise InvalidModelError(f"weight has shape {list(weight.shape)} but its input has "
                                        f"{n_in} values", fix="weights are (out, in) in NIR")
            weight = weight.T  # stored as (in, out)
    bias = None
    if node["type"] == "Affine":
        bias = _broadcast(node.get("bias", 0.0), weight.shape[0], "bias")
    return LinearOp(sp.csr_array(weight), bias, (weight.shape[0],))


def _scale(node: Mapping[str, Any], in_shape: Shape | None, max_memory: int) -> LinearOp:
    scale = strip_batch(float_array(field(node, "scale"), "scale"))
    shape = in_shape or scale.shape
    if not shape:
        raise ModelFormatError("a scalar Scale node has no input, so its size is unknown")
    return LinearOp(sp.diags_array(_broadcast(scale, size_of(shape), "scale")).tocsr(), None,
                    shape)


def _conv(node: Mapping[str, Any], in_shape: Shape | None, max_memory: int) -> LinearOp:
    weight = float_array(field(node, "weight"), "weight")
    ndim = {"Conv1d": 1, "Conv2d": 2}[node["type"]]
    if weight.ndim != ndim + 2:
        raise ModelFormatError(f"{node['type']} weight has shape {list(weight.shape)}, expected "
                               f"(C_out, C_in/groups, {ndim} kernel dims)")
    groups = whole_number(node.get("groups", 1), "groups")
    channels = weight.shape[1] * groups
    given = node.get("input_shape")
    if given is not None:
        spatial = per_axis(given, ndim, "input_shape")
    elif in_shape is not None and len(in_shape) >= ndim:
        spatial = in_shape[-ndim:]
    else:
        raise ModelFormatError(f"input_shape is missing and the input shape {in_shape} does not "
                               f"give the {ndim} spatial dimensions",
                               fix="store input_shape in the Conv node")
    if in_shape is not None and size_of(in_shape) != channels * size_of(spatial):
        raise InvalidModelError(f"expects {channels} channels x {list(spatial)} = "
                                f"{channels * size_of(spatial)} inputs but its input has shape "
                                f"{list(in_shape)}")
    matrix, shape = conv_matrix(weight, (channels, *spatial), stride=node.get("stride", 1),
                                padding=node.get("padding", 0), dilation=node.get("dilation", 1),
                                groups=groups, max_memory=max_memory)
    per_channel = _broadcast(node.get("bias", 0.0), shape[0], "bias")
    return LinearOp(matrix, np.repeat(per_channel, size_of(shape[1:])), shape)


def _pool(node: Mapping[str, Any], in_shape: Shape | None, max_memory: int) -> LinearOp:
    if in_shape is None or len(in_shape) < 2:
        raise ModelFormatError(f"pooling needs a (channels, height, width) input, got {in_shape}")
    spatial = in_shape[-2:]
    kernel = field(node, "kernel_size")
    matrix, shape = pool_matrix((size_of(in_shape) // size_of(spatial), *spatial), kernel,
                                stride=node.get("stride", kernel), padding=node.get("padding", 0),
                                average=node["type"] == "AvgPool2d", max_memory=max_memory)
    return LinearOp(matrix, None, shape)


def _flatten(node: Mapping[str, Any], in_shape: Shape | None, max_memory: int) -> LinearOp:
    if in_shape is None:
        raise ModelFormatError("Flatten node has no input, so its shape is unknown")
    rank = len(in_shape)
    dims = [whole_number(node.get(k, d), k) for k, d in (("start_dim", 1), ("end_dim", -1))]
    declared = node.get("input_type")
    if declared is not None and np.asarray(declared).size:
        declared = whole_numbers(declared, "input_type")
        if np.all(declared > 0) and size_of(tuple(declared.tolist())) != size_of(in_shape):
            raise InvalidModelError(f"input_type {declared.tolist()} does not match the input "
                                    f"shape {list(in_shape)}")
        if declared.size == rank + 1:  # the dims count a batch dimension
            dims = [max(d - 1, 0) if d >= 0 else d for d in dims]
    start, end = (d + rank if d < 0 else d for d in dims)
    if not 0 <= start <= end < rank:
        raise ModelFormatError(f"start_dim/end_dim {dims} do not fit the input shape "
                               f"{list(in_shape)}")
    shape = (*in_shape[:start], size_of(in_shape[start:end + 1]), *in_shape[end + 1:])
    return LinearOp(sp.identity(size_of(in_shape), format="csr"), None, shape)


def _identity(node: Mapping[str, Any], in_shape: Shape | None, max_memory: int) -> LinearOp:
    if in_shape is None:
        raise ModelFormatError("Identity node has no input, so its shape is unknown")
    return LinearOp(sp.identity(size_of(in_shape), format="csr"), None, in_shape)


def _broadcast(value: Any, size: int, what: str) -> np.ndarray:
    arr = strip_batch(float_array(value, what)).reshape(-1)
    if arr.size not in (1, size):
        raise InvalidModelError(f"{what} has {arr.size} values, expected {size}")
    return np.broadcast_to(arr, (size,)).copy()


_BUILDERS: dict[str, Callable[[Mapping[str, Any], Shape | None, int], LinearOp]] = {
    "Affine": _dense, "Linear": _dense, "Scale": _scale, "Conv1d": _conv, "Conv2d": _conv,
    "SumPool2d": _pool, "AvgPool2d": _pool, "Flatten": _flatten, "Identity": _identity,
}
#: NIR node types that are linear maps between neuron layers.
LINEAR_TYPES = tuple(_BUILDERS)
