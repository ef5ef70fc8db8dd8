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

The frames come from :mod:`poselift.frames`; the outputs are written by
:mod:`poselift.export.outputs` (OpenPose JSON: :mod:`poselift.export.openpose`; the animation
and pictures: :mod:`poselift.export.render`).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np

from .camera import Camera, align_to_world, as_camera, to_camera_space
from .errors import InvalidArgumentError, VideoInputError
from .detectors import MediaPipeDetector, MediaPipePhotoDetector
from .export.outputs import check_output_dir, write_outputs
from .export.render import render_frame
from .frames import IMAGE_SUFFIXES, VIDEO_SUFFIXES, FrameSource, open_frames
from .people import DETECTOR_LAYOUT, as_two_stage, checked, find_people
from .skeleton import Skeleton
from .tracking import Track, choose_people

__all__ = [
    "VideoInputError",
    "FrameSource",
    "open_frames",
    "MediaPipeDetector",
    "MediaPipePhotoDetector",
    "default_detector",
    "VideoResult",
    "lift_video",
    "render_frame",
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
]

logger = logging.getLogger(__name__)


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
        raise InvalidArgumentError(f"animation must be 'mp4', 'gif' or None; got {animation!r}.")
    if smooth not in ("offline", "causal", None):
        raise InvalidArgumentError(f"smooth must be 'offline', 'causal' or None; got {smooth!r}.")
    if sequence not in ("offline", "causal", None):
        raise InvalidArgumentError(f"sequence must be 'offline', 'causal' or None; got {sequence!r}.")
    if ground not in ("tracked", "fixed"):
        raise InvalidArgumentError(f"ground must be 'tracked' or 'fixed'; got {ground!r}.")
    person = _check_person(person)
    if smooth_params:  # before any work: unknown names, NaN or negative values
        from .smooth import check_smooth_params

        check_smooth_params(smooth_params)
    if output_dir is not None:  # before the frames are opened (a folder's images are decoded for their sizes)
        check_output_dir(source, Path(output_dir), animation, overwrite, None)
    frames_in = open_frames(source, fps=fps, max_frames=max_frames)
    if output_dir is not None:  # the animation or pictures, now that the kind of input is known
        check_output_dir(source, Path(output_dir), animation, overwrite, frames_in.sequence)
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
        write_outputs(
            result, frames_in, Path(output_dir), animation=animation, bvh=bvh, height=height, lifter=lifter, overwrite=overwrite
        )
        timings["write"] = time.perf_counter() - t0
    return result


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
