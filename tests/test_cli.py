"""The ``poselift`` command, called as ``main([...])``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from poselift.cli import build_parser, main
from poselift.skeleton import get_skeleton

from conftest import POSE_H36M17_PX, REPO_ROOT, random_poses, tiny_lifter


def _body25(shift: float = 0.0, missing: tuple[str, ...] = ()) -> np.ndarray:
    """An upright BODY_25 person (pixels, confidence 0.9) derived from the standing H36M pose."""
    h = dict(zip(get_skeleton("h36m17").joints, POSE_H36M17_PX))
    body = get_skeleton("openpose_body25")
    pts = {
        "nose": h["neck"] + [0, -8], "neck": (h["left_shoulder"] + h["right_shoulder"]) / 2,
        "mid_hip": (h["left_hip"] + h["right_hip"]) / 2,
        "right_eye": h["neck"] + [-5, -14], "left_eye": h["neck"] + [5, -14],
        "right_ear": h["neck"] + [-11, -12], "left_ear": h["neck"] + [11, -12],
        "left_big_toe": h["left_ankle"] + [4, 8], "left_small_toe": h["left_ankle"] + [8, 8],
        "left_heel": h["left_ankle"] + [0, 4], "right_big_toe": h["right_ankle"] + [-4, 8],
        "right_small_toe": h["right_ankle"] + [-8, 8], "right_heel": h["right_ankle"] + [0, 4],
    }  # fmt: skip
    out = np.zeros((25, 3), np.float32)
    for i, name in enumerate(body.joints):
        out[i, :2] = pts[name] if name in pts else h[name]
        out[i, :2] += shift
        out[i, 2] = 0.0 if name in missing else 0.9
    return out


def _frame(*people: np.ndarray) -> dict:
    return {"version": 1.3, "people": [{"pose_keypoints_2d": p.reshape(-1).tolist()} for p in people]}


@pytest.fixture
def openpose_dir(tmp_path):
    folder = tmp_path / "openpose"
    folder.mkdir()
    frames = [
        _frame(_body25(), _body25(200.0, missing=("left_ankle",))),
        _frame(),
        _frame(_body25(10.0)),
    ]
    for i, frame in enumerate(frames):
        (folder / f"clip_{i:012d}_keypoints.json").write_text(json.dumps(frame))
    return folder


def test_lift_openpose_folder_to_json(openpose_dir, model_dir, tmp_path, capsys):
    out = tmp_path / "poses.json"
    rc = main(["lift", str(openpose_dir), "-o", str(out), "--model", str(model_dir)])
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    assert "3 frames, 3 people" in printed.out
    assert "lifted:  2 of 3 people" in printed.out
    assert "skipped: 1 people: 1 with missing joints (most often left_ankle)" in printed.out
    doc = json.loads(out.read_text())
    assert doc["layout"] == "h36m17" and doc["units"] == "m"
    assert doc["metadata"]["input_layout"] == "openpose_body25"
    assert [f["frame"] for f in doc["frames"]] == [f"clip_{i:012d}_keypoints" for i in range(3)]
    first, empty, last = doc["frames"]
    assert first["people"][0]["lifted"] is True and len(first["people"][0]["joints"]) == 17
    assert first["people"][1] == {"person": 1, "lifted": False, "missing": ["left_ankle"]}
    assert empty["people"] == []
    assert last["people"][0]["joints"]["pelvis"] == [0.0, 0.0, 0.0]


def test_lift_fills_missing_joints_with_a_completion_model(openpose_dir, tmp_path, capsys):
    from poselift.config import CompletionConfig

    model = tiny_lifter(completion=CompletionConfig(width=16, blocks=1, min_visible=8)).save_pretrained(tmp_path / "m")
    sparse = _body25(50.0)
    sparse[[2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14], 2] = 0  # arms and legs undetected
    (openpose_dir / "clip_000000000003_keypoints.json").write_text(json.dumps(_frame(sparse)))
    out = tmp_path / "poses.json"
    assert main(["lift", str(openpose_dir), "-o", str(out), "--model", str(model)]) == 0
    printed = capsys.readouterr().out
    assert "lifted:  3 of 4 people with" in printed and "(1 with missing joints filled in by the model)" in printed
    assert "skipped: 1 people: 1 with fewer than 8 of 17 joints detected" in printed
    doc = json.loads(out.read_text())
    person = doc["frames"][0]["people"][1]
    assert person["lifted"] is True and person["filled"] == ["left_ankle"]
    assert doc["frames"][3]["people"][0]["lifted"] is False


def test_lift_skips_poses_the_library_refuses(model_dir, tmp_path, capsys):
    kp = random_poses(3, seed=2)
    kp[1] = 640.0  # all joints at one point: the library's rule refuses it, the others are lifted
    np.save(tmp_path / "kp.npy", kp)
    out = tmp_path / "o.npz"
    assert main(["lift", str(tmp_path / "kp.npy"), "-o", str(out), "--model", str(model_dir)]) == 0
    printed = capsys.readouterr().out
    assert "lifted:  2 of 3 people" in printed and "1 with all joints at one point" in printed
    with np.load(out, allow_pickle=False) as z:
        assert z["lifted"][:, 0].tolist() == [True, False, True]


def test_lift_that_lifts_nothing_fails_and_writes_nothing(openpose_dir, model_dir, tmp_path, capsys):
    out = tmp_path / "o.json"
    # BODY_25 files read as COCO-18 do not parse: every file is skipped, so nothing is lifted
    rc = main(["lift", str(openpose_dir), "-o", str(out), "--model", str(model_dir), "--layout", "coco18"])
    printed = capsys.readouterr()
    assert rc != 0 and not out.exists()
    kp = np.full((2, 17, 2), 3.0, np.float32)  # readable, but every pose degenerate
    np.save(tmp_path / "flat.npy", kp)
    rc = main(["lift", str(tmp_path / "flat.npy"), "-o", str(out), "--model", str(model_dir)])
    printed = capsys.readouterr()
    assert rc == 1 and not out.exists()
    assert "no person" in printed.err and "nothing was written" in printed.err
    assert "2 with all joints at one point" in printed.out


def test_empty_npy_fails_like_the_api(model_dir, tmp_path, capsys):
    np.save(tmp_path / "empty.npy", np.zeros((0, 17, 2), np.float32))
    out = tmp_path / "o.json"
    rc = main(["lift", str(tmp_path / "empty.npy"), "-o", str(out), "--model", str(model_dir)])
    assert rc == 2 and not out.exists()
    assert "no poses" in capsys.readouterr().err


def test_output_is_never_overwritten_silently(model_dir, tmp_path, capsys):
    kp_file = tmp_path / "kp.npz"
    np.savez(kp_file, keypoints=random_poses(2))
    before = kp_file.read_bytes()
    assert main(["lift", str(kp_file), "-o", str(kp_file), "--model", str(model_dir), "--overwrite"]) == 2
    assert "is the input file" in capsys.readouterr().err and kp_file.read_bytes() == before
    out = tmp_path / "o.json"
    out.write_text("precious")
    assert main(["lift", str(kp_file), "-o", str(out), "--model", str(model_dir)]) == 2
    assert "exists: pass --overwrite" in capsys.readouterr().err and out.read_text() == "precious"
    assert main(["lift", str(kp_file), "-o", str(out), "--model", str(model_dir), "--overwrite"]) == 0
    assert json.loads(out.read_text())["layout"] == "h36m17"


def test_an_output_written_meanwhile_is_not_replaced(model_dir, tmp_path, capsys, monkeypatch):
    """F04: two runs writing one output both exited 0, the later silently replacing the other's
    result (the existence check ran only at the start). The final rename now refuses."""
    from poselift import Lifter

    kp_file = tmp_path / "kp.npy"
    np.save(kp_file, random_poses(2))
    out = tmp_path / "o.json"
    lift = Lifter.lift

    def lift_while_another_run_finishes(self, *args, **kwargs):
        out.write_text("the other run's result")
        return lift(self, *args, **kwargs)

    monkeypatch.setattr(Lifter, "lift", lift_while_another_run_finishes)
    assert main(["lift", str(kp_file), "-o", str(out), "--model", str(model_dir)]) == 2
    assert "was not replaced" in capsys.readouterr().err
    assert out.read_text() == "the other run's result" and sorted(p.name for p in tmp_path.iterdir()) == ["kp.npy", "o.json"]
    assert main(["lift", str(kp_file), "-o", str(out), "--model", str(model_dir), "--overwrite"]) == 0  # asked to replace

    onnx_out = tmp_path / "m.onnx"
    export = Lifter.export_onnx

    def export_while_another_run_finishes(self, path, **kwargs):
        onnx_out.write_text("the other run's graph")
        return export(self, path, **kwargs)

    monkeypatch.setattr(Lifter, "export_onnx", export_while_another_run_finishes)
    assert main(["export", str(model_dir), "--onnx", str(onnx_out)]) == 2
    assert onnx_out.read_text() == "the other run's graph" and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_plot_of_an_unknown_format_is_refused_before_anything_is_written(model_dir, tmp_path, capsys):
    """F23: ``--plot p.xyz`` crashed in matplotlib after the output had been written."""
    kp_file = tmp_path / "kp.npy"
    np.save(kp_file, random_poses(2))
    rc = main(["lift", str(kp_file), "-o", str(tmp_path / "o.json"), "--model", str(model_dir), "--plot", str(tmp_path / "p.xyz")])
    assert rc == 2 and "must end in .png" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kp.npy"]


def test_a_failed_write_keeps_the_previous_file(model_dir, tmp_path, capsys, monkeypatch):
    kp_file = tmp_path / "kp.npy"
    np.save(kp_file, random_poses(2))
    for name in ("o.json", "o.npz"):
        out = tmp_path / name
        out.write_bytes(b"previous")

        def disk_full(*args, **kwargs):
            raise OSError(28, "No space left on device")

        with monkeypatch.context() as m:
            m.setattr(np, "savez_compressed", disk_full)
            m.setattr(Path, "write_text", disk_full)
            rc = main(["lift", str(kp_file), "-o", str(out), "--model", str(model_dir), "--overwrite"])
        assert rc == 2 and "No space left" in capsys.readouterr().err
        assert out.read_bytes() == b"previous"
        assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_height_in_centimetres_is_refused(capsys):
    assert main(["lift", "x.npy", "-o", "y.json", "--height", "170"]) == 2
    assert "looks like centimetres: pass 1.70" in capsys.readouterr().err
    assert main(["lift", "x.npy", "-o", "y.json", "--height", "nan"]) == 2


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.startswith("poselift ")
    assert main(["--version"]) == 0


def test_train_help_names_a_recipe_that_exists(capsys):
    assert main(["train", "--help"]) == 0
    named = re.search(r"poselift train (\S+\.yaml)", capsys.readouterr().out).group(1)
    assert (REPO_ROOT / named).is_file(), named


def test_lift_keeps_going_past_a_malformed_file(openpose_dir, model_dir, tmp_path, capsys):
    (openpose_dir / "clip_000000000001_keypoints.json").write_text('{"people": [', encoding="utf-8")
    out = tmp_path / "poses.npz"
    assert main(["lift", str(openpose_dir), "-o", str(out), "--model", str(model_dir)]) == 0
    printed = capsys.readouterr()
    assert "skipped: 1 unreadable file(s)" in printed.out and "malformed JSON" in printed.out
    with np.load(out, allow_pickle=False) as z:
        assert z["frames"].tolist() == ["clip_000000000000_keypoints", "clip_000000000002_keypoints"]
        assert z["lifted"].tolist() == [[True, False], [True, False]]
        assert z["num_people"].tolist() == [2, 1]
        assert np.isfinite(z["poses3d"][0, 0]).all() and np.isnan(z["poses3d"][0, 1]).all()
        assert "clip_000000000001_keypoints.json" in str(z["metadata"])


def test_lift_npy_native_layout_height_and_plot(model_dir, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    kp = random_poses(4, seed=1)
    np.save(tmp_path / "kp.npy", kp)
    out, png = tmp_path / "out.npz", tmp_path / "pose.png"
    rc = main(["lift", str(tmp_path / "kp.npy"), "-o", str(out), "--model", str(model_dir), "--height", "1.9", "--plot", str(png)])
    printed = capsys.readouterr().out
    assert rc == 0
    assert "note: 17 joints taken as h36m17; pass --layout coco17" in printed
    assert "lifted:  4 of 4 people" in printed
    assert png.is_file() and png.stat().st_size > 0
    from poselift import Lifter

    expected = Lifter.from_pretrained(model_dir).lift(kp, height=1.9)
    with np.load(out, allow_pickle=False) as z:
        np.testing.assert_allclose(z["poses3d"][:, 0], expected, rtol=1e-5, atol=1e-6)


def test_lift_sequence_lifts_each_person_as_one_clip_once(model_dir, tmp_path, capsys, monkeypatch):
    """``--sequence``: each person slot of a (frames, people, N, 3) file is one clip of
    ``lift_sequence``, frames where the slot holds nobody are gaps; the network runs once per
    pose (the per-frame ``lift`` is not also called)."""
    from poselift import Lifter

    kp = np.stack([random_poses(12, seed=5), random_poses(12, seed=6)], axis=1)  # (12, 2, 17, 2)
    conf = np.ones(kp.shape[:-1], np.float32)
    conf[3:6, 1] = 0.0  # the second person is out of the picture for three frames
    np.save(tmp_path / "kp.npy", np.concatenate([kp, conf[..., None]], axis=-1))
    out = tmp_path / "out.npz"

    def per_frame(*args, **kwargs):
        raise AssertionError("--sequence ran the per-frame lift as well")

    monkeypatch.setattr(Lifter, "lift", per_frame)
    assert main(["lift", str(tmp_path / "kp.npy"), "-o", str(out), "--model", str(model_dir), "--sequence", "--fps", "25"]) == 0
    assert "lifted:  21 of 21 people" in capsys.readouterr().out
    monkeypatch.undo()
    lifter = Lifter.from_pretrained(model_dir)
    with np.load(out, allow_pickle=False) as z:
        poses, lifted = z["poses3d"], z["lifted"]
    assert lifted.sum() == 21 and not lifted[3:6, 1].any() and np.isnan(poses[3:6, 1]).all()
    for person in range(2):
        rows = lifted[:, person]
        clip = lifter.lift_sequence(np.where(rows[:, None, None], kp[:, person], 0.0), conf[:, person], fps=25, on_unliftable="nan")
        np.testing.assert_allclose(poses[rows, person], clip.poses[rows], rtol=1e-5, atol=1e-5)


def test_lift_coco17_layout_flag(model_dir, tmp_path, capsys):
    h = dict(zip(get_skeleton("h36m17").joints, POSE_H36M17_PX))
    coco = get_skeleton("coco17")
    face = {"nose": [0, -8], "left_eye": [5, -14], "right_eye": [-5, -14], "left_ear": [11, -12], "right_ear": [-11, -12]}
    kp = np.array([h["neck"] + face[j] if j in face else h[j] for j in coco.joints], np.float32)
    np.save(tmp_path / "coco.npy", kp)
    out = tmp_path / "out.json"
    assert main(["lift", str(tmp_path / "coco.npy"), "-o", str(out), "--model", str(model_dir), "--layout", "coco17"]) == 0
    doc = json.loads(out.read_text())
    assert doc["metadata"]["input_layout"] == "coco17"
    assert doc["frames"][0]["people"][0]["lifted"] is True
    assert "note:" not in capsys.readouterr().out


# --------------------------------------------------------------------------- errors
def test_missing_input(model_dir, tmp_path, capsys):
    rc = main(["lift", str(tmp_path / "nope.json"), "-o", str(tmp_path / "o.json"), "--model", str(model_dir)])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("poselift lift: error: keypoint file ") and "nope.json does not exist" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_missing_model(tmp_path, capsys):
    np.save(tmp_path / "kp.npy", random_poses(1))
    rc = main(["lift", str(tmp_path / "kp.npy"), "-o", str(tmp_path / "o.json"), "--model", str(tmp_path / "no-model")])
    err = capsys.readouterr().err
    assert rc == 2 and "poselift lift: error:" in err and str(tmp_path / "no-model") in err


def test_malformed_input_file(model_dir, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"people": [{"pose_keypoints_2d": [1, 2, 3]}]}')
    rc = main(["lift", str(bad), "-o", str(tmp_path / "o.json"), "--model", str(model_dir)])
    err = capsys.readouterr().err
    assert rc == 2 and "holds 1 keypoints; OpenPose BODY_25 has 25" in err


def test_wrong_layout_flag(model_dir, tmp_path, capsys):
    np.save(tmp_path / "kp.npy", random_poses(2))
    rc = main(["lift", str(tmp_path / "kp.npy"), "-o", str(tmp_path / "o.json"), "--model", str(model_dir), "--layout", "mpii16"])
    assert rc == 2
    assert "layout 'mpii16' has 16 joints but the keypoints have 17" in capsys.readouterr().err


def test_bad_output_suffix(model_dir, tmp_path, capsys):
    np.save(tmp_path / "kp.npy", random_poses(1))
    rc = main(["lift", str(tmp_path / "kp.npy"), "-o", str(tmp_path / "o.csv"), "--model", str(model_dir)])
    assert rc == 2 and "must end in .json or .npz" in capsys.readouterr().err


def test_usage_errors_and_help(capsys):
    assert main(["lift", "x.npy"]) == 2  # -o is required
    assert "the following arguments are required: -o/--output" in capsys.readouterr().err
    assert main(["lift", "x.npy", "-o", "y.json", "--height", "-1"]) == 2
    assert "must be positive" in capsys.readouterr().err
    assert main(["lift", "x.npy", "-o", "y.json", "--layout", "mpi15"]) == 2
    assert main([]) == 2
    assert "lift" in capsys.readouterr().out
    for command in ("lift", "demo", "evaluate", "train", "export"):
        assert main([command, "--help"]) == 0
        text = capsys.readouterr().out
        assert text.startswith(f"usage: poselift {command}")
    assert main(["--help"]) == 0
    assert "Start with 'poselift demo'" in capsys.readouterr().out


# --------------------------------------------------------------------------- other commands
def test_demo_calls_run_demo(monkeypatch, tmp_path, capsys):
    import poselift.demo

    calls = []

    def fake_run_demo(output_dir="poselift-demo", *, model=None, overwrite=False):
        calls.append((output_dir, model, overwrite))
        return {"json": tmp_path / "poses3d.json"}

    monkeypatch.setattr(poselift.demo, "run_demo", fake_run_demo)
    assert main(["demo", "-o", str(tmp_path / "d"), "--model", "my/model"]) == 0
    assert calls == [(str(tmp_path / "d"), "my/model", False)]
    assert "json: " in capsys.readouterr().out


def test_train_wiring(monkeypatch, tmp_path, capsys):
    pytest.importorskip("yaml")
    import poselift.training.run

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text("steps: 5\nlifter:\n  width: 32\n  blocks: 1\n")
    calls = []
    monkeypatch.setattr(poselift.training.run, "train", lambda config, run_dir, resume=True: calls.append((config, run_dir, resume)))
    monkeypatch.chdir(tmp_path)
    assert main(["train", str(recipe), "--set", "steps=3", "--set", "lifter.width=16", "--no-resume"]) == 0
    config, run_dir, resume = calls[0]
    assert config.steps == 3 and config.lifter.width == 16 and resume is False
    assert str(run_dir) == "runs/tiny"
    assert main(["train", str(recipe), "--set", "name=exp1", "--run-dir", str(tmp_path / "r")]) == 0
    assert calls[1][1] == tmp_path / "r" and calls[1][2] is True
    assert main(["train", str(recipe), "--set", "name=exp1"]) == 0
    assert str(calls[2][1]) == "runs/exp1"
    capsys.readouterr()


def test_train_errors(tmp_path, capsys):
    pytest.importorskip("yaml")
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml does not exist" in capsys.readouterr().err
    recipe = tmp_path / "r.yaml"
    recipe.write_text("steps: 5\n")
    assert main(["train", str(recipe), "--set", "stepz=3"]) == 2
    err = capsys.readouterr().err
    assert "poselift train: error:" in err and "stepz" in err


@pytest.mark.parametrize("opset", ["999", "7", "1"])
def test_export_at_an_impossible_opset_is_a_clear_error(model_dir, tmp_path, capsys, opset):
    """F25: ``export --opset 999`` gave a torch traceback."""
    pytest.importorskip("onnx")
    assert main(["export", str(model_dir), "--onnx", str(tmp_path / "m.onnx"), "--opset", opset]) == 2
    assert "ONNX opset must be a whole number from 9 to" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_export_onnx(model_dir, tmp_path, capsys):
    pytest.importorskip("onnx")
    out = tmp_path / "m.onnx"
    assert main(["export-onnx", str(model_dir), "--onnx", str(out)]) == 0
    assert out.is_file() and f"wrote {out}" in capsys.readouterr().out
    before = out.read_bytes()
    assert main(["export", str(model_dir), "--onnx", str(out)]) == 2  # exists: not replaced silently
    assert "pass --overwrite" in capsys.readouterr().err and out.read_bytes() == before
    assert main(["export", str(model_dir), "--onnx", str(out), "--overwrite"]) == 0  # the former name still works
    assert "export-onnx" in build_parser().format_help()


def test_existing_plot_and_evaluate_json_are_not_overwritten_silently(model_dir, tmp_path, capsys):
    kp_file = tmp_path / "kp.npy"
    np.save(kp_file, random_poses(2))
    png = tmp_path / "pose.png"
    png.write_bytes(b"mine")
    out = tmp_path / "o.json"
    assert main(["lift", str(kp_file), "-o", str(out), "--model", str(model_dir), "--plot", str(png)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err and png.read_bytes() == b"mine" and not out.exists()
    results = tmp_path / "r.json"
    results.write_text("{}")
    assert main(["evaluate", str(model_dir), "--h36m", str(tmp_path), "--json", str(results)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err and results.read_text() == "{}"


def test_lift_writes_the_poses_and_the_plot_or_neither(model_dir, tmp_path, capsys, monkeypatch):
    """A plot under a file (not a folder) is refused before any work; a plot that fails while
    drawn leaves no poses file behind (it used to: the poses were written first)."""
    pytest.importorskip("matplotlib")
    kp_file = tmp_path / "kp.npy"
    np.save(kp_file, random_poses(2))
    (tmp_path / "afile").write_text("mine")
    out = tmp_path / "o.json"
    assert main(["lift", str(kp_file), "-o", str(out), "--model", str(model_dir), "--plot", str(tmp_path / "afile" / "p.png")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err and not out.exists()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("poselift.viz.save_pose_plot", broken)
    assert main(["lift", str(kp_file), "-o", str(out), "--model", str(model_dir), "--plot", str(tmp_path / "p.png")]) == 2
    assert "disk full" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "kp.npy"]


def test_evaluate_on_h36m(shared_data, model_dir, tmp_path, capsys):
    h36m = shared_data / "h36m"
    if not (h36m / "h36m_3d_17j.npz").is_file():
        pytest.skip("Human3.6M files not in the shared data folder")
    out = tmp_path / "eval.json"
    rc = main(["evaluate", str(model_dir), "--h36m", str(h36m), "--inputs", "detected", "--stride", "500", "--json", str(out)])
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    assert "P-MPJPE" in printed.out and "Walking" in printed.out and "avg(actions)" in printed.out
    record = json.loads(out.read_text())
    assert record["inputs"] == "detected" and record["stride"] == 500
    assert set(record["average_over_actions"]) == {"mpjpe", "n_mpjpe", "p_mpjpe", "accel"}



def test_evaluate_detected_with_the_learned_correction(shared_data, tmp_path, capsys):
    """--correction applies the shipped MPII-16 correction to the detections, exactly as adapt_mpii16 would."""
    import torch

    from poselift import Lifter
    from poselift.correction import load_correction
    from poselift.evaluation.evaluate import evaluate_poses
    from poselift.evaluation.h36m import load_h36m

    h36m = shared_data / "h36m"
    if not (h36m / "h36m_sh_2d_test.npz").is_file():
        pytest.skip("Human3.6M detections not in the shared data folder")
    results = {}
    for flag in ([], ["--correction"]):
        out = tmp_path / f"eval{len(flag)}.json"
        assert main(["evaluate", "poselift/h36m-17", "--h36m", str(h36m), "--inputs", "detected", "--stride", "200",
                     "--json", str(out), *flag]) == 0
        record = json.loads(out.read_text())
        assert record["correction"] is bool(flag)
        results[bool(flag)] = record["average_over_frames"]["p_mpjpe"]
    assert "detected 2D + learned correction" in capsys.readouterr().out
    det = load_h36m(h36m, ["S9", "S11"], inputs="detected", stride=200, skeleton="h36m17")
    kp = torch.from_numpy(det.kp2d)
    det.kp2d = load_correction("mpii16", "h36m17")(kp, torch.ones(kp.shape[:-1])).numpy()
    by_hand = evaluate_poses(Lifter.from_pretrained("poselift/h36m-17"), det)["average_over_frames"]["p_mpjpe"]
    assert results[True] == pytest.approx(by_hand, abs=1e-6)
    assert abs(results[True] - results[False]) > 0.5
    assert main(["evaluate", "poselift/h36m-17", "--h36m", str(h36m), "--correction"]) == 2
    assert "add --inputs detected" in capsys.readouterr().err

def test_evaluate_missing_data(model_dir, tmp_path, capsys):
    assert main(["evaluate", str(model_dir), "--h36m", str(tmp_path)]) == 2
    assert "lacks ['h36m_3d_17j.npz', 'cameras.json']" in capsys.readouterr().err


def test_help_and_version_do_not_import_torch():
    import subprocess
    import sys

    probe = (
        "import sys\nfrom poselift.cli import main\n"
        "codes = [main(['--help']), main(['lift', '--help']), main(['train', '--help']), main(['--version'])]\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', codes)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "NO-TORCH [0, 0, 0, 0]"


def test_python_dash_m_runs_the_command():
    """``python -m poselift.cli`` is the command without its console script (training logs use it)."""
    import subprocess
    import sys

    import poselift

    result = subprocess.run([sys.executable, "-m", "poselift.cli", "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert poselift.__version__ in result.stdout + result.stderr
