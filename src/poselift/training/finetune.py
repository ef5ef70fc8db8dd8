"""Fine-tune a released lifter on your own unlabelled 2D keypoints (``poselift finetune``).

No 3D anywhere. The user's complete poses are split once (seeded) into a fine-tuning set and
a held-out share; each step lifts a batch, turns it to a random view, re-projects and lifts
again (Chen et al.'s self-consistency, ``loss.l2d``/``loss.l3d``), keeps left and right limbs
alike (``loss.symmetry``) and keeps every lift near the starting model's lift of the same 2D
(``loss.anchor``): single-view losses alone can pull a good lifter far from what it knew.
Checkpoints are chosen by an unsupervised criterion on the held-out 2D, the
self-consistency error (:meth:`~poselift.training.trainer.Trainer.self_consistency`), so a
run that starts to drift is not what you get. Output: ``OUT/best`` (and ``OUT/final``),
model folders whose card names the keypoints, plus the checkpoints and log of a run that
resumes like ``poselift train``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from pydantic import ValidationError

from ..errors import ConfigError, DataError
from ..evaluation.data import PoseSet
from .config import TrainConfig, _format

__all__ = ["FINETUNE_DEFAULTS", "finetune_config", "split_holdout", "finetune"]

logger = logging.getLogger(__name__)

#: The settings ``poselift finetune`` uses unless told otherwise (measured in training/RESULTS.md).
FINETUNE_DEFAULTS = {
    "steps": 1200,
    "batch_size": 512,
    "lr": 2.0e-4,
    "betas": [0.9, 0.999],
    "lr_decay": 0.95,
    "decay_every": 200,
    "loss": {"adversarial": 0.0, "l2d": 10.0, "l3d": 1.0, "symmetry": 1.0, "anchor": 1.0},
    "val_every": 100,
    "ckpt_every": 100,
    "log_every": 50,
}


def finetune_config(base: str, *, overrides: dict | None = None, seed: int = 0, start: Any = None) -> TrainConfig:
    """The recipe of a fine-tuning run from ``base`` (a released name or a model folder;
    ``start``: that model, when the caller has loaded it already)."""
    from ..lifter import Lifter

    start = start if start is not None else Lifter.from_pretrained(base)
    architecture = start.config.model_copy(update={"completion": None, "metadata": {}, "flip_test": False})
    data = {**FINETUNE_DEFAULTS, **(overrides or {})}
    data["loss"] = {**FINETUNE_DEFAULTS["loss"], **(overrides or {}).get("loss", {})}
    try:
        return TrainConfig.model_validate(
            {
                **data,
                "name": "finetune",
                "seed": seed,
                "init_from": base,
                "lifter": architecture.model_dump(),
                "data": {**data.get("data", {}), "source": "keypoints", "path": "(given to finetune)", "subjects": [],
                         "val_subjects": []},
            }
        )
    except ValidationError as e:
        raise ConfigError(_format(e, "fine-tuning settings")) from None


def split_holdout(poses: PoseSet, share: float, seed: int = 0) -> tuple[PoseSet, PoseSet]:
    """``(fine-tune, held-out)``: a seeded random ``share`` of the poses held out (at least one)."""
    if not 0.0 < share < 1.0:
        raise DataError(f"the held-out share must lie strictly between 0 and 1, got {share}")
    if len(poses) < 2:
        raise DataError(f"fine-tuning needs at least 2 complete poses (one to hold out); got {len(poses)}")
    order = np.random.default_rng(seed).permutation(len(poses))
    n_val = min(len(poses) - 1, max(1, round(share * len(poses))))
    return poses.take(np.sort(order[n_val:])), poses.take(np.sort(order[:n_val]))


def finetune(
    base: str,
    keypoints: str | os.PathLike,
    out: str | os.PathLike,
    *,
    layout: str | None = None,
    min_confidence: float = 0.05,
    holdout: float = 0.1,
    overrides: dict | None = None,
    resume: bool = True,
) -> Path:
    """Fine-tune ``base`` on the complete poses of ``keypoints``; returns ``out/best``."""
    from ..lifter import Lifter
    from .sources import load_keypoints
    from .trainer import Trainer

    start = Lifter.from_pretrained(base, backend="torch")  # its completion network and flip test are kept
    config = finetune_config(base, overrides=overrides, start=start)
    config = config.model_copy(update={"data": config.data.model_copy(update={"path": os.fspath(keypoints), "layout": layout, "min_confidence": min_confidence})})
    poses = load_keypoints(keypoints, target=config.lifter.skeleton, layout=layout, min_confidence=min_confidence)
    train_set, held_out = split_holdout(poses, holdout, seed=config.seed)
    logger.info("fine-tuning %s on %d poses of %s (%d held out)", base, len(train_set), keypoints, len(held_out))
    trainer = Trainer(config, train_set, run_dir=out, val=held_out)
    trainer.keep_from = start
    trainer.card_metadata = {
        "training_data": (
            f"Fine-tuned from {base} on {len(train_set)} unlabelled 2D poses of {os.fspath(keypoints)} "
            f"({len(held_out)} more held out for checkpoint selection by self-consistency); no 3D labels. "
            f"The starting model's own training data and terms apply too: see its card."
        ),
        "supervision": f"single-view 2D fine-tuning of {base} (anchored to it), no 3D labels",
        "init_from": base,
    }
    trainer.fit(resume=resume)
    return Path(out) / "best"
