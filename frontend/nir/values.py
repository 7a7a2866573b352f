"""Parameter values of NIR nodes: numeric arrays, batch dimensions, shapes."""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from neurocc.compiler.errors import InvalidModelError, ModelFormatError


def float_array(value: Any, what: str) -> np.ndarray:
    """A float64 copy of a numeric parameter (int64 and float32 files are common)."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise ModelFormatError(f"parameter {what} is not numeric (dtype {arr.dtype})",
                               fix=f"store {what} as a numeric array")
    arr = arr.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise InvalidModelError(f"{what}[{bad[0]}] = {arr.reshape(-1)[bad[0]]} is not a finite "
                                f"number", fix="parameters must be finite; check the export")
    return arr


def strip_batch(arr: np.ndarray, min_ndim: int = 1) -> np.ndarray:
    """Drop leading dimensions of size 1 beyond ``min_ndim`` (a batch dimension of 1)."""
    while arr.ndim > min_ndim and arr.shape[0] == 1:
        arr = arr[0]
    return arr


def shape_of(value: Any, what: str) -> tuple[int, ...]:
    """A tensor shape stored as an array of positive integers, without a batch dimension of 1."""
    arr = float_array(value, what).reshape(-1)
    while arr.size > 1 and arr[0] == 1:
        arr = arr[1:]
    if arr.size == 0 or np.any(arr < 1) or np.any(arr != np.round(arr)):
        raise ModelFormatError(f"{what} {arr.tolist()} is not a shape of positive integers",
                               fix=f"store {what} as the tensor shape, e.g. [channels, height, "
                                   f"width]")
    return tuple(int(v) for v in arr)


def size_of(shape: tuple[int, ...]) -> int:
    """Number of values of a tensor shape, exact (``np.prod`` wraps around in int64)."""
    return math.prod(shape)


def check_finite(values: np.ndarray, what: str, fix: str) -> None:
    """Refuse values that overflowed (computed under ``np.errstate``, so without warnings)."""
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise InvalidModelError(f"{what} overflow 64-bit floats ({bad.size} values, the first "
                                f"at index {bad[0]})", fix=fix)


def field(node: Mapping[str, Any], key: str) -> Any:
    """A required field of a node; its absence is a format error naming the field."""
    if key not in node:
        raise ModelFormatError(f"{node['type']} node has no {key!r} field",
                               fix=f"store {key!r} in the node (write the file with nir.write)")
    return node[key]


#: Largest magnitude accepted for an integer layer setting (stride, padding, kernel size...).
MAX_SETTING = 2**31 - 1


def whole_numbers(value: Any, what: str) -> np.ndarray:
    """A layer setting as int64 values: finite, whole and below :data:`MAX_SETTING`."""
    arr = float_array(value, what).reshape(-1)
    bad = np.flatnonzero((arr != np.round(arr)) | (np.abs(arr) > MAX_SETTING))
    if bad.size:
        raise InvalidModelError(f"{what} {arr.tolist()} is not a whole number of at most "
                                f"{MAX_SETTING} in magnitude",
                                fix=f"store {what} as integers (check the export)")
    return arr.astype(np.int64)


def whole_number(value: Any, what: str) -> int:
    """One integer setting (``groups``, ``start_dim``), stored as a scalar or a 1-element array."""
    arr = whole_numbers(value, what)
    if arr.size != 1:
        raise ModelFormatError(f"{what} has {arr.size} values, expected one",
                               fix=f"store {what} as one integer")
    return int(arr[0])
