"""Synchronised multi-view 2D of Human3.6M's four calibrated cameras, for cross-view training.

Every row is one instant of one sequence seen by all cameras: ``kp2d[t, v]`` is the 2D of
camera ``v`` (ground-truth projections or Stacked-Hourglass detections), and
``rotations[group[t], v]`` that camera's world-to-camera rotation. Root-relative poses of
one instant in cameras a and b satisfy ``P_b = R_b R_a^T P_a``, so cross-view training
needs only the rotations: no translation, no root depth, no 3D.

3D is read only for the explicitly labelled rows of a semi-supervised recipe
(``labels``); everything else is 2D and camera rotations.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import PoseliftError
from ..evaluation.data import PoseSet

__all__ = ["MultiViewSet", "load_h36m_multiview", "single_view"]

logger = logging.getLogger(__name__)


@dataclass
class MultiViewSet:
    """2D poses of ``V`` synchronised views per row.

    ``kp2d`` ``(T, V, N, 2)`` pixels (NaN where a view is missing); ``target2d`` the same
    shape or ``None``: cleaner 2D of the same views used as the cross-view target (e.g.
    ground-truth projections when ``kp2d`` are detections); ``rotations`` ``(G, V, 3, 3)``
    world-to-camera rotations or ``None`` (no calibration: single view); ``group`` ``(T,)``
    the row's camera group; ``seq``/``frame`` ``(T,)`` for temporal pairs (``seq`` -1: no
    sequence); ``labels`` ``(T, N, 3)`` world-frame root-relative 3D for labelled rows, NaN
    elsewhere, or ``None``.
    """

    kp2d: np.ndarray
    seq: np.ndarray
    frame: np.ndarray
    skeleton: str
    rotations: np.ndarray | None = None
    group: np.ndarray | None = None
    target2d: np.ndarray | None = None
    labels: np.ndarray | None = None
    names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.kp2d)

    @property
    def views(self) -> int:
        return self.kp2d.shape[1]

    def take(self, index: np.ndarray) -> "MultiViewSet":
        pick = lambda a: None if a is None else a[index]  # noqa: E731
        return MultiViewSet(
            self.kp2d[index], self.seq[index], self.frame[index], self.skeleton, self.rotations,
            pick(self.group), pick(self.target2d), pick(self.labels), self.names,
        )


def single_view(poses: PoseSet) -> MultiViewSet:
    """A :class:`PoseSet` as a one-view set (no cameras, no labels)."""
    return MultiViewSet(poses.kp2d[:, None], poses.seq, poses.frame, poses.skeleton, names=tuple(poses.names))


def load_h36m_multiview(
    path: str | os.PathLike | None,
    subjects: list[str] | tuple[str, ...],
    *,
    inputs: str = "gt",
    target: str = "inputs",
    stride: int = 1,
    correction: Any = None,
    labelled: dict[str, int] | None = None,
) -> MultiViewSet:
    """Human3.6M instants of ``subjects`` with the 2D of all four cameras (``h36m17`` layout).

    ``inputs``: ``"gt"`` (3D projected with each camera's full model) or ``"detected"`` (SH
    detections, MPII-16 mapped to H36M-17, then through ``correction`` if given, a
    :class:`~poselift.correction.LearnedCorrection`); ``target``: ``"inputs"`` or ``"gt"`` (cross-view targets from the
    ground-truth projections). ``labelled``: ``{subject: every}`` keeps the 3D of every
    ``every``-th frame of those subjects (semi-supervised recipes only).
    """
    from ..evaluation.h36m import find_h36m, project_with_distortion

    if inputs not in {"gt", "detected"}:
        raise PoseliftError(f"data.inputs must be 'gt' or 'detected', got {inputs!r}")
    folder = find_h36m(path)
    cams = json.loads((folder / "cameras.json").read_text())
    data3d = np.load(folder / "h36m_3d_17j.npz")
    det = None
    if inputs == "detected":
        from ..layouts import map_layout

        f = folder / "h36m_sh_2d_train.npz"
        if not f.is_file():
            raise PoseliftError(f"{folder} has no h36m_sh_2d_train.npz: data.inputs 'detected' needs the detections")
        det = np.load(f)  # read lazily: only the sequences of ``subjects``
    labelled = labelled or {}

    kp, tgt, lab, seq, frame, group, rots, names = [], [], [], [], [], [], [], []
    for key in sorted(data3d.files):
        subject = key.split("/")[0]
        if subject not in subjects:
            continue
        cam_ids = sorted(cams[subject])
        X = data3d[key]
        length = len(X)
        raw = None
        if det is not None:
            if any(f"{key}.{c}" not in det for c in cam_ids):
                logger.warning("%s: detections missing for some cameras; sequence skipped", key)
                continue
            raw = [det[f"{key}.{c}"] for c in cam_ids]
            length = min(length, *(len(r) for r in raw))
        rows = np.arange(0, length, stride)
        Xs = X[rows]
        gt = None
        if raw is None or target == "gt":  # ground-truth projections: the inputs, or the targets
            gt = np.stack([project_with_distortion(Xs, cams[subject][c])[0] for c in cam_ids], axis=1)
        if raw is not None:
            kp.append(np.stack([map_layout(r[rows], "mpii16", "h36m17").astype(np.float32) for r in raw], axis=1))
            tgt.append(gt)
        else:
            kp.append(gt)
            tgt.append(None)
        every = labelled.get(subject)
        if every:
            L = np.full(Xs.shape, np.nan, np.float32)
            keep = rows % every == 0
            L[keep] = Xs[keep] - Xs[keep, :1]
            lab.append(L)
        else:
            lab.append(np.full(Xs.shape, np.nan, np.float32) if labelled else None)
        names.append(key)
        seq.append(np.full(len(rows), len(names) - 1, np.int32))
        frame.append(rows.astype(np.int32))
        rots.append(np.stack([np.asarray(cams[subject][c]["R"], np.float32) for c in cam_ids]))
        group.append(np.full(len(rows), len(rots) - 1, np.int32))
    if not names:
        raise PoseliftError(f"no Human3.6M sequences with all cameras for subjects {list(subjects)} in {folder}")
    kp2d = np.concatenate(kp)
    if correction is not None and det is not None:
        kp2d = correction.correct_complete(kp2d.reshape(-1, *kp2d.shape[2:])).reshape(kp2d.shape)
    return MultiViewSet(
        kp2d=kp2d,
        seq=np.concatenate(seq),
        frame=np.concatenate(frame),
        skeleton="h36m17",
        rotations=np.stack(rots),
        group=np.concatenate(group),
        target2d=np.concatenate(tgt) if tgt[0] is not None else None,
        labels=np.concatenate(lab) if labelled else None,
        names=tuple(names),
    )
