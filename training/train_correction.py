"""Train a learned 2D domain correction without correspondences; select on held-out S8::

    python training/train_correction.py --source mpii16 --h36m ../shared/data/h36m \\
        --wild ../shared/data/wild2d --model runs/h36m17_adv_ss/best --out runs/corrections
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from poselift.config import CorrectionConfig
from poselift.evaluation.h36m import TRAIN_SUBJECTS, load_h36m
from poselift.training.correction import h36m_detections, s8_effect, train_correction, wild_source

logger = logging.getLogger("poselift.training")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train a learned 2D domain correction (no correspondences).")
    ap.add_argument("--source", required=True, choices=["mpii16", "openpose_coco18"])
    ap.add_argument("--target", default="h36m17")
    ap.add_argument("--h36m", required=True)
    ap.add_argument("--wild", required=True, help="folder with the in-the-wild 2D sets")
    ap.add_argument("--model", help="lifter to measure the effect on S8 with")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--lam", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    train_subjects = list(TRAIN_SUBJECTS)
    target = load_h36m(args.h36m, train_subjects, stride=2, skeleton=args.target, with_3d=False).kp2d
    parts = [wild_source(args.wild, args.source, args.target)]
    if args.source == "mpii16":  # the SH detections of the training subjects are real MPII-16 output too
        parts.append(h36m_detections(args.h36m, train_subjects, args.target, stride=2).kp2d)
    source = np.concatenate(parts)
    logger.info("source %s: %d poses; target: %d poses", args.source, len(source), len(target))
    config = CorrectionConfig(source=args.source, target=args.target)
    C = train_correction(source, target, config, steps=args.steps, lam=args.lam, seed=args.seed)
    report: dict[str, float] = {}
    if args.model:
        report = s8_effect(args.model, C, args.h36m, args.target)
        logger.info("held-out S8: %s", report)
    C.config = config.model_copy(update={"metadata": {
        "source_data": "MPII validation + Human3.6M S1 S5 S6 S7 SH detections" if args.source == "mpii16" else "Kinetics OpenPose output (12 clips)",
        "target_data": "Human3.6M S1 S5 S6 S7 ground-truth 2D", "steps": args.steps, "lambda": args.lam, **report}})
    out = C.save_pretrained(Path(args.out) / f"{args.source}-{args.target}")
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
