"""The lifter's training batches: normalised 2D tables on the device and how a step draws from them.

:class:`LifterBatches` holds every view of every training row as per-pose normalised 2D
(the normalisation inference runs), the camera rotations and groups of a multi-view set,
the temporal pairs, the labelled rows of a semi-supervised recipe and the unpaired
single-view stream, and draws one step's batch with the run's generator: rows (or frame
pairs), an ordered view pair, mirroring, input noise and the mix of clean inputs.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from .. import geometry
from ..errors import PoseliftError
from ..evaluation.data import PoseSet
from ..skeleton import Skeleton

__all__ = ["LifterBatches", "normalise", "frame_pairs", "mirrored_batch", "FLOW_FIT_POSES"]

logger = logging.getLogger(__name__)

#: Most training poses (before mirroring) the flow prior is fitted to.
FLOW_FIT_POSES = 300_000


def normalise(kp: np.ndarray, skeleton: Skeleton, c: float, scale_mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pose normalised 2D ``(..., N, 2)`` of pixel poses and a mask of the usable ones."""
    x = torch.from_numpy(np.ascontiguousarray(kp, dtype=np.float32))
    x_n, _, sigma = geometry.normalize_2d(x, skeleton, c, scale_mode)
    ok = torch.isfinite(x_n).all(dim=(-1, -2)) & (sigma > 1e-6)
    return torch.nan_to_num(x_n), ok


def mirrored_batch(x_all: torch.Tensor, batch_size: int, skeleton: Skeleton, gen: torch.Generator) -> torch.Tensor:
    """``batch_size`` rows of ``x_all`` ``(M, N, 2)`` drawn with replacement, each mirrored with probability 1/2."""
    x = x_all[torch.randint(len(x_all), (batch_size,), generator=gen)]
    mirror = torch.rand(batch_size, generator=gen) < 0.5
    return torch.where(mirror[:, None, None], geometry.mirror(x, skeleton), x)


def frame_pairs(seq: np.ndarray, frame: np.ndarray, gap: int) -> torch.Tensor:
    """Indices ``(i, j)``: row ``j`` is the same sequence ``gap`` frames (rounded to the stride) after row ``i``."""
    frame_step = int(np.median(np.diff(frame[: min(len(frame), 1000)]))) if len(frame) > 1 else 1
    frame_step = max(frame_step, 1)
    k = max(1, round(gap / frame_step))
    if len(seq) <= k:
        return torch.zeros((0, 2), dtype=torch.long)
    same = (seq[k:] == seq[:-k]) & (seq[k:] >= 0) & (frame[k:] - frame[:-k] == k * frame_step)
    idx = np.nonzero(same)[0]
    return torch.stack([torch.from_numpy(idx), torch.from_numpy(idx + k)], dim=1).long()


class LifterBatches:
    """The training 2D of one run on ``device``, drawn from with the run's generator ``gen``.

    ``config``: the run's :class:`~.config.TrainConfig`; ``data``: its
    :class:`~.multiview.MultiViewSet` (one view for single-view data); ``unpaired``: one
    :class:`PoseSet` per ``data.extra`` source. (Typed loosely: this module stays below the
    recipe and data modules in the import graph.)
    """

    def __init__(self, config: Any, data: Any, unpaired: list[PoseSet], skeleton: Skeleton,
                 gen: torch.Generator, device: torch.device):
        self.config, self.skeleton, self.gen, self.device = config, skeleton, gen, device
        self._flip_x = torch.tensor([-1.0, 1.0, 1.0], device=device)  # M = diag(-1, 1, 1), made once
        w = config.loss
        self.cross = w.cross_view > 0 or w.cross_view_3d > 0
        self._setup(data)
        self._setup_unpaired(unpaired)

    def _normalise(self, kp: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return normalise(kp, self.skeleton, self.config.lifter.c, self.config.lifter.scale_mode)

    def _setup(self, data: Any) -> None:
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
        self.pairs = frame_pairs(data.seq, data.frame, cfg.temporal_gap) if needs_pairs else None
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
                raise PoseliftError(f"data.extra {e.path}: no usable pose")
            tables.append(x_n)
            counts.append(len(x_n))
        self.u = torch.cat(tables).contiguous().to(self.device)
        self.u_count = torch.tensor(counts, device=self.device)
        self.u_offset = torch.cumsum(self.u_count, 0) - self.u_count
        self.u_weight = torch.tensor([e.weight for e in extra], dtype=torch.float)
        logger.info("unpaired 2D: %s poses, weights %s", counts, [e.weight for e in extra])

    def flow_poses(self) -> torch.Tensor:
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

    # ------------------------------------------------------------------ drawing a batch
    def _randint(self, high: int, size: int) -> torch.Tensor:
        return torch.randint(high, (size,), generator=self.gen).to(self.device)

    def sample(self) -> dict[str, Any]:
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
        flip = (torch.rand(half, generator=self.gen) < 0.5).to(self.device) if cfg.flip else None
        batch: dict[str, Any] = {"half": half, "x": self._input(rows, a.repeat(reps), flip, reps)}
        if self.cross:
            b = (a + 1 + self._randint(self.views - 1, half)) % self.views
            a, b = a.repeat(reps), b.repeat(reps)
            targets = self.xt if self.xt is not None else self.x
            batch["x_b"] = self._input(rows, b, flip, reps)
            batch["t_a"] = self._mirror(targets[rows, a], flip, reps)
            batch["t_b"] = self._mirror(targets[rows, b], flip, reps)
            g = self.group[rows]
            R_ab = self.rot[g, b] @ self.rot[g, a].transpose(-1, -2)
            if flip is not None:  # both views mirrored = the mirrored world: R_ab -> M R_ab M, M = diag(-1, 1, 1)
                M = self._flip_x
                R_ab = torch.where(flip.repeat(reps)[:, None, None], M[:, None] * R_ab * M, R_ab)
            batch["R_ab"] = R_ab
        if self.u is not None:
            batch["u"] = self.unpaired()
        if cfg.data.input_noise > 0:  # inputs only: the cross-view targets and t_a/t_b stay clean
            for key in ("x", "x_b", "u"):
                if key in batch:
                    batch[key] = self._noisy(batch[key])
        return batch

    def unpaired_rows(self, n: int) -> torch.Tensor:
        """``n`` rows of the unpaired table: a source drawn by weight, then a row of it uniformly."""
        src = torch.multinomial(self.u_weight, n, replacement=True, generator=self.gen).to(self.device)
        r = torch.rand(n, generator=self.gen).to(self.device)
        return self.u_offset[src] + (r * self.u_count[src]).long().clamp_max(self.u_count[src] - 1)

    def unpaired(self) -> torch.Tensor:
        """A batch of ``data.unpaired_batch`` unpaired poses, sources drawn by weight, mirrored at random."""
        n = self.config.data.unpaired_batch
        u = self.u[self.unpaired_rows(n)]
        if self.config.flip:
            flip = (torch.rand(n, generator=self.gen) < 0.5).to(self.device)
            u = torch.where(flip[:, None, None], geometry.mirror(u, self.skeleton), u)
        return u

    def labelled(self) -> tuple[torch.Tensor, torch.Tensor]:
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

    def _noisy(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` with per-pose Gaussian noise of std U[0, data.input_noise] x the pose's 2D height."""
        height = (x[..., 1].amax(dim=-1) - x[..., 1].amin(dim=-1))[:, None, None]
        sigma = torch.rand(len(x), 1, 1, generator=self.gen).to(x.device) * self.config.data.input_noise
        noisy = x + sigma * height * torch.randn(x.shape, generator=self.gen).to(x.device)
        lc = self.config.lifter
        return geometry.normalize_2d(noisy, self.skeleton, lc.c, lc.scale_mode)[0]  # as inference would

    def _input(self, rows: torch.Tensor, view: torch.Tensor, flip: torch.Tensor | None, reps: int) -> torch.Tensor:
        """Input poses of ``rows`` in ``view``; with ``data.input_mix``, some from the clean targets."""
        mix = self.config.data.input_mix
        if mix == 0:
            return self._mirror(self.x[rows, view], flip, reps)
        clean = (torch.rand(len(rows) // reps, generator=self.gen) < mix).to(self.device).repeat(reps)
        x = torch.where(clean[:, None, None], self.xt[rows, view], self.x[rows, view])
        return self._mirror(x, flip, reps)

    def _mirror(self, x: torch.Tensor, flip: torch.Tensor | None, reps: int) -> torch.Tensor:
        if flip is None:
            return x
        return torch.where(flip.repeat(reps)[:, None, None], geometry.mirror(x, self.skeleton), x)
