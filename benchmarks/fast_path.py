"""Proposed speed-ups for the lift path, applied by monkeypatching (benchmarks only).

These are the exact bodies proposed for ``src/poselift/lifter.py`` and
``src/poselift/geometry.py``; ``bench_lift.py --proposed`` measures their effect.
Nothing in the library imports this file.

1. A numpy screen in front of ``Lifter._missing`` and ``Lifter._check_values``: when
   every joint is visible, finite and the pose is plainly not degenerate (the common
   case), a few numpy calls on a zero-copy view return at once; otherwise the existing
   torch checks run unchanged and raise their own messages. On a single pose each torch
   dispatch costs several microseconds, more than the work.
2. ``Lifter.lift`` calls the backend once when the input fits in one chunk, instead of
   preallocating an output and copying the only chunk into it, and builds the
   ``filled`` mask only when ``return_filled=True``.
3. ``geometry.chain_height`` gathers every chain with one advanced index instead of
   stacking joint by joint: the same values, and about 30 fewer nodes in the ONNX graph.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from poselift import geometry
from poselift.lifter import Lifter, check_keypoints
from poselift.skeleton import Skeleton


def _numpy_view(t: torch.Tensor) -> np.ndarray | None:
    """A zero-copy numpy view of a CPU tensor, or ``None`` (other devices, dtypes numpy lacks)."""
    if t.device.type != "cpu":
        return None
    try:
        return t.detach().numpy()
    except (TypeError, RuntimeError):
        return None


def _plainly_valid(x: np.ndarray) -> bool:
    """True when every ``(B, N, 2)`` pose is finite and far from degenerate, in a few numpy calls.

    A screen for the common case: ``False`` only means "run the exact checks". The margin
    (2e-6 against the exact check's 1e-6) keeps float rounding from passing a pose that
    the exact check would refuse.
    """
    magnitude = np.abs(x).max(axis=(-1, -2))  # NaN and inf propagate, so this also checks finiteness
    if not np.isfinite(magnitude).all():
        return False
    dev = x - x.sum(axis=-2, keepdims=True) * np.float32(1.0 / x.shape[-2])
    spread = np.sqrt(np.einsum("bnk,bnk->b", dev, dev))
    return bool((spread > 2e-6 * np.maximum(magnitude, 1.0)).all())


@torch.inference_mode()
def lift(self, keypoints, confidence=None, *, height=None, normalized=False, batch_size=65536, return_filled=False):
    is_tensor = torch.is_tensor(keypoints)
    x = keypoints if is_tensor else torch.from_numpy(np.asarray(keypoints))
    check_keypoints(x, self.skeleton)
    out_dtype = x.dtype if x.is_floating_point() else torch.float32
    batch_shape = tuple(x.shape[:-2])
    n = self.skeleton.num_joints
    flat = x.reshape(-1, n, 2).to(device=self.device, dtype=torch.float32)
    missing = self._missing(confidence, batch_shape, flat.device)
    self._check_values(flat, missing, batch_shape)

    if flat.shape[0] <= batch_size:  # one chunk: no output buffer, no copy
        out = self._lift_flat(flat if missing is None else self.completion(flat, ~missing), height, normalized)
    else:
        out = torch.empty(flat.shape[0], n, 3, dtype=torch.float32, device=self.device)
        for start in range(0, flat.shape[0], batch_size):
            chunk = flat[start : start + batch_size]
            if missing is not None:
                chunk = self.completion(chunk, ~missing[start : start + batch_size])
            out[start : start + batch_size] = self._lift_flat(chunk, height, normalized)
    out = out.reshape(*batch_shape, n, 3)
    if is_tensor:
        out = out.to(device=keypoints.device, dtype=out_dtype)
    else:
        out = out.cpu().numpy().astype(np.float64 if out_dtype == torch.float64 else np.float32, copy=False)
    if not return_filled:
        return out
    filled = (missing if missing is not None else torch.zeros(flat.shape[:2], dtype=torch.bool)).reshape(*batch_shape, n)
    return out, (filled.to(keypoints.device) if is_tensor else filled.cpu().numpy())


def _missing(self, confidence: Any, batch_shape: tuple[int, ...], device: torch.device) -> torch.Tensor | None:
    """Proposed: the lines below go at the top of ``Lifter._missing``, after ``if confidence is None``."""
    if confidence is not None:
        conf = _numpy_view(confidence) if torch.is_tensor(confidence) else np.asarray(confidence)
        n = self.skeleton.num_joints
        if conf is not None and conf.shape == (*batch_shape, n) and (conf >= self.config.confidence_threshold).all():
            return None  # every joint visible: nothing to mask
    return _ORIGINAL["missing"](self, confidence, batch_shape, device)


def _check_values(self, flat: torch.Tensor, missing: torch.Tensor | None, batch_shape: tuple[int, ...]) -> None:
    """Proposed: the lines below go at the top of ``Lifter._check_values``."""
    if missing is None:
        x = _numpy_view(flat)
        if x is not None and _plainly_valid(x):
            return  # the exact checks below would pass; they run (and explain) only otherwise
    return _ORIGINAL["check"](self, flat, missing, batch_shape)


def chain_height(X: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """Body height ``(*batch,)``: bone lengths summed from the head to each foot, averaged.

    For a standing person this is stature minus the foot and the scalp above the head
    joint (a few centimetres).
    """
    if not skeleton.height_chains:
        raise ValueError(f"layout {skeleton.name!r} defines no height chains")
    n = X.shape[-2]
    length = max(len(chain) for chain in skeleton.height_chains)
    # -1 (the root point) is row n of X with the root appended; a short chain repeats
    # its last point, adding bones of length zero.
    index = [
        [n if j < 0 else j for j in chain] + [n if chain[-1] < 0 else chain[-1]] * (length - len(chain))
        for chain in skeleton.height_chains
    ]
    pts = torch.cat([X, geometry.root_point(X, skeleton)], dim=-2)[..., index, :]  # (*batch, chains, length, D)
    return (pts[..., 1:, :] - pts[..., :-1, :]).norm(dim=-1).sum(dim=-1).mean(dim=-1)


# the current implementations, captured at import: the screens fall back to them
_ORIGINAL: dict[str, Any] = {
    "lift": Lifter.lift,
    "missing": Lifter._missing,
    "check": Lifter._check_values,
    "chain": geometry.chain_height,
}
_PROPOSED: dict[str, Any] = {"lift": lift, "missing": _missing, "check": _check_values, "chain": chain_height}


def _install(impl: dict[str, Any]) -> None:
    Lifter.lift = impl["lift"]
    Lifter._missing = impl["missing"]
    Lifter._check_values = impl["check"]
    geometry.chain_height = impl["chain"]


def apply() -> None:
    """Monkeypatch the proposed bodies into poselift (before any ONNX export)."""
    _install(_PROPOSED)


def revert() -> None:
    """Put the current implementations back."""
    _install(_ORIGINAL)
