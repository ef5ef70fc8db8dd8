"""From a video, an image or a folder of images to 3D poses, an animation and a BVH file.

``pip install ".[video]"`` (in the checkout) brings the 2D detector, MediaPipe Pose (its
models ship inside the ``mediapipe`` wheel, so it runs offline), and OpenCV to decode
video. :func:`lift_video` runs the whole chain:

1. decode the frames (a video file, one image, or a folder of images in natural name order);
2. find everyone in each frame of a sequence and give each person an id that stays theirs
   from frame to frame (:mod:`poselift.detectors`, :mod:`poselift.people`,
   :mod:`poselift.tracking`), choose whom to
   lift (``person``: the main person by default, everyone, or an id) and find their 33
   MediaPipe landmarks (layout ``mediapipe33``); a photo's largest person;
3. adapt the landmarks to the lifter's layout and lift them, each person as one clip;
4. place each pose in the camera frame (:mod:`poselift.camera`; intrinsics from the image
   size unless given);
5. optionally smooth the sequence (:mod:`poselift.smooth`);
6. write the 2D keypoints as OpenPose JSON (``keypoints/``, re-liftable with
   ``poselift lift``; ``person_id`` is the person's id), the 3D poses (``poses3d.json``,
   ``poses3d.npz``: root-relative, a person axis after the frame axis, with each root's
   ``translation`` in the camera frame), an animation (``animation.mp4`` or ``.gif``: the
   2D keypoints over the frame beside a 3D view) and, for sequences, BVH files
   (``motion.bvh`` for the main person, ``motion_<id>.bvh`` for each other person lifted;
   y-up world frame with the ground estimated from the feet, by default following them
   slowly as a handheld camera moves).

Frames in which a person is not found, or cannot be lifted, are kept in every output and
marked (``"lifted": false``; missing from the ``people`` list of the OpenPose JSON). A
folder of images of different sizes is treated as unrelated photos: each is detected on
its own and nothing is smoothed or written to BVH.
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
from .errors import InvalidArgumentError, OutputConflictError, OutputExistsError, PoseliftError, VideoInputError, require
from .detectors import MediaPipeDetector, MediaPipePhotoDetector
from .people import DETECTOR_LAYOUT, as_two_stage, checked, find_people
from .skeleton import Skeleton
from .tracking import Track, choose_people
from .viz import CENTER_COLOR, LEFT_COLOR, RIGHT_COLOR, _segments

__all__ = [
    "VideoInputError",
    "FrameSource",
    "open_frames",
    "MediaPipeDetector",
    "MediaPipePhotoDetector",
    "default_detector",
    "VideoResult",
    "lift_video",
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".gif")
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
def default_detector(sequence: bool, fps: float) -> Any:
    """MediaPipe: several people per frame of a sequence (:class:`~poselift.detectors.MediaPipeDetector`),
    one person per photo (:class:`~poselift.detectors.MediaPipePhotoDetector`)."""
    return MediaPipeDetector(fps=fps) if sequence else MediaPipePhotoDetector()


def _check_person(person: Any) -> str | int:
    if isinstance(person, (int, np.integer)) and not isinstance(person, bool) and person >= 0:
        return int(person)
    if person in ("main", "all"):
        return person
    raise InvalidArgumentError(f"person must be 'main', 'all' or a person id (an integer >= 0); got {person!r}.")


def _detect_photos(
    source: FrameSource, detector: Any, camera: Camera | None, progress: Any, timings: dict[str, float]
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """``(F, 1, 33, 3)``: the largest person of each photo (NaN where nobody was found), and
    each photo's ``(width, height)``."""
    rows: list[np.ndarray] = []
    sizes: list[tuple[int, int]] = []
    it = iter(source)
    while True:
        t0 = time.perf_counter()
        try:
            _, frame = next(it)
        except StopIteration:
            break
        if camera is not None and source.size is None:
            camera.check_image(frame.shape[1], frame.shape[0])
        t1 = time.perf_counter()
        people = detector(frame)
        timings["decode"] += t1 - t0
        timings["detect"] += time.perf_counter() - t1
        heights = [np.ptp(p[:, 1]) for p in people]
        rows.append(people[int(np.argmax(heights))][None] if len(people) else np.full((1, 33, 3), np.nan))
        sizes.append((frame.shape[1], frame.shape[0]))
        progress.update(1)
    return np.stack(rows), sizes


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

    Arrays are per frame ``F`` and chosen person ``P`` (the person axis follows the frame
    axis; ``people[p]`` is the id of person ``p``); ``M`` joints of the lifter's layout
    ``skeleton``. Photos have one person each (the largest found).

    Attributes:
        frames: frame names.
        fps: frame rate used.
        people: the ids of the people lifted, in the order of the person axis.
        main: the id of the main person (visible longest, then largest), or None (photos, nobody).
        tracks: everyone followed in a sequence (:class:`poselift.tracking.Track`), chosen or not.
        detections: ``(F, P, 33, 3)`` detector landmarks (pixels, visibility); NaN where not found.
        found: ``(F, P)`` the person was detected.
        lifted: ``(F, P)`` the person was lifted.
        keypoints: ``(F, P, M, 2)`` adapted 2D keypoints; ``confidence`` ``(F, P, M)``.
        poses: ``(F, P, M, 3)`` camera-frame poses in metres (smoothed when asked); NaN where not lifted.
        poses_raw: the same before smoothing.
        world: ``(F, P, M, 3)`` y-up world-frame poses for sequences, else ``None``: each bone
            at its median length (as in ``motion.bvh``), the soles of the feet on the ground
            ``y = 0`` in their contact frames and never below it, each person on their own
            ground (:func:`poselift.camera.align_to_world`).
        cameras: the intrinsics used per frame.
        refused: ``(frame, person)`` index -> why the lifter refused that person.
        swapped: ``(F, P)`` frames whose 2D had left and right swapped back
            (:func:`poselift.tracking.consistent_sides`).
        mended: ``(F, P)`` frames whose 2D had a limb's short excursion mended
            (:func:`poselift.tracking.repair_excursions`).
        timings: seconds spent per stage (decode, detect, track, lift, smooth, write).
        outputs: what was written (``"keypoints"``, ``"json"``, ``"npz"``, ``"animation"`` for
            sequences or ``"pictures"`` for photos, ``"bvh"`` and ``"bvh <id>"`` for the other
            people); empty when nobody was lifted.
    """

    frames: list[str]
    fps: float
    sequence: bool
    skeleton: Skeleton
    people: list[int]
    main: int | None
    tracks: list[Track]
    detections: np.ndarray
    found: np.ndarray
    lifted: np.ndarray
    keypoints: np.ndarray
    confidence: np.ndarray
    poses: np.ndarray
    poses_raw: np.ndarray
    world: np.ndarray | None
    cameras: list[Camera]
    refused: dict[tuple[int, int], str]
    swapped: np.ndarray
    mended: np.ndarray
    timings: dict[str, float]
    outputs: dict[str, Path]

    def outcome(self, index: int, person: int = 0) -> str:
        """What became of person slot ``person`` in frame ``index``: ``"lifted"``, ``"no person
        found"`` or ``"not lifted: <why>"``."""
        if person >= self.lifted.shape[1]:  # nobody followed in the sequence
            return "no person found"
        if self.lifted[index, person]:
            return "lifted"
        if not self.found[index, person]:
            return "no person found"
        return f"not lifted: {self.refused.get((index, person), 'the pose could not be lifted')}"

    @property
    def fps_end_to_end(self) -> float:
        """Frames per second of decoding, detection, tracking, lifting and smoothing (writing excluded)."""
        t = sum(self.timings.get(k, 0.0) for k in ("decode", "detect", "track", "lift", "smooth"))
        return len(self.frames) / t if t > 0 else float("nan")


# --------------------------------------------------------------------------- the pipeline
def lift_video(
    source: str | os.PathLike | Sequence[np.ndarray],
    output_dir: str | os.PathLike | None = None,
    *,
    lifter: Any = None,
    model: str | os.PathLike | None = None,
    person: Literal["main", "all"] | int = "main",
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
    detector: Any = None,
) -> VideoResult:
    """Detect, track, lift, place, smooth and export people from a video, image(s) or frames.

    Args:
        source: a video file, an image, a folder of images, or a list of BGR frames.
        output_dir: folder for the outputs (created); ``None`` writes nothing.
        lifter: a :class:`poselift.Lifter` (default: ``Lifter.from_pretrained(model)``).
        model: lifter name or folder when ``lifter`` is not given (default ``poselift/h36m-17``).
        person: whom to lift in a sequence: ``"main"`` (the person detected in the most
            frames, then the largest, see :func:`poselift.tracking.choose_people`), ``"all"``
            or a person id (ids number everyone followed, in order of first appearance;
            :attr:`VideoResult.tracks`). A photo's person is its largest.
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
        bvh: write ``motion.bvh`` (sequences only; the main person, or the first chosen, and
            ``motion_<id>.bvh`` for each other chosen person).
        ground: the world frame's ground (:func:`poselift.camera.align_to_world`):
            ``"tracked"`` follows the feet slowly, for a handheld or moving camera;
            ``"fixed"``, one plane for the whole sequence (a camera on a tripod).
        overwrite: replace outputs already in ``output_dir`` (otherwise they are refused
            before any work is done).
        progress: show a progress bar (tqdm) on stderr.
        detector: replaces MediaPipe: a callable ``frame_bgr -> None | (33, 3) | (people, 33, 3)``
            (landmarks of everyone in the frame), or a two-stage detector like
            :class:`poselift.detectors.MediaPipeDetector` (``find`` and ``landmarks``).

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
    person = _check_person(person)
    if smooth_params:  # before any work: unknown names, NaN or negative values
        from .smooth import check_smooth_params

        check_smooth_params(smooth_params)
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
        detector = default_detector(frames_in.sequence, frames_in.fps)
    timings = {"decode": 0.0, "detect": 0.0, "track": 0.0, "lift": 0.0, "smooth": 0.0, "write": 0.0}
    two_stage = hasattr(detector, "find")
    bar = _progress(len(frames_in) * (2 if frames_in.sequence and two_stage else 1), progress, frames_in.label)
    tracks: list[Track] = []
    try:
        if frames_in.sequence:
            found_people = find_people(
                frames_in, detector if two_stage else as_two_stage(detector), person, timings=timings, progress=bar
            )
            detections, ids, tracks = found_people.landmarks, found_people.ids, found_people.tracks
            swapped, mended = found_people.swapped, found_people.mended
        else:
            detections, sizes = _detect_photos(frames_in, checked(detector), camera, bar, timings)
            ids = [0]
            swapped = mended = np.zeros(detections.shape[:2], dtype=bool)
    finally:
        bar.close()
        if own_detector:
            getattr(detector, "close", lambda: None)()
    F, P = detections.shape[:2]
    if frames_in.sequence:
        sizes = [frames_in.size] * F
    cams = [camera if camera is not None else Camera.from_image_size(w, h, fov_deg=fov_deg) for w, h in sizes]
    found = np.isfinite(detections).all(axis=(2, 3))

    t0 = time.perf_counter()
    from .adapt import adapt_layout

    raw = np.where(found[..., None, None], detections, 0.0)
    kp2d, conf = adapt_layout(raw[..., :2], DETECTOR_LAYOUT, raw[..., 2], target=skel.name)
    kp2d, conf = np.asarray(kp2d, dtype=np.float64), np.asarray(conf, dtype=np.float64)
    poses_raw = np.full(kp2d.shape[:-1] + (3,), np.nan)
    lifted = np.zeros((F, P), dtype=bool)
    refused: dict[tuple[int, int], str] = {}
    for p in range(P):
        rel, why = _lift_rows(
            lifter, kp2d[:, p].astype(np.float32), conf[:, p].astype(np.float32), found[:, p], height,
            sequence=sequence if frames_in.sequence else None, fps=frames_in.fps,
        )  # fmt: skip
        lifted[:, p] = found[:, p] & np.isfinite(rel).all(axis=(1, 2))
        poses_raw[:, p] = _place(rel, kp2d[:, p], conf[:, p], cams, lifted[:, p])
        unplaced = lifted[:, p] & ~np.isfinite(poses_raw[:, p]).all(axis=(1, 2))
        if unplaced.any():
            from .lifter import UNLIFTABLE_REASONS

            why.update({int(i): UNLIFTABLE_REASONS["camera"] for i in np.flatnonzero(unplaced)})
            lifted[:, p] &= ~unplaced
        refused.update({(f, p): msg for f, msg in why.items()})
    timings["lift"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    poses = poses_raw.copy()
    if smooth is not None and frames_in.sequence:
        from .smooth import smooth_poses

        for p in range(P):
            if lifted[:, p].sum() > 1:
                poses[:, p] = smooth_poses(poses_raw[:, p], skel, frames_in.fps, mode=smooth, **(smooth_params or {}))
    timings["smooth"] = time.perf_counter() - t0

    world = None
    if frames_in.sequence and lifted.any():  # each bone at its median length, as in motion.bvh; feet on the ground
        from .smooth import fix_bone_lengths

        world = np.full_like(poses, np.nan)
        for p in np.flatnonzero(lifted.any(axis=0)):
            world[:, p], _ = align_to_world(fix_bone_lengths(poses[:, p], skel), skel, ground=ground, fps=frames_in.fps)

    result = VideoResult(
        frames=list(frames_in.names[:F]), fps=frames_in.fps, sequence=frames_in.sequence, skeleton=skel, people=list(ids),
        main=choose_people(tracks)[0] if tracks else None, tracks=tracks, detections=detections, found=found,
        lifted=lifted, keypoints=kp2d, confidence=conf, poses=poses, poses_raw=poses_raw, world=world, cameras=cams,
        refused=refused, swapped=swapped, mended=mended, timings=timings, outputs={},
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


def _other_people_bvh(out: Path) -> list[str]:
    """The ``motion_<id>.bvh`` files in ``out`` (the BVH of people other than the main one)."""
    if not out.is_dir():
        return []
    return sorted(p.name for p in out.iterdir() if re.fullmatch(r"motion_\d+\.bvh", p.name) and p.is_file() and not p.is_symlink())


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
    taken += _other_people_bvh(out)
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
def _openpose_json(people: list[tuple[int, np.ndarray]], fps: float) -> dict[str, Any]:
    """One frame in OpenPose's JSON: ``people`` are ``(id, (33, 3) landmarks)``."""
    rows = [
        {"person_id": [int(pid)], "pose_keypoints_2d": [round(float(v), 3) for v in np.asarray(kp).reshape(-1)]}
        for pid, kp in people
    ]
    return {"version": 1.3, "people": rows, "poselift": {"fps": fps}}  # read back by poselift.io.read_openpose


def _write_keypoints(result: VideoResult, out: Path) -> Path:
    """OpenPose JSON per frame in ``out/keypoints`` (written to a temporary folder, then renamed)."""
    final = out / "keypoints"
    with atomic_dir(final) as tmp:
        for f, name in enumerate(result.frames):
            people = [(pid, result.detections[f, p]) for p, pid in enumerate(result.people) if result.found[f, p]]
            (tmp / f"{name}_keypoints.json").write_text(json.dumps(_openpose_json(people, result.fps)) + "\n", encoding="utf-8")
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
                mine = {Path(path).name for path in result.outputs.values()}
                for name in _other_people_bvh(out):  # an earlier run's other people (overwrite): not this run's
                    if name not in mine:
                        (out / name).unlink()
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
    root = result.poses[:, :, list(skel.root)].mean(axis=2)
    rel = result.poses - root[:, :, None, :]
    people = {str(t.id): {"first": result.frames[t.first], "last": result.frames[t.last], "frames": len(t.frames)} for t in result.tracks}
    metadata = {
        "input": source.label,
        "detector": "mediapipe pose (mediapipe33 landmarks)",
        "fps": result.fps,
        "height_m": height if height is not None else lifter.config.height,
        "people": result.people,  # the person axis: ids
        "main_person": result.main,
        "people_found": people,
        "frames_without_person": [result.frames[i] for i in np.flatnonzero(~result.found.any(axis=1))],
        "frames_without_person_by_id": {str(pid): [result.frames[i] for i in np.flatnonzero(~result.found[:, p])] for p, pid in enumerate(result.people)},
        "frames_refused": {f"{result.frames[f]} person {result.people[p]}": msg for (f, p), msg in result.refused.items()},
        "frames_sides_swapped_back": {str(pid): [result.frames[i] for i in np.flatnonzero(result.swapped[:, p])] for p, pid in enumerate(result.people)},
        "frames_limb_mended": {str(pid): [result.frames[i] for i in np.flatnonzero(result.mended[:, p])] for p, pid in enumerate(result.people)},
        "cameras": [c.to_dict() for c in _unique(result.cameras)],
    }  # fmt: skip
    if source.skipped:
        metadata["unreadable_files"] = dict(source.skipped)
    P = len(result.people)  # slots after a frame's last person found are padding, not written
    last_found = np.where(result.found.any(axis=1), P - np.argmax(result.found[:, ::-1], axis=1), 0) if P else np.zeros(len(result.frames), int)
    for suffix in ("json", "npz"):  # write_poses writes to a temporary file and renames it
        result.outputs[suffix] = write_poses(
            out / f"poses3d.{suffix}", rel, skeleton=skel, frames=result.frames, num_people=last_found,
            lifted=result.lifted, translation=np.where(result.lifted[..., None], root, 0.0), metadata=metadata,
        )  # fmt: skip
    if bvh and result.sequence and result.world is not None:
        from .export import write_bvh

        for p in _bvh_order(result):
            pid = result.people[p]
            name = "motion.bvh" if p == _bvh_order(result)[0] else f"motion_{pid}.bvh"
            path, _ = write_bvh(out / name, result.world[:, p], skel, result.fps, axes="yup")
            result.outputs["bvh" if name == "motion.bvh" else f"bvh {pid}"] = path
    if animation is not None and result.sequence:
        result.outputs["animation"] = _write_animation(result, source, out / f"animation.{animation}")
    elif animation is not None:
        result.outputs["pictures"] = _write_pictures(result, source, out / "pictures")


def _bvh_order(result: VideoResult) -> list[int]:
    """Person slots with a lifted frame, the main person first (``motion.bvh``)."""
    slots = [p for p in range(len(result.people)) if result.lifted[:, p].any()]
    return sorted(slots, key=lambda p: result.people[p] != result.main)


def _show_slot(result: VideoResult) -> int:
    """The person slot whose 3D the animation shows: the main person's, else the first."""
    return result.people.index(result.main) if result.main in result.people else 0


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
    for p in range(len(result.people)):
        if result.found[index, p]:
            _draw_2d(img, result.keypoints[index, p], result.confidence[index, p], skel, scale)
    p = _show_slot(result)
    who = f"person {result.people[p]}  " if result.sequence else ""
    if result.lifted[index, p]:
        if result.world is not None:
            pose = result.world[index, p]
        else:  # a photo: the camera-frame pose turned y-up, about its root
            pose = (result.poses[index, p] - result.poses[index, p][list(skel.root)].mean(axis=0)) * [1.0, -1.0, -1.0]
            pose[:, 1] -= pose[:, 1].min()
        label = f"3D  {who}{result.frames[index]}"
    else:
        pose, label = None, f"{who}{result.frames[index]}: {'no person' if not result.found[index, p] else 'not lifted'}"
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
