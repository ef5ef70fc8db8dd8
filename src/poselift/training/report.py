"""What a lifter's training run states in its model card: the rule that selected its
checkpoint, and how it was supervised."""

from __future__ import annotations

from typing import Any

from ..evaluation.cmu import VALIDATION_CLIPS
from ..evaluation.data import PoseSet

__all__ = ["selected_by", "supervision", "card_metadata"]


def selected_by(config: Any, val: PoseSet | None, extra_val: dict[str, PoseSet]) -> str:
    """The selection rule of a run, for its model card."""
    if val is not None and val.pose3d is None:
        return "self-consistency (lift-rotate-project-lift 2D error) on held-out 2D, no 3D"
    sets = ["+".join(config.data.val_subjects)] + [
        "CMU clips " + "+".join(VALIDATION_CLIPS) if name == "cmu" else name for name in extra_val
    ]
    return "validation P-MPJPE on " + (sets[0] if len(sets) == 1 else "the mean of " + " and ".join(sets))


def supervision(config: Any) -> str:
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


def card_metadata(config: Any, scale_prior: tuple[tuple[float, float], str] | None) -> dict[str, Any]:
    """The supervision statement of a run's model card, with the scale module's prior
    (``((log mean, log std), source)``) when it has one."""
    meta: dict[str, Any] = {"supervision": supervision(config)}
    if scale_prior is not None:
        (mean, std), source = scale_prior
        meta["scale_prior"] = {"log_mean": mean, "log_std": std, "source": source}
        if source.startswith("measured"):
            meta["supervision"] += " (the scale module's prior: two numbers of the training subjects' 3D statistics)"
    return meta
