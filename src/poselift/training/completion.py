"""Train the missing-joint completion network from complete 2D poses (no 3D).

Joints of complete training poses are hidden at random (1 to 4 single joints, or a whole
limb end: elbow + wrist, knee + ankle), and :class:`poselift.nets.CompletionNet` learns to
put them back (:class:`CompletionTraining`, one kind of :class:`~.loop.TrainingLoop`). The
trained network is attached to a lifter folder, so one ``model.safetensors`` carries both.
"""

from __future__ import annotations

import numpy as np
import torch

from ..config import CompletionConfig
from ..lifter import Lifter
from ..nets import CompletionNet
from ..skeleton import Skeleton, get_skeleton
from . import losses as L
from .loop import LoopSettings, TrainingLoop, cosine
from .sampling import mirrored_batch

__all__ = ["random_masks", "CompletionTraining", "train_completion", "evaluate_completion", "attach_completion"]


def _limb_ends(skeleton: Skeleton) -> list[tuple[int, int]]:
    """(parent, child) pairs where the child is a leaf: elbow + wrist, knee + ankle, ..."""
    children = {p for p in skeleton.parents if p >= 0}
    return [(p, j) for j, p in enumerate(skeleton.parents) if j not in children and p >= 0]


def random_masks(batch: int, skeleton: Skeleton, generator: torch.Generator, max_hidden: int = 4) -> torch.Tensor:
    """``(batch, N)`` bool, True = visible: 1..max_hidden random joints hidden, or a limb end (30 %)."""
    n = skeleton.num_joints
    scores = torch.rand(batch, n, generator=generator)
    k = torch.randint(1, max_hidden + 1, (batch, 1), generator=generator)
    hidden = scores.argsort(dim=-1).argsort(dim=-1) < k
    limbs = _limb_ends(skeleton)
    if limbs:
        use_limb = torch.rand(batch, generator=generator) < 0.3
        choice = torch.randint(len(limbs), (batch,), generator=generator)
        limb_mask = torch.zeros(batch, n, dtype=torch.bool)
        for i, (p, j) in enumerate(limbs):
            rows = choice == i
            limb_mask[rows, p] = True
            limb_mask[rows, j] = True
        hidden = torch.where(use_limb[:, None], limb_mask, hidden)
    return ~hidden


class CompletionTraining(TrainingLoop):
    """Fits a :class:`CompletionNet` on complete 2D poses: random joints hidden, put back."""

    def __init__(self, kp2d: np.ndarray, skeleton: str | Skeleton, config: CompletionConfig, *, steps: int,
                 batch_size: int, lr: float, seed: int):
        super().__init__(LoopSettings(steps=steps, batch_size=batch_size, schedule=cosine(steps), log_every=500))
        self.skeleton = get_skeleton(skeleton)
        self.gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        x_all = torch.from_numpy(np.ascontiguousarray(kp2d, dtype=np.float32))
        x_all = x_all - x_all.mean(dim=1, keepdim=True)
        self.x_all = x_all / x_all.square().sum(-1).mean(-1).sqrt()[:, None, None].clamp_min(1e-6)
        self.net = CompletionNet(self.skeleton.num_joints, config.width, config.blocks)
        self.lr = lr
        self.opt = torch.optim.Adam(self.net.parameters(), lr=lr)

    def networks(self) -> dict[str, torch.nn.Module | None]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, tuple[torch.optim.Optimizer | None, float]]:
        return {"opt": (self.opt, self.lr)}

    def train_step(self) -> dict[str, float]:
        B = self.settings.batch_size
        x = mirrored_batch(self.x_all, B, self.skeleton, self.gen)
        visible = random_masks(B, self.skeleton, self.gen)
        self.net.train()
        loss = L.filled_joint_error(self.net(x, visible), x, visible)
        return self.update(self.opt, {"filled": loss}, loss, [self.net])


def train_completion(
    kp2d: np.ndarray,
    skeleton: str | Skeleton,
    *,
    config: CompletionConfig | None = None,
    steps: int = 4000,
    batch_size: int = 1024,
    lr: float = 1e-3,
    seed: int = 0,
    val: np.ndarray | None = None,
) -> tuple[CompletionNet, dict[str, float]]:
    """Fit a :class:`CompletionNet` on complete 2D poses ``(M, N, 2)`` (pixels, any scale).

    Returns the network (eval mode) and, with ``val`` poses, the mean error of the filled
    joints there as a fraction of the pose's RMS spread, before (mean of visible) and after.
    """
    run = CompletionTraining(kp2d, skeleton, config or CompletionConfig(), steps=steps, batch_size=batch_size, lr=lr, seed=seed)
    run.fit()
    net = run.net.eval()
    report: dict[str, float] = {}
    if val is not None:
        report = evaluate_completion(net, val, run.skeleton, seed=seed + 1)
    return net, report


@torch.inference_mode()
def evaluate_completion(net: CompletionNet, kp2d: np.ndarray, skeleton: Skeleton, *, seed: int = 1) -> dict[str, float]:
    """Filled-joint error relative to the pose's RMS spread, for the net and for a naive fill."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(np.ascontiguousarray(kp2d, dtype=np.float32))
    spread = (x - x.mean(1, keepdim=True)).square().sum(-1).mean(-1).sqrt()
    visible = random_masks(len(x), skeleton, gen)
    pred = net(x, visible)
    v = visible.float()[..., None]
    naive = (x * v).sum(1, keepdim=True) / v.sum(1, keepdim=True)
    rel = lambda p: float(((p - x).norm(dim=-1) / spread[:, None])[~visible].mean())  # noqa: E731
    return {"filled_error_rel": rel(pred), "visible_mean_error_rel": rel(naive.expand_as(x))}


def attach_completion(lifter: Lifter, net: CompletionNet, config: CompletionConfig) -> Lifter:
    """A copy of ``lifter`` that carries ``net`` as its completion network."""
    new_config = lifter.config.model_copy(update={"completion": config})
    return Lifter(new_config, lifter.net, completion=net, device=lifter.device)
