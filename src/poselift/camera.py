"""Camera-space poses: place root-relative 3D poses where the camera saw them.

A lifter returns each pose root-relative, in metres scaled to an assumed body height.
Given the camera intrinsics (:class:`Camera`) and the 2D keypoints the pose was lifted
from, the root translation ``T`` that best re-projects the pose solves a linear
least-squares problem: for every joint ``i`` with 3D position ``P_i`` (root-relative,
camera axes) and pixel ``u_i``,

    ``fx (P_ix + T_x) - (u_ix - cx) (P_iz + T_z) = 0``
    ``fy (P_iy + T_y) - (u_iy - cy) (P_iz + T_z) = 0``

weighted by the joint's confidence. What this can and cannot know: the distance to the
camera comes out in proportion to the assumed body height (a child lifted at 1.70 m
appears too far away), and a wrong focal length scales depth the same way; the direction
of the person from the camera, and how they move relative to their own size, are what
the 2D keypoints really carry.

:func:`align_to_world` turns camera-space sequences into a world frame with y up and the
ground at ``y = 0``, the ground plane estimated from the lowest foot of each frame.

Numpy only: this module works without torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Mapping

import numpy as np

from .errors import CameraError, InvalidArgumentError, KeypointValueError, ShapeError, SkeletonError
from .liftability import CHUNK_ROWS
from .skeleton import Skeleton, get_skeleton

__all__ = [
    "place_rows",
    "parse_camera",
    "Camera",
    "CameraError",
    "CAMERA_MODELS",
    "DEFAULT_FOV_DEG",
    "as_camera",
    "solve_translation",
    "to_camera_space",
    "WorldFrame",
    "estimate_world_frame",
    "align_to_world",
]

#: Camera models poselift can place poses with.
CAMERA_MODELS = ("pinhole",)

#: Field of view across the longer image side assumed when the focal length is unknown:
#: ``f = max(width, height)``, i.e. ``2 atan(1/2)`` = 53.13 degrees (a typical phone or
#: webcam main camera in its native orientation).
DEFAULT_FOV_DEG = math.degrees(2.0 * math.atan(0.5))

#: Focal lengths (pixels) a camera may have: below, the keypoints' pixels would span most of a
#: half-space (a focal length in millimetres lands here); above, no lens magnifies so much.
FOCAL_RANGE_PX = (1.0, 1e6)
#: Largest principal point coordinate (pixels) accepted without an image size.
MAX_PRINCIPAL_PX = 1e6
#: Fields of view across the longer image side a pinhole camera can have (degrees).
FOV_RANGE_DEG = (0.5, 170.0)

_MM_HINT = (
    "Focal lengths are in pixels: from millimetres, f_px = f_mm * image_width_px / sensor_width_mm "
    "(e.g. 4.2 mm on a 6.2 mm-wide sensor at 4000 px: 2710 px)."
)


@dataclass(frozen=True)
class Camera:
    """Pinhole intrinsics in pixels.

    Attributes:
        fx, fy: focal lengths in pixels.
        cx, cy: principal point in pixels.
        width, height: image size in pixels (optional; kept for the record).
        model: camera model; only ``"pinhole"`` (no lens distortion) is supported.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int | None = None
    height: int | None = None
    model: str = "pinhole"

    def __post_init__(self) -> None:
        if self.model not in CAMERA_MODELS:
            raise CameraError(
                f"unknown camera model {self.model!r}; poselift supports {list(CAMERA_MODELS)}. "
                "Undistort the keypoints first and pass pinhole intrinsics."
            )
        for name in ("fx", "fy", "cx", "cy"):
            value = getattr(self, name)
            if not isinstance(value, (int, float, np.floating, np.integer)) or not math.isfinite(float(value)):
                raise CameraError(f"camera {name} must be a finite number; got {value!r}.")
        if self.fx <= 0 or self.fy <= 0:
            raise CameraError(f"camera focal lengths must be positive; got fx={self.fx}, fy={self.fy}.")
        lo, hi = FOCAL_RANGE_PX
        if not (lo <= self.fx <= hi and lo <= self.fy <= hi):
            raise CameraError(
                f"camera focal lengths must lie between {lo:g} and {hi:g} pixels; got fx={self.fx:g}, fy={self.fy:g}. {_MM_HINT}"
            )
        if not 0.2 <= self.fx / self.fy <= 5.0:
            raise CameraError(f"camera fx / fy is {self.fx / self.fy:g}: no camera's pixels are so far from square (fx={self.fx:g}, fy={self.fy:g}).")
        if max(abs(self.cx), abs(self.cy)) > MAX_PRINCIPAL_PX:
            raise CameraError(f"camera principal point ({self.cx:g}, {self.cy:g}) lies more than {MAX_PRINCIPAL_PX:g} pixels from the image corner.")
        for name in ("width", "height"):
            value = getattr(self, name)
            if value is not None and not _whole_positive(value):
                raise CameraError(f"camera image {name} must be a whole number of pixels above 0; got {value!r}.")
        if self.width is not None and self.height is not None:
            self.check_image(int(self.width), int(self.height))

    def check_image(self, width: int, height: int) -> None:
        """Raise :class:`CameraError` unless these intrinsics fit an image of ``width`` x ``height``
        pixels: a field of view across the longer side within :data:`FOV_RANGE_DEG`, and the
        principal point no further outside the image than its own size."""
        long_side, f = (width, self.fx) if width >= height else (height, self.fy)
        fov = math.degrees(2.0 * math.atan(0.5 * long_side / f))
        lo, hi = FOV_RANGE_DEG
        if not lo <= fov <= hi:
            raise CameraError(
                f"camera f={f:g} px gives a field of view of {fov:.3g} degrees across the {long_side}-pixel side "
                f"of a {width} x {height} image; a pinhole camera has {lo:g} to {hi:g}. {_MM_HINT}"
            )
        if not (-width <= self.cx <= 2 * width and -height <= self.cy <= 2 * height):
            raise CameraError(
                f"camera principal point ({self.cx:g}, {self.cy:g}) lies far outside the {width} x {height} image; "
                "it is usually near the image centre."
            )

    @classmethod
    def from_image_size(cls, width: int, height: int, *, fov_deg: float | None = None) -> "Camera":
        """Intrinsics for an image of ``width`` x ``height`` pixels when the lens is unknown.

        The principal point is the image centre. The focal length is ``max(width, height)``
        (a field of view of :data:`DEFAULT_FOV_DEG`, 53.1 degrees, across the longer side),
        or the one that gives ``fov_deg`` across the longer side.
        """
        if not (_whole_positive(width) and _whole_positive(height)):
            raise CameraError(f"image size must be positive whole numbers of pixels; got {width!r} x {height!r}.")
        long_side = float(max(width, height))
        if fov_deg is None:
            f = long_side
        else:
            if not 0.0 < float(fov_deg) < 180.0:
                raise CameraError(f"fov_deg must lie between 0 and 180 degrees; got {fov_deg}.")
            f = 0.5 * long_side / math.tan(math.radians(float(fov_deg)) / 2.0)
        return cls(fx=f, fy=f, cx=width / 2.0, cy=height / 2.0, width=int(width), height=int(height))

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> "Camera":
        """A camera from ``{"fx", "fy", "cx", "cy"}`` (or ``"f"`` for both focal lengths), optional
        ``"width"``, ``"height"``, ``"model"``; or only ``{"width", "height"}`` (and ``"fov_deg"``)."""
        known = {"f", "fx", "fy", "cx", "cy", "width", "height", "model", "fov_deg"}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise CameraError(f"unknown camera keys {unknown}; expected some of {sorted(known)}.")
        model = spec.get("model", "pinhole")
        if model not in CAMERA_MODELS:
            raise CameraError(
                f"unknown camera model {model!r}; poselift supports {list(CAMERA_MODELS)}. "
                "Undistort the keypoints first and pass pinhole intrinsics."
            )
        if not any(k in spec for k in ("f", "fx", "fy")):
            if "width" in spec and "height" in spec:
                return cls.from_image_size(spec["width"], spec["height"], fov_deg=spec.get("fov_deg"))
            raise CameraError("a camera needs a focal length (f, or fx and fy) and cx, cy, or an image width and height.")
        try:
            fx = float(spec.get("fx", spec.get("f")))
            fy = float(spec.get("fy", spec.get("f", fx)))
            cx, cy = float(spec["cx"]), float(spec["cy"])
        except KeyError as e:
            raise CameraError(f"camera is missing {e.args[0]!r}; give fx, fy (or f), cx and cy.") from None
        except (TypeError, ValueError):
            raise CameraError(f"camera values must be numbers; got {dict(spec)}.") from None
        return cls(fx=fx, fy=fy, cx=cx, cy=cy, width=spec.get("width"), height=spec.get("height"), model=model)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict that :meth:`from_dict` reads back."""
        out: dict[str, Any] = {"model": self.model, "fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy}
        if self.width is not None:
            out["width"], out["height"] = int(self.width), int(self.height or 0)
        return out

    def project(self, points: np.ndarray) -> np.ndarray:
        """``(..., 3)`` camera-space points -> ``(..., 2)`` pixels."""
        p = np.asarray(points, dtype=np.float64)
        z = p[..., 2]
        return np.stack([self.fx * p[..., 0] / z + self.cx, self.fy * p[..., 1] / z + self.cy], axis=-1)


def _whole_positive(value: Any) -> bool:
    """A whole number above 0 (an int, or a float without a fraction; not bool, NaN or a string)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    return math.isfinite(float(value)) and float(value) > 0 and float(value).is_integer()


def as_camera(camera: "Camera | Mapping[str, Any] | tuple[int, int]") -> Camera:
    """A :class:`Camera` from a camera, a dict (:meth:`Camera.from_dict`) or an image size ``(width, height)``."""
    if isinstance(camera, Camera):
        return camera
    if isinstance(camera, Mapping):
        return Camera.from_dict(camera)
    if isinstance(camera, (tuple, list)) and len(camera) == 2:
        return Camera.from_image_size(*camera)
    raise CameraError(
        f"camera must be a poselift.camera.Camera, a dict of intrinsics or an image size (width, height); got {camera!r}."
    )


def solve_translation(
    poses3d: np.ndarray,
    keypoints: np.ndarray,
    camera: Camera,
    confidence: np.ndarray | None = None,
    *,
    min_depth: float = 0.1,
) -> np.ndarray:
    """Root translation of each pose by confidence-weighted linear least squares.

    Args:
        poses3d: ``(*batch, N, 3)`` root-relative poses, camera axes (x right, y down, z away).
        keypoints: ``(*batch, N, 2)`` pixels the poses were lifted from (same joint layout).
        camera: intrinsics of the image.
        confidence: optional ``(*batch, N)`` weights (0: the joint does not count).
        min_depth: a root closer than this (metres), or behind the camera, means the
            keypoints or the intrinsics cannot be right (a focal length in millimetres
            puts the person a few centimetres away): such a pose gets NaN.

    Returns:
        ``(*batch, 3)`` translations ``T``; ``poses3d + T[..., None, :]`` is in the camera
        frame. NaN for poses with NaN coordinates, fewer than two weighted joints,
        keypoints that fix no translation (all at one pixel), or a depth below ``min_depth``.
    """
    P = np.asarray(poses3d, dtype=np.float64)
    u = np.asarray(keypoints, dtype=np.float64)
    if P.ndim < 2 or P.shape[-1] != 3 or u.shape != P.shape[:-1] + (2,):
        raise ShapeError(f"poses3d (..., N, 3) and keypoints (..., N, 2) must match; got {P.shape} and {u.shape}.")
    w = np.ones(P.shape[:-1]) if confidence is None else np.asarray(confidence, dtype=np.float64)
    if w.shape != P.shape[:-1]:
        raise ShapeError(f"confidence must have shape {P.shape[:-1]}; got {w.shape}.")
    w = np.where(np.isfinite(w) & (w > 0), w, 0.0)
    ok = np.isfinite(P).all(axis=-1) & np.isfinite(u).all(axis=-1) & (w > 0)
    w = np.where(ok, w, 0.0)
    w = w / np.maximum(w.max(axis=-1, keepdims=True, initial=0.0), 1e-300)  # only relative weights count (3e38 too)
    P = np.where(ok[..., None], P, 0.0)
    u = np.where(ok[..., None], u, 0.0)

    a = u[..., 0] - camera.cx  # (*batch, N)
    b = u[..., 1] - camera.cy
    # rows x: [fx, 0, -a] . T = a Pz - fx Px ; rows y: [0, fy, -b] . T = b Pz - fy Py
    rx = np.stack([np.full_like(a, camera.fx), np.zeros_like(a), -a], axis=-1)
    ry = np.stack([np.zeros_like(b), np.full_like(b, camera.fy), -b], axis=-1)
    A = np.concatenate([rx, ry], axis=-2)  # (*batch, 2N, 3)
    y = np.concatenate([a * P[..., 2] - camera.fx * P[..., 0], b * P[..., 2] - camera.fy * P[..., 1]], axis=-1)
    ww = np.concatenate([w, w], axis=-1)
    AtA = np.einsum("...ki,...k,...kj->...ij", A, ww, A)
    Aty = np.einsum("...ki,...k,...k->...i", A, ww, y)
    # solve for T scaled by the columns' norms: well conditioned for any focal length and offset
    d = np.sqrt(np.maximum(np.diagonal(AtA, axis1=-2, axis2=-1), 1e-300))  # (*batch, 3)
    AtA = AtA / (d[..., :, None] * d[..., None, :])
    with np.errstate(all="ignore"):
        well_posed = np.abs(np.linalg.det(AtA)) > 1e-12  # e.g. all joints at one pixel
    enough = (ok.sum(axis=-1) >= 2) & well_posed & np.isfinite(AtA).all(axis=(-1, -2)) & np.isfinite(Aty).all(axis=-1)
    AtA = np.where(enough[..., None, None], AtA, np.eye(3))
    T = np.linalg.solve(AtA, np.where(enough[..., None], Aty / d, 0.0)[..., None])[..., 0] / d
    enough &= np.isfinite(T).all(axis=-1) & (T[..., 2] >= min_depth)  # at or behind the camera: nonsense
    return np.where(enough[..., None], T, np.nan)


def to_camera_space(
    poses3d: np.ndarray,
    keypoints: np.ndarray,
    camera: "Camera | Mapping[str, Any] | tuple[int, int]",
    confidence: np.ndarray | None = None,
) -> np.ndarray:
    """``poses3d`` moved by :func:`solve_translation`: ``(*batch, N, 3)`` in the camera frame."""
    P = np.asarray(poses3d)
    T = solve_translation(P, keypoints, as_camera(camera), confidence)
    return (P + T[..., None, :]).astype(P.dtype if P.dtype.kind == "f" else np.float32, copy=False)


# --------------------------------------------------------------------------- world frame
@dataclass(frozen=True)
class WorldFrame:
    """A world frame given in camera coordinates: ``X_world = R (X_cam - origin)``.

    World axes: x to the camera's right along the ground, y up (the ground normal), z
    towards the camera along the ground; the ground is ``y = 0``; the origin lies on the
    ground below the first root position.
    """

    R: np.ndarray  # (3, 3), rows = world axes in camera coordinates
    origin: np.ndarray  # (3,)
    ground_fitted: bool  # False: the normal came from the body's up direction, not a plane fit

    def apply(self, points_cam: np.ndarray) -> np.ndarray:
        """``(..., 3)`` camera-frame points -> world frame."""
        return (np.asarray(points_cam, dtype=np.float64) - self.origin) @ self.R.T


def _feet(skeleton: Skeleton) -> list[int]:
    return [i for i, j in enumerate(skeleton.joints) if j.endswith("ankle") or j.endswith("heel") or j.endswith("toe")]


def _upper(skeleton: Skeleton) -> list[int]:
    names = ("head_top", "neck", "thorax", "nose", "left_shoulder", "right_shoulder")
    return [i for i, j in enumerate(skeleton.joints) if j in names]


def estimate_world_frame(
    poses_cam: np.ndarray, skeleton: str | Skeleton, *, min_spread: float = 0.5
) -> WorldFrame:
    """Estimate the ground plane from the feet of a camera-space sequence.

    The body's mean up direction (feet to head) gives a first normal; each frame's lowest
    foot joint along it is a ground contact. When those contacts spread over at least
    ``min_spread`` metres in two directions, a least-squares plane through them gives the
    normal; otherwise (a person dancing on the spot) the body's up direction is kept and
    only the ground height is estimated (the 10th percentile of the contacts' heights).

    Args:
        poses_cam: ``(frames, N, 3)`` camera-space poses (NaN frames are ignored).
        skeleton: their joint layout (needs ankle and head or shoulder joints).
    """
    skel = get_skeleton(skeleton)
    P = np.asarray(poses_cam, dtype=np.float64)
    if P.ndim != 3 or P.shape[1:] != (skel.num_joints, 3):
        raise ShapeError(f"poses_cam must have shape (frames, {skel.num_joints}, 3); got {P.shape}.")
    valid = np.isfinite(P).all(axis=(1, 2))
    if not valid.any():
        raise KeypointValueError("no frame holds a complete pose: the ground plane cannot be estimated.")
    P = P[valid]
    feet, upper = _feet(skel), _upper(skel)
    if not feet or not upper:
        raise SkeletonError(f"layout {skel.name!r} lacks feet or head joints needed to find the ground.")
    up = (P[:, upper].mean(axis=1) - P[:, feet].mean(axis=1)).mean(axis=0)
    up /= np.linalg.norm(up)
    heights = P[:, feet] @ up  # (F, n_feet)
    lowest = np.argmin(heights, axis=1)
    contacts = P[:, feet][np.arange(len(P)), lowest]  # (F, 3)
    centre = contacts.mean(axis=0)
    _, s, vt = np.linalg.svd(contacts - centre, full_matrices=False)
    spread = s / math.sqrt(max(len(contacts), 1))
    # a plane only where the contacts cover an area, not a line (walking straight at the camera)
    fitted = len(contacts) >= 3 and spread.shape[0] == 3 and spread[1] >= min_spread and spread[2] <= 0.5 * spread[1]
    if fitted:
        normal = vt[2] if np.dot(vt[2], up) > 0 else -vt[2]
        if np.dot(normal, up) < math.cos(math.radians(30.0)):  # a plane far from upright: distrust it
            normal, fitted = up, False
    else:
        normal = up
    ground_height = float(np.percentile(contacts @ normal, 10.0))
    x = np.array([1.0, 0.0, 0.0]) - normal[0] * normal
    if np.linalg.norm(x) < 1e-6:
        x = np.array([0.0, 0.0, 1.0]) - normal[2] * normal
    x /= np.linalg.norm(x)
    z = np.cross(x, normal)
    R = np.stack([x, normal, z])
    root0 = skel.root_point(P[0])
    origin = root0 - (root0 @ normal - ground_height) * normal
    return WorldFrame(R=R, origin=origin, ground_fitted=bool(fitted))


def align_to_world(
    poses_cam: np.ndarray,
    skeleton: str | Skeleton,
    frame: WorldFrame | None = None,
    *,
    ground: Literal["fixed", "tracked"] = "fixed",
    fps: float | None = None,
    ground_cutoff: float = 0.3,
    height: float | None = None,
) -> tuple[np.ndarray, WorldFrame]:
    """Camera-space ``(frames, N, 3)`` poses in a y-up world frame with the feet on ``y = 0``.

    The frame's axes come from :func:`estimate_world_frame`; then
    :func:`poselift.ground.place_on_ground` finds the feet's contact frames (slow and low;
    by foot speed when ``fps`` is given), puts the ground under the soles of the contacts
    (the sole :data:`poselift.ground.SOLE_FRACTION` of the body height below the ankle
    joint) and raises any frame whose feet would still be in the ground. ``ground="fixed"``
    keeps one ground height; ``ground="tracked"`` (needs ``fps``) lets it follow the
    contacts slowly (low-passed at ``ground_cutoff`` Hz, no lag), for a handheld or moving
    camera, where one plane leaves the feet floating or sinking; motion faster than the
    cut-off (a jump) is kept. ``height``: the body height in metres (default: measured
    along the skeleton).

    Returns the world-frame poses (NaN frames stay NaN) and the frame used.
    """
    from .ground import place_on_ground

    skel = get_skeleton(skeleton)
    if ground not in ("fixed", "tracked"):
        raise InvalidArgumentError(f"ground must be 'fixed' or 'tracked'; got {ground!r}.")
    frame = frame if frame is not None else estimate_world_frame(poses_cam, skel)
    world, _ = place_on_ground(frame.apply(poses_cam), skel, fps, ground=ground, ground_cutoff=ground_cutoff, height=height)
    return world, frame


def parse_camera(text: str | None) -> "Camera | None":
    """A camera from text, as ``--camera`` takes it: numbers ``f,cx,cy`` or ``fx,fy,cx,cy`` in
    pixels, or the path of a JSON file of intrinsics (:meth:`Camera.from_dict`); ``None`` passes through."""
    if text is None:
        return None
    import json
    from pathlib import Path

    path = Path(text)
    if path.suffix.lower() == ".json" or path.exists():
        from ._files import read_capped

        try:
            spec = json.loads(read_capped(path, 1 << 20).decode("utf-8"))  # a regular file of at most 1 MB
        except (OSError, ValueError) as e:
            raise CameraError(f"cannot read the camera file {path}: {e}") from None
        if not isinstance(spec, dict):
            raise CameraError(f"the camera file {path} must hold a JSON object of intrinsics.")
        try:
            return Camera.from_dict(spec)
        except CameraError as e:
            raise CameraError(f"{path}: {e}") from None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) == 3:
        return Camera(values[0], values[0], values[1], values[2])
    if len(values) == 4:
        return Camera(*values)
    raise CameraError(f"--camera must be F,CX,CY or FX,FY,CX,CY in pixels, or a .json file; got {text!r}.")


def place_rows(
    out: np.ndarray, flat: np.ndarray, missing: np.ndarray | None, conf: np.ndarray | None, camera: Camera, ok: np.ndarray
) -> None:
    """:func:`to_camera_space` for the rows ``ok`` of root-relative poses ``out`` ``(B, N, 3)``, in
    place, from their keypoints ``flat`` ``(B, N, 2)`` (the camera of :meth:`poselift.Lifter.lift`);
    ``missing`` joints (``(B, N)``, set only with ``conf``) get weight 0. A few thousand poses at
    a time, so the solve's temporaries stay small."""
    rows = np.flatnonzero(ok)
    for s in range(0, rows.size, CHUNK_ROWS):
        r = rows[s : s + CHUNK_ROWS]
        c = None if conf is None else conf[r].astype(np.float64)
        if c is not None and missing is not None:
            c = np.where(missing[r], 0.0, c)
        out[r] = to_camera_space(out[r], flat[r], camera, c)
