"""Unsupervised lifter training (Chen et al. 2019): lift, rotate, re-project, lift again.

One step, for a batch of per-pose normalised real 2D poses ``x``:

1. ``X = unproject(x, G(x))``; a random view ``R`` (azimuth about the world vertical,
   elevation, roll) gives ``Y = R (X - p) + p`` about the root pivot ``p = (0, 0, c)``;
   ``y = project(Y)``.
2. ``Y~`` = the lift of ``y`` (scale-equivariant, see :mod:`poselift.geometry`);
   ``x~ = project(R^T (Y~ - p) + p)``; ``L3D = |Y - Y~|``, ``L2D = |x - x~|``.
3. The 2D discriminator ``D`` sees real ``x`` against ``y`` normalised the same way, so it
   cannot tell them apart by scale; the temporal discriminator ``T`` sees the difference
   of two poses ``temporal_gap`` frames apart, real against projected with one shared ``R``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import geometry
from ..errors import PoseliftError
from ..lifter import Lifter
from ..nets import LifterNet, ResidualMLP
from ..skeleton import get_skeleton
from .config import TrainConfig
from ..evaluation.data import PoseSet

__all__ = ["Trainer", "TrainingDivergedError", "train"]

logger = logging.getLogger(__name__)


class TrainingDivergedError(PoseliftError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


def _distance(a: torch.Tensor, b: torch.Tensor, kind: str) -> torch.Tensor:
    sq = (a - b).square().sum(dim=-1)
    return (sq + 1e-12).sqrt().mean() if kind == "euclidean" else sq.mean()


def _gan_loss(logits: torch.Tensor, real: bool, kind: str) -> torch.Tensor:
    if kind == "lsgan":
        return 0.5 * (logits - (1.0 if real else 0.0)).square().mean()
    target = torch.full_like(logits, 1.0 if real else 0.0)
    return nn.functional.binary_cross_entropy_with_logits(logits, target)


# --------------------------------------------------------------------------- state (de)serialisation
def _split_state(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Tensors of a nested state go to ``tensors``; the JSON-able rest is returned."""
    if torch.is_tensor(obj):
        tensors[prefix] = obj.detach().cpu().contiguous()
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        return {"__dict__": [[_split_state(k, f"{prefix}.k{i}", tensors), _split_state(v, f"{prefix}.{i}", tensors)] for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, (list, tuple)):
        return {"__list__": [_split_state(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)], "tuple": isinstance(obj, tuple)}
    return obj


def _join_state(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__dict__" in obj:
            return {_join_state(k, tensors): _join_state(v, tensors) for k, v in obj["__dict__"]}
        if "__list__" in obj:
            items = [_join_state(v, tensors) for v in obj["__list__"]]
            return tuple(items) if obj.get("tuple") else items
    return obj


class Trainer:
    """Holds the networks, optimisers and data of one run; :meth:`fit` trains it."""

    def __init__(self, config: TrainConfig, train: PoseSet, *, run_dir: str | os.PathLike, val: PoseSet | None = None):
        self.config = config
        self.run_dir = Path(run_dir)
        self.val = val
        self.rank = int(os.environ.get("RANK", 0))
        self.world = int(os.environ.get("WORLD_SIZE", 1))
        self.device = self._pick_device(config.device)
        if config.threads:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed + self.rank)
        self.gen = torch.Generator().manual_seed(config.seed * 1000 + self.rank)

        lc = config.lifter
        self.skeleton = get_skeleton(lc.skeleton)
        if train.skeleton != lc.skeleton:
            raise PoseliftError(f"training poses are {train.skeleton!r} but the lifter is {lc.skeleton!r}")
        n = self.skeleton.num_joints
        self.c = lc.c
        x, train = self._normalise(train)
        self.x = x.to(self.device)
        uses_pairs = config.loss.temporal > 0 or config.loss.bone_consistency > 0
        self.pairs = self._pairs(train, config.temporal_gap) if uses_pairs else None
        if self.pairs is not None and len(self.pairs) == 0:
            raise PoseliftError(f"no frame pairs {config.temporal_gap} frames apart for the temporal discriminator")

        self.motion_scale = 1.0
        if self.pairs is not None:
            sample = self.pairs[torch.randperm(len(self.pairs), generator=self.gen)[:20000]]
            diffs = self.x[sample[:, 1]] - self.x[sample[:, 0]]
            self.motion_scale = float(1.0 / diffs.square().sum(-1).mean().sqrt().clamp_min(1e-6))
        self.G = LifterNet(lc).to(self.device)
        if config.init_from:
            self._init_from(config.init_from)
        dc = config.discriminator
        self.D = ResidualMLP(2 * n, 1, dc.width, dc.blocks, batchnorm=False, dropout=dc.dropout).to(self.device) if config.loss.adversarial > 0 else None
        self.T = ResidualMLP(2 * n, 1, dc.width, dc.blocks, batchnorm=False, dropout=dc.dropout).to(self.device) if config.loss.temporal > 0 else None
        if self.world > 1:
            self._broadcast_parameters()
        opt = dict(lr=config.lr, betas=config.betas)
        d_opt = dict(lr=config.d_lr or config.lr, betas=config.betas)
        self.opt_G = torch.optim.Adam(self.G.parameters(), **opt)
        d_params = [p for m in (self.D, self.T) if m is not None for p in m.parameters()]
        self.opt_D = torch.optim.Adam(d_params, **d_opt) if d_params else None
        self.step = 0
        self.best: dict[str, Any] = {}
        self.autocast = self.device.type == "cuda" and config.amp

    # ------------------------------------------------------------------ setup helpers
    def _pick_device(self, name: str) -> torch.device:
        if name == "auto":
            if torch.cuda.is_available():
                return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            return torch.device("cpu")
        return torch.device(name)

    def _normalise(self, data: PoseSet) -> tuple[torch.Tensor, PoseSet]:
        """Per-pose normalised 2D of the usable poses, and the poses kept."""
        x = torch.from_numpy(np.ascontiguousarray(data.kp2d, dtype=np.float32))
        x_n, _, sigma = geometry.normalize_2d(x, self.skeleton, self.c, self.config.lifter.scale_mode)
        keep = torch.isfinite(x_n).all(dim=(-1, -2)) & (sigma > 1e-6)
        if not bool(keep.all()):
            logger.warning("dropping %d degenerate or non-finite training poses", int((~keep).sum()))
            data = data.take(keep.numpy())
            x_n = x_n[keep]
        return x_n.contiguous(), data

    @staticmethod
    def _pairs(data: PoseSet, gap: int) -> torch.Tensor:
        """Indices ``i`` such that row ``i + k`` is the same sequence ``gap`` frames later."""
        frame_step = int(np.median(np.diff(data.frame[: min(len(data), 1000)]))) or 1
        k = max(1, round(gap / frame_step))
        same = (data.seq[k:] == data.seq[:-k]) & (data.seq[k:] >= 0) & (data.frame[k:] - data.frame[:-k] == k * frame_step)
        idx = np.nonzero(same)[0]
        return torch.stack([torch.from_numpy(idx), torch.from_numpy(idx + k)], dim=1)

    def _init_from(self, name_or_path: str) -> None:
        """Copy a trained lifter's weights into ``G`` (its architecture must match the recipe's)."""
        start = Lifter.from_pretrained(name_or_path)
        ours, theirs = self.config.lifter, start.config
        keys = ("skeleton", "width", "blocks", "batchnorm", "activation", "input_skip", "c", "scale_mode")
        diff = {k: (getattr(theirs, k), getattr(ours, k)) for k in keys if getattr(theirs, k) != getattr(ours, k)}
        if diff:
            raise PoseliftError(
                f"init_from {name_or_path!r} does not match the recipe's lifter: "
                + ", ".join(f"{k}: model {a!r} vs recipe {b!r}" for k, (a, b) in diff.items())
                + ". Set lifter.* in the recipe to the model's values."
            )
        self.G.load_state_dict(start.net.state_dict())
        logger.info("initialised the lifter from %s", name_or_path)

    def _broadcast_parameters(self) -> None:
        import torch.distributed as dist

        for m in (self.G, self.D, self.T):
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

    # ------------------------------------------------------------------ one step
    def _sample(self) -> tuple[torch.Tensor, int]:
        """A batch of normalised 2D; with pairs, rows ``i`` and ``i + half`` are one pair."""
        B = self.config.batch_size
        if self.pairs is None:
            x = self.x[torch.randint(len(self.x), (B,), generator=self.gen).to(self.device)]
            half = B
        else:
            half = B // 2
            rows = self.pairs[torch.randint(len(self.pairs), (half,), generator=self.gen)]
            x = self.x[rows.T.reshape(-1).to(self.device)]
        if self.config.flip:
            flip = (torch.rand(half, generator=self.gen) < 0.5).to(self.device)
            flip = flip.repeat(B // half)
            mirrored = x[:, list(self.skeleton.flip_permutation)] * torch.tensor([-1.0, 1.0], device=x.device)
            x = torch.where(flip[:, None, None], mirrored, x)
        return x, half

    def _up(self, X: torch.Tensor) -> torch.Tensor:
        if self.config.up_axis == "camera_y":
            return torch.tensor([0.0, -1.0, 0.0], device=X.device)
        root = geometry.root_point(X, self.skeleton)[:, 0]
        head = X[:, self.skeleton.head]
        v = (head - root).detach()
        v = v / v.norm(dim=-1, keepdim=True).clamp_min(1e-8)
        return v.mean(dim=0)

    def _lift(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scale-equivariant lift of root-relative 2D at any scale; returns (X, normalised x)."""
        x_n, root, sigma = geometry.normalize_2d(x, self.skeleton, self.c, self.config.lifter.scale_mode)
        d = self.G(x_n)
        return geometry.unproject(x - root, d, self.c, sigma), x_n

    def train_step(self) -> dict[str, float]:
        cfg, w = self.config, self.config.loss
        x, half = self._sample()
        B = x.shape[0]
        self.G.train()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            X = geometry.unproject(x, self.G(x), self.c)
            pivot = torch.tensor([0.0, 0.0, self.c], device=x.device).expand(B, 1, 3)
            n_views = half if self.pairs is not None else B
            R = geometry.random_view_rotation(
                n_views, self._up(X), azimuth=cfg.azimuth, elevation=cfg.elevation, roll=cfg.roll,
                generator=self.gen, device=self.device,
            )
            if self.pairs is not None:
                R = torch.cat([R, R])
            Y = geometry.rotate_about_root(X.float(), R, pivot)
            y = geometry.project(Y, min_depth=1.0)
            Y2, y_n = self._lift(y)
            X2 = geometry.rotate_about_root(Y2.float(), R.transpose(-1, -2), pivot)
            x2 = geometry.project(X2, min_depth=1.0)

            losses: dict[str, torch.Tensor] = {}
            losses["l2d"] = _distance(x2, x, w.distance)
            losses["l3d"] = _distance(Y2, Y, w.distance)
            total = w.l2d * losses["l2d"] + w.l3d * losses["l3d"]
            if self.D is not None:
                losses["g_adv"] = _gan_loss(self.D(self._disc_input(y_n)), True, w.gan)
                total = total + w.adversarial * losses["g_adv"]
            if self.T is not None:
                losses["g_temporal"] = _gan_loss(self.T(self._motion_input(y_n, half)), True, w.gan)
                total = total + w.temporal * losses["g_temporal"]
            if w.bone_consistency > 0:
                losses["bone"] = self._bone_consistency(X, half)
                total = total + w.bone_consistency * losses["bone"]
            if w.symmetry > 0:
                losses["symmetry"] = self._symmetry(X)
                total = total + w.symmetry * losses["symmetry"]
        losses["total"] = total
        self._check_finite(losses)
        self.opt_G.zero_grad(set_to_none=True)
        total.backward()
        if self.world > 1:
            self._all_reduce_grads([self.G])
        nn.utils.clip_grad_norm_(self.G.parameters(), cfg.grad_clip)
        self.opt_G.step()

        if self.opt_D is not None and self.step % cfg.discriminator.every == 0:
            losses.update(self._discriminator_step(x, y_n.detach(), half))
        return {k: float(v.detach()) for k, v in losses.items()}

    def _discriminator_step(self, x: torch.Tensor, y_n: torch.Tensor, half: int) -> dict[str, torch.Tensor]:
        w = self.config.loss
        out: dict[str, torch.Tensor] = {}
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            total = torch.zeros((), device=x.device)
            if self.D is not None:
                out["d_real"] = _gan_loss(self.D(self._disc_input(x)), True, w.gan)
                out["d_fake"] = _gan_loss(self.D(self._disc_input(y_n)), False, w.gan)
                total = total + out["d_real"] + out["d_fake"]
            if self.T is not None:
                out["t_real"] = _gan_loss(self.T(self._motion_input(x, half)), True, w.gan)
                out["t_fake"] = _gan_loss(self.T(self._motion_input(y_n, half)), False, w.gan)
                total = total + out["t_real"] + out["t_fake"]
        self._check_finite(out)
        self.opt_D.zero_grad(set_to_none=True)
        total.backward()
        if self.world > 1:
            self._all_reduce_grads([self.D, self.T])
        nn.utils.clip_grad_norm_([p for m in (self.D, self.T) if m is not None for p in m.parameters()], self.config.grad_clip)
        self.opt_D.step()
        return out

    def _disc_input(self, x_n: torch.Tensor) -> torch.Tensor:
        """Discriminators see normalised poses scaled by ``c`` (RMS size about 1): they have no BatchNorm."""
        return (x_n * self.c).flatten(1)

    def _motion_input(self, x_n: torch.Tensor, half: int) -> torch.Tensor:
        """The temporal discriminator sees pose differences scaled to RMS 1 over the real data."""
        return ((x_n[half:] - x_n[:half]) * self.motion_scale).flatten(1)

    def _bone_proportions(self, X: torch.Tensor) -> torch.Tensor:
        bones = self.skeleton.bones
        lengths = torch.stack([(X[:, c] - X[:, p]).norm(dim=-1) for p, c in bones], dim=-1)
        return lengths / lengths.sum(dim=-1, keepdim=True).clamp_min(1e-8)

    def _bone_consistency(self, X: torch.Tensor, half: int) -> torch.Tensor:
        """The same person in two frames: bone proportions agree (no 3D labels needed)."""
        b = self._bone_proportions(X)
        return (b[half:] - b[:half]).abs().sum(dim=-1).mean()

    def _symmetry(self, X: torch.Tensor) -> torch.Tensor:
        parents = self.skeleton.parents
        pairs = [(l, r) for l, r in self.skeleton.pairs if parents[l] >= 0 and parents[r] >= 0]
        left = torch.stack([(X[:, l] - X[:, parents[l]]).norm(dim=-1) for l, _ in pairs], dim=-1)
        right = torch.stack([(X[:, r] - X[:, parents[r]]).norm(dim=-1) for _, r in pairs], dim=-1)
        return (left - right).square().mean()

    def _check_finite(self, losses: dict[str, torch.Tensor]) -> None:
        bad = [k for k, v in losses.items() if not bool(torch.isfinite(v))]
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
        root = self._ckpt_root()
        done = sorted(p for p in root.glob("step-*") if (p / "state.json").is_file()) if root.is_dir() else []
        return done[-1] if done else None

    def save_checkpoint(self) -> Path:
        from safetensors.torch import save_file

        state = {
            "step": self.step,
            "G": self.G.state_dict(),
            "D": self.D.state_dict() if self.D is not None else None,
            "T": self.T.state_dict() if self.T is not None else None,
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict() if self.opt_D is not None else None,
            "rng_torch": torch.get_rng_state(),
            "rng_gen": self.gen.get_state(),
            "rng_cuda": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
            "best": self.best,
        }
        tensors: dict[str, torch.Tensor] = {}
        meta = _split_state(state, "s", tensors)
        final = self._ckpt_root() / f"step-{self.step:08d}"
        tmp = final.with_name(final.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_file(tensors, str(tmp / "state.safetensors"))
        (tmp / "config.yaml").write_text(_dump_yaml(self.config), encoding="utf-8")
        (tmp / "state.json").write_text(json.dumps(meta), encoding="utf-8")
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        for old in sorted(p for p in self._ckpt_root().glob("step-*") if p != final and not p.name.endswith(".tmp"))[:-1]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        from safetensors.torch import load_file

        path = Path(path)
        tensors = load_file(str(path / "state.safetensors"))
        state = _join_state(json.loads((path / "state.json").read_text()), tensors)
        self.G.load_state_dict(state["G"])
        if self.D is not None:
            self.D.load_state_dict(state["D"])
        if self.T is not None:
            self.T.load_state_dict(state["T"])
        self.opt_G.load_state_dict(state["opt_G"])
        if self.opt_D is not None:
            self.opt_D.load_state_dict(state["opt_D"])
        torch.set_rng_state(state["rng_torch"])
        self.gen.set_state(state["rng_gen"])
        if state.get("rng_cuda") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng_cuda"], self.device)
        self.step = int(state["step"])
        self.best = state.get("best") or {}

    # ------------------------------------------------------------------ validation and export
    def lifter(self) -> Lifter:
        """The current lifter (a copy in eval mode, on the CPU)."""
        import copy

        net = copy.deepcopy(self.G).cpu().eval()
        return Lifter(self.config.lifter, net, device="cpu")

    def validate(self) -> dict[str, float]:
        from ..evaluation.evaluate import evaluate_poses

        if self.val is None:
            return {}
        r = evaluate_poses(self.lifter(), self.val)["average_over_frames"]
        return {f"val_{k}": v for k, v in r.items()}

    def export(self, folder: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
        lifter = self.lifter()
        if metadata:
            lifter.config = lifter.config.model_copy(update={"metadata": {**lifter.config.metadata, **metadata}})
        return lifter.save_pretrained(folder)

    # ------------------------------------------------------------------ loop
    def _lr_scale(self) -> float:
        return self.config.lr_decay ** (self.step // self.config.decay_every)

    def fit(self, *, resume: bool = True, stop_after: int | None = None) -> Lifter:
        """Train to ``config.steps`` (or ``stop_after`` more steps), resuming from the last checkpoint."""
        cfg = self.config
        main = self.rank == 0
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.yaml").write_text(_dump_yaml(cfg), encoding="utf-8")
        last = self.latest_checkpoint() if resume else None
        if last is not None:
            self.load_checkpoint(last)
            logger.info("resumed from %s (step %d)", last, self.step)
        end = cfg.steps if stop_after is None else min(cfg.steps, self.step + stop_after)
        log = open(self.run_dir / "log.jsonl", "a", encoding="utf-8") if main else None
        bar = _progress(cfg.progress and main, self.step, cfg.steps)
        t0, steps0 = time.perf_counter(), self.step
        try:
            while self.step < end:
                for opt, base in ((self.opt_G, cfg.lr), (self.opt_D, cfg.d_lr or cfg.lr)):
                    if opt is not None:
                        for g in opt.param_groups:
                            g["lr"] = base * self._lr_scale()
                losses = self.train_step()
                self.step += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(total=f"{losses['total']:.3f}", refresh=False)
                record: dict[str, Any] = {}
                if self.step % cfg.log_every == 0 or self.step == end:
                    elapsed = time.perf_counter() - t0
                    record = {"step": self.step, **losses, "lr": cfg.lr * self._lr_scale(),
                              "poses_per_s": (self.step - steps0) * cfg.batch_size * self.world / max(elapsed, 1e-9)}
                if main and (self.step % cfg.val_every == 0 or self.step == cfg.steps) and self.val is not None:
                    v = self.validate()
                    record = {"step": self.step, **losses, **record, **v}
                    if not self.best or v["val_p_mpjpe"] < self.best["val_p_mpjpe"]:
                        self.best = {"step": self.step, **v}
                        self.export(self.run_dir / "best", {"selected_by": "validation P-MPJPE on " + "+".join(cfg.data.val_subjects), **self.best})
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


def load_data(config: TrainConfig) -> tuple[PoseSet, PoseSet | None]:
    """Training poses and (optionally) validation poses for a recipe."""
    from .sources import load_keypoints

    d = config.data
    skeleton = config.lifter.skeleton
    if d.source == "h36m":
        from ..evaluation.h36m import load_h36m

        train = load_h36m(d.path, d.subjects, inputs=d.inputs, stride=d.stride, skeleton=skeleton, with_3d=False)
        val = (
            load_h36m(d.path, d.val_subjects, inputs=d.inputs, stride=d.val_stride, skeleton=skeleton)
            if d.val_subjects
            else None
        )
    else:
        train = load_keypoints(d.path, target=skeleton, layout=d.layout, min_confidence=d.min_confidence)
        val = None
    if d.extra:
        extra = [load_keypoints(e.path, target=skeleton, layout=e.layout, min_confidence=e.min_confidence) for e in d.extra]
        logger.info("extra unpaired 2D (adapted): %s poses", [len(e) for e in extra])
        train = train.with_untimed(*extra)
    return train, val


def train(config: TrainConfig, run_dir: str | os.PathLike, *, resume: bool = True) -> Lifter:
    """Load the recipe's data, train, and export ``run_dir/final`` (and ``run_dir/best``)."""
    distributed = int(os.environ.get("WORLD_SIZE", 1)) > 1
    if distributed:
        import torch.distributed as dist

        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    try:
        train_set, val_set = load_data(config)
        trainer = Trainer(config, train_set, run_dir=run_dir, val=val_set)
        return trainer.fit(resume=resume)
    finally:
        if distributed:
            import torch.distributed as dist

            dist.destroy_process_group()
