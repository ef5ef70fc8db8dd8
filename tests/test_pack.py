"""training/pack_h36m.py and training/train_gpu.py: the compact file a GPU machine trains from."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))

pack_h36m = pytest.importorskip("pack_h36m")


def _fake_h36m(folder: Path) -> Path:
    """A tiny folder in the Human3.6M layout: two subjects, one sequence each, four cameras."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    cams, data3d, det = {}, {}, {}
    for subject in ("S1", "S8"):
        cams[subject] = {}
        for i, cam in enumerate(("54138969", "55011271", "58860488", "60457274")):
            a = i * np.pi / 2
            R = [[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]]
            cams[subject][cam] = {"R": R, "T": [0.0, 0.0, -5000.0], "f": [1145.0, 1144.0], "c": [512.0, 515.0],
                                  "k": [0.0, 0.0, 0.0], "p": [0.0, 0.0], "res_wh": [1000, 1002]}
            det[f"{subject}/Walking 1.{cam}"] = rng.uniform(300, 700, (40, 16, 2)).astype(np.float32)
        data3d[f"{subject}/Walking 1"] = (rng.normal(0, 300, (40, 17, 3)) + [1500.0, -800.0, 900.0]).astype(np.float32)
    (folder / "cameras.json").write_text(json.dumps(cams))
    np.savez(folder / "h36m_3d_17j.npz", **data3d)
    np.savez(folder / "h36m_sh_2d_train.npz", **det)
    return folder


def test_pack_round_trip_keeps_millimetres_and_pixels(tmp_path):
    src = _fake_h36m(tmp_path / "h36m")
    manifest = pack_h36m.pack(src, tmp_path / "pack.npz", stride=2, val_stride=4)
    assert manifest["stride"] == 2
    out = tmp_path / "unpacked"
    pack_h36m.unpack(tmp_path / "pack.npz", out)
    original, restored = np.load(src / "h36m_3d_17j.npz"), np.load(out / "h36m_3d_17j.npz")
    np.testing.assert_allclose(restored["S1/Walking 1"], original["S1/Walking 1"][::2], atol=0.6)  # float16 offsets: < 0.6 mm
    np.testing.assert_allclose(restored["S8/Walking 1"], original["S8/Walking 1"][::4], atol=0.6)
    det_o, det_r = np.load(src / "h36m_sh_2d_train.npz"), np.load(out / "h36m_sh_2d_train.npz")
    np.testing.assert_allclose(det_r["S1/Walking 1.54138969"], det_o["S1/Walking 1.54138969"][::2], atol=0.5)
    np.testing.assert_allclose(det_r["S8/Walking 1.54138969"], det_o["S8/Walking 1.54138969"][::4], atol=0.5)  # validation
    assert json.loads((out / "cameras.json").read_text()) == json.loads((src / "cameras.json").read_text())


def test_gpu_overrides_keep_the_passes_over_the_data():
    train_gpu = pytest.importorskip("train_gpu")
    got = dict(item.split("=") for item in train_gpu.gpu_overrides(6000, 400, 8192, 1024, 1.0))
    assert got["batch_size"] == "8192" and got["steps"] == "750" and got["decay_every"] == "50"


def test_gpu_run_script_trains_both_recipes_and_summarises_on_the_cpu(tmp_path):
    """training/gpu_run.sh end to end at a tiny size (DEVICE=cpu, a few steps, a fake pack)."""
    import os
    import subprocess

    src = _fake_h36m(tmp_path / "h36m")
    pack_h36m.pack(src, tmp_path / "pack.npz", stride=1, val_stride=4)
    out = tmp_path / "out"
    env = dict(os.environ, OUT=str(out), DEVICE="cpu", BATCH="1024", EPOCHS_XVIEW="0.0005", EPOCHS_MONO="0.0012",
               MINUTES="5", PYTHON=sys.executable, OMP_NUM_THREADS="1",
               EXTRA_SET="data.subjects=[S1] lifter.width=32 discriminator.width=32 flow_prior.steps=5 flow_prior.width=16")
    script = Path(__file__).resolve().parents[1] / "training" / "gpu_run.sh"
    result = subprocess.run(["bash", str(script), str(tmp_path / "pack.npz")], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((out / "summary.json").read_text())
    for name in ("xview", "mono"):
        assert summary[name]["last_step"] == 4, (name, (out / f"{name}.log").read_text()[-2000:])
        assert summary[name]["S8_p_mpjpe"] is not None and (out / name / "best" / "model.safetensors").is_file()
