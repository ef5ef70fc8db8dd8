"""The evaluation protocol on lifted poses: MPJPE, N-MPJPE, P-MPJPE and the acceleration
error against a :class:`~.data.PoseSet`'s 3D, per action and on average.

It scores predictions, whatever lifted them, so it sits below the lifter:
:func:`poselift.evaluation.evaluate.evaluate_poses` lifts a set with a
:class:`~poselift.lifter.Lifter` and scores it here, and training validates its lifters here.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from .. import metrics
from ..errors import DataError, ShapeError
from ..skeleton import get_skeleton
from .data import PoseSet

__all__ = ["score_lift", "score_poses", "sequence_rows"]


def sequence_rows(poses: PoseSet) -> Iterator[np.ndarray]:
    """The rows of each sequence of ``poses`` (``seq`` >= 0), in frame order."""
    for s in np.unique(poses.seq[poses.seq >= 0]):
        rows = np.flatnonzero(poses.seq == s)
        yield rows[np.argsort(poses.frame[rows], kind="stable")]


def score_poses(pred: Any, poses: PoseSet) -> dict[str, Any]:
    """Compare lifted poses ``pred`` ``(M, N, 3)`` in metres (one row per row of ``poses``) with
    ``poses.pose3d`` (mm), per action and overall.

    MPJPE compares the poses as lifted (metric, for the lifter's body height); N-MPJPE
    rescales each pose by least squares; P-MPJPE aligns rotation, translation and scale; the
    acceleration error is the mean per-joint distance between the second differences over
    consecutive rows of each sequence (root-relative, mm/frame^2). Averages are over actions
    (the usual protocol) and over all frames.

    Returns ``{"actions": {action: {metric: value, "frames": n}}, "average_over_actions": {...},
    "average_over_frames": {...}, "frames": M}``.
    """
    if poses.pose3d is None:
        raise DataError("evaluation needs 3D poses")
    pred = np.asarray(pred, dtype=np.float64)
    if pred.shape != poses.pose3d.shape:
        raise ShapeError(f"pred must have the shape of poses.pose3d, {poses.pose3d.shape}; got {pred.shape}")
    skeleton = get_skeleton(poses.skeleton)
    accel = np.full(len(poses), np.nan)
    gt = poses.pose3d.astype(np.float64)
    for rows in sequence_rows(poses):
        if len(rows) >= 3:
            p = (pred[rows] - skeleton.root_point(pred[rows], keepdims=True)) * 1000.0
            g = gt[rows] - skeleton.root_point(gt[rows], keepdims=True)
            ap, ag = (a[2:] - 2 * a[1:-1] + a[:-2] for a in (p, g))
            accel[rows[1:-1]] = np.linalg.norm(ap - ag, axis=-1).mean(axis=-1)
    pred = pred * 1000.0
    per = {
        "mpjpe": metrics.mpjpe(pred, poses.pose3d, skeleton),
        "n_mpjpe": metrics.n_mpjpe(pred, poses.pose3d, skeleton),
        "p_mpjpe": metrics.p_mpjpe(pred, poses.pose3d),
        "accel": accel,
    }
    actions = np.array([poses.action_of(int(s)) for s in range(len(poses.names))])[poses.seq]
    table = {}
    for action in sorted(set(actions.tolist())):
        m = actions == action
        table[action] = {k: float(np.nanmean(v[m])) for k, v in per.items()} | {"frames": int(m.sum())}
    return {
        "actions": table,
        "average_over_actions": {k: float(np.mean([row[k] for row in table.values()])) for k in per},
        "average_over_frames": {k: float(np.nanmean(v)) for k, v in per.items()},
        "frames": int(len(poses)),
    }


def score_lift(lifter: Any, poses: PoseSet, *, batch_size: int | None = None) -> dict[str, Any]:
    """Lift ``poses.kp2d`` (with ``poses.confidence``) per frame with ``lifter`` (a
    :class:`~poselift.lifter.Lifter`, or anything with its ``lift``) and :func:`score_poses` the
    result."""
    return score_poses(lifter.lift(poses.kp2d, poses.confidence, batch_size=batch_size), poses)
