"""Read 2D keypoint files (the writer of lifted 3D poses, :func:`write_poses`, lives in :mod:`poselift.export`).

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

import os
from pathlib import Path

from ..errors import InputFileError
from ..export.poses import POSES_FORMAT, write_poses  # re-exported: poselift.io.write_poses keeps working
from .arrays import _read_numpy
from .coco import _read_coco_obj, read_coco
from .data import KeypointData, _load_json
from .openpose import read_openpose

__all__ = [
    "KeypointData",
    "read_keypoints",
    "read_openpose",
    "read_coco",
    "write_poses",
    "POSES_FORMAT",
]


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
            raise InputFileError(f"{path} holds lifted 3D poses written by poselift, not 2D keypoints")
        raise InputFileError(
            f"{path}: unrecognised JSON; expected an OpenPose frame (with 'people'), a COCO annotation "
            "file (with 'annotations') or a COCO result list"
        )
    if suffix in (".npy", ".npz"):
        return _read_numpy(path, layout)
    raise InputFileError(
        f"{path}: unsupported file type {path.suffix!r}; poselift reads .json (OpenPose, COCO), "
        ".npy, .npz and OpenPose folders"
    )
