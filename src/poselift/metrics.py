"""Pose-error metrics, vectorised over any leading batch dimensions.

All take ``pred`` and ``target`` of shape ``(*batch, N, 3)`` (numpy or torch) in the same
unit and return per-pose values ``(*batch,)`` as numpy float64; take ``.mean()`` for the
usual averages. MPJPE, N-MPJPE, PCK and AUC compare poses root-relative: each is centred
on the root of ``skeleton`` first (the pelvis, or the mid-point of the hips for layouts
without a pelvis joint); pass ``skeleton=None`` for poses that are already root-relative.
P-MPJPE aligns by rotation, translation and scale (Procrustes). Needs torch (the
alignments are :mod:`poselift.geometry`'s).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._arrays import to_numpy
from .errors import ShapeError, require
from .geometry import procrustes_align, root_point, scale_align
from .skeleton import Skeleton, get_skeleton

torch = require("torch", "torch")

__all__ = ["mpjpe", "n_mpjpe", "p_mpjpe", "pck", "auc"]


def _pair(pred: Any, target: Any, skeleton: Skeleton | str | None) -> tuple[torch.Tensor, torch.Tensor]:
    p = torch.from_numpy(to_numpy(pred).astype(np.float64))
    t = torch.from_numpy(to_numpy(target).astype(np.float64))
    if p.shape != t.shape or p.ndim < 2 or p.shape[-1] != 3:
        raise ShapeError(f"pred and target must both have shape (..., N, 3); got {tuple(p.shape)} and {tuple(t.shape)}")
    if skeleton is not None:
        skel = get_skeleton(skeleton)
        if p.shape[-2] != skel.num_joints:
            raise ShapeError(f"poses have {p.shape[-2]} joints but skeleton {skel.name!r} has {skel.num_joints}")
        p = p - root_point(p, skel)
        t = t - root_point(t, skel)
    return p, t


def _per_pose(p: torch.Tensor, t: torch.Tensor) -> np.ndarray:
    return (p - t).norm(dim=-1).mean(dim=-1).numpy()


def mpjpe(pred: Any, target: Any, skeleton: Skeleton | str | None) -> np.ndarray:
    """Mean per-joint position error after aligning the roots of ``skeleton`` (``None``: no alignment)."""
    return _per_pose(*_pair(pred, target, skeleton))


def n_mpjpe(pred: Any, target: Any, skeleton: Skeleton | str | None) -> np.ndarray:
    """MPJPE after the least-squares scale of ``pred`` onto ``target`` (Rhodin et al. 2018)."""
    p, t = _pair(pred, target, skeleton)
    return _per_pose(scale_align(p, t), t)


def p_mpjpe(pred: Any, target: Any) -> np.ndarray:
    """MPJPE after Procrustes alignment (rotation, translation and scale)."""
    p, t = _pair(pred, target, None)
    return _per_pose(procrustes_align(p, t, scale=True), t)


def pck(pred: Any, target: Any, skeleton: Skeleton | str | None, threshold: float = 150.0) -> np.ndarray:
    """Fraction of joints within ``threshold`` (same unit as the poses, default 150 mm)."""
    p, t = _pair(pred, target, skeleton)
    return ((p - t).norm(dim=-1) <= threshold).double().mean(dim=-1).numpy()


def auc(pred: Any, target: Any, skeleton: Skeleton | str | None, max_threshold: float = 150.0, steps: int = 31) -> np.ndarray:
    """Area under the PCK curve for thresholds ``0 .. max_threshold`` (``steps`` values), in [0, 1]."""
    p, t = _pair(pred, target, skeleton)
    err = (p - t).norm(dim=-1)
    thresholds = torch.linspace(0.0, max_threshold, steps, dtype=err.dtype)
    return (err[..., None] <= thresholds).double().mean(dim=(-2, -1)).numpy()
