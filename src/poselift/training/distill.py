"""Distil a lifter into a smaller one (no 3D: the student regresses the teacher's depths).

The released default ships inside the wheel, so it must be small and fast; a wide teacher
trained with the unsupervised recipe is distilled into a narrower student on the same
training 2D (and its mirror images). Model selection on the held-out subject S8 only.
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import torch

from .. import geometry
from ..lifter import Lifter
from ..errors import PoseliftError
from ..nets import LifterNet

__all__ = ["distill"]

logger = logging.getLogger(__name__)


def distill(
    teacher: Lifter,
    kp2d: np.ndarray,
    *,
    width: int = 512,
    blocks: int = 2,
    steps: int = 3000,
    batch_size: int = 1024,
    lr: float = 1e-3,
    seed: int = 0,
    val=None,
    val_every: int = 500,
) -> tuple[Lifter, list[dict]]:
    """Train a ``width x blocks`` student on ``kp2d`` (pixels) to reproduce ``teacher``'s depths.

    With ``val`` (a :class:`~poselift.evaluation.data.PoseSet` with 3D of a held-out training
    subject), the student with the best validation P-MPJPE is returned.
    """
    from ..evaluation.evaluate import evaluate_poses

    if teacher.config.head != "depth":
        raise PoseliftError(f"distillation copies depth offsets; the teacher has a {teacher.config.head!r} head")
    cfg = teacher.config.model_copy(update={"width": width, "blocks": blocks, "dropout": 0.0})
    student_net = LifterNet(cfg)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    skeleton = teacher.skeleton
    x_all = geometry.normalize_2d(torch.from_numpy(np.ascontiguousarray(kp2d, dtype=np.float32)), skeleton, cfg.c, cfg.scale_mode)[0]
    opt = torch.optim.Adam(student_net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    teacher_net = teacher.pipeline.eval()
    history: list[dict] = []
    best: tuple[float, dict] | None = None
    for step in range(1, steps + 1):
        x = x_all[torch.randint(len(x_all), (batch_size,), generator=gen)]
        mirror = torch.rand(batch_size, generator=gen) < 0.5
        x = torch.where(mirror[:, None, None], geometry.mirror(x, skeleton), x)
        with torch.no_grad():
            target = teacher_net.depths(x)
        student_net.train()
        loss = (student_net(x) - target).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if val is not None and (step % val_every == 0 or step == steps):
            student = Lifter(cfg, copy.deepcopy(student_net).eval())
            r = evaluate_poses(student, val)["average_over_frames"]
            history.append({"step": step, "loss": float(loss.detach()), **{f"val_{k}": v for k, v in r.items()}})
            logger.info("distil step %d: %s", step, history[-1])
            if best is None or r["p_mpjpe"] < best[0]:
                best = (r["p_mpjpe"], copy.deepcopy(student_net.state_dict()))
    if best is not None:
        student_net.load_state_dict(best[1])
    return Lifter(cfg, student_net.eval()), history
