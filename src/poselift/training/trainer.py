"""Lifter training without 3D labels: Chen et al.'s loop, Yu et al.'s and Wang et al.'s additions.

One step, for a batch of per-pose normalised real 2D poses ``x`` (every loss is optional,
weighted by ``recipe.loss``; the loss functions live in :mod:`.losses`):

- **Chen et al.**: ``X`` = the lift of ``x`` (through the same :class:`~poselift.lifter.LiftPipeline`
  inference runs); a random view ``R`` (azimuth about the world vertical, elevation, roll)
  gives ``Y = R (X - p) + p`` about the root pivot ``p = (0, 0, c)`` and ``y = project(Y)``;
  ``Y~`` = the lift of ``y``; ``x~ = project(R^T (Y~ - p) + p)``; ``L3D = |Y - Y~|``,
  ``L2D = |x - x~|``. A 2D discriminator sees real ``x`` against ``y`` normalised alike; a
  temporal one sees differences of two frames, real against projected with one shared ``R``.
- **Yu et al.**: the motion between two frames of a sequence agrees before and after the
  loop (``Ltmc``); a scale module predicts each pose's 2D scale, kept near the reference
  distribution by a KL term and made consistent by equal bone lengths across the two frames;
  it is updated once per ``scale_module.every`` lifter steps.
- **Wang et al.**: with synchronised calibrated views, the lift of view a turned by
  ``R_b R_a^T`` re-projects onto view b's 2D, and agrees with view b's lift in 3D.
- **Flow prior** (ElePose): the negative log-likelihood of the normalised random projection
  under a normalising flow fitted to the training 2D before the lifter trains (:mod:`.flow`),
  frozen; beside or instead of the discriminator.
- **Semi-supervised** (only recipes that set ``data.labelled``): a 3D loss on a fixed
  labelled subset.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import geometry
from .._files import atomic_path
from ..errors import PoseliftError
from ..lifter import Lifter
from ..pipeline import LiftPipeline
from ..nets import ResidualMLP, build_lifter_net
from ..skeleton import get_skeleton
from . import checkpoint, losses as L
from .config import TrainConfig
from .flow import FlowPrior, whitened_dims
from ..evaluation.cmu import VALIDATION_CLIPS
from ..evaluation.data import PoseSet
from .multiview import MultiViewSet, single_view

__all__ = ["Trainer", "TrainingDivergedError", "train", "load_data"]

logger = logging.getLogger(__name__)


class TrainingDivergedError(PoseliftError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class Trainer:
    """Holds the networks, optimisers and data of one run; :meth:`fit` trains it."""

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
        (:func:`scale_prior`); default: ``scale_module.prior`` of the recipe, else N(0, 0.1).
        ``unpaired``: one :class:`PoseSet` per ``data.extra`` source, the single-view stream
        of a multi-view run. ``extra_val``: more validation sets by name (``"cmu"``)."""
        self.config = config
        self.run_dir = Path(run_dir)
        self.val = val
        self.extra_val = dict(extra_val or {})
        self.card_metadata: dict[str, Any] = {}  # merged into every exported model's config metadata
        self.keep_from: Lifter | None = None  # exported lifters take this model's completion network and flip test
        self.rank = int(os.environ.get("RANK", 0))
        self.world = int(os.environ.get("WORLD_SIZE", 1))
        self.device = _pick_device(config.device)
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
        self.cross = w.cross_view > 0 or w.cross_view_3d > 0
        self._setup_data(data)
        self._setup_unpaired(unpaired or [])

        n = self.skeleton.num_joints
        self.G = build_lifter_net(lc).to(self.device)
        self.pipe = LiftPipeline(self.G, lc.model_copy(update={"flip_test": False}))
        if config.init_from:
            self._init_from(config.init_from)
        self.pipe0 = None
        if w.anchor > 0:  # the starting model, frozen: fine-tuning is kept near its lifts
            G0 = copy.deepcopy(self.G).eval().requires_grad_(False)
            self.pipe0 = LiftPipeline(G0, lc.model_copy(update={"flip_test": False}))
        dc = config.discriminator
        disc = lambda: ResidualMLP(2 * n, 1, dc.width, dc.blocks, batchnorm=False, dropout=dc.dropout).to(self.device)  # noqa: E731
        self.D = disc() if w.adversarial > 0 else None
        self.T = disc() if w.temporal > 0 else None
        sc = config.scale_module
        uses_scale = w.scale_kl > 0 or w.scale_bone > 0
        self.S = ResidualMLP(2 * n, 1, sc.width, sc.blocks, batchnorm=False).to(self.device) if uses_scale else None
        self.F: FlowPrior | None = None  # fitted in fit() unless a checkpoint restores it
        self.flow_fitted = False
        if w.flow > 0:
            fc = config.flow_prior
            dims = whitened_dims((self._flow_data() * self.c).flatten(1))
            self.F = FlowPrior(n, self.c, layers=fc.layers, width=fc.width, dims=dims, seed=config.seed).to(self.device).freeze()
        if scale_prior is not None:
            self.prior, self.prior_source = tuple(scale_prior), "measured on the training subjects' 3D (two dataset-level numbers, no per-pose 3D)"
        elif sc.prior is not None:
            self.prior, self.prior_source = tuple(sc.prior), "given in the recipe"
        else:
            self.prior, self.prior_source = (0.0, 0.1), "default N(0, 0.1) of the log scale"
        if self.world > 1:
            self._broadcast_parameters()
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=config.lr, betas=config.betas)
        d_params = [p for m in (self.D, self.T) if m is not None for p in m.parameters()]
        self.opt_D = torch.optim.Adam(d_params, lr=config.d_lr or config.lr, betas=config.betas) if d_params else None
        self.opt_S = torch.optim.Adam(self.S.parameters(), lr=config.lr, betas=config.betas) if self.S is not None else None
        self.step = 0
        self.run_id: str | None = None  # set by fit(): new for a fresh run, the checkpoints' on resume
        self.best: dict[str, Any] = {}
        self.autocast = self.device.type == "cuda" and config.amp

    # ------------------------------------------------------------------ setup
    def _setup_data(self, data: MultiViewSet) -> None:
        """Normalised 2D of every view ``(T, V, N, 2)``, camera rotations, pairs, labelled rows."""
        cfg, w = self.config, self.config.loss
        x_n, ok = self._normalise(data.kp2d)
        t_n = None
        if data.target2d is not None:
            t_n, t_ok = self._normalise(data.target2d)
            ok &= t_ok
        keep = ok.all(dim=1)
        if not bool(keep.all()):
            logger.warning("dropping %d rows with a degenerate or non-finite view", int((~keep).sum()))
            data = data.take(keep.numpy())
            x_n = x_n[keep]
            t_n = None if t_n is None else t_n[keep]
        if len(data) == 0:
            raise PoseliftError("no usable training poses (all degenerate or non-finite)")
        self.views = data.views
        if self.cross and (data.rotations is None or self.views < 2):
            raise PoseliftError("loss.cross_view needs synchronised views with camera rotations (data.multiview: true)")
        self.x = x_n.contiguous().to(self.device)
        self.xt = None if t_n is None else t_n.contiguous().to(self.device)
        if cfg.data.input_mix > 0 and self.xt is None:
            raise PoseliftError("data.input_mix draws inputs from the ground-truth targets, and the data has none (target2d)")
        self.rot = None if data.rotations is None else torch.from_numpy(data.rotations).float().to(self.device)
        self.group = None if data.group is None else torch.from_numpy(data.group).long().to(self.device)

        self.lab_rows = self.lab = None
        if w.supervised > 0:
            if data.labels is None:
                raise PoseliftError("loss.supervised needs labelled 3D (data.labelled), and the data has none")
            rows = np.nonzero(np.isfinite(data.labels).all(axis=(1, 2)))[0]
            if len(rows) == 0:
                raise PoseliftError(f"data.labelled {cfg.data.labelled} selects no frame with 3D")
            self.lab_rows = torch.from_numpy(rows).to(self.device)
            self.lab = torch.from_numpy(data.labels[rows]).float().to(self.device)
            logger.info("semi-supervised: %d labelled instants (%.2f %% of the training rows)", len(rows), 100 * len(rows) / len(data))

        needs_pairs = w.temporal > 0 or w.motion > 0 or w.scale_bone > 0
        self.pairs = _pairs(data.seq, data.frame, cfg.temporal_gap) if needs_pairs else None
        if self.pairs is not None and len(self.pairs) == 0:
            raise PoseliftError(f"no frame pairs {cfg.temporal_gap} frames apart in the training data (temporal_gap)")
        self.motion_scale = 1.0
        if self.pairs is not None:
            sample = self.pairs[torch.randperm(len(self.pairs), generator=self.gen)[:20000]]
            diffs = self.x[sample[:, 1], 0] - self.x[sample[:, 0], 0]
            self.motion_scale = float(1.0 / diffs.square().sum(-1).mean().sqrt().clamp_min(1e-6))

    def _setup_unpaired(self, sources: list[PoseSet]) -> None:
        """The single-view stream: normalised 2D of every source and its sampling weight."""
        self.u = None
        if not sources:
            return
        extra = self.config.data.extra
        if len(extra) != len(sources):
            raise PoseliftError(f"{len(sources)} unpaired sets for {len(extra)} data.extra entries")
        tables, counts = [], []
        for e, poses in zip(extra, sources):
            x_n, ok = self._normalise(poses.kp2d[:, None])
            x_n = x_n[ok[:, 0], 0]
            if len(x_n) == 0:
                raise PoseliftError(f"data.extra {e.source} {e.path or ''}: no usable pose")
            tables.append(x_n)
            counts.append(len(x_n))
        self.u = torch.cat(tables).contiguous().to(self.device)
        self.u_count = torch.tensor(counts, device=self.device)
        self.u_offset = torch.cumsum(self.u_count, 0) - self.u_count
        self.u_weight = torch.tensor([e.weight for e in extra], dtype=torch.float)
        logger.info("unpaired 2D: %s poses, weights %s", counts, [e.weight for e in extra])

    def _unpaired_rows(self, n: int) -> torch.Tensor:
        """``n`` rows of the unpaired table: a source drawn by weight, then a row of it uniformly."""
        src = torch.multinomial(self.u_weight, n, replacement=True, generator=self.gen).to(self.device)
        r = torch.rand(n, generator=self.gen).to(self.device)
        return self.u_offset[src] + (r * self.u_count[src]).long().clamp_max(self.u_count[src] - 1)

    def _unpaired(self) -> torch.Tensor:
        """A batch of ``data.unpaired_batch`` unpaired poses, sources drawn by weight, mirrored at random."""
        n = self.config.data.unpaired_batch
        u = self.u[self._unpaired_rows(n)]
        if self.config.flip:
            flip = (torch.rand(n, generator=self.gen) < 0.5).to(self.device)
            u = torch.where(flip[:, None, None], geometry.mirror(u, self.skeleton), u)
        return u

    def _normalise(self, kp: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-pose normalised 2D ``(T, V, N, 2)`` and a ``(T, V)`` mask of usable poses."""
        x = torch.from_numpy(np.ascontiguousarray(kp, dtype=np.float32))
        x_n, _, sigma = geometry.normalize_2d(x, self.skeleton, self.c, self.config.lifter.scale_mode)
        ok = torch.isfinite(x_n).all(dim=(-1, -2)) & (sigma > 1e-6)
        return torch.nan_to_num(x_n), ok

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

    def _modules(self) -> dict[str, nn.Module | None]:
        return {"G": self.G, "D": self.D, "T": self.T, "S": self.S, "F": self.F}

    def _flow_data(self) -> torch.Tensor:
        """The normalised training 2D the flow prior is fitted to: every view (and the unpaired
        stream), mirrored copies too when the recipe flips."""
        x = self.x.flatten(0, 1)
        if self.u is not None:
            x = torch.cat([x, self.u])
        if len(x) > FLOW_FIT_POSES:  # a fixed subset: enough for the fit, and memory stays small
            x = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(self.config.seed))[:FLOW_FIT_POSES].to(x.device)]
        if self.config.flip:
            x = torch.cat([x, geometry.mirror(x, self.skeleton)])
        return x

    def _fit_flow_prior(self) -> None:
        fc = self.config.flow_prior
        t0 = time.perf_counter()
        fitted = FlowPrior.fitted(
            self._flow_data(), self.c, layers=fc.layers, width=fc.width, steps=fc.steps, batch_size=fc.batch_size,
            lr=fc.lr, noise=fc.noise, seed=self.config.seed,
        )
        self.F.load_state_dict(fitted.state_dict())
        self.flow_fitted = True
        logger.info("flow prior fitted in %.0f s", time.perf_counter() - t0)

    def _broadcast_parameters(self) -> None:
        import torch.distributed as dist

        for m in self._modules().values():
            if m is not None:
                for p in m.state_dict().values():
                    dist.broadcast(p, 0)

    def _all_reduce_grads(self, modules) -> None:
        import torch.distributed as dist

        for m in modules:
            if m is None:
                continue
            for p in m.parameters():
                if p.grad is not None:
                    dist.all_reduce(p.grad)
                    p.grad /= self.world

    # ------------------------------------------------------------------ sampling
    def _randint(self, high: int, size: int) -> torch.Tensor:
        return torch.randint(high, (size,), generator=self.gen).to(self.device)

    def _sample(self) -> dict[str, Any]:
        """A batch: rows (pairs ``i``/``i + half`` when temporal losses are on), views, mirroring."""
        cfg = self.config
        B = cfg.batch_size
        if self.pairs is None:
            half = B
            rows = self._randint(len(self.x), B)
        else:
            half = B // 2
            p = self.pairs[self._randint(len(self.pairs), half)]
            rows = torch.cat([p[:, 0], p[:, 1]])
        reps = rows.shape[0] // half
        a = self._randint(self.views, half)
        flip = (torch.rand(half, generator=self.gen) < 0.5).to(self.device) if self.config.flip else None
        batch: dict[str, Any] = {"half": half, "x": self._input(rows, a.repeat(reps), flip, reps)}
        if self.cross:
            b = (a + 1 + self._randint(self.views - 1, half)) % self.views
            a, b = a.repeat(reps), b.repeat(reps)
            targets = self.xt if self.xt is not None else self.x
            batch["x_b"] = self._input(rows, b, flip, reps)
            batch["t_a"] = self._view(targets, rows, a, flip, reps)
            batch["t_b"] = self._view(targets, rows, b, flip, reps)
            g = self.group[rows]
            R_ab = self.rot[g, b] @ self.rot[g, a].transpose(-1, -2)
            if flip is not None:  # both views mirrored = the mirrored world: R_ab -> M R_ab M, M = diag(-1, 1, 1)
                M = torch.tensor([-1.0, 1.0, 1.0], device=self.device)
                R_ab = torch.where(flip.repeat(reps)[:, None, None], M[:, None] * R_ab * M, R_ab)
            batch["R_ab"] = R_ab
        if self.u is not None:
            batch["u"] = self._unpaired()
        if cfg.data.input_noise > 0:  # inputs only: the cross-view targets and t_a/t_b stay clean
            for key in ("x", "x_b", "u"):
                if key in batch:
                    batch[key] = self._noisy(batch[key])
        return batch

    def _noisy(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` with per-pose Gaussian noise of std U[0, data.input_noise] x the pose's 2D height."""
        height = (x[..., 1].amax(dim=-1) - x[..., 1].amin(dim=-1))[:, None, None]
        sigma = torch.rand(len(x), 1, 1, generator=self.gen).to(x.device) * self.config.data.input_noise
        noisy = x + sigma * height * torch.randn(x.shape, generator=self.gen).to(x.device)
        return geometry.normalize_2d(noisy, self.skeleton, self.c, self.config.lifter.scale_mode)[0]  # as inference would

    def _input(self, rows: torch.Tensor, view: torch.Tensor, flip: torch.Tensor | None, reps: int) -> torch.Tensor:
        """Input poses of ``rows`` in ``view``; with ``data.input_mix``, some from the clean targets."""
        mix = self.config.data.input_mix
        if mix == 0:
            return self._view(self.x, rows, view, flip, reps)
        clean = (torch.rand(len(rows) // reps, generator=self.gen) < mix).to(self.device).repeat(reps)
        x = torch.where(clean[:, None, None], self.xt[rows, view], self.x[rows, view])
        return self._mirror(x, flip, reps)

    def _view(self, table: torch.Tensor, rows: torch.Tensor, view: torch.Tensor, flip: torch.Tensor | None, reps: int) -> torch.Tensor:
        return self._mirror(table[rows, view], flip, reps)

    def _mirror(self, x: torch.Tensor, flip: torch.Tensor | None, reps: int) -> torch.Tensor:
        if flip is None:
            return x
        return torch.where(flip.repeat(reps)[:, None, None], geometry.mirror(x, self.skeleton), x)

    def _labelled_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised 2D of labelled instants (random view, mirrored at random) and their camera-frame 3D."""
        n = max(2, self.config.batch_size // 4)
        pick = self._randint(len(self.lab_rows), n)
        rows = self.lab_rows[pick]
        v = self._randint(self.views, n)
        R = self.rot[self.group[rows], v]
        target = self.lab[pick] @ R.transpose(-1, -2)
        x = self.x[rows, v]
        if self.config.flip:
            flip = (torch.rand(n, generator=self.gen) < 0.5).to(self.device)[:, None, None]
            x = torch.where(flip, geometry.mirror(x, self.skeleton), x)
            target = torch.where(flip, geometry.mirror(target, self.skeleton), target)
        return x, target

    def _up(self, X: torch.Tensor) -> torch.Tensor:
        """The world vertical in camera coordinates, estimated as the batch-mean root-to-head direction."""
        root = geometry.root_point(X, self.skeleton)[:, 0]
        v = (X[:, self.skeleton.head] - root).detach()
        v = v / v.norm(dim=-1, keepdim=True).clamp_min(1e-8)
        return v.mean(dim=0)

    def _relative(self, X: torch.Tensor) -> torch.Tensor:
        return X - geometry.root_point(X, self.skeleton)

    # ------------------------------------------------------------------ one step
    def train_step(self) -> dict[str, float]:
        cfg, w = self.config, self.config.loss
        batch = self._sample()
        x, half = batch["x"], batch["half"]
        self.G.train()
        y_n = None
        out: dict[str, torch.Tensor] = {}
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            u = batch.get("u")
            if self.cross:
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
                loop, y_n = self._loop_losses(x_sv, X_sv, half_sv)
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
            if self.cross:
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
                x_l, target = self._labelled_batch()
                out["supervised"] = L.supervised_3d(self._relative(self.pipe.lift_3d(x_l)[0].float()), target)
        weight = {"g_adv": w.adversarial, "g_temporal": w.temporal}  # the rest are named as their weights
        total = sum((weight[k] if k in weight else getattr(w, k)) * v for k, v in out.items())
        out["total"] = total
        self._check_finite(out)
        self.opt_G.zero_grad(set_to_none=True)
        total.backward()
        if self.world > 1:
            self._all_reduce_grads([self.G])
        nn.utils.clip_grad_norm_(self.G.parameters(), cfg.grad_clip)
        self.opt_G.step()

        if self.opt_D is not None and self.step % cfg.discriminator.every == 0:
            out.update(self._discriminator_step(x_sv, y_n.detach(), half_sv))
        if self.opt_S is not None and self.step % cfg.scale_module.every == 0:
            out.update(self._scale_step(x, P.detach(), half))
        return {k: float(v.detach()) for k, v in out.items()}

    def _loop_losses(self, x: torch.Tensor, X: torch.Tensor, half: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Chen et al.'s lift-rotate-project-lift loop (and Yu et al.'s motion term on it);
        also returns the normalised random projections the discriminators see as fakes."""
        cfg, w = self.config, self.config.loss
        B = x.shape[0]
        R = geometry.random_view_rotation(
            half, self._up(X), azimuth=cfg.azimuth, elevation=cfg.elevation, roll=cfg.roll,
            generator=self.gen, device=self.device,
        )
        R = R.repeat(B // half, 1, 1)  # the two frames of a pair share one view
        Y, Y2, y_n = self._other_view(X, R)
        out: dict[str, torch.Tensor] = {}
        if w.l2d > 0:
            out["l2d"] = L.joint_distance(self._back_projection(Y2, R), x)
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

    def _other_view(self, X: torch.Tensor, R: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``X`` turned by ``R`` about the root pivot (``Y``), its projection lifted again
        (``Y~``) and that projection normalised as the lifter saw it."""
        Y = geometry.rotate_about_root(X, R, self._pivot(X))
        Y2, y_n = self.pipe.lift_3d(geometry.project(Y, min_depth=1.0))
        return Y, Y2.float(), y_n

    def _back_projection(self, Y2: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
        """``Y~`` turned back by ``R^T`` and projected: the loop's return to the input view."""
        return geometry.project(geometry.rotate_about_root(Y2, R.transpose(-1, -2), self._pivot(Y2)), min_depth=1.0)

    def _pivot(self, X: torch.Tensor) -> torch.Tensor:
        return torch.tensor([0.0, 0.0, self.c], device=X.device).expand(X.shape[0], 1, 3)

    def _discriminator_step(self, x: torch.Tensor, y_n: torch.Tensor, half: int) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            total = torch.zeros((), device=x.device)
            if self.D is not None:
                out["d_real"] = L.gan_loss(self.D(self._disc_input(x)), True)
                out["d_fake"] = L.gan_loss(self.D(self._disc_input(y_n)), False)
                total = total + out["d_real"] + out["d_fake"]
            if self.T is not None:
                out["t_real"] = L.gan_loss(self.T(self._motion_input(x, half)), True)
                out["t_fake"] = L.gan_loss(self.T(self._motion_input(y_n, half)), False)
                total = total + out["t_real"] + out["t_fake"]
        self._check_finite(out)
        self.opt_D.zero_grad(set_to_none=True)
        total.backward()
        if self.world > 1:
            self._all_reduce_grads([self.D, self.T])
        nn.utils.clip_grad_norm_([p for m in (self.D, self.T) if m is not None for p in m.parameters()], self.config.grad_clip)
        self.opt_D.step()
        return out

    def _scales(self, x: torch.Tensor) -> torch.Tensor:
        """The scale module's estimate of each pose's 2D scale ``(B,)`` (positive)."""
        return self.S(x.flatten(1) * self.c).squeeze(-1).clamp(-3.0, 3.0).exp()

    def _scale_step(self, x: torch.Tensor, P: torch.Tensor, half: int) -> dict[str, torch.Tensor]:
        """Yu et al.'s iterative schedule: one step of the scale module with the lifter held fixed."""
        w = self.config.loss
        s = self._scales(x)
        out: dict[str, torch.Tensor] = {"scale_kl": L.gaussian_kl(s.log(), *self.prior)}
        total = w.scale_kl * out["scale_kl"]
        if w.scale_bone > 0:
            out["scale_bone_s"] = L.scale_bone_consistency(P[:half], P[half:], s[:half], s[half:], self.skeleton)
            total = total + w.scale_bone * out["scale_bone_s"]
        self._check_finite(out)
        self.opt_S.zero_grad(set_to_none=True)
        total.backward()
        if self.world > 1:
            self._all_reduce_grads([self.S])
        nn.utils.clip_grad_norm_(self.S.parameters(), self.config.grad_clip)
        self.opt_S.step()
        return out

    def _disc_input(self, x_n: torch.Tensor) -> torch.Tensor:
        """Discriminators see normalised poses scaled by ``c`` (RMS size about 1): they have no BatchNorm."""
        return (x_n * self.c).flatten(1)

    def _motion_input(self, x_n: torch.Tensor, half: int) -> torch.Tensor:
        """The temporal discriminator sees pose differences scaled to RMS 1 over the real data."""
        return ((x_n[half:] - x_n[:half]) * self.motion_scale).flatten(1)

    def _check_finite(self, values: dict[str, torch.Tensor]) -> None:
        bad = [k for k, v in values.items() if not bool(torch.isfinite(v))]
        if bad:
            last = self.latest_checkpoint()
            raise TrainingDivergedError(
                f"non-finite loss {bad} at step {self.step}; training stopped. "
                f"Last good checkpoint: {last if last else 'none yet'}. Lower lr or raise grad_clip and resume."
            )

    # ------------------------------------------------------------------ checkpoints
    def _ckpt_root(self) -> Path:
        return self.run_dir / "checkpoints"

    def latest_checkpoint(self) -> Path | None:
        done = checkpoint.list_checkpoints(self._ckpt_root())
        return done[0] if done else None

    def _state(self) -> dict[str, Any]:
        mods = {k: (m.state_dict() if m is not None else None) for k, m in self._modules().items()}
        opts = {k: (o.state_dict() if o is not None else None) for k, o in (("opt_G", self.opt_G), ("opt_D", self.opt_D), ("opt_S", self.opt_S))}
        return {
            "step": self.step,
            "run_id": self.run_id,
            **mods,
            **opts,
            "rng_torch": torch.get_rng_state(),
            "rng_gen": self.gen.get_state(),
            "rng_cuda": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
            "best": self.best,
            "prior": list(self.prior),
            "prior_source": self.prior_source,
        }

    def save_checkpoint(self) -> Path:
        return checkpoint.save_checkpoint(self._ckpt_root(), self.step, self._state(), _dump_yaml(self.config))

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        self._restore(checkpoint.load_checkpoint(Path(path)))

    def _restore(self, state: dict[str, Any]) -> None:
        for name, module in self._modules().items():
            saved = state.get(name)
            if module is None:
                continue
            if saved is None:
                raise checkpoint.CheckpointError(f"the checkpoint has no {name} network but this recipe needs one; start a new run folder")
            checkpoint.compare_state_dicts(name, module.state_dict(), saved)
            module.load_state_dict(saved)
            if name == "F":
                self.flow_fitted = True
        for name, opt in (("opt_G", self.opt_G), ("opt_D", self.opt_D), ("opt_S", self.opt_S)):
            if opt is not None and state.get(name) is not None:
                opt.load_state_dict(state[name])
        torch.set_rng_state(state["rng_torch"])
        self.gen.set_state(state["rng_gen"])
        if state.get("rng_cuda") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng_cuda"], self.device)
        self.step = int(state["step"])
        self.best = state.get("best") or {}
        if state.get("prior"):
            self.prior = tuple(state["prior"])
            self.prior_source = state.get("prior_source", self.prior_source)

    # ------------------------------------------------------------------ validation and export
    def lifter(self) -> Lifter:
        """The current lifter (a copy in eval mode, on the CPU)."""
        net = copy.deepcopy(self.G).cpu().eval()
        lifter = Lifter(self.config.lifter, net, device="cpu")
        if self.keep_from is not None:  # fine-tuning: the starting model's completion network and flip test
            base = self.keep_from
            config = lifter.config.model_copy(update={"completion": base.config.completion, "flip_test": base.config.flip_test})
            lifter = Lifter(config, net, completion=base.completion, device="cpu")
        return lifter

    def validate(self) -> dict[str, float]:
        """Validation P-MPJPE etc. (``val_*``), of each extra set (``val_<name>_*``), and the
        selection score ``val_select``: the mean P-MPJPE over all of them."""
        from ..evaluation.evaluate import evaluate_poses

        if self.val is None:
            return {}
        if self.val.pose3d is None:
            loop = self.self_consistency(self.val.kp2d)
            return {"val_self_consistency": loop, "val_select": loop}
        lifter = self.lifter()
        r = evaluate_poses(lifter, self.val)["average_over_frames"]
        out = {f"val_{k}": v for k, v in r.items()}
        scores = [out["val_p_mpjpe"]]
        for name, poses in self.extra_val.items():
            r = evaluate_poses(lifter, poses)["average_over_actions"]
            out.update({f"val_{name}_{k}": v for k, v in r.items()})
            scores.append(r["p_mpjpe"])
        out["val_select"] = float(np.mean(scores))
        return out

    def export(self, folder: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
        lifter = self.lifter()
        meta = {"supervision": supervision(self.config)}
        if self.S is not None:
            meta["scale_prior"] = {"log_mean": self.prior[0], "log_std": self.prior[1], "source": self.prior_source}
            if self.prior_source.startswith("measured"):
                meta["supervision"] += " (the scale module's prior: two numbers of the training subjects' 3D statistics)"
        meta.update(self.card_metadata)
        meta.update(metadata or {})
        lifter.config = lifter.config.model_copy(update={"metadata": {**lifter.config.metadata, **meta}})
        return lifter.save_pretrained(folder)

    @torch.no_grad()
    def self_consistency(self, kp2d: np.ndarray, views: int = 4, seed: int = 0) -> float:
        """An unsupervised validation score of 2D-only poses ``(M, N, 2)`` (pixels): the mean
        lift-rotate-project-lift-project 2D error (normalised units x 1000) over ``views``
        fixed random views per pose. A lifter that flattens or distorts depth cannot close
        the loop; fewer is better."""
        x, ok = self._normalise(kp2d[:, None])
        x = x[ok[:, 0], 0].to(self.device)
        gen = torch.Generator().manual_seed(seed)
        was_training = self.G.training
        self.G.eval()
        errors = []
        try:
            for chunk in x.split(8192):
                X = self.pipe.lift_3d(chunk)[0].float()
                for _ in range(views):
                    R = geometry.random_view_rotation(
                        len(chunk), self._up(X), azimuth=self.config.azimuth, elevation=self.config.elevation, roll=0.0,
                        generator=gen, device=self.device,
                    )
                    Y2 = self._other_view(X, R)[1]
                    errors.append((self._back_projection(Y2, R) - chunk).norm(dim=-1).mean(dim=-1))
        finally:
            self.G.train(was_training)
        return float(torch.cat(errors).mean()) * 1000.0

    def _selected_by(self) -> str:
        if self.val is not None and self.val.pose3d is None:
            return "self-consistency (lift-rotate-project-lift 2D error) on held-out 2D, no 3D"
        sets = ["+".join(self.config.data.val_subjects)] + [
            "CMU clips " + "+".join(VALIDATION_CLIPS) if name == "cmu" else name for name in self.extra_val
        ]
        return "validation P-MPJPE on " + (sets[0] if len(sets) == 1 else "the mean of " + " and ".join(sets))

    # ------------------------------------------------------------------ loop
    def _lr_scale(self) -> float:
        return self.config.lr_decay ** (self.step // self.config.decay_every)

    def _resume(self) -> None:
        """Restore this run's newest checkpoint, the run being the one ``run.json`` names."""
        self.run_id = _read_run_id(self.run_dir)
        found = checkpoint.load_latest(self._ckpt_root(), self.run_id)
        if found is None:
            return
        path, state = found
        self._restore(state)
        self.run_id = self.run_id or state.get("run_id")  # a folder without run.json: the checkpoint's run
        logger.info("resumed from %s (step %d)", path, self.step)
        _truncate_log(self.run_dir / "log.jsonl", self.step)

    def _start_clean(self) -> None:
        """``resume=False``: remove what an earlier run wrote here, so none of it is kept or resumed."""
        import shutil

        root = self._ckpt_root()
        old = sorted(root.glob("step-*")) if root.is_dir() else []
        old += [p for p in (self.run_dir / "best", self.run_dir / "final") if p.is_dir()]
        if old:
            logger.warning("starting afresh in %s: removing the earlier run's %s", self.run_dir, ", ".join(p.name for p in old))
        for p in old:
            shutil.rmtree(p)
        for name in ("log.jsonl", RUN_FILE):
            (self.run_dir / name).unlink(missing_ok=True)

    def fit(self, *, resume: bool = True, stop_after: int | None = None) -> Lifter:
        """Train to ``config.steps`` (or ``stop_after`` more steps), resuming from the last checkpoint."""
        cfg = self.config
        main = self.rank == 0
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            self._resume()  # may refuse: the recipe is written only after this check
        elif main:
            self._start_clean()
        if self.F is not None and not self.flow_fitted:
            self._fit_flow_prior()
        if main:
            if self.run_id is None:
                self.run_id = _new_run_id(self.run_dir)
            with atomic_path(self.run_dir / "config.yaml") as tmp:
                tmp.write_text(_dump_yaml(cfg), encoding="utf-8")
        end = cfg.steps if stop_after is None else min(cfg.steps, self.step + stop_after)
        log = open(self.run_dir / "log.jsonl", "a", encoding="utf-8") if main else None
        bar = _progress(cfg.progress and main, self.step, cfg.steps)
        t0, steps0 = time.perf_counter(), self.step
        try:
            while self.step < end:
                for opt, base in ((self.opt_G, cfg.lr), (self.opt_D, cfg.d_lr or cfg.lr), (self.opt_S, cfg.lr)):
                    if opt is not None:
                        for g in opt.param_groups:
                            g["lr"] = base * self._lr_scale()
                values = self.train_step()
                self.step += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(total=f"{values['total']:.3f}", refresh=False)
                record: dict[str, Any] = {}
                if self.step % cfg.log_every == 0 or self.step == end:
                    elapsed = time.perf_counter() - t0
                    record = {"step": self.step, **values, "lr": cfg.lr * self._lr_scale(),
                              "poses_per_s": (self.step - steps0) * cfg.batch_size * self.world / max(elapsed, 1e-9)}
                if main and (self.step % cfg.val_every == 0 or self.step == cfg.steps) and self.val is not None:
                    v = self.validate()
                    record = {"step": self.step, **values, **record, **v}
                    if not self.best or v["val_select"] < self.best.get("val_select", self.best.get("val_p_mpjpe", float("inf"))):
                        self.best = {"step": self.step, **v}
                        self.export(self.run_dir / "best", {"selected_by": self._selected_by(), **self.best})
                    logger.info("step %d: %s", self.step, {k: round(x, 2) for k, x in v.items()})
                if main and record:
                    log.write(json.dumps({k: (round(v, 6) if isinstance(v, float) else v) for k, v in record.items()}) + "\n")
                    log.flush()
                if main and (self.step % cfg.ckpt_every == 0 or self.step == end):
                    self.save_checkpoint()
        finally:
            if bar is not None:
                bar.close()
            if log is not None:
                log.close()
        if main and self.step >= cfg.steps:
            self.export(self.run_dir / "final", {"steps": self.step, "recipe": cfg.name})
        return self.lifter()


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


def _pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    return torch.device(name)


def _pairs(seq: np.ndarray, frame: np.ndarray, gap: int) -> torch.Tensor:
    """Indices ``(i, j)``: row ``j`` is the same sequence ``gap`` frames (rounded to the stride) after row ``i``."""
    frame_step = int(np.median(np.diff(frame[: min(len(frame), 1000)]))) if len(frame) > 1 else 1
    frame_step = max(frame_step, 1)
    k = max(1, round(gap / frame_step))
    if len(seq) <= k:
        return torch.zeros((0, 2), dtype=torch.long)
    same = (seq[k:] == seq[:-k]) & (seq[k:] >= 0) & (frame[k:] - frame[:-k] == k * frame_step)
    idx = np.nonzero(same)[0]
    return torch.stack([torch.from_numpy(idx), torch.from_numpy(idx + k)], dim=1).long()


#: Most training poses (before mirroring) the flow prior is fitted to.
FLOW_FIT_POSES = 300_000


#: The run folder's file naming the run whose checkpoints it holds (``{"run_id": ...}``).
RUN_FILE = "run.json"


def _read_run_id(run_dir: Path) -> str | None:
    path = run_dir / RUN_FILE
    if not path.is_file():
        return None
    try:
        run_id = json.loads(path.read_text(encoding="utf-8"))["run_id"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise checkpoint.CheckpointError(f"{path} is unreadable ({e}); remove it to resume from the newest checkpoint") from None
    if not isinstance(run_id, str):
        raise checkpoint.CheckpointError(f"{path}: run_id must be a string; remove the file to resume from the newest checkpoint")
    return run_id


def _new_run_id(run_dir: Path) -> str:
    import uuid

    run_id = uuid.uuid4().hex
    with atomic_path(run_dir / RUN_FILE) as tmp:
        tmp.write_text(json.dumps({"run_id": run_id}) + "\n", encoding="utf-8")
    return run_id


def _truncate_log(path: Path, step: int) -> None:
    """Drop log records written after ``step`` (by a run killed after its last checkpoint)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except json.JSONDecodeError:
            continue  # a line cut short by the kill
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(k + "\n" for k in kept), encoding="utf-8")
    tmp.replace(path)


def _progress(enabled: bool, start: int, total: int):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=start, desc="train", dynamic_ncols=True, mininterval=5.0)


def _dump_yaml(config: TrainConfig) -> str:
    import yaml

    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def scale_prior(path: str | None, subjects: list[str], c: float, skeleton: str) -> tuple[float, float]:
    """Mean and standard deviation of the log reference scale (Yu et al.) over the training subjects' 3D."""
    from ..evaluation.h36m import load_h36m

    poses = load_h36m(path, subjects, stride=10, skeleton=skeleton, with_3d=True)
    P = torch.from_numpy(poses.pose3d).double()
    sk = get_skeleton(skeleton)
    P = P - geometry.root_point(P, sk)
    log_s = L.reference_scale(P, sk, c).log()
    return float(log_s.mean()), float(log_s.std())


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
    from .wild2d import load_wild2d

    skeleton = config.lifter.skeleton
    out = []
    for e in config.data.extra:
        if e.source == "keypoints":
            out.append(load_keypoints(e.path, target=skeleton, layout=e.layout, min_confidence=e.min_confidence))
        else:
            out.append(load_wild2d(e.source, e.path, target=skeleton, stride=e.stride, min_confidence=e.min_confidence))
    logger.info("extra unpaired 2D (adapted): %s poses", [len(e) for e in out])
    return out


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
        if config.loss.scale_kl > 0 and config.scale_module.prior is None and config.data.source == "h36m":
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
