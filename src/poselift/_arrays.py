"""Array plumbing for every public function that takes numpy or torch input.

One place converts the caller's container to a numpy array and back: inference runs on
numpy arrays (whichever backend), and a ``torch.Tensor`` argument gets a tensor back, on
its device and in its floating-point dtype. torch is never imported here: a tensor can
only reach this module if the caller has torch already.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import KeypointTypeError

__all__ = ["is_tensor", "to_numpy", "to_bool", "Container"]

_RULE = "pass real numbers: a numpy array or torch tensor of integers or floats"


def is_tensor(a: Any) -> bool:
    """True for a ``torch.Tensor`` (without importing torch when the caller has not)."""
    torch = sys.modules.get("torch")
    check = getattr(torch, "is_tensor", None)  # None while another thread is still importing torch:
    return check is not None and bool(check(a))  # then no tensor can exist yet


def to_numpy(a: Any, name: str = "keypoints") -> np.ndarray:
    """A native-endian, C-contiguous numpy array of real numbers for ``a`` (array, tensor or lists).

    Tensors are detached and copied to the host (bfloat16 as float32); reversed or strided
    views, big-endian and read-only arrays are copied as needed. One rule for every array
    poselift takes: real numbers only (integers or floats). ``None``, strings, objects,
    ragged lists, bool and complex arrays raise :class:`~poselift.errors.KeypointTypeError`
    naming ``name``.
    """
    if type(a) is np.ndarray and a.dtype.kind in "iuf" and a.dtype.isnative and a.flags.c_contiguous:
        return a  # the common case, checked first: nothing to convert
    if is_tensor(a):
        if a.dtype.is_complex or a.dtype == sys.modules["torch"].bool:
            raise KeypointTypeError(f"{name} must hold real numbers; got a tensor of dtype {a.dtype}. {_RULE}.")
        if a.device.type == "meta" or a.layout != sys.modules["torch"].strided:
            raise KeypointTypeError(
                f"{name} is a {a.device.type if a.device.type == 'meta' else str(a.layout)} tensor, which holds no values "
                f"poselift can read; pass a dense tensor with data (e.g. .to_dense() or a real device). {_RULE}."
            )
        a = a.detach().cpu()
        try:
            a = a.numpy()
        except TypeError:  # dtypes numpy lacks (bfloat16): go through float32
            a = a.float().numpy()
    elif a is None or isinstance(a, (str, bytes)):
        raise KeypointTypeError(f"{name} must be an array of real numbers; got {type(a).__name__}. {_RULE}.")
    elif isinstance(a, np.ma.MaskedArray):  # masked values are missing: NaN, never their stale data
        if a.dtype.kind not in "iuf":
            raise KeypointTypeError(f"{name} must hold real numbers; got a masked array of dtype {a.dtype}. {_RULE}.")
        a = a.astype(a.dtype if a.dtype.kind == "f" else np.float64).filled(np.nan)
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
    return np.require(arr, dtype=arr.dtype.newbyteorder("="), requirements=["C"])


def to_bool(a: Any) -> np.ndarray:
    """A numpy bool array for ``a`` (array, tensor or lists of bools or 0/1)."""
    if is_tensor(a):
        a = a.detach().cpu().numpy()
    return np.asarray(a).astype(bool)


@dataclass(frozen=True, eq=False)
class Container:
    """How to give a result back in the caller's container (numpy, or a tensor's device and dtype)."""

    tensor: Any = None  # the caller's tensor, or None for numpy input
    float64: bool = False  # float64 input gives float64 output

    @classmethod
    def of(cls, a: Any, arr: np.ndarray | None = None) -> "Container":
        """The container of ``a`` (``arr``: ``a`` already converted by :func:`to_numpy`)."""
        if type(a) is np.ndarray:  # the common case first
            return _NUMPY64 if a.dtype == np.float64 else _NUMPY
        if is_tensor(a):
            return cls(a, a.dtype.is_floating_point and a.dtype.itemsize == 8)
        if arr is None:
            arr = to_numpy(a)
        return cls(None, arr.dtype == np.float64)

    def restore(self, out: np.ndarray, *, floating: bool = True) -> Any:
        """``out`` in the caller's container: a tensor on the caller's device (in its
        floating dtype when ``floating``), or numpy (float64 for float64 input)."""
        if floating and out.dtype != (np.float64 if self.float64 else np.float32):
            out = out.astype(np.float64 if self.float64 else np.float32)
        if self.tensor is None:
            return out
        import torch

        t = torch.from_numpy(np.ascontiguousarray(out))
        if floating and self.tensor.dtype.is_floating_point:
            return t.to(device=self.tensor.device, dtype=self.tensor.dtype)
        return t.to(self.tensor.device)


_NUMPY, _NUMPY64 = Container(), Container(None, True)
