"""Training throughput (2D poses per second) of the unsupervised trainer, to plan run lengths.

    python benchmarks/bench_train.py                      # CPU, the headline recipe's sizes
    python benchmarks/bench_train.py --device cuda        # a GPU, if present
    python benchmarks/bench_train.py --width 512 --no-temporal --threads 1

It times full training steps (lifter, both discriminators, all losses, optimiser updates) on
synthetic 17-joint poses, so it needs no data set. Prints a markdown table row per setting.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from poselift.training.config import TrainConfig
from poselift.evaluation.data import PoseSet
from poselift.training.trainer import Trainer


def synthetic(n_seq: int = 64, frames: int = 200, seed: int = 0) -> PoseSet:
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 60, (n_seq, 1, 17, 2)) + np.array([640.0, 360.0])
    drift = np.cumsum(rng.normal(0, 1.0, (n_seq, frames, 17, 2)), axis=1)
    kp = (base + drift).reshape(-1, 17, 2).astype(np.float32)
    seq = np.repeat(np.arange(n_seq, dtype=np.int32), frames)
    frame = np.tile(np.arange(frames, dtype=np.int32), n_seq)
    return PoseSet(kp, None, seq, frame, [f"S0/Synthetic {i}.cam" for i in range(n_seq)], "h36m17")


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
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--blocks", type=int, default=2)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1024])
    ap.add_argument("--no-temporal", action="store_true", help="Adv+SS only (no temporal discriminator)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = synthetic()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{cpu_name()}, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}")
    print("| lifter | batch | temporal | s/step | poses/s |")
    print("|---|---|---|---|---|")
    for batch in args.batch_sizes:
        cfg = TrainConfig.model_validate(dict(
            batch_size=batch, progress=False, device=args.device,
            lifter=dict(width=args.width, blocks=args.blocks),
            discriminator=dict(width=512, blocks=2, every=3),
            loss=dict(temporal=0.0 if args.no_temporal else 1.0, motion=0.0 if args.no_temporal else 1.0),
        ))
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
        print(f"| {args.width}x{args.blocks} | {batch} | {'no' if args.no_temporal else 'yes'} | {dt:.3f} | {batch / dt:,.0f} |")


if __name__ == "__main__":
    main()
