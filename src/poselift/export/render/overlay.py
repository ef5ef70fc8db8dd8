"""Pictures of ``poselift video``'s results: each frame with the 2D keypoints over the image
beside a 3D view of the main person (:func:`render_frame`), written as an MP4 or GIF
animation for a sequence (:func:`write_animation`) or one PNG per photo (:func:`write_pictures`).

OpenCV paints the scene of :mod:`~poselift.export.render.scene` here: it decodes the frames
already (``pip install ".[video]"``) and draws over them quickly, without matplotlib.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..._files import atomic_dir
from ...errors import ExportError, require
from ...frames import FrameSource
from .animation import write_frames
from .scene import COLOURS, GRID_COLOUR, JOINT_COLOUR, PAPER, Drawing, Framing, View, draw_keypoints, draw_pose
from .scene import ground_lines, to_y_up

__all__ = ["PICTURE_FILES", "VIDEO_VIEW", "render_frame", "write_pictures", "write_animation"]

#: The files poselift writes in a ``pictures`` folder (one PNG per photo).
PICTURE_FILES = "*.png"
#: ``(elevation, azimuth)`` of the 3D view beside each frame: from above, at the camera's left.
VIDEO_VIEW = (15.0, -30.0)
#: The 3D view shows 2.6 m across, its centre 0.9 m above the ground under the person.
_HALF, _CENTRE_HEIGHT = 1.3, 0.9
_TEXT = (60, 60, 60)  # BGR
_WHITE = (255, 255, 255)


def _cv2():
    return require("cv2", "video")


def _bgr(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    return colour[::-1]


def _point(p: np.ndarray) -> tuple[int, int]:
    return int(round(p[0])), int(round(p[1]))


def _paint(img: np.ndarray, drawing: Drawing, to_px, thickness: int, joint_colour, joint_radius: int) -> None:
    """Paint ``drawing`` on ``img``; ``to_px`` maps its coordinates to pixels."""
    cv2 = _cv2()
    for (a, b), colour in zip(to_px(drawing.lines), drawing.colours):
        cv2.line(img, _point(a), _point(b), _bgr(colour), thickness, cv2.LINE_AA)
    for p in to_px(drawing.joints):
        cv2.circle(img, _point(p), joint_radius, joint_colour, -1, cv2.LINE_AA)


def _view_panel(size: int, pose_yup: np.ndarray | None, skel, label: str) -> np.ndarray:
    """A square panel: the y-up pose from :data:`VIDEO_VIEW` over a ground grid, a label and the legend."""
    cv2 = _cv2()
    img = np.full((size, size, 3), _bgr(PAPER), dtype=np.uint8)
    if pose_yup is not None:
        root = skel.with_root_point(pose_yup)[-1]
        lowest = float(np.nanmin(pose_yup[:, 1]))
        ground = 0.0 if lowest > -0.5 else lowest  # the world's ground, unless the pose sank far below it
        framing = Framing(np.array([root[0], _CENTRE_HEIGHT, root[2]]), _HALF, ground)
    else:
        framing = Framing(np.array([0.0, _CENTRE_HEIGHT, 0.0]), _HALF, 0.0)
    view = View(*VIDEO_VIEW, framing)

    def to_px(points: np.ndarray) -> np.ndarray:
        return view.pixels(points, size)

    for a, b in to_px(ground_lines(view)):
        cv2.line(img, _point(a), _point(b), _bgr(GRID_COLOUR), 1, cv2.LINE_AA)
    if pose_yup is not None:
        _paint(img, draw_pose(pose_yup, skel, view), to_px, 3, _bgr(JOINT_COLOUR), max(2, round(size / 160)))
    cv2.putText(img, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.5, _TEXT, 1, cv2.LINE_AA)
    _draw_legend(img)
    return img


def _draw_legend(img: np.ndarray) -> None:
    """Which colour is the person's left and which their right, in the lower left corner."""
    cv2 = _cv2()
    y = img.shape[0] - 12
    for k, side in enumerate(("left", "right")):
        x = 8 + 78 * k
        cv2.line(img, (x, y - 4), (x + 18, y - 4), _bgr(COLOURS[side]), 3, cv2.LINE_AA)
        cv2.putText(img, side, (x + 24, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, _TEXT, 1, cv2.LINE_AA)


def _show_slot(result: Any) -> int:
    """The person slot whose 3D the animation shows: the main person's, else the first."""
    return result.people.index(result.main) if result.main in result.people else 0


def render_frame(
    frame: np.ndarray, result: Any, index: int, *, panel_height: int = 360
) -> np.ndarray:
    """One animation frame: the image with the 2D keypoints of ``result`` (a
    :class:`~poselift.video.VideoResult`) beside the 3D pose (y-up view). BGR, like ``frame``."""
    cv2 = _cv2()
    h, w = frame.shape[:2]
    scale = panel_height / h
    img = cv2.resize(frame, (max(1, int(round(w * scale))), panel_height), interpolation=cv2.INTER_AREA)
    skel = result.skeleton
    thick = max(2, int(round(panel_height / 180)))
    for p in range(len(result.people)):
        if result.found[index, p]:
            drawing = draw_keypoints(result.keypoints[index, p], skel, result.confidence[index, p] > 0)
            _paint(img, drawing, lambda xy: xy * scale, thick, _WHITE, thick + 1)
    p = _show_slot(result)
    who = f"person {result.people[p]}  " if result.sequence else ""
    if result.lifted[index, p]:
        if result.world is not None:
            pose = result.world[index, p]
        else:  # a photo: the camera-frame pose turned y-up about its root, on the ground
            pose = to_y_up(result.poses[index, p] - skel.root_point(result.poses[index, p]))
            pose[:, 1] -= pose[:, 1].min()
        label = f"3D  {who}{result.frames[index]}"
    else:
        pose, label = None, f"{who}{result.frames[index]}: {'no person' if not result.found[index, p] else 'not lifted'}"
    return np.concatenate([img, _view_panel(panel_height, pose, skel, label)], axis=1)


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
    """The rendered frames as an MP4 or GIF animation (:func:`~poselift.export.render.animation.write_frames`)."""
    panel = 360 if path.suffix.lower() == ".mp4" else 240
    images = (render_frame(frame, result, i, panel_height=panel) for i, (_, frame) in enumerate(source))
    if source.size is None:  # photos of different sizes: one canvas for all
        images = (_fit(im, 3 * panel, panel) for im in images)
    fps = result.fps if source.sequence else 1.0
    return write_frames((im[..., ::-1] for im in images), path, fps=fps)
