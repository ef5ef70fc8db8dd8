"""Your own unlabelled 2D keypoints as training data.

Any file or folder :func:`poselift.io.read_keypoints` reads (OpenPose JSON files or folders,
COCO keypoint files, ``.npy``/``.npz`` arrays) in any supported layout. Poses are mapped to
the lifter's layout with :func:`poselift.adapt.adapt_layout`; every person in every frame
whose mapped joints all reach ``min_confidence`` becomes one training pose (incomplete
poses are dropped: the lifter trains on complete 2D).
"""

from __future__ import annotations

import logging
import os

import numpy as np

from ..adapt import adapt_layout
from ..skeleton import canonical_layout
from ..errors import PoseliftError
from ..io import read_keypoints
from ..evaluation.data import PoseSet

__all__ = ["load_keypoints"]

logger = logging.getLogger(__name__)


def load_keypoints(
    path: str | os.PathLike | None,
    *,
    target: str = "h36m17",
    layout: str | None = None,
    min_confidence: float = 0.05,
) -> PoseSet:
    """Complete poses of a keypoint file or folder, in the ``target`` layout (pixels)."""
    if path is None:
        raise PoseliftError("data.path is required for data.source 'keypoints': a keypoint file or folder")
    data = read_keypoints(path, layout=layout)
    source = data.skeleton.name  # raises with a hint when the layout is ambiguous
    adapted = adapt_layout(data.keypoints, source, data.confidence, target=canonical_layout(target))
    kp = np.asarray(adapted.keypoints, dtype=np.float32)
    conf = np.asarray(adapted.confidence)
    complete = data.present & (conf >= min_confidence).all(axis=-1) & np.isfinite(kp).all(axis=(-1, -2))
    frames, people = np.nonzero(complete)
    if len(frames) == 0:
        raise PoseliftError(
            f"{path}: no complete pose (every {target} joint with confidence >= {min_confidence}) among "
            f"{int(data.present.sum())} people in {data.num_frames} frames; lower data.min_confidence"
        )
    logger.info("%s: %d complete poses of %d people", path, len(frames), int(data.present.sum()))
    # one "sequence" per person slot: slots are not tracked identities, so no temporal pairs
    return PoseSet(
        kp[frames, people],
        None,
        people.astype(np.int32),
        frames.astype(np.int32),
        [f"{os.fspath(path)}/person{p}" for p in range(data.max_people)],
        canonical_layout(target),
    )
