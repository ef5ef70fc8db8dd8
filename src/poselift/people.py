"""People over a sequence: detections, tracks, whom to lift and their 2D landmarks.

:func:`find_people` runs any detector over the frames of a sequence, in two passes for a
two-stage detector (:class:`poselift.detectors.MediaPipeDetector`: boxes of everyone, then
the landmarks of the people chosen), tracks everyone (:class:`poselift.tracking.PeopleTracker`),
chooses whom to lift (:func:`poselift.tracking.choose_people`) and cleans their 2D (left/right
swaps, a limb's short excursion onto someone else, an offline lag-free smoothing).

A detector of one's own (tests, another model) is a callable ``frame -> landmarks`` giving
``None``, one person ``(33, 3)`` or several ``(people, 33, 3)``; :class:`as_two_stage` wraps
it so that it is used like the MediaPipe one.
"""

from __future__ import annotations

import bisect
from typing import Any, Callable, NamedTuple

import numpy as np

from ._arrays import to_numpy
from .errors import InvalidArgumentError
from .tracking import boxes_from_keypoints

__all__ = ["DETECTOR_LAYOUT", "Detections", "People", "as_two_stage", "checked", "find_people"]

DETECTOR_LAYOUT = "mediapipe33"

Detector = Callable[..., Any]


class Detections(NamedTuple):
    """The people found in one frame.

    Attributes:
        boxes: ``(n, 4)`` ``x0, y0, x1, y1`` in pixels.
        keypoints: ``(n, K, 3)`` points the tracker matches on (x, y, confidence).
        landmarks: ``(n, 33, 3)`` when the detector gives the landmarks at once, else ``None``.
    """

    boxes: np.ndarray
    keypoints: np.ndarray
    landmarks: np.ndarray | None = None


def checked(detector: Detector) -> Callable[[np.ndarray], np.ndarray]:
    """``detector`` (``frame -> None | (33, 3) | (people, 33, 3)``) whose every result is
    checked and given as ``(people, 33, 3)`` float64 (``people`` may be 0)."""

    def call(frame: np.ndarray) -> np.ndarray:
        kp = detector(frame)
        if kp is None:
            return np.zeros((0, 33, 3))
        if isinstance(kp, (list, tuple)):
            kp = np.stack([to_numpy(k, "the detector's result") for k in kp]) if len(kp) else np.zeros((0, 33, 3))
        arr = to_numpy(kp, "the detector's result").astype(np.float64)
        if arr.ndim not in (2, 3) or arr.shape[-2:] != (33, 3):
            raise InvalidArgumentError(
                f"the detector returned shape {arr.shape}; it must return None or (33, 3) for one person, or "
                f"(people, 33, 3): the {DETECTOR_LAYOUT} landmarks as x, y in pixels and visibility."
            )
        return arr[None] if arr.ndim == 2 else arr

    call.close = getattr(detector, "close", lambda: None)  # type: ignore[attr-defined]
    return call


class as_two_stage:
    """A one-stage detector (``frame -> landmarks``, see :func:`checked`) used like
    :class:`MediaPipeDetector`: :meth:`find` gives the landmarks with the boxes."""

    def __init__(self, detector: Detector):
        self._detector = checked(detector)

    def find(self, frame: np.ndarray, index: int) -> Detections:
        kp = self._detector(frame)
        return Detections(boxes_from_keypoints(kp), kp, kp)

    def close(self) -> None:
        self._detector.close()  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- people over a sequence
#: Left/right pairs of ``mediapipe33`` that swap together when a detector takes a person's back for the front.
SIDE_GROUPS = {
    "arms": ("shoulder", "elbow", "wrist", "pinky", "index", "thumb"),
    "legs": ("hip", "knee", "ankle", "heel", "foot_index"),
    "face": ("eye_inner", "eye", "eye_outer", "ear", "mouth"),
}
#: One-Euro parameters of the offline smoothing of the landmarks, in torso lengths (see :func:`find_people`).
SMOOTH_2D = {"min_cutoff": 1.0, "beta": 3.0}
#: Limb chains of ``mediapipe33`` (each side) mended as a whole when they make an excursion.
LIMB_CHAINS = (("elbow", "wrist", "pinky", "index", "thumb"), ("knee", "ankle", "heel", "foot_index"))


class People(NamedTuple):
    """Who was found in a sequence, and the landmarks of the people chosen.

    Attributes:
        landmarks: ``(frames, people, 33, 3)`` pixels and visibility of the chosen people
            (NaN where a person was not found), in the order of ``ids``.
        ids: the chosen people's ids (see :class:`poselift.tracking.Track`).
        tracks: everyone followed, the chosen and the others.
        swapped: ``(frames, people)`` frames whose left and right were swapped back by
            :func:`poselift.tracking.consistent_sides` (some body part's).
        mended: ``(frames, people)`` frames where a limb's excursion was mended
            (:func:`poselift.tracking.repair_excursions`).
    """

    landmarks: np.ndarray
    ids: list[int]
    tracks: list[Any]
    swapped: np.ndarray
    mended: np.ndarray


def find_people(
    frames: Any, detector: Any, person: str | int = "main", *, tracker: Any = None, fix_sides: bool = True,
    mend: float | None = 0.12, smooth: dict[str, float] | None = SMOOTH_2D, detect_rate: float = 25.0,
    timings: dict[str, float] | None = None, progress: Any = None,
) -> People:
    """Detect and track everyone in ``frames`` (a :class:`poselift.frames.FrameSource`), choose
    whom to lift (:func:`poselift.tracking.choose_people`) and find their landmarks.

    Then, per chosen person, ``fix_sides`` undoes left/right swaps of a few frames
    (:func:`poselift.tracking.consistent_sides`, arms, legs and face on their own) and
    ``mend`` mends limb excursions shorter than this many seconds
    (:func:`poselift.tracking.repair_excursions`, a jump of more than 0.6 torso lengths out
    and back; ``None``: never), and ``smooth`` gives the One-Euro parameters with which the
    landmarks are smoothed offline, without lag (:func:`poselift.smooth.smooth_sequence`, in
    units of the person's median torso length; frames whose torso is more than twice as long
    or short, a collapsed or partial detection, are left as they are; ``None``: not
    smoothed). A frame-to-frame
    move of more than half a torso length at 50 frames/s would be a wrist at well over 10 m/s:
    what is left of such jumps after the two repairs is the landmark model's noise.

    ``detector``: a two-stage detector (:class:`MediaPipeDetector`, or anything with ``find``
    and ``landmarks``), or a one-stage one wrapped by :class:`as_two_stage`. A two-stage
    detector sees the frames twice: first to find and track everyone (``find`` on about
    ``detect_rate`` frames per second: every second frame of a 50 fps video), then to follow
    the chosen people's landmarks in every frame from the frame their track starts, for as
    long as the landmark model finds them (from a fresh detection of their track, or one
    where they were last seen, after a loss).
    """
    import time

    from .skeleton import get_skeleton
    from .tracking import PeopleTracker, choose_people, consistent_sides, repair_excursions

    timings = timings if timings is not None else {}
    tracker = tracker if tracker is not None else PeopleTracker()
    found: list[Detections] = []
    t_decode = t_detect = 0.0
    it = iter(frames)
    t0 = time.perf_counter()
    one_stage = isinstance(detector, as_two_stage)
    stride = 1 if one_stage else max(1, int(round(float(getattr(frames, "fps", 30.0)) / detect_rate)))
    for index, (_, frame) in enumerate(it):
        t1 = time.perf_counter()
        det = detector.find(frame, index // stride) if index % stride == 0 else _NOBODY
        t2 = time.perf_counter()
        tracker.update(det.boxes, det.landmarks)
        found.append(det)
        t_decode += t1 - t0
        t_detect += t2 - t1
        if progress is not None:
            progress.update(1)
        t0 = time.perf_counter()
    tracks = tracker.tracks()
    ids = choose_people(tracks, person)
    F = len(found)
    marks = np.full((F, len(ids), 33, 3), np.nan)
    chosen = [tracks[i] for i in ids]
    if one_stage:  # the landmarks came with the detections
        for p, track in enumerate(chosen):
            for f, d in zip(track.frames, track.detections):
                marks[f, p] = found[f].landmarks[d]
    elif chosen:
        yielded: set[int] = set()  # people whose landmarks went onto someone else followed: until their own detection
        seen = [-1] * len(chosen)  # the frame each person was last seen in
        t0 = time.perf_counter()
        for index, (_, frame) in enumerate(frames):
            t1 = time.perf_counter()
            for p, track in enumerate(chosen):
                if index < track.first:
                    continue
                d = track.detection_at(index)
                own = None if d is None else found[index].keypoints[d]
                last = index - index % stride  # the latest frame with detections
                mine = track.detection_at(last)
                others = np.delete(found[last].keypoints, [mine] if mine is not None else [], axis=0)
                near = None if p in yielded or seen[p] < 0 else _near_last(found[index], marks[seen[p], p])
                kp = detector.landmarks(frame, index, track.id, own, near, others)
                if kp is not None:
                    marks[index, p] = kp
                    if own is not None:
                        yielded.discard(p)
            yielded |= _duplicates(marks[index], chosen, index)
            for p in yielded:
                if np.isfinite(marks[index, p, 0, 0]):
                    marks[index, p] = np.nan
                    getattr(detector, "forget", lambda person: None)(chosen[p].id)
            for p in range(len(chosen)):
                if np.isfinite(marks[index, p, 0, 0]):
                    seen[p] = index
            t2 = time.perf_counter()
            t_decode += t1 - t0
            t_detect += t2 - t1
            if progress is not None:
                progress.update(1)
            t0 = time.perf_counter()
    swapped = np.zeros((F, len(ids)), dtype=bool)
    mended = np.zeros((F, len(ids)), dtype=bool)
    if (fix_sides or mend or smooth) and F > 1:
        t0 = time.perf_counter()
        skel = get_skeleton(DETECTOR_LAYOUT)
        for p in range(len(ids)):
            kp = marks[:, p]
            torso = _torso(kp)
            for names in SIDE_GROUPS.values() if fix_sides else ():
                pairs = [(skel.index(f"left_{n}"), skel.index(f"right_{n}")) for n in names]
                swap = consistent_sides(kp, pairs, np.nan_to_num(torso, nan=1.0))
                if swap.any():
                    idx = np.array(pairs)
                    rows = np.flatnonzero(swap)
                    kp[np.ix_(rows, idx[:, 0])], kp[np.ix_(rows, idx[:, 1])] = kp[np.ix_(rows, idx[:, 1])], kp[np.ix_(rows, idx[:, 0])]
                    swapped[:, p] |= swap
            if mend:
                fps = float(getattr(frames, "fps", 30.0))
                chains = [[skel.index(f"{side}_{n}") for n in chain] for side in ("left", "right") for chain in LIMB_CHAINS]
                anchor = skel.root_point(kp[..., :2])
                frames_max = max(1, int(round(mend * fps)))
                mended[:, p] = repair_excursions(kp, chains, anchor, torso, threshold=0.6, max_frames=frames_max).any(axis=1)
            if smooth and np.isfinite(torso).any():
                from .smooth import smooth_sequence

                unit = float(np.nanmedian(torso))
                usual = np.abs(np.log(np.maximum(torso, 1e-9) / unit)) < np.log(2.0)  # not a collapsed or partial detection
                xy = np.where(usual[:, None, None], kp[..., :2] / unit, np.nan)
                done = smooth_sequence(xy, float(getattr(frames, "fps", 30.0)), mode="offline", **smooth) * unit
                kp[usual, :, :2] = done[usual]
        timings["track"] = timings.get("track", 0.0) + time.perf_counter() - t0
    timings["decode"] = timings.get("decode", 0.0) + t_decode
    timings["detect"] = timings.get("detect", 0.0) + t_detect
    return People(marks, ids, tracks, swapped, mended)


_NOBODY = Detections(np.zeros((0, 4)), np.zeros((0, 4, 3)))


def _hips(points: np.ndarray) -> np.ndarray:
    """The root point (the hips' centre) in the image of ``(..., 33, 3)`` landmarks: ``(..., 2)``."""
    from .skeleton import get_skeleton

    return get_skeleton(DETECTOR_LAYOUT).root_point(points[..., :2])


def _torso(points: np.ndarray) -> np.ndarray:
    """The torso length in the image (shoulders' centre to hips' centre) of ``(..., 33, 3)``
    landmarks: ``(...)``, NaN where a joint is missing."""
    from .skeleton import get_skeleton

    skel = get_skeleton(DETECTOR_LAYOUT)
    shoulders = [skel.index("left_shoulder"), skel.index("right_shoulder")]
    return np.linalg.norm(points[..., shoulders, :2].mean(axis=-2) - _hips(points), axis=-1)


def _duplicates(marks: np.ndarray, chosen: list[Any], index: int, near: float = 0.3) -> set[int]:
    """People (slots of ``marks`` ``(P, 33, 3)``) whose landmarks in frame ``index`` lie on
    someone else's (hip centres within ``near`` torso lengths): of each such pair, the one
    whose own track was detected longer ago (a follower that drifted onto someone else)."""
    hips, torso = _hips(marks), _torso(marks)
    out: set[int] = set()
    for a in range(len(chosen)):
        for b in range(a + 1, len(chosen)):
            if np.linalg.norm(hips[a] - hips[b]) < near * min(torso[a], torso[b]):  # NaN: False
                out.add(b if _since(chosen[b], index) >= _since(chosen[a], index) else a)
    return out


def _since(track: Any, index: int) -> int:
    """Frames between ``index`` and the track's nearest detection."""
    k = bisect.bisect_left(track.frames, index)
    return min(abs(track.frames[j] - index) for j in (k - 1, k) if 0 <= j < len(track.frames))


def _near_last(found: Detections, last: np.ndarray, reach: float = 0.5) -> np.ndarray | None:
    """The detection in ``found`` nearest to where a person was last seen (``last``: their
    ``(33, 3)`` landmarks then), its hip centre within ``reach`` body radii of their hips, or None."""
    if len(found.keypoints) == 0:
        return None
    hips = _hips(last)
    points = found.keypoints
    dist = np.linalg.norm(points[:, 0, :2] - hips, axis=-1)
    radius = np.maximum(np.linalg.norm(points[:, 1, :2] - points[:, 0, :2], axis=-1), 1.0)
    k = int(np.argmin(dist / radius))
    return points[k] if dist[k] <= reach * radius[k] else None
