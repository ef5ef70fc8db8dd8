"""What a lifter's training run reports: validation scores, the rule that selected its
checkpoint, and how it was supervised, in the words its model card uses."""

from __future__ import annotations

import numpy as np

from ..evaluation.cmu import VALIDATION_CLIPS
from ..evaluation.data import PoseSet
from ..lifter import Lifter
from .config import TrainConfig

__all__ = ["validation_scores", "selected_by", "supervision"]


def validation_scores(lifter: Lifter, val: PoseSet, extra_val: dict[str, PoseSet]) -> dict[str, float]:
    """Validation P-MPJPE etc. on ``val`` (``val_*``) and on each extra set (``val_<name>_*``),
    and the selection score ``val_select``: the mean P-MPJPE over all of them."""
    from ..evaluation.evaluate import evaluate_poses

    r = evaluate_poses(lifter, val)["average_over_frames"]
    out = {f"val_{k}": v for k, v in r.items()}
    scores = [out["val_p_mpjpe"]]
    for name, poses in extra_val.items():
        r = evaluate_poses(lifter, poses)["average_over_actions"]
        out.update({f"val_{name}_{k}": v for k, v in r.items()})
        scores.append(r["p_mpjpe"])
    out["val_select"] = float(np.mean(scores))
    return out


def selected_by(config: TrainConfig, val: PoseSet | None, extra_val: dict[str, PoseSet]) -> str:
    """The selection rule of a run, for its model card."""
    if val is not None and val.pose3d is None:
        return "self-consistency (lift-rotate-project-lift 2D error) on held-out 2D, no 3D"
    sets = ["+".join(config.data.val_subjects)] + [
        "CMU clips " + "+".join(VALIDATION_CLIPS) if name == "cmu" else name for name in extra_val
    ]
    return "validation P-MPJPE on " + (sets[0] if len(sets) == 1 else "the mean of " + " and ".join(sets))


def supervision(config: TrainConfig) -> str:
    """How a run was supervised, in the words its model card uses."""
    d, w = config.data, config.loss
    if w.supervised > 0:
        share = ", ".join(f"every {n}th frame of {s}" for s, n in d.labelled.items())
        return f"SEMI-SUPERVISED: 3D labels of {share}; everything else without 3D labels"
    if (w.cross_view > 0 or w.cross_view_3d > 0) and d.extra:
        return "multi-view 2D with calibrated cameras and unpaired in-the-wild 2D, no 3D labels"
    if w.cross_view > 0 or w.cross_view_3d > 0:
        return "multi-view 2D with calibrated cameras, no 3D labels"
    return "single-view 2D only, no 3D labels"
