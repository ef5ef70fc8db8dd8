"""Pose-error metrics, vectorised over any leading batch dimensions.

All take ``pred`` and ``target`` of shape ``(*batch, N, 3)`` (numpy or torch) in the same
unit and return per-pose values ``(*batch,)`` as numpy float64; take ``.mean()`` for the
usual averages. Poses are compared root-relative (each is centred on ``root`` first) for
MPJPE and N-MPJPE; P-MPJPE aligns by rotation, translation and scale (Procrustes).
"""

from __future__ import annotations

import numpy as np
import torch

from .errors import ShapeError
from .geometry import procrustes_align, scale_align

__all__ = ["mpjpe", "n_mpjpe", "p_mpjpe", "pck", "auc"]


def _pair(pred, target, root: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    p = torch.as_tensor(np.asarray(pred) if not torch.is_tensor(pred) else pred).detach().cpu().double()
    t = torch.as_tensor(np.asarray(target) if not torch.is_tensor(target) else target).detach().cpu().double()
    if p.shape != t.shape or p.ndim < 2 or p.shape[-1] != 3:
        raise ShapeError(f"pred and target must both have shape (..., N, 3); got {tuple(p.shape)} and {tuple(t.shape)}")
    if root is not None:
        p = p - p[..., root : root + 1, :]
        t = t - t[..., root : root + 1, :]
    return p, t


def _per_pose(p: torch.Tensor, t: torch.Tensor) -> np.ndarray:
    return (p - t).norm(dim=-1).mean(dim=-1).numpy()


def mpjpe(pred, target, root: int | None = 0) -> np.ndarray:
    """Mean per-joint position error after root alignment (``root=None``: no alignment)."""
    return _per_pose(*_pair(pred, target, root))


def n_mpjpe(pred, target, root: int | None = 0) -> np.ndarray:
    """MPJPE after the least-squares scale of ``pred`` onto ``target`` (Rhodin et al. 2018)."""
    p, t = _pair(pred, target, root)
    return _per_pose(scale_align(p, t), t)


def p_mpjpe(pred, target) -> np.ndarray:
    """MPJPE after Procrustes alignment (rotation, translation and scale)."""
    p, t = _pair(pred, target, None)
    return _per_pose(procrustes_align(p, t, scale=True), t)


def pck(pred, target, threshold: float = 150.0, root: int | None = 0) -> np.ndarray:
    """Fraction of joints within ``threshold`` (same unit as the poses, default 150 mm)."""
    p, t = _pair(pred, target, root)
    return ((p - t).norm(dim=-1) <= threshold).double().mean(dim=-1).numpy()


def auc(pred, target, max_threshold: float = 150.0, steps: int = 31, root: int | None = 0) -> np.ndarray:
    """Area under the PCK curve for thresholds ``0 .. max_threshold`` (``steps`` values), in [0, 1]."""
    p, t = _pair(pred, target, root)
    err = (p - t).norm(dim=-1)
    thresholds = torch.linspace(0.0, max_threshold, steps, dtype=err.dtype)
    return (err[..., None] <= thresholds).double().mean(dim=(-2, -1)).numpy()
