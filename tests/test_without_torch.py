"""The base install serves without PyTorch: lifting, completion, the adapters (with the learned
correction), the readers, ``poselift lift`` and ``poselift demo`` and the plots.

A subprocess blocks ``torch`` and ``onnx`` (the export package) with a meta-path finder, as if
they were not installed, and runs everything there; the ONNX graphs shipped next to the
released weights do the work.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import BLOCK_TORCH

pytest.importorskip("onnxruntime")

GOLDEN = Path(__file__).parent / "golden" / "poselift__h36m-17.json"

_BLOCK = BLOCK_TORCH

_CHECKS = '''
import json, shutil, sys
from pathlib import Path
import numpy as np

out_dir = Path(sys.argv[1])
golden = json.loads(Path(sys.argv[2]).read_text())
report = {}

import poselift
from poselift import Lifter, MissingDependencyError, adapt_mpii16, adapt_openpose, read_keypoints
from poselift.demo import sample_path
from poselift.weights import resolve_model

lifter = Lifter.from_pretrained("poselift/h36m-17")
report["backend"] = lifter.backend
kp = np.asarray(golden["keypoints"])
report["golden_error"] = float(np.abs(lifter.lift(kp) - np.asarray(golden["pose3d"])).max())

conf = np.ones(kp.shape[:-1], dtype=np.float32)
conf[0, [3, 13]] = 0.0
holes = kp.copy()
holes[0, [3, 13]] = np.nan
result = lifter.lift(holes, conf, on_unliftable="nan")
poses, filled = result.poses, result.filled
report["completion_finite"] = bool(np.isfinite(poses).all())
report["filled"] = int(filled.sum())

data = read_keypoints(sample_path("openpose_walk"))
report["frames_read"] = int(data.keypoints.shape[0])
adapted = adapt_openpose(data.keypoints[:, 0], layout="body25", confidence=data.confidence[:, 0])
result = lifter.lift(adapted, on_unliftable="nan")
report["walk_lifted"] = int(result.lifted.sum())

template = np.array([[-20, 400], [-18, 300], [-15, 200], [15, 200], [18, 300], [20, 400], [0, 200], [0, 90],
                     [0, 70], [0, 20], [-60, 200], [-45, 150], [-30, 90], [30, 90], [45, 150], [60, 200]], float)
mpii = (template[None] * np.array([1.0, 1.5])[:, None, None] + 300.0).astype(np.float32)
moved = np.abs(adapt_mpii16(mpii).keypoints - adapt_mpii16(mpii, correction=None).keypoints).max()
report["correction_moves"] = float(moved)

from poselift.cli import main
report["cli_lift"] = main(["lift", str(sample_path("openpose_walk")), "-o", str(out_dir / "walk.json")])
report["cli_demo"] = main(["demo", "-o", str(out_dir / "demo")])

from poselift.viz import save_pose_plot
save_pose_plot(poses[1], "h36m17", out_dir / "pose.png")
report["plot"] = (out_dir / "pose.png").stat().st_size > 0

try:
    Lifter(lifter.config)
except MissingDependencyError as e:
    report["torch_error"] = str(e)

try:
    lifter.save_pretrained(out_dir / "saved")  # the README's block after the quickstart
except MissingDependencyError as e:
    report["save_error"] = str(e)
report["saved_nothing"] = not (out_dir / "saved").exists()

bare = out_dir / "no-graphs"
shutil.copytree(resolve_model("poselift/h36m-17"), bare)
(bare / "model.onnx").unlink()
try:
    Lifter.from_pretrained(bare)
except MissingDependencyError as e:
    report["export_error"] = str(e)

report["imported"] = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "onnx"))
print(json.dumps(report))
'''


def test_the_core_works_without_torch(tmp_path):
    script = tmp_path / "no_torch.py"
    script.write_text(textwrap.dedent(_BLOCK) + textwrap.dedent(_CHECKS))
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(GOLDEN)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["imported"] == []  # neither torch nor onnx was ever imported
    assert report["backend"] == "onnx"
    assert report["golden_error"] < 1e-4  # the golden outputs of the torch backend, within 0.1 mm
    assert report["completion_finite"] and report["filled"] == 2
    assert report["frames_read"] == 70 and report["walk_lifted"] > 0
    assert report["correction_moves"] > 0.01  # the shipped MPII-16 correction ran (pixels)
    assert report["cli_lift"] == 0 and (tmp_path / "walk.json").is_file()
    assert report["cli_demo"] == 0 and (tmp_path / "demo" / "poses3d.npz").is_file()
    assert report["plot"]
    assert 'pip install ".[torch]" (in the poselift checkout)' in report["torch_error"]
    assert "model.onnx" in report["export_error"] and 'pip install ".[torch]"' in report["export_error"]
    assert 'saving' in report["save_error"] and 'pip install ".[torch]"' in report["save_error"]  # documented type
    assert report["saved_nothing"]
    lifted = json.loads((tmp_path / "walk.json").read_text())
    assert lifted  # a real file with content
    assert np.isfinite(np.load(tmp_path / "demo" / "poses3d.npz")["poses3d"]).any()
