"""Frames to process: a video file, an image, a folder of images (in natural name order) or
a list of BGR arrays, decoded lazily (:func:`open_frames`, :class:`FrameSource`).

OpenCV decodes them (``pip install "poselift[video]"``). A path that does not exist, a file
that cannot be decoded, a folder without images or a frame of size zero raise
:class:`~poselift.errors.VideoInputError` naming the file; one undecodable image in a
folder is left out (:attr:`FrameSource.skipped`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ._args import check_count, check_fps
from ._files import natural_key
from .errors import VideoInputError, require

__all__ = ["FrameSource", "open_frames", "IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "DEFAULT_FOLDER_FPS"]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".gif")
#: Frame rate assumed for a folder of frames when none is given.
DEFAULT_FOLDER_FPS = 30.0


def _cv2():
    return require("cv2", "video")


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


def _check_names(paths: list[Path]) -> None:
    """Refuse two images with one stem (``a.png`` and ``a.jpg``): their frames would share a
    name, and one photo's outputs would replace the other's."""
    seen: dict[str, Path] = {}
    for p in paths:
        if p.stem in seen:
            raise VideoInputError(
                f"{seen[p.stem].resolve()} and {p.resolve()} would both be frame {p.stem!r}, and the outputs of one "
                "would replace the other's: rename or move one of them."
            )
        seen[p.stem] = p


def _open_images(paths: list[Path], label: str, fps: float | None) -> FrameSource:
    _cv2()  # fails here, naming poselift[video], when OpenCV is missing
    _check_names(paths)
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
            key=lambda p: natural_key(p.name),
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
