"""Proposed speed-ups for the lift path, applied by monkeypatching (benchmarks only).

These are the exact bodies proposed for ``src/poselift/lifter.py`` and
``src/poselift/geometry.py``; ``bench_lift.py --proposed`` measures their effect.
Nothing in the library imports this file.

1. ``Lifter._missing`` and ``Lifter._check_values`` in numpy instead of torch: the same
   checks, messages and order, but about twenty torch dispatches (several microseconds
   each on a single pose) become numpy calls on a zero-copy view (about a microsecond
   each); the mask goes to torch only when a joint is actually missing.
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
from poselift.errors import DegeneratePoseError, MissingJointsError, NonFiniteError, ShapeError
from poselift.lifter import Lifter, check_keypoints
from poselift.skeleton import Skeleton


def _unravel(index: int, batch_shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(index, batch_shape)) if batch_shape else ()


def _joint_names(self, mask: np.ndarray, row: int) -> list[str]:
    return [self.skeleton.joints[j] for j in np.flatnonzero(mask[row])]


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
    """``(B, N)`` bool mask of joints below the confidence threshold, or ``None``."""
    if confidence is None:
        return None
    n = self.skeleton.num_joints
    if torch.is_tensor(confidence):
        conf = confidence.detach().cpu().to(torch.float64).numpy()
    else:
        conf = np.asarray(confidence)
    if tuple(conf.shape) != (*batch_shape, n):
        raise ShapeError(f"confidence must have shape {(*batch_shape, n)} to match keypoints; got {tuple(conf.shape)}.")
    missing = ~(conf.reshape(-1, n) >= self.config.confidence_threshold)  # NaN confidence counts as missing
    if not missing.any():
        return None
    visible = (~missing).sum(axis=-1)
    if self.completion is None:
        row = int(np.argmax(missing.any(axis=-1)))
        raise MissingJointsError(
            f"pose {_unravel(row, batch_shape)} has joints below confidence {self.config.confidence_threshold}: "
            f"{_joint_names(self, missing, row)}. This model cannot fill missing joints (it has no "
            "completion network): load one that has (e.g. the released poselift/h36m-17) or drop those poses."
        )
    too_few = visible < self.config.completion.min_visible
    if too_few.any():
        row = int(np.argmax(too_few))
        raise MissingJointsError(
            f"pose {_unravel(row, batch_shape)} has only {int(visible[row])} "
            f"of {n} joints above confidence {self.config.confidence_threshold}; at least "
            f"{self.config.completion.min_visible} are needed to fill the rest "
            f"({int(too_few.sum())} such pose(s)). Drop those poses."
        )
    return torch.from_numpy(missing).to(device)


def _check_values(self, flat: torch.Tensor, missing: torch.Tensor | None, batch_shape: tuple[int, ...]) -> None:
    # numpy on a zero-copy view: on a single pose each torch call costs more than its work
    xs = flat.detach().cpu().numpy()
    miss = missing.cpu().numpy() if missing is not None else None
    finite = np.isfinite(xs).all(axis=-1)
    bad = ~finite if miss is None else ~finite & ~miss
    if bad.any():
        bad_pose = bad.any(axis=-1)
        row = int(np.argmax(bad_pose))
        raise NonFiniteError(
            f"keypoints contain NaN or infinite values in {int(bad_pose.sum())} pose(s), first at index "
            f"{_unravel(row, batch_shape)} (joints {_joint_names(self, bad, row)}). "
            "Mark undetected joints with confidence 0 (confidence=...) instead of NaN."
        )
    if miss is not None:
        seen = ~miss
        xs = np.where(seen[..., None], xs, np.float32(0.0))
        centre = xs.sum(axis=-2, keepdims=True) / seen.sum(axis=-1)[:, None, None]
        dev = (xs - centre) * seen[..., None]
    else:
        dev = xs - xs.mean(axis=-2, keepdims=True)
    spread = np.sqrt(np.einsum("bnk,bnk->b", dev, dev))
    magnitude = np.maximum(np.abs(xs).max(axis=(-1, -2)), 1.0)
    degenerate = spread <= 1e-6 * magnitude
    if degenerate.any():
        raise DegeneratePoseError(
            f"pose {_unravel(int(np.argmax(degenerate)), batch_shape)} is degenerate: all its joints lie at one point, "
            f"so it has no shape to lift. Check the detector output ({int(degenerate.sum())} such pose(s))."
        )


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


_ORIGINAL: dict[str, Any] = {}


def apply() -> None:
    """Monkeypatch the proposed bodies into poselift (before any ONNX export)."""
    if _ORIGINAL:
        return
    _ORIGINAL.update(lift=Lifter.lift, missing=Lifter._missing, check=Lifter._check_values, chain=geometry.chain_height)
    Lifter.lift = lift
    Lifter._missing = _missing
    Lifter._check_values = _check_values
    geometry.chain_height = chain_height


def revert() -> None:
    if not _ORIGINAL:
        return
    Lifter.lift = _ORIGINAL.pop("lift")
    Lifter._missing = _ORIGINAL.pop("missing")
    Lifter._check_values = _ORIGINAL.pop("check")
    geometry.chain_height = _ORIGINAL.pop("chain")
