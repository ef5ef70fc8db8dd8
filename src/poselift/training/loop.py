"""The training loop, written once for every network poselift trains.

A kind of training subclasses :class:`TrainingLoop` and supplies what is its own:

- :meth:`~TrainingLoop.networks` and :meth:`~TrainingLoop.optimizers` (name -> optimiser and
  its base learning rate): what is trained, checkpointed and kept in sync across ranks;
- :meth:`~TrainingLoop.train_step`: its batch and its losses (functions of :mod:`.losses`),
  each optimiser step handed to :meth:`~TrainingLoop.update`;
- optionally :meth:`~TrainingLoop.validate` (scores; :attr:`~TrainingLoop.select_key` chooses),
  :meth:`~TrainingLoop.keep_best`, :meth:`~TrainingLoop.finish`, :meth:`~TrainingLoop.result`
  and extra checkpoint state.

The loop does the rest: the learning-rate schedule, the finiteness check of every loss,
gradient clipping and the data-parallel all-reduce (``torchrun``), validation and selection,
checkpoints (atomic folders, resume, run ids; only with a run folder), the JSON-lines log and
the progress bar. The kinds: :class:`~.trainer.Trainer` (the lifter),
:class:`~.completion.CompletionTraining`, :class:`~.correction.CorrectionTraining`,
:class:`~.distill.Distillation`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from .._files import atomic_path
from ..errors import PoseliftError
from . import checkpoint

__all__ = ["TrainingLoop", "LoopSettings", "TrainingDivergedError", "step_decay", "cosine", "pick_device", "RUN_FILE"]

logger = logging.getLogger(__name__)

#: The run folder's file naming the run whose checkpoints it holds (``{"run_id": ...}``).
RUN_FILE = "run.json"


class TrainingDivergedError(PoseliftError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


def step_decay(factor: float, every: int) -> Callable[[int], float]:
    """Learning-rate multiplier ``factor ** (step // every)``."""
    return lambda step: factor ** (step // every)


def cosine(steps: int) -> Callable[[int], float]:
    """Learning-rate multiplier falling from 1 to 0 along half a cosine over ``steps``."""
    return lambda step: 0.5 * (1.0 + math.cos(math.pi * step / steps))


@dataclass
class LoopSettings:
    """How long and how a loop runs; ``schedule(step)`` multiplies every base learning rate."""

    steps: int
    batch_size: int
    schedule: Callable[[int], float] = lambda step: 1.0
    log_every: int = 50
    val_every: int = 500
    ckpt_every: int = 500
    progress: bool = False
    grad_clip: float | None = None  # gradient norm clipped to this, per optimiser step


class TrainingLoop:
    """One training run: the loop, checkpoints and selection; subclasses supply the rest."""

    #: The :meth:`validate` score that selects the best step (lower is better).
    select_key = "val_select"

    def __init__(self, settings: LoopSettings, *, run_dir: str | os.PathLike | None = None, distributed: bool = False):
        self.settings = settings
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.rank = int(os.environ.get("RANK", 0)) if distributed else 0
        self.world = int(os.environ.get("WORLD_SIZE", 1)) if distributed else 1
        self.device = torch.device("cpu")
        self.step = 0
        self.best: dict[str, Any] = {}
        self.run_id: str | None = None  # set by fit(): new for a fresh run, the checkpoints' on resume
        self.gen: torch.Generator  # the run's sampling generator, set by the subclass (checkpointed)

    # ------------------------------------------------------------------ what a kind supplies
    def networks(self) -> dict[str, nn.Module | None]:
        raise NotImplementedError

    def optimizers(self) -> dict[str, tuple[torch.optim.Optimizer | None, float]]:
        """Name -> (optimiser or ``None``, base learning rate)."""
        raise NotImplementedError

    def train_step(self) -> dict[str, float]:
        raise NotImplementedError

    def validate(self) -> dict[str, float]:
        """Validation scores (with :attr:`select_key`); empty: nothing to validate on."""
        return {}

    def keep_best(self) -> None:
        """Called when :meth:`validate` found a new best step (recorded in ``self.best``)."""

    def before_fit(self) -> None:
        """Called by :meth:`fit` after a resume, before the first step."""

    def finish(self) -> None:
        """Called (on rank 0) once the last step is done."""

    def result(self) -> Any:
        """What :meth:`fit` returns."""

    def recipe_text(self) -> str:
        """The resolved settings written beside every checkpoint (``config.yaml``)."""
        return ""

    def extra_state(self) -> dict[str, Any]:
        return {}

    def restore_extra(self, state: dict[str, Any]) -> None:
        pass

    # ------------------------------------------------------------------ one optimiser step
    def update(self, optimizer: torch.optim.Optimizer, losses: dict[str, torch.Tensor], total: torch.Tensor,
               modules: list[nn.Module | None]) -> dict[str, float]:
        """Check ``losses``, back-propagate ``total``, all-reduce and clip the gradients of
        ``modules``, and step ``optimizer``; returns the losses as floats (one copy from the
        device, made by the check)."""
        values = self.check_finite(losses)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        params = [p for m in modules if m is not None for p in m.parameters()]
        if self.world > 1:
            import torch.distributed as dist

            for p in params:
                if p.grad is not None:
                    dist.all_reduce(p.grad)
                    p.grad /= self.world
        if self.settings.grad_clip is not None:
            nn.utils.clip_grad_norm_(params, self.settings.grad_clip)
        optimizer.step()
        return values

    def check_finite(self, values: dict[str, torch.Tensor]) -> dict[str, float]:
        """``values`` (one-element losses) as floats, copied from the device at once; raises
        :class:`TrainingDivergedError` if one is NaN or infinite."""
        floats = dict(zip(values, torch.cat([v.detach().reshape(1) for v in values.values()]).tolist())) if values else {}
        bad = [k for k, v in floats.items() if not math.isfinite(v)]
        if bad:
            last = self.latest_checkpoint()
            raise TrainingDivergedError(
                f"non-finite loss {bad} at step {self.step}; training stopped. "
                f"Last good checkpoint: {last if last else 'none yet'}. Lower lr and resume."
            )
        return floats

    def broadcast(self, *modules: Any) -> None:
        """Rank 0's weights of ``modules`` (default: every network) to every rank (data-parallel
        runs start alike)."""
        import torch.distributed as dist

        for m in modules or self.networks().values():
            if m is not None:
                for p in m.state_dict().values():
                    dist.broadcast(p, 0)

    # ------------------------------------------------------------------ the loop
    def fit(self, *, resume: bool = True, stop_after: int | None = None) -> Any:
        """Train to ``settings.steps`` (or ``stop_after`` more steps); with a run folder, resume
        from its last checkpoint (``resume``) or start afresh there."""
        s = self.settings
        main = self.rank == 0
        if self.run_dir is not None:
            if main:
                self.run_dir.mkdir(parents=True, exist_ok=True)
            if resume:
                self._resume()  # may refuse: the recipe is written only after this check
            elif main:
                self._start_clean()
        self.before_fit()
        if self.run_dir is not None and main:
            if self.run_id is None:
                self.run_id = _new_run_id(self.run_dir)
            with atomic_path(self.run_dir / "config.yaml") as tmp:
                tmp.write_text(self.recipe_text(), encoding="utf-8")
        end = s.steps if stop_after is None else min(s.steps, self.step + stop_after)
        log = open(self.run_dir / "log.jsonl", "a", encoding="utf-8") if main and self.run_dir is not None else None
        bar = _progress(s.progress and main, self.step, s.steps)
        t0, steps0 = time.perf_counter(), self.step
        base_lr = next(iter(self.optimizers().values()))[1]
        try:
            while self.step < end:
                for opt, lr in self.optimizers().values():
                    if opt is not None:
                        for g in opt.param_groups:
                            g["lr"] = lr * s.schedule(self.step)
                values = self.train_step()
                self.step += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(total=f"{values.get('total', float('nan')):.3f}", refresh=False)
                record: dict[str, Any] = {}
                if self.step % s.log_every == 0 or self.step == end:
                    elapsed = time.perf_counter() - t0
                    record = {"step": self.step, **values, "lr": base_lr * s.schedule(self.step),
                              "poses_per_s": (self.step - steps0) * s.batch_size * self.world / max(elapsed, 1e-9)}
                if main and (self.step % s.val_every == 0 or self.step == s.steps):
                    v = self.validate()
                    if v:
                        record = {"step": self.step, **values, **record, **v}
                        self._select(v)
                        logger.info("step %d: %s", self.step, {k: round(x, 2) for k, x in v.items()})
                if main and record:
                    if log is not None:
                        log.write(json.dumps({k: (round(x, 6) if isinstance(x, float) else x) for k, x in record.items()}) + "\n")
                        log.flush()
                    elif self.step % s.log_every == 0:
                        logger.info("step %d: %s", self.step, {k: round(x, 4) for k, x in values.items()})
                if main and self.run_dir is not None and (self.step % s.ckpt_every == 0 or self.step == end):
                    self.save_checkpoint()
        finally:
            if bar is not None:
                bar.close()
            if log is not None:
                log.close()
        if main and self.step >= s.steps:
            self.finish()
        return self.result()

    def _select(self, v: dict[str, float]) -> None:
        key = self.select_key
        if not self.best or v[key] < self.best.get(key, self.best.get("val_p_mpjpe", float("inf"))):
            self.best = {"step": self.step, **v}
            self.keep_best()

    # ------------------------------------------------------------------ checkpoints
    def _ckpt_root(self) -> Path:
        return self.run_dir / "checkpoints"

    def latest_checkpoint(self) -> Path | None:
        if self.run_dir is None:
            return None
        done = checkpoint.list_checkpoints(self._ckpt_root())
        return done[0] if done else None

    def state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "run_id": self.run_id,
            **{k: (m.state_dict() if m is not None else None) for k, m in self.networks().items()},
            **{k: (o.state_dict() if o is not None else None) for k, (o, _) in self.optimizers().items()},
            "rng_torch": torch.get_rng_state(),
            "rng_gen": self.gen.get_state(),
            "rng_cuda": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
            "best": self.best,
            **self.extra_state(),
        }

    def save_checkpoint(self) -> Path:
        return checkpoint.save_checkpoint(self._ckpt_root(), self.step, self.state(), self.recipe_text())

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        self.restore(checkpoint.load_checkpoint(Path(path)))

    def restore(self, state: dict[str, Any]) -> None:
        for name, module in self.networks().items():
            saved = state.get(name)
            if module is None:
                continue
            if saved is None:
                raise checkpoint.CheckpointError(f"the checkpoint has no {name} network but this recipe needs one; start a new run folder")
            checkpoint.compare_state_dicts(name, module.state_dict(), saved)
            module.load_state_dict(saved)
        for name, (opt, _) in self.optimizers().items():
            if opt is not None and state.get(name) is not None:
                opt.load_state_dict(state[name])
        torch.set_rng_state(state["rng_torch"])
        self.gen.set_state(state["rng_gen"])
        if state.get("rng_cuda") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng_cuda"], self.device)
        self.step = int(state["step"])
        self.best = state.get("best") or {}
        self.restore_extra(state)

    def _resume(self) -> None:
        """Restore this run's newest checkpoint, the run being the one ``run.json`` names."""
        self.run_id = _read_run_id(self.run_dir)
        found = checkpoint.load_latest(self._ckpt_root(), self.run_id)
        if found is None:
            return
        path, state = found
        self.restore(state)
        self.run_id = self.run_id or state.get("run_id")  # a folder without run.json: the checkpoint's run
        logger.info("resumed from %s (step %d)", path, self.step)
        _truncate_log(self.run_dir / "log.jsonl", self.step)

    def _start_clean(self) -> None:
        """``resume=False``: remove what an earlier run wrote here, so none of it is kept or resumed."""
        root = self._ckpt_root()
        old = sorted(root.glob("step-*")) if root.is_dir() else []
        old += [p for p in (self.run_dir / "best", self.run_dir / "final") if p.is_dir()]
        if old:
            logger.warning("starting afresh in %s: removing the earlier run's %s", self.run_dir, ", ".join(p.name for p in old))
        for p in old:
            shutil.rmtree(p)
        for name in ("log.jsonl", RUN_FILE):
            (self.run_dir / name).unlink(missing_ok=True)


def pick_device(name: str) -> torch.device:
    """``auto``: this rank's CUDA device when there is one, else the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    return torch.device(name)


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
    with atomic_path(path) as tmp:
        tmp.write_text("".join(k + "\n" for k in kept), encoding="utf-8")


def _progress(enabled: bool, start: int, total: int):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=start, desc="train", dynamic_ncols=True, mininterval=5.0)
