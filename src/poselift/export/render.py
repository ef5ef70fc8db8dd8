"""Pictures of ``poselift video``'s results: each frame with the 2D keypoints over the image
beside a 3D view (:func:`render_frame`), written as an MP4 or GIF animation for a sequence
or one PNG per photo. Drawn with OpenCV in the line colours of :mod:`poselift.viz`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExportError, InvalidArgumentError, require
from .._files import atomic_dir, atomic_path
from ..frames import FrameSource
from ..skeleton import Skeleton
from ..viz import CENTER_COLOR, LEFT_COLOR, RIGHT_COLOR, _segments

__all__ = ["PICTURE_FILES", "render_frame", "write_pictures", "write_animation"]

#: The files poselift writes in a ``pictures`` folder (one PNG per photo).
PICTURE_FILES = "*.png"


def _cv2():
    return require("cv2", "video")


def _show_slot(result: Any) -> int:
    """The person slot whose 3D the animation shows: the main person's, else the first."""
    return result.people.index(result.main) if result.main in result.people else 0


_LEFT, _RIGHT, _MID = (255, 140, 40), (40, 40, 230), (60, 200, 60)  # BGR
_BGR = {LEFT_COLOR: _LEFT, RIGHT_COLOR: _RIGHT, CENTER_COLOR: _MID}  # viz's line colours, in OpenCV's order


def _draw_2d(img: np.ndarray, kp: np.ndarray, conf: np.ndarray, skel: Skeleton, scale: float) -> None:
    cv2 = _cv2()
    pts = skel.with_root_point(kp) * scale
    c = np.concatenate([conf, [conf[list(skel.root)].min()]])
    thick = max(2, int(round(img.shape[0] / 180)))
    for a, b, colour in _segments(skel):  # a == -1: the root point appended by Skeleton.with_root_point
        if c[a] > 0 and c[b] > 0:
            cv2.line(img, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]), _BGR[colour], thick, cv2.LINE_AA)
    for j in range(skel.num_joints):
        if c[j] > 0:
            cv2.circle(img, tuple(int(v) for v in pts[j]), thick + 1, (255, 255, 255), -1, cv2.LINE_AA)


def _draw_3d(size: int, pose_yup: np.ndarray | None, skel: Skeleton, label: str) -> np.ndarray:
    """A square panel: the y-up pose seen from the front-right, above, orthographic, ground grid."""
    cv2 = _cv2()
    img = np.full((size, size, 3), 245, dtype=np.uint8)
    yaw, pitch = math.radians(30.0), math.radians(15.0)
    Ry = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]])
    Rx = np.array([[1, 0, 0], [0, math.cos(pitch), -math.sin(pitch)], [0, math.sin(pitch), math.cos(pitch)]])
    R = Rx @ Ry
    s = size / 2.6  # pixels per metre: 2.6 m across
    if pose_yup is not None:
        pts = skel.with_root_point(pose_yup)
        centre = pts[-1].copy()
        centre[1] = 0.0
        ground_y = 0.0 if pts[:, 1].min() > -0.5 else pts[:, 1].min()
    else:
        centre, ground_y = np.zeros(3), 0.0

    def to_px(p: np.ndarray) -> np.ndarray:
        q = (p - centre - [0.0, 0.9, 0.0]) @ R.T
        return np.stack([size / 2 + s * q[..., 0], size / 2 - s * q[..., 1]], axis=-1)

    for k in np.linspace(-1.5, 1.5, 7):  # ground grid around the person
        for a, b in (([k, ground_y, -1.5], [k, ground_y, 1.5]), ([-1.5, ground_y, k], [1.5, ground_y, k])):
            pa, pb = to_px(np.array(a) + [centre[0], 0, centre[2]]), to_px(np.array(b) + [centre[0], 0, centre[2]])
            cv2.line(img, tuple(int(v) for v in pa), tuple(int(v) for v in pb), (205, 205, 205), 1, cv2.LINE_AA)
    if pose_yup is not None:
        px = to_px(pts)
        for a, b, colour in _segments(skel):
            cv2.line(img, tuple(int(v) for v in px[a]), tuple(int(v) for v in px[b]), _BGR[colour], 3, cv2.LINE_AA)
    cv2.putText(img, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (60, 60, 60), 1, cv2.LINE_AA)
    _draw_legend(img)
    return img


def _draw_legend(img: np.ndarray) -> None:
    """Which colour is the person's left and which their right, in the lower left corner."""
    cv2 = _cv2()
    y = img.shape[0] - 12
    for k, (text, colour) in enumerate((("left", _LEFT), ("right", _RIGHT))):
        x = 8 + 78 * k
        cv2.line(img, (x, y - 4), (x + 18, y - 4), colour, 3, cv2.LINE_AA)
        cv2.putText(img, text, (x + 24, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (60, 60, 60), 1, cv2.LINE_AA)


def render_frame(
    frame: np.ndarray, result: Any, index: int, *, panel_height: int = 360
) -> np.ndarray:
    """One animation frame: the image with the 2D keypoints of ``result`` (a
    :class:`~poselift.video.VideoResult`) beside the 3D pose (y-up view)."""
    cv2 = _cv2()
    h, w = frame.shape[:2]
    scale = panel_height / h
    img = cv2.resize(frame, (max(1, int(round(w * scale))), panel_height), interpolation=cv2.INTER_AREA)
    skel = result.skeleton
    for p in range(len(result.people)):
        if result.found[index, p]:
            _draw_2d(img, result.keypoints[index, p], result.confidence[index, p], skel, scale)
    p = _show_slot(result)
    who = f"person {result.people[p]}  " if result.sequence else ""
    if result.lifted[index, p]:
        if result.world is not None:
            pose = result.world[index, p]
        else:  # a photo: the camera-frame pose turned y-up, about its root
            pose = (result.poses[index, p] - result.poses[index, p][list(skel.root)].mean(axis=0)) * [1.0, -1.0, -1.0]
            pose[:, 1] -= pose[:, 1].min()
        label = f"3D  {who}{result.frames[index]}"
    else:
        pose, label = None, f"{who}{result.frames[index]}: {'no person' if not result.found[index, p] else 'not lifted'}"
    return np.concatenate([img, _draw_3d(panel_height, pose, skel, label)], axis=1)


def _fit(im: np.ndarray, width: int, height: int) -> np.ndarray:
    """``im`` scaled down to fit ``width`` x ``height`` if needed and padded with white."""
    cv2 = _cv2()
    h, w = im.shape[:2]
    if w > width or h > height:
        k = min(width / w, height / h)
        im = cv2.resize(im, (max(1, int(w * k)), max(1, int(h * k))), interpolation=cv2.INTER_AREA)
        h, w = im.shape[:2]
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    canvas[:h, :w] = im
    return canvas


def write_pictures(result: Any, source: FrameSource, folder: Path) -> Path:
    """One PNG per photo, ``folder/NAME.png``: the 2D keypoints over the photo beside the 3D view."""
    cv2 = _cv2()
    with atomic_dir(folder) as tmp:
        for i, (name, frame) in enumerate(source):
            image = render_frame(frame, result, i, panel_height=min(max(frame.shape[0], 360), 720))
            if not cv2.imwrite(str(tmp / f"{name}.png"), image):
                raise ExportError(f"OpenCV cannot write the PNG picture {folder / (name + '.png')}.")
    return folder


def write_animation(result: Any, source: FrameSource, path: Path) -> Path:
    """The rendered frames as MP4 (OpenCV) or GIF (Pillow), written to a temporary file first."""
    cv2 = _cv2()
    suffix = path.suffix.lower()
    panel = 360 if suffix == ".mp4" else 240
    images = (render_frame(frame, result, i, panel_height=panel) for i, (_, frame) in enumerate(source))
    if source.size is None:  # photos of different sizes: one canvas for all
        images = (_fit(im, 3 * panel, panel) for im in images)
    fps = result.fps if source.sequence else 1.0
    with atomic_path(path) as tmp:
        if suffix == ".gif":
            from PIL import Image

            frames = [Image.fromarray(cv2.cvtColor(im, cv2.COLOR_BGR2RGB)) for im in images]
            frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=int(1000 / fps), loop=0)
        elif suffix == ".mp4":
            writer = None  # OpenCV picks the container by the file name: tmp keeps the .mp4 suffix
            try:
                for im in images:
                    if writer is None:
                        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (im.shape[1], im.shape[0]))
                        if not writer.isOpened():
                            raise ExportError(f"OpenCV cannot write MP4 video to {path}; use animation='gif'.")
                    writer.write(im)
            finally:
                if writer is not None:
                    writer.release()
        else:
            raise InvalidArgumentError(f"animation must be 'mp4' or 'gif'; got {suffix.lstrip('.')!r}.")
    return path
