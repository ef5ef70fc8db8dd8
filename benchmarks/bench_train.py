"""Training throughput (2D poses per second) of each recipe, to plan run lengths.

    python benchmarks/bench_train.py training/recipes/abl_*.yaml --threads 1    # CPU, one thread
    python benchmarks/bench_train.py training/recipes/h36m17_xview_mix.yaml --device cuda --batch-size 8192

It times full training steps of a recipe (every network, loss and optimiser update it
enables) on synthetic 17-joint data of the recipe's shape: sequences for temporal losses,
four calibrated views for cross-view recipes, a labelled subset for semi-supervised ones.
So it needs no data set. Prints a markdown table row per recipe; "poses/s" counts the
batch's input poses (a cross-view step lifts two views of each).
"""

from __future__ import annotations

import argparse
import math
import platform
import time

import numpy as np
import torch

from poselift.evaluation.data import PoseSet
from poselift.training.config import load_recipe
from poselift.training.multiview import MultiViewSet
from poselift.training.trainer import Trainer


def synthetic(n_seq: int = 64, frames: int = 200, views: int = 1, seed: int = 0, labelled: bool = False) -> PoseSet | MultiViewSet:
    """Random-walk poses in sequences; with ``views`` > 1, one random rotation per view."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 60, (n_seq, 1, views, 17, 2)) + np.array([640.0, 360.0])
    drift = np.cumsum(rng.normal(0, 1.0, (n_seq, frames, views, 17, 2)), axis=1)
    kp = (base + drift).reshape(-1, views, 17, 2).astype(np.float32)
    seq = np.repeat(np.arange(n_seq, dtype=np.int32), frames)
    frame = np.tile(np.arange(frames, dtype=np.int32), n_seq)
    if views == 1 and not labelled:
        return PoseSet(kp[:, 0], None, seq, frame, [f"S0/Synthetic {i}.cam" for i in range(n_seq)], "h36m17")
    rots = []
    for v in range(views):
        a = 2 * math.pi * v / views
        rots.append([[math.cos(a), 0, -math.sin(a)], [0, 1, 0], [math.sin(a), 0, math.cos(a)]])
    labels = None
    if labelled:
        labels = np.full((len(kp), 17, 3), np.nan, np.float32)
        labels[::20] = rng.normal(0, 300, (len(labels[::20]), 17, 3))
    return MultiViewSet(kp, seq, frame, "h36m17", np.asarray(rots, np.float32)[None], np.zeros(len(kp), np.int32), labels=labels)


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recipes", nargs="+", help="recipe YAML files")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, help="override the recipes' batch size")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{cpu_name()}, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}")
    print("| recipe | lifter | batch | s/step | poses/s |")
    print("|---|---|---|---|---|")
    for path in args.recipes:
        overrides = ["progress=false", f"device={args.device}"] + ([f"batch_size={args.batch_size}"] if args.batch_size else [])
        cfg = load_recipe(path, overrides)
        if cfg.scale_module.prior is None:
            cfg = cfg.model_copy(update={"scale_module": cfg.scale_module.model_copy(update={"prior": (0.0, 0.1)})})
        views = 4 if cfg.data.multiview else 1
        data = synthetic(views=views, labelled=bool(cfg.data.labelled))
        if cfg.data.target == "gt":  # detections as inputs, ground truth as targets: here the same poses
            data.target2d = data.kp2d.copy()
        trainer = Trainer(cfg, data, run_dir="/tmp/poselift-bench-train")
        for _ in range(args.warmup):
            trainer.train_step()
            trainer.step += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            trainer.train_step()
            trainer.step += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        dt = (time.perf_counter() - t0) / args.steps
        lc = cfg.lifter
        print(f"| {cfg.name} | {lc.width}x{lc.blocks} {lc.head} | {cfg.batch_size} | {dt:.3f} | {cfg.batch_size / dt:,.0f} |")


if __name__ == "__main__":
    main()
