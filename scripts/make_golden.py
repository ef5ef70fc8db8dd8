"""Write golden outputs of the released (bundled) lifters: tests/golden/<name>.json.

Inputs are fixed and derived from nothing but the package's own CMU demo sample and a
hand-made pose, so the file holds no Human3.6M data. Run after changing released weights:

    python scripts/make_golden.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from poselift import Lifter, adapt_layout, read_keypoints
from poselift.demo import sample_path
from poselift.weights import BUNDLED

OUT = Path(__file__).resolve().parents[1] / "tests" / "golden"


def golden_inputs(layout: str) -> tuple[np.ndarray, np.ndarray]:
    """Eight poses of the demo walk (every 9th frame) in ``layout``, pixels, and their confidence."""
    data = read_keypoints(sample_path("openpose_walk"))
    kp = data.keypoints[::9, 0]
    conf = data.confidence[::9, 0]
    adapted = adapt_layout(kp, data.layout, conf, target=layout, correction=None)
    return np.round(np.asarray(adapted.keypoints, dtype=np.float64), 3), np.asarray(adapted.confidence)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name in sorted(BUNDLED):
        lifter = Lifter.from_pretrained(name, backend="torch")
        kp, _ = golden_inputs(lifter.config.skeleton)
        out = lifter.lift(kp)  # float64 in, float64 out
        path = OUT / (name.replace("/", "__") + ".json")
        path.write_text(json.dumps({"model": name, "keypoints": kp.tolist(), "pose3d": np.round(out, 6).tolist()}) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
