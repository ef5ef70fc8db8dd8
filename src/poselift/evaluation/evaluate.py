"""Human3.6M evaluation: MPJPE, N-MPJPE and P-MPJPE per action and on average."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import metrics
from ..lifter import Lifter
from ..skeleton import get_skeleton
from .data import PoseSet

__all__ = ["evaluate_poses", "format_table"]


def evaluate_poses(lifter: Lifter, poses: PoseSet, *, batch_size: int = 65536) -> dict[str, Any]:
    """Lift ``poses.kp2d`` and compare with ``poses.pose3d`` (mm), per action and overall.

    MPJPE uses the lifter's metric output (default body height); N-MPJPE rescales
    each pose by least squares; P-MPJPE aligns rotation, translation and scale.
    Averages are over actions (the usual protocol) and over all frames.
    """
    if poses.pose3d is None:
        raise ValueError("evaluation needs 3D poses")
    skeleton = get_skeleton(poses.skeleton)
    pred = (lifter.lift(poses.kp2d, poses.confidence, batch_size=batch_size) * 1000.0).astype(np.float64)
    per = {
        "mpjpe": metrics.mpjpe(pred, poses.pose3d, skeleton),
        "n_mpjpe": metrics.n_mpjpe(pred, poses.pose3d, skeleton),
        "p_mpjpe": metrics.p_mpjpe(pred, poses.pose3d),
    }
    actions = np.array([poses.action_of(int(s)) for s in range(len(poses.names))])[poses.seq]
    table = {}
    for action in sorted(set(actions.tolist())):
        m = actions == action
        table[action] = {k: float(v[m].mean()) for k, v in per.items()} | {"frames": int(m.sum())}
    return {
        "actions": table,
        "average_over_actions": {k: float(np.mean([row[k] for row in table.values()])) for k in per},
        "average_over_frames": {k: float(v.mean()) for k, v in per.items()},
        "frames": int(len(poses)),
    }


def format_table(result: dict[str, Any]) -> str:
    """A plain-text per-action table of a result of :func:`evaluate_poses`."""
    lines = [f"{'action':<14}{'frames':>9}{'MPJPE':>9}{'N-MPJPE':>9}{'P-MPJPE':>9}"]
    for action, row in result["actions"].items():
        lines.append(f"{action:<14}{row['frames']:>9}{row['mpjpe']:>9.1f}{row['n_mpjpe']:>9.1f}{row['p_mpjpe']:>9.1f}")
    for label, key in (("avg(actions)", "average_over_actions"), ("avg(frames)", "average_over_frames")):
        r = result[key]
        lines.append(f"{label:<14}{result['frames']:>9}{r['mpjpe']:>9.1f}{r['n_mpjpe']:>9.1f}{r['p_mpjpe']:>9.1f}")
    return "\n".join(lines)
