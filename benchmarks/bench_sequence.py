"""Speed of ``Lifter.lift_sequence`` for one person, torch-free (ONNX Runtime + numpy).

A synthetic clip of one person (the bundled OpenPose walking sample's first lifted frame,
moved and jittered, repeated to the clip length) is lifted with the released default on
the ONNX backend, in a process where torch cannot be imported. For each clip length it
reports the median wall time of ``lift_sequence`` (offline and causal), of the per-frame
``lift`` alone, and frames per second. Detection is excluded; everything after it (input
checks, per-frame network, refinement) is included.

Usage::

    python benchmarks/bench_sequence.py                  # prints a Markdown table
    python benchmarks/bench_sequence.py --frames 500 3000 --repeats 5 --threads 1
"""

from __future__ import annotations

import argparse
import importlib.abc
import os
import statistics
import sys
import time


class _NoTorch(importlib.abc.MetaPathFinder):
    """Behaves as if torch were not installed: the measurement is of the torch-free path."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "onnx"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def _clip(frames: int, seed: int = 0):
    import numpy as np

    from poselift import adapt_openpose, read_keypoints
    from poselift.demo import sample_path

    data = read_keypoints(sample_path("openpose_walk"))
    adapted = adapt_openpose(data.keypoints[:, 0], layout="body25", confidence=data.confidence[:, 0])
    kp = np.asarray(adapted.keypoints, dtype=np.float64)
    good = np.isfinite(kp).all(axis=(1, 2))
    kp = kp[good]
    reps = -(-frames // len(kp))
    seq = np.concatenate([kp, kp[::-1]] * reps)[:frames]  # back and forth: no jumps at the seams
    rng = np.random.default_rng(seed)
    return (seq + rng.normal(0.0, 2.0, seq.shape)).astype(np.float32)


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[250, 1000, 3000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (default 1)")
    args = parser.parse_args(argv)
    sys.meta_path.insert(0, _NoTorch())
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    from poselift import Lifter

    lifter = Lifter.from_pretrained("poselift/h36m-17", backend="onnx", intra_op_threads=args.threads)
    print(f"poselift/h36m-17 on {lifter.backend}, {args.threads} thread(s), torch imported: {'torch' in sys.modules}")
    print()
    print("| frames | per-frame lift | lift_sequence offline | offline frames/s | lift_sequence causal | causal frames/s |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in args.frames:
        kp = _clip(n)
        t_lift = _median_time(lambda: lifter.lift(kp), args.repeats)
        t_off = _median_time(lambda: lifter.lift_sequence(kp, fps=50.0), args.repeats)
        t_causal = _median_time(lambda: lifter.lift_sequence(kp, fps=50.0, causal=True), args.repeats)
        print(
            f"| {n} | {t_lift * 1e3:.1f} ms | {t_off * 1e3:.1f} ms | {n / t_off:,.0f} | "
            f"{t_causal * 1e3:.1f} ms | {n / t_causal:,.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
