"""Lift a folder of OpenPose JSON files (one file per video frame) to 3D.

    pip install ".[viz]"
    python examples/lift_openpose_folder.py path/to/openpose_json/ lifted/
    python examples/lift_openpose_folder.py            # lifts poselift's bundled sample

Writes lifted/poses3d.json (readable), lifted/poses3d.npz (arrays) and, when matplotlib
is installed, lifted/first_person.png. Every person of every frame is lifted on its own;
a person with a joint the lifter needs but OpenPose did not find is skipped and listed
in the output with the missing joints.
"""

import argparse
import logging
from pathlib import Path

import numpy as np

from poselift import Lifter
from poselift.adapt import adapt_openpose
from poselift.demo import sample_path
from poselift.io import read_keypoints, write_poses

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("folder", nargs="?", default=None, help="OpenPose JSON folder (default: bundled sample)")
parser.add_argument("out", nargs="?", default="lifted", help="output folder")
parser.add_argument("--model", default="poselift/h36m-17", help="hub id or local folder of a lifter")
args = parser.parse_args()
logging.basicConfig(level=logging.INFO, format="%(message)s")

# 1. Read: (frames, people, 25, 2) pixels and (frames, people, 25) confidences.
data = read_keypoints(args.folder or sample_path("openpose_walk"))
print(data)

# 2. Map BODY_25 (or COCO-18) to the lifter's joint layout, e.g. Human3.6M-17.
lifter = Lifter.from_pretrained(args.model)
kp, conf = adapt_openpose(data.keypoints, confidence=data.confidence, target=lifter.config.skeleton)

# 3. Lift the complete poses only (padding slots and poses with missing joints are skipped).
threshold = lifter.config.confidence_threshold
ok = data.present & (conf >= threshold).all(axis=-1)
poses3d = np.full(kp.shape[:-1] + (3,), np.nan, dtype=np.float32)
if ok.any():
    poses3d[ok] = lifter.lift(kp[ok], conf[ok])  # (poses, 17, 3) metres, camera axes, root-relative
print(f"lifted {int(ok.sum())} of {int(data.present.sum())} people in {data.num_frames} frames")

# 4. Save, with the frame names and which poses were skipped (and why).
out = Path(args.out)
for suffix in ("json", "npz"):
    write_poses(
        out / f"poses3d.{suffix}", poses3d, skeleton=lifter.skeleton, frames=data.frames,
        num_people=data.num_people, lifted=ok, missing=conf < threshold,
        metadata={"model": args.model, "input": str(args.folder or "poselift sample openpose_walk")},
    )

# 5. Optional picture of the first lifted pose next to its 2D input.
try:
    from poselift.viz import save_pose_plot
except ImportError:
    pass
else:
    if ok.any():
        f, p = np.argwhere(ok)[0]
        body = np.concatenate([data.keypoints[f, p], data.confidence[f, p, :, None]], axis=-1)
        save_pose_plot(poses3d[f, p], lifter.skeleton, out / "first_person.png", keypoints2d=body,
                       skeleton2d=data.skeleton, title=f"frame {data.frames[f]}, person {p}")
print(f"results in {out.resolve()}")
