"""Read 2D keypoint files; write lifted 3D poses.

Every reader returns a :class:`KeypointData`: keypoints of every person in every frame,
padded to the largest number of people in a frame. Formats read by :func:`read_keypoints`:

* **OpenPose JSON** -- one file per frame (``*_keypoints.json``), or a folder of them read
  in natural name order (``frame2`` before ``frame10``). ``people[i]["pose_keypoints_2d"]``
  is a flat list of ``x, y, confidence`` triplets; 25 triplets is BODY_25
  (``openpose_body25``), 18 is COCO-18 (``openpose_coco18``), 33 is MediaPipe Pose
  (``mediapipe33``, as ``poselift video`` writes it). An undetected joint is
  ``0, 0, 0``. In a folder, a file that cannot be read is skipped with a warning and listed
  in :attr:`KeypointData.errors`; the other frames are kept.
* **COCO keypoint annotations** -- ``{"images": [...], "annotations": [{"image_id",
  "keypoints": [x, y, v, ...]}, ...]}``. One frame per image (images without people
  included); confidence is 1 for a labelled joint (``v`` = 1 or 2) and 0 for an unlabelled
  one (``v`` = 0). Annotations without any labelled joint (crowd regions) are dropped.
* **COCO results** -- ``[{"image_id", "keypoints": [x, y, score, ...], "score"}, ...]``,
  the output format of most COCO-trained detectors. One frame per image id, sorted;
  confidence is the per-joint score, :attr:`KeypointData.scores` the per-person score.
* **.npy** -- an array ``(N, C)`` (one pose), ``(frames, N, C)`` or
  ``(frames, people, N, C)`` with ``C`` = 2 (x, y) or 3 (x, y, confidence).
* **.npz** -- key ``keypoints`` as for ``.npy``; optional ``confidence`` (the keypoints'
  shape without the last axis, only with ``C`` = 2), ``frames`` (names) and ``layout``.

In arrays without confidence, a joint with a NaN or infinite coordinate is missing
(confidence 0); every other joint has confidence 1.

:func:`write_poses` writes lifted 3D poses to ``.json`` (readable: per frame, per person,
joint name -> ``[x, y, z]``) or ``.npz``, with the layout, units and axes.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ._arrays import to_bool, to_numpy
from ._files import atomic_path
from .errors import EmptyInputError, KeypointValueError, NonFiniteError, PoseliftError, ShapeError
from .skeleton import SKELETONS, Skeleton, canonical_layout, get_skeleton, guess_layouts

__all__ = [
    "KeypointData",
    "read_keypoints",
    "read_openpose",
    "read_coco",
    "write_poses",
    "POSES_FORMAT",
]

logger = logging.getLogger(__name__)

#: ``format`` field of the JSON files :func:`write_poses` writes.
POSES_FORMAT = "poselift.poses3d"

_OPENPOSE_LAYOUTS = {25: "openpose_body25", 18: "openpose_coco18", 33: "mediapipe33"}
# Lists of numbers or of joint names are printed on one line each.
# (A raw newline cannot occur inside a JSON string, so string values are never touched.)
_NUMBER_LIST = re.compile(r"\[\n\s*([-+0-9.eE,\s]+?)\n\s*\]")
_NAME_LIST = re.compile(r'\[\n\s*("\w+"(?:,\n\s*"\w+")*)\n\s*\]')
_AXES = "camera frame, OpenCV axes: x right, y down, z away from the camera"


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
            raise PoseliftError(
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


def _natural_key(name: str) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _load_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise PoseliftError(f"{path}: not a UTF-8 text file ({e.reason})") from None
    except IsADirectoryError:
        raise PoseliftError(f"{path} is a folder, not a JSON file") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise PoseliftError(f"{path}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise PoseliftError(f"{path}: JSON nested too deeply to be a keypoint file") from None


def _triplets(values: Any, where: str) -> np.ndarray:
    """A flat ``[x, y, c, x, y, c, ...]`` list -> ``(N, 3)`` float32."""
    if not isinstance(values, list):
        raise PoseliftError(f"{where}: expected a list of numbers, got {type(values).__name__}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        bad = next(v for v in values if not (isinstance(v, (int, float)) and not isinstance(v, bool)))
        raise PoseliftError(f"{where}: expected a flat list of numbers; found {json.dumps(bad)[:40]}")
    with np.errstate(over="ignore"):
        arr = np.asarray(values, dtype=np.float32)
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


# --------------------------------------------------------------------------- readers
def read_keypoints(path: str | os.PathLike, *, layout: str | None = None) -> KeypointData:
    """Read a keypoint file or an OpenPose folder; the format follows from the path and content.

    Args:
        path: an OpenPose JSON file or folder, a COCO annotation or result ``.json``, a
            ``.npy`` or a ``.npz`` file (see the module documentation).
        layout: joint layout of the file (``"body25"``, ``"coco18"``, ``"coco17"``,
            ``"mpii16"``, ``"mediapipe33"``, ``"h36m17"``, ``"lsp14"`` or a full layout name); by default it
            follows from the file format and the joint count.
    """
    path = Path(path)
    if path.is_dir():
        return read_openpose(path, layout=layout)
    if not path.exists():
        raise FileNotFoundError(f"keypoint file {path.resolve()} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".json":
        obj = _load_json(path)
        if isinstance(obj, dict) and "people" in obj:
            return read_openpose(path, layout=layout)
        if (isinstance(obj, dict) and "annotations" in obj) or isinstance(obj, list):
            return _read_coco_obj(obj, path, layout)
        if isinstance(obj, dict) and obj.get("format") == POSES_FORMAT:
            raise PoseliftError(f"{path} holds lifted 3D poses written by poselift, not 2D keypoints")
        raise PoseliftError(
            f"{path}: unrecognised JSON; expected an OpenPose frame (with 'people'), a COCO annotation "
            "file (with 'annotations') or a COCO result list"
        )
    if suffix in (".npy", ".npz"):
        return _read_numpy(path, layout)
    raise PoseliftError(
        f"{path}: unsupported file type {path.suffix!r}; poselift reads .json (OpenPose, COCO), "
        ".npy, .npz and OpenPose folders"
    )


def read_openpose(path: str | os.PathLike, *, layout: str | None = None) -> KeypointData:
    """Read OpenPose JSON: one frame file, or a folder of frame files in natural name order.

    In a folder, unreadable files (malformed JSON, wrong joint count, ...) are skipped with
    a logged warning and listed in ``errors``; if no file can be read, the first error is
    raised. Frames without people have ``num_people`` 0.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(
            (p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".json" and not p.name.startswith(".")),
            key=lambda p: _natural_key(p.name),
        )
        if not files:
            raise EmptyInputError(f"{path.resolve()} holds no .json files; expected OpenPose frame files")
    elif path.is_file():
        files = [path]
    else:
        raise FileNotFoundError(f"OpenPose path {path.resolve()} does not exist")

    name = canonical_layout(layout) if layout is not None else None
    n = SKELETONS[name].num_joints if name is not None else None
    people: list[list[np.ndarray]] = []
    frames: list[str] = []
    errors: dict[str, str] = {}
    first_error: PoseliftError | None = None
    rates: set[float | None] = set()
    for file in files:
        try:
            obj = _load_json(file)
            persons = _openpose_frame(obj, file)
            sizes = sorted({len(t) for t in persons})
            if len(sizes) > 1:
                raise ShapeError(f"{file}: people have different joint counts {sizes}")
            if sizes and n is None:
                name, n = _layout_for_openpose(sizes[0], file), sizes[0]
            elif sizes and sizes[0] != n:
                raise ShapeError(
                    f"{file}: people have {sizes[0]} joints but "
                    f"{'the layout ' + repr(name) if layout else 'earlier frames'} {n}. {_count_hint(sizes[0])}"
                )
        except PoseliftError as e:
            if len(files) == 1:
                raise
            first_error = first_error or e
            errors[str(file)] = str(e)
            logger.warning("skipping unreadable OpenPose file: %s", e)
            continue
        people.append(persons)
        frames.append(file.stem)
        rates.add(_recorded_fps(obj))
    if not frames:
        raise PoseliftError(
            f"none of the {len(files)} JSON files in {path.resolve()} could be read; first error: {first_error}"
        )
    xy, conf, counts, _ = _stack(people, n or 0)
    _check_some_joint(conf, counts, str(path))
    fps = next(iter(rates)) if len(rates) == 1 else None  # only when every frame records the same rate
    return KeypointData(xy, conf, name, frames, counts, errors=errors, fps=fps)


def _recorded_fps(obj: Any) -> float | None:
    """The frame rate ``poselift video`` records in an OpenPose frame (``"poselift": {"fps": 50.0}``)."""
    meta = obj.get("poselift") if isinstance(obj, dict) else None
    fps = meta.get("fps") if isinstance(meta, dict) else None
    if isinstance(fps, (int, float)) and not isinstance(fps, bool) and math.isfinite(fps) and fps > 0:
        return float(fps)
    return None


def _layout_for_openpose(n: int, file: Path) -> str:
    if n not in _OPENPOSE_LAYOUTS:
        raise ShapeError(
            f"{file}: pose_keypoints_2d holds {n} keypoints; OpenPose BODY_25 has 25, COCO-18 has 18 and MediaPipe 33. "
            "For another layout written in OpenPose format, pass layout=... (e.g. 'coco17')."
        )
    return _OPENPOSE_LAYOUTS[n]


def _openpose_frame(obj: Any, file: Path) -> list[np.ndarray]:
    if not isinstance(obj, dict) or not isinstance(obj.get("people"), list):
        raise PoseliftError(f"{file}: not an OpenPose frame (expected an object with a 'people' list)")
    persons = []
    for i, person in enumerate(obj["people"]):
        if not isinstance(person, dict):
            raise PoseliftError(f"{file}: people[{i}] is not an object")
        key = "pose_keypoints_2d" if "pose_keypoints_2d" in person else "pose_keypoints"  # OpenPose < 1.2
        if key not in person:
            raise PoseliftError(f"{file}: people[{i}] has no 'pose_keypoints_2d'")
        persons.append(_triplets(person[key], f"{file}: people[{i}].{key}"))
    return persons


def read_coco(path: str | os.PathLike, *, layout: str | None = None) -> KeypointData:
    """Read a COCO keypoint annotation file or a COCO result list (see the module documentation)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"COCO file {path.resolve()} does not exist")
    return _read_coco_obj(_load_json(path), path, layout)


def _read_coco_obj(obj: Any, path: Path, layout: str | None) -> KeypointData:
    if isinstance(obj, dict) and isinstance(obj.get("annotations"), list):
        anns, is_result = obj["annotations"], False
        images = obj.get("images")
    elif isinstance(obj, list):
        anns, is_result, images = obj, True, None
    else:
        raise PoseliftError(f"{path}: not a COCO keypoint file (expected 'annotations' or a result list)")

    order: list[Any] = []
    names: dict[Any, str] = {}
    if isinstance(images, list):
        for img in images:
            if isinstance(img, dict) and isinstance(img.get("id"), (int, str)) and not isinstance(img["id"], bool):
                order.append(img["id"])
                names[img["id"]] = str(img.get("file_name", img["id"]))
    per_image: dict[Any, list[np.ndarray]] = {}
    per_score: dict[Any, list[float]] = {}
    n: int | None = None
    dropped = 0
    for i, ann in enumerate(anns):
        if not isinstance(ann, dict) or "image_id" not in ann or "keypoints" not in ann:
            raise PoseliftError(f"{path}: entry {i} lacks 'image_id' or 'keypoints'")
        t = _triplets(ann["keypoints"], f"{path}: entry {i} keypoints")
        if n is None:
            n = len(t)
        elif len(t) != n:
            raise ShapeError(f"{path}: entry {i} has {len(t)} keypoints but earlier entries have {n}")
        image = ann["image_id"]
        if isinstance(image, bool) or not isinstance(image, (int, str)):
            raise PoseliftError(f"{path}: entry {i} has image_id {json.dumps(image)[:40]}; expected a number or a string")
        if names and image not in names:
            raise PoseliftError(f"{path}: entry {i} refers to image_id {image!r}, which is not in 'images'")
        if not is_result:
            if not bool((t[:, 2] > 0).any()):
                dropped += 1  # no labelled joint: a crowd region or an unannotated person
                continue
            t = t.copy()
            t[:, 2] = (t[:, 2] > 0).astype(np.float32)
        per_image.setdefault(image, []).append(t)
        score = ann.get("score", 1.0)
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not np.isfinite(score):
            raise PoseliftError(f"{path}: entry {i} has score {json.dumps(score)[:40]}; expected a finite number")
        per_score.setdefault(image, []).append(float(score))
    if dropped:
        logger.info("%s: dropped %d annotations without labelled keypoints", path, dropped)
    if not order:
        ids = list(per_image)
        try:
            order = sorted(ids)
        except TypeError:
            order = sorted(ids, key=str)
    if not order:
        raise EmptyInputError(f"{path}: no keypoint annotations found")
    if n is None:
        name = canonical_layout(layout) if layout is not None else None
        n = SKELETONS[name].num_joints if name is not None else 0
    else:
        name = _layout_for(n, layout, kind=f"keypoints in {path}")
        if layout is None and n == 17:
            name = "coco17"  # a COCO file with 17 joints is COCO-17, not Human3.6M
    people = [per_image.get(i, []) for i in order]
    scores = [per_score.get(i, []) for i in order] if is_result else None
    xy, conf, counts, sc = _stack(people, n, scores)
    _check_some_joint(conf, counts, str(path))
    return KeypointData(xy, conf, name, [names.get(i, str(i)) for i in order], counts, scores=sc)


def _check_npy_size(path: Path) -> None:
    """Refuse an ``.npy`` whose header promises more data than the file holds (truncated or
    corrupt), before numpy allocates an array of the promised size."""
    fmt = np.lib.format
    with open(path, "rb") as fh:
        version = fmt.read_magic(fh)
        read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _, dtype = read_header(fh)
        needed = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize if not dtype.hasobject else 0
        left = path.stat().st_size - fh.tell()
    if needed > left:
        raise PoseliftError(f"{path}: the header announces {needed:,} bytes of data but the file holds {left:,}: it is truncated")


def _read_numpy(path: Path, layout: str | None) -> KeypointData:
    frames = None
    try:
        if path.suffix.lower() == ".npy":
            _check_npy_size(path)
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.ndarray):
            kp, conf = data, None
        else:
            with data:
                keys = set(data.files)
                if "keypoints" not in keys:
                    raise PoseliftError(
                        f"{path}: an .npz needs a 'keypoints' array (and optionally 'confidence', 'frames', "
                        f"'layout'); it holds {sorted(keys)}"
                    )
                kp = data["keypoints"]
                conf = data["confidence"] if "confidence" in keys else None
                if "frames" in keys:
                    frames = [str(f) for f in np.atleast_1d(data["frames"])]
                if layout is None and "layout" in keys:
                    layout = str(data["layout"])
    except PoseliftError:
        raise
    except Exception as e:  # numpy and zipfile raise many types (ValueError, EOFError, SyntaxError, ...)
        # object arrays (would need pickle), truncated or corrupt files and headers, bad zip members
        raise PoseliftError(
            f"{path}: cannot be read as a numeric numpy file ({type(e).__name__}: {e}); "
            "write it with numpy.save / numpy.savez from a numeric array"
        ) from None
    try:
        out = KeypointData.from_array(kp, conf, layout=layout, frames=frames)
    except ShapeError as e:
        raise type(e)(f"{path}: {e}") from None
    _check_some_joint(out.confidence, out.num_people, str(path))
    return out


# --------------------------------------------------------------------------- writer
def _bool_array(a: Any, shape: tuple[int, ...], name: str, default: bool) -> np.ndarray:
    if a is None:
        return np.full(shape, default, dtype=bool)
    arr = to_bool(a)
    if arr.shape != shape:
        raise ShapeError(f"{name} must have shape {shape} to match the poses; got {arr.shape}.")
    return arr


def write_poses(
    path: str | os.PathLike,
    poses3d: Any,
    *,
    skeleton: str | Skeleton,
    frames: Sequence[str] | None = None,
    num_people: Any = None,
    lifted: Any = None,
    missing: Any = None,
    filled: Any = None,
    translation: Any = None,
    units: str = "m",
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write lifted 3D poses to ``.json`` or ``.npz``.

    Args:
        path: output file; the suffix (``.json`` or ``.npz``) picks the format.
        poses3d: ``(N, 3)``, ``(frames, N, 3)`` or ``(frames, people, N, 3)`` root-relative
            3D poses (the output of :meth:`poselift.Lifter.lift`).
        skeleton: joint layout of the poses (e.g. ``lifter.skeleton``).
        frames: one name per frame (default ``"0"``, ``"1"``, ...).
        num_people: ``(frames,)`` people per frame; slots beyond it are padding and are not
            written (default: every slot is a person).
        lifted: ``(frames, people)`` bool, False for poses that were not lifted (skipped);
            their coordinates are ignored. Default: all lifted.
        missing: ``(frames, people, N)`` bool, joints missing in the 2D input; written for
            skipped poses as the reason they were skipped.
        filled: ``(frames, people, N)`` bool, joints whose 3D position was filled in (joint
            completion) rather than lifted from an observed 2D joint.
        translation: ``(frames, people, 3)`` (or ``(frames, 3)``) position of each lifted
            person's root in the camera frame (:mod:`poselift.camera`): the joints in the
            camera frame are ``poses3d + translation``.
        units: unit of the coordinates (``"m"`` for metric lifter output).
        metadata: extra JSON-serialisable information (model name, input file, ...).

    JSON layout::

        {"format": "poselift.poses3d", "format_version": 1, "layout": "h36m17",
         "joints": [...], "units": "m", "axes": "...", "root": "...", "metadata": {...},
         "frames": [{"frame": "000001", "people": [
             {"person": 0, "lifted": true, "joints": {"pelvis": [x, y, z], ...},
              "translation": [x, y, z]},
             {"person": 1, "lifted": false, "missing": ["left_ankle"]}]}]}

    The ``.npz`` holds ``poses3d`` ``(frames, people, N, 3)`` float32 with NaN for poses
    that were not lifted and for padding, ``lifted`` ``(frames, people)``, ``num_people``,
    ``frames``, ``joints``, ``layout``, ``units``, ``axes``, ``missing``/``filled``/``translation``
    (NaN where not lifted) when given, and ``metadata`` as a JSON string; all readable with ``allow_pickle=False``.
    """
    path = Path(path)
    skel = get_skeleton(skeleton)
    poses = to_numpy(poses3d, "poses").astype(np.float64)
    n = skel.num_joints
    if poses.ndim < 2 or poses.ndim > 4 or poses.shape[-2:] != (n, 3):
        raise ShapeError(
            f"poses3d must have shape ({n}, 3), (frames, {n}, 3) or (frames, people, {n}, 3) "
            f"for the {skel.name} layout; got {poses.shape}."
        )
    if poses.ndim == 2:
        poses = poses[None, None]
    elif poses.ndim == 3:
        poses = poses[:, None]
    n_frames, n_people = poses.shape[:2]
    names = [str(i) for i in range(n_frames)] if frames is None else [str(f) for f in frames]
    if len(names) != n_frames:
        raise ShapeError(f"frames has {len(names)} names but poses3d has {n_frames} frames.")
    counts = (
        np.full(n_frames, n_people, dtype=np.int64)
        if num_people is None
        else to_numpy(num_people, "num_people").astype(np.int64).reshape(-1)
    )
    if counts.shape != (n_frames,) or bool((counts < 0).any() or (counts > n_people).any()):
        raise ShapeError(f"num_people must be {n_frames} counts between 0 and {n_people}; got {counts.tolist()[:10]}.")
    present = np.arange(n_people)[None, :] < counts[:, None]
    ok = _bool_array(lifted, (n_frames, n_people), "lifted", True) & present
    miss = None if missing is None else _bool_array(missing, (n_frames, n_people, n), "missing", False)
    fill = None if filled is None else _bool_array(filled, (n_frames, n_people, n), "filled", False)
    trans = None
    if translation is not None:
        trans = to_numpy(translation, "translation").astype(np.float64)
        if trans.shape == (n_frames, 3):
            trans = trans[:, None]
        if trans.shape != (n_frames, n_people, 3):
            raise ShapeError(f"translation must have shape ({n_frames}, {n_people}, 3) to match the poses; got {trans.shape}.")
        if not bool(np.isfinite(trans[ok]).all()):
            raise NonFiniteError("translation holds NaN or infinite values for poses marked as lifted.")
    if not bool(np.isfinite(poses[ok]).all()):
        raise NonFiniteError("poses3d holds NaN or infinite values in poses marked as lifted; mark them lifted=False.")

    root = " and ".join(skel.joints[i] for i in skel.root)
    header = {
        "format": POSES_FORMAT,
        "format_version": 1,
        "layout": skel.name,
        "joints": list(skel.joints),
        "units": units,
        "axes": _AXES,
        "root": f"root-relative: the {'mean of ' if len(skel.root) > 1 else ''}{root} at (0, 0, 0)",
        "metadata": dict(metadata or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".json":
        out_frames = []
        for f in range(n_frames):
            persons = []
            for p in range(int(counts[f])):
                entry: dict[str, Any] = {"person": p, "lifted": bool(ok[f, p])}
                if ok[f, p]:
                    entry["joints"] = {
                        j: [round(float(v), 5) for v in poses[f, p, k]] for k, j in enumerate(skel.joints)
                    }
                    if trans is not None:
                        entry["translation"] = [round(float(v), 5) for v in trans[f, p]]
                    if fill is not None and bool(fill[f, p].any()):
                        entry["filled"] = [skel.joints[k] for k in np.flatnonzero(fill[f, p])]
                elif miss is not None:
                    entry["missing"] = [skel.joints[k] for k in np.flatnonzero(miss[f, p])]
                persons.append(entry)
            out_frames.append({"frame": names[f], "people": persons})
        header["frames"] = out_frames
        text = json.dumps(header, indent=1, allow_nan=False)
        for pattern in (_NUMBER_LIST, _NAME_LIST):
            text = pattern.sub(lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text)
        with atomic_path(path) as tmp:
            tmp.write_text(text + "\n", encoding="utf-8")
    elif suffix == ".npz":
        arrays: dict[str, np.ndarray] = {
            "poses3d": np.where(ok[..., None, None], poses, np.nan).astype(np.float32),
            "lifted": ok,
            "num_people": counts,
            "frames": np.array(names, dtype=str),
            "joints": np.array(skel.joints, dtype=str),
            "layout": np.array(skel.name),
            "units": np.array(units),
            "axes": np.array(_AXES),
            "metadata": np.array(json.dumps(header["metadata"])),
        }
        if miss is not None:
            arrays["missing"] = miss
        if fill is not None:
            arrays["filled"] = fill
        if trans is not None:
            arrays["translation"] = np.where(ok[..., None], trans, np.nan).astype(np.float32)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    else:
        raise PoseliftError(f"output file {path} must end in .json or .npz")
    logger.info("wrote %d frames of %s poses to %s", n_frames, skel.name, path)
    return path

