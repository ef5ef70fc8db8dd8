"""Human3.6M evaluation of a lifter: lift a :class:`~.data.PoseSet` (per frame, as clips, or
smoothed) and score it with :func:`~.scores.score_poses` (MPJPE, N-MPJPE and P-MPJPE per
action and on average)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ..errors import DataError, InvalidArgumentError
from ..lifter import Lifter
from ..skeleton import get_skeleton
from .data import PoseSet
from .scores import score_lift, score_poses, sequence_rows

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
    """Lift ``poses.kp2d`` and compare with ``poses.pose3d`` (mm), per action and overall:
    :func:`~.scores.score_poses` of the lifted poses (MPJPE for the lifter's default body
    height, N-MPJPE, P-MPJPE, acceleration error; averages over actions and over frames).

    ``sequence``: lift each (sequence, camera) as one clip with :meth:`Lifter.lift_sequence`
    (frames in order at ``fps``); ``smooth``: lift each frame, then smooth each clip with
    :func:`poselift.smooth.smooth_poses` (One-Euro, median bone lengths), the post-hoc baseline.
    """
    if poses.pose3d is None:
        raise DataError("evaluation needs 3D poses")
    if sequence is not None and smooth is not None:
        raise InvalidArgumentError("pass sequence= or smooth=, not both")
    if sequence is None and smooth is None:
        return score_lift(lifter, poses, batch_size=batch_size)
    skeleton = get_skeleton(poses.skeleton)
    if sequence is None:
        pred = lifter.lift(poses.kp2d, poses.confidence, batch_size=batch_size).astype(np.float64)
    else:
        pred = np.full((*poses.kp2d.shape[:-1], 3), np.nan)  # rows outside any sequence: not lifted
    if sequence is not None or smooth is not None:
        for rows in sequence_rows(poses):
            if sequence is not None:
                conf = None if poses.confidence is None else poses.confidence[rows]
                pred[rows] = lifter.lift_sequence(poses.kp2d[rows], conf, fps=fps, causal=sequence == "causal", batch_size=batch_size)
            else:
                from ..smooth import smooth_poses

                pred[rows] = smooth_poses(pred[rows], skeleton, fps, mode=smooth)
    return score_poses(pred, poses)


def format_table(result: dict[str, Any]) -> str:
    """A plain-text per-action table of a result of :func:`evaluate_poses`."""
    lines = [f"{'action':<14}{'frames':>9}{'MPJPE':>9}{'N-MPJPE':>9}{'P-MPJPE':>9}{'Accel':>9}"]
    for action, row in result["actions"].items():
        lines.append(f"{action:<14}{row['frames']:>9}{row['mpjpe']:>9.1f}{row['n_mpjpe']:>9.1f}{row['p_mpjpe']:>9.1f}{row['accel']:>9.2f}")
    for label, key in (("avg(actions)", "average_over_actions"), ("avg(frames)", "average_over_frames")):
        r = result[key]
        lines.append(f"{label:<14}{result['frames']:>9}{r['mpjpe']:>9.1f}{r['n_mpjpe']:>9.1f}{r['p_mpjpe']:>9.1f}{r['accel']:>9.2f}")
    return "\n".join(lines)
