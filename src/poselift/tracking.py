"""Follow several people from frame to frame, whatever found them (numpy only).

The tracker sees each frame's detections as boxes ``(n, 4)`` (``x0, y0, x1, y1`` in
pixels), optionally with keypoints ``(n, K, 3)`` (``x, y, confidence``; any layout, the
same for every detection). It predicts where each live track is now (constant velocity),
scores every track-detection pair by their distance in body heights (keypoints when both
have enough confident ones, else box centres) plus their difference in size, and assigns
them with the Hungarian method so that the total cost is least; a pair costing more than
``max_cost`` is never made. A detection left over starts a new track; a track without a
detection survives ``max_missed`` frames and is then closed.

:func:`choose_people` picks whom to lift from the finished tracks, and
:func:`consistent_sides` removes left/right swaps that last a few frames from a
keypoint sequence (a detector that mistakes the person's front for the back).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .errors import InvalidArgumentError

__all__ = ["Track", "PeopleTracker", "assign", "choose_people", "consistent_sides", "boxes_from_keypoints"]

#: Keypoints below this confidence are not used for matching or boxes.
MIN_CONFIDENCE = 0.3


def assign(cost: np.ndarray, max_cost: float) -> list[tuple[int, int]]:
    """Rows matched to columns with the least total cost; pairs costing more than ``max_cost``
    are left unmatched (each unmatched row or column counts ``max_cost``).

    ``cost`` is ``(rows, cols)``; NaN or inf entries are never matched. Returns ``(row, col)``
    pairs sorted by row.
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2:
        raise InvalidArgumentError(f"cost must be a (rows, cols) matrix; got shape {cost.shape}.")
    n, m = cost.shape
    if n == 0 or m == 0:
        return []
    big = max_cost * (n + m + 1) + 1.0  # more than any assignment that uses only allowed pairs
    c = np.where(np.isfinite(cost) & (cost <= max_cost), cost, big)
    # square problem: row i may take its own "unmatched" column m + i, column j its "unmatched" row n + j
    full = np.full((n + m, n + m), big)
    full[:n, :m] = c
    full[:n, m:][np.arange(n), np.arange(n)] = max_cost
    full[n:, :m][np.arange(m), np.arange(m)] = max_cost
    full[n:, m:] = 0.0
    rows = _hungarian(full)
    return [(i, int(rows[i])) for i in range(n) if rows[i] < m and c[i, rows[i]] < big]


def _hungarian(c: np.ndarray) -> np.ndarray:
    """Column of each row in a least-cost perfect matching of the square matrix ``c``
    (shortest augmenting paths with row and column potentials, O(n^3))."""
    n = c.shape[0]
    u, v = np.zeros(n + 1), np.zeros(n + 1)
    match = np.zeros(n + 1, dtype=np.int64)  # match[j]: row (1-based) holding column j; 0 = free
    way = np.zeros(n + 1, dtype=np.int64)
    for i in range(1, n + 1):
        match[0], j0 = i, 0
        minv = np.full(n + 1, np.inf)
        used = np.zeros(n + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = match[j0]
            free = ~used[1:]
            reduced = c[i0 - 1] - u[i0] - v[1:]
            better = free & (reduced < minv[1:])
            minv[1:][better] = reduced[better]
            way[1:][better] = j0
            cand = np.where(free, minv[1:], np.inf)
            j1 = int(np.argmin(cand)) + 1
            delta = cand[j1 - 1]
            u[match[used]] += delta
            v[used] -= delta
            minv[1:][free] -= delta
            j0 = j1
            if match[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            match[j0] = match[j1]
            j0 = j1
    rows = np.zeros(n, dtype=np.int64)
    for j in range(1, n + 1):
        rows[match[j] - 1] = j - 1
    return rows


def boxes_from_keypoints(keypoints: np.ndarray) -> np.ndarray:
    """``(n, 4)`` boxes around each person's confident keypoints ``(n, K, 3)`` (all of them when
    fewer than two are confident)."""
    kp = np.asarray(keypoints, dtype=np.float64)
    out = np.empty((len(kp), 4))
    for i, k in enumerate(kp):
        pts = k[k[:, 2] >= MIN_CONFIDENCE, :2] if (k[:, 2] >= MIN_CONFIDENCE).sum() >= 2 else k[:, :2]
        out[i] = [*pts.min(axis=0), *pts.max(axis=0)]
    return out


@dataclass
class Track:
    """One person followed over frames.

    Attributes:
        id: the person's number, in order of first appearance (0, 1, ...).
        frames: the frames the person was detected in, ascending.
        detections: for each of ``frames``, the index of the person's detection in that frame.
        boxes: ``(len(frames), 4)`` their boxes.
    """

    id: int
    frames: list[int] = field(default_factory=list)
    detections: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    _keypoints: np.ndarray | None = field(default=None, repr=False)
    _velocity: np.ndarray = field(default_factory=lambda: np.zeros(2), repr=False)

    @property
    def first(self) -> int:
        return self.frames[0]

    @property
    def last(self) -> int:
        return self.frames[-1]

    @property
    def span(self) -> int:
        """Frames from the first detection to the last, both included."""
        return self.last - self.first + 1

    @property
    def height(self) -> float:
        """Median box height in pixels."""
        return float(np.median([b[3] - b[1] for b in self.boxes]))

    def detection_at(self, frame: int) -> int | None:
        """Index of the person's detection in ``frame``, or None."""
        k = bisect.bisect_left(self.frames, frame)
        return self.detections[k] if k < len(self.frames) and self.frames[k] == frame else None


class PeopleTracker:
    """Give every detection a person id, stable over frames (see the module's description).

    Args:
        max_missed: frames a track survives without a detection.
        max_cost: the most a track-detection pair may cost: the distance from the track's
            predicted position in body heights (the track's box height), divided by the square
            root of the frames since the track was last seen, plus half the absolute log ratio
            of their heights.
        min_frames: tracks detected in fewer frames are dropped by :meth:`tracks` (a false
            detection now and then).
        max_extrapolate: a missed track's predicted position moves on with its velocity for
            at most this many frames, then waits there.
    """

    def __init__(self, *, max_missed: int = 15, max_cost: float = 0.3, min_frames: int = 3, max_extrapolate: int = 5):
        if max_missed < 0 or min_frames < 1 or not max_cost > 0:
            raise InvalidArgumentError(
                f"max_missed must be >= 0, min_frames >= 1 and max_cost > 0; got {max_missed}, {min_frames}, {max_cost}."
            )
        self.max_missed = max_missed
        self.max_cost = max_cost
        self.min_frames = min_frames
        self.max_extrapolate = max_extrapolate
        self._all: list[Track] = []
        self._frame = -1

    def update(self, boxes: np.ndarray, keypoints: np.ndarray | None = None) -> np.ndarray:
        """Assign the detections of the next frame; returns one provisional track number per
        detection (final ids come from :meth:`tracks`)."""
        self._frame += 1
        f = self._frame
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if keypoints is not None:
            keypoints = np.asarray(keypoints, dtype=np.float64)
            if keypoints.ndim != 3 or len(keypoints) != len(boxes) or keypoints.shape[-1] != 3:
                raise InvalidArgumentError(
                    f"keypoints must have shape (detections, K, 3) with one row per box; got {keypoints.shape} for {len(boxes)} boxes."
                )
        live = [t for t in self._all if f - t.last <= self.max_missed + 1]
        cost = np.array([[self._cost(t, f, boxes[d], None if keypoints is None else keypoints[d]) for d in range(len(boxes))]
                         for t in live]).reshape(len(live), len(boxes))  # fmt: skip
        out = np.full(len(boxes), -1, dtype=np.int64)
        for ti, d in assign(cost, self.max_cost):
            self._extend(live[ti], f, d, boxes[d], None if keypoints is None else keypoints[d])
            out[d] = live[ti].id
        for d in np.flatnonzero(out < 0):
            track = Track(id=len(self._all))
            self._all.append(track)
            self._extend(track, f, int(d), boxes[d], None if keypoints is None else keypoints[d])
            out[d] = track.id
        return out

    def tracks(self) -> list[Track]:
        """The tracks detected in at least ``min_frames`` frames, numbered 0, 1, ... in order
        of first appearance."""
        kept = [t for t in self._all if len(t.frames) >= self.min_frames]
        return [Track(id=i, frames=list(t.frames), detections=list(t.detections), boxes=list(t.boxes)) for i, t in enumerate(kept)]

    def _extend(self, track: Track, f: int, d: int, box: np.ndarray, kp: np.ndarray | None) -> None:
        if track.frames:  # velocity in pixels per frame, averaged (detections jitter)
            step = (_centre(box) - _centre(track.boxes[-1])) / (f - track.last)
            track._velocity = step if len(track.frames) == 1 else 0.7 * track._velocity + 0.3 * step
        track.frames.append(f)
        track.detections.append(d)
        track.boxes.append(box.copy())
        track._keypoints = None if kp is None else kp.copy()

    def _cost(self, track: Track, f: int, box: np.ndarray, kp: np.ndarray | None) -> float:
        last = track.boxes[-1]
        height = max(last[3] - last[1], 1.0)
        shift = track._velocity * min(f - track.last, self.max_extrapolate)
        dist = None
        if kp is not None and track._keypoints is not None and kp.shape == track._keypoints.shape:
            both = (kp[:, 2] >= MIN_CONFIDENCE) & (track._keypoints[:, 2] >= MIN_CONFIDENCE)
            if both.sum() >= 3:
                dist = float(np.linalg.norm(kp[both, :2] - (track._keypoints[both, :2] + shift), axis=-1).mean())
        if dist is None:
            dist = float(np.linalg.norm(_centre(box) - (_centre(last) + shift)))
        size = abs(np.log(max(box[3] - box[1], 1.0) / height))
        return dist / height / np.sqrt(f - track.last) + 0.5 * size


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def choose_people(tracks: Sequence[Track], person: str | int = "main", *, near: float = 0.9) -> list[int]:
    """Ids of the people to lift.

    ``"main"``: the person visible longest (detected in the most frames), then the largest
    (median box height) among those detected in at least ``near`` times as many frames;
    ``"all"``: everyone, by id; an ``int``: that person. Raises
    :class:`~poselift.errors.InvalidArgumentError` for an id nobody has.
    """
    if isinstance(person, (int, np.integer)) and not isinstance(person, bool):
        ids = [t.id for t in tracks]
        if int(person) not in ids:
            raise InvalidArgumentError(
                f"person {person} was not found; the people found are {', '.join(map(str, ids)) or 'none'}: "
                "pass one of them, 'main' or 'all'."
            )
        return [int(person)]
    if person == "all":
        return [t.id for t in tracks]
    if person != "main":
        raise InvalidArgumentError(f"person must be 'main', 'all' or a person id (an integer); got {person!r}.")
    if not tracks:
        return []
    longest = max(len(t.frames) for t in tracks)
    candidates = [t for t in tracks if len(t.frames) >= near * longest]
    return [max(candidates, key=lambda t: (t.height, len(t.frames))).id]


def consistent_sides(
    keypoints: np.ndarray, pairs: Sequence[tuple[int, int]], scale: np.ndarray, *, penalty: float = 0.15
) -> np.ndarray:
    """Which frames to swap the ``pairs`` (left, right) of, so the keypoints move least.

    A detector that takes a person's back for the front swaps left and right for a few
    frames. Over a sequence ``keypoints`` ``(F, K, 3)`` (NaN rows: nobody) this picks, per
    frame, the labelling as detected or swapped that minimises the summed mean displacement
    of the paired joints between consecutive frames (in units of ``scale`` ``(F,)``, e.g.
    torso lengths), plus ``penalty`` for every swapped frame (dynamic programming over the
    sequence). A real turn moves the joints gradually and keeps the detector's labels; a
    swap that lasts many frames is kept too, as the penalty then outweighs the two jumps.

    Returns ``(F,)`` bool: frames whose pairs should be swapped.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    idx = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    F = len(kp)
    swapped = np.zeros(F, dtype=bool)
    if F == 0 or idx.size == 0:
        return swapped
    left, right = idx[:, 0], idx[:, 1]
    joints = np.concatenate([left, right])
    views = np.stack([kp[:, joints, :2], kp[:, np.concatenate([right, left]), :2]], axis=1)  # (F, 2, J, 2)
    seen = np.isfinite(kp[:, joints, :2]).all(axis=(1, 2))
    unary = np.array([0.0, penalty])
    f = 0
    while f < F:  # each run of consecutive frames with the person, on its own
        if not seen[f]:
            f += 1
            continue
        end = f
        while end + 1 < F and seen[end + 1]:
            end += 1
        best = unary.copy()
        back = np.zeros((end - f + 1, 2), dtype=np.int64)
        for t in range(f + 1, end + 1):
            s = max(float(scale[t - 1]), 1e-6)
            step = np.linalg.norm(views[t][None] - views[t - 1][:, None], axis=-1).mean(axis=-1) / s  # (prev, cur)
            total = best[:, None] + step
            back[t - f] = np.argmin(total, axis=0)
            best = total.min(axis=0) + unary
        state = int(np.argmin(best))
        for t in range(end, f - 1, -1):
            swapped[t] = bool(state)
            state = int(back[t - f, state])
        f = end + 1
    return swapped


def repair_excursions(
    points: np.ndarray, chains: Sequence[Sequence[int]], anchor: np.ndarray, scale: np.ndarray, *,
    threshold: float = 0.5, max_frames: int = 30,
) -> np.ndarray:
    """Find and mend a limb's short excursions onto something else (a neighbour's arm or leg).

    ``points`` ``(F, K, 2)`` (NaN rows: nobody); distances are in units of ``scale`` ``(F,)``
    (torso lengths). An excursion starts where a chain (e.g. elbow, wrist and hand points)
    jumps by more than
    ``threshold`` in one frame and ends within ``max_frames`` with another abrupt move (more
    than half ``threshold``) that brings it back nearest to where it left relative to
    ``anchor`` ``(F, 2)`` (the hip centre; closer than half the first jump and than
    ``threshold``); the frames in between get the chain interpolated linearly, relative to the
    anchor, between the frames before and after. Excursions in frames whose ``scale`` differs
    by more than a factor 1.5 from the frame before are left alone (a collapsed or partial
    detection, not a borrowed limb). Returns ``(F, K)`` bool: the points replaced (``points`` is
    changed in place).
    """
    pts = points
    F = len(pts)
    repaired = np.zeros(pts.shape[:2], dtype=bool)
    s = np.maximum(np.nan_to_num(np.asarray(scale, dtype=np.float64), nan=1.0), 1e-6)
    for chain in chains:
        idx = np.asarray(chain, dtype=np.int64)
        absolute = pts[:, idx, :2]  # a copy, refreshed where a mend changes the points
        rel = absolute - anchor[:, None, :]
        t = 1
        while t < F:
            out = np.linalg.norm(absolute[t] - absolute[t - 1], axis=-1).max() / s[t - 1]
            if not np.isfinite(out) or out <= threshold:
                t += 1
                continue
            best, end = np.inf, None
            for t2 in range(t + 1, min(F, t + max_frames + 1)):
                if not np.isfinite(rel[t2]).all():
                    break
                back = np.linalg.norm(rel[t2] - rel[t - 1], axis=-1).max() / s[t - 1]
                step = np.linalg.norm(absolute[t2] - absolute[t2 - 1], axis=-1).max() / s[t2 - 1]
                if step > 0.5 * threshold and back < best:  # an abrupt return
                    best, end = back, t2
            sane = end is not None and (np.abs(np.log(s[t:end] / s[t - 1])) < np.log(1.5)).all()  # the torso keeps its size
            if not sane or best >= min(0.5 * out, threshold):
                t += 1
                continue
            w = ((np.arange(t, end) - (t - 1)) / (end - (t - 1)))[:, None, None]
            mended = (1 - w) * rel[t - 1] + w * rel[end] + anchor[t:end, None, :]
            pts[t:end, idx[:, None], np.arange(2)] = mended
            absolute[t:end] = pts[t:end, idx, :2]
            rel[t:end] = absolute[t:end] - anchor[t:end, None, :]
            repaired[t:end, idx] = True
            t = end + 1
    return repaired
