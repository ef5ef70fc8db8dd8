"""2D keypoints as OpenPose JSON, one file per frame (``poselift video``'s ``keypoints/``),
read back by :func:`poselift.io.read_openpose` (``poselift lift``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._files import atomic_dir

__all__ = ["KEYPOINT_FILES", "openpose_json", "write_keypoints"]

#: The files poselift writes in ``OUT/keypoints`` (the only ones ``overwrite`` replaces there).
KEYPOINT_FILES = "*_keypoints.json"


def openpose_json(people: list[tuple[int, np.ndarray]], fps: float) -> dict[str, Any]:
    """One frame in OpenPose's JSON: ``people`` are ``(id, (33, 3) landmarks)``."""
    rows = [
        {"person_id": [int(pid)], "pose_keypoints_2d": [round(float(v), 3) for v in np.asarray(kp).reshape(-1)]}
        for pid, kp in people
    ]
    return {"version": 1.3, "people": rows, "poselift": {"fps": fps}}  # read back by poselift.io.read_openpose


def write_keypoints(
    folder: Path, frames: Sequence[str], ids: Sequence[int], landmarks: np.ndarray, found: np.ndarray, fps: float
) -> Path:
    """OpenPose JSON per frame, ``folder/<frame>_keypoints.json`` (written to a temporary folder,
    then renamed): ``landmarks`` ``(F, P, 33, 3)`` of the people ``ids``, those ``found`` ``(F, P)``."""
    with atomic_dir(folder) as tmp:
        for f, name in enumerate(frames):
            people = [(pid, landmarks[f, p]) for p, pid in enumerate(ids) if found[f, p]]
            (tmp / f"{name}_keypoints.json").write_text(json.dumps(openpose_json(people, fps)) + "\n", encoding="utf-8")
    return folder
