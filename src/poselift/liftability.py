"""Which poses can be lifted, and the one pass that prepares them for the network.

:func:`assess` is the library's single rule for "can this pose be lifted": ``Lifter.lift``,
``Lifter.lift_sequence`` (and through them the CLI, the video pipeline and the demo) decide
with it, so a pose the command line reports as refused is exactly one the lifter refused.

It also does the only host-side pass over the keypoints: one pass that finds missing and
non-finite joints and degenerate poses. The network's graph normalises each pose (the one
normalisation); a pose float32 cannot carry well (far from the image origin for its size,
or of extreme scale: 1e-30 to 1e300 px) is first centred on its visible joints and scaled to
RMS size :data:`WORKING_SIZE` in float64, an exact translation and scale of the lift that
changes only the rounding (:data:`AS_GIVEN_RATIO`).
"""

from __future__ import annotations

import enum
import functools
import logging
import math
import operator
from typing import Any, NamedTuple

import numpy as np

from .errors import DegeneratePoseError, EmptyInputError, MissingJointsError, NonFiniteError, ShapeError
from .skeleton import Skeleton, adapt_hint

__all__ = ["Unliftable", "UNLIFTABLE_REASONS", "LiftResult", "Assessment", "assess", "check_keypoints", "missing_joints", "WORKING_SIZE"]

logger = logging.getLogger(__name__)

#: Root-mean-square size, in pixels, that every pose is brought to before the network sees it.
WORKING_SIZE = 100.0
#: Poses prepared at a time: the float64 temporaries stay a few MB for any input.
CHUNK_ROWS = 4096


class Unliftable(str, enum.Enum):
    """Why a pose was not lifted (:attr:`poselift.LiftResult.reason`); ``LIFTED`` (``""``) when it was.

    A ``str`` enum: ``reason == "missing_joints"`` and ``reason == Unliftable.MISSING_JOINTS``
    are both true, and :attr:`description` says what it means.
    """

    LIFTED = ""
    MISSING_JOINTS = "missing_joints"
    NONFINITE = "nonfinite"
    DEGENERATE = "degenerate"
    NONFINITE_OUTPUT = "nonfinite_output"
    CAMERA = "camera"

    def __str__(self) -> str:
        return self.value

    def __hash__(self) -> int:  # as its string: {Unliftable.DEGENERATE} == {"degenerate"}
        return str.__hash__(self)

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    Unliftable.LIFTED: "lifted",
    Unliftable.MISSING_JOINTS: "joints below the confidence threshold that the model cannot fill "
    "(no completion network, or fewer visible joints than it needs)",
    Unliftable.NONFINITE: "NaN or infinite coordinates in a joint that is not marked missing",
    Unliftable.DEGENERATE: "all visible joints at one point (within the precision of the input)",
    Unliftable.NONFINITE_OUTPUT: "the network returned NaN or infinite values (broken weights)",
    Unliftable.CAMERA: "no place in the camera frame re-projects the pose onto its keypoints (closer than 0.1 m, "
    "or behind the camera): the intrinsics do not fit the keypoints",
}
#: Reasons by position: :attr:`Assessment.codes` index this tuple.
REASONS: tuple[Unliftable, ...] = tuple(Unliftable)
#: ``{reason value: description}`` for every reason a pose can be refused with (kept for
#: code that looks reasons up by their string).
UNLIFTABLE_REASONS: dict[str, str] = {r.value: r.description for r in REASONS[1:]}
_CODE = {r: i for i, r in enumerate(REASONS)}
_REASON_OF_CODE = np.array(REASONS, dtype=object)  # codes -> Unliftable members, by fancy indexing


class LiftResult(NamedTuple):
    """What ``lift(..., on_unliftable="nan")`` returns: every pose, lifted or not, with masks.

    ``poses`` ``(*batch, N, 3)`` (NaN for poses that were not lifted), ``lifted``
    ``(*batch,)`` bool, ``filled`` ``(*batch, N)`` bool (joints filled by the completion
    network) and ``missing`` ``(*batch, N)`` bool (joints the lifter counted as missing: below
    the confidence threshold or not finite) in the container of the input; ``reason``
    ``(*batch,)`` numpy array of :class:`~poselift.liftability.Unliftable` values (a ``str``
    enum: ``Unliftable.LIFTED == ""`` for lifted poses, else e.g. ``"missing_joints"``).
    """

    poses: Any
    lifted: Any
    filled: Any
    reason: np.ndarray
    missing: Any = None


class Lifted(NamedTuple):
    """The flat numpy result of :meth:`poselift.Lifter._lift_flat` before the container is restored."""

    poses: np.ndarray  # (B, N, 3) float32, NaN where not lifted
    codes: np.ndarray  # (B,) index into REASONS
    filled_mask: np.ndarray | None  # (B, N) bool; None: no joint missing
    missing_mask: np.ndarray | None

    @property
    def filled(self) -> np.ndarray:
        return self.filled_mask if self.filled_mask is not None else np.zeros(self.codes.shape + self.poses.shape[1:2], dtype=bool)

    @property
    def missing(self) -> np.ndarray:
        return self.missing_mask if self.missing_mask is not None else np.zeros(self.codes.shape + self.poses.shape[1:2], dtype=bool)

    def result(self, poses: Any, container: Any, shape: tuple[int, ...]) -> LiftResult:
        """The :class:`LiftResult` of ``shape`` ``(*batch, N)``, ``poses`` already restored; masks in ``container``."""
        return LiftResult(
            poses,
            container.restore((self.codes == 0).reshape(shape[:-1]), floating=False),
            container.restore(self.filled.reshape(shape), floating=False),
            _REASON_OF_CODE[self.codes].reshape(shape[:-1]),
            container.restore(self.missing.reshape(shape), floating=False),
        )


def check_keypoints(x: np.ndarray, skeleton: Skeleton, name: str = "keypoints") -> None:
    """Raise a specific error if ``x`` is not a non-empty ``(*batch, N, 2)`` array for ``skeleton``."""
    n, shape = skeleton.num_joints, x.shape
    if x.ndim >= 2 and shape[-1] == 2 and shape[-2] == n and x.size:  # the common case, checked first
        return
    expected = f"(..., {n}, 2)"
    if x.ndim < 2:
        raise ShapeError(f"{name} must have shape {expected} ({skeleton.name} layout); got {shape}.")
    if shape[-1] != 2:
        hint = ""
        if shape[-1] == 3:
            hint = f" A last dimension of 3 looks like (x, y, confidence): pass {name}[..., :2] and confidence={name}[..., 2]."
        raise ShapeError(f"{name} must have shape {expected} ({skeleton.name} layout); got {shape}.{hint}")
    if shape[-2] != n:
        hint = adapt_hint(shape[-2])
        raise ShapeError(f"{name} must have shape {expected} ({skeleton.name} layout); got {shape}.{' ' + hint + '.' if hint else ''}")
    if x.size == 0:
        raise EmptyInputError(f"{name} hold no poses (shape {shape}); pass at least one pose of shape ({n}, 2).")


def missing_joints(confidence: np.ndarray, keypoints: np.ndarray, threshold: float) -> np.ndarray:
    """The ``(*batch, N)`` mask of missing joints: confidence below ``threshold`` (or NaN), or
    coordinates that are not finite. The rule of the adapters, the readers and ``lift``."""
    with np.errstate(invalid="ignore"):
        missing = ~(confidence >= threshold)  # NaN confidence counts as missing
    return missing | ~np.isfinite(keypoints).all(axis=-1)


class Assessment(NamedTuple):
    """What :func:`assess` found for ``B`` flat poses.

    ``codes`` ``(B,)`` int8 index into :data:`REASONS` (0: liftable); ``missing`` ``(B, N)``
    bool or ``None`` when no joint is missing; ``work`` ``(B, N, 2)`` float32 poses at the
    working size (missing joints 0); ``all_liftable``: no code is set (found in passing, so the
    common case needs no scan of ``codes``).
    """

    codes: np.ndarray
    missing: np.ndarray | None
    work: np.ndarray
    all_liftable: bool

    def reasons(self) -> np.ndarray:
        """``(B,)`` object array of :class:`Unliftable` members."""
        return _REASON_OF_CODE[self.codes]


def assess(
    x: np.ndarray,
    confidence: np.ndarray | None,
    *,
    threshold: float,
    min_visible: int | None,
    tolerance: float,
) -> Assessment:
    """Decide which of the flat poses ``x`` ``(B, N, 2)`` can be lifted, and prepare them.

    A joint is missing when ``confidence`` ``(B, N)`` is below ``threshold`` (or NaN) or its
    coordinates are not finite; without ``confidence`` no joint is missing and a non-finite
    coordinate makes the pose unliftable (``lift`` cannot tell a missing joint from a broken
    one). Missing joints are filled by a completion network that needs ``min_visible``
    visible joints (``None``: the model has none, and any missing joint refuses the pose).
    A pose whose visible joints lie within ``tolerance`` (relative to its largest
    coordinate) of one point is degenerate. The first of missing joints, non-finite,
    degenerate wins.
    """
    B, n = x.shape[:2]
    missing = None
    if confidence is not None:
        missing = missing_joints(confidence, x, threshold)
        if not missing.any():
            missing = None
    few = _prepare_few(x, tolerance) if B <= FEW and missing is None else None
    if few is not None:  # a few complete, finite poses: codes without numpy's per-call cost
        degenerate, work, biggest = few
        if biggest <= 1.0:
            _warn_normalised()
        if not any(degenerate):
            return Assessment(np.zeros(B, dtype=np.int8), None, work, True)
        code = _CODE[Unliftable.DEGENERATE]
        return Assessment(np.array([code if d else 0 for d in degenerate], dtype=np.int8), None, work, False)
    if B <= CHUNK_ROWS:
        nonfinite, degenerate, work, biggest = _prepare(x, missing, tolerance)
    else:
        nonfinite, degenerate = np.empty(B, dtype=bool), np.empty(B, dtype=bool)
        work = np.empty(x.shape, dtype=np.float32)
        biggest = 0.0
        for s in range(0, B, CHUNK_ROWS):
            rows = slice(s, s + CHUNK_ROWS)
            nonfinite[rows], degenerate[rows], work[rows], big = _prepare(
                x[rows], None if missing is None else missing[rows], tolerance
            )
            biggest = max(biggest, big)
    if 0.0 < biggest <= 1.0:
        _warn_normalised()
    codes = degenerate.astype(np.int8) * np.int8(_CODE[Unliftable.DEGENERATE])
    if nonfinite is not None:
        codes[nonfinite] = _CODE[Unliftable.NONFINITE]
    if missing is not None:
        too_few = missing.any(axis=-1)
        if min_visible is not None:
            too_few &= (n - missing.sum(axis=-1)) < min_visible
        codes[too_few] = _CODE[Unliftable.MISSING_JOINTS]
    return Assessment(codes, missing, work, not codes.any())


#: Poses up to which :func:`_prepare_few` (plain Python floats) prepares complete poses: for a
#: few poses it costs a few microseconds where numpy's per-call overhead costs about twenty
#: (and slows the network call that follows; ``benchmarks/bench_lift.py``).
FEW = 4


def _warn_normalised() -> None:
    logger.warning(
        "all keypoint coordinates lie within [-1, 1]: they look normalised to the image size (e.g. OpenPose "
        "with --keypoint_scale, or the Kinetics skeletons, normalised to 340x256). Multiply x by the image width "
        "and y by the image height first: unequal scales of x and y distort the lifted pose."
    )


def _prepare_few(x: np.ndarray, tol: float) -> tuple[list[bool], np.ndarray, float] | None:
    """:func:`_prepare` for a few complete poses, in Python floats (float64), with the same
    result; ``None`` (use :func:`_prepare`) when a coordinate is not finite or a pose's
    magnitude lies outside :data:`_SAFE`."""
    n = x.shape[1]
    degenerate, work, biggest, as_given = [], [], 0.0, True
    for xs in x.reshape(x.shape[0], 2 * n).tolist():
        if not math.isfinite(sum(xs)):  # NaN or inf in the pose (or a sum beyond float64: not _SAFE either)
            return None
        magnitude = max(max(xs), -min(xs))
        if not _SAFE[0] < magnitude < _SAFE[1]:
            return None
        biggest = max(biggest, magnitude)
        cx, cy = sum(xs[0::2]) / n, sum(xs[1::2]) / n
        dev = list(map(operator.sub, xs, (cx, cy) * n))
        spread = math.sqrt(sum(map(operator.mul, dev, dev)) / n)
        degenerate.append(spread <= tol * max(magnitude, 1.0))
        fits = magnitude <= AS_GIVEN_RATIO * spread and _FLOAT32_RANGE[0] < spread and magnitude < _FLOAT32_RANGE[1]
        k = WORKING_SIZE / spread if spread > 0 else WORKING_SIZE
        work.append(xs if fits else [d * k for d in dev])
        as_given &= fits
    if as_given and x.dtype == np.float32:  # the network normalises: no copy at all
        return degenerate, x, biggest
    return degenerate, np.array(work, dtype=np.float32).reshape(x.shape), biggest


#: Coordinate magnitudes (relative to each other) within which the squares of :func:`_prepare`
#: neither overflow nor underflow float64 without first dividing each pose by its magnitude.
_SAFE = (1e-100, 1e100)
#: A pose goes to the network as given (the network's graph normalises it) when its largest
#: coordinate is at most this many times its RMS size, and its size and coordinates lie within
#: :data:`_FLOAT32_RANGE`: float32 then keeps it to about 1e-6 of its size. Other poses (far
#: from the image origin for their size, or of extreme scale) are first centred on their
#: visible joints and scaled to RMS size :data:`WORKING_SIZE` in float64, an exact translation
#: and scale of the lift that changes only the rounding.
AS_GIVEN_RATIO = 16.0
_FLOAT32_RANGE = (1e-15, 1e15)


def _prepare(
    x: np.ndarray, missing: np.ndarray | None, tol: float
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, float]:
    """``(nonfinite, degenerate, work, biggest)`` of ``(B, N, 2)`` poses: masks of poses with a
    non-finite visible joint (``None``: none) and of degenerate poses, the poses centred on
    their visible joints and scaled to RMS size :data:`WORKING_SIZE` (missing joints 0) as
    float32, and the largest finite coordinate magnitude (for the normalised-input warning)."""
    xd = x.astype(np.float64)
    magnitude = np.abs(xd).max(axis=(1, 2))  # NaN or inf for a pose with a non-finite coordinate
    with np.errstate(all="ignore"):
        if missing is None and np.isfinite(magnitude).all():  # every joint usable: the common case, few steps
            lo, hi = float(magnitude.min()), float(magnitude.max())
            scaled = not (_SAFE[0] < lo and hi < _SAFE[1])
            if scaled:  # each pose within [-1, 1]: no overflow or underflow below
                xd = xd / np.where(magnitude > 0, magnitude, 1.0)[:, None, None]
            dev = xd - xd.mean(axis=1, keepdims=True)
            spread = np.sqrt(np.einsum("bij,bij->b", dev, dev) / x.shape[1])  # in the units of dev
            relative = spread if scaled else spread / magnitude  # RMS size over the largest coordinate
            degenerate = relative <= tol * np.maximum(1.0, 1.0 / magnitude)
            work = dev * (WORKING_SIZE / np.where(spread > 0, spread, 1.0))[:, None, None]
            fits = (AS_GIVEN_RATIO * relative >= 1.0) & (magnitude * relative > _FLOAT32_RANGE[0]) & (magnitude < _FLOAT32_RANGE[1])
            work = np.where(fits[:, None, None], x, work).astype(np.float32)  # as in _prepare_few
            return None, degenerate, work, hi
        if missing is None:  # a non-finite joint makes its pose unliftable
            finite = np.isfinite(xd).all(axis=-1)
            nonfinite, use = ~finite.all(axis=-1), finite[..., None]
        else:  # the missing joints include every non-finite one (missing_joints): no second scan
            nonfinite, use = np.zeros(x.shape[0], dtype=bool), ~missing[..., None]
        xv = np.where(use, xd, 0.0)
        magnitude = np.abs(xv).max(axis=(1, 2))
        count = np.maximum(use.sum(axis=(1, 2)), 1)[:, None, None]
        u = xv / np.where(magnitude > 0, magnitude, 1.0)[:, None, None]  # within [-1, 1]: no overflow below
        dev = np.where(use, u - u.sum(axis=1, keepdims=True) / count, 0.0)
        spread = np.sqrt(np.square(dev).sum(axis=(1, 2)) / count[:, 0, 0])  # relative to the magnitude
        degenerate = ~nonfinite & (spread <= tol * np.maximum(1.0, 1.0 / magnitude))
        work = dev * (WORKING_SIZE / np.where(spread > 0, spread, 1.0))[:, None, None]
        fits = (AS_GIVEN_RATIO * spread >= 1.0) & (magnitude * spread > _FLOAT32_RANGE[0]) & (magnitude < _FLOAT32_RANGE[1])
        work = np.where(fits[:, None, None], xv, work).astype(np.float32)  # as given where float32 keeps it
    biggest = float(magnitude.max()) if magnitude.size else 0.0
    return nonfinite, degenerate, work, biggest


@functools.lru_cache(maxsize=None)
def tolerance_of(dtype: np.dtype) -> float:
    """Relative spread below which a pose of this numpy dtype is all rounding noise."""
    if dtype.kind == "f":
        return 4 * float(np.finfo(dtype).eps)
    return 4 * float(np.finfo(np.float64).eps)  # integers convert exactly


def raise_unliftable(
    assessment: Assessment,
    x: np.ndarray,
    skeleton: Skeleton,
    batch_shape: tuple[int, ...],
    *,
    threshold: float,
    min_visible: int | None,
) -> None:
    """Raise the error that explains the first unliftable pose (missing joints first)."""
    codes, missing = assessment.codes, assessment.missing
    n = skeleton.num_joints

    def names(mask: np.ndarray, row: int) -> list[str]:
        return [skeleton.joints[j] for j in np.flatnonzero(mask[row])]

    def first_of(reason: Unliftable) -> tuple[tuple[int, ...], int, int]:
        mask = codes == _CODE[reason]
        first, row = first_index(mask, batch_shape)
        return first, row, int(mask.sum())

    if (codes == _CODE[Unliftable.MISSING_JOINTS]).any():
        first, row, count = first_of(Unliftable.MISSING_JOINTS)
        if min_visible is None:
            raise MissingJointsError(
                f"{pose_label(first)} has joints below confidence {threshold}: "
                f"{names(missing, row)}. This model cannot fill missing joints (it has no "
                "completion network): load one that has (e.g. the released poselift/h36m-17) or drop those poses, "
                'or pass on_unliftable="nan" to get NaN for them.'
            )
        raise MissingJointsError(
            f"{pose_label(first)} has only {n - int(missing[row].sum())} of {n} joints above confidence {threshold}; "
            f"at least {min_visible} are needed to fill the rest "
            f"({count} such pose(s)). Drop those poses, or pass on_unliftable=\"nan\" to get NaN for them."
        )
    if (codes == _CODE[Unliftable.NONFINITE]).any():
        first, row, count = first_of(Unliftable.NONFINITE)
        bad_joints = ~np.isfinite(x).all(axis=-1)
        if missing is not None:
            bad_joints &= ~missing
        raise NonFiniteError(
            f"keypoints contain NaN or infinite values in {count} pose(s)"
            + (f", first at index {first}" if first else "")
            + f" (joints {names(bad_joints, row)}). "
            "Mark undetected joints with confidence 0 (confidence=...) instead of NaN; an adapter result "
            "has NaN at its missing joints: pass it whole, lifter.lift(adapted), or with its confidence."
        )
    first, _, count = first_of(Unliftable.DEGENERATE)
    raise DegeneratePoseError(
        f"{pose_label(first)} is degenerate: all its joints lie at one point, so it has no shape to lift. "
        f"Check the detector output ({count} such pose(s))."
    )


def first_index(mask: np.ndarray, batch_shape: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """The first set row of a flat ``(B,)`` mask: its index into ``batch_shape`` (``()`` for a
    single pose) and its flat row."""
    row = int(np.flatnonzero(mask)[0])
    return (tuple(int(i) for i in np.unravel_index(row, batch_shape)) if batch_shape else ()), row


def pose_label(index: tuple[int, ...]) -> str:
    """``"pose (4, 2)"`` for an index into the batch, ``"the pose"`` for a single pose."""
    return f"pose {index}" if index else "the pose"
