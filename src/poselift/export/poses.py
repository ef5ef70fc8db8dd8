"""Write lifted 3D poses as ``.json`` (readable, one number list per joint) or ``.npz``."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._arrays import to_bool, to_numpy
from .._files import output_file
from ..errors import NonFiniteError, OutputConflictError, OutputPathError, ShapeError
from ..skeleton import Skeleton, get_skeleton

__all__ = ["write_poses", "POSES_FORMAT"]

logger = logging.getLogger(__name__)

#: ``"format"`` of the poses files :func:`write_poses` writes (``poselift lift`` reads them back as input).
POSES_FORMAT = "poselift.poses3d"
_NUMBER_LIST = re.compile(r"\[\n\s*([-+0-9.eE,\s]+?)\n\s*\]")
_NAME_LIST = re.compile(r'\[\n\s*("\w+"(?:,\n\s*"\w+")*)\n\s*\]')
_AXES = "camera frame, OpenCV axes: x right, y down, z away from the camera"


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
    overwrite: bool = True,
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
        overwrite: replace an existing ``path``; if False, :class:`OutputExistsError` when
            ``path`` exists when the file is complete (another process wrote it meanwhile).

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
        with _output(path, overwrite) as tmp:
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
        with _output(path, overwrite) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    else:
        raise OutputPathError(f"output file {path} must end in .json or .npz")
    logger.info("wrote %d frames of %s poses to %s", n_frames, skel.name, path)
    return path


@contextlib.contextmanager
def _output(path: Path, overwrite: bool):
    """:func:`output_file`, with a folder where the file goes raised as :class:`OutputConflictError`."""
    try:
        with output_file(path, overwrite) as tmp:
            yield tmp
    except IsADirectoryError:  # a folder where the file goes: never replaced
        raise OutputConflictError(f"{path.resolve()} is a folder; give a file name, or move the folder away.") from None
