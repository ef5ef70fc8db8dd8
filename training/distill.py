"""Distil a lifter into a smaller one on Human3.6M training 2D (no 3D); select on held-out S8::

    python training/distill.py runs/h36m17_adv_ss_td/best --h36m ../shared/data/h36m \\
        --width 512 --blocks 2 --out runs/h36m17_student
"""

from __future__ import annotations

import argparse
import logging

from poselift.evaluation.h36m import TRAIN_SUBJECTS, VALIDATION_SUBJECTS, load_h36m
from poselift.lifter import Lifter
from poselift.training.distill import distill

logger = logging.getLogger("poselift.training")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Distil a lifter into a smaller one on Human3.6M training 2D (no 3D).")
    ap.add_argument("teacher")
    ap.add_argument("--h36m", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--blocks", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--stride", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    teacher = Lifter.from_pretrained(args.teacher)
    skeleton = teacher.config.skeleton
    train = load_h36m(args.h36m, list(TRAIN_SUBJECTS), stride=args.stride, skeleton=skeleton, with_3d=False)
    val = load_h36m(args.h36m, list(VALIDATION_SUBJECTS), stride=16, skeleton=skeleton)
    student, history = distill(teacher, train.kp2d, width=args.width, blocks=args.blocks, steps=args.steps, seed=args.seed, val=val)
    student.config = student.config.model_copy(update={"metadata": {**teacher.config.metadata, "distilled_from": str(args.teacher),
                                                                   "distillation": history[-1] if history else {}}})
    student.save_pretrained(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
