"""Distil a lifter into a smaller one (no 3D: the student regresses the teacher's depths).

The released default ships inside the wheel, so it must be small and fast; a wide teacher
trained with the unsupervised recipe is distilled into a narrower student on the same
training 2D (and its mirror images) by :class:`Distillation`, one kind of
:class:`~.loop.TrainingLoop`. Model selection on the held-out subject S8 only.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from .. import geometry
from ..errors import PoseliftError
from ..evaluation.data import PoseSet
from ..evaluation.scores import score_lift
from ..lifter import Lifter
from ..nets import LifterNet
from . import losses as L
from .loop import LoopSettings, TrainingLoop, cosine
from .sampling import mirrored_batch

__all__ = ["Distillation", "distill"]


class Distillation(TrainingLoop):
    """A ``width x blocks`` student regressing a teacher's depth offsets; selected on ``val``."""

    select_key = "val_p_mpjpe"

    def __init__(self, teacher: Lifter, kp2d: np.ndarray, *, width: int, blocks: int, steps: int, batch_size: int,
                 lr: float, seed: int, val: PoseSet | None, val_every: int):
        super().__init__(LoopSettings(steps=steps, batch_size=batch_size, schedule=cosine(steps), val_every=val_every,
                                      log_every=val_every))
        if teacher.config.head != "depth":
            raise PoseliftError(f"distillation copies depth offsets; the teacher has a {teacher.config.head!r} head")
        self.student_config = teacher.config.model_copy(update={"width": width, "blocks": blocks, "dropout": 0.0})
        self.student = LifterNet(self.student_config)  # before seeding, as it always was
        torch.manual_seed(seed)
        self.gen = torch.Generator().manual_seed(seed)
        self.skeleton, c = teacher.skeleton, self.student_config.c
        x = torch.from_numpy(np.ascontiguousarray(kp2d, dtype=np.float32))
        self.x_all = geometry.normalize_2d(x, self.skeleton, c, self.student_config.scale_mode)[0]
        self.lr = lr
        self.opt = torch.optim.Adam(self.student.parameters(), lr=lr)
        self.teacher = teacher.pipeline.eval()
        self.val = val
        self.history: list[dict] = []
        self.best_state: dict[str, torch.Tensor] | None = None

    def networks(self) -> dict[str, torch.nn.Module | None]:
        return {"student": self.student}

    def optimizers(self) -> dict[str, tuple[torch.optim.Optimizer | None, float]]:
        return {"opt": (self.opt, self.lr)}

    def train_step(self) -> dict[str, float]:
        B = self.settings.batch_size
        x = mirrored_batch(self.x_all, B, self.skeleton, self.gen)
        with torch.no_grad():
            target = self.teacher.depths(x)
        self.student.train()
        loss = L.depth_regression(self.student(x), target)
        self.last = self.update(self.opt, {"loss": loss}, loss, [self.student])
        return self.last

    def validate(self) -> dict[str, float]:
        if self.val is None:
            return {}
        student = Lifter(self.student_config, copy.deepcopy(self.student).eval())
        r = score_lift(student, self.val)["average_over_frames"]
        scores = {f"val_{k}": v for k, v in r.items()}
        self.history.append({"step": self.step, **self.last, **scores})
        return scores

    def keep_best(self) -> None:
        self.best_state = copy.deepcopy(self.student.state_dict())

    def finish(self) -> None:
        if self.best_state is not None:
            self.student.load_state_dict(self.best_state)

    def result(self) -> Lifter:
        return Lifter(self.student_config, self.student.eval())


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
    val: PoseSet | None = None,
    val_every: int = 500,
) -> tuple[Lifter, list[dict]]:
    """Train a ``width x blocks`` student on ``kp2d`` (pixels) to reproduce ``teacher``'s depths.

    With ``val`` (a :class:`~poselift.evaluation.data.PoseSet` with 3D of a held-out training
    subject), the student with the best validation P-MPJPE is returned, with the validation
    history (``step``, ``loss``, ``val_*``).
    """
    run = Distillation(teacher, kp2d, width=width, blocks=blocks, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                       val=val, val_every=val_every)
    return run.fit(), run.history
