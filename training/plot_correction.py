"""Figure: what the learned 2D domain correction does to real detections.

Left: the mean normalised pose of Human3.6M ground-truth 2D (the target convention), of the
Stacked-Hourglass detections mapped geometrically, and of the same detections after the
learned correction. Right: per-joint mean 2D error against the ground truth of the same
frames, before and after the correction. Subject S8 (held out from every training run;
the correction never saw its frames paired with ground truth)::

    python training/plot_correction.py runs/corrections/mpii16-h36m17 --h36m ../shared/data/h36m \\
        --out training/figures/correction_mpii16.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from poselift import geometry, get_skeleton
from poselift.correction import LearnedCorrection
from poselift.evaluation.h36m import load_h36m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("correction")
    ap.add_argument("--h36m", required=True)
    ap.add_argument("--subject", default="S8")
    ap.add_argument("--stride", type=int, default=4)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    C = LearnedCorrection.from_folder(args.correction)
    skel = get_skeleton(C.config.target)
    det = load_h36m(args.h36m, [args.subject], inputs="detected", stride=args.stride, skeleton=skel.name)
    gt = load_h36m(args.h36m, [args.subject], inputs="gt", stride=args.stride, skeleton=skel.name)
    names = {n: i for i, n in enumerate(gt.names)}
    rows = np.concatenate([np.nonzero(gt.seq == names[n])[0][: int((det.seq == i).sum())] for i, n in enumerate(det.names)])
    gt2d = torch.from_numpy(gt.kp2d[rows])
    raw = torch.from_numpy(det.kp2d)
    fixed = C(raw, torch.ones(raw.shape[:-1]))

    # errors in units of the ground-truth pose's RMS size, so frames of any image scale average fairly
    size = geometry.pose_size(gt2d - geometry.root_point(gt2d, skel), skel)[:, None]
    err_before = ((raw - gt2d).norm(dim=-1) / size).mean(0).numpy() * 100
    err_after = ((fixed - gt2d).norm(dim=-1) / size).mean(0).numpy() * 100

    # seen from behind, a person's left shoulder is on the image's left: mirror those frames
    # (decided on the ground truth, applied alike to all three) so the mean is of front views
    ls, rs = skel.index("left_shoulder"), skel.index("right_shoulder")
    mirror = torch.where(gt2d[:, ls, 0] < gt2d[:, rs, 0], -1.0, 1.0)[:, None]

    def mean_pose(x: torch.Tensor) -> np.ndarray:
        x_n = geometry.normalize_2d(x, skel, 1.0)[0]
        return torch.stack([x_n[..., 0] * mirror, x_n[..., 1]], dim=-1).mean(0).numpy()

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 6), gridspec_kw={"width_ratios": [1, 1.5]})
    for pose, colour, label in ((mean_pose(gt2d), "black", "ground truth (target convention)"),
                                (mean_pose(raw), "tab:red", "detections, geometric mapping"),
                                (mean_pose(fixed), "tab:green", "detections + learned correction")):
        for p, c in skel.bones:
            ax1.plot(pose[[p, c], 0], -pose[[p, c], 1], color=colour, lw=2, alpha=0.8)
        ax1.scatter(pose[:, 0], -pose[:, 1], color=colour, s=12, label=label)
    ax1.set_aspect("equal")
    ax1.set_title(f"mean normalised 2D pose (front views), {args.subject} (held out)")
    ax1.legend(loc="upper center", bbox_to_anchor=(0.5, -0.01), fontsize=8)
    ax1.set_xticks([])
    ax1.set_yticks([])
    idx = np.arange(skel.num_joints)
    ax2.bar(idx - 0.2, err_before, 0.4, color="tab:red", label=f"geometric mapping (mean {err_before.mean():.1f})")
    ax2.bar(idx + 0.2, err_after, 0.4, color="tab:green", label=f"+ learned correction (mean {err_after.mean():.1f})")
    ax2.set_xticks(idx, skel.joints, rotation=60, ha="right", fontsize=8)
    ax2.set_ylabel("mean 2D error vs ground truth (% of pose RMS size)")
    ax2.set_title(f"per-joint error of Stacked-Hourglass detections, {args.subject}")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}: mean error {err_before.mean():.2f} -> {err_after.mean():.2f} % of pose size")
    for j, n in enumerate(skel.joints):
        print(f"  {n:<15} {err_before[j]:6.2f} -> {err_after[j]:6.2f}")


if __name__ == "__main__":
    main()
