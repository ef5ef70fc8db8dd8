"""A recipe's training data: the training and validation poses, the unpaired 2D of
``data.extra``, and the scale module's prior measured on the training subjects' 3D."""

from __future__ import annotations

import logging

import torch

from .. import geometry
from ..evaluation.data import PoseSet
from ..skeleton import get_skeleton
from . import losses as L
from .config import TrainConfig
from .multiview import MultiViewSet

__all__ = ["load_data", "load_unpaired", "scale_prior"]

logger = logging.getLogger(__name__)


def load_data(config: TrainConfig) -> tuple[PoseSet | MultiViewSet, PoseSet | None]:
    """Training poses and (optionally) validation poses for a recipe."""
    from .sources import load_keypoints

    d = config.data
    skeleton = config.lifter.skeleton
    val = None
    if d.source == "h36m":
        from ..evaluation.h36m import load_h36m

        fix = None
        if d.correction:
            from ..correction import load_correction

            fix = load_correction("mpii16", skeleton)
        if d.multiview:
            from .multiview import load_h36m_multiview

            train = load_h36m_multiview(
                d.path, d.subjects, inputs=d.inputs, target=d.target, stride=d.stride, correction=fix, labelled=d.labelled,
            )
        else:
            train = load_h36m(d.path, d.subjects, inputs=d.inputs, stride=d.stride, skeleton=skeleton, with_3d=False)
            if fix is not None:
                train.kp2d = fix.correct_complete(train.kp2d)
        if d.val_subjects:
            val = load_h36m(d.path, d.val_subjects, inputs=d.inputs, stride=d.val_stride, skeleton=skeleton)
            if fix is not None:
                val.kp2d = fix.correct_complete(val.kp2d)
    else:
        train = load_keypoints(d.path, target=skeleton, layout=d.layout, min_confidence=d.min_confidence)
    if d.extra and not d.multiview:
        train = train.with_untimed(*load_unpaired(config))
    return train, val


def load_unpaired(config: TrainConfig) -> list[PoseSet]:
    """The poses of every ``data.extra`` source in the lifter's layout (pixels, complete poses)."""
    from .sources import load_keypoints

    skeleton = config.lifter.skeleton
    out = [load_keypoints(e.path, target=skeleton, layout=e.layout, min_confidence=e.min_confidence) for e in config.data.extra]
    logger.info("extra unpaired 2D (adapted): %s poses", [len(e) for e in out])
    return out


def scale_prior(path: str | None, subjects: list[str], c: float, skeleton: str) -> tuple[float, float]:
    """Mean and standard deviation of the log reference scale (Yu et al.) over the training subjects' 3D."""
    from ..evaluation.h36m import load_h36m

    poses = load_h36m(path, subjects, stride=10, skeleton=skeleton, with_3d=True)
    P = torch.from_numpy(poses.pose3d).double()
    sk = get_skeleton(skeleton)
    P = P - geometry.root_point(P, sk)
    log_s = L.reference_scale(P, sk, c).log()
    return float(log_s.mean()), float(log_s.std())
