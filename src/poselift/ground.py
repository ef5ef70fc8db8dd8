"""Feet on the ground: foot contacts, the ground under them, the sole below the ankle.

A lifted sequence turned y-up (:func:`poselift.camera.align_to_world`) has its ankle joints
where the lifter put them, often a few centimetres into the floor: the lifter knows
nothing about a ground, and the ankle joint is not the sole. :func:`place_on_ground`
moves each frame vertically only, so that

1. the **contact frames** of each foot (:func:`foot_contacts`: the foot is slow and is the
   lower foot, or nearly as low) define the ground: one height for the sequence
   (``ground="fixed"``), or a height that follows the contacts slowly (``"tracked"``, for
   a handheld camera; low-passed at ``ground_cutoff`` Hz without lag, interpolated
   between contacts);
2. the **sole**, :data:`SOLE_FRACTION` of the body height below the ankle joint (about
   7 cm for 1.70 m), rests on that ground during contacts;
3. **no frame penetrates**: where the lower ankle would still sit less than a sole's
   height above the ground, that frame is raised by the difference. (Spreading the raise
   over neighbouring frames was tried on the street video: it left the feet floating
   higher, median 12.5 instead of 9.7 cm, and the root jittered more, because the raise
   mostly cancels the lifter's depth noise seen from a tilted camera.)

Only vertical shifts of whole frames are used, so a foot never slides along the ground
because of them: its horizontal path is the lifter's. Everything here is numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .errors import InvalidArgumentError, MissingJointsError, ShapeError, SkeletonError
from .skeleton import Skeleton, get_skeleton

__all__ = ["SOLE_FRACTION", "GroundContact", "body_height", "foot_contacts", "place_on_ground"]

#: Height of the ankle joint above the sole of a flat foot, as a fraction of body height
#: (about 0.04: 6-8 cm for adults).
SOLE_FRACTION = 0.04

#: A foot moving slower than this many body heights per second may be on the ground
#: (0.5: 0.85 m/s for 1.70 m; a walking foot swings at 2-5 m/s, and the lifter's depth
#: noise alone moves a standing foot by a few tenths of a metre per second).
CONTACT_SPEED = 0.5

#: A foot at most this many body heights above the lower foot may be on the ground too
#: (0.025: 4 cm for 1.70 m), so both feet count while standing.
CONTACT_TOLERANCE = 0.025


@dataclass(frozen=True)
class GroundContact:
    """What :func:`place_on_ground` found and did.

    Attributes:
        contacts: ``(frames, feet)`` bool, each foot's contact frames (feet in
            :attr:`feet` order).
        feet: the joint indices of the feet (the ankle joints).
        sole: height of the ankle joint above the sole, in the poses' unit.
        ground: ``(frames,)`` ground height that was moved to ``y = 0``.
        raised: ``(frames,)`` how far each frame was raised to take the feet out of the ground.
    """

    contacts: np.ndarray
    feet: tuple[int, ...]
    sole: float
    ground: np.ndarray
    raised: np.ndarray


def _ankles(skel: Skeleton) -> tuple[int, ...]:
    feet = tuple(i for i, j in enumerate(skel.joints) if j in ("left_ankle", "right_ankle"))
    if len(feet) != 2:
        raise SkeletonError(f"layout {skel.name!r} has no left_ankle and right_ankle joints to stand on.")
    return feet


def body_height(poses: np.ndarray, skeleton: str | Skeleton) -> float:
    """Median over the frames of the skeleton height (bone lengths from the head down to each ankle, averaged)."""
    from .smooth import chain_heights

    height = chain_heights(np.asarray(poses, dtype=np.float64), skeleton)
    height = height[np.isfinite(height)]
    if height.size == 0:
        raise MissingJointsError("no frame holds a complete pose: the body height cannot be measured.")
    return float(np.median(height))


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average along axis 0 over ``width`` frames; NaN frames are skipped, and stay NaN."""
    if width <= 1:
        return x.copy()
    valid = np.isfinite(x)
    filled = np.where(valid, x, 0.0)
    kernel = np.ones(width)
    pad = width // 2

    def run(a: np.ndarray) -> np.ndarray:
        a = np.pad(a, [(pad, width - 1 - pad)] + [(0, 0)] * (a.ndim - 1))
        return np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="valid"), 0, a)

    total, count = run(filled), run(valid.astype(np.float64))
    out = total / np.maximum(count, 1.0)
    return np.where(valid, out, np.nan)


def foot_contacts(
    poses: np.ndarray,
    skeleton: str | Skeleton,
    fps: float | None,
    *,
    height: float | None = None,
    max_speed: float = CONTACT_SPEED,
    tolerance: float = CONTACT_TOLERANCE,
) -> np.ndarray:
    """``(frames, 2)`` bool: the frames in which each ankle (left, right in joint order) is on the ground.

    A foot is on the ground where it is slow (speed of its 0.1 s moving average below
    ``max_speed`` body heights per second) and low (at most ``tolerance`` body heights
    above the lower foot along y). Without ``fps`` only the lower foot counts. NaN frames
    have no contact.

    Args:
        poses: ``(frames, N, 3)`` y-up poses.
        height: body height in the poses' unit (default: :func:`body_height`).
    """
    skel = get_skeleton(skeleton)
    P = np.asarray(poses, dtype=np.float64)
    if P.ndim != 3 or P.shape[1:] != (skel.num_joints, 3):
        raise ShapeError(f"poses must have shape (frames, {skel.num_joints}, 3); got {P.shape}.")
    feet = _ankles(skel)
    H = body_height(P, skel) if height is None else float(height)
    valid = np.isfinite(P).all(axis=(1, 2))
    A = np.where(valid[:, None, None], P[:, list(feet)], np.nan)  # (F, 2, 3)
    y = A[..., 1]
    lowest = np.nanmin(np.where(np.isfinite(y), y, np.inf), axis=1, keepdims=True)
    low = y <= lowest + tolerance * H
    if fps is None:
        low = y <= lowest
        return low & valid[:, None]
    smooth = _moving_average(A.reshape(len(A), -1), max(1, int(round(0.1 * fps)))).reshape(A.shape)
    speed = np.full(y.shape, np.inf)
    if len(A) > 1:
        step = np.gradient(smooth, axis=0) * fps  # NaN next to a gap: no contact there
        speed = np.linalg.norm(step, axis=-1)
    slow = np.isfinite(speed) & (speed <= max_speed * H)
    return low & slow & valid[:, None]


def place_on_ground(
    world: np.ndarray,
    skeleton: str | Skeleton,
    fps: float | None = None,
    *,
    ground: Literal["fixed", "tracked"] = "fixed",
    ground_cutoff: float = 0.3,
    height: float | None = None,
    sole_fraction: float = SOLE_FRACTION,
) -> tuple[np.ndarray, GroundContact]:
    """Move each frame of y-up poses vertically so that the feet stand on ``y = 0`` (see the module notes).

    Args:
        world: ``(frames, N, 3)`` y-up poses (NaN frames stay NaN).
        skeleton: their joint layout (needs ``left_ankle`` and ``right_ankle``).
        fps: frame rate; needed for ``ground="tracked"`` and for contacts by foot speed
            (without it each frame's lower foot is its contact).
        ground: ``"fixed"``: one ground height, the median of the contacts;
            ``"tracked"``: the contacts' height low-passed at ``ground_cutoff`` Hz.
        height: body height in the poses' unit (default: measured, :func:`body_height`).
        sole_fraction: ankle joint above the sole, in body heights.

    Returns:
        The moved poses and a :class:`GroundContact`.
    """
    skel = get_skeleton(skeleton)
    P = np.asarray(world, dtype=np.float64)
    if P.ndim != 3 or P.shape[1:] != (skel.num_joints, 3):
        raise ShapeError(f"world must have shape (frames, {skel.num_joints}, 3); got {P.shape}.")
    if ground not in ("fixed", "tracked"):
        raise InvalidArgumentError(f"ground must be 'fixed' or 'tracked'; got {ground!r}.")
    if ground == "tracked" and fps is None:
        raise InvalidArgumentError("ground='tracked' needs the frame rate: pass fps=...")
    if fps is not None and not (fps > 0 and math.isfinite(fps)):
        raise InvalidArgumentError(f"fps must be a positive number; got {fps}.")
    valid = np.isfinite(P).all(axis=(1, 2))
    if not valid.any():
        raise MissingJointsError("no frame holds a complete pose: there are no feet to put on the ground.")
    feet = _ankles(skel)
    H = body_height(P, skel) if height is None else float(height)
    sole = sole_fraction * H
    contacts = foot_contacts(P, skel, fps, height=H)
    if not contacts.any():  # everything moves fast (a spin, a jump): the lower foot is the contact
        contacts = foot_contacts(P, skel, None)
    y = P[:, list(feet), 1]
    touch = np.where(contacts, y, np.inf).min(axis=1)  # (F,) the contact ankles' height
    has = np.isfinite(touch)
    F = len(P)
    if ground == "fixed":
        level = np.full(F, float(np.median(touch[has])))
    else:
        from .smooth import smooth_sequence

        t = np.arange(F)
        level = np.interp(t, t[has], touch[has])  # held at the ends
        if F > 1:
            level = smooth_sequence(level, fps, mode="offline", min_cutoff=ground_cutoff, beta=0.0)
    shift = level - sole  # the ground under the soles
    out = P.copy()
    out[..., 1] -= shift[:, None]
    lower = np.where(valid, out[:, list(feet), 1].min(axis=1), sole)
    raised = np.where(valid, np.maximum(sole - lower, 0.0), 0.0)
    out[..., 1] += raised[:, None]
    return out, GroundContact(contacts=contacts, feet=feet, sole=sole, ground=shift, raised=raised)
