"""Plots of lifted poses: a figure of views of one pose (:func:`save_pose_plot`, PNG, PDF,
SVG, ...) and an animation of a sequence (:func:`save_pose_animation`, GIF or MP4).

Needs matplotlib (``pip install ".[viz]"``), drawing on its Agg canvas directly (no pyplot,
no window), so it works on headless machines. matplotlib paints the scene of
:mod:`~poselift.export.render.scene` (projected bones, joints, ground grid) in flat panels
with metre ticks where a screen axis is a camera axis; it is kept for plots because they
are saved as vector files too and carry titles, axes and a legend. The animation's frames
are the figure's pixels, written by :func:`~poselift.export.render.animation.write_frames`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..._args import check_fps
from ..._arrays import to_numpy
from ..._files import atomic_path
from ...errors import OutputPathError, ShapeError, require
from ...skeleton import Skeleton, get_skeleton, guess_layouts
from .animation import check_animation_path, write_frames
from .scene import (
    COLOURS, GRID_COLOUR, JOINT_COLOUR, PAPER, Drawing, Framing, View, ViewSpec, draw_keypoints, draw_pose,
    ground_lines, keypoint_box, parse_views, to_y_up,
)  # fmt: skip

__all__ = ["save_pose_plot", "save_pose_animation", "PLOT_SUFFIXES"]

logger = logging.getLogger(__name__)

#: Image formats :func:`save_pose_plot` writes (matplotlib's, picked by the file suffix).
PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".tif", ".tiff", ".webp")


# --------------------------------------------------------------------------- inputs


def _poses(a: Any, skeleton: Skeleton, name: str, dims: tuple[int, ...] = (3,)) -> np.ndarray:
    """``(..., N, D)`` -> ``(B, N, D)`` float64 with the shape checked against the layout."""
    arr = to_numpy(a).astype(np.float64)
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


def _present(kp: np.ndarray) -> np.ndarray | None:
    """Which keypoints were detected: confidence above 0 where ``kp`` carries it."""
    return kp[..., 2] > 0 if kp.shape[-1] == 3 else None


# --------------------------------------------------------------------------- painting


def _rgb(colour: tuple[int, int, int]) -> tuple[float, ...]:
    return tuple(c / 255.0 for c in colour)


class _Panel:
    """One panel of the figure painting a :class:`~poselift.export.render.scene.Drawing`,
    updated frame by frame."""

    def __init__(self, ax, title: str, box: tuple[float, float, float, float], joint_size: float):
        from matplotlib.collections import LineCollection

        self.ax = ax
        x0, x1, y0, y1 = box
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_aspect("equal", adjustable="box")
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=6)
        self.bones = ax.add_collection(LineCollection([], linewidths=2.5, capstyle="round", zorder=3))
        self.joints = ax.plot([], [], "o", color=_rgb(JOINT_COLOUR), ms=joint_size, zorder=4)[0]

    def show(self, drawing: Drawing) -> None:
        self.bones.set_segments(list(drawing.lines))
        self.bones.set_color([_rgb(c) for c in drawing.colours])
        self.joints.set_data(drawing.joints[:, 0], drawing.joints[:, 1])


class _ViewPanel(_Panel):
    """A 3D pose seen from one view: flat, with the ground grid and the camera axes it shows."""

    def __init__(self, ax, skeleton: Skeleton, title: str, view: View):
        from matplotlib.collections import LineCollection
        from matplotlib.ticker import MaxNLocator

        super().__init__(ax, title, view.window, joint_size=2.5)
        self.skeleton, self.view = skeleton, view
        ax.set_facecolor(_rgb(PAPER))
        ax.add_collection(LineCollection(list(ground_lines(view)), colors=[_rgb(GRID_COLOUR)], linewidths=0.8, zorder=1))
        xlabel, ylabel = view.axis_labels()
        for label, axis, set_label in ((xlabel, ax.xaxis, ax.set_xlabel), (ylabel, ax.yaxis, ax.set_ylabel)):
            if label is None:  # a screen axis that is no camera axis: its numbers would mean nothing
                axis.set_ticks([])
            else:
                axis.set_major_locator(MaxNLocator(4))
                set_label(label, fontsize=8, labelpad=1)

    def update(self, pose_yup: np.ndarray) -> None:
        self.show(draw_pose(pose_yup, self.skeleton, self.view))


class _KeypointPanel(_Panel):
    """The 2D input in image coordinates (y down), missing joints left out."""

    def __init__(self, ax, skeleton: Skeleton, keypoints: np.ndarray):
        x0, x1, y0, y1 = keypoint_box(keypoints, _present(keypoints))
        super().__init__(ax, f"2D input ({skeleton.name}, pixels)", (x0, x1, y1, y0), joint_size=2.0)  # rows grow downwards
        self.skeleton = skeleton

    def update(self, kp: np.ndarray) -> None:
        self.show(draw_keypoints(kp, self.skeleton, _present(kp)))


def _figure(n_panels: int, dpi: float):
    require("matplotlib", "viz")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(3.6 * n_panels, 4.0), dpi=dpi)
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, n_panels, i + 1) for i in range(n_panels)]
    fig.subplots_adjust(left=0.04, right=0.98, bottom=0.1, top=0.84, wspace=0.25)
    handles = [Line2D([], [], color=_rgb(COLOURS[side]), lw=2.5) for side in ("left", "right")]
    fig.legend(handles, ["left", "right"], loc="upper right", fontsize=8, frameon=False, ncol=2)
    return fig, axes


def _panels(fig_axes, skel: Skeleton, views, framing: Framing, kp: np.ndarray | None, skel2d: Skeleton | None):
    """The figure's panels: the 2D input ``kp`` (``(..., M, 2|3)``, framed to hold all of it)
    first when given, then one per view."""
    axes = list(fig_axes)
    panels: list[_Panel] = []
    if kp is not None:
        panels.append(_KeypointPanel(axes.pop(0), skel2d, kp))
    panels += [_ViewPanel(ax, skel, title, View(*angles, framing)) for ax, (title, angles) in zip(axes, views)]
    return panels


def _keypoints(keypoints2d: Any, skel: Skeleton, skeleton2d: str | Skeleton | None) -> tuple[np.ndarray, Skeleton]:
    """The 2D input as float64 and its layout."""
    kp_arr = to_numpy(keypoints2d).astype(np.float64)
    skel2d = _skeleton_2d(kp_arr, skel, skeleton2d)
    return kp_arr, skel2d


# --------------------------------------------------------------------------- public API


def save_pose_plot(
    poses3d: Any,
    skeleton: str | Skeleton,
    path: str | os.PathLike,
    *,
    views: ViewSpec | Sequence[ViewSpec] = ("front", "side", "top"),
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
    pose = to_y_up(poses[frame])
    views_ = parse_views(views)
    kp, skel2d = None, None
    if keypoints2d is not None:
        kp_arr, skel2d = _keypoints(keypoints2d, skel, skeleton2d)
        kp_all = _poses(kp_arr, skel2d, "keypoints2d", dims=(2, 3))
        if kp_all.shape[0] not in (1, poses.shape[0]):
            raise ShapeError(f"keypoints2d hold {kp_all.shape[0]} poses but poses3d hold {poses.shape[0]}")
        kp = kp_all[frame if kp_all.shape[0] > 1 else 0]

    fig, axes = _figure(len(views_) + (kp is not None), dpi)
    for panel in _panels(axes, skel, views_, Framing.around(skel.with_root_point(pose)), kp, skel2d):
        panel.update(kp if isinstance(panel, _KeypointPanel) else pose)
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
    views: ViewSpec | Sequence[ViewSpec] = ("front", "side"),
    title: str | None = None,
    keypoints2d: Any | None = None,
    skeleton2d: str | Skeleton | None = None,
    dpi: float = 80,
) -> Path:
    """Animate a sequence of 3D poses and save it as ``.gif`` (Pillow) or ``.mp4``.

    Args:
        poses3d: ``(T, N, 3)`` poses in camera coordinates, one per frame.
        skeleton: layout of ``poses3d``.
        path: output file ending in ``.gif`` or ``.mp4`` (MP4 needs OpenCV,
            ``pip install ".[video]"``, or the ``ffmpeg`` program on ``PATH``).
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
    check_animation_path(path)
    fps = check_fps(fps)
    skel = get_skeleton(skeleton)
    seq = to_numpy(poses3d)
    if seq.ndim != 3:
        raise ShapeError(f"poses3d must have shape (frames, {skel.num_joints}, 3) for an animation; got {seq.shape}")
    seq = to_y_up(_poses(seq, skel, "poses3d"))
    views_ = parse_views(views)
    kp, skel2d = None, None
    if keypoints2d is not None:
        kp_arr, skel2d = _keypoints(keypoints2d, skel, skeleton2d)
        if kp_arr.ndim != 3 or kp_arr.shape[0] != seq.shape[0]:
            raise ShapeError(
                f"keypoints2d must have shape ({seq.shape[0]}, M, 2 or 3) to match poses3d {seq.shape}; got {kp_arr.shape}"
            )
        kp = _poses(kp_arr, skel2d, "keypoints2d", dims=(2, 3))

    fig, axes = _figure(len(views_) + (kp is not None), dpi)
    framing = Framing.around(skel.with_root_point(seq))  # one cube for the whole sequence
    panels = _panels(axes, skel, views_, framing, kp, skel2d)  # the 2D panel framed for every frame
    heading = fig.suptitle("", fontsize=11)

    def pictures() -> Iterator[np.ndarray]:
        for t in range(seq.shape[0]):
            for panel in panels:
                panel.update(kp[t] if isinstance(panel, _KeypointPanel) else seq[t])
            heading.set_text(f"{title + '  ' if title else ''}frame {t + 1}/{seq.shape[0]}")
            fig.canvas.draw()
            yield np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()

    path.parent.mkdir(parents=True, exist_ok=True)
    write_frames(pictures(), path, fps=fps)
    logger.info("wrote pose animation %s (%d frames)", path, seq.shape[0])
    return path
