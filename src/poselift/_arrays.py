"""Array plumbing shared by the public functions that take numpy or torch input."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["as_tensor"]


def as_tensor(a: Any) -> torch.Tensor:
    """A tensor view or copy of ``a``: tensors pass through; any numpy array (reversed or
    strided views, big-endian, read-only, lists) becomes a native-endian C-contiguous tensor."""
    if torch.is_tensor(a):
        return a
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"expected a numeric array, got dtype {arr.dtype}")
    native = arr.dtype.newbyteorder("=")
    arr = np.require(arr, dtype=native, requirements=["C", "W"])
    return torch.from_numpy(arr)
