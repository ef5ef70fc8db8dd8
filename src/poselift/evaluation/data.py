"""Training and evaluation data held as flat arrays."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ..errors import DataError

__all__ = ["PoseSet", "data_folder"]


def data_folder(path: str | os.PathLike | None, name: str, how: str) -> Path:
    """``path``, else ``$POSELIFT_DATA/<name>``; ``how`` says in the error how to give a path."""
    from ..errors import DataError

    if path is None:
        env = os.environ.get("POSELIFT_DATA")
        if not env:
            raise DataError(f"no {name} folder given: {how} or set POSELIFT_DATA to a folder containing {name}/")
        path = Path(env) / name
    return Path(path).expanduser()


@dataclass
class PoseSet:
    """Flat arrays of 2D poses (and 3D where known), one row per (sequence, frame).

    ``kp2d`` pixels ``(M, N, 2)``; ``pose3d`` camera-frame mm ``(M, N, 3)`` (validation
    only); ``seq`` an integer per (sequence, camera) for temporal sampling; ``frame``
    the frame number; ``names[seq]`` = ``"S9/Walking 1.54138969"``. ``seq`` -1 marks poses
    outside any sequence (no temporal pairs are drawn from them). ``confidence`` ``(M, N)``,
    when given, marks missing joints with 0 (their coordinates NaN).
    """

    kp2d: np.ndarray
    pose3d: np.ndarray | None
    seq: np.ndarray
    frame: np.ndarray
    names: list[str] = field(default_factory=list)
    skeleton: str = "h36m17"
    confidence: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.kp2d)

    def action_of(self, seq: int) -> str:
        """Action name without the trial number: ``"S9/Walking 1.x"`` -> ``"Walking"``."""
        action = self.names[seq].split("/", 1)[1].rsplit(".", 1)[0]
        return action.split(" ")[0]

    def take(self, index: np.ndarray) -> "PoseSet":
        return PoseSet(
            self.kp2d[index],
            None if self.pose3d is None else self.pose3d[index],
            self.seq[index],
            self.frame[index],
            self.names,
            self.skeleton,
            None if self.confidence is None else self.confidence[index],
        )

    def with_untimed(self, *others: "PoseSet") -> "PoseSet":
        """These poses followed by ``others`` as poses outside any sequence (``seq`` -1, no 3D)."""
        if any(o.skeleton != self.skeleton for o in others):
            raise DataError(f"all poses must be in the {self.skeleton!r} layout")
        kp = np.concatenate([self.kp2d, *(o.kp2d.astype(self.kp2d.dtype, copy=False) for o in others)])
        n_extra = len(kp) - len(self)
        pose3d = None
        if self.pose3d is not None:
            pose3d = np.concatenate([self.pose3d, np.full((n_extra, *self.pose3d.shape[1:]), np.nan, self.pose3d.dtype)])
        seq = np.concatenate([self.seq, np.full(n_extra, -1, self.seq.dtype)])
        frame = np.concatenate([self.frame, np.zeros(n_extra, self.frame.dtype)])
        return PoseSet(kp, pose3d, seq, frame, self.names, self.skeleton)
