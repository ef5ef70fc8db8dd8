"""Human3.6M as a source of 2D poses (training) and of 2D/3D pairs (evaluation).

Expected files under the data folder (``--h36m DIR``, or ``$POSELIFT_DATA/h36m``)::

    h36m_3d_17j.npz        "S9/Walking 1" -> (frames, 17, 3) world mm, 50 fps
    cameras.json           cameras[subject][camera_id] = {R, T, f, c, k, p, res_wh}
    h36m_sh_2d_train.npz   "S1/Directions 1.54138969" -> (frames, 16, 2) px, MPII order
    h36m_sh_2d_test.npz    the same for S9, S11

Ground-truth 2D is the 3D joints projected with each camera's full model (focal, centre,
three radial and two tangential distortion terms). The 3D, turned into each camera's frame,
is kept only for validation and evaluation: unsupervised training never reads it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import DataError, InvalidArgumentError
from ..skeleton import joint_indices
from .data import PoseSet

__all__ = [
    "H36M_FILES",
    "TRAIN_SUBJECTS",
    "VALIDATION_SUBJECTS",
    "TEST_SUBJECTS",
    "find_h36m",
    "project_with_distortion",
    "load_h36m",
    "LSP14_FROM_H36M17",
]

H36M_FILES = ("h36m_3d_17j.npz", "cameras.json")
#: The standard protocol's subject splits. Unsupervised training reads the 2D of
#: ``TRAIN_SUBJECTS``; ``VALIDATION_SUBJECTS`` (3D) select checkpoints; ``TEST_SUBJECTS`` are
#: measured once, for the released numbers.
TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7")
VALIDATION_SUBJECTS = ("S8",)
TEST_SUBJECTS = ("S9", "S11")

#: lsp14 joints taken from h36m17 (thorax stands for the neck, as in Chen et al.: skeleton.SAME_JOINTS).
LSP14_FROM_H36M17 = joint_indices("lsp14", "h36m17")


def find_h36m(path: str | os.PathLike | None = None) -> Path:
    """The Human3.6M folder: ``path``, else ``$POSELIFT_DATA/h36m``; checked for its files."""
    if path is None:
        env = os.environ.get("POSELIFT_DATA")
        if not env:
            raise DataError(
                "no Human3.6M folder given: pass --h36m DIR (or h36m_dir=...) or set POSELIFT_DATA "
                f"to a folder containing h36m/ with {', '.join(H36M_FILES)}"
            )
        path = Path(env) / "h36m"
    folder = Path(path).expanduser()
    missing = [name for name in H36M_FILES if not (folder / name).is_file()]
    if missing:
        raise DataError(
            f"Human3.6M folder {folder.resolve()} lacks {missing}; it must hold {', '.join(H36M_FILES)} "
            "(and h36m_sh_2d_train.npz / h36m_sh_2d_test.npz for detected 2D)"
        )
    return folder


def project_with_distortion(X_world: np.ndarray, cam: dict) -> tuple[np.ndarray, np.ndarray]:
    """World points ``(..., 3)`` mm -> (pixels ``(..., 2)``, camera-frame points ``(..., 3)`` mm)."""
    R = np.asarray(cam["R"], dtype=np.float64)
    T = np.asarray(cam["T"], dtype=np.float64)
    f = np.asarray(cam["f"], dtype=np.float64)
    c = np.asarray(cam["c"], dtype=np.float64)
    k = np.asarray(cam["k"], dtype=np.float64)
    p = np.asarray(cam["p"], dtype=np.float64)
    X_cam = (X_world.astype(np.float64) - T) @ R.T
    xy = X_cam[..., :2] / X_cam[..., 2:3]
    r2 = (xy**2).sum(-1, keepdims=True)
    radial = 1 + k[0] * r2 + k[1] * r2**2 + k[2] * r2**3
    tangential = p[0] * xy[..., 1:2] + p[1] * xy[..., 0:1]
    xy_d = xy * (radial + tangential) + r2 * p[::-1]
    return (f * xy_d + c).astype(np.float32), X_cam.astype(np.float32)


def load_h36m(
    path: str | os.PathLike | None,
    subjects: tuple[str, ...] | list[str],
    *,
    inputs: str = "gt",
    stride: int = 1,
    skeleton: str = "h36m17",
    with_3d: bool = True,
    cameras: tuple[str, ...] | None = None,
) -> PoseSet:
    """Load Human3.6M poses of ``subjects``.

    ``inputs="gt"``: 2D projected from 3D; ``"detected"``: Stacked-Hourglass detections
    (MPII-16 order, mapped to ``skeleton`` by :func:`poselift.layouts.map_layout`).
    Sequences without detections (or without 3D when ``with_3d``) are skipped.
    """
    folder = find_h36m(path)
    if inputs not in {"gt", "detected"}:
        raise InvalidArgumentError(f"inputs must be 'gt' or 'detected', got {inputs!r}")
    if skeleton not in {"h36m17", "lsp14"}:
        raise InvalidArgumentError(f"Human3.6M provides h36m17 or lsp14 poses, not {skeleton!r}")
    cams = json.loads((folder / "cameras.json").read_text())
    data3d = np.load(folder / "h36m_3d_17j.npz")
    det = None
    if inputs == "detected":
        from ..layouts import map_layout

        det = {}
        for split in ("train", "test"):
            f = folder / f"h36m_sh_2d_{split}.npz"
            if f.is_file():
                d = np.load(f)
                det.update({k: d for k in d.files})
        if not det:
            raise DataError(f"{folder} has no h36m_sh_2d_train.npz / h36m_sh_2d_test.npz for detected inputs")

    kp2d, pose3d, seq, frame, names = [], [], [], [], []
    for key in sorted(data3d.files):
        subject = key.split("/")[0]
        if subject not in subjects:
            continue
        X = data3d[key][::stride]
        for cam_id in sorted(cams[subject]):
            if cameras is not None and cam_id not in cameras:
                continue
            uv, X_cam = project_with_distortion(X, cams[subject][cam_id])
            if det is not None:
                dkey = f"{key}.{cam_id}"
                if dkey not in det:
                    continue
                raw = det[dkey][dkey][::stride]
                m = min(len(raw), len(uv))
                uv = map_layout(raw[:m], "mpii16", "h36m17")
                X_cam = X_cam[:m]
            if skeleton == "lsp14":
                uv = uv[:, LSP14_FROM_H36M17]
                X_cam = X_cam[:, LSP14_FROM_H36M17]
            names.append(f"{key}.{cam_id}")
            kp2d.append(uv.astype(np.float32))
            pose3d.append(X_cam)
            seq.append(np.full(len(uv), len(names) - 1, dtype=np.int32))
            frame.append(np.arange(len(uv), dtype=np.int32) * stride)
    if not names:
        raise DataError(f"no Human3.6M sequences found for subjects {list(subjects)} in {folder}")
    return PoseSet(
        np.concatenate(kp2d),
        np.concatenate(pose3d) if with_3d else None,
        np.concatenate(seq),
        np.concatenate(frame),
        names,
        skeleton,
    )
