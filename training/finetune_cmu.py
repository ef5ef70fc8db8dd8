"""Measure ``poselift finetune`` on footage a released model never saw: CMU clips.

The CMU clips are filmed by the seeded virtual cameras of ``poselift.evaluation.cmu``. The
2D of the fine-tuning clips (every ``--stride``-th frame, all cameras, no 3D) is written to
an ``.npz`` in ``OUT/`` (ignored by git: it is derived data), ``poselift finetune`` runs on
it with its default settings, and the base model and ``OUT/best`` are measured on the
held-out clips (their 3D is used for this measurement only). The clips of the same
subjects fall on both sides of the split, as a user's own footage would.

    python training/finetune_cmu.py poselift/h36m-17 --cmu ../shared/data/cmu_bvh --out runs/finetune_cmu
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from poselift import Lifter
from poselift.evaluation.cmu import load_cmu
from poselift.evaluation.evaluate import evaluate_poses

FINETUNE_CLIPS = ("02_01", "05_01", "07_01", "08_01", "09_01", "12_01")
HELD_OUT_CLIPS = ("02_04", "09_06", "13_11", "16_01")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base", help="lifter to fine-tune")
    ap.add_argument("--cmu", required=True, help="CMU clip folder")
    ap.add_argument("--out", required=True, help="run folder (also holds the derived 2D .npz)")
    ap.add_argument("--stride", type=int, default=2, help="fine-tuning clips: every N-th 120 fps frame (default 2)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="passed to poselift finetune")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    poses = load_cmu(args.cmu, list(FINETUNE_CLIPS), stride=args.stride)
    keypoints = out / "finetune_2d.npz"
    np.savez(keypoints, keypoints=poses.kp2d, layout=np.array("h36m17"))
    held_out = {inputs: load_cmu(args.cmu, list(HELD_OUT_CLIPS), inputs=inputs) for inputs in ("gt", "noisy")}

    t0 = time.time()
    cmd = [sys.executable, "-m", "poselift.cli", "finetune", args.base, str(keypoints), "-o", str(out / "run"), *sum((["--set", s] for s in args.overrides), [])]
    print("$ poselift", " ".join(cmd[3:]), flush=True)
    subprocess.run(cmd, check=True)
    minutes = (time.time() - t0) / 60

    report: dict[str, object] = {"finetune_poses": len(poses), "minutes": round(minutes, 1), "command": "poselift " + " ".join(cmd[3:])}
    for label, model in (("base", args.base), ("finetuned", str(out / "run" / "best"))):
        lifter = Lifter.from_pretrained(model)
        for inputs, data in held_out.items():
            report[f"{label} held-out {inputs} P-MPJPE"] = round(evaluate_poses(lifter, data)["average_over_actions"]["p_mpjpe"], 1)
    for inputs in ("gt", "noisy"):
        b, f = report[f"base held-out {inputs} P-MPJPE"], report[f"finetuned held-out {inputs} P-MPJPE"]
        report[f"change {inputs} %"] = round(100.0 * (f - b) / b, 1)
    print(json.dumps(report, indent=2))
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
