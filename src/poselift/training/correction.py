"""Train 2D domain corrections without correspondences (Chen et al. 2019, eq. 7).

Source: real 2D of another convention, mapped geometrically to the lifter layout
(:func:`poselift.adapt.adapt_layout`). Target: Human3.6M training-subject 2D. Batches of the
two are drawn independently (no pairs). The corrector ``C`` (residual MLP with BatchNorm)
gives ``x_sc = x_s + C(x_s)``; a discriminator ``D`` (LSGAN) tells ``x_sc`` from target
poses, and ``lambda |C(x_s)|^2`` keeps corrections small. Model selection uses the held-out
training subject S8 only.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from .. import geometry
from ..adapt import adapt_layout
from ..config import CorrectionConfig
from ..correction import LearnedCorrection
from ..nets import CorrectionNet, ResidualMLP
from ..skeleton import get_skeleton

__all__ = ["train_correction", "wild_source", "h36m_detections", "s8_effect"]

logger = logging.getLogger(__name__)


def _lsgan(logits: torch.Tensor, real: bool) -> torch.Tensor:
    return 0.5 * (logits - (1.0 if real else 0.0)).square().mean()


def train_correction(
    source: np.ndarray,
    target: np.ndarray,
    config: CorrectionConfig,
    *,
    steps: int = 2000,
    batch_size: int = 1024,
    lam: float = 10.0,
    lr: float = 2e-4,
    seed: int = 0,
) -> LearnedCorrection:
    """Fit ``C`` on complete source poses and target poses, both ``(M, N, 2)`` in the target layout."""
    skeleton = get_skeleton(config.target)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)

    def norm(a: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
        return geometry.normalize_2d(x, skeleton, config.c, config.scale_mode)[0]

    xs_all, xt_all = norm(source), norm(target)
    C = CorrectionNet(config)
    n = skeleton.num_joints
    D = ResidualMLP(2 * n, 1, 256, 2, batchnorm=False)
    opt_c = torch.optim.Adam(C.parameters(), lr=lr, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.9))
    c = config.c
    C.train()
    for step in range(steps):
        xs = xs_all[torch.randint(len(xs_all), (batch_size,), generator=gen)]
        xt = xt_all[torch.randint(len(xt_all), (batch_size,), generator=gen)]
        delta = C.delta(xs)
        x_sc = xs + delta
        loss_c = _lsgan(D((x_sc * c).flatten(1)), True) + lam * (delta * c).square().sum(-1).mean()
        opt_c.zero_grad(set_to_none=True)
        loss_c.backward()
        opt_c.step()
        loss_d = _lsgan(D((xt * c).flatten(1)), True) + _lsgan(D((x_sc.detach() * c).flatten(1)), False)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        if (step + 1) % 250 == 0:
            size = float((delta.detach() * c).norm(dim=-1).mean())
            logger.info("correction step %d: C %.4f D %.4f mean |C| %.4f (pose RMS = 1)", step + 1, float(loss_c.detach()), float(loss_d.detach()), size)
    return LearnedCorrection(config, C.eval())


def h36m_detections(h36m: str | Path, subjects: list[str], target: str, stride: int = 1):
    """Stacked-Hourglass detections (MPII-16) of ``subjects`` with their GT 2D/3D (target layout)."""
    from ..evaluation.h36m import load_h36m

    return load_h36m(h36m, subjects, inputs="detected", stride=stride, skeleton=target)


def wild_source(wild: str | Path, source: str, target: str) -> np.ndarray:
    """Complete in-the-wild poses of ``source`` convention mapped to ``target`` (pixels)."""
    wild = Path(wild)
    if source == "mpii16":
        raw = np.load(wild / "mpii_valid_16j.npz")["keypoints"]
        conf = (raw[..., 0] > 0) & (raw[..., 1] > 0)
        kp = raw[..., :2]
    elif source == "openpose_coco18":
        d = np.load(wild / "kinetics_openpose_coco18.npz")
        raw = np.concatenate([d[k] for k in d.files])
        kp = raw[..., :2] * np.array([340.0, 256.0])  # x, y were normalised to the 340x256 frame
        conf = raw[..., 2]
    else:
        raise ValueError(f"no in-the-wild data for source layout {source!r}")
    adapted = adapt_layout(kp.astype(np.float32), source, conf.astype(np.float32), target=target, min_confidence=0.05)
    complete = (np.asarray(adapted.confidence) > 0).all(-1)
    return np.asarray(adapted.keypoints)[complete]


def s8_effect(model: str, correction: LearnedCorrection, h36m: str, target: str) -> dict[str, float]:
    """P-MPJPE on held-out S8 detections through a lifter, without and with the correction."""
    from ..evaluation.evaluate import evaluate_poses
    from ..evaluation.h36m import VALIDATION_SUBJECTS
    from ..lifter import Lifter

    lifter = Lifter.from_pretrained(model)
    val = h36m_detections(h36m, list(VALIDATION_SUBJECTS), target, stride=8)
    plain = evaluate_poses(lifter, val)["average_over_frames"]
    val.kp2d = correction.correct_complete(val.kp2d)
    corrected = evaluate_poses(lifter, val)["average_over_frames"]
    return {"s8_p_mpjpe_plain": plain["p_mpjpe"], "s8_p_mpjpe_corrected": corrected["p_mpjpe"],
            "s8_mpjpe_plain": plain["mpjpe"], "s8_mpjpe_corrected": corrected["mpjpe"]}
