"""Train from a recipe (:func:`train`, what ``poselift train`` runs): its data (the training
and validation poses, the unpaired 2D of ``data.extra``, the scale module's prior measured on
the training subjects' 3D), then the lifter's :class:`~.trainer.Trainer` on the one loop."""

from __future__ import annotations

import logging
import os

import torch

from .. import geometry
from ..evaluation.data import PoseSet
from ..lifter import Lifter
from ..skeleton import get_skeleton
from . import losses as L
from .config import TrainConfig
from .multiview import MultiViewSet
from .trainer import Trainer

__all__ = ["train", "load_data", "load_unpaired", "scale_prior"]

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

def train(config: TrainConfig, run_dir: str | os.PathLike, *, resume: bool = True) -> Lifter:
    """Load the recipe's data, train, and export ``run_dir/final`` (and ``run_dir/best``)."""
    distributed = int(os.environ.get("WORLD_SIZE", 1)) > 1
    if distributed:
        import torch.distributed as dist

        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    try:
        prior = None
        if config.loss.scale_kl > 0 and config.data.source == "h36m":
            prior = scale_prior(config.data.path, config.data.subjects, config.lifter.c, config.lifter.skeleton)
            logger.info("scale prior from the training subjects' 3D: log mean %.4f, std %.4f", *prior)
        train_set, val_set = load_data(config)
        unpaired = load_unpaired(config) if config.data.multiview and config.data.extra else None
        extra_val = None
        if config.data.cmu_val:
            from ..evaluation.cmu import load_cmu

            extra_val = {"cmu": load_cmu(config.data.cmu_path, "val")}
        trainer = Trainer(config, train_set, run_dir=run_dir, val=val_set, scale_prior=prior, unpaired=unpaired, extra_val=extra_val)
        return trainer.fit(resume=resume)
    finally:
        if distributed:
            import torch.distributed as dist

            dist.destroy_process_group()
