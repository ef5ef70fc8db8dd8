"""Figure: a clip lifted frame by frame and with ``lift_sequence`` (offline and causal).

The clip is the OpenPose walking sample that ships with poselift (70 frames at 30 fps), with
Gaussian noise of ``--noise`` pixels added to every keypoint, as a detector's jitter. Left:
the depth of the right wrist and of the left ankle (root-relative, metres) over the frames.
Right: two bone lengths over the frames. Needs matplotlib::

    python training/plot_sequence.py --out training/figures/sequence_walk.png
"""

from __future__ import annotations

import argparse

import numpy as np

from poselift import Lifter, adapt_openpose, read_keypoints
from poselift.demo import sample_path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--noise", type=float, default=3.0, help="pixels of Gaussian noise added to each keypoint")
    ap.add_argument("--model", default="poselift/h36m-17")
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lifter = Lifter.from_pretrained(args.model)
    data = read_keypoints(sample_path("openpose_walk"))
    adapted = adapt_openpose(data.keypoints[:, 0], layout="body25", confidence=data.confidence[:, 0])
    kp = np.asarray(adapted.keypoints, dtype=np.float64)
    conf = np.asarray(adapted.confidence, dtype=np.float64)
    kp = kp + np.random.default_rng(0).normal(0.0, args.noise, kp.shape)
    fps = 30.0
    per_frame = lifter.lift(kp, conf, on_unliftable="nan").poses
    offline = lifter.lift_sequence(kp, conf, fps=fps, on_unliftable="nan").poses
    causal = lifter.lift_sequence(kp, conf, fps=fps, causal=True, on_unliftable="nan").poses
    t = np.arange(len(kp))
    names = lifter.skeleton.joints
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    styles = (("per frame (lift)", per_frame, dict(color="0.6", lw=1)), ("lift_sequence offline", offline, dict(color="C0", lw=2)),
              ("lift_sequence causal", causal, dict(color="C1", lw=1.5, ls="--")))  # fmt: skip
    for j, off in ((16, 0.0), (6, 0.0)):
        for label, P, style in styles:
            axes[0].plot(t, P[:, j, 2] + off, label=f"{label}" if j == 16 else None, **style)
        axes[0].annotate(names[j], (t[-1], offline[-1, j, 2]), fontsize=8)
    axes[0].set_xlabel("frame (30 fps)")
    axes[0].set_ylabel("depth from the pelvis (m)")
    axes[0].set_title(f"joint depth, {args.noise:g} px keypoint noise")
    axes[0].legend(fontsize=8)
    for child, parent in ((16, 15), (5, 4)):
        for label, P, style in styles:
            axes[1].plot(t, np.linalg.norm(P[:, child] - P[:, parent], axis=-1), **style)
        axes[1].annotate(f"{names[parent]}-{names[child]}", (t[-1], np.linalg.norm(offline[-1, child] - offline[-1, parent])), fontsize=8)
    axes[1].set_xlabel("frame (30 fps)")
    axes[1].set_ylabel("bone length (m)")
    axes[1].set_title("bone lengths")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
