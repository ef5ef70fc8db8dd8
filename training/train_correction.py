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

from poselift.adapt import adapt_layout
from poselift.config import CorrectionConfig
from poselift.correction import LearnedCorrection
from poselift.evaluation.evaluate import evaluate_poses
from poselift.evaluation.h36m import TRAIN_SUBJECTS, VALIDATION_SUBJECTS, load_h36m
from poselift.lifter import Lifter
from poselift.training.correction import train_correction

logger = logging.getLogger("poselift.training")


def h36m_detections(h36m: str | Path, subjects: list[str], target: str, stride: int = 1):
    """Stacked-Hourglass detections (MPII-16) of ``subjects`` with their GT 2D/3D (target layout)."""
    return load_h36m(h36m, subjects, inputs="detected", stride=stride, skeleton=target)


def wild_source(wild: str | Path, source: str, target: str) -> np.ndarray:
    """Complete in-the-wild poses of ``source`` convention mapped to ``target`` (pixels)."""
    wild = Path(wild)
    if source == "mpii16":
        raw = np.load(wild / "mpii_valid_16j.npz")["keypoints"]
        conf = (raw[..., 0] > 0) & (raw[..., 1] > 0)
        kp = raw[..., :2]
    elif source == "openpose_coco18":
        d = np.load(wild / "kinetics_openpose_coco18.npz")
        raw = np.concatenate([d[k] for k in d.files])
        kp = raw[..., :2] * np.array([340.0, 256.0])  # x, y were normalised to the 340x256 frame
        conf = raw[..., 2]
    else:
        raise ValueError(f"no in-the-wild data for source layout {source!r}")
    adapted = adapt_layout(kp.astype(np.float32), source, conf.astype(np.float32), target=target, min_confidence=0.05)
    complete = (np.asarray(adapted.confidence) > 0).all(-1)
    return np.asarray(adapted.keypoints)[complete]


def s8_effect(model: str, correction: LearnedCorrection, h36m: str, target: str) -> dict[str, float]:
    """P-MPJPE on held-out S8 detections through a lifter, without and with the correction."""
    lifter = Lifter.from_pretrained(model)
    val = h36m_detections(h36m, list(VALIDATION_SUBJECTS), target, stride=8)
    plain = evaluate_poses(lifter, val)["average_over_frames"]
    val.kp2d = correction.correct_complete(val.kp2d)
    corrected = evaluate_poses(lifter, val)["average_over_frames"]
    return {"s8_p_mpjpe_plain": plain["p_mpjpe"], "s8_p_mpjpe_corrected": corrected["p_mpjpe"],
            "s8_mpjpe_plain": plain["mpjpe"], "s8_mpjpe_corrected": corrected["mpjpe"]}


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
