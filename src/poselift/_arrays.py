"""Array plumbing shared by the public functions that take numpy or torch input."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .errors import KeypointTypeError

__all__ = ["as_tensor"]

_RULE = "pass real numbers: a numpy array or torch tensor of integers or floats"


def as_tensor(a: Any, name: str = "keypoints") -> torch.Tensor:
    """A tensor view or copy of ``a``: tensors pass through; any numpy array (reversed or
    strided views, big-endian, read-only, lists) becomes a native-endian C-contiguous tensor.

    One rule for every array poselift takes: real numbers only (integers or floats). ``None``,
    strings, objects, ragged lists, bool and complex arrays raise :class:`KeypointTypeError`.
    """
    if torch.is_tensor(a):
        if a.dtype == torch.bool or a.is_complex():
            raise KeypointTypeError(f"{name} must hold real numbers; got a tensor of dtype {a.dtype}. {_RULE}.")
        return a
    if a is None or isinstance(a, (str, bytes)):
        raise KeypointTypeError(f"{name} must be an array of real numbers; got {type(a).__name__}. {_RULE}.")
    try:
        arr = np.asarray(a)
    except (ValueError, TypeError) as e:  # ragged nested lists
        raise KeypointTypeError(
            f"{name} cannot be read as one array ({e}); every pose needs the same number of joints and coordinates. {_RULE}."
        ) from None
    if arr.dtype.kind not in "iuf":
        what = {"b": "bool", "c": "complex", "O": "objects (a ragged list or mixed types?)", "U": "strings", "S": "bytes"}
        raise KeypointTypeError(
            f"{name} must hold real numbers; got an array of {what.get(arr.dtype.kind, str(arr.dtype))} "
            f"(dtype {arr.dtype}). {_RULE}."
        )
    native = arr.dtype.newbyteorder("=")
    arr = np.require(arr, dtype=native, requirements=["C", "W"])
    return torch.from_numpy(arr)
