"""What a picture of a pose shows, and from where: numpy only, no drawing library.

Every picture poselift makes is built here and only painted by a backend (matplotlib for
:func:`~poselift.viz.save_pose_plot`, OpenCV for ``poselift video``):

- **what to draw**: the bones as line segments coloured by the side of the body
  (:func:`segments`, :data:`COLOURS`), the joints, and the 2D keypoints of an image
  (:func:`draw_keypoints`), gathered in a :class:`Drawing`;
- **how a 3D pose is viewed**: poses are turned y-up (:func:`to_y_up`), framed by a cube
  (:class:`Framing`) standing on a ground grid (:func:`ground_lines`) and projected
  orthographically from an elevation and an azimuth (:class:`View`, :func:`draw_pose`).

Views are named from the camera's point of view (``"front"`` is as the camera sees it):
``(0, 0)`` looks from the camera, a positive azimuth moves the viewpoint to the camera's
right, a positive elevation looks from above. A view's 2D coordinates are metres along the
screen (x right, y up); where a screen axis is a camera axis (the front, side and top
views) they are that axis's coordinates (:meth:`View.axis_labels`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

import numpy as np

from ...errors import InvalidArgumentError
from ...skeleton import Skeleton

__all__ = [
    "Rgb", "COLOURS", "JOINT_COLOUR", "PAPER", "GRID_COLOUR", "VIEWS", "ViewSpec", "parse_views", "segments",
    "to_y_up", "Framing", "View", "Drawing", "draw_pose", "draw_keypoints", "ground_lines", "keypoint_box",
]  # fmt: skip

Rgb = tuple[int, int, int]
ViewSpec = Union[str, tuple[float, float]]

#: Line colours by side of the body (RGB, 0-255): the person's left, right, and the middle.
COLOURS: dict[str, Rgb] = {"left": (40, 140, 255), "right": (230, 40, 40), "middle": (60, 200, 60)}
#: Joints on a light panel; over a photo they are white.
JOINT_COLOUR: Rgb = (30, 30, 30)
#: Background of a 3D view, and its ground grid.
PAPER: Rgb = (245, 245, 245)
GRID_COLOUR: Rgb = (205, 205, 205)

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


def parse_views(views: ViewSpec | Sequence[ViewSpec]) -> list[tuple[str, tuple[float, float]]]:
    """``views`` (a name, an ``(elevation, azimuth)`` pair, or a sequence of those) as
    ``[(title, (elevation, azimuth)), ...]``."""
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


def segments(skeleton: Skeleton) -> list[tuple[int, int, str]]:
    """``(a, b, side)`` per bone line, ``side`` a key of :data:`COLOURS`; ``a == -1`` stands
    for the root point that :meth:`Skeleton.with_root_point` appends."""
    left = {l for l, _ in skeleton.pairs}
    right = {r for _, r in skeleton.pairs}
    n = skeleton.num_joints
    return [
        (-1 if parent == n else parent, child, "left" if child in left else "right" if child in right else "middle")
        for parent, child in sorted(skeleton.bone_tree, key=lambda bone: bone[1])  # drawn in joint order
    ]


def to_y_up(points: np.ndarray) -> np.ndarray:
    """Camera-frame points (x right, y down, z away from the camera) in the y-up frame of
    :func:`poselift.camera.align_to_world` (x right, y up, z towards the camera)."""
    return np.asarray(points, dtype=np.float64) * np.array([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class Framing:
    """The cube a 3D view shows (y-up coordinates): its ``centre``, half its side, and the
    height of the ground its grid lies on."""

    centre: np.ndarray
    half: float
    ground: float

    @classmethod
    def around(cls, points: np.ndarray) -> Framing:
        """The cube holding every finite point of ``(..., 3)`` y-up ``points`` with a margin,
        on the ground under the lowest one."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        p = p[np.isfinite(p).all(axis=1)]
        if p.size == 0:
            return cls(np.zeros(3), 1.0, 0.0)
        lo, hi = p.min(axis=0), p.max(axis=0)
        half = 0.55 * float((hi - lo).max())
        return cls((lo + hi) / 2.0, half if half > 0 else 1.0, float(lo[1]))


@dataclass(frozen=True)
class View:
    """An orthographic view of y-up points from ``elevation`` and ``azimuth`` (degrees, see
    the module notes) showing ``framing``'s cube."""

    elevation: float
    azimuth: float
    framing: Framing

    @property
    def rotation(self) -> np.ndarray:
        """``(3, 3)``: rows are the screen's right, up and towards-the-viewer directions."""
        e, a = math.radians(self.elevation), math.radians(self.azimuth)
        turn = np.array([[math.cos(a), 0.0, -math.sin(a)], [0.0, 1.0, 0.0], [math.sin(a), 0.0, math.cos(a)]])
        tilt = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(e), -math.sin(e)], [0.0, math.sin(e), math.cos(e)]])
        return tilt @ turn

    def project(self, points: np.ndarray) -> np.ndarray:
        """``(..., 3)`` y-up points -> ``(..., 3)``: screen x, screen y (up), depth towards the viewer."""
        return np.asarray(points, dtype=np.float64) @ self.rotation.T

    @property
    def window(self) -> tuple[float, float, float, float]:
        """``(x0, x1, y0, y1)``: the screen rectangle the view shows, around the framing's centre."""
        cx, cy, _ = self.project(self.framing.centre)
        h = self.framing.half
        return cx - h, cx + h, cy - h, cy + h

    def pixels(self, points: np.ndarray, size: int) -> np.ndarray:
        """``(..., 2)`` screen points (from :meth:`project`) -> pixels of a ``size`` square image (y down)."""
        x0, _, _, y1 = self.window
        scale = size / (2.0 * self.framing.half)
        p = np.asarray(points, dtype=np.float64)
        return np.stack([(p[..., 0] - x0) * scale, (y1 - p[..., 1]) * scale], axis=-1)

    def axis_labels(self) -> tuple[str | None, str | None]:
        """Names of the screen's x and y axes where each is a camera axis, else ``None``."""
        names = {0: ("x (right)", "-x (left)"), 1: ("y (down)", "-y (up)"), 2: ("z (depth)", "-z (towards the camera)")}
        camera_axes = to_y_up(np.eye(3))  # the camera's axes in y-up coordinates
        labels: list[str | None] = []
        for row in self.rotation[:2]:
            along = camera_axes @ row
            k = int(np.argmax(np.abs(along)))
            labels.append(names[k][0 if along[k] > 0 else 1] if abs(along[k]) > 1.0 - 1e-6 else None)
        return labels[0], labels[1]


@dataclass(frozen=True)
class Drawing:
    """What one panel shows, in its 2D coordinates: bone ``lines`` ``(K, 2, 2)`` drawn in
    order (the farthest first) in ``colours`` (RGB), and ``joints`` ``(J, 2)``."""

    lines: np.ndarray
    colours: list[Rgb]
    joints: np.ndarray


def _lines(shown: np.ndarray, skeleton: Skeleton) -> tuple[list[tuple[int, int]], list[Rgb]]:
    """The bones between shown points (``shown`` has the root point appended) and their colours."""
    pairs, colours = [], []
    for a, b, side in segments(skeleton):
        if shown[a] and shown[b]:
            pairs.append((a, b))
            colours.append(COLOURS[side])
    return pairs, colours


def draw_pose(pose: np.ndarray, skeleton: Skeleton, view: View) -> Drawing:
    """A ``(N, 3)`` y-up pose seen from ``view``; joints that are not finite are left out."""
    p = view.project(skeleton.with_root_point(np.asarray(pose, dtype=np.float64)))
    shown = np.isfinite(p).all(axis=1)
    pairs, colours = _lines(shown, skeleton)
    order = np.argsort([p[a, 2] + p[b, 2] for a, b in pairs], kind="stable")  # far from the viewer first
    lines = np.array([[p[pairs[k][0], :2], p[pairs[k][1], :2]] for k in order]).reshape(-1, 2, 2)
    return Drawing(lines, [colours[k] for k in order], p[:-1][shown[:-1], :2])


def draw_keypoints(keypoints: np.ndarray, skeleton: Skeleton, present: np.ndarray | None = None) -> Drawing:
    """``(N, 2)`` image keypoints (pixels, y down) as a drawing; a joint that is not finite,
    or not ``present``, is left out with its bones (the root point needs all root joints)."""
    xy = np.asarray(keypoints, dtype=np.float64)[:, :2]
    shown = np.isfinite(xy).all(axis=1)
    if present is not None:
        shown &= np.asarray(present, dtype=bool)
    shown = np.append(shown, shown[list(skeleton.root)].all())
    p = skeleton.with_root_point(xy)
    pairs, colours = _lines(shown, skeleton)
    lines = np.array([[p[a], p[b]] for a, b in pairs]).reshape(-1, 2, 2)
    return Drawing(lines, colours, p[:-1][shown[:-1]])


def _grid_step(half: float) -> float:
    """A round grid spacing (1, 2 or 5 times a power of ten) of about ``half / 2.5``."""
    target = half / 2.5
    base = 10.0 ** math.floor(math.log10(target))
    return min((k * base for k in (1.0, 2.0, 5.0, 10.0)), key=lambda s: abs(math.log(s / target)))


def ground_lines(view: View) -> np.ndarray:
    """``(G, 2, 2)``: the ground grid under ``view``'s framing on screen, lines at round
    multiples of a spacing that suits the cube (0.5 m for a person), fixed in the world so a
    moving person passes over them."""
    f = view.framing
    step = _grid_step(f.half)
    lo = np.floor((f.centre[[0, 2]] - f.half) / step) * step
    hi = np.ceil((f.centre[[0, 2]] + f.half) / step) * step
    lines = []
    for x in np.arange(lo[0], hi[0] + step / 2, step):
        lines.append([[x, f.ground, lo[1]], [x, f.ground, hi[1]]])
    for z in np.arange(lo[1], hi[1] + step / 2, step):
        lines.append([[lo[0], f.ground, z], [hi[0], f.ground, z]])
    return view.project(np.array(lines))[..., :2]


def keypoint_box(keypoints: np.ndarray, present: np.ndarray | None = None) -> tuple[float, float, float, float]:
    """``(x0, x1, y0, y1)``: a square around the shown ``(..., N, 2)`` image keypoints with a margin."""
    xy = np.asarray(keypoints, dtype=np.float64)[..., :2].reshape(-1, 2)
    if present is not None:
        xy = xy[np.asarray(present, dtype=bool).reshape(-1)]
    xy = xy[np.isfinite(xy).all(axis=1)]
    if xy.size == 0:
        return 0.0, 1.0, 0.0, 1.0
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    half = 0.55 * float((hi - lo).max()) or 1.0
    c = (lo + hi) / 2.0
    return c[0] - half, c[0] + half, c[1] - half, c[1] + half
