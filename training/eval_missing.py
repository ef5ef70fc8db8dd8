"""P-MPJPE on Human3.6M S9+S11 (GT 2D) with 0, 1, 2 and 3 random joints removed per pose.

The removed joints get confidence 0 and NaN coordinates; the lifter's completion network
fills them before lifting. Joints are drawn uniformly per pose with a fixed seed::

    python training/eval_missing.py poselift/h36m-17 --h36m ../shared/data/h36m
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from poselift import Lifter, geometry, metrics
from poselift.evaluation.h36m import TEST_SUBJECTS, load_h36m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--h36m", required=True)
    ap.add_argument("--stride", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json")
    args = ap.parse_args()
    lifter = Lifter.from_pretrained(args.model)
    skel = lifter.skeleton
    data = load_h36m(args.h36m, list(TEST_SUBJECTS), stride=args.stride, skeleton=skel.name)
    gt = torch.from_numpy(data.pose3d).double()
    gt = gt - geometry.root_point(gt, skel)
    actions = np.array([data.action_of(int(s)) for s in range(len(data.names))])[data.seq]
    rng = np.random.default_rng(args.seed)
    results = {}
    for k in (0, 1, 2, 3):
        kp = data.kp2d.copy()
        conf = np.ones(kp.shape[:-1], dtype=np.float32)
        if k:
            hidden = np.argsort(rng.random(conf.shape), axis=1)[:, :k]
            np.put_along_axis(conf, hidden, 0.0, axis=1)
            kp[conf == 0] = np.nan
        pred = torch.from_numpy(lifter.lift(kp, conf if k else None)).double()
        err = metrics.p_mpjpe(pred, gt)
        per_action = [err[actions == a].mean() for a in sorted(set(actions.tolist()))]
        results[k] = float(np.mean(per_action))
        print(f"{k} joint(s) removed per pose: P-MPJPE {results[k]:.1f} mm (average over actions, {len(kp)} poses)")
    ratio = results[1] / results[0]
    print(f"1 joint removed vs complete: x{ratio:.3f} ({(ratio - 1) * 100:+.1f} %)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": args.model, "p_mpjpe_by_removed_joints": results}, f, indent=2)


if __name__ == "__main__":
    main()
