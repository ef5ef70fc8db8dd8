"""Camera-space placement: root translation by least squares, intrinsics, world frame."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from poselift.camera import (
    DEFAULT_FOV_DEG,
    Camera,
    CameraError,
    align_to_world,
    as_camera,
    estimate_world_frame,
    solve_translation,
    to_camera_space,
)
from poselift.errors import PoseliftError
from poselift.ground import SOLE_FRACTION, body_height

from conftest import POSE_H36M17_PX


def metric_pose() -> np.ndarray:
    """A root-relative ``(17, 3)`` standing pose in metres, camera axes (y down)."""
    rng = np.random.default_rng(0)
    p = np.zeros((17, 3))
    p[:, :2] = (POSE_H36M17_PX - POSE_H36M17_PX[0]) / 180.0
    p[:, 2] = rng.normal(0.0, 0.08, 17)
    return p - p[0]


CAM = Camera(fx=1000.0, fy=1010.0, cx=640.0, cy=360.0, width=1280, height=720)


def test_translation_recovered_exactly_without_noise():
    P = metric_pose()
    for T in ([0.3, -0.2, 4.0], [-1.5, 0.4, 9.0], [0.0, 0.0, 2.0]):
        uv = CAM.project(P + T)
        np.testing.assert_allclose(solve_translation(P, uv, CAM), T, atol=1e-9)


def test_batched_and_confidence_weighted():
    P = np.stack([metric_pose()] * 3)
    T = np.array([[0.1, 0.2, 3.0], [1.0, -0.5, 6.0], [-0.4, 0.0, 5.0]])
    uv = CAM.project(P + T[:, None])
    bad = uv.copy()
    bad[:, 3] += 300.0  # one joint far off ...
    conf = np.ones((3, 17))
    conf[:, 3] = 0.0  # ... with confidence 0 does not count
    np.testing.assert_allclose(solve_translation(P, bad, CAM, conf), T, atol=1e-9)
    assert np.abs(solve_translation(P, bad, CAM) - T).max() > 0.05  # it would otherwise


def test_noisy_keypoints_give_a_close_translation():
    rng = np.random.default_rng(1)
    P = metric_pose()
    T = np.array([0.5, 0.1, 5.0])
    uv = CAM.project(P + T) + rng.normal(0.0, 2.0, (17, 2))
    assert np.linalg.norm(solve_translation(P, uv, CAM) - T) < 0.1  # 2 px noise at 5 m: within 10 cm


def test_nan_too_few_joints_and_one_pixel_give_nan():
    P = np.stack([metric_pose()] * 4)
    uv = CAM.project(P + [0.0, 0.0, 4.0])
    P[1] = np.nan
    uv[2] = 100.0  # every joint at one pixel: no translation fits better than another
    conf = np.ones((4, 17))
    conf[3, 1:] = 0.0  # one weighted joint
    T = solve_translation(P, uv, CAM, conf)
    assert np.isfinite(T[0]).all() and np.isnan(T[1:]).all()


def test_default_camera_from_image_size():
    cam = Camera.from_image_size(1280, 720)
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (1280.0, 1280.0, 640.0, 360.0)
    assert DEFAULT_FOV_DEG == pytest.approx(53.13, abs=0.01)
    wide = Camera.from_image_size(1280, 720, fov_deg=90.0)
    assert wide.fx == pytest.approx(640.0, rel=1e-9)
    assert as_camera((640, 480)).fx == 640.0
    assert as_camera({"f": 500, "cx": 320, "cy": 240}).fy == 500.0
    assert Camera.from_dict(CAM.to_dict()) == CAM


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"model": "fisheye", "f": 500, "cx": 1, "cy": 1}, "unknown camera model 'fisheye'"),
        ({"f": 500, "cx": 1}, "missing 'cy'"),
        ({"f": -1, "cx": 1, "cy": 1}, "positive"),
        ({"focal": 500}, "unknown camera keys"),
        ({"width": 0, "height": 720}, "image size must be positive"),
    ],
)
def test_bad_cameras_raise(spec, message):
    with pytest.raises(CameraError, match=message):
        as_camera(spec)
    assert issubclass(CameraError, PoseliftError)


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"f": 0.1, "cx": 320, "cy": 240}, "focal lengths must lie between 1 and 1e\\+06 pixels"),
        ({"f": 1e8, "cx": 320, "cy": 240}, "focal lengths must lie between"),
        ({"fx": 500, "fy": 50, "cx": 320, "cy": 240}, "far from square"),
        ({"f": 500, "cx": 1e7, "cy": 240}, "principal point"),
        ({"f": 500, "cx": 5000, "cy": 240, "width": 640, "height": 480}, "far outside the 640 x 480 image"),
        ({"f": 4.2, "cx": 960, "cy": 540, "width": 1920, "height": 1080}, "field of view of 179 degrees.*millimetres"),
        ({"f": 5e5, "cx": 960, "cy": 540, "width": 1920, "height": 1080}, "field of view of 0.22 degrees"),
        ({"width": 1920, "height": 1080, "fov_deg": 179.9}, "focal lengths must lie between"),
        ({"f": 500, "cx": 320, "cy": 240, "width": float("nan"), "height": 480}, "whole number"),
        ({"f": 500, "cx": 320, "cy": 240, "width": "640", "height": 480}, "whole number"),
        ({"width": float("inf"), "height": 480}, "whole numbers"),
        ({"width": True, "height": 480}, "whole numbers"),
    ],
)
def test_implausible_intrinsics_are_refused_up_front(spec, message):
    """F09/F10 (and F21's image sizes): intrinsics no camera has, a focal length in millimetres
    among them, are refused with a message instead of giving NaN or a depth clamped to 0.1 m."""
    with pytest.raises(CameraError, match=message):
        as_camera(spec)


def test_an_unsolvable_placement_is_unliftable_with_a_reason(lifter, pose):
    """F09/F10: a placement the intrinsics cannot give (here a 1 px focal length: the person
    1 cm from the camera, once clamped to 0.1 m) marks the pose unliftable, never NaN with
    lifted=True; confidences of 3e38 and far principal points still give finite placements."""
    near = Camera(fx=1.0, fy=1.0, cx=320.0, cy=240.0)
    result = lifter.lift(np.stack([pose, pose]), camera=near, on_unliftable="nan")
    assert not result.lifted.any() and (result.reason == "camera").all() and np.isnan(result.poses).all()
    with pytest.raises(CameraError, match="cannot be placed.*focal length is in pixels"):
        lifter.lift(pose, camera=near)
    expected = lifter.lift(pose, camera=CAM)
    huge = lifter.lift(pose, np.full(17, 3e38, np.float32), camera=CAM, on_unliftable="nan")
    assert huge.lifted and np.isfinite(huge.poses).all()
    np.testing.assert_allclose(huge.poses, expected, rtol=1e-5, atol=1e-5)
    for cam in (Camera(fx=1e6, fy=1e6, cx=-9e5, cy=9e5), Camera(fx=1.5, fy=1.5, cx=1e6, cy=0.0)):
        r = lifter.lift(pose, camera=cam, on_unliftable="nan")
        assert bool(r.lifted) == bool(np.isfinite(r.poses).all())


def test_unknown_model_in_constructor():
    with pytest.raises(CameraError, match="unknown camera model"):
        Camera(1.0, 1.0, 0.0, 0.0, model="equidistant")
    with pytest.raises(CameraError, match="image size"):
        Camera.from_image_size(0, 0)


def test_lift_with_camera_places_the_pose(lifter, pose):
    rel = lifter.lift(pose)
    placed = lifter.lift(pose, camera=(640, 480))
    T = placed[0] - rel[0]
    np.testing.assert_allclose(placed - rel, np.broadcast_to(T, rel.shape), atol=1e-5)
    assert T[2] > 0.5  # in front of the camera
    # the translation re-projects the pose onto its 2D keypoints as well as least squares can
    np.testing.assert_allclose(T, solve_translation(rel, pose, as_camera((640, 480))), atol=1e-5)
    t = lifter.lift(torch.from_numpy(pose), camera=CAM)
    assert torch.is_tensor(t) and t.dtype == torch.float32
    with pytest.raises(CameraError, match="normalized"):
        lifter.lift(pose, camera=CAM, units="normalized")


def test_walking_person_moves_through_space():
    """The same pose seen at two places in the image and two sizes lands at two places in 3D."""
    P = metric_pose()
    near = to_camera_space(P, CAM.project(P + [-1.0, 0.0, 4.0]), CAM)
    far = to_camera_space(P, CAM.project(P + [1.0, 0.0, 8.0]), CAM)
    np.testing.assert_allclose(near[0], [-1.0, 0.0, 4.0], atol=1e-9)
    np.testing.assert_allclose(far[0], [1.0, 0.0, 8.0], atol=1e-9)


def _tilted_camera_sequence(pitch_deg: float, frames: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """A person walking on a plane seen by a camera pitched down by ``pitch_deg``; returns (poses, R)."""
    a = math.radians(pitch_deg)
    # world: y up; camera: y down, z forward, pitched down about x
    R = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]]) @ np.diag([1.0, -1.0, -1.0])
    body = metric_pose() @ np.diag([1.0, -1.0, -1.0])  # y up now
    body = body - [0.0, body[:, 1].min(), 0.0]  # feet on y = 0
    out = []
    for t in range(frames):
        pos = np.array([-2.0 + 0.15 * t, 0.0, -6.0 + 2.0 * math.sin(0.2 * t)])
        world = body + pos
        out.append(world @ R.T)
    return np.array(out), R


def test_world_frame_recovers_the_ground():
    cam_poses, R = _tilted_camera_sequence(20.0)
    world, frame = align_to_world(cam_poses, "h36m17")
    assert frame.ground_fitted
    ankles = world[:, [3, 6]]
    sole = SOLE_FRACTION * body_height(world, "h36m17")  # the ankle joint sits above the sole
    assert np.abs(ankles[..., 1].min(axis=1) - sole).max() < 0.02  # feet on the ground
    head_up = world[:, 10, 1] - world[:, 0, 1]
    assert (head_up > 0.4).all()  # upright
    np.testing.assert_allclose(frame.R[1] @ R, [0.0, 1.0, 0.0], atol=0.02)  # normal = world up


def test_world_frame_falls_back_to_body_up_when_standing_still():
    cam_poses, _ = _tilted_camera_sequence(0.0)
    still = np.repeat(cam_poses[:1], 10, axis=0)
    world, frame = align_to_world(still, "h36m17")
    assert not frame.ground_fitted
    assert (world[:, 10, 1] > 1.0).all()
    with pytest.raises(PoseliftError, match="no frame"):
        estimate_world_frame(np.full((3, 17, 3), np.nan), "h36m17")


_NO_TORCH = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this probe")
sys.meta_path.insert(0, Block())
import numpy as np
import poselift.camera, poselift.export, poselift.smooth, poselift.video
poses = np.zeros((3, 17, 3)); poses[:, :, 1] = np.linspace(-0.9, 0.8, 17)
poselift.smooth.smooth_poses(poses, "h36m17", 30.0)
poselift.camera.solve_translation(poses, np.ones((3, 17, 2)), poselift.camera.Camera.from_image_size(64, 48))
print("torch" in sys.modules)
"""


def test_camera_smooth_export_and_video_import_without_torch():
    """They serve an onnxruntime-only install: numpy only at import and in use."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", _NO_TORCH], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_tracked_ground_follows_a_moving_camera():
    """A camera bobbing up and down slowly: one plane leaves the feet off it, the tracked ground keeps them on it."""
    frames = 150
    cam_poses, R = _tilted_camera_sequence(10.0, frames=frames)
    bob = 0.3 * np.sin(2 * np.pi * 0.1 * np.arange(frames) / 30.0)  # metres, 0.1 Hz at 30 fps
    moving = cam_poses - (bob[:, None] * (R @ [0.0, 1.0, 0.0]))[:, None, :]  # the scene seen from a rising camera
    fixed, _ = align_to_world(moving, "h36m17")
    tracked, _ = align_to_world(moving, "h36m17", ground="tracked", fps=30.0)
    feet_fixed = np.minimum(fixed[:, 3, 1], fixed[:, 6, 1])
    feet_tracked = np.minimum(tracked[:, 3, 1], tracked[:, 6, 1])
    sole = SOLE_FRACTION * body_height(tracked, "h36m17")
    assert np.ptp(feet_fixed) > 0.2 and feet_fixed.min() >= sole - 1e-9  # floating, never sinking
    assert np.abs(feet_tracked - sole).max() < 0.06
    with pytest.raises(PoseliftError, match="fps"):
        align_to_world(moving, "h36m17", ground="tracked")
