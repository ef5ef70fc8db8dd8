"""Choose the settings of ``lift_sequence`` on the held-out subject S8 (never on S9/S11).

Lifts every frame of the chosen subject once (``units="normalized"``), then refines each
(sequence, camera) clip with :func:`poselift.sequence.refine_sequence` for each setting
given with ``--try`` and prints P-MPJPE, N-MPJPE, MPJPE and the acceleration error (mm,
mm/frame^2; average over actions), beside the per-frame figures. The rows of
``training/RESULTS.md`` ("Sequences: choosing the settings on S8") came from::

    python training/tune_sequence.py --h36m ../shared/data/h36m --inputs detected --correction \\
        --cameras 54138969 60457274 \\
        --try "cutoff_xy=3,cutoff_z=1.5,bones=None" --try "cutoff_xy=3,cutoff_z=1.5" \\
        --try "cutoff_xy=1.5,cutoff_z=1.5" --try "causal=True"

A setting is ``key=value`` pairs of :data:`poselift.sequence.SEQUENCE_DEFAULTS` (plus
``causal``), comma-separated; values are Python literals (``None``, ``True``, numbers, strings).
"""

from __future__ import annotations

import argparse
import ast
import time

import numpy as np

from poselift import Lifter, metrics
from poselift.evaluation.h36m import TEST_SUBJECTS, load_h36m
from poselift.sequence import refine_sequence


def parse_setting(text: str) -> dict:
    out = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, _, value = item.partition("=")
        try:
            out[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            out[key.strip()] = value.strip()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--h36m", required=True)
    ap.add_argument("--model", default="poselift/h36m-17")
    ap.add_argument("--subjects", nargs="+", default=["S8"])
    ap.add_argument("--inputs", default="gt", choices=("gt", "detected"))
    ap.add_argument("--correction", action="store_true")
    ap.add_argument("--cameras", nargs="+", default=None, help="camera ids (default: all four)")
    ap.add_argument("--try", dest="settings", action="append", default=[], metavar="KEY=VALUE,...")
    args = ap.parse_args()
    if set(args.subjects) & set(TEST_SUBJECTS):
        raise SystemExit(f"refusing to choose settings on the test subjects {TEST_SUBJECTS}: use S8")
    lifter = Lifter.from_pretrained(args.model)
    skel = lifter.skeleton
    poses = load_h36m(args.h36m, args.subjects, inputs=args.inputs, skeleton=skel.name,
                      cameras=tuple(args.cameras) if args.cameras else None)  # fmt: skip
    if args.correction:
        from poselift.correction import load_correction

        poses.kp2d = load_correction("mpii16", skel.name).correct_complete(poses.kp2d)
    Xn = np.asarray(lifter.lift(poses.kp2d, units="normalized", batch_size=65536), dtype=np.float64)
    from poselift.sequence import _chain_height

    def per_frame(X: np.ndarray, kp: np.ndarray) -> np.ndarray:
        return X * (lifter.config.height / _chain_height(X, skel))[:, None, None]

    def refined(setting: dict):
        kw = dict(setting)
        causal = bool(kw.pop("causal", False))
        return lambda X, kp: refine_sequence(X, kp, np.ones(kp.shape[:2]), skel, c=float(lifter.config.c), fps=50.0,
                                             height=lifter.config.height, causal=causal, **kw)  # fmt: skip

    def measure(fn) -> dict:
        by_action: dict[str, list] = {}
        for s, name in enumerate(poses.names):
            rows = np.flatnonzero(poses.seq == s)
            rows = rows[np.argsort(poses.frame[rows])]
            pred = fn(Xn[rows], poses.kp2d[rows].astype(np.float64)) * 1000.0
            gt = poses.pose3d[rows].astype(np.float64)
            gt = gt - gt[:, :1]
            ap_, ag = (a[2:] - 2 * a[1:-1] + a[:-2] for a in (pred, gt))
            row = {"p": metrics.p_mpjpe(pred, gt), "n": metrics.n_mpjpe(pred, gt, skel), "m": metrics.mpjpe(pred, gt, skel),
                   "acc": np.linalg.norm(ap_ - ag, axis=-1).mean(axis=-1)}  # fmt: skip
            by_action.setdefault(poses.action_of(s), []).append(row)
        return {k: float(np.mean([np.concatenate([r[k] for r in rows]).mean() for rows in by_action.values()]))
                for k in ("p", "n", "m", "acc")}  # fmt: skip

    print(f"{args.model} on {'+'.join(args.subjects)}, {args.inputs} 2D{' + correction' if args.correction else ''}, "
          f"cameras {args.cameras or 'all'}, {len(poses)} frames")  # fmt: skip
    print("| setting | P-MPJPE | N-MPJPE | MPJPE | Accel | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, fn in [("per frame", per_frame)] + [(s, refined(parse_setting(s))) for s in args.settings]:
        t = time.perf_counter()
        r = measure(fn)
        print(f"| {label} | {r['p']:.2f} | {r['n']:.2f} | {r['m']:.2f} | {r['acc']:.2f} | {time.perf_counter() - t:.0f} |", flush=True)


if __name__ == "__main__":
    main()
