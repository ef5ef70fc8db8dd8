"""Write a sequence of pictures as an animation file: GIF with Pillow, MP4 with the ``ffmpeg``
program where it is on ``PATH`` (H.264, which browsers play), else with OpenCV (MPEG-4 part 2,
``mp4v``: desktop players, not every browser). The one writer behind
:func:`~poselift.viz.save_pose_animation` and ``poselift video``'s ``animation.mp4/.gif``.

The file is written to a temporary file beside the target and renamed when complete, so a
failed or interrupted write leaves neither a partial animation nor a stray temporary file.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..._args import check_fps
from ..._files import atomic_path
from ...errors import ExportError, InvalidArgumentError, OutputPathError, install_hint, require

__all__ = ["ANIMATION_SUFFIXES", "check_animation_path", "write_frames"]

logger = logging.getLogger(__name__)

#: The animation formats, by file suffix.
ANIMATION_SUFFIXES = (".gif", ".mp4")


def _opencv():
    """OpenCV, or ``None`` where it is not installed."""
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def check_animation_path(path: str | os.PathLike) -> str:
    """The suffix of ``path`` once it is known that an animation can be written there: a
    suffix of :data:`ANIMATION_SUFFIXES`, and for MP4 OpenCV or ``ffmpeg`` at hand. Called
    before the frames are drawn, so a missing writer is reported before any work."""
    suffix = Path(path).suffix.lower()
    if suffix not in ANIMATION_SUFFIXES:
        raise OutputPathError(f"animation path must end in .gif or .mp4; got {str(path)!r}")
    if suffix == ".gif":
        require("PIL.Image", "viz", "Pillow")  # it comes with matplotlib and with the video extra
    elif _opencv() is None and shutil.which("ffmpeg") is None:
        raise ExportError(
            f"writing .mp4 needs OpenCV ({install_hint('video')}) or the ffmpeg program on PATH "
            "(e.g. `apt install ffmpeg`); neither is here. Install one, or write a .gif instead."
        )
    return suffix


def write_frames(frames: Iterable[np.ndarray], path: str | os.PathLike, *, fps: float) -> Path:
    """Write ``frames``, RGB ``(height, width, 3)`` uint8 pictures all of one size, as the
    animation ``path`` (``.gif`` or ``.mp4``, see :func:`check_animation_path`) at ``fps``
    frames per second. The folder must exist. Returns ``path``."""
    path = Path(path)
    suffix = check_animation_path(path)
    fps = check_fps(fps)
    with atomic_path(path) as tmp:  # tmp keeps the suffix: OpenCV picks the container by it
        count = (_write_gif if suffix == ".gif" else _write_mp4)(_checked(frames), tmp, path, fps)
    logger.info("wrote animation %s (%d frames at %g fps)", path, count, fps)
    return path


def _checked(frames: Iterable[np.ndarray]) -> Iterable[np.ndarray]:
    """``frames`` as contiguous uint8 RGB arrays, refusing an empty sequence or a change of size."""
    shape = None
    for k, frame in enumerate(frames):
        frame = np.ascontiguousarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise InvalidArgumentError(f"animation frames must be (height, width, 3) uint8 RGB; frame {k} is {frame.dtype} {frame.shape}")
        if shape is None:
            shape = frame.shape
        elif frame.shape != shape:
            raise InvalidArgumentError(f"animation frames must all have one size; frame {k} is {frame.shape[:2]}, frame 0 {shape[:2]}")
        yield frame
    if shape is None:
        raise InvalidArgumentError("an animation needs at least one frame; got none")


def _write_gif(frames: Iterable[np.ndarray], tmp: Path, path: Path, fps: float) -> int:
    from PIL import Image

    pictures = [Image.fromarray(frame) for frame in frames]
    pictures[0].save(tmp, format="GIF", save_all=True, append_images=pictures[1:], duration=max(10, round(1000 / fps)), loop=0)  # ms; GIF counts hundredths
    return len(pictures)


def _write_mp4(frames: Iterable[np.ndarray], tmp: Path, path: Path, fps: float) -> int:
    cv2 = _opencv()
    if cv2 is None or shutil.which("ffmpeg") is not None:  # ffmpeg's H.264 plays in browsers, OpenCV's mp4v may not
        return _write_mp4_ffmpeg(frames, tmp, path, fps)
    writer, count = None, 0
    try:
        for frame in frames:
            if writer is None:
                writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frame.shape[1], frame.shape[0]))
                if not writer.isOpened():
                    raise ExportError(f"OpenCV cannot write MP4 video to {path}; write a GIF instead (animation='gif').")
            writer.write(np.ascontiguousarray(frame[..., ::-1]))  # OpenCV takes BGR
            count += 1
    finally:
        if writer is not None:
            writer.release()
    return count


def _write_mp4_ffmpeg(frames: Iterable[np.ndarray], tmp: Path, path: Path, fps: float) -> int:
    """MP4 through the ``ffmpeg`` program: raw RGB frames on its standard input."""
    ffmpeg = shutil.which("ffmpeg") or "ffmpeg"  # found by check_animation_path
    process, count = None, 0
    try:
        for frame in frames:
            if process is None:
                h, w = frame.shape[:2]
                command = [
                    ffmpeg, "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                    "-r", f"{fps:g}", "-i", "-", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2:color=white",
                    "-pix_fmt", "yuv420p", str(tmp),
                ]  # fmt: skip
                process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                process.stdin.write(frame.tobytes())
            except BrokenPipeError:
                break  # ffmpeg stopped: its message is read below
            count += 1
    finally:
        if process is not None:
            _, err = process.communicate()
    if process.returncode != 0:
        raise ExportError(f"ffmpeg could not write MP4 video to {path}: {err.decode(errors='replace').strip()[-500:]}")
    return count
