"""The keypoints every reader returns (:class:`KeypointData`) and the checks the readers share."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._arrays import to_numpy
from .._files import read_capped
from ..errors import EmptyInputError, KeypointValueError, NonFiniteError, InputFileError, UnknownLayoutError, ShapeError
from ..skeleton import SKELETONS, Skeleton, canonical_layout, get_skeleton, guess_layouts

logger = logging.getLogger(__name__)

__all__ = ["KeypointData"]

_OPENPOSE_LAYOUTS = {25: "openpose_body25", 18: "openpose_coco18", 33: "mediapipe33"}


@dataclass
class KeypointData:
    """2D keypoints of several people over several frames.

    Attributes:
        keypoints: ``(frames, people, N, 2)`` float32 pixel coordinates; ``people`` is the
            largest number of people in any frame.
        confidence: ``(frames, people, N)`` float32; 0 marks a missing joint and every
            padding slot (person ``p >= num_people[f]``). Missing joints have coordinates 0.
        layout: joint layout name (``"openpose_body25"``, ``"coco17"``, ...), or ``None``
            when the joint count fits several layouts (17: ``h36m17`` or ``coco17``) or
            no person was found.
        frames: one name per frame (file stem, image file name or id, or index).
        num_people: ``(frames,)`` int64, people in each frame; frame ``f`` holds people
            ``0 .. num_people[f] - 1``.
        scores: ``(frames, people)`` float32 per-person detection score where the file has
            one (COCO results), else ``None``.
        errors: file -> message, for files of a folder that were skipped.
        fps: the frame rate the files record (``poselift video`` writes it into every
            OpenPose frame as ``"poselift": {"fps": ...}``), or ``None``.
    """

    keypoints: np.ndarray
    confidence: np.ndarray
    layout: str | None
    frames: list[str]
    num_people: np.ndarray
    scores: np.ndarray | None = None
    errors: dict[str, str] = field(default_factory=dict)
    fps: float | None = None

    def __post_init__(self) -> None:
        kp, conf = self.keypoints, self.confidence
        if kp.ndim != 4 or kp.shape[-1] != 2:
            raise ShapeError(f"KeypointData.keypoints must have shape (frames, people, N, 2); got {kp.shape}.")
        if conf.shape != kp.shape[:-1]:
            raise ShapeError(f"KeypointData.confidence must have shape {kp.shape[:-1]}; got {conf.shape}.")
        if self.num_people.shape != (kp.shape[0],):
            raise ShapeError(f"KeypointData.num_people must have shape ({kp.shape[0]},); got {self.num_people.shape}.")
        if len(self.frames) != kp.shape[0]:
            raise ShapeError(f"KeypointData has {kp.shape[0]} frames but {len(self.frames)} frame names.")
        if self.scores is not None and self.scores.shape != kp.shape[:2]:
            raise ShapeError(f"KeypointData.scores must have shape {kp.shape[:2]}; got {self.scores.shape}.")
        if self.layout is not None:
            self.layout = canonical_layout(self.layout)
            n = SKELETONS[self.layout].num_joints
            if kp.shape[2] != n:
                raise ShapeError(f"layout {self.layout!r} has {n} joints but the keypoints have {kp.shape[2]}.")
        if bool((conf[~self.present] != 0).any()):
            raise KeypointValueError("KeypointData: padding slots (person >= num_people) must have confidence 0.")

    @property
    def num_frames(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def max_people(self) -> int:
        return int(self.keypoints.shape[1])

    @property
    def num_joints(self) -> int:
        return int(self.keypoints.shape[2])

    @property
    def present(self) -> np.ndarray:
        """``(frames, people)`` bool: the slot holds a person (is not padding)."""
        return np.arange(self.max_people)[None, :] < self.num_people[:, None]

    @property
    def skeleton(self) -> Skeleton:
        """The :class:`Skeleton` of :attr:`layout` (raises if the layout is unknown)."""
        if self.layout is None:
            raise UnknownLayoutError(
                f"the joint layout of these {self.num_joints}-joint keypoints is unknown "
                f"({' or '.join(guess_layouts(self.num_joints)) or 'no built-in layout'}); pass layout=..."
            )
        return get_skeleton(self.layout)

    def __repr__(self) -> str:
        return (
            f"KeypointData(frames={self.num_frames}, people={int(self.num_people.sum())} "
            f"(max {self.max_people} per frame), joints={self.num_joints}, layout={self.layout!r}"
            + (f", errors={len(self.errors)}" if self.errors else "")
            + ")"
        )

    @classmethod
    def from_array(
        cls,
        keypoints: Any,
        confidence: Any = None,
        *,
        layout: str | None = None,
        frames: Sequence[str] | None = None,
    ) -> "KeypointData":
        """Wrap an array ``(N, C)``, ``(frames, N, C)`` or ``(frames, people, N, C)``.

        ``C`` is 2 (then ``confidence`` may be given, shaped like the keypoints without the
        last axis) or 3 (x, y, confidence). Without ``layout`` the layout is taken from the
        joint count when only one built-in layout has it.
        """
        kp = to_numpy(keypoints)  # raises KeypointTypeError for anything but real numbers
        if kp.ndim < 2 or kp.ndim > 4 or kp.shape[-1] not in (2, 3):
            raise ShapeError(
                "keypoints must have shape (N, C), (frames, N, C) or (frames, people, N, C) with C = 2 "
                f"(x, y) or 3 (x, y, confidence); got {kp.shape}."
            )
        if kp.size == 0:
            raise EmptyInputError(f"keypoints hold no poses (shape {kp.shape}); there is nothing to lift.")
        if confidence is not None:
            if kp.shape[-1] == 3:
                raise ShapeError(
                    f"keypoints of shape {kp.shape} already carry confidence as the last channel; "
                    "pass confidence only with (..., N, 2) keypoints."
                )
            conf = to_numpy(confidence, "confidence").astype(np.float32)
            if conf.shape != kp.shape[:-1]:
                raise ShapeError(
                    f"confidence must have shape {kp.shape[:-1]} to match keypoints {kp.shape}; got {conf.shape}."
                )
        elif kp.shape[-1] == 3:
            conf = kp[..., 2].astype(np.float32)
        else:
            conf = None
        xy = kp[..., :2].astype(np.float32)
        extra = 4 - kp.ndim
        xy = xy.reshape((1,) * extra + xy.shape)
        if conf is None:
            conf = np.ones(xy.shape[:-1], dtype=np.float32)
        else:
            conf = conf.reshape((1,) * extra + conf.shape)
        if kp.ndim == 3:  # (frames, N, C): one person per frame
            xy = np.moveaxis(xy, 0, 1)
            conf = np.moveaxis(conf, 0, 1)
        n = xy.shape[2]
        layout = _layout_for(n, layout)
        xy, conf = _clean(xy, conf)
        names = [str(i) for i in range(xy.shape[0])] if frames is None else [str(f) for f in frames]
        num = np.full(xy.shape[0], xy.shape[1], dtype=np.int64)
        return cls(xy, conf, layout, names, num)


# --------------------------------------------------------------------------- helpers
def _clean(xy: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Missing joints (non-finite coordinates or confidence 0) get coordinates and confidence 0."""
    xy = np.array(xy, dtype=np.float32)
    conf = np.array(conf, dtype=np.float32)
    if not bool(np.isfinite(conf).all()):
        raise NonFiniteError("confidence values must be finite; found NaN or infinite values.")
    missing = ~np.isfinite(xy).all(axis=-1) | (conf <= 0)
    xy[missing] = 0.0
    conf[missing] = 0.0
    return xy, conf


def _layout_for(n: int, layout: str | None, kind: str = "keypoints") -> str | None:
    """Check an explicit layout against the joint count, or derive the layout from the count.

    Returns ``None`` when several layouts have ``n`` joints (17: ``h36m17`` and ``coco17``).
    """
    if layout is not None:
        name = canonical_layout(layout)
        expected = SKELETONS[name].num_joints
        if n != expected:
            raise ShapeError(
                f"layout {name!r} has {expected} joints but the {kind} have {n}. "
                f"{_count_hint(n)}"
            )
        return name
    candidates = guess_layouts(n)
    if not candidates:
        raise ShapeError(f"{kind} have {n} joints, which matches no known layout. {_count_hint(n)}")
    if len(candidates) == 1:
        return candidates[0]
    logger.info("%d joints fit layouts %s; pass layout=... to choose", n, candidates)
    return None


def _count_hint(n: int) -> str:
    known = ", ".join(f"{s.num_joints} {name}" for name, s in SKELETONS.items())
    guesses = guess_layouts(n)
    extra = f" {n} joints fits {guesses}." if guesses else ""
    return f"Known layouts: {known}.{extra}"


#: Largest keypoint JSON file read (COCO's train2017 keypoint annotations are 238 MB).
MAX_JSON_BYTES = 1 << 30
#: Largest array read from an ``.npy`` or ``.npz`` (about 130 million poses of 17 float32 joints).
MAX_ARRAY_BYTES = 16 << 30


def _load_json(path: Path) -> Any:
    try:
        text = read_capped(path, MAX_JSON_BYTES).decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputFileError(f"{path}: not a UTF-8 text file ({e.reason})") from None
    except IsADirectoryError:
        raise InputFileError(f"{path} is a folder, not a JSON file") from None
    except ValueError as e:  # a FIFO, a device, or beyond the size cap
        raise InputFileError(f"{e}; give a JSON file of keypoints") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputFileError(f"{path}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise InputFileError(f"{path}: JSON nested too deeply to be a keypoint file") from None
    except ValueError as e:  # an integer of more than 4,300 digits (Python's conversion limit)
        raise InputFileError(f"{path}: a number in it cannot be read ({e}); no keypoint file needs such numbers") from None


def _triplets(values: Any, where: str) -> np.ndarray:
    """A flat ``[x, y, c, x, y, c, ...]`` list -> ``(N, 3)`` float32."""
    if not isinstance(values, list):
        raise InputFileError(f"{where}: expected a list of numbers, got {type(values).__name__}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        bad = next(v for v in values if not (isinstance(v, (int, float)) and not isinstance(v, bool)))
        raise InputFileError(f"{where}: expected a flat list of numbers; found {json.dumps(bad)[:40]}")
    try:
        wide = np.asarray(values, dtype=np.float64)
    except OverflowError:  # an integer beyond even float64
        raise InputFileError(f"{where}: a number lies beyond the floating-point range; keypoints are pixel coordinates") from None
    with np.errstate(invalid="ignore"):
        beyond = np.isfinite(wide) & (np.abs(wide) > np.finfo(np.float32).max)
    if beyond.any():  # would read as infinite, that is, as a missing joint
        raise InputFileError(
            f"{where}: the value {wide[beyond][0]:g} lies beyond float32's range (3.4e38); keypoints are pixel coordinates"
        )
    arr = wide.astype(np.float32)
    if arr.ndim != 1 or arr.size == 0 or arr.size % 3:
        raise ShapeError(
            f"{where}: expected a flat list of x, y, confidence triplets; got {arr.size} values"
            + (" (not a multiple of 3)" if arr.ndim == 1 and arr.size % 3 else "")
        )
    arr = arr.reshape(-1, 3)
    if not bool(np.isfinite(arr[:, 2]).all()):
        raise NonFiniteError(f"{where}: a confidence is NaN or infinite; use 0 for an undetected joint")
    return arr


def _stack(
    people: list[list[np.ndarray]], n: int, scores: list[list[float]] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Per-frame lists of ``(N, 3)`` arrays -> padded keypoints, confidence, counts, scores."""
    frames = len(people)
    counts = np.array([len(p) for p in people], dtype=np.int64)
    p_max = int(counts.max()) if frames else 0
    xy = np.zeros((frames, p_max, n, 2), dtype=np.float32)
    conf = np.zeros((frames, p_max, n), dtype=np.float32)
    sc = np.zeros((frames, p_max), dtype=np.float32) if scores is not None else None
    for f, persons in enumerate(people):
        for p, t in enumerate(persons):
            xy[f, p] = t[:, :2]
            conf[f, p] = t[:, 2]
            if sc is not None:
                sc[f, p] = scores[f][p]
    xy, conf = _clean(xy, conf)
    return xy, conf, counts, sc


def _check_some_joint(conf: np.ndarray, counts: np.ndarray, source: str) -> None:
    if counts.sum() > 0 and not bool((conf > 0).any()):
        raise KeypointValueError(
            f"{source}: every joint of every person is missing (confidence 0); there is nothing to lift."
        )
