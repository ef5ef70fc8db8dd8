"""From a video, an image or a folder of images to 3D poses, an animation and a BVH file.

``pip install ".[video]"`` (in the checkout) brings the 2D detector, MediaPipe Pose (its landmark
model ships inside the ``mediapipe`` wheel, so it runs offline), and OpenCV to decode
video. :func:`lift_video` runs the whole chain for one person:

1. decode the frames (a video file, one image, or a folder of images in natural name order);
2. detect the person's 33 MediaPipe landmarks (layout ``mediapipe33``) in each frame,
   following one person: in a video MediaPipe tracks the person it found first, and a
   detection that jumps further than a body height from the last one is refused and
   searched again near the last position (other people in the background);
3. adapt the landmarks to the lifter's layout and lift them, frame by frame;
4. place each pose in the camera frame (:mod:`poselift.camera`; intrinsics from the image
   size unless given);
5. optionally smooth the sequence (:mod:`poselift.smooth`);
6. write the 2D keypoints as OpenPose JSON (``keypoints/``, re-liftable with
   ``poselift lift``), the 3D poses (``poses3d.json``, ``poses3d.npz``: root-relative,
   with each frame's root ``translation`` in the camera frame), an animation
   (``animation.mp4`` or ``.gif``: the 2D keypoints over the frame beside a 3D view) and,
   for sequences, a BVH file (``motion.bvh``, y-up world frame with the ground estimated
   from the feet, by default following them slowly as a handheld camera moves).

Frames in which nobody is found, or whose person cannot be lifted, are kept in every
output and marked (``"lifted": false``; an empty ``people`` list in the OpenPose JSON).
A folder of images of different sizes is treated as unrelated photos: each is detected
on its own and nothing is smoothed or written to BVH.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Sequence

import numpy as np

from ._files import FolderBusyError, atomic_dir, atomic_path, folder_lock, foreign_entries, install_dir, install_file
from .camera import Camera, align_to_world, as_camera, to_camera_space
from ._args import check_count, check_fps
from ._arrays import to_numpy
from .errors import (
    InvalidArgumentError,
    MissingDependencyError,
    OutputConflictError,
    OutputExistsError,
    PoseliftError,
    VideoInputError,
    install_hint,
    require,
)
from .skeleton import Skeleton, get_skeleton
from .viz import CENTER_COLOR, LEFT_COLOR, RIGHT_COLOR, _segments

__all__ = [
    "VideoInputError",
    "FrameSource",
    "open_frames",
    "MediaPipeDetector",
    "PersonTracker",
    "VideoResult",
    "lift_video",
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".gif")
DETECTOR_LAYOUT = "mediapipe33"
#: Frame rate assumed for a folder of frames when none is given.
DEFAULT_FOLDER_FPS = 30.0
#: The files poselift writes in ``OUT/keypoints`` (the only ones ``overwrite`` replaces there).
KEYPOINT_FILES = "*_keypoints.json"
#: The files poselift writes in a ``pictures`` folder (one PNG per photo).
PICTURE_FILES = "*.png"
#: The output folders, each with the glob of the files poselift writes in it.
_OUTPUT_FOLDERS = {"keypoints": KEYPOINT_FILES, "pictures": PICTURE_FILES}



def _cv2():
    return require("cv2", "video")


def _natural_key(name: str) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


# --------------------------------------------------------------------------- frames
@dataclass
class FrameSource:
    """Frames to process, decoded lazily.

    Attributes:
        label: the input as shown in messages (a path, or ``"<frames>"`` for arrays).
        names: one name per frame (the image file stem, or the frame number).
        fps: frames per second.
        sequence: True for a video or a folder of same-size frames (tracked, smoothed,
            written to BVH); False for unrelated photos.
        size: ``(width, height)`` of every frame, or ``None`` when sizes differ.
    """

    label: str
    names: list[str]
    fps: float
    sequence: bool
    size: tuple[int, int] | None
    _frames: Callable[[], Iterator[np.ndarray]] = field(repr=False)
    #: Files of a folder that could not be decoded and were left out: name -> why.
    skipped: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        """``(name, frame)`` with frame a ``(height, width, 3)`` uint8 BGR array."""
        count = 0
        for name, frame in zip(self.names, self._frames()):
            _check_frame(frame, f"{self.label}, frame {name}")
            count += 1
            yield name, frame
        if count < len(self.names):
            raise VideoInputError(
                f"{self.label}: only {count} of {len(self.names)} frames could be decoded; the file is truncated or corrupt."
            )


def _check_frame(frame: Any, where: str) -> None:
    if not isinstance(frame, np.ndarray) or frame.ndim not in (2, 3):
        raise VideoInputError(f"{where}: expected an image array (height, width, 3); got {type(frame).__name__}.")
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise VideoInputError(
            f"{where}: expected a BGR image, uint8 of shape (height, width, 3); got {frame.dtype} of shape {frame.shape}. "
            "Convert it first, e.g. cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR) or (rgb_float * 255).astype(np.uint8)[..., ::-1]."
        )
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise VideoInputError(
            f"{where}: the frame size is {frame.shape[1]} x {frame.shape[0]} pixels; an image needs a width and height above 0."
        )


def _read_image(path: Path) -> np.ndarray:
    cv2 = _cv2()
    try:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    except cv2.error as e:  # e.g. more pixels than OpenCV decodes (CV_IO_MAX_IMAGE_PIXELS)
        raise VideoInputError(f"cannot decode the image {path.resolve()}: OpenCV refuses it ({str(e).strip().splitlines()[-1]}).") from None
    if img is None:
        raise VideoInputError(f"cannot decode the image {path.resolve()}: not an image file OpenCV can read, or corrupt.")
    _check_frame(img, str(path))
    return img


def _open_video(path: Path, fps: float | None, max_frames: int | None) -> FrameSource:
    cv2 = _cv2()
    cap = cv2.VideoCapture(str(path))
    ok, first = cap.read() if cap.isOpened() else (False, None)
    if not ok or first is None:
        cap.release()
        raise VideoInputError(
            f"cannot decode the video {path.resolve()}: OpenCV could not read a frame from it "
            "(unsupported codec, or not a video). Convert it, e.g. `ffmpeg -i IN -c:v libx264 OUT.mp4`."
        )
    _check_frame(first, f"{path}, frame 0")
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    rate = float(fps or cap.get(cv2.CAP_PROP_FPS) or 0.0) or DEFAULT_FOLDER_FPS
    cap.release()
    if count <= 0:  # containers without a frame count: count by decoding
        cap, count = cv2.VideoCapture(str(path)), 0
        while cap.grab():
            count += 1
        cap.release()
    if max_frames is not None:
        count = min(count, max_frames)

    def frames() -> Iterator[np.ndarray]:
        cap = cv2.VideoCapture(str(path))
        try:
            for _ in range(count):
                ok, frame = cap.read()
                if not ok:
                    return
                yield frame
        finally:
            cap.release()

    h, w = first.shape[:2]
    names = [f"{i:06d}" for i in range(count)]
    return FrameSource(str(path), names, rate, True, (w, h), frames)


def _open_images(paths: list[Path], label: str, fps: float | None) -> FrameSource:
    _cv2()  # fails here, naming poselift[video], when OpenCV is missing
    sizes = set()
    readable: list[Path] = []
    skipped: dict[str, str] = {}
    for p in paths:  # sizes from the headers would need another library: decode once
        try:
            img = _read_image(p)
        except VideoInputError as e:
            if len(paths) == 1:
                raise
            skipped[p.name] = str(e)  # one bad file in a folder: left out, not the whole folder refused
            logger.warning("skipping %s", e)
            continue
        readable.append(p)
        sizes.add((img.shape[1], img.shape[0]))
    if not readable:
        raise VideoInputError(f"none of the {len(paths)} images in {label} can be decoded, e.g. {next(iter(skipped.values()))}")
    same = len(sizes) == 1
    return FrameSource(
        label,
        [p.stem for p in readable],
        float(fps or DEFAULT_FOLDER_FPS),
        same and len(readable) > 1,
        next(iter(sizes)) if same else None,
        lambda: (_read_image(p) for p in readable),
        skipped,
    )


def open_frames(
    source: str | os.PathLike | Sequence[np.ndarray], *, fps: float | None = None, max_frames: int | None = None
) -> FrameSource:
    """Open a video file, an image, a folder of images or a list of BGR frames.

    Raises :class:`VideoInputError` (naming the file) for a path that does not exist, a
    video or image that cannot be decoded, a folder without images, or a frame of size zero.
    """
    if fps is not None:
        fps = check_fps(fps)
    if max_frames is not None:
        max_frames = check_count(max_frames, "max_frames")
    if not isinstance(source, (str, os.PathLike)):
        frames = list(source)
        if not frames:
            raise VideoInputError("no frames given: pass at least one (height, width, 3) image array.")
        for i, f in enumerate(frames):
            _check_frame(f, f"frame {i}")
        sizes = {(f.shape[1], f.shape[0]) for f in frames}
        frames = frames[:max_frames] if max_frames is not None else frames
        return FrameSource(
            "<frames>", [f"{i:06d}" for i in range(len(frames))], float(fps or DEFAULT_FOLDER_FPS),
            len(sizes) == 1, next(iter(sizes)) if len(sizes) == 1 else None, lambda: iter(frames),
        )  # fmt: skip
    path = Path(source)
    if not path.exists():
        raise VideoInputError(f"input {path.resolve()} does not exist; give a video file, an image or a folder of images.")
    if not path.is_dir() and not path.is_file():  # a FIFO or device: decoding would block or never end
        raise VideoInputError(f"input {path.resolve()} is not a regular file; give a video file, an image or a folder of images.")
    if path.is_dir():
        images = sorted(
            (p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")),
            key=lambda p: _natural_key(p.name),
        )
        if not images:
            raise VideoInputError(
                f"the folder {path.resolve()} holds no images ({', '.join(IMAGE_SUFFIXES)}); give a folder of frames, "
                "an image or a video file."
            )
        return _open_images(images[:max_frames] if max_frames is not None else images, str(path), fps)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return _open_images([path], str(path), fps)
    return _open_video(path, fps, max_frames)


# --------------------------------------------------------------------------- detection
class MediaPipeDetector:
    """MediaPipe Pose (the landmark model bundled in the ``mediapipe`` wheel), one person per frame.

    ``detector(frame_bgr)`` returns ``(33, 3)`` float64 pixels and visibility in the
    ``mediapipe33`` layout, or ``None`` when nobody is found. ``static=True`` detects every
    frame on its own (photos); otherwise the person found is tracked from frame to frame.

    MediaPipe's person detector misses people who fill only part of a photo among other
    things (two of the COCO photos in ``../shared/data/media``): with ``static=True``, a
    photo in which the whole image finds nobody is searched again in five overlapping
    crops (the left, right, middle, upper and lower three quarters), and the detection
    with the most landmarks seen (visibility above 0.5) is kept.
    """

    #: Crops searched when the whole photo finds nobody: (x0, y0, x1, y1) as fractions of the image.
    PHOTO_CROPS = ((0, 0, 0.75, 1), (0.25, 0, 1, 1), (0.125, 0, 0.875, 1), (0, 0, 1, 0.75), (0, 0.25, 1, 1))

    layout = DETECTOR_LAYOUT

    def __init__(self, *, static: bool = False, model_complexity: int = 1, min_detection_confidence: float = 0.5):
        mp = require("mediapipe", "video")
        solutions = getattr(mp, "solutions", None)
        if solutions is None or not hasattr(solutions, "pose"):
            raise MissingDependencyError(
                f"mediapipe {getattr(mp, '__version__', '?')} has no bundled pose model (mediapipe.solutions.pose); "
                f"poselift needs mediapipe 0.10.21: {install_hint('video')}"
            )
        self._cv2 = _cv2()
        self._photos = static
        self._pose = solutions.pose.Pose(
            static_image_mode=static,
            model_complexity=model_complexity,
            min_detection_confidence=min_detection_confidence,
        )
        self._static = None if static else solutions.pose.Pose(
            static_image_mode=True, model_complexity=model_complexity, min_detection_confidence=min_detection_confidence
        )  # fmt: skip

    def __call__(self, frame: np.ndarray, *, fresh: bool = False) -> np.ndarray | None:
        """Landmarks of the person in ``frame`` (BGR); ``fresh``: detect without tracking."""
        rgb = self._cv2.cvtColor(frame, self._cv2.COLOR_BGR2RGB)
        pose = self._static if fresh and self._static is not None else self._pose
        kp = self._process(pose, rgb)
        if kp is not None or not self._photos:
            return kp
        h, w = rgb.shape[:2]
        best, best_seen = None, 0
        for fx0, fy0, fx1, fy1 in self.PHOTO_CROPS:
            x0, y0, x1, y1 = int(fx0 * w), int(fy0 * h), int(fx1 * w), int(fy1 * h)
            found = self._process(pose, np.ascontiguousarray(rgb[y0:y1, x0:x1]))
            if found is None:
                continue
            seen = int((found[:, 2] > 0.5).sum())
            if seen > best_seen:
                found[:, 0] += x0
                found[:, 1] += y0
                best, best_seen = found, seen
        return best

    @staticmethod
    def _process(pose: Any, rgb: np.ndarray) -> np.ndarray | None:
        result = pose.process(rgb)
        if result.pose_landmarks is None:
            return None
        h, w = rgb.shape[:2]
        return np.array([[p.x * w, p.y * h, p.visibility] for p in result.pose_landmarks.landmark], dtype=np.float64)

    def close(self) -> None:
        self._pose.close()
        if self._static is not None:
            self._static.close()


Detector = Callable[..., "np.ndarray | None"]


class PersonTracker:
    """Keep following one person: refuse detections that jump to someone else.

    A detection whose hip centre lies more than ``max_jump`` body heights from the last
    accepted one is refused; the detector is then run again (without tracking) on a crop
    around the last position, and that result is kept if it lies close. After
    ``forget_after`` frames without the person, any detection is accepted again.

    MediaPipe's tracking also drifts onto a person next to the one it follows, a limb at a
    time (the street video: a leg or an arm of the woman beside the dancer). When a
    detection one frame after the last moves some limb joint by more than ``max_limb_jump``
    torso lengths, the detector runs again without tracking on the whole frame and on two
    crops around the last position, and the candidate whose limbs moved least is kept
    (``redetected`` counts the frames where that was not the tracked detection).
    """

    def __init__(
        self, detector: Detector, *, max_jump: float = 1.0, forget_after: int = 25, max_limb_jump: float | None = 0.6
    ):
        self.detector = detector
        self.max_jump = max_jump
        self.forget_after = forget_after
        self.max_limb_jump = max_limb_jump
        self._last: np.ndarray | None = None  # (33, 3) of the last accepted detection
        self._missed = 0
        self._frame_height = 0.0
        self.refused = 0
        self.redetected = 0

    def _close(self, kp: np.ndarray) -> bool:
        if self._last is None or self._missed > self.forget_after:
            return True
        return _distance(kp, self._last) <= self.max_jump * self._size()

    def _size(self) -> float:
        """Body height of the last detection, at least a tenth of the frame (a collapsed detection)."""
        return max(_body_size(self._last), 0.1 * self._frame_height)

    def __call__(self, frame: np.ndarray) -> np.ndarray | None:
        self._frame_height = float(frame.shape[0])
        kp = self.detector(frame)
        if kp is not None and not self._close(kp):
            self.refused += 1
            kp = self._near_last(frame)
        elif kp is not None and self._limb_jump(kp) > (self.max_limb_jump or math.inf) and self._missed == 0:
            kp = self._steadiest(frame, kp)
        if kp is None:
            self._missed += 1
        else:
            self._last, self._missed = kp, 0
        return kp

    def _limb_jump(self, kp: np.ndarray) -> float:
        """Largest limb-joint displacement since the last accepted detection, in its torso lengths."""
        if self._last is None:
            return 0.0
        return _limb_jump(kp, self._last)

    def _steadiest(self, frame: np.ndarray, tracked: np.ndarray) -> np.ndarray:
        """Of the tracked detection and fresh ones (whole frame, crops), the one whose limbs moved least."""
        candidates = [tracked]
        for scale in (1.0, 1.5):
            candidates.append(self._detect_crop(frame, scale))
        candidates.append(self._detect_fresh(frame))
        ok = [c for c in candidates if c is not None and self._close(c)]
        best = min(ok, key=self._limb_jump)
        if best is not tracked:
            self.redetected += 1
        return best

    def _detect_fresh(self, image: np.ndarray) -> np.ndarray | None:
        try:
            return self.detector(np.ascontiguousarray(image), fresh=True)
        except TypeError:  # a detector without the fresh= option
            return self.detector(np.ascontiguousarray(image))

    def _detect_crop(self, frame: np.ndarray, scale: float) -> np.ndarray | None:
        """Detect without tracking on a square crop around the last accepted position."""
        assert self._last is not None
        h, w = frame.shape[:2]
        centre = self._last[:, :2].mean(axis=0)
        half = 0.75 * scale * max(self._size(), 32.0)
        x0, y0 = int(max(0, centre[0] - half)), int(max(0, centre[1] - half))
        x1, y1 = int(min(w, centre[0] + half)), int(min(h, centre[1] + half))
        if x1 - x0 < 16 or y1 - y0 < 16:
            return None
        kp = self._detect_fresh(frame[y0:y1, x0:x1])
        if kp is None:
            return None
        kp = kp.copy()
        kp[:, 0] += x0
        kp[:, 1] += y0
        return kp

    def _near_last(self, frame: np.ndarray) -> np.ndarray | None:
        """Detect again on a crop around the last accepted position."""
        kp = self._detect_crop(frame, 1.0)
        return kp if kp is not None and self._close(kp) else None


_LIMBS = [
    i for i, j in enumerate(get_skeleton(DETECTOR_LAYOUT).joints)
    if j.split("_", 1)[-1] in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
]  # fmt: skip


def _limb_jump(kp: np.ndarray, last: np.ndarray) -> float:
    """Largest displacement of a limb joint from ``last`` to ``kp``, in torso lengths of ``last``."""
    skel = get_skeleton(DETECTOR_LAYOUT)
    shoulders = last[[skel.index("left_shoulder"), skel.index("right_shoulder")], :2].mean(axis=0)
    torso = float(np.linalg.norm(shoulders - _hips(last)))
    moved = np.linalg.norm(kp[_LIMBS, :2] - last[_LIMBS, :2], axis=-1).max()
    return float(moved) / max(torso, 1e-6)


def _checked_detector(detector: Detector) -> Detector:
    """``detector`` whose every result is checked: ``None`` or ``(33, 3)`` real numbers."""

    def call(frame: np.ndarray, **kwargs: Any) -> np.ndarray | None:
        kp = detector(frame, **kwargs)
        if kp is None:
            return None
        arr = to_numpy(kp, "the detector's result").astype(np.float64)
        if arr.shape != (33, 3):
            raise InvalidArgumentError(
                f"the detector returned shape {arr.shape}; it must return None or (33, 3): the {DETECTOR_LAYOUT} "
                "landmarks as x, y in pixels and visibility."
            )
        return arr

    call.close = getattr(detector, "close", lambda: None)  # type: ignore[attr-defined]
    return call


def _hips(kp: np.ndarray) -> np.ndarray:
    skel = get_skeleton(DETECTOR_LAYOUT)
    return kp[list(skel.root), :2].mean(axis=0)


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(_hips(a) - _hips(b)))


def _body_size(kp: np.ndarray) -> float:
    """Height of the landmarks' bounding box in pixels."""
    return float(kp[:, 1].max() - kp[:, 1].min())


# --------------------------------------------------------------------------- lifting
def _lift_rows(
    lifter: Any,
    kp: np.ndarray,
    conf: np.ndarray,
    rows: np.ndarray,
    height: float | None,
    sequence: Literal["offline", "causal"] | None = None,
    fps: float = 30.0,
) -> tuple[np.ndarray, dict[int, str]]:
    """Lift the poses ``kp[rows]`` by the library's rule (``on_unliftable="nan"``); NaN elsewhere.

    With ``sequence``, the frames are one clip (:meth:`~poselift.Lifter.lift_sequence`; the
    other rows are gaps). Returns ``(F, M, 3)`` root-relative poses and, per frame the lifter
    refused, its reason.
    """
    if not rows.any():
        return np.full((*conf.shape, 3), np.nan), {}
    kp, conf = np.where(rows[:, None, None], kp, 0.0), np.where(rows[:, None], conf, 0.0)  # other rows: no joint
    if sequence is not None:
        result = lifter.lift_sequence(kp, conf, fps=fps, causal=sequence == "causal", height=height, on_unliftable="nan")
    else:
        result = lifter.lift(kp, conf, height=height, on_unliftable="nan")
    refused = {int(i): result.reason[i].description for i in np.flatnonzero(rows & ~np.asarray(result.lifted))}
    return np.asarray(result.poses, dtype=np.float64), refused


# --------------------------------------------------------------------------- result
@dataclass
class VideoResult:
    """What :func:`lift_video` found and wrote.

    Arrays are per frame ``F``; ``M`` joints of the lifter's layout ``skeleton``.

    Attributes:
        frames: frame names.
        fps: frame rate used.
        detections: ``(F, 33, 3)`` detector landmarks (pixels, visibility); NaN where nobody was found.
        found: ``(F,)`` a person was detected.
        lifted: ``(F,)`` the person was lifted.
        keypoints: ``(F, M, 2)`` adapted 2D keypoints; ``confidence`` ``(F, M)``.
        poses: ``(F, M, 3)`` camera-frame poses in metres (smoothed when asked); NaN where not lifted.
        poses_raw: the same before smoothing.
        world: ``(F, M, 3)`` y-up world-frame poses for sequences, else ``None``: each bone at
            its median length (as in ``motion.bvh``), the soles of the feet on the ground
            ``y = 0`` in their contact frames and never below it
            (:func:`poselift.camera.align_to_world`).
        cameras: the intrinsics used per frame.
        refused: frame index -> why the lifter refused its person.
        timings: seconds spent per stage (decode, detect, lift, smooth, write).
        tracker_refusals: detections refused as another person (:class:`PersonTracker`).
        tracker_redetections: frames whose limbs jumped and a fresh detection was kept instead.
        outputs: what was written (``"keypoints"``, ``"json"``, ``"npz"``, ``"animation"`` for
            sequences or ``"pictures"`` for photos, ``"bvh"``); empty when nobody was lifted.
    """

    frames: list[str]
    fps: float
    sequence: bool
    skeleton: Skeleton
    detections: np.ndarray
    found: np.ndarray
    lifted: np.ndarray
    keypoints: np.ndarray
    confidence: np.ndarray
    poses: np.ndarray
    poses_raw: np.ndarray
    world: np.ndarray | None
    cameras: list[Camera]
    refused: dict[int, str]
    timings: dict[str, float]
    outputs: dict[str, Path]
    tracker_refusals: int = 0
    tracker_redetections: int = 0

    def outcome(self, index: int) -> str:
        """What became of frame ``index``: ``"lifted"``, ``"no person found"`` or ``"not lifted: <why>"``."""
        if self.lifted[index]:
            return "lifted"
        if not self.found[index]:
            return "no person found"
        return f"not lifted: {self.refused.get(index, 'the pose could not be lifted')}"

    @property
    def fps_end_to_end(self) -> float:
        """Frames per second of decoding, detection, lifting and smoothing (writing excluded)."""
        t = sum(self.timings.get(k, 0.0) for k in ("decode", "detect", "lift", "smooth"))
        return len(self.frames) / t if t > 0 else float("nan")


# --------------------------------------------------------------------------- the pipeline
def lift_video(
    source: str | os.PathLike | Sequence[np.ndarray],
    output_dir: str | os.PathLike | None = None,
    *,
    lifter: Any = None,
    model: str | os.PathLike | None = None,
    camera: Camera | dict | None = None,
    fov_deg: float | None = None,
    height: float | None = None,
    smooth: Literal["offline", "causal"] | None = None,
    smooth_params: dict[str, float] | None = None,
    sequence: Literal["offline", "causal"] | None = "offline",
    fps: float | None = None,
    max_frames: int | None = None,
    animation: Literal["mp4", "gif"] | None = "mp4",
    bvh: bool = True,
    ground: Literal["tracked", "fixed"] = "tracked",
    overwrite: bool = False,
    progress: bool = False,
    detector: Detector | None = None,
) -> VideoResult:
    """Detect, lift, place, smooth and export one person from a video, image(s) or frames.

    Args:
        source: a video file, an image, a folder of images, or a list of BGR frames.
        output_dir: folder for the outputs (created); ``None`` writes nothing.
        lifter: a :class:`poselift.Lifter` (default: ``Lifter.from_pretrained(model)``).
        model: lifter name or folder when ``lifter`` is not given (default ``poselift/h36m-17``).
        camera: intrinsics (:class:`~poselift.camera.Camera` or dict) when known; by
            default each frame's from its size (``f = max(width, height)``, or ``fov_deg``).
        height: assumed body height in metres (scales the 3D and the distance to the camera).
        smooth: ``"offline"`` (zero-lag, the whole sequence) or ``"causal"`` (One-Euro as a
            live filter), or ``None``; sequences only. ``smooth_params`` override
            :data:`poselift.smooth.SMOOTH_DEFAULTS`.
        sequence: lift a sequence's frames as one clip (:meth:`~poselift.Lifter.lift_sequence`):
            ``"offline"`` (default, the whole clip), ``"causal"`` (100 ms of look-ahead at 50
            fps, as live) or ``None`` (each frame alone). Unrelated photos are always lifted alone.
        fps: frame rate (default: the video's; 30 for folders of frames).
        max_frames: process at most this many frames.
        animation: ``"mp4"``, ``"gif"`` or ``None``, for sequences. Photos get one PNG
            picture each instead (``pictures/NAME.png``: the 2D keypoints over the photo
            beside the 3D view); ``None`` writes no pictures either.
        bvh: write ``motion.bvh`` (sequences only).
        ground: the world frame's ground (:func:`poselift.camera.align_to_world`):
            ``"tracked"`` follows the feet slowly, for a handheld or moving camera;
            ``"fixed"``, one plane for the whole sequence (a camera on a tripod).
        overwrite: replace outputs already in ``output_dir`` (otherwise they are refused
            before any work is done).
        progress: show a progress bar (tqdm) on stderr.
        detector: a callable ``frame_bgr -> (33, 3) | None`` replacing MediaPipe (tests).

    When nobody is lifted in any frame, nothing is written (``outputs`` stays empty and a
    warning is logged); :meth:`VideoResult.outcome` says why for each frame.
    """
    if animation not in ("mp4", "gif", None):
        raise PoseliftError(f"animation must be 'mp4', 'gif' or None; got {animation!r}.")
    if smooth not in ("offline", "causal", None):
        raise PoseliftError(f"smooth must be 'offline', 'causal' or None; got {smooth!r}.")
    if sequence not in ("offline", "causal", None):
        raise PoseliftError(f"sequence must be 'offline', 'causal' or None; got {sequence!r}.")
    if ground not in ("tracked", "fixed"):
        raise PoseliftError(f"ground must be 'tracked' or 'fixed'; got {ground!r}.")
    if smooth_params:  # before any work: unknown names, NaN or negative values
        from .smooth import check_smooth_params

        check_smooth_params(smooth_params)
    if detector is not None:
        detector = _checked_detector(detector)
    frames_in = open_frames(source, fps=fps, max_frames=max_frames)
    if output_dir is not None:
        _check_output_dir(source, Path(output_dir), animation, overwrite, frames_in.sequence)
    if camera is not None:
        camera = as_camera(camera)
        if frames_in.size is not None:
            camera.check_image(*frames_in.size)  # before any detection (photos of other sizes: each below)
    if lifter is None:
        from .lifter import Lifter

        lifter = Lifter.from_pretrained(model) if model is not None else Lifter.from_pretrained()
    skel = lifter.skeleton
    own_detector = detector is None
    if own_detector:
        detector = MediaPipeDetector(static=not frames_in.sequence)
    tracker = PersonTracker(detector) if frames_in.sequence else None
    timings = {"decode": 0.0, "detect": 0.0, "lift": 0.0, "smooth": 0.0, "write": 0.0}

    det_rows: list[np.ndarray] = []
    cams: list[Camera] = []
    bar = _progress(len(frames_in), progress, frames_in.label)
    try:
        it = iter(frames_in)
        while True:
            t0 = time.perf_counter()
            try:
                _, frame = next(it)
            except StopIteration:
                break
            if camera is not None and frames_in.size is None:
                camera.check_image(frame.shape[1], frame.shape[0])
            t1 = time.perf_counter()
            kp = tracker(frame) if tracker is not None else detector(frame)
            t2 = time.perf_counter()
            timings["decode"] += t1 - t0
            timings["detect"] += t2 - t1
            det_rows.append(np.full((33, 3), np.nan) if kp is None else np.asarray(kp, dtype=np.float64))
            cams.append(camera if camera is not None else Camera.from_image_size(frame.shape[1], frame.shape[0], fov_deg=fov_deg))
            bar.update(1)
    finally:
        bar.close()
        if own_detector:
            detector.close()
    detections = np.stack(det_rows)
    found = np.isfinite(detections).all(axis=(1, 2))

    t0 = time.perf_counter()
    from .adapt import adapt_layout

    raw = np.where(found[:, None, None], detections, 0.0)
    kp2d, conf = adapt_layout(raw[..., :2], DETECTOR_LAYOUT, raw[..., 2], target=skel.name)
    kp2d, conf = np.asarray(kp2d, dtype=np.float64), np.asarray(conf, dtype=np.float64)
    rel, refused = _lift_rows(
        lifter, kp2d.astype(np.float32), conf.astype(np.float32), found, height,
        sequence=sequence if frames_in.sequence else None, fps=frames_in.fps,
    )  # fmt: skip
    lifted = found & np.isfinite(rel).all(axis=(1, 2))
    poses_raw = _place(rel, kp2d, conf, cams, lifted)
    unplaced = lifted & ~np.isfinite(poses_raw).all(axis=(1, 2))
    if unplaced.any():
        from .lifter import UNLIFTABLE_REASONS

        refused.update({int(i): UNLIFTABLE_REASONS["camera"] for i in np.flatnonzero(unplaced)})
        lifted = lifted & ~unplaced
    timings["lift"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    poses = poses_raw
    if smooth is not None and frames_in.sequence and lifted.sum() > 1:
        from .smooth import smooth_poses

        poses = smooth_poses(poses_raw, skel, frames_in.fps, mode=smooth, **(smooth_params or {}))
    timings["smooth"] = time.perf_counter() - t0

    world = None
    if frames_in.sequence and lifted.any():  # each bone at its median length, as in motion.bvh; feet on the ground
        from .smooth import fix_bone_lengths

        world, _ = align_to_world(fix_bone_lengths(poses, skel), skel, ground=ground, fps=frames_in.fps)

    result = VideoResult(
        frames=list(frames_in.names[: len(det_rows)]), fps=frames_in.fps, sequence=frames_in.sequence, skeleton=skel,
        detections=detections, found=found, lifted=lifted, keypoints=kp2d, confidence=conf, poses=poses,
        poses_raw=poses_raw, world=world, cameras=cams, refused=refused, timings=timings, outputs={},
        tracker_refusals=tracker.refused if tracker is not None else 0,
        tracker_redetections=tracker.redetected if tracker is not None else 0,
    )  # fmt: skip
    if output_dir is not None and not lifted.any():
        logger.warning("nobody was lifted in %s, so nothing was written to %s", frames_in.label, output_dir)
    elif output_dir is not None:
        t0 = time.perf_counter()
        _write_outputs(
            result, frames_in, Path(output_dir), animation=animation, bvh=bvh, height=height, lifter=lifter, overwrite=overwrite
        )
        timings["write"] = time.perf_counter() - t0
    return result


#: Name prefix of the staging folder a ``video`` run writes its outputs into first.
STAGE_PREFIX = ".poselift-video-"


def _remove_stale_temporaries(out: Path, animation: str | None) -> None:
    """Remove what a killed run left in ``out`` (its staging folder, temporary files of its
    outputs); called holding the folder's lock, so no live run is writing them."""
    names = sorted(set(_output_names(animation) + ["animation.mp4", "animation.gif", "pictures"]))
    rand = r"[a-z0-9_]{8}"  # tempfile's random part
    ours = re.compile(
        rf"^(?:{re.escape(STAGE_PREFIX)}{rand}"
        + "".join(rf"|\.{re.escape(n)}\.(?:old\.)?{rand}(?:\.tmp{re.escape(Path(n).suffix)})?" for n in names)
        + ")$"
    )  # exactly the names atomic_path, atomic_dir and the staging folder give their temporaries
    for entry in out.iterdir():
        if ours.match(entry.name) and not entry.is_symlink():
            logger.warning("removing %s, left by an interrupted run", entry)
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _check_writable(out: Path) -> None:
    """Refuse an output folder that cannot be created or written, without creating it."""
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise PoseliftError(f"cannot create the output folder {out}: {existing} is a file, not a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PoseliftError(f"cannot write to the output folder {out}: {existing} is not writable.")


def _output_names(animation: str | None, sequence: bool = True) -> list[str]:
    """The outputs of a run: an animation for a sequence, a folder of pictures for photos."""
    names = ["keypoints", "poses3d.json", "poses3d.npz", "motion.bvh"]
    if animation:
        names.append(f"animation.{animation}" if sequence else "pictures")
    return names


def _check_output_dir(source: Any, out: Path, animation: str | None, overwrite: bool, sequence: bool = True) -> None:
    """Refuse, before any work, an input inside an output path, existing outputs without
    ``overwrite``, and a ``keypoints`` or ``pictures`` folder holding files poselift did not write."""
    names = _output_names(animation, sequence)
    _check_writable(out)
    if isinstance(source, (str, os.PathLike)):
        src = Path(source).resolve()
        for name in names:
            target = (out / name).resolve()
            if src == target or target in src.parents:
                raise OutputConflictError(
                    f"the input {src} lies inside the output {target} that this run writes: "
                    "choose another output folder."
                )
    taken = [n for n in names if (out / n).exists() or (out / n).is_symlink()]
    if taken and not overwrite:
        raise OutputExistsError(f"{out.resolve()} already holds {', '.join(taken)}", option="overwrite=True")
    wrong = [n for n in taken if (out / n).is_dir() != (n in _OUTPUT_FOLDERS) or (out / n).is_symlink()]
    if wrong:
        raise OutputConflictError(
            f"{out.resolve()} holds {', '.join(wrong)} of another kind than poselift writes there (a folder for a "
            "file, a file or link for the keypoints or pictures folder): move it away or choose another output folder."
        )
    for name, own in _OUTPUT_FOLDERS.items():
        folder = out / name
        if name in taken:
            foreign = foreign_entries(folder, own) if folder.is_dir() and not folder.is_symlink() else [name]
            if foreign:
                raise OutputConflictError(
                    f"{folder.resolve()} holds files poselift does not write ({', '.join(foreign[:5])}): "
                    "--overwrite replaces only poselift's own outputs; move them away or choose another output folder."
                )


def _place(rel: np.ndarray, kp2d: np.ndarray, conf: np.ndarray, cams: list[Camera], lifted: np.ndarray) -> np.ndarray:
    """Root-relative poses moved into the camera frame (each frame with its own camera)."""
    out = np.full_like(rel, np.nan)
    groups: dict[Camera, list[int]] = {}
    for i in np.flatnonzero(lifted):
        groups.setdefault(cams[i], []).append(int(i))
    for cam, idx in groups.items():
        out[idx] = to_camera_space(rel[idx], kp2d[idx], cam, conf[idx])
    return out


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool, label: str):
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, desc=Path(label).name or label, unit="frame", leave=False)


# --------------------------------------------------------------------------- outputs
def _openpose_json(kp: np.ndarray | None, fps: float) -> dict[str, Any]:
    people = []
    if kp is not None:
        flat = [round(float(v), 3) for v in np.asarray(kp).reshape(-1)]
        people.append({"person_id": [-1], "pose_keypoints_2d": flat})
    return {"version": 1.3, "people": people, "poselift": {"fps": fps}}  # read back by poselift.io.read_openpose


def _write_keypoints(result: VideoResult, out: Path) -> Path:
    """OpenPose JSON per frame in ``out/keypoints`` (written to a temporary folder, then renamed)."""
    final = out / "keypoints"
    with atomic_dir(final) as tmp:
        for f, name in enumerate(result.frames):
            kp = result.detections[f] if result.found[f] else None
            (tmp / f"{name}_keypoints.json").write_text(json.dumps(_openpose_json(kp, result.fps)) + "\n", encoding="utf-8")
    return final


def _write_outputs(
    result: VideoResult, source: FrameSource, out: Path, *, animation: str | None, bvh: bool, height: float | None, lifter: Any,
    overwrite: bool,
) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PoseliftError(f"cannot create the output folder {out}: {e.strerror or e}") from e
    try:
        with folder_lock(out):  # one run writes here at a time; outputs that appeared meanwhile are refused
            _check_output_dir(None, out, animation, overwrite, result.sequence)
            _remove_stale_temporaries(out, animation)
            # every output is written into a staging folder first and moved into place only when
            # all are complete: a failure or Ctrl-C leaves no partial set of outputs
            stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=out))
            try:
                _write_files(result, source, stage, animation=animation, bvh=bvh, height=height, lifter=lifter)
                _install_outputs(result.outputs, out, overwrite)
            finally:
                shutil.rmtree(stage, ignore_errors=True)
    except (OutputExistsError, OutputConflictError):
        raise
    except FolderBusyError as e:  # another run holds the folder's lock
        raise OutputConflictError(f"{e}: nothing was written to {out.resolve()}; run again when it is done.") from e
    except FileExistsError as e:  # an output written meanwhile by something that does not take the lock
        raise OutputExistsError(f"{e}; this run's outputs were taken back", option="overwrite=True") from e
    logger.info("wrote %d frames to %s", len(result.frames), out)


def _install_outputs(outputs: dict[str, Path], out: Path, overwrite: bool) -> None:
    """Move the staged ``outputs`` into ``out`` (updating their paths). The folders go first:
    with ``overwrite`` only they can still be refused (files appeared in them meanwhile); on
    any refusal the outputs this run had newly created are removed again, so no partial set
    stays."""
    created: list[Path] = []
    try:
        for key in sorted(outputs, key=lambda k: k not in _OUTPUT_FOLDERS):
            final = out / Path(outputs[key]).name
            new = not (final.exists() or final.is_symlink())
            if key in _OUTPUT_FOLDERS:
                install_dir(outputs[key], final, overwrite, _OUTPUT_FOLDERS[key])
            else:
                install_file(outputs[key], final, overwrite)
            if new:
                created.append(final)
            outputs[key] = final
    except FileExistsError:
        for final in created:  # this run's own, just created: nothing else is deleted
            if final.is_dir():
                shutil.rmtree(final, ignore_errors=True)
            else:
                final.unlink(missing_ok=True)
        raise


def _write_files(
    result: VideoResult, source: FrameSource, out: Path, *, animation: str | None, bvh: bool, height: float | None, lifter: Any
) -> None:
    """Every output into ``out``, a fresh staging folder (nothing there to replace or refuse)."""
    from .io import write_poses

    skel = result.skeleton
    result.outputs["keypoints"] = _write_keypoints(result, out)
    root = result.poses[:, list(skel.root)].mean(axis=1)
    rel = result.poses - root[:, None, :]
    metadata = {
        "input": source.label,
        "detector": "mediapipe pose (mediapipe33 landmarks)",
        "fps": result.fps,
        "height_m": height if height is not None else lifter.config.height,
        "frames_without_person": [result.frames[i] for i in np.flatnonzero(~result.found)],
        "frames_refused": {result.frames[i]: msg for i, msg in result.refused.items()},
        "cameras": [c.to_dict() for c in _unique(result.cameras)],
    }
    if source.skipped:
        metadata["unreadable_files"] = dict(source.skipped)
    for suffix in ("json", "npz"):  # write_poses writes to a temporary file and renames it
        result.outputs[suffix] = write_poses(
            out / f"poses3d.{suffix}", rel[:, None], skeleton=skel, frames=result.frames,
            num_people=result.found.astype(np.int64), lifted=result.lifted[:, None],
            translation=np.where(result.lifted[:, None], root, 0.0)[:, None], metadata=metadata,
        )  # fmt: skip
    if bvh and result.sequence and result.world is not None:
        from .export import write_bvh

        path, _ = write_bvh(out / "motion.bvh", result.world, skel, result.fps, axes="yup")
        result.outputs["bvh"] = path
    if animation is not None and result.sequence:
        result.outputs["animation"] = _write_animation(result, source, out / f"animation.{animation}")
    elif animation is not None:
        result.outputs["pictures"] = _write_pictures(result, source, out / "pictures")


def _unique(cams: list[Camera]) -> list[Camera]:
    return list(dict.fromkeys(cams))  # cameras are frozen dataclasses: hashable, first-seen order kept


# --------------------------------------------------------------------------- animation
_LEFT, _RIGHT, _MID = (255, 140, 40), (40, 40, 230), (60, 200, 60)  # BGR
_BGR = {LEFT_COLOR: _LEFT, RIGHT_COLOR: _RIGHT, CENTER_COLOR: _MID}  # viz's line colours, in OpenCV's order


def _draw_2d(img: np.ndarray, kp: np.ndarray, conf: np.ndarray, skel: Skeleton, scale: float) -> None:
    cv2 = _cv2()
    pts = skel.with_root_point(kp) * scale
    c = np.concatenate([conf, [conf[list(skel.root)].min()]])
    thick = max(2, int(round(img.shape[0] / 180)))
    for a, b, colour in _segments(skel):  # a == -1: the root point appended by Skeleton.with_root_point
        if c[a] > 0 and c[b] > 0:
            cv2.line(img, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]), _BGR[colour], thick, cv2.LINE_AA)
    for j in range(skel.num_joints):
        if c[j] > 0:
            cv2.circle(img, tuple(int(v) for v in pts[j]), thick + 1, (255, 255, 255), -1, cv2.LINE_AA)


def _draw_3d(size: int, pose_yup: np.ndarray | None, skel: Skeleton, label: str) -> np.ndarray:
    """A square panel: the y-up pose seen from the front-right, above, orthographic, ground grid."""
    cv2 = _cv2()
    img = np.full((size, size, 3), 245, dtype=np.uint8)
    yaw, pitch = math.radians(30.0), math.radians(15.0)
    Ry = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]])
    Rx = np.array([[1, 0, 0], [0, math.cos(pitch), -math.sin(pitch)], [0, math.sin(pitch), math.cos(pitch)]])
    R = Rx @ Ry
    s = size / 2.6  # pixels per metre: 2.6 m across
    if pose_yup is not None:
        pts = skel.with_root_point(pose_yup)
        centre = pts[-1].copy()
        centre[1] = 0.0
        ground_y = 0.0 if pts[:, 1].min() > -0.5 else pts[:, 1].min()
    else:
        centre, ground_y = np.zeros(3), 0.0

    def to_px(p: np.ndarray) -> np.ndarray:
        q = (p - centre - [0.0, 0.9, 0.0]) @ R.T
        return np.stack([size / 2 + s * q[..., 0], size / 2 - s * q[..., 1]], axis=-1)

    for k in np.linspace(-1.5, 1.5, 7):  # ground grid around the person
        for a, b in (([k, ground_y, -1.5], [k, ground_y, 1.5]), ([-1.5, ground_y, k], [1.5, ground_y, k])):
            pa, pb = to_px(np.array(a) + [centre[0], 0, centre[2]]), to_px(np.array(b) + [centre[0], 0, centre[2]])
            cv2.line(img, tuple(int(v) for v in pa), tuple(int(v) for v in pb), (205, 205, 205), 1, cv2.LINE_AA)
    if pose_yup is not None:
        px = to_px(pts)
        for a, b, colour in _segments(skel):
            cv2.line(img, tuple(int(v) for v in px[a]), tuple(int(v) for v in px[b]), _BGR[colour], 3, cv2.LINE_AA)
    cv2.putText(img, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (60, 60, 60), 1, cv2.LINE_AA)
    _draw_legend(img)
    return img


def _draw_legend(img: np.ndarray) -> None:
    """Which colour is the person's left and which their right, in the lower left corner."""
    cv2 = _cv2()
    y = img.shape[0] - 12
    for k, (text, colour) in enumerate((("left", _LEFT), ("right", _RIGHT))):
        x = 8 + 78 * k
        cv2.line(img, (x, y - 4), (x + 18, y - 4), colour, 3, cv2.LINE_AA)
        cv2.putText(img, text, (x + 24, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (60, 60, 60), 1, cv2.LINE_AA)


def render_frame(
    frame: np.ndarray, result: VideoResult, index: int, *, panel_height: int = 360
) -> np.ndarray:
    """One animation frame: the image with the 2D keypoints beside the 3D pose (y-up view)."""
    cv2 = _cv2()
    h, w = frame.shape[:2]
    scale = panel_height / h
    img = cv2.resize(frame, (max(1, int(round(w * scale))), panel_height), interpolation=cv2.INTER_AREA)
    skel = result.skeleton
    if result.found[index]:
        _draw_2d(img, result.keypoints[index], result.confidence[index], skel, scale)
    if result.lifted[index]:
        if result.world is not None:
            pose = result.world[index]
        else:  # a photo: the camera-frame pose turned y-up, about its root
            pose = (result.poses[index] - result.poses[index][list(skel.root)].mean(axis=0)) * [1.0, -1.0, -1.0]
            pose[:, 1] -= pose[:, 1].min()
        label = f"3D  {result.frames[index]}"
    else:
        pose, label = None, f"{result.frames[index]}: {'no person' if not result.found[index] else 'not lifted'}"
    return np.concatenate([img, _draw_3d(panel_height, pose, skel, label)], axis=1)


def _fit(im: np.ndarray, width: int, height: int) -> np.ndarray:
    """``im`` scaled down to fit ``width`` x ``height`` if needed and padded with white."""
    cv2 = _cv2()
    h, w = im.shape[:2]
    if w > width or h > height:
        k = min(width / w, height / h)
        im = cv2.resize(im, (max(1, int(w * k)), max(1, int(h * k))), interpolation=cv2.INTER_AREA)
        h, w = im.shape[:2]
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    canvas[:h, :w] = im
    return canvas


def _write_pictures(result: VideoResult, source: FrameSource, folder: Path) -> Path:
    """One PNG per photo, ``folder/NAME.png``: the 2D keypoints over the photo beside the 3D view."""
    cv2 = _cv2()
    with atomic_dir(folder) as tmp:
        for i, (name, frame) in enumerate(source):
            image = render_frame(frame, result, i, panel_height=min(max(frame.shape[0], 360), 720))
            if not cv2.imwrite(str(tmp / f"{name}.png"), image):
                raise PoseliftError(f"OpenCV cannot write the PNG picture {folder / (name + '.png')}.")
    return folder


def _write_animation(result: VideoResult, source: FrameSource, path: Path) -> Path:
    """The rendered frames as MP4 (OpenCV) or GIF (Pillow), written to a temporary file first."""
    cv2 = _cv2()
    suffix = path.suffix.lower()
    panel = 360 if suffix == ".mp4" else 240
    images = (render_frame(frame, result, i, panel_height=panel) for i, (_, frame) in enumerate(source))
    if source.size is None:  # photos of different sizes: one canvas for all
        images = (_fit(im, 3 * panel, panel) for im in images)
    fps = result.fps if source.sequence else 1.0
    with atomic_path(path) as tmp:
        if suffix == ".gif":
            from PIL import Image

            frames = [Image.fromarray(cv2.cvtColor(im, cv2.COLOR_BGR2RGB)) for im in images]
            frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=int(1000 / fps), loop=0)
        elif suffix == ".mp4":
            writer = None  # OpenCV picks the container by the file name: tmp keeps the .mp4 suffix
            try:
                for im in images:
                    if writer is None:
                        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (im.shape[1], im.shape[0]))
                        if not writer.isOpened():
                            raise PoseliftError(f"OpenCV cannot write MP4 video to {path}; use animation='gif'.")
                    writer.write(im)
            finally:
                if writer is not None:
                    writer.release()
        else:
            raise PoseliftError(f"animation must be 'mp4' or 'gif'; got {suffix.lstrip('.')!r}.")
    return path
