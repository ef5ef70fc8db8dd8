"""Unpaired 2D of people in the wild (no 3D anywhere) as keypoint files for ``data.extra``.

Research-only readers (not in the wheel) for the four in-the-wild sets of the shared data
folder (``$POSELIFT_DATA/wild2d``; each under its owner's research terms). The command writes
each set's complete poses, adapted to the lifter layout, as an ``.npz`` keypoint file that a
recipe's ``data.extra`` takes like any user's keypoints
(``training/recipes/h36m17_xview_wild.yaml``)::

    python training/wild2d.py ../shared/data/wild2d --out runs/wild2d   # penn_action_stride4.npz, lsp.npz, ...
 Every pose goes through a layout adapter of
:mod:`poselift.adapt` with its geometric mapping only (the learned MPII correction was
fitted to Stacked-Hourglass detections, not to human annotation), and only **complete**
poses are kept: a joint the source did not annotate is missing, the adapter cannot build
the joints that depend on it, and the pose is dropped rather than invented.

=============== ============================================== =============================
source          file, what is used                             layout it is read as
=============== ============================================== =============================
``penn_action`` ``penn_action_13j.npz``: every ``stride``-th    ``coco17`` (Penn's head point
                frame of the 2,326 sports clips, every joint    as the nose: the head-top rule
                (occluded joints are annotated too)             extends it away from the neck)
``lsp``         ``lsp_14j.npz``: LSP (occluded joints           ``mpii16`` (LSP's neck is the
                annotated) and LSP-extended (only the visible   upper neck; pelvis and thorax
                ones annotated)                                 come from the hips and neck)
``mpii``        ``mpii_valid_16j.npz``: joints at (0, 0) are    ``mpii16``
                unannotated
``kinetics``    ``kinetics_openpose_coco18.npz``: real          ``openpose_coco18``
                OpenPose output on 340x256 frames, joints
                below ``min_confidence`` missing
=============== ============================================== =============================
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import numpy as np

from poselift.adapt import adapt_layout
from poselift.errors import DataError
from poselift.evaluation.data import PoseSet, data_folder

logger = logging.getLogger(__name__)

#: Source name -> file in the wild2d folder.
WILD_SOURCES = {
    "penn_action": "penn_action_13j.npz",
    "lsp": "lsp_14j.npz",
    "mpii": "mpii_valid_16j.npz",
    "kinetics": "kinetics_openpose_coco18.npz",
}

# Penn Action (head, l/r shoulder, elbow, wrist, hip, knee, ankle) -> coco17 rows.
_PENN_TO_COCO17 = (0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
# LSP (r ankle, knee, hip, l hip, knee, ankle, r wrist, elbow, shoulder, l shoulder, elbow, wrist, neck, head top)
# -> mpii16 rows (pelvis 6 and thorax 7 stay missing).
_LSP_TO_MPII16 = (0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 8, 9)


def find_wild2d(path: str | os.PathLike | None = None) -> Path:
    """The wild2d folder: ``path``, else ``$POSELIFT_DATA/wild2d``."""
    folder = data_folder(path, "wild2d", "pass the wild2d folder")
    if not folder.is_dir():
        raise DataError(f"{folder.resolve()}: no such wild2d folder")
    return folder


def _raw(source: str, folder: Path, stride: int, min_confidence: float) -> tuple[np.ndarray, np.ndarray, str]:
    """Keypoints ``(M, J, 2)``, confidence ``(M, J)`` (0 = not annotated) and the layout to read them as."""
    file = folder / WILD_SOURCES[source]
    if not file.is_file():
        raise DataError(f"{file.resolve()}: missing ({source} 2D)")
    with np.load(file, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    if source == "penn_action":
        rows = np.concatenate([a[::stride] for _, a in sorted(arrays.items())])
        kp = np.full((len(rows), 17, 2), np.nan, np.float32)
        conf = np.zeros((len(rows), 17), np.float32)
        kp[:, _PENN_TO_COCO17] = rows[..., :2]
        conf[:, _PENN_TO_COCO17] = 1.0
        return kp, conf, "coco17"
    if source == "lsp":
        parts = []
        for name in ("lsp", "lspet"):
            a = arrays[name][::stride]
            ok = np.ones(a.shape[:2], bool) if name == "lsp" else a[..., 2] > 0
            parts.append((a, ok))
        rows = np.concatenate([a for a, _ in parts])
        ok = np.concatenate([o for _, o in parts])
        kp = np.full((len(rows), 16, 2), np.nan, np.float32)
        conf = np.zeros((len(rows), 16), np.float32)
        kp[:, _LSP_TO_MPII16] = rows[..., :2]
        conf[:, _LSP_TO_MPII16] = ok
        return kp, conf, "mpii16"
    if source == "mpii":
        rows = arrays["keypoints"][::stride]
        ok = ~((rows[..., 0] == 0) & (rows[..., 1] == 0))
        return rows[..., :2].astype(np.float32), ok.astype(np.float32), "mpii16"
    rows = np.concatenate([a[::stride] for _, a in sorted(arrays.items())])
    kp = rows[..., :2] * np.array([340.0, 256.0], np.float32)
    conf = np.where(rows[..., 2] >= min_confidence, rows[..., 2], 0.0).astype(np.float32)
    return kp.astype(np.float32), conf, "openpose_coco18"


def load_wild2d(
    source: str,
    path: str | os.PathLike | None = None,
    *,
    target: str = "h36m17",
    stride: int = 1,
    min_confidence: float = 0.05,
) -> PoseSet:
    """Complete poses of one in-the-wild source in the ``target`` layout (pixels, no 3D)."""
    if source not in WILD_SOURCES:
        raise DataError(f"unknown wild 2D source {source!r}; choose one of {sorted(WILD_SOURCES)}")
    kp, conf, layout = _raw(source, find_wild2d(path), stride, min_confidence)
    kp = np.where(conf[..., None] > 0, kp, np.nan)
    adapted = adapt_layout(kp, layout, conf, target=target, correction=None)
    out = np.asarray(adapted.keypoints, dtype=np.float32)
    complete = (np.asarray(adapted.confidence) > 0).all(axis=-1) & np.isfinite(out).all(axis=(-1, -2))
    out = out[complete]
    if len(out) == 0:
        raise DataError(f"{source}: no complete pose after mapping to {target}")
    logger.info("%s: %d complete poses of %d", source, len(out), len(kp))
    n = len(out)
    return PoseSet(out, None, np.full(n, -1, np.int32), np.zeros(n, np.int32), [], target)


#: The strides of the sources in training/recipes/h36m17_xview_wild.yaml (Penn Action's video frames: every 4th).
RECIPE_STRIDES = {"penn_action": 4, "lsp": 1, "mpii": 1, "kinetics": 1}


def file_name(source: str, stride: int) -> str:
    return f"{source}.npz" if stride == 1 else f"{source}_stride{stride}.npz"


def write_keypoints(poses: PoseSet, path: Path) -> Path:
    """The poses as an ``.npz`` keypoint file (``keypoints`` ``(M, N, 2)`` and ``layout``)."""
    np.savez(path, keypoints=poses.kp2d, layout=np.array(poses.skeleton))
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write the in-the-wild 2D sets as keypoint files for data.extra.")
    ap.add_argument("wild2d", help="the wild2d folder (penn_action_13j.npz, lsp_14j.npz, ...)")
    ap.add_argument("--out", required=True, help="folder for the keypoint files (e.g. runs/wild2d; ignored by git)")
    ap.add_argument("--target", default="h36m17", help="the lifter layout")
    ap.add_argument("--min-confidence", type=float, default=0.05, help="Kinetics' OpenPose joints below it are missing")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for source, stride in RECIPE_STRIDES.items():
        poses = load_wild2d(source, args.wild2d, target=args.target, stride=stride, min_confidence=args.min_confidence)
        print(f"wrote {write_keypoints(poses, out / file_name(source, stride))}: {len(poses)} poses")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
