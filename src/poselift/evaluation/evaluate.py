"""Human3.6M evaluation: MPJPE, N-MPJPE and P-MPJPE per action and on average."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from .. import metrics
from ..lifter import Lifter
from ..skeleton import get_skeleton
from .data import PoseSet
from ..errors import DataError, InvalidArgumentError

__all__ = ["evaluate_poses", "format_table"]


def evaluate_poses(
    lifter: Lifter,
    poses: PoseSet,
    *,
    batch_size: int | None = None,
    sequence: Literal["offline", "causal"] | None = None,
    smooth: Literal["offline", "causal"] | None = None,
    fps: float = 50.0,
) -> dict[str, Any]:
    """Lift ``poses.kp2d`` and compare with ``poses.pose3d`` (mm), per action and overall.

    MPJPE uses the lifter's metric output (default body height); N-MPJPE rescales
    each pose by least squares; P-MPJPE aligns rotation, translation and scale; the
    acceleration error is the mean per-joint distance between the second differences over
    consecutive rows of each sequence (root-relative, mm/frame^2). Averages are over
    actions (the usual protocol) and over all frames.

    ``sequence``: lift each (sequence, camera) as one clip with :meth:`Lifter.lift_sequence`
    (frames in order at ``fps``); ``smooth``: lift each frame, then smooth each clip with
    :func:`poselift.smooth.smooth_poses` (One-Euro, median bone lengths), the post-hoc baseline.
    """
    if poses.pose3d is None:
        raise DataError("evaluation needs 3D poses")
    if sequence is not None and smooth is not None:
        raise InvalidArgumentError("pass sequence= or smooth=, not both")
    skeleton = get_skeleton(poses.skeleton)
    if sequence is None:
        pred = lifter.lift(poses.kp2d, poses.confidence, batch_size=batch_size).astype(np.float64)
    else:
        pred = np.full((*poses.kp2d.shape[:-1], 3), np.nan)  # rows outside any sequence: not lifted
    accel = np.full(len(poses), np.nan)
    gt = poses.pose3d.astype(np.float64)
    for s in np.unique(poses.seq[poses.seq >= 0]):
        rows = np.flatnonzero(poses.seq == s)
        rows = rows[np.argsort(poses.frame[rows], kind="stable")]
        if sequence is not None:
            conf = None if poses.confidence is None else poses.confidence[rows]
            pred[rows] = lifter.lift_sequence(poses.kp2d[rows], conf, fps=fps, causal=sequence == "causal", batch_size=batch_size)
        elif smooth is not None:
            from ..smooth import smooth_poses

            pred[rows] = smooth_poses(pred[rows], skeleton, fps, mode=smooth)
        if len(rows) >= 3:
            p = pred[rows] * 1000.0 - pred[rows][:, list(skeleton.root)].mean(axis=1, keepdims=True) * 1000.0
            g = gt[rows] - gt[rows][:, list(skeleton.root)].mean(axis=1, keepdims=True)
            ap, ag = (a[2:] - 2 * a[1:-1] + a[:-2] for a in (p, g))
            accel[rows[1:-1]] = np.linalg.norm(ap - ag, axis=-1).mean(axis=-1)
    pred *= 1000.0
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


def format_table(result: dict[str, Any]) -> str:
    """A plain-text per-action table of a result of :func:`evaluate_poses`."""
    lines = [f"{'action':<14}{'frames':>9}{'MPJPE':>9}{'N-MPJPE':>9}{'P-MPJPE':>9}{'Accel':>9}"]
    for action, row in result["actions"].items():
        lines.append(f"{action:<14}{row['frames']:>9}{row['mpjpe']:>9.1f}{row['n_mpjpe']:>9.1f}{row['p_mpjpe']:>9.1f}{row['accel']:>9.2f}")
    for label, key in (("avg(actions)", "average_over_actions"), ("avg(frames)", "average_over_frames")):
        r = result[key]
        lines.append(f"{label:<14}{result['frames']:>9}{r['mpjpe']:>9.1f}{r['n_mpjpe']:>9.1f}{r['p_mpjpe']:>9.1f}{r['accel']:>9.2f}")
    return "\n".join(lines)
