"""poselift.viz: PNG plots and GIF animations of poses (needs matplotlib)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

pytest.importorskip("matplotlib")

from poselift import get_skeleton  # noqa: E402
from poselift.errors import PoseliftError, ShapeError  # noqa: E402
from poselift.export.render.scene import segments  # noqa: E402
from poselift.viz import save_pose_animation, save_pose_plot  # noqa: E402

from conftest import POSE_H36M17_PX  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _pose3d(n: int = 1, seed: int = 0) -> np.ndarray:
    """``(n, 17, 3)`` standing poses in camera axes (metres, y down), slightly jittered."""
    xy = (POSE_H36M17_PX - POSE_H36M17_PX[0]) / 190.0
    rng = np.random.default_rng(seed)
    depth = rng.normal(0.0, 0.05, size=(n, 17, 1))
    return np.concatenate([np.broadcast_to(xy, (n, 17, 2)), depth], axis=-1) + rng.normal(0, 0.01, (n, 17, 3))


def _png_size(path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        return im.size


def test_plot_writes_valid_png(tmp_path):
    out = save_pose_plot(_pose3d()[0], "h36m17", tmp_path / "pose.png", title="a pose")
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    width, height = _png_size(out)
    assert width > 2 * height  # three views side by side


def test_plot_batch_frame_torch_and_2d_panel(tmp_path):
    poses = torch.from_numpy(_pose3d(4)).float()
    kp = np.concatenate([POSE_H36M17_PX, np.full((17, 1), 0.9, np.float32)], axis=1)
    kp[3, 2] = 0.0  # a missing joint is left out, not drawn at (0, 0)
    out = save_pose_plot(poses, get_skeleton("h36m17"), tmp_path / "sub" / "pose.png", frame=2,
                         views=["front", (30, -45)], keypoints2d=kp)
    assert out.is_file()
    w, _ = _png_size(out)
    w1, _ = _png_size(save_pose_plot(poses, "h36m17", tmp_path / "one.png", views="front"))
    assert w > 2 * w1  # 2D panel + two views vs one view


def test_plot_2d_input_of_another_layout(tmp_path):
    # BODY_25 input next to a 17-joint 3D pose: the 2D layout follows from its joint count.
    kp = np.random.default_rng(0).uniform(100, 400, size=(25, 3))
    out = save_pose_plot(_pose3d()[0], "h36m17", tmp_path / "p.png", views="side", keypoints2d=kp)
    assert out.stat().st_size > 0


def test_virtual_root_layout_links_to_root_point(tmp_path):
    lsp = get_skeleton("lsp14")
    segs = segments(lsp)
    # hips and neck hang from the virtual root (index -1 = the appended root point)
    assert {b for a, b, _ in segs if a == -1} == {lsp.index("left_hip"), lsp.index("right_hip"), lsp.index("neck")}
    pose = np.random.default_rng(1).normal(size=(14, 3))
    assert save_pose_plot(pose, lsp, tmp_path / "lsp.png").stat().st_size > 0


def test_left_right_colours_differ():
    h36m = get_skeleton("h36m17")
    colours = {b: c for _, b, c in segments(h36m)}
    assert colours[h36m.index("left_knee")] != colours[h36m.index("right_knee")]
    assert colours[h36m.index("spine")] not in (colours[h36m.index("left_knee")], colours[h36m.index("right_knee")])


def test_animation_gif(tmp_path):
    from PIL import Image

    poses = _pose3d(3)
    kp = np.broadcast_to(POSE_H36M17_PX, (3, 17, 2))
    out = save_pose_animation(poses, "h36m17", tmp_path / "walk.gif", fps=10, keypoints2d=kp, views="front")
    with Image.open(out) as im:
        assert im.format == "GIF"
        assert im.n_frames == 3


def test_animation_mp4_through_the_one_writer(tmp_path):
    cv2 = pytest.importorskip("cv2")
    out = save_pose_animation(_pose3d(4), "h36m17", tmp_path / "walk.mp4", fps=10, views="oblique", dpi=50)
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 4 and int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 180
    cap.release()


def test_mp4_without_opencv_or_ffmpeg_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr("poselift.export.render.animation.shutil.which", lambda name: None)
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 raises ImportError
    with pytest.raises(PoseliftError, match="ffmpeg.*gif"):
        save_pose_animation(_pose3d(2), "h36m17", tmp_path / "a.mp4")


def test_errors(tmp_path):
    with pytest.raises(ShapeError, match=r"\(\.\.\., 17, 3\).*got \(25, 3\).*openpose_body25"):
        save_pose_plot(np.zeros((25, 3)), "h36m17", tmp_path / "x.png")
    with pytest.raises(PoseliftError, match="unknown view 'back'"):
        save_pose_plot(_pose3d()[0], "h36m17", tmp_path / "x.png", views="back")
    with pytest.raises(ShapeError, match="frame 5 is out of range for 1 pose"):
        save_pose_plot(_pose3d()[0], "h36m17", tmp_path / "x.png", frame=5)
    with pytest.raises(PoseliftError, match=r"\.gif or \.mp4"):
        save_pose_animation(_pose3d(2), "h36m17", tmp_path / "a.avi")
    with pytest.raises(ShapeError, match=r"\(frames, 17, 3\)"):
        save_pose_animation(_pose3d(1)[0], "h36m17", tmp_path / "a.gif")
    with pytest.raises(ShapeError, match="cannot tell its joint layout"):
        save_pose_plot(_pose3d()[0], "h36m17", tmp_path / "x.png", keypoints2d=np.zeros((99, 2)))
    assert not list(tmp_path.iterdir())
