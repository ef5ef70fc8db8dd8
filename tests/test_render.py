"""poselift.export.render: the scene every picture is built from, and the one animation writer."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from poselift import get_skeleton
from poselift.errors import ExportError, InvalidArgumentError, MissingDependencyError, OutputPathError
from poselift.export.render.animation import check_animation_path, write_frames
from poselift.export.render.scene import (
    COLOURS, Framing, View, draw_keypoints, draw_pose, ground_lines, parse_views, segments, to_y_up,
)  # fmt: skip

from conftest import POSE_H36M17_PX

H36M = get_skeleton("h36m17")


def _standing() -> np.ndarray:
    """A y-up H36M-17 pose in metres, feet near y = 0, facing the camera (+z)."""
    xy = (POSE_H36M17_PX - POSE_H36M17_PX[:, 1:].max()) / 190.0 * [1.0, -1.0]
    return np.concatenate([xy, np.zeros((17, 1))], axis=1)


def test_views_are_named_from_the_camera():
    framing = Framing(np.zeros(3), 1.0, 0.0)
    p = np.array([[1.0, 2.0, 3.0]])  # y-up: right, up, towards the camera
    np.testing.assert_allclose(View(0, 0, framing).project(p), [[1.0, 2.0, 3.0]], atol=1e-12)
    # from the camera's right: the camera (+z) is on the left of the panel
    np.testing.assert_allclose(View(0, 90, framing).project(p), [[-3.0, 2.0, 1.0]], atol=1e-12)
    # from above: the camera is at the bottom of the panel
    np.testing.assert_allclose(View(90, 0, framing).project(p), [[1.0, -3.0, 2.0]], atol=1e-12)
    assert View(0, 0, framing).axis_labels() == ("x (right)", "-y (up)")
    assert View(0, 90, framing).axis_labels() == ("z (depth)", "-y (up)")
    assert View(90, 0, framing).axis_labels() == ("x (right)", "z (depth)")
    assert View(20, 40, framing).axis_labels() == (None, None)
    rotation = View(20, 40, framing).rotation
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    assert [title for title, _ in parse_views(["front", (30, -45)])] == ["front (camera view)", "elevation 30°, azimuth -45°"]


def test_y_up_turn_and_framing():
    np.testing.assert_array_equal(to_y_up(np.array([1.0, 2.0, 3.0])), [1.0, -2.0, -3.0])
    pose = _standing()
    framing = Framing.around(pose)
    assert framing.ground == pytest.approx(pose[:, 1].min())
    assert np.all(np.abs(pose - framing.centre) <= framing.half)  # every joint inside the cube
    assert Framing.around(np.full((17, 3), np.nan)).half == 1.0


def test_a_pose_is_drawn_far_bones_first_in_side_colours():
    pose = _standing()
    pose[H36M.index("left_wrist"), 2] = 0.5  # the left forearm reaches towards the camera
    drawing = draw_pose(pose, H36M, View(0, 0, Framing.around(pose)))
    assert len(drawing.lines) == 16 and len(drawing.joints) == 17
    assert drawing.colours[-1] == COLOURS["left"]  # the nearest bone is drawn last
    np.testing.assert_allclose(drawing.lines[-1][1], pose[H36M.index("left_wrist"), :2])
    pose[H36M.index("right_knee")] = np.nan
    assert len(draw_pose(pose, H36M, View(0, 0, Framing.around(pose))).lines) == 14  # both bones of the knee go


def test_keypoints_leave_out_missing_joints_and_the_root_they_make():
    present = np.ones(17, bool)
    assert len(draw_keypoints(POSE_H36M17_PX, H36M, present).lines) == 16
    present[H36M.index("right_knee")] = False
    drawing = draw_keypoints(POSE_H36M17_PX, H36M, present)
    assert len(drawing.lines) == 14 and len(drawing.joints) == 16
    lsp = get_skeleton("lsp14")  # a virtual root: the mean of both hips
    kp = np.random.default_rng(0).uniform(0, 100, (14, 2))
    kp[lsp.index("left_hip")] = np.nan
    from_root = {b for a, b, _ in segments(lsp) if a == -1}
    assert len(draw_keypoints(kp, lsp).lines) == len(segments(lsp)) - len(from_root) - 1  # and the left knee's bone


def test_ground_grid_is_fixed_in_the_world():
    def xs(centre_x: float) -> set[float]:
        framing = Framing(np.array([centre_x, 0.9, 0.0]), 1.3, 0.0)
        lines = ground_lines(View(90, 0, framing))  # from above: lines at fixed x are vertical
        return {round(float(a[0]), 6) for a, b in lines if abs(a[0] - b[0]) < 1e-9}

    assert xs(0.0) == {-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5}
    assert xs(0.2) == {-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5}  # a person 20 cm to the right: the same lines
    assert xs(0.3) >= {-1.0, 2.0}


def _frames(n: int, h: int = 32, w: int = 48) -> list[np.ndarray]:
    return [np.full((h, w, 3), 40 * k, np.uint8) for k in range(n)]


def test_gif_and_mp4(tmp_path):
    from PIL import Image

    out = write_frames(iter(_frames(3)), tmp_path / "a.gif", fps=5)
    with Image.open(out) as im:
        assert (im.format, im.n_frames, im.size) == ("GIF", 3, (48, 32))
    cv2 = pytest.importorskip("cv2")
    cap = cv2.VideoCapture(str(write_frames(_frames(4), tmp_path / "a.mp4", fps=5)))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    cap.release()


@pytest.mark.parametrize("opencv", [False, True])
def test_mp4_through_ffmpeg_where_it_is_on_path(tmp_path, monkeypatch, opencv):
    """Where the ffmpeg program is on PATH, MP4 goes to it as raw RGB frames (H.264, which
    browsers play), with or without OpenCV."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ffmpeg"  # records its arguments and how many bytes it was given
    fake.write_text('#!/bin/sh\nfor last; do :; done\n{ echo "$@"; wc -c; } > "$last"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    if not opencv:
        monkeypatch.setitem(sys.modules, "cv2", None)
    out = write_frames(_frames(3, 31, 47), tmp_path / "b.mp4", fps=12.5)
    args, size = out.read_text().splitlines()
    assert "-s 47x31" in args and "-r 12.5" in args and "rgb24" in args
    assert int(size) == 3 * 31 * 47 * 3
    assert [p.name for p in tmp_path.iterdir() if p.name != "bin"] == ["b.mp4"]


def test_writer_errors_leave_nothing(tmp_path, monkeypatch):
    with pytest.raises(OutputPathError, match=r"\.gif or \.mp4; got '.*a\.avi'"):
        check_animation_path(tmp_path / "a.avi")
    with pytest.raises(InvalidArgumentError, match="one size; frame 1 is"):
        write_frames([*_frames(1), *_frames(1, 16)], tmp_path / "a.gif", fps=5)
    with pytest.raises(InvalidArgumentError, match="at least one frame"):
        write_frames([], tmp_path / "a.gif", fps=5)
    with pytest.raises(InvalidArgumentError, match="uint8 RGB; frame 0 is float64"):
        write_frames([np.zeros((4, 4, 3))], tmp_path / "a.gif", fps=5)
    with pytest.raises(InvalidArgumentError, match="fps must be a positive frame rate"):
        write_frames(_frames(1), tmp_path / "a.gif", fps=0)
    monkeypatch.setattr("poselift.export.render.animation.shutil.which", lambda name: None)
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(ExportError, match=r"OpenCV \(pip install \"\.\[video\]\".*ffmpeg.*\.gif instead"):
        write_frames(_frames(1), tmp_path / "a.mp4", fps=5)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    with pytest.raises(MissingDependencyError, match=r"'PIL.Image' \(the Pillow package\) is needed.*\.\[viz\]"):
        write_frames(_frames(1), tmp_path / "a.gif", fps=5)
    assert not list(tmp_path.iterdir())
