"""A bone-length ratio table for the kinematic head (Kundu et al.), estimated from training 2D only.

A bone's projected length never exceeds its 3D length times the camera's scale ``f / depth``,
and reaches it when the bone lies parallel to the image plane. In one Human3.6M clip seen by
one camera the subject stays at about the same depth (the capture area is small against the
camera distance), so a high quantile of each bone's 2D length in pixels over the clip's
frames is about ``f / depth`` times its 3D length, for every bone with the same factor; the
ratios between bones of one clip-camera are then free of the unknown depth. Each clip-camera
gives a table (scaled to sum 1); the median over all clip-cameras of the training subjects,
left and right averaged, is the estimate. No 3D is read, except with ``--check``, which
compares the table with the bone lengths of a validation subject's 3D (printed, never used).

    python training/bone_ratios_2d.py --h36m ../shared/data/h36m --check S8 --out runs/bone_ratios_2d.json

The table is written in the form of :data:`poselift.skeleton.BONE_RATIOS` (joint -> length of
the bone to its parent), scaled so the head-to-ankle chain equals that of the built-in table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from poselift.evaluation.h36m import TEST_SUBJECTS, TRAIN_SUBJECTS, load_h36m
from poselift.skeleton import BONE_RATIOS, get_skeleton
from poselift.smooth import tree_bone_lengths


def chain_length(table: dict[str, float], skeleton) -> float:
    """Mean over the skeleton's height chains of the summed bone ratios along them."""
    total = []
    for chain in skeleton.height_chains:
        total.append(sum(table.get(skeleton.joints[j], 0.0) for j in chain if j >= 0 and skeleton.parents[j] >= 0
                         and (skeleton.parents[j] in chain or skeleton.parents[j] == -1)))
    return float(np.mean(total))


def bone_lengths(points: np.ndarray, skeleton) -> np.ndarray:
    """``(M, bones)`` length of each bone of ``skeleton.bones`` (its order) in ``(M, N, D)``
    points: the columns of :func:`poselift.smooth.tree_bone_lengths` for those bones."""
    tree = skeleton.bone_tree
    return tree_bone_lengths(points, skeleton)[:, [tree.index(b) for b in skeleton.bones]]


def estimate(kp2d: np.ndarray, seq: np.ndarray, skeleton, quantile: float = 0.99) -> dict[str, float]:
    """Ratio table from pixel 2D poses ``(M, N, 2)`` grouped by clip-camera ``seq``."""
    bones = skeleton.bones
    lengths = bone_lengths(kp2d, skeleton)  # (M, bones)
    tables = []
    for s in np.unique(seq):
        q = np.quantile(lengths[seq == s], quantile, axis=0)
        tables.append(q / q.sum())
    med = np.median(np.stack(tables), axis=0)
    raw = {skeleton.joints[j]: float(v) for (_, j), v in zip(bones, med)}
    for left, right in skeleton.pairs:  # mirror-image bones share one ratio
        a, b = skeleton.joints[left], skeleton.joints[right]
        if a in raw and b in raw:
            raw[a] = raw[b] = 0.5 * (raw[a] + raw[b])
    return raw


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--h36m", required=True)
    ap.add_argument("--skeleton", default="h36m17")
    ap.add_argument("--quantile", type=float, default=0.99)
    ap.add_argument("--check", default=None, metavar="SUBJECT", help="compare with this validation subject's 3D (printed only)")
    ap.add_argument("--out", default=None, help="write the table as JSON here")
    args = ap.parse_args(argv)
    if args.check in TEST_SUBJECTS:
        raise SystemExit(f"{args.check} is a test subject: check against a validation subject (S8)")
    sk = get_skeleton(args.skeleton)
    poses = load_h36m(args.h36m, list(TRAIN_SUBJECTS), inputs="gt", stride=2, skeleton=args.skeleton, with_3d=False)
    table = estimate(poses.kp2d, poses.seq, sk, args.quantile)
    builtin = BONE_RATIOS[args.skeleton]
    factor = chain_length(builtin, sk) / chain_length(table, sk)
    table = {k: round(v * factor, 4) for k, v in table.items()}
    rows = [("joint", "2D estimate", "built-in (anthropometric)")]
    ref = None
    if args.check:
        val = load_h36m(args.h36m, [args.check], inputs="gt", stride=10, skeleton=args.skeleton, with_3d=True)
        median = np.median(bone_lengths(val.pose3d, sk), axis=0)
        bone = {sk.joints[j]: float(v) for (_, j), v in zip(sk.bones, median)}
        ref_factor = chain_length(builtin, sk) / chain_length(bone, sk)
        ref = {k: v * ref_factor for k, v in bone.items()}
        rows[0] = rows[0] + (f"{args.check} 3D (check only)",)
    for name in sk.joints:
        if name in table:
            row = (name, f"{table[name]:.4f}", f"{builtin.get(name, 0.0):.4f}")
            rows.append(row + ((f"{ref[name]:.4f}",) if ref else ()))
    for r in rows:
        print(" | ".join(f"{c:>24}" for c in r))
    if ref:
        for label, t in (("2D estimate", table), ("built-in", builtin)):
            err = np.mean([abs(t[k] - ref[k]) / ref[k] for k in ref])
            print(f"mean relative error against {args.check} 3D: {label} {100 * err:.1f} %")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(table, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
