"""The lifter's training: Chen et al.'s loop, Yu et al.'s and Wang et al.'s additions.

One step, for a batch of per-pose normalised real 2D poses ``x`` (every loss is optional,
weighted by ``recipe.loss``; the loss functions live in :mod:`.losses`, the loop that runs
the steps in :mod:`.loop`, the batches in :mod:`.sampling`):

- **Chen et al.**: ``X`` = the lift of ``x`` (through the same :class:`~poselift.pipeline.LiftPipeline`
  inference runs); a random view ``R`` gives ``Y``, ``y`` and ``Y~`` (:mod:`.cycle`);
  ``L3D = |Y - Y~|``, ``L2D = |x - x~|``. A 2D discriminator sees real ``x`` against ``y``
  normalised alike; a temporal one sees differences of two frames, real against projected
  with one shared ``R``.
- **Yu et al.**: the motion between two frames of a sequence agrees before and after the
  loop (``Ltmc``); a scale module predicts each pose's 2D scale, kept near the reference
  distribution by a KL term and made consistent by equal bone lengths across the two frames;
  it is updated once per ``scale_module.every`` lifter steps.
- **Wang et al.**: with synchronised calibrated views, the lift of view a turned by
  ``R_b R_a^T`` re-projects onto view b's 2D, and agrees with view b's lift in 3D.
- **Kundu et al.** (``lifter.head: kinematic``): the lift re-projects onto its input.
- **Flow prior** (ElePose): the negative log-likelihood of the normalised random projection
  under a normalising flow fitted to the training 2D before the lifter trains (:mod:`.flow`),
  frozen; beside or instead of the discriminator.
- **Semi-supervised** (only recipes that set ``data.labelled``): a 3D loss on a fixed
  labelled subset.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import geometry
from ..errors import PoseliftError
from ..evaluation.data import PoseSet
from ..evaluation.scores import score_lift
from ..lifter import Lifter
from ..nets import ResidualMLP, build_lifter_net
from ..pipeline import LiftPipeline
from ..skeleton import get_skeleton
from . import cycle, losses as L
from .config import TrainConfig
from .flow import FlowPrior, whitened_dims
from .loop import LoopSettings, TrainingDivergedError, TrainingLoop, pick_device, step_decay
from .multiview import MultiViewSet, single_view
from .report import card_metadata, selected_by
from .sampling import LifterBatches

__all__ = ["Trainer", "TrainingDivergedError", "GRAD_CLIP"]

logger = logging.getLogger(__name__)

#: Every optimiser step clips its gradients to this norm.
GRAD_CLIP = 10.0


class Trainer(TrainingLoop):
    """The lifter ``G`` and its helpers (discriminators ``D``/``T``, scale module ``S``, flow
    prior ``F``) of one run; :meth:`fit` trains them."""

    def __init__(
        self,
        config: TrainConfig,
        train: PoseSet | MultiViewSet,
        *,
        run_dir: str | os.PathLike,
        val: PoseSet | None = None,
        scale_prior: tuple[float, float] | None = None,
        unpaired: list[PoseSet] | None = None,
        extra_val: dict[str, PoseSet] | None = None,
    ):
        """``scale_prior``: the scale module's prior measured on the training subjects' 3D
        (:func:`.run.scale_prior`); default N(0, 0.1).
        ``unpaired``: one :class:`PoseSet` per ``data.extra`` source, the single-view stream
        of a multi-view run. ``extra_val``: more validation sets by name (``"cmu"``)."""
        settings = LoopSettings(
            steps=config.steps, batch_size=config.batch_size, schedule=step_decay(config.lr_decay, config.decay_every),
            log_every=config.log_every, val_every=config.val_every, ckpt_every=config.ckpt_every,
            progress=config.progress, grad_clip=GRAD_CLIP,
        )
        super().__init__(settings, run_dir=run_dir, distributed=True)
        self.config = config
        self.val = val
        self.extra_val = dict(extra_val or {})
        self.card_metadata: dict[str, Any] = {}  # merged into every exported model's config metadata
        self.keep_from: Lifter | None = None  # exported lifters take this model's completion network and flip test
        self.device = pick_device(config.device)
        if config.threads:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed + self.rank)
        self.gen = torch.Generator().manual_seed(config.seed * 1000 + self.rank)

        lc, w = config.lifter, config.loss
        self.skeleton = get_skeleton(lc.skeleton)
        data = train if isinstance(train, MultiViewSet) else single_view(train)
        if data.skeleton != lc.skeleton:
            raise PoseliftError(f"training poses are {data.skeleton!r} but the lifter is {lc.skeleton!r}")
        self.c = lc.c
        self.data = LifterBatches(config, data, unpaired or [], self.skeleton, self.gen, self.device)

        n = self.skeleton.num_joints
        self.G = build_lifter_net(lc).to(self.device)
        self.pipe = LiftPipeline(self.G, lc.model_copy(update={"flip_test": False}))
        if config.init_from:
            self._init_from(config.init_from)
        self.pipe0 = None
        if w.anchor > 0:  # the starting model, frozen: fine-tuning is kept near its lifts
            G0 = copy.deepcopy(self.G).eval().requires_grad_(False)
            self.pipe0 = LiftPipeline(G0, lc.model_copy(update={"flip_test": False}))
        dc, sc = config.discriminator, config.scale_module
        disc = lambda: ResidualMLP(2 * n, 1, dc.width, dc.blocks, batchnorm=False).to(self.device)  # noqa: E731
        self.D = disc() if w.adversarial > 0 else None
        self.T = disc() if w.temporal > 0 else None
        self.S = ResidualMLP(2 * n, 1, sc.width, sc.blocks, batchnorm=False).to(self.device) if w.scale_kl or w.scale_bone else None
        self.F: FlowPrior | None = None  # fitted in fit() unless a checkpoint restores it
        if w.flow > 0:
            fc = config.flow_prior
            dims = whitened_dims((self.data.flow_poses() * self.c).flatten(1))
            self.F = FlowPrior(n, self.c, layers=fc.layers, width=fc.width, dims=dims, seed=config.seed).to(self.device).freeze()
        measured = "measured on the training subjects' 3D (two dataset-level numbers, no per-pose 3D)"
        self.prior, self.prior_source = (tuple(scale_prior), measured) if scale_prior else ((0.0, 0.1), "default N(0, 0.1) of the log scale")
        if self.world > 1:
            self.broadcast()
        adam = lambda modules, lr: torch.optim.Adam([p for m in modules for p in m.parameters()], lr=lr, betas=config.betas)  # noqa: E731
        self.opt_G = adam([self.G], config.lr)
        discs = [m for m in (self.D, self.T) if m is not None]
        self.opt_D = adam(discs, config.d_lr or config.lr) if discs else None
        self.opt_S = adam([self.S], config.lr) if self.S is not None else None
        self.autocast = self.device.type == "cuda" and config.amp

    # ------------------------------------------------------------------ what the loop needs
    def networks(self) -> dict[str, nn.Module | None]:
        return {"G": self.G, "D": self.D, "T": self.T, "S": self.S, "F": self.F}

    def optimizers(self) -> dict[str, tuple[torch.optim.Optimizer | None, float]]:
        cfg = self.config
        return {"opt_G": (self.opt_G, cfg.lr), "opt_D": (self.opt_D, cfg.d_lr or cfg.lr), "opt_S": (self.opt_S, cfg.lr)}

    def recipe_text(self) -> str:
        import yaml

        return yaml.safe_dump(self.config.model_dump(mode="json"), sort_keys=False)

    def extra_state(self) -> dict[str, Any]:
        return {"prior": list(self.prior), "prior_source": self.prior_source}

    def restore_extra(self, state: dict[str, Any]) -> None:
        if state.get("prior"):
            self.prior = tuple(state["prior"])
            self.prior_source = state.get("prior_source", self.prior_source)

    @property
    def flow_fitted(self) -> bool:
        """The flow prior is fitted (here or in the checkpoint it was restored from): its cap is set."""
        return self.F is not None and math.isfinite(float(self.F.cap))

    def before_fit(self) -> None:
        if self.F is not None and not self.flow_fitted:
            self._fit_flow_prior()

    def validate(self) -> dict[str, float]:
        """Validation P-MPJPE etc. (``val_*``), of each extra set (``val_<name>_*``), and the
        selection score ``val_select``: their mean P-MPJPE (held-out 2D only: self-consistency)."""
        if self.val is None:
            return {}
        if self.val.pose3d is None:
            loop = self.self_consistency(self.val.kp2d)
            return {"val_self_consistency": loop, "val_select": loop}
        lifter = self.lifter()
        val = score_lift(lifter, self.val)
        out = {f"val_{k}": v for k, v in val["average_over_frames"].items()}
        scores = [out["val_p_mpjpe"]]
        for name, poses in self.extra_val.items():
            r = score_lift(lifter, poses)["average_over_actions"]
            out.update({f"val_{name}_{k}": v for k, v in r.items()})
            scores.append(r["p_mpjpe"])
        out["val_select"] = float(np.mean(scores))
        return out

    def keep_best(self) -> None:
        self.export(self.run_dir / "best", {"selected_by": selected_by(self.config, self.val, self.extra_val), **self.best})

    def finish(self) -> None:
        self.export(self.run_dir / "final", {"steps": self.step, "recipe": self.config.name})

    def result(self) -> Lifter:
        return self.lifter()

    # ------------------------------------------------------------------ one step
    def train_step(self) -> dict[str, float]:
        w = self.config.loss
        batch = self.data.sample()
        x, half = batch["x"], batch["half"]
        self.G.train()
        y_n = None
        out: dict[str, torch.Tensor] = {}
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            u = batch.get("u")
            if self.data.cross:
                parts = [x, batch["x_b"]] + ([u] if u is not None else [])
                X_all = self.pipe.lift_3d(torch.cat(parts))[0].float()
                X, X_b = X_all[: len(x)], X_all[len(x) : 2 * len(x)]
                U = X_all[2 * len(x) :] if u is not None else None
            else:
                X, U = self.pipe.lift_3d(x)[0].float(), None
            # the single-view losses see the cross-view batch and the unpaired stream alike
            x_sv, X_sv = (x, X) if U is None else (torch.cat([x, u]), torch.cat([X, U]))
            half_sv = half if U is None else len(x_sv)
            if w.l2d > 0 or w.l3d > 0 or w.adversarial > 0 or w.temporal > 0 or w.motion > 0 or w.flow > 0:
                loop, y_n = self._cycle_losses(x_sv, X_sv, half_sv)
                out.update(loop)
            P = self._relative(X)
            if self.pipe0 is not None:
                with torch.no_grad():
                    X0 = self.pipe0.lift_3d(x_sv)[0].float()
                out["anchor"] = L.joint_distance(self._relative(X_sv), self._relative(X0))
            if w.reprojection > 0:
                out["reprojection"] = L.reprojection_2d(X, x, self.skeleton, self.c)
            if w.symmetry > 0:
                out["symmetry"] = L.limb_symmetry(self._relative(X_sv), self.skeleton)
            if self.data.cross:
                P_b, R_ab = self._relative(X_b), batch["R_ab"]
                R_ba = R_ab.transpose(-1, -2)
                out["cross_view"] = 0.5 * (
                    L.cross_view_2d(P, R_ab, batch["t_b"], self.skeleton, self.c)
                    + L.cross_view_2d(P_b, R_ba, batch["t_a"], self.skeleton, self.c)
                )
                out["cross_view_3d"] = 0.5 * (L.cross_view_3d(P, R_ab, P_b) + L.cross_view_3d(P_b, R_ba, P))
            if self.S is not None and w.scale_bone > 0:
                with torch.no_grad():
                    s = self._scales(x)
                out["scale_bone"] = L.scale_bone_consistency(P[:half], P[half:], s[:half], s[half:], self.skeleton)
            if w.supervised > 0:
                x_l, target = self.data.labelled()
                out["supervised"] = L.supervised_3d(self._relative(self.pipe.lift_3d(x_l)[0].float()), target)
        weight = {"g_adv": w.adversarial, "g_temporal": w.temporal}  # the rest are named as their weights
        out["total"] = sum((weight[k] if k in weight else getattr(w, k)) * v for k, v in out.items())
        values = self.update(self.opt_G, out, out["total"], [self.G])  # every loss as a float, copied once
        if self.opt_D is not None and self.step % self.config.discriminator.every == 0:
            values.update(self._discriminator_step(x_sv, y_n.detach(), half_sv))
        if self.opt_S is not None and self.step % self.config.scale_module.every == 0:
            values.update(self._scale_step(x, P.detach(), half))
        return values

    def _cycle_losses(self, x: torch.Tensor, X: torch.Tensor, half: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Chen et al.'s lift-rotate-project-lift loop (and Yu et al.'s motion term on it);
        also returns the normalised random projections the discriminators see as fakes."""
        w = self.config.loss
        R = cycle.random_views(half, X, self.skeleton, self.gen).repeat(x.shape[0] // half, 1, 1)  # a pair shares one view
        Y, Y2, y_n = cycle.turn_and_lift(self.pipe, X, R, self.c)
        out: dict[str, torch.Tensor] = {}
        if w.l2d > 0:
            out["l2d"] = L.joint_distance(cycle.back_projection(Y2, R, self.c), x)
        if w.l3d > 0:
            out["l3d"] = L.joint_distance(Y2, Y)
        if w.motion > 0:
            out["motion"] = L.motion_consistency(Y[:half], Y[half:], Y2[:half], Y2[half:])
        if self.D is not None:
            out["g_adv"] = L.gan_loss(self.D(self._disc_input(y_n)), True)
        if self.T is not None:
            out["g_temporal"] = L.gan_loss(self.T(self._motion_input(y_n, half)), True)
        if self.F is not None:
            out["flow"] = self.F(y_n)
        return out, y_n

    def _discriminator_step(self, x: torch.Tensor, y_n: torch.Tensor, half: int) -> dict[str, float]:
        out: dict[str, torch.Tensor] = {}
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            if self.D is not None:
                out["d_real"] = L.gan_loss(self.D(self._disc_input(x)), True)
                out["d_fake"] = L.gan_loss(self.D(self._disc_input(y_n)), False)
            if self.T is not None:
                out["t_real"] = L.gan_loss(self.T(self._motion_input(x, half)), True)
                out["t_fake"] = L.gan_loss(self.T(self._motion_input(y_n, half)), False)
            total = sum(out.values(), torch.zeros((), device=x.device))
        return self.update(self.opt_D, out, total, [self.D, self.T])

    def _scales(self, x: torch.Tensor) -> torch.Tensor:
        """The scale module's estimate of each pose's 2D scale ``(B,)`` (positive)."""
        return self.S(x.flatten(1) * self.c).squeeze(-1).clamp(-3.0, 3.0).exp()

    def _scale_step(self, x: torch.Tensor, P: torch.Tensor, half: int) -> dict[str, float]:
        """Yu et al.'s iterative schedule: one step of the scale module with the lifter held fixed."""
        w = self.config.loss
        s = self._scales(x)
        out: dict[str, torch.Tensor] = {"scale_kl": L.gaussian_kl(s.log(), *self.prior)}
        total = w.scale_kl * out["scale_kl"]
        if w.scale_bone > 0:
            out["scale_bone_s"] = L.scale_bone_consistency(P[:half], P[half:], s[:half], s[half:], self.skeleton)
            total = total + w.scale_bone * out["scale_bone_s"]
        return self.update(self.opt_S, out, total, [self.S])

    def _disc_input(self, x_n: torch.Tensor) -> torch.Tensor:
        """Discriminators see normalised poses scaled by ``c`` (RMS size about 1): they have no BatchNorm."""
        return (x_n * self.c).flatten(1)

    def _motion_input(self, x_n: torch.Tensor, half: int) -> torch.Tensor:
        """The temporal discriminator sees pose differences scaled to RMS 1 over the real data."""
        return ((x_n[half:] - x_n[:half]) * self.data.motion_scale).flatten(1)

    def _relative(self, X: torch.Tensor) -> torch.Tensor:
        return X - geometry.root_point(X, self.skeleton)

    # ------------------------------------------------------------------ start, flow prior, the result
    def _init_from(self, name_or_path: str) -> None:
        """Copy a trained lifter's weights into ``G`` (its architecture must match the recipe's)."""
        start = Lifter.from_pretrained(name_or_path)
        ours, theirs = self.config.lifter, start.config
        keys = ("skeleton", "width", "blocks", "batchnorm", "activation", "input_skip", "c", "scale_mode", "head")
        diff = {k: (getattr(theirs, k), getattr(ours, k)) for k in keys if getattr(theirs, k) != getattr(ours, k)}
        if diff:
            raise PoseliftError(
                f"init_from {name_or_path!r} does not match the recipe's lifter: "
                + ", ".join(f"{k}: model {a!r} vs recipe {b!r}" for k, (a, b) in diff.items())
                + ". Set lifter.* in the recipe to the model's values."
            )
        self.G.load_state_dict(start.net.state_dict())
        logger.info("initialised the lifter from %s", name_or_path)

    def _fit_flow_prior(self) -> None:
        """Fit the flow prior on rank 0 and give it to every rank (their own fits would differ)."""
        fc, t0 = self.config.flow_prior, time.perf_counter()
        if self.rank == 0:
            fitted = FlowPrior.fitted(
                self.data.flow_poses(), self.c, layers=fc.layers, width=fc.width, steps=fc.steps, batch_size=fc.batch_size,
                lr=fc.lr, noise=fc.noise, seed=self.config.seed, dims=self.F.flow.dims,
            )
            self.F.load_state_dict(fitted.state_dict())
            logger.info("flow prior fitted in %.0f s", time.perf_counter() - t0)
        if self.world > 1:
            self.broadcast(self.F)

    def self_consistency(self, kp2d: np.ndarray, views: int = 4, seed: int = 0) -> float:
        """The lifter's :func:`.cycle.self_consistency` score on 2D-only poses (fewer is better)."""
        return cycle.self_consistency(self.pipe, kp2d, device=self.device, views=views, seed=seed)

    def lifter(self) -> Lifter:
        """The current lifter (a copy in eval mode, on the CPU)."""
        net = copy.deepcopy(self.G).cpu().eval()
        lifter = Lifter(self.config.lifter, net, device="cpu")
        if self.keep_from is not None:  # fine-tuning: the starting model's completion network and flip test
            base = self.keep_from
            config = lifter.config.model_copy(update={"completion": base.config.completion, "flip_test": base.config.flip_test})
            lifter = Lifter(config, net, completion=base.completion, device="cpu")
        return lifter

    def export(self, folder: str | os.PathLike, metadata: dict[str, Any] | None = None):
        """Save the current lifter as a model folder, its card stating the run's supervision."""
        lifter = self.lifter()
        prior = (self.prior, self.prior_source) if self.S is not None else None
        meta = {**card_metadata(self.config, prior), **self.card_metadata, **(metadata or {})}
        lifter.config = lifter.config.model_copy(update={"metadata": {**lifter.config.metadata, **meta}})
        return lifter.save_pretrained(folder)
