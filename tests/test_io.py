"""Keypoint file reading (OpenPose, COCO, numpy) and 3D pose writing."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from poselift.errors import (
    EmptyInputError,
    KeypointValueError,
    NonFiniteError,
    PoseliftError,
    ShapeError,
)
from poselift.io import KeypointData, read_coco, read_keypoints, read_openpose, write_poses
from poselift.skeleton import get_skeleton


def _person(n: int, seed: int, missing: tuple[int, ...] = ()) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.concatenate([rng.uniform(10, 600, (n, 2)), rng.uniform(0.2, 1.0, (n, 1))], axis=1).astype(np.float32)
    t[list(missing)] = 0.0
    return t


def _frame(*people: np.ndarray) -> dict:
    return {
        "version": 1.3,
        "people": [{"person_id": [-1], "pose_keypoints_2d": p.reshape(-1).tolist(), "face_keypoints_2d": []} for p in people],
    }


def _write(path, obj) -> None:
    path.write_text(json.dumps(obj), encoding="utf-8")


# --------------------------------------------------------------------------- OpenPose
def test_openpose_file_several_people(tmp_path):
    a, b = _person(25, 0, missing=(3, 19)), _person(25, 1)
    f = tmp_path / "clip_000000000000_keypoints.json"
    _write(f, _frame(a, b))
    data = read_keypoints(f)
    assert data.layout == "openpose_body25"
    assert data.keypoints.shape == (1, 2, 25, 2) and data.keypoints.dtype == np.float32
    assert data.confidence.shape == (1, 2, 25)
    assert data.frames == ["clip_000000000000_keypoints"]
    assert data.num_people.tolist() == [2]
    np.testing.assert_allclose(data.keypoints[0, 1], b[:, :2], rtol=1e-6)
    np.testing.assert_allclose(data.confidence[0, 0], a[:, 2], rtol=1e-6)
    assert data.confidence[0, 0, 3] == 0 and data.confidence[0, 0, 19] == 0
    assert data.errors == {}


def test_openpose_folder_natural_order_and_empty_frames(tmp_path):
    _write(tmp_path / "v_10_keypoints.json", _frame(_person(18, 3)))
    _write(tmp_path / "v_2_keypoints.json", _frame(_person(18, 1), _person(18, 2), _person(18, 4)))
    _write(tmp_path / "v_1_keypoints.json", _frame())  # nobody detected
    (tmp_path / "notes.txt").write_text("not a frame")
    data = read_openpose(tmp_path)
    assert data.layout == "openpose_coco18"
    assert data.frames == ["v_1_keypoints", "v_2_keypoints", "v_10_keypoints"]
    assert data.num_people.tolist() == [0, 3, 1]
    assert data.keypoints.shape == (3, 3, 18, 2)
    # padding slots: confidence 0 and coordinates 0
    assert not data.confidence[0].any() and not data.keypoints[0].any()
    assert not data.confidence[2, 1:].any()
    assert data.present.tolist() == [[False, False, False], [True, True, True], [True, False, False]]
    np.testing.assert_allclose(data.keypoints[2, 0], _person(18, 3)[:, :2], rtol=1e-6)


def test_openpose_folder_keeps_good_frames_when_one_is_malformed(tmp_path, caplog):
    _write(tmp_path / "f_0.json", _frame(_person(25, 0)))
    (tmp_path / "f_1.json").write_text('{"people": [{"pose_keypoints_2d": [1, 2', encoding="utf-8")
    _write(tmp_path / "f_2.json", _frame(_person(25, 2)))
    _write(tmp_path / "f_3.json", _frame(_person(18, 3)))  # layout differs from the folder
    with caplog.at_level(logging.WARNING, logger="poselift.io"):
        data = read_keypoints(tmp_path)
    assert data.frames == ["f_0", "f_2"]
    assert data.num_people.tolist() == [1, 1]
    assert set(data.errors) == {str(tmp_path / "f_1.json"), str(tmp_path / "f_3.json")}
    assert "malformed JSON" in data.errors[str(tmp_path / "f_1.json")]
    assert "18" in data.errors[str(tmp_path / "f_3.json")]
    assert sum("skipping" in r.getMessage() for r in caplog.records) == 2
    assert "errors=2" in repr(data)


def test_openpose_folder_joint_count_is_the_one_most_files_hold(tmp_path):
    """F14: the first file fixed the joint count, so one odd first file (18 joints) dropped
    the 9 valid BODY_25 frames after it, and ``poselift lift`` exited 0. The count most files
    hold wins; the odd file is the one skipped. A tie is refused, naming --layout."""
    _write(tmp_path / "f_00.json", _frame(_person(18, 0)))
    for i in range(1, 10):
        _write(tmp_path / f"f_{i:02d}.json", _frame(_person(25, i)))
    data = read_keypoints(tmp_path)
    assert data.layout == "openpose_body25" and len(data.frames) == 9 and data.frames[0] == "f_01"
    assert list(data.errors) == [str(tmp_path / "f_00.json")] and "most files 25" in data.errors[str(tmp_path / "f_00.json")]
    tie = tmp_path / "tie"
    tie.mkdir()
    _write(tie / "a.json", _frame(_person(18, 0)))
    _write(tie / "b.json", _frame(_person(25, 1)))
    with pytest.raises(ShapeError, match="disagree on the joint count.*pass layout"):
        read_keypoints(tie)
    assert read_keypoints(tie, layout="coco18").frames == ["a"]


def test_openpose_folder_where_nothing_is_readable(tmp_path):
    (tmp_path / "a.json").write_text("{", encoding="utf-8")
    (tmp_path / "b.json").write_text("[]", encoding="utf-8")
    with pytest.raises(PoseliftError, match="none of the 2 JSON files"):
        read_openpose(tmp_path)


def test_openpose_single_malformed_file_raises(tmp_path):
    f = tmp_path / "x.json"
    f.write_text('{"people": [}', encoding="utf-8")
    with pytest.raises(PoseliftError, match=r"malformed JSON at line 1"):
        read_openpose(f)


def test_openpose_joint_count_matching_no_layout(tmp_path):
    f = tmp_path / "x.json"
    _write(f, _frame(_person(15, 0)))
    with pytest.raises(ShapeError, match="holds 15 keypoints; OpenPose BODY_25 has 25, COCO-18 has 18 and MediaPipe 33"):
        read_keypoints(f)


def test_openpose_triplets_not_multiple_of_three(tmp_path):
    f = tmp_path / "x.json"
    _write(f, {"people": [{"pose_keypoints_2d": [1.0, 2.0, 0.5, 4.0]}]})
    with pytest.raises(ShapeError, match="not a multiple of 3"):
        read_keypoints(f)


def test_openpose_all_joints_missing(tmp_path):
    _write(tmp_path / "a.json", _frame(np.zeros((25, 3), np.float32)))
    with pytest.raises(KeypointValueError, match="every joint of every person is missing"):
        read_keypoints(tmp_path)


def test_openpose_explicit_layout_is_checked(tmp_path):
    f = tmp_path / "x.json"
    _write(f, _frame(_person(17, 0)))
    data = read_keypoints(f, layout="coco17")  # e.g. AlphaPose writing OpenPose-style JSON
    assert data.layout == "coco17"
    with pytest.raises(ShapeError, match="layout 'openpose_body25'"):
        read_keypoints(f, layout="body25")


def test_empty_folder(tmp_path):
    with pytest.raises(EmptyInputError, match="holds no .json files"):
        read_keypoints(tmp_path)


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nope.json")):
        read_keypoints(tmp_path / "nope.json")


def test_unsupported_suffix(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("1,2")
    with pytest.raises(PoseliftError, match="unsupported file type '.csv'"):
        read_keypoints(f)


# --------------------------------------------------------------------------- COCO
def test_coco_annotations(tmp_path):
    a, b = _person(17, 0), _person(17, 1)
    kp_a = a.copy()
    kp_a[:, 2] = 2
    kp_a[5, 2] = 1  # labelled, not visible: still a usable position
    kp_a[7] = 0  # not labelled
    kp_b = b.copy()
    kp_b[:, 2] = 2
    obj = {
        "images": [{"id": 7, "file_name": "a.jpg"}, {"id": 3, "file_name": "b.jpg"}, {"id": 9, "file_name": "c.jpg"}],
        "annotations": [
            {"image_id": 3, "keypoints": kp_b.reshape(-1).tolist(), "num_keypoints": 17},
            {"image_id": 7, "keypoints": kp_a.reshape(-1).tolist(), "num_keypoints": 16},
            {"image_id": 7, "keypoints": [0] * 51, "num_keypoints": 0, "iscrowd": 1},
        ],
        "categories": [{"id": 1, "name": "person"}],
    }
    f = tmp_path / "person_keypoints.json"
    _write(f, obj)
    data = read_coco(f)
    assert data.layout == "coco17"
    assert data.frames == ["a.jpg", "b.jpg", "c.jpg"]
    assert data.num_people.tolist() == [1, 1, 0]
    assert data.confidence[0, 0, 5] == 1.0 and data.confidence[0, 0, 7] == 0.0
    assert data.keypoints[0, 0, 7].tolist() == [0.0, 0.0]
    np.testing.assert_allclose(data.keypoints[1, 0], b[:, :2], rtol=1e-6)
    assert data.scores is None
    assert read_keypoints(f).frames == data.frames


def test_coco_results(tmp_path):
    a, b, c = _person(17, 0), _person(17, 1), _person(17, 2)
    obj = [
        {"image_id": 12, "category_id": 1, "keypoints": a.reshape(-1).tolist(), "score": 0.9},
        {"image_id": 4, "category_id": 1, "keypoints": b.reshape(-1).tolist(), "score": 0.8},
        {"image_id": 12, "category_id": 1, "keypoints": c.reshape(-1).tolist(), "score": 0.4},
    ]
    f = tmp_path / "results.json"
    _write(f, obj)
    data = read_keypoints(f)
    assert data.frames == ["4", "12"]
    assert data.num_people.tolist() == [1, 2]
    np.testing.assert_allclose(data.scores, [[0.8, 0.0], [0.9, 0.4]], rtol=1e-6)
    np.testing.assert_allclose(data.confidence[1, 1], c[:, 2], rtol=1e-6)


def test_coco_duplicate_image_ids_do_not_duplicate_frames(tmp_path, caplog):
    """F20: an image listed twice in 'images' gave two frames with the same people. Listed
    twice alike, it is one frame (with a warning); listed twice as two files, it is refused."""
    kp = _person(17, 0)
    kp[:, 2] = 2
    obj = {
        "images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}, {"id": 1, "file_name": "a.jpg"}],
        "annotations": [{"image_id": 1, "keypoints": kp.reshape(-1).tolist()}],
    }
    f = tmp_path / "dup.json"
    _write(f, obj)
    with caplog.at_level("WARNING"):
        data = read_coco(f)
    assert data.frames == ["a.jpg", "b.jpg"] and data.num_people.tolist() == [1, 0]
    assert "listed twice" in caplog.text
    obj["images"][2]["file_name"] = "other.jpg"
    _write(f, obj)
    with pytest.raises(PoseliftError, match="image id 1 is listed twice, as 'a.jpg' and 'other.jpg'"):
        read_coco(f)


def test_coco_unknown_image_id(tmp_path):
    obj = {"images": [{"id": 1}], "annotations": [{"image_id": 2, "keypoints": _person(17, 0).reshape(-1).tolist()}]}
    f = tmp_path / "a.json"
    _write(f, obj)
    with pytest.raises(PoseliftError, match="image_id 2, which is not in 'images'"):
        read_keypoints(f)


def test_unrecognised_json(tmp_path):
    f = tmp_path / "a.json"
    _write(f, {"hello": 1})
    with pytest.raises(PoseliftError, match="unrecognised JSON"):
        read_keypoints(f)


# --------------------------------------------------------------------------- numpy
def test_npy_shapes(tmp_path):
    rng = np.random.default_rng(0)
    one = rng.uniform(0, 100, (16, 2))
    np.save(tmp_path / "one.npy", one)
    d = read_keypoints(tmp_path / "one.npy")
    assert d.keypoints.shape == (1, 1, 16, 2) and d.layout == "mpii16"
    np.testing.assert_allclose(d.keypoints[0, 0], one, rtol=1e-6)
    assert (d.confidence == 1).all()

    seq = rng.uniform(0, 100, (5, 25, 3))
    np.save(tmp_path / "seq.npy", seq)
    d = read_keypoints(tmp_path / "seq.npy")
    assert d.keypoints.shape == (5, 1, 25, 2) and d.layout == "openpose_body25"
    np.testing.assert_allclose(d.confidence[:, 0], seq[..., 2], rtol=1e-6)
    assert d.frames == ["0", "1", "2", "3", "4"]

    multi = rng.uniform(0, 100, (3, 2, 14, 2))
    np.save(tmp_path / "multi.npy", multi)
    d = read_keypoints(tmp_path / "multi.npy")
    assert d.keypoints.shape == (3, 2, 14, 2) and d.layout == "lsp14"
    assert d.num_people.tolist() == [2, 2, 2]


def test_npy_17_joints_is_ambiguous_until_told(tmp_path):
    np.save(tmp_path / "k.npy", np.ones((4, 17, 2)) * np.arange(17)[:, None])
    assert read_keypoints(tmp_path / "k.npy").layout is None
    assert read_keypoints(tmp_path / "k.npy", layout="coco17").layout == "coco17"
    with pytest.raises(PoseliftError, match="layout of these 17-joint keypoints is unknown"):
        read_keypoints(tmp_path / "k.npy").skeleton


def test_npy_nan_marks_missing(tmp_path):
    kp = np.random.default_rng(0).uniform(0, 100, (2, 16, 2))
    kp[1, 4] = np.nan
    np.save(tmp_path / "k.npy", kp)
    d = read_keypoints(tmp_path / "k.npy")
    assert d.confidence[1, 0, 4] == 0 and d.keypoints[1, 0, 4].tolist() == [0.0, 0.0]
    assert np.isfinite(d.keypoints).all()


def test_npy_bad_shapes(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((3, 16, 4)))
    with pytest.raises(ShapeError, match=r"C = 2 \(x, y\) or 3"):
        read_keypoints(tmp_path / "a.npy")
    np.save(tmp_path / "b.npy", np.ones((3, 13, 2)))
    with pytest.raises(ShapeError, match="13 joints, which matches no known layout"):
        read_keypoints(tmp_path / "b.npy")


def test_npy_all_missing(tmp_path):
    np.save(tmp_path / "a.npy", np.full((3, 16, 2), np.nan))
    with pytest.raises(KeypointValueError, match="every joint of every person is missing"):
        read_keypoints(tmp_path / "a.npy")


def test_npz_with_confidence_frames_and_layout(tmp_path):
    rng = np.random.default_rng(1)
    kp = rng.uniform(0, 100, (4, 17, 2)).astype(np.float32)
    conf = rng.uniform(0, 1, (4, 17)).astype(np.float32)
    np.savez(tmp_path / "k.npz", keypoints=kp, confidence=conf, frames=np.array(["a", "b", "c", "d"]), layout=np.array("coco17"))
    d = read_keypoints(tmp_path / "k.npz")
    assert d.layout == "coco17" and d.frames == ["a", "b", "c", "d"]
    np.testing.assert_allclose(d.confidence[:, 0], conf, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(d.keypoints[:, 0], kp, rtol=1e-6, atol=1e-6)


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "nokey.npz", poses=np.zeros((2, 17, 2)))
    with pytest.raises(PoseliftError, match=r"needs a 'keypoints' array .* holds \['poses'\]"):
        read_keypoints(tmp_path / "nokey.npz")
    np.savez(tmp_path / "badconf.npz", keypoints=np.ones((2, 16, 2)), confidence=np.ones((2, 17)))
    with pytest.raises(ShapeError, match=r"confidence must have shape \(2, 16\) to match keypoints \(2, 16, 2\); got \(2, 17\)"):
        read_keypoints(tmp_path / "badconf.npz")
    np.savez(tmp_path / "both.npz", keypoints=np.ones((2, 16, 3)), confidence=np.ones((2, 16)))
    with pytest.raises(ShapeError, match="already carry confidence"):
        read_keypoints(tmp_path / "both.npz")
    np.savez(tmp_path / "nanconf.npz", keypoints=np.ones((2, 16, 2)), confidence=np.full((2, 16), np.nan))
    with pytest.raises(NonFiniteError, match="confidence values must be finite"):
        read_keypoints(tmp_path / "nanconf.npz")


def test_from_array_torch_and_validation():
    t = torch.rand(3, 16, 3)
    d = KeypointData.from_array(t)
    np.testing.assert_allclose(d.confidence[:, 0], t[..., 2].numpy(), rtol=1e-6)
    with pytest.raises(ShapeError, match="layout 'h36m17' has 17 joints but the keypoints have 16"):
        KeypointData.from_array(t, layout="h36m17")
    with pytest.raises(ShapeError, match="confidence must have shape"):
        KeypointData(np.zeros((1, 1, 17, 2), np.float32), np.zeros((1, 17), np.float32), None, ["0"], np.ones(1, np.int64))


# --------------------------------------------------------------------------- writing
def _poses(frames=3, people=2, n=17, seed=0):
    return np.random.default_rng(seed).normal(0, 0.3, (frames, people, n, 3)).astype(np.float32)


def test_write_json(tmp_path):
    poses = _poses()
    poses[1, 1] = np.nan  # not lifted: ignored
    lifted = np.ones((3, 2), bool)
    lifted[1, 1] = False
    missing = np.zeros((3, 2, 17), bool)
    missing[1, 1, [3, 6]] = True
    filled = np.zeros((3, 2, 17), bool)
    filled[0, 0, 10] = True
    out = write_poses(
        tmp_path / "sub" / "poses.json", poses, skeleton="h36m17", frames=["a", "b", "c"],
        num_people=[2, 2, 1], lifted=lifted, missing=missing, filled=filled, metadata={"model": "m"},
    )
    doc = json.loads(out.read_text())
    skel = get_skeleton("h36m17")
    assert doc["format"] == "poselift.poses3d" and doc["layout"] == "h36m17" and doc["units"] == "m"
    assert doc["joints"] == list(skel.joints)
    assert "x right, y down, z away from the camera" in doc["axes"]
    assert doc["metadata"] == {"model": "m"}
    assert [f["frame"] for f in doc["frames"]] == ["a", "b", "c"]
    assert [len(f["people"]) for f in doc["frames"]] == [2, 2, 1]
    p = doc["frames"][0]["people"][1]
    assert p["lifted"] is True
    np.testing.assert_allclose([p["joints"][j] for j in skel.joints], poses[0, 1], atol=1e-5)
    assert doc["frames"][0]["people"][0]["filled"] == ["head_top"]
    skipped = doc["frames"][1]["people"][1]
    assert skipped == {"person": 1, "lifted": False, "missing": ["right_ankle", "left_ankle"]}


def test_write_npz(tmp_path):
    poses = _poses(2, 1, 14)
    lifted = np.array([[True], [False]])
    out = write_poses(tmp_path / "p.npz", poses, skeleton="lsp14", lifted=lifted)
    with np.load(out, allow_pickle=False) as z:
        np.testing.assert_allclose(z["poses3d"][0], poses[0], rtol=1e-6, atol=1e-6)
        assert np.isnan(z["poses3d"][1]).all()
        assert z["lifted"].tolist() == [[True], [False]]
        assert z["joints"].tolist() == list(get_skeleton("lsp14").joints)
        assert str(z["layout"]) == "lsp14" and str(z["units"]) == "m"
        assert z["frames"].tolist() == ["0", "1"]
        assert json.loads(str(z["metadata"])) == {}


def test_write_single_pose_and_errors(tmp_path):
    pose = torch.zeros(17, 3)
    doc = json.loads(write_poses(tmp_path / "one.json", pose, skeleton="h36m17").read_text())
    assert len(doc["frames"]) == 1 and doc["frames"][0]["people"][0]["joints"]["pelvis"] == [0.0, 0.0, 0.0]
    with pytest.raises(ShapeError, match=r"poses3d must have shape \(17, 3\)"):
        write_poses(tmp_path / "a.json", np.zeros((2, 16, 3)), skeleton="h36m17")
    with pytest.raises(NonFiniteError, match="marked as lifted"):
        write_poses(tmp_path / "a.json", np.full((2, 17, 3), np.nan), skeleton="h36m17")
    with pytest.raises(PoseliftError, match=r"must end in .json or .npz"):
        write_poses(tmp_path / "a.csv", np.zeros((2, 17, 3)), skeleton="h36m17")
    with pytest.raises(ShapeError, match="lifted must have shape"):
        write_poses(tmp_path / "a.json", np.zeros((2, 17, 3)), skeleton="h36m17", lifted=np.ones(3, bool))


def test_lifted_output_is_not_read_as_keypoints(tmp_path):
    out = write_poses(tmp_path / "p.json", np.zeros((17, 3)), skeleton="h36m17")
    with pytest.raises(PoseliftError, match="holds lifted 3D poses"):
        read_keypoints(out)


# --------------------------------------------------------------------------- hardening (#11)
@pytest.mark.parametrize("bad", ["NaN", "null", "Infinity"])
def test_openpose_folder_skips_a_file_with_bad_confidence_and_names_it(tmp_path, caplog, bad):
    _write(tmp_path / "f_0.json", _frame(_person(25, 0)))
    values = _person(25, 1).reshape(-1).tolist()
    text = json.dumps({"people": [{"pose_keypoints_2d": values}]}).replace(str(values[2]), bad, 1)
    (tmp_path / "f_1.json").write_text(text, encoding="utf-8")
    _write(tmp_path / "f_2.json", _frame(_person(25, 2)))
    with caplog.at_level(logging.WARNING, logger="poselift.io"):
        data = read_keypoints(tmp_path)
    assert data.frames == ["f_0", "f_2"]
    assert list(data.errors) == [str(tmp_path / "f_1.json")]
    assert any("f_1.json" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "entry, words",
    [
        ({"image_id": [1], "keypoints": [1.0, 2.0, 1.0] * 17}, "image_id [1]"),
        ({"image_id": {"a": 1}, "keypoints": [1.0, 2.0, 1.0] * 17}, "image_id"),
        ({"image_id": 1, "keypoints": [1.0, 2.0, 1.0] * 17, "score": "high"}, 'score "high"'),
        ({"image_id": 1, "keypoints": [1.0, 2.0, 1.0] * 17, "score": None}, "score null"),
        ({"image_id": 1, "keypoints": [1.0, "2", 1.0] * 17}, 'found "2"'),
        ({"image_id": 1, "keypoints": [1.0, True, 1.0] * 17}, "found true"),
    ],
)
def test_coco_results_with_wrong_types_raise_a_message(tmp_path, entry, words):
    f = tmp_path / "res.json"
    _write(f, [entry])
    with pytest.raises(PoseliftError) as info:
        read_keypoints(f)
    assert str(f) in str(info.value) and words in str(info.value)


def test_deeply_nested_json(tmp_path):
    f = tmp_path / "deep.json"
    f.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    with pytest.raises(PoseliftError, match="nested too deeply"):
        read_keypoints(f)


def test_npz_with_an_object_array(tmp_path):
    f = tmp_path / "obj.npz"
    np.savez(f, keypoints=np.array([np.zeros((17, 2)), np.zeros((3, 2))], dtype=object))
    with pytest.raises(PoseliftError, match="cannot be read as a numeric numpy file"):
        read_keypoints(f)


@pytest.mark.parametrize("suffix", [".npz", ".npy"])
@pytest.mark.parametrize("keep", [0.0, 0.3, 0.6, 0.95])
def test_truncated_numpy_files(tmp_path, suffix, keep):
    whole = tmp_path / f"whole{suffix}"
    arrays = np.random.default_rng(0).uniform(0, 500, (40, 17, 3)).astype(np.float32)
    if suffix == ".npz":
        np.savez_compressed(whole, keypoints=arrays)
    else:
        np.save(whole, arrays)
    raw = whole.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(raw[: int(len(raw) * keep)])
    with pytest.raises(PoseliftError, match="cut"):
        read_keypoints(cut)


def test_empty_array_is_empty_input(tmp_path):
    np.save(tmp_path / "e.npy", np.zeros((0, 17, 2), np.float32))
    with pytest.raises(EmptyInputError, match="no poses"):
        read_keypoints(tmp_path / "e.npy")


def test_a_folder_named_like_a_json_file(tmp_path):
    (tmp_path / "x.json").mkdir()
    (tmp_path / "x.json" / "a.json").write_text("{", encoding="utf-8")
    with pytest.raises(PoseliftError):
        read_keypoints(tmp_path / "x.json")


def test_write_poses_is_atomic(tmp_path, monkeypatch):
    out = tmp_path / "p.npz"
    write_poses(out, np.zeros((17, 3)), skeleton="h36m17")
    before = out.read_bytes()

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", broken)
    with pytest.raises(OSError):
        write_poses(out, np.ones((17, 3)), skeleton="h36m17")
    assert out.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["p.npz"]


def test_write_poses_translation(tmp_path):
    poses = np.zeros((2, 1, 17, 3))
    poses[:, :, :, 1] = np.linspace(-0.9, 0.8, 17)
    T = np.array([[0.1, 0.2, 4.0], [0.3, 0.2, 5.0]])
    out = write_poses(tmp_path / "p.npz", poses, skeleton="h36m17", translation=T, lifted=np.array([[True], [False]]))
    data = np.load(out, allow_pickle=False)
    np.testing.assert_allclose(data["translation"][0, 0], T[0], atol=1e-6)
    assert np.isnan(data["translation"][1]).all()
    js = json.loads(write_poses(tmp_path / "p.json", poses, skeleton="h36m17", translation=T).read_text())
    np.testing.assert_allclose(js["frames"][1]["people"][0]["translation"], T[1], atol=1e-6)
    with pytest.raises(ShapeError, match=r"translation must have shape \(2, 1, 3\)"):
        write_poses(tmp_path / "q.npz", poses, skeleton="h36m17", translation=np.zeros((3, 3)))
    assert not (tmp_path / "q.npz").exists()


def test_inputs_must_be_regular_files_and_npz_members_are_checked_before_loading(tmp_path):
    """F05: a FIFO input hung forever, and a 4 MB ``.npz`` whose member claims 60e6 x 17 x 2
    reached 4 GB before failing. Only regular files are read; an ``.npz`` member's header is
    checked against the data it really holds, read as it decompresses."""
    import io as _io
    import os
    import tracemalloc
    import zipfile

    from conftest import outcome_within

    for name in ("kp.json", "kp.npy", "kp.npz"):
        fifo = tmp_path / name
        os.mkfifo(fifo)
        error = outcome_within(10, read_keypoints, fifo)
        if error == "hung":
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        assert isinstance(error, PoseliftError) and "named pipe" in str(error), (name, error)

    member = _io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False, "shape": (60_000_000, 17, 2)})
    member.write(np.zeros(1_000_000, np.float32).tobytes())  # 4 MB of data, far less than announced
    lying = tmp_path / "lying.npz"
    with zipfile.ZipFile(lying, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("keypoints.npy", member.getvalue())
    tracemalloc.start()
    try:
        with pytest.raises(PoseliftError, match="announces 8,160,000,000 bytes of data but the member holds 4,000,000"):
            read_keypoints(lying)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64e6, f"peak {peak / 1e6:.0f} MB"

    good = tmp_path / "good.npz"
    kp = np.random.default_rng(0).uniform(0, 500, (3, 17, 2)).astype(np.float32)
    np.savez_compressed(good, keypoints=kp, frames=np.array(["a", "b", "c"]), layout=np.array("h36m17"))
    data = read_keypoints(good)
    np.testing.assert_array_equal(data.keypoints[:, 0], kp)
    assert data.frames == ["a", "b", "c"] and data.layout == "h36m17"


def test_json_integers_beyond_pythons_digit_limit(tmp_path):
    """F22: JSON integers over 4,300 digits gave a ValueError traceback."""
    f = tmp_path / "kp.json"
    f.write_text('{"people": [{"pose_keypoints_2d": [' + "9" * 5000 + ", 1, 1]}]}")
    with pytest.raises(PoseliftError, match="a number in it cannot be read"):
        read_keypoints(f)


@pytest.mark.parametrize("value", ["1e39", "-3e300", "1" + "0" * 400])
def test_json_coordinates_beyond_float32_are_named_not_missing(tmp_path, value):
    """F31: a coordinate beyond float32 (or float64) in JSON became infinite, so the person was
    reported as "every joint missing" (or a traceback for a 400-digit integer)."""
    kp = _person(25, 0).reshape(-1).tolist()
    text = json.dumps({"people": [{"pose_keypoints_2d": kp}]}).replace(repr(kp[0]), value, 1)
    f = tmp_path / "big.json"
    f.write_text(text)
    with pytest.raises(PoseliftError, match="beyond"):
        read_keypoints(f)
