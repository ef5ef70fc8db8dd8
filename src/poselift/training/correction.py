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

import numpy as np
import torch

from .. import geometry
from ..config import CorrectionConfig
from ..correction import LearnedCorrection
from ..nets import CorrectionNet, ResidualMLP
from ..skeleton import get_skeleton
from . import losses as L
from .loop import LoopSettings, TrainingLoop

__all__ = ["CorrectionTraining", "train_correction"]

logger = logging.getLogger(__name__)


class CorrectionTraining(TrainingLoop):
    """The corrector ``C`` against a pose discriminator ``D``, on unpaired source and target poses."""

    def __init__(self, source: np.ndarray, target: np.ndarray, config: CorrectionConfig, *, steps: int, batch_size: int,
                 lam: float, lr: float, seed: int):
        super().__init__(LoopSettings(steps=steps, batch_size=batch_size, log_every=250))
        self.skeleton = get_skeleton(config.target)
        self.gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        self.config, self.lam, self.lr = config, lam, lr
        self.xs_all, self.xt_all = self._normalise(source), self._normalise(target)
        self.C = CorrectionNet(config)
        self.D = ResidualMLP(2 * self.skeleton.num_joints, 1, 256, 2, batchnorm=False)
        self.opt_C = torch.optim.Adam(self.C.parameters(), lr=lr, betas=(0.5, 0.9))
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=lr, betas=(0.5, 0.9))

    def _normalise(self, a: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
        return geometry.normalize_2d(x, self.skeleton, self.config.c, self.config.scale_mode)[0]

    def networks(self) -> dict[str, torch.nn.Module | None]:
        return {"C": self.C, "D": self.D}

    def optimizers(self) -> dict[str, tuple[torch.optim.Optimizer | None, float]]:
        return {"opt_C": (self.opt_C, self.lr), "opt_D": (self.opt_D, self.lr)}

    def train_step(self) -> dict[str, float]:
        B, c = self.settings.batch_size, self.config.c
        xs = self.xs_all[torch.randint(len(self.xs_all), (B,), generator=self.gen)]
        xt = self.xt_all[torch.randint(len(self.xt_all), (B,), generator=self.gen)]
        self.C.train()
        delta = self.C.delta(xs)
        x_sc = xs + delta
        out = {"c_adv": L.gan_loss(self.D((x_sc * c).flatten(1)), True), "c_size": L.correction_size(delta, c)}
        values = self.update(self.opt_C, out, out["c_adv"] + self.lam * out["c_size"], [self.C])
        d = {"d_real": L.gan_loss(self.D((xt * c).flatten(1)), True), "d_fake": L.gan_loss(self.D((x_sc.detach() * c).flatten(1)), False)}
        return {**values, **self.update(self.opt_D, d, d["d_real"] + d["d_fake"], [self.D])}


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
    run = CorrectionTraining(source, target, config, steps=steps, batch_size=batch_size, lam=lam, lr=lr, seed=seed)
    run.fit()
    return LearnedCorrection(config, run.C.eval())
