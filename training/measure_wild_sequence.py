"""Real-footage measures of per-frame lifting against ``lift_sequence``, without 3D labels.

On the real OpenPose (COCO-18) output of the 12 Kinetics clips in
``../shared/data/wild2d/kinetics_openpose_coco18.npz`` (x, y normalised to the 340x256 frame,
multiplied back here), each clip's person is lifted frame by frame (``lift``), as one clip
(``lift_sequence``, offline and causal) and as one clip without the bone-length step
(``bones=None``: what smoothing alone does to bone lengths). Per clip, over frames that could
be lifted:

- front/back flips: sign changes, between consecutive lifted frames, of the depth component of
  the torso normal ``cross(l_shoulder - r_shoulder, thorax - pelvis)`` (the person turning
  their back to the camera also changes it, so this counts an upper bound of the flips);
- bone-length CV: each bone's std / mean over the clip, median over bones;
- jitter: mean joint acceleration (m/s^2, root-relative).

Printed as a Markdown table of the sums/medians over clips::

    python training/measure_wild_sequence.py --data ../shared/data/wild2d --fps 30
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from poselift import Lifter, adapt_openpose
from poselift.smooth import bone_length_cv, jitter


def torso_flips(P: np.ndarray, lifted: np.ndarray) -> int:
    """Sign changes of the torso normal's depth between consecutive lifted frames (h36m17)."""
    normal = np.cross(P[:, 11] - P[:, 14], P[:, 8] - P[:, 0])[:, 2]
    ok = lifted[1:] & lifted[:-1]
    return int((np.sign(normal[1:]) != np.sign(normal[:-1]))[ok].sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="the wild2d folder")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--model", default="poselift/h36m-17")
    args = ap.parse_args()
    lifter = Lifter.from_pretrained(args.model)
    skel = lifter.skeleton
    clips = np.load(Path(args.data) / "kinetics_openpose_coco18.npz")
    methods = {
        "per frame (lift)": lambda kp, c: lifter.lift(kp, c, on_unliftable="nan"),
        "lift_sequence offline": lambda kp, c: lifter.lift_sequence(kp, c, fps=args.fps, on_unliftable="nan"),
        "lift_sequence causal": lambda kp, c: lifter.lift_sequence(kp, c, fps=args.fps, causal=True, on_unliftable="nan"),
        "lift_sequence offline, bones=None": lambda kp, c: lifter.lift_sequence(kp, c, fps=args.fps, on_unliftable="nan", bones=None),
    }
    rows = {m: {"flips": 0, "cv": [], "jitter": [], "lifted": 0} for m in methods}
    frames = 0
    for key in clips.files:
        raw = clips[key].astype(np.float64)
        xy = raw[..., :2] * np.array([340.0, 256.0])
        adapted = adapt_openpose(xy, layout="coco18", confidence=raw[..., 2])
        frames += len(raw)
        for name, fn in methods.items():
            result = fn(adapted.keypoints, adapted.confidence)
            P, lifted = np.asarray(result.poses, dtype=np.float64), np.asarray(result.lifted)
            rows[name]["lifted"] += int(lifted.sum())
            rows[name]["flips"] += torso_flips(P, lifted)
            if lifted.sum() >= 3:
                rows[name]["cv"].append(float(np.nanmedian(bone_length_cv(P[lifted], skel))))
                rows[name]["jitter"].append(jitter(np.where(lifted[:, None, None], P, np.nan), args.fps))
    print(f"{args.model}, {len(clips.files)} Kinetics clips, {frames} frames, OpenPose COCO-18, {args.fps:g} fps")
    print()
    print("| method | lifted frames | torso-normal sign changes | median bone-length CV | median jitter (m/s^2) |")
    print("|---|---:|---:|---:|---:|")
    for name, r in rows.items():
        print(f"| {name} | {r['lifted']} | {r['flips']} | {np.median(r['cv']):.3f} | {np.nanmedian(r['jitter']):.2f} |")


if __name__ == "__main__":
    main()
