"""The bundled OpenPose sample and ``poselift.demo.run_demo`` (offline, tiny random lifter)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import tiny_lifter
from poselift.demo import SAMPLES, run_demo, sample_path
from poselift.errors import PoseliftError

SAMPLE_FRAMES = 70  # documented in src/poselift/samples/README.md


def test_sample_ships_in_the_package():
    folder = sample_path("openpose_walk")
    files = sorted(folder.glob("*_keypoints.json"))
    assert len(files) == SAMPLE_FRAMES
    assert sum(f.stat().st_size for f in files) < 300 * 1024
    readme = (folder.parent / "README.md").read_text(encoding="utf-8")
    assert "mocap.cs.cmu.edu" in readme and "NSF EIA-0196217" in readme
    assert "scripts/make_demo_sample.py" in readme


def test_sample_frames_are_single_person_body25():
    for f in sorted(sample_path().glob("*_keypoints.json")):
        doc = json.loads(f.read_text(encoding="utf-8"))
        assert doc["version"] == 1.3
        (person,) = doc["people"]
        kp = np.asarray(person["pose_keypoints_2d"], dtype=float).reshape(25, 3)
        assert np.all((kp[:, 0] > 0) & (kp[:, 0] < 1920) & (kp[:, 1] > 0) & (kp[:, 1] < 1080))
        assert np.all((kp[:, 2] > 0.2) & (kp[:, 2] <= 1.0))
        # upright: the nose above the mid-hip, the mid-hip above both ankles (image y grows down)
        assert kp[0, 1] < kp[8, 1] < min(kp[11, 1], kp[14, 1])


def test_sample_reads_through_io():
    from poselift.io import read_keypoints

    data = read_keypoints(sample_path())
    assert data.layout == "openpose_body25"
    assert data.keypoints.shape == (SAMPLE_FRAMES, 1, 25, 2)
    assert data.frames[0] == "walk_000000000000_keypoints"


def test_unknown_sample():
    with pytest.raises(PoseliftError, match=f"unknown sample 'run'.*{sorted(SAMPLES)[0]}"):
        sample_path("run")


def test_run_demo_with_small_random_model(tmp_path):
    pytest.importorskip("matplotlib")
    model = tiny_lifter().save_pretrained(tmp_path / "model")
    paths = run_demo(tmp_path / "out", model=str(model))
    assert set(paths) == {"json", "npz", "png", "gif"}
    for path in paths.values():
        assert path.parent == tmp_path / "out" and path.stat().st_size > 0
    assert paths["png"].name == "skeleton.png" and paths["gif"].name == "skeleton.gif"
    assert paths["png"].read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert paths["gif"].read_bytes()[:6] in (b"GIF87a", b"GIF89a")

    doc = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert doc["layout"] == "h36m17" and doc["units"] == "m"
    assert len(doc["frames"]) == SAMPLE_FRAMES
    assert all(p["lifted"] for f in doc["frames"] for p in f["people"])
    with np.load(paths["npz"], allow_pickle=False) as npz:
        poses = npz["poses3d"]
    assert poses.shape == (SAMPLE_FRAMES, 1, 17, 3) and np.isfinite(poses).all()


def test_a_demo_that_fails_midway_writes_nothing(tmp_path, monkeypatch):
    """The four outputs are installed together: an animation that fails leaves no poses or
    plot behind (they used to stay, and a rerun was refused); a folder where an output goes is
    refused before any work, also with overwrite."""
    pytest.importorskip("matplotlib")
    model = tiny_lifter().save_pretrained(tmp_path / "model")

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("poselift.viz.save_pose_animation", broken)
    with pytest.raises(OSError, match="disk full"):
        run_demo(tmp_path / "out", model=str(model))
    assert list((tmp_path / "out").iterdir()) == []
    (tmp_path / "out" / "skeleton.png").mkdir()
    with pytest.raises(PoseliftError, match="is a folder"):
        run_demo(tmp_path / "out", model=str(model), overwrite=True)


def test_examples_compile():
    from conftest import REPO_ROOT

    scripts = sorted((REPO_ROOT / "examples").glob("*.py"))
    assert {p.name for p in scripts} >= {"lift_openpose_folder.py", "onnx_inference.py", "finetune_on_my_keypoints.py"}
    for script in scripts:
        compile(script.read_text(encoding="utf-8"), str(script), "exec")


def test_demo_does_not_replace_earlier_outputs_without_overwrite(tmp_path, capsys):
    """F30: ``poselift demo -o DIR`` replaced existing outputs without ``--overwrite``."""
    from poselift.cli import main

    out = tmp_path / "out"
    out.mkdir()
    (out / "skeleton.png").write_bytes(b"mine")
    model = tiny_lifter().save_pretrained(tmp_path / "model")
    assert main(["demo", "-o", str(out), "--model", str(model)]) == 2
    err = capsys.readouterr().err
    assert "already holds skeleton.png" in err and "--overwrite" in err
    assert (out / "skeleton.png").read_bytes() == b"mine" and sorted(p.name for p in out.iterdir()) == ["skeleton.png"]
