"""BVH export: read the file back with an independent reader and compare forward kinematics."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from poselift.errors import PoseliftError, ShapeError
from poselift.export import ExportError, build_bvh_skeleton, fixed_bone_poses, write_bvh
from poselift.skeleton import get_skeleton

from bvh_reader import read_bvh
from conftest import POSE_H36M17_PX


# --------------------------------------------------------------------------- synthetic motion
def walking_sequence(frames: int = 40, seed: int = 0) -> np.ndarray:
    """``(frames, 17, 3)`` metric camera-frame poses: a person turning and moving, with noisy bones."""
    rng = np.random.default_rng(seed)
    base = np.zeros((17, 3))
    base[:, :2] = (POSE_H36M17_PX - POSE_H36M17_PX[0]) / 180.0  # about 1.7 m tall
    base[:, 2] = rng.normal(0.0, 0.05, 17)
    out = []
    for t in range(frames):
        a = 0.08 * t
        R = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
        pose = base @ R.T + rng.normal(0.0, 0.02, (17, 3))
        pose[13] += [0.0, -0.3 * math.sin(0.3 * t), 0.1]  # a waving wrist
        out.append(pose + [0.02 * t, 0.0, 4.0 + 0.01 * t])
    return np.array(out)


def _joint_positions(names: list[str], fk: np.ndarray, skeleton: str) -> np.ndarray:
    skel = get_skeleton(skeleton)
    return np.stack([fk[:, names.index(j)] for j in skel.joints], axis=1)


@pytest.mark.parametrize("axes", ["camera", "yup"])
def test_round_trip_h36m17_within_1cm(tmp_path, axes):
    poses = walking_sequence()
    path, gaps = write_bvh(tmp_path / "walk.bvh", poses, "h36m17", fps=25.0, axes=axes, units="cm")
    assert gaps.size == 0
    names, fk, frame_time = read_bvh(path)
    assert frame_time == pytest.approx(1 / 25.0, rel=1e-6)
    expected, _ = fixed_bone_poses(poses @ np.diag([1.0, -1.0, -1.0]) if axes == "camera" else poses, "h36m17")
    got = _joint_positions(names, fk, "h36m17") / 100.0
    err = np.linalg.norm(got - expected, axis=-1)
    assert err.max() < 0.01  # 1 cm


def test_round_trip_lsp14_virtual_root(tmp_path):
    skel = get_skeleton("lsp14")
    h36m = get_skeleton("h36m17")
    seq = walking_sequence(20, seed=3)
    poses = np.stack([seq[:, h36m.index("thorax" if j == "neck" else j)] for j in skel.joints], axis=1)
    path, _ = write_bvh(tmp_path / "lsp.bvh", poses, "lsp14", fps=30.0, axes="yup", units="m")
    names, fk, _ = read_bvh(path)
    assert names[0] == "root"
    expected, _ = fixed_bone_poses(poses, "lsp14")
    assert np.abs(_joint_positions(names, fk, "lsp14") - expected).max() < 0.01


def test_zero_length_bones_and_collapsed_poses(tmp_path):
    """F11: a bone of zero length in every frame wrote ``nan`` into every frame, and all-zero
    poses crashed with ``LinAlgError``. A bone without length turns with its parent; a frame
    whose joints all lie at one point is filled like a gap; all of them: ``ExportError``."""
    poses = walking_sequence(12)
    poses[:, 3] = poses[:, 2]  # the right ankle at the right knee: a zero-length shin throughout
    poses[:, 16] = poses[:, 15]  # a zero-length forearm (a leaf bone) too
    path, gaps = write_bvh(tmp_path / "zero.bvh", poses, "h36m17", fps=25.0, units="m")
    assert "nan" not in path.read_text() and gaps.size == 0
    names, fk, _ = read_bvh(path)
    expected, _ = fixed_bone_poses(poses @ np.diag([1.0, -1.0, -1.0]), "h36m17")
    assert np.abs(_joint_positions(names, fk, "h36m17") - expected).max() < 0.01

    collapsed = walking_sequence(6)
    collapsed[2] = 0.0
    _, gaps = write_bvh(tmp_path / "gap.bvh", collapsed, "h36m17", fps=25.0)
    assert gaps.tolist() == [2]
    with pytest.raises(ExportError, match="every joint at one point"):
        write_bvh(tmp_path / "zeros.bvh", np.zeros((4, 17, 3)), "h36m17", fps=25.0)
    assert not (tmp_path / "zeros.bvh").exists()


def test_fixed_bone_lengths_are_medians():
    poses = walking_sequence()
    fixed, lengths = fixed_bone_poses(poses, "h36m17")
    skel = get_skeleton("h36m17")
    for parent, child in skel.bones:
        measured = np.linalg.norm(fixed[:, child] - fixed[:, parent], axis=-1)
        raw = np.median(np.linalg.norm(poses[:, child] - poses[:, parent], axis=-1))
        np.testing.assert_allclose(measured, raw, rtol=1e-6)
        assert lengths[child] == pytest.approx(raw, rel=1e-9)
    np.testing.assert_allclose(fixed[:, 0], poses[:, 0], atol=1e-12)  # the root stays put


def test_gap_frames_are_filled_and_reported(tmp_path):
    poses = walking_sequence(12)
    poses[[0, 5, 6]] = np.nan
    path, gaps = write_bvh(tmp_path / "gaps.bvh", poses, "h36m17", fps=10.0)
    assert gaps.tolist() == [0, 5, 6]
    names, fk, _ = read_bvh(path)
    assert fk.shape[0] == 12 and np.isfinite(fk).all()


def test_branchings_get_one_joint_per_child():
    tree = build_bvh_skeleton("h36m17")
    assert tree.names[0] == "pelvis"
    assert {"pelvis.right_hip", "pelvis.left_hip", "pelvis.spine", "thorax.neck"} <= set(tree.names)
    assert len(set(tree.names)) == len(tree.names)


def test_unwritable_path_raises_and_leaves_nothing(tmp_path):
    missing = tmp_path / "no" / "such" / "folder" / "out.bvh"
    with pytest.raises(ExportError, match="out.bvh"):
        write_bvh(missing, walking_sequence(5), "h36m17", fps=10.0)
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(ExportError, match="out.bvh"):  # a parent that is a file (fails even as root)
        write_bvh(a_file / "out.bvh", walking_sequence(5), "h36m17", fps=10.0)
    a_dir = tmp_path / "taken.bvh"
    a_dir.mkdir()
    with pytest.raises(ExportError, match="taken.bvh"):  # the target is a folder: the rename fails
        write_bvh(a_dir, walking_sequence(5), "h36m17", fps=10.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "taken.bvh"]  # no temporary left
    assert list(a_dir.iterdir()) == []


def test_bad_sequences_raise():
    with pytest.raises(ShapeError, match=r"\(frames, 17, 3\)"):
        write_bvh("/tmp/never.bvh", np.zeros((4, 16, 3)), "h36m17", fps=10.0)
    with pytest.raises(ExportError, match="no frame"):
        write_bvh("/tmp/never.bvh", np.full((4, 17, 3), np.nan), "h36m17", fps=10.0)
    with pytest.raises(ExportError, match="fps"):
        write_bvh("/tmp/never.bvh", walking_sequence(3), "h36m17", fps=0.0)
    assert not Path("/tmp/never.bvh").exists()
    assert issubclass(ExportError, PoseliftError)


def test_written_file_has_ordinary_permissions(tmp_path):
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    path, _ = write_bvh(tmp_path / "perm.bvh", walking_sequence(3), "h36m17", fps=10.0)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~mask)


@pytest.mark.parametrize("fps", [1e9, 1e-300, float("inf"), True, "30", None])
def test_bvh_frame_time_is_a_real_short_number(tmp_path, fps):
    """F18: extreme frame rates wrote ``Frame Time: 0.00000000`` or a 300-digit frame time
    (F28: True, '30', None were taken or gave tracebacks)."""
    with pytest.raises(ExportError, match="fps must be a positive frame rate"):
        write_bvh(tmp_path / "a.bvh", walking_sequence(4), "h36m17", fps=fps)
    with pytest.raises(ExportError, match="coordinates up to"):
        write_bvh(tmp_path / "a.bvh", walking_sequence(4) * 1e200, "h36m17", fps=30.0)
    assert not list(tmp_path.iterdir())
    path, _ = write_bvh(tmp_path / "slow.bvh", walking_sequence(4), "h36m17", fps=0.001)
    assert "Frame Time: 1000.00000000" in path.read_text()
