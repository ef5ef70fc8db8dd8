"""Bring keypoints of other layouts into a lifter's layout.

Step 1 (this module, now): a documented geometric mapping. Each target joint is a weighted
sum of source joints (e.g. the H36M pelvis is the mean of the two hips of COCO-17).
"""

from __future__ import annotations

import numpy as np

from .errors import PoseliftError
from .skeleton import get_skeleton

__all__ = ["map_layout", "MAPPINGS"]

# target joint -> {source joint: weight}; weights of one target joint sum to 1.
_MPII16_TO_H36M17 = {
    "pelvis": {"pelvis": 1.0},
    "right_hip": {"right_hip": 1.0},
    "right_knee": {"right_knee": 1.0},
    "right_ankle": {"right_ankle": 1.0},
    "left_hip": {"left_hip": 1.0},
    "left_knee": {"left_knee": 1.0},
    "left_ankle": {"left_ankle": 1.0},
    "spine": {"pelvis": 0.5, "thorax": 0.5},
    "thorax": {"thorax": 1.0},
    "neck": {"upper_neck": 0.6, "head_top": 0.4},
    "head_top": {"head_top": 1.0},
    "left_shoulder": {"left_shoulder": 1.0},
    "left_elbow": {"left_elbow": 1.0},
    "left_wrist": {"left_wrist": 1.0},
    "right_shoulder": {"right_shoulder": 1.0},
    "right_elbow": {"right_elbow": 1.0},
    "right_wrist": {"right_wrist": 1.0},
}

#: (source layout, target layout) -> {target joint: {source joint: weight}}
MAPPINGS: dict[tuple[str, str], dict[str, dict[str, float]]] = {
    ("mpii16", "h36m17"): _MPII16_TO_H36M17,
}


def _matrix(source: str, target: str) -> np.ndarray:
    """``(N_target, N_source)`` weights of the mapping."""
    try:
        table = MAPPINGS[(source, target)]
    except KeyError:
        known = sorted({f"{s} -> {t}" for s, t in MAPPINGS})
        raise PoseliftError(f"no mapping from {source!r} to {target!r}; known mappings: {known}") from None
    src, dst = get_skeleton(source), get_skeleton(target)
    W = np.zeros((dst.num_joints, src.num_joints), dtype=np.float64)
    for joint, weights in table.items():
        for sj, w in weights.items():
            W[dst.index(joint), src.index(sj)] = w
    return W


def map_layout(keypoints: np.ndarray, source: str, target: str) -> np.ndarray:
    """Geometric mapping of ``(..., N_source, 2)`` keypoints to ``(..., N_target, 2)``."""
    W = _matrix(source, target)
    kp = np.asarray(keypoints)
    return np.einsum("ts,...sd->...td", W, kp).astype(kp.dtype if kp.dtype.kind == "f" else np.float32)
