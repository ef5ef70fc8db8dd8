"""Train the missing-joint completion network on Human3.6M 2D (no 3D) and attach it to a lifter::

    python training/train_completion.py runs/h36m17/best --h36m ../shared/data/h36m --out runs/h36m17_completion
"""

from __future__ import annotations

import argparse
import logging

from poselift.config import CompletionConfig
from poselift.evaluation.h36m import TRAIN_SUBJECTS, VALIDATION_SUBJECTS, load_h36m
from poselift.lifter import Lifter
from poselift.training.completion import attach_completion, train_completion

logger = logging.getLogger("poselift.training")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train a missing-joint completion network on Human3.6M 2D and attach it to a lifter.")
    ap.add_argument("model", help="lifter folder (or name) to attach the completion network to")
    ap.add_argument("--h36m", required=True, help="Human3.6M folder")
    ap.add_argument("--out", required=True, help="output folder for the lifter with completion")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--stride", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    lifter = Lifter.from_pretrained(args.model)
    skeleton = lifter.config.skeleton
    train = load_h36m(args.h36m, list(TRAIN_SUBJECTS), stride=args.stride, skeleton=skeleton, with_3d=False)
    val = load_h36m(args.h36m, list(VALIDATION_SUBJECTS), stride=64, skeleton=skeleton, with_3d=False)
    config = CompletionConfig()
    net, report = train_completion(train.kp2d, skeleton, config=config, steps=args.steps, seed=args.seed, val=val.kp2d)
    logger.info("S8 (held out) filled-joint error / pose spread: %s", report)
    out = attach_completion(lifter, net, config)
    out.config = out.config.model_copy(update={"metadata": {**out.config.metadata, "completion": {
        "trained_on": "Human3.6M S1 S5 S6 S7 ground-truth 2D (no 3D), random joint masks",
        "steps": args.steps, "s8_filled_error_rel": report.get("filled_error_rel")}}})
    out.save_pretrained(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
