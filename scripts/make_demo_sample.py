"""Build the OpenPose-style demo sample shipped in ``src/poselift/samples/openpose_walk``.

The sample is derived from a CMU Graphics Lab motion-capture clip (BVH). The data used
in this project was obtained from mocap.cs.cmu.edu. The database was created with
funding from NSF EIA-0196217.

Steps: parse the BVH (hierarchy, offsets, per-joint channel order, Euler angles in the
listed order), run forward kinematics, keep a stretch of the clip at 30 fps, map the CMU
joints to OpenPose BODY_25, film them with a virtual pinhole camera, add detector-like
pixel noise and confidences, and write one OpenPose JSON file per frame.

Usage (from the repository root)::

    python scripts/make_demo_sample.py                      # ../shared/data/cmu_bvh or $POSELIFT_DATA/cmu_bvh
    python scripts/make_demo_sample.py /path/to/cmu_bvh --clip 02_01 --out src/poselift/samples/openpose_walk

The output is deterministic (fixed seed). Only 2D keypoints are written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from poselift.evaluation.cmu import BvhClip, forward_kinematics, look_at, read_bvh

REPO = Path(__file__).resolve().parents[1]
SEED = 20190615

# BVH parsing and forward kinematics: poselift.evaluation.cmu (read_bvh, forward_kinematics).


# --------------------------------------------------------------------------- CMU -> BODY_25

BODY25 = [
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
    "left_elbow", "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle",
    "left_hip", "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear",
    "left_ear", "left_big_toe", "left_small_toe", "left_heel", "right_big_toe",
    "right_small_toe", "right_heel",
]  # fmt: skip

# Joints taken as they are (BODY_25 name -> CMU joint).
_DIRECT = {
    "right_shoulder": "rShldr", "right_elbow": "rForeArm", "right_wrist": "rHand",
    "left_shoulder": "lShldr", "left_elbow": "lForeArm", "left_wrist": "lHand",
    "right_hip": "rThigh", "right_knee": "rShin", "right_ankle": "rFoot",
    "left_hip": "lThigh", "left_knee": "lShin", "left_ankle": "lFoot",
    "right_eye": "rightEye", "left_eye": "leftEye",
}  # fmt: skip

# Points fixed to a body part: BODY_25 name -> (CMU joint, offset in that joint's frame).
# The CMU rest pose faces +Z with the subject's left at +X and Y up; offsets are in the
# clip's units (about a centimetre each). Feet: the End Site of a foot is the toe tip.
_HEAD_POINTS = {
    "nose": ("head", (0.2, 4.0, 11.0)),
    "right_ear": ("head", (-7.2, 5.5, -0.5)),
    "left_ear": ("head", (7.4, 5.5, -0.5)),
}


def _foot_points(clip: BvhClip, side: str) -> dict[str, tuple[str, np.ndarray]]:
    foot = f"{side}Foot"
    toe = clip.joints[clip.index(foot)].end_site
    lateral = 1.0 if side == "l" else -1.0  # +X is the subject's left
    sole = toe[1]
    name = "left" if side == "l" else "right"
    return {
        f"{name}_big_toe": (foot, toe + np.array([-2.0 * lateral, 0.5, 0.5])),
        f"{name}_small_toe": (foot, toe + np.array([3.5 * lateral, 0.5, -2.5])),
        f"{name}_heel": (foot, np.array([0.0, sole + 0.8, -5.5])),
    }


def cmu_to_body25(clip: BvhClip, pos: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """``(F, 25, 3)`` BODY_25 joints in the clip's world frame."""
    out = np.zeros((pos.shape[0], 25, 3))
    for name, cmu in _DIRECT.items():
        out[:, BODY25.index(name)] = pos[:, clip.index(cmu)]
    points = dict(_HEAD_POINTS)
    points.update(_foot_points(clip, "l"))
    points.update(_foot_points(clip, "r"))
    for name, (cmu, offset) in points.items():
        j = clip.index(cmu)
        out[:, BODY25.index(name)] = pos[:, j] + np.einsum("fab,b->fa", rot[:, j], np.asarray(offset, float))
    # OpenPose's neck sits between the shoulders; its mid-hip between the hips.
    out[:, BODY25.index("neck")] = 0.5 * (pos[:, clip.index("lShldr")] + pos[:, clip.index("rShldr")])
    out[:, BODY25.index("mid_hip")] = 0.5 * (pos[:, clip.index("lThigh")] + pos[:, clip.index("rThigh")])
    return out


# --------------------------------------------------------------------------- camera


def project(points: np.ndarray, R: np.ndarray, center: np.ndarray, focal: float, principal: tuple[float, float]) -> np.ndarray:
    """Pinhole projection of world points ``(..., 3)`` to pixels ``(..., 2)``."""
    cam = (points - center) @ R.T
    if np.any(cam[..., 2] <= 0.1):
        raise ValueError("a joint is behind or too close to the virtual camera")
    return focal * cam[..., :2] / cam[..., 2:] + np.asarray(principal)


# --------------------------------------------------------------------------- detector noise

# Per-joint detector behaviour: (typical confidence, pixel noise sigma).
_EASY = {"neck", "right_shoulder", "left_shoulder", "mid_hip", "right_hip", "left_hip", "nose"}
_MEDIUM = {"right_elbow", "left_elbow", "right_knee", "left_knee", "right_eye", "left_eye"}
_HARD = {"right_wrist", "left_wrist", "right_ankle", "left_ankle"}


def detector_like(pixels: np.ndarray, far_side: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Noisy pixels ``(F, 25, 2)`` and confidences ``(F, 25)`` like an OpenPose run.

    ``far_side`` (``"left"``/``"right"``) is the side turned away from the camera, whose
    joints are detected less surely. A few joints per clip get a poor detection (low
    confidence, larger error).
    """
    F = pixels.shape[0]
    base = np.empty(25)
    sigma = np.empty(25)
    for j, name in enumerate(BODY25):
        if name in _EASY:
            base[j], sigma[j] = 0.90, 1.8
        elif name in _MEDIUM:
            base[j], sigma[j] = 0.82, 2.2
        elif name in _HARD:
            base[j], sigma[j] = 0.75, 2.8
        else:  # ears, toes, heels
            base[j], sigma[j] = 0.68, 3.2
        if name.startswith(far_side):
            base[j] -= 0.10
            sigma[j] *= 1.3
    # Slowly drifting bias (detectors are temporally correlated) plus white jitter.
    drift = np.zeros((F, 25, 2))
    step = rng.normal(0.0, 1.0, size=(F, 25, 2))
    for t in range(1, F):
        drift[t] = 0.8 * drift[t - 1] + 0.6 * step[t]
    noise = sigma[None, :, None] * (0.6 * drift + 0.8 * rng.normal(size=(F, 25, 2)))
    conf = base[None, :] + rng.normal(0.0, 0.04, size=(F, 25))
    poor = rng.random((F, 25)) < 0.02
    conf[poor] = rng.uniform(0.25, 0.5, size=int(poor.sum()))
    noise[poor] *= 2.5
    return pixels + noise, np.clip(conf, 0.2, 0.96)


# --------------------------------------------------------------------------- main


def default_data_dir() -> Path:
    env = os.environ.get("POSELIFT_DATA")
    if env:
        return Path(env) / "cmu_bvh"
    return REPO.parent / "shared" / "data" / "cmu_bvh"


def build(args: argparse.Namespace) -> int:
    path = Path(args.data) / f"{args.clip}.bvh"
    if not path.is_file():
        print(f"error: {path} does not exist; pass the folder holding the CMU BVH clips", file=sys.stderr)
        return 2
    clip = read_bvh(path)
    pos, rot = forward_kinematics(clip)
    world = cmu_to_body25(clip, pos, rot)

    # Scale: the converted clips are in roughly centimetre units; scale so the subject's
    # eye height in the rest pose (frame 0) matches an adult (1.60 m, about 1.72 m tall).
    eyes = 0.5 * (world[0, BODY25.index("left_eye")] + world[0, BODY25.index("right_eye")])
    ground = world[0, :, 1].min()
    scale = 1.60 / (eyes[1] - ground)
    world = (world - np.array([0.0, ground, 0.0])) * scale

    step = max(1, round(1.0 / (clip.frame_time * args.fps)))
    frames = world[args.start :: step][: args.frames]
    if frames.shape[0] < args.frames:
        print(f"error: {path} has too few frames for {args.frames} at {args.fps} fps from {args.start}", file=sys.stderr)
        return 2

    # Camera: ``distance`` metres from the middle of the walk, eye-level-plus height,
    # looking at the pelvis height; turned ``azimuth`` degrees from the walking direction's
    # normal so the view is oblique.
    hips = frames[:, BODY25.index("mid_hip")]
    middle = hips.mean(axis=0)
    walk = hips[-1] - hips[0]
    walk[1] = 0.0
    walk /= np.linalg.norm(walk)
    side = np.cross(np.array([0.0, 1.0, 0.0]), walk)  # horizontal, perpendicular to the walk
    a = np.deg2rad(args.azimuth)
    view = np.cos(a) * side + np.sin(a) * walk
    center = middle + args.distance * view
    center[1] = args.camera_height
    target = middle.copy()
    target[1] = 1.0
    R = look_at(center, target)
    width, height = args.image_size
    pixels = project(frames, R, center, args.focal, (width / 2.0, height / 2.0))

    # The far side: the person's left faces the camera when left-to-camera < 0 along view.
    left_dir = frames[:, BODY25.index("left_hip")] - frames[:, BODY25.index("right_hip")]
    far_side = "left" if float(np.mean(left_dir @ view)) < 0 else "right"
    rng = np.random.default_rng(SEED)
    noisy, conf = detector_like(pixels, far_side, rng)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*_keypoints.json"):
        old.unlink()
    for t in range(frames.shape[0]):
        flat = np.concatenate([noisy[t], conf[t][:, None]], axis=1).reshape(-1)
        values = [round(float(v), 2) if i % 3 != 2 else round(float(v), 3) for i, v in enumerate(flat)]
        doc = {
            "version": 1.3,
            "people": [
                {
                    "person_id": [-1],
                    "pose_keypoints_2d": values,
                    "face_keypoints_2d": [],
                    "hand_left_keypoints_2d": [],
                    "hand_right_keypoints_2d": [],
                    "pose_keypoints_3d": [],
                    "face_keypoints_3d": [],
                    "hand_left_keypoints_3d": [],
                    "hand_right_keypoints_3d": [],
                }
            ],
        }
        name = f"{args.name}_{t:012d}_keypoints.json"
        (out / name).write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")

    total = sum(f.stat().st_size for f in out.glob("*_keypoints.json"))
    lo, hi = pixels.reshape(-1, 2).min(0), pixels.reshape(-1, 2).max(0)
    print(
        f"{path.name}: {clip.motion.shape[0]} frames at {1 / clip.frame_time:.0f} fps -> {frames.shape[0]} frames "
        f"at {args.fps} fps (every {step}th from {args.start}); scale {scale:.4f} m/unit; far side {far_side}; "
        f"pixels x {lo[0]:.0f}..{hi[0]:.0f}, y {lo[1]:.0f}..{hi[1]:.0f}; wrote {out} ({total / 1024:.1f} KB)"
    )
    if np.any(lo < 0) or hi[0] > width or hi[1] > height:
        print("warning: some joints fall outside the image", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", nargs="?", default=str(default_data_dir()), help="folder with the CMU BVH clips")
    p.add_argument("--clip", default="02_01", help="subject_trial of the clip (02_01: walking)")
    p.add_argument("--out", default=str(REPO / "src" / "poselift" / "samples" / "openpose_walk"))
    p.add_argument("--name", default="walk", help="file name prefix (OpenPose: <name>_<frame>_keypoints.json)")
    p.add_argument("--start", type=int, default=60, help="first source frame (skips the T-pose lead-in)")
    p.add_argument("--frames", type=int, default=70, help="frames to write")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--distance", type=float, default=4.0, help="camera distance (m)")
    p.add_argument("--camera-height", type=float, default=1.8, help="camera height above the floor (m)")
    p.add_argument("--azimuth", type=float, default=35.0, help="view angle from the walk's normal (degrees)")
    p.add_argument("--focal", type=float, default=1000.0, help="focal length (px)")
    p.add_argument("--image-size", type=int, nargs=2, default=(1920, 1080), metavar=("W", "H"))
    return build(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
