"""OpenPose JSON: one file per frame, or a folder of them."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._files import natural_key
from ..errors import EmptyInputError, InputFileError, PoseliftError, ShapeError
from ..skeleton import SKELETONS, canonical_layout

from .data import (
    _count_hint,
    _load_json,
    _triplets,
    _stack,
    _check_some_joint,
    KeypointData,
    _OPENPOSE_LAYOUTS,
)

logger = logging.getLogger(__name__)

__all__ = ["read_openpose"]


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
            key=lambda p: natural_key(p.name),
        )
        if not files:
            raise EmptyInputError(f"{path.resolve()} holds no .json files; expected OpenPose frame files")
    elif path.is_file():
        files = [path]
    else:
        raise FileNotFoundError(f"OpenPose path {path.resolve()} does not exist")

    name = canonical_layout(layout) if layout is not None else None
    n = SKELETONS[name].num_joints if name is not None else None
    read: list[tuple[Path, list[np.ndarray], float | None]] = []
    errors: dict[str, str] = {}
    first_error: PoseliftError | None = None
    rates: set[float | None] = set()

    def skip(file: Path, e: PoseliftError) -> None:
        nonlocal first_error
        if len(files) == 1:
            raise e
        first_error = first_error or e
        errors[str(file)] = str(e)
        logger.warning("skipping unreadable OpenPose file: %s", e)

    for file in files:
        try:
            obj = _load_json(file)
            persons = _openpose_frame(obj, file)
            sizes = sorted({len(t) for t in persons})
            if len(sizes) > 1:
                raise ShapeError(f"{file}: people have different joint counts {sizes}")
        except PoseliftError as e:
            skip(file, e)
            continue
        read.append((file, persons, _recorded_fps(obj)))
    if n is None:  # the joint count most files hold, not the first file's (one odd file must not drop the rest)
        counts: dict[int, int] = {}
        for _, persons, _ in read:
            if persons and len(persons[0]) in _OPENPOSE_LAYOUTS:
                counts[len(persons[0])] = counts.get(len(persons[0]), 0) + 1
        if counts:
            ranked = sorted(counts.items(), key=lambda kv: -kv[1])
            if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
                raise ShapeError(
                    f"the files in {path.resolve()} disagree on the joint count: "
                    + ", ".join(f"{c} files hold {k} joints" for k, c in ranked)
                    + "; pass layout=... (--layout) to say which to read"
                )
            first = next(file for file, persons, _ in read if persons and len(persons[0]) == ranked[0][0])
            name, n = _layout_for_openpose(ranked[0][0], first), ranked[0][0]
    people: list[list[np.ndarray]] = []
    frames: list[str] = []
    for file, persons, recorded in read:
        if persons and len(persons[0]) != n and n is None:
            try:
                _layout_for_openpose(len(persons[0]), file)  # raises: no OpenPose layout has this count
            except ShapeError as e:
                skip(file, e)
                continue
        if persons and len(persons[0]) != n:
            skip(file, ShapeError(
                f"{file}: people have {len(persons[0])} joints but "
                f"{'the layout ' + repr(name) if layout else 'most files'} {n}. {_count_hint(len(persons[0]))}"
            ))  # fmt: skip
            continue
        people.append(persons)
        frames.append(file.stem)
        rates.add(recorded)
    if not frames:
        raise InputFileError(
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
        raise InputFileError(f"{file}: not an OpenPose frame (expected an object with a 'people' list)")
    persons = []
    for i, person in enumerate(obj["people"]):
        if not isinstance(person, dict):
            raise InputFileError(f"{file}: people[{i}] is not an object")
        key = "pose_keypoints_2d" if "pose_keypoints_2d" in person else "pose_keypoints"  # OpenPose < 1.2
        if key not in person:
            raise InputFileError(f"{file}: people[{i}] has no 'pose_keypoints_2d'")
        persons.append(_triplets(person[key], f"{file}: people[{i}].{key}"))
    return persons
