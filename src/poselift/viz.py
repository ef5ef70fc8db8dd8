"""Pictures of lifted poses: multi-view PNG plots and GIF/MP4 animations.

Needs matplotlib (``pip install ".[viz]"``). Drawing uses matplotlib's Agg canvas
directly (no pyplot, no window), so it works on headless machines.

Poses are in poselift's output convention, the OpenCV camera frame: x right, y down, z
away from the camera. The plots put ``-y`` up so a person stands upright, and name views
from the camera's point of view:

- ``"front"``: as the camera sees it;
- ``"side"``: from the camera's right (the camera is on the left of the panel);
- ``"top"``: from above (the camera is at the bottom of the panel);
- ``(elevation, azimuth)`` in degrees: ``(0, 0)`` is ``"front"``, positive azimuth moves
  the viewpoint to the camera's right, positive elevation looks from above.

Left limbs are drawn in blue, right limbs in red, the trunk in grey.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np

from ._arrays import to_numpy
from ._files import atomic_path
from .errors import ExportError, InvalidArgumentError, OutputPathError, ShapeError, require
from .skeleton import Skeleton, get_skeleton, guess_layouts

__all__ = ["save_pose_plot", "save_pose_animation", "VIEWS", "PLOT_SUFFIXES"]

logger = logging.getLogger(__name__)

View = Union[str, tuple[float, float]]

#: Named viewpoints as ``(elevation, azimuth)`` degrees relative to the camera.
VIEWS: dict[str, tuple[float, float]] = {
    "front": (0.0, 0.0),
    "side": (0.0, 90.0),
    "top": (90.0, 0.0),
    "oblique": (20.0, 40.0),
}

_TITLES = {
    "front": "front (camera view)",
    "side": "side (from the camera's right)",
    "top": "top (from above)",
    "oblique": "oblique",
}

#: Image formats :func:`save_pose_plot` writes (matplotlib's, picked by the file suffix).
PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".tif", ".tiff", ".webp")
LEFT_COLOR = "#1f77b4"
RIGHT_COLOR = "#d62728"
CENTER_COLOR = "#555555"


# --------------------------------------------------------------------------- inputs


def _to_numpy(a: Any) -> np.ndarray:
    return to_numpy(a).astype(np.float64)


def _poses(a: Any, skeleton: Skeleton, name: str, dims: tuple[int, ...] = (3,)) -> np.ndarray:
    """``(..., N, D)`` -> ``(B, N, D)`` with the shape checked against the layout."""
    arr = _to_numpy(a)
    n = skeleton.num_joints
    if arr.ndim < 2 or arr.shape[-2] != n or arr.shape[-1] not in dims:
        want = " or ".join(f"(..., {n}, {d})" for d in dims)
        hint = ""
        if arr.ndim >= 2 and arr.shape[-1] in dims and arr.shape[-2] != n:
            other = guess_layouts(arr.shape[-2])
            if other:
                hint = f" {arr.shape[-2]} joints looks like {other[0]!r}: pass that skeleton instead."
        raise ShapeError(f"{name} must have shape {want} for the {skeleton.name} layout; got {arr.shape}.{hint}")
    if arr.size == 0:
        raise ShapeError(f"{name} hold no poses (shape {arr.shape}).")
    return arr.reshape(-1, n, arr.shape[-1])


def _skeleton_2d(keypoints2d: np.ndarray, skeleton: Skeleton, skeleton2d: str | Skeleton | None) -> Skeleton:
    """Layout of the 2D input: given, the 3D layout when the joint counts agree, or the one built-in match."""
    if skeleton2d is not None:
        return get_skeleton(skeleton2d)
    n = keypoints2d.shape[-2] if keypoints2d.ndim >= 2 else -1
    if n == skeleton.num_joints:
        return skeleton
    names = guess_layouts(n)
    if len(names) == 1:
        return get_skeleton(names[0])
    raise ShapeError(
        f"keypoints2d has shape {keypoints2d.shape}; cannot tell its joint layout "
        f"(candidates: {names or 'none'}). Pass skeleton2d=... naming it."
    )


def _views(views: View | Sequence[View]) -> list[tuple[str, tuple[float, float]]]:
    """Normalise ``views`` to ``[(title, (elevation, azimuth)), ...]``."""
    if isinstance(views, str) or (
        isinstance(views, tuple) and len(views) == 2 and all(isinstance(v, (int, float)) for v in views)
    ):
        views = [views]
    out = []
    for view in views:
        if isinstance(view, str):
            if view not in VIEWS:
                raise InvalidArgumentError(f"unknown view {view!r}; use one of {list(VIEWS)} or an (elevation, azimuth) pair")
            out.append((_TITLES[view], VIEWS[view]))
        else:
            try:
                elev, azim = (float(v) for v in view)
            except (TypeError, ValueError):
                raise InvalidArgumentError(
                    f"a view must be a name ({list(VIEWS)}) or an (elevation, azimuth) pair in degrees; got {view!r}"
                ) from None
            out.append((f"elevation {elev:g}°, azimuth {azim:g}°", (elev, azim)))
    if not out:
        raise InvalidArgumentError("views is empty; give at least one view, e.g. views='front'")
    return out


# --------------------------------------------------------------------------- drawing helpers


def _segments(skeleton: Skeleton) -> list[tuple[int, int, str]]:
    """``(a, b, colour)`` per line; ``a == -1`` stands for the root point."""
    left = {l for l, _ in skeleton.pairs}
    right = {r for _, r in skeleton.pairs}
    out = []
    for child, parent in enumerate(skeleton.parents):
        if parent < 0 and (skeleton.root_is_joint and child in skeleton.root):
            continue  # the root joint itself
        if parent < 0 and skeleton.root_is_joint:
            parent = skeleton.root[0]
        color = LEFT_COLOR if child in left else RIGHT_COLOR if child in right else CENTER_COLOR
        out.append((parent, child, color))
    return out


def _joint_colors(skeleton: Skeleton) -> list[str]:
    left = {l for l, _ in skeleton.pairs}
    right = {r for _, r in skeleton.pairs}
    return [LEFT_COLOR if j in left else RIGHT_COLOR if j in right else CENTER_COLOR for j in range(skeleton.num_joints)]


def _plot_coords(pose: np.ndarray) -> np.ndarray:
    """OpenCV camera coordinates -> plot axes (x right, z depth, -y up)."""
    return np.stack([pose[..., 0], pose[..., 2], -pose[..., 1]], axis=-1)


def _cube(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre and half-size of a cube holding all finite ``points`` (plot coordinates)."""
    finite = points[np.isfinite(points).all(axis=-1)]
    if finite.size == 0:
        return np.zeros(3), 1.0
    lo, hi = finite.min(axis=0), finite.max(axis=0)
    half = 0.55 * float((hi - lo).max())
    return (lo + hi) / 2.0, half if half > 0 else 1.0


class _Panel3D:
    """One 3D view whose lines can be updated frame by frame."""

    def __init__(self, ax, skeleton: Skeleton, title: str, angles: tuple[float, float], center: np.ndarray, half: float):
        from matplotlib.ticker import MaxNLocator

        self.ax = ax
        self.skeleton = skeleton
        self.segments = _segments(skeleton)
        elev, azim = angles
        ax.view_init(elev=elev, azim=azim - 90.0)
        ax.set_proj_type("ortho")
        ax.set_xlim(center[0] - half, center[0] + half)
        ax.set_ylim(center[1] - half, center[1] + half)
        ax.set_zlim(center[2] - half, center[2] + half)
        ax.set_box_aspect((1, 1, 1), zoom=1.2)
        for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
            axis.set_major_locator(MaxNLocator(4))
        ax.set_xlabel("x (right)", labelpad=-8)
        ax.set_ylabel("z (depth)", labelpad=-8)
        ax.set_zlabel("-y (up)", labelpad=-8)
        ax.tick_params(labelsize=6, pad=-2)
        # A view straight along an axis makes that axis collapse: hide its label and ticks.
        if abs(elev) >= 89.0:
            ax.set_zlabel("")
            ax.set_zticklabels([])
        elif abs(elev) < 1.0 and abs(np.sin(np.deg2rad(azim))) < 1e-3:
            ax.set_ylabel("")
            ax.set_yticklabels([])
        elif abs(elev) < 1.0 and abs(np.cos(np.deg2rad(azim))) < 1e-3:
            ax.set_xlabel("")
            ax.set_xticklabels([])
        ax.set_title(title, fontsize=9)
        self.lines = [ax.plot([], [], [], color=c, lw=2.5, solid_capstyle="round")[0] for _, _, c in self.segments]
        self.joints = ax.plot([], [], [], "o", color="black", ms=2.5)[0]

    def update(self, pose: np.ndarray) -> None:
        p = _plot_coords(self.skeleton.with_root_point(pose))
        for line, (a, b, _) in zip(self.lines, self.segments):
            line.set_data_3d(p[[a, b], 0], p[[a, b], 1], p[[a, b], 2])
        self.joints.set_data_3d(p[:-1, 0], p[:-1, 1], p[:-1, 2])


class _Panel2D:
    """The 2D input in image coordinates (y down), missing joints left out."""

    def __init__(self, ax, skeleton: Skeleton, box: tuple[float, float, float, float]):
        self.ax = ax
        self.skeleton = skeleton
        self.segments = _segments(skeleton)
        x0, x1, y0, y1 = box
        ax.set_xlim(x0, x1)
        ax.set_ylim(y1, y0)  # image rows grow downwards
        ax.set_aspect("equal", adjustable="box")
        ax.set_title(f"2D input ({skeleton.name}, pixels)", fontsize=9)
        ax.tick_params(labelsize=6)
        self.lines = [ax.plot([], [], color=c, lw=2.0, solid_capstyle="round")[0] for _, _, c in self.segments]
        self.joints = ax.scatter([], [], s=8, c="black")

    def update(self, kp: np.ndarray) -> None:
        xy = kp[:, :2].copy()
        if kp.shape[1] == 3:
            xy[kp[:, 2] <= 0] = np.nan  # confidence 0: not detected
        p = self.skeleton.with_root_point(xy)
        for line, (a, b, _) in zip(self.lines, self.segments):
            line.set_data(p[[a, b], 0], p[[a, b], 1])
        self.joints.set_offsets(np.nan_to_num(xy[np.isfinite(xy).all(axis=1)]).reshape(-1, 2))


def _box_2d(keypoints: np.ndarray) -> tuple[float, float, float, float]:
    xy = keypoints[..., :2].reshape(-1, 2).copy()
    if keypoints.shape[-1] == 3:
        xy = xy[keypoints[..., 2].reshape(-1) > 0]
    xy = xy[np.isfinite(xy).all(axis=1)]
    if xy.size == 0:
        return 0.0, 1.0, 0.0, 1.0
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    half = 0.55 * float((hi - lo).max()) or 1.0
    c = (lo + hi) / 2.0
    return c[0] - half, c[0] + half, c[1] - half, c[1] + half


def _figure(n_panels_3d: int, with_2d: bool, dpi: float):
    require("matplotlib", "viz")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = n_panels_3d + int(with_2d)
    fig = Figure(figsize=(3.6 * n, 4.0), dpi=dpi)
    FigureCanvasAgg(fig)
    axes = []
    for i in range(n):
        if with_2d and i == 0:
            axes.append(fig.add_subplot(1, n, 1))
        else:
            axes.append(fig.add_subplot(1, n, i + 1, projection="3d"))
    fig.subplots_adjust(left=0.03, right=0.97, bottom=0.06, top=0.84, wspace=0.15)
    return fig, axes


def _legend(fig) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=LEFT_COLOR, lw=2.5), Line2D([], [], color=RIGHT_COLOR, lw=2.5)]
    fig.legend(handles, ["left", "right"], loc="upper right", fontsize=8, frameon=False, ncol=2)


# --------------------------------------------------------------------------- public API


def save_pose_plot(
    poses3d: Any,
    skeleton: str | Skeleton,
    path: str | os.PathLike,
    *,
    views: View | Sequence[View] = ("front", "side", "top"),
    frame: int = 0,
    title: str | None = None,
    keypoints2d: Any | None = None,
    skeleton2d: str | Skeleton | None = None,
    dpi: float = 100,
) -> Path:
    """Draw one 3D pose from one or several viewpoints and save it as an image (PNG, ...).

    Args:
        poses3d: ``(N, 3)`` pose or ``(*batch, N, 3)`` poses (numpy or torch) in camera
            coordinates (x right, y down, z forward), e.g. the output of ``Lifter.lift``.
        skeleton: the layout of ``poses3d`` (a name such as ``"h36m17"`` or a ``Skeleton``).
        path: output file; the suffix picks the format (``.png``, ``.pdf``, ``.svg``, ...).
        views: a view name (``"front"``, ``"side"``, ``"top"``, ``"oblique"``), an
            ``(elevation, azimuth)`` pair in degrees, or a sequence of those.
        frame: which pose of a batch to draw (index into the flattened batch).
        title: figure title.
        keypoints2d: optional 2D input ``(*batch, M, 2)`` or ``(*batch, M, 3)`` with
            confidence, drawn in a first panel in pixel coordinates (same ``frame``).
        skeleton2d: layout of ``keypoints2d`` when it differs from ``skeleton`` and cannot
            be told from its joint count.
        dpi: resolution.

    Returns:
        The path written.
    """
    if Path(path).suffix.lower() not in PLOT_SUFFIXES:
        raise OutputPathError(f"plot file {path} must end in {', '.join(PLOT_SUFFIXES)} (the suffix picks the image format)")
    skel = get_skeleton(skeleton)
    poses = _poses(poses3d, skel, "poses3d")
    if not -poses.shape[0] <= frame < poses.shape[0]:
        raise ShapeError(f"frame {frame} is out of range for {poses.shape[0]} pose(s)")
    pose = poses[frame]
    view_list = _views(views)
    kp = None
    if keypoints2d is not None:
        kp_arr = _to_numpy(keypoints2d)
        skel2d = _skeleton_2d(kp_arr, skel, skeleton2d)
        kp_all = _poses(kp_arr, skel2d, "keypoints2d", dims=(2, 3))
        if kp_all.shape[0] not in (1, poses.shape[0]):
            raise ShapeError(f"keypoints2d hold {kp_all.shape[0]} poses but poses3d hold {poses.shape[0]}")
        kp = kp_all[frame if kp_all.shape[0] > 1 else 0]

    fig, axes = _figure(len(view_list), kp is not None, dpi)
    if kp is not None:
        panel = _Panel2D(axes[0], skel2d, _box_2d(kp))
        panel.update(kp)
        axes = axes[1:]
    center, half = _cube(_plot_coords(skel.with_root_point(pose)))
    for ax, (name, angles) in zip(axes, view_list):
        _Panel3D(ax, skel, name, angles, center, half).update(pose)
    _legend(fig)
    if title:
        fig.suptitle(title, fontsize=11)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi)
    logger.info("wrote pose plot %s", path)
    return path


def save_pose_animation(
    poses3d: Any,
    skeleton: str | Skeleton,
    path: str | os.PathLike,
    *,
    fps: float = 15.0,
    views: View | Sequence[View] = ("front", "side"),
    title: str | None = None,
    keypoints2d: Any | None = None,
    skeleton2d: str | Skeleton | None = None,
    dpi: float = 80,
) -> Path:
    """Animate a sequence of 3D poses and save it as ``.gif`` (Pillow) or ``.mp4`` (ffmpeg).

    Args:
        poses3d: ``(T, N, 3)`` poses in camera coordinates, one per frame.
        skeleton: layout of ``poses3d``.
        path: output file ending in ``.gif`` or ``.mp4`` (MP4 needs the ``ffmpeg``
            program on ``PATH``).
        fps: frames per second of the animation.
        views: viewpoints as in :func:`save_pose_plot`.
        title: title shown above the frame counter.
        keypoints2d: optional ``(T, M, 2|3)`` 2D input shown beside the 3D views.
        skeleton2d: layout of ``keypoints2d`` when it cannot be told from its joint count.
        dpi: resolution (the figure is 3.6 x 4 inches per panel).

    Returns:
        The path written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise OutputPathError(f"animation path must end in .gif or .mp4; got {str(path)!r}")
    if suffix == ".mp4" and shutil.which("ffmpeg") is None:
        raise ExportError(
            "writing .mp4 needs the ffmpeg program, which is not on PATH. "
            "Install ffmpeg (e.g. `apt install ffmpeg` or `conda install ffmpeg`) or save a .gif instead."
        )
    if not fps > 0:
        raise InvalidArgumentError(f"fps must be positive; got {fps}")
    skel = get_skeleton(skeleton)
    seq = _to_numpy(poses3d)
    if seq.ndim != 3:
        raise ShapeError(f"poses3d must have shape (frames, {skel.num_joints}, 3) for an animation; got {seq.shape}")
    seq = _poses(seq, skel, "poses3d")
    view_list = _views(views)
    kp = None
    if keypoints2d is not None:
        kp_arr = _to_numpy(keypoints2d)
        skel2d = _skeleton_2d(kp_arr, skel, skeleton2d)
        if kp_arr.ndim != 3 or kp_arr.shape[0] != seq.shape[0]:
            raise ShapeError(
                f"keypoints2d must have shape ({seq.shape[0]}, M, 2 or 3) to match poses3d {seq.shape}; got {kp_arr.shape}"
            )
        kp = _poses(kp_arr, skel2d, "keypoints2d", dims=(2, 3))

    animation = require("matplotlib.animation", "viz")
    fig, axes = _figure(len(view_list), kp is not None, dpi)
    panel2d = None
    if kp is not None:
        panel2d = _Panel2D(axes[0], skel2d, _box_2d(kp))
        axes = axes[1:]
    # One cube for the whole sequence, centred on the root-relative motion.
    center, half = _cube(_plot_coords(np.concatenate([skel.with_root_point(p) for p in seq])))
    panels = [_Panel3D(ax, skel, name, angles, center, half) for ax, (name, angles) in zip(axes, view_list)]
    _legend(fig)
    heading = fig.suptitle("", fontsize=11)

    if suffix == ".gif":
        writer = animation.PillowWriter(fps=fps)
    else:
        writer = animation.FFMpegWriter(fps=fps)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, writer.saving(fig, str(tmp), dpi):
        for t in range(seq.shape[0]):
            for panel in panels:
                panel.update(seq[t])
            if panel2d is not None:
                panel2d.update(kp[t])
            heading.set_text(f"{title + '  ' if title else ''}frame {t + 1}/{seq.shape[0]}")
            writer.grab_frame()
    logger.info("wrote pose animation %s (%d frames)", path, seq.shape[0])
    return path
