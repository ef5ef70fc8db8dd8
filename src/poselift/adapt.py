"""Bring keypoints of other layouts into a lifter's layout (``h36m17`` or ``lsp14``).

The public adapters: the geometric tables of :mod:`poselift.layouts`, then the learned
correction poselift ships for the pair (:mod:`poselift.correction`).

The geometric mapping (affine combinations of source joints with alternatives for missing
joints, and how each Human3.6M-17 joint is made) is documented in :mod:`poselift.layouts`.

A learned residual correction ``x + C(x)`` per source layout (Chen et al.'s 2D domain
adapter) is applied after the mapping where poselift ships one for the (source, target)
pair: MPII-16 → H36M-17 (:data:`poselift.weights.BUNDLED_CORRECTIONS`). ``correction=None``
keeps the geometric mapping only; any callable can be passed instead.
"""

from __future__ import annotations

import functools

import numpy as np

from .correction import load_correction
from .errors import InvalidArgumentError, ShapeError, UnknownLayoutError
from .layouts import (
    HEAD_FROM_EARS,
    HEAD_FROM_EYES,
    HEAD_FROM_NOSE,
    HIP_WIDEN,
    MAPPINGS,
    NECK_FRACTION,
    SPINE_FRACTION,
    TARGETS,
    THORAX_RAISE,
    Adapted,
    Array,
    Correction,
    apply_mapping,
    map_layout,
)
from .skeleton import LAYOUT_ALIASES, canonical_layout

__all__ = [
    "Adapted",
    "adapt_layout",
    "adapt_openpose",
    "adapt_coco17",
    "adapt_mpii16",
    "map_layout",
    "MAPPINGS",
    "TARGETS",
    "LAYOUT_ALIASES",
    "canonical_layout",
    "HIP_WIDEN",
    "THORAX_RAISE",
    "SPINE_FRACTION",
    "NECK_FRACTION",
    "HEAD_FROM_EARS",
    "HEAD_FROM_EYES",
    "HEAD_FROM_NOSE",
]

def adapt_layout(
    keypoints: Array,
    source: str,
    confidence: Array | None = None,
    *,
    target: str = "h36m17",
    min_confidence: float = 0.0,
    correction: Correction | str | None = "default",
) -> Adapted:
    """Map keypoints of layout ``source`` to the lifter layout ``target``.

    Args:
        keypoints: ``(*batch, N, 2)`` pixel coordinates, or ``(*batch, N, 3)`` with the
            confidence as the last channel; ``np.ndarray`` or ``torch.Tensor``.
        source: layout of the keypoints (``"body25"``, ``"coco18"``, ``"coco17"``,
            ``"mpii16"``, ``"mediapipe33"``, ``"lsp14"``, ``"h36m17"`` or a full layout name).
        confidence: ``(*batch, N)`` per-joint confidence (only with 2-channel keypoints);
            default: every joint with finite coordinates is present.
        target: ``"h36m17"`` or ``"lsp14"``, the lifter's layout (``lifter.config.skeleton``).
        min_confidence: source joints at or below it count as missing (so the next
            alternative is used). Joints with NaN or infinite coordinates are missing too.
        correction: the learned correction applied after the mapping (see
            :data:`~poselift.layouts.Correction` and :mod:`poselift.correction`): ``"default"``
            uses the one poselift ships for this (source, target) pair when there is one
            (:data:`poselift.weights.RELEASED`), a callable uses that, ``None`` applies the
            geometric mapping only.

    Returns:
        :class:`Adapted` ``(keypoints (*batch, M, 2), confidence (*batch, M))`` in the
        input's container, float64 for float64 input and float32 otherwise. Missing
        joints have confidence 0 and NaN coordinates. Pass the result whole to the
        lifter: ``lifter.lift(adapted)``.
    """
    if isinstance(correction, str) and correction != "default":
        raise InvalidArgumentError(f"correction must be 'default', None or a callable; got {correction!r}")
    if not (correction is None or isinstance(correction, str) or callable(correction)):
        raise InvalidArgumentError(f"correction must be 'default', None or a callable; got {type(correction).__name__}")
    if isinstance(correction, str) and isinstance(source, str) and isinstance(target, str):
        correction = _default_correction(canonical_layout(source), canonical_layout(target))
    return apply_mapping(
        keypoints, source, confidence, target=target, min_confidence=min_confidence,
        correction=None if isinstance(correction, str) else correction,
    )  # fmt: skip


@functools.lru_cache(maxsize=None)
def _default_correction(source: str, target: str) -> Correction | None:
    return load_correction(source, target)


def adapt_openpose(
    keypoints: Array,
    *,
    layout: str | None = None,
    confidence: Array | None = None,
    target: str = "h36m17",
    min_confidence: float = 0.0,
    correction: Correction | str | None = "default",
) -> Adapted:
    """Map OpenPose keypoints (BODY_25 or COCO-18) to a lifter layout.

    ``layout`` (keyword-only): ``"body25"`` or ``"coco18"``; by default taken from the joint
    count (25 or 18). OpenPose writes undetected joints as ``0, 0, 0``, so pass the
    ``(..., N, 3)`` array as it comes, or ``(..., N, 2)`` with ``confidence=``.
    See :func:`adapt_layout` for the other arguments.

    >>> pose3d = lifter.lift(adapt_openpose(body25))   # doctest: +SKIP
    """
    if layout is None:
        n = int(np.shape(keypoints)[-2]) if len(np.shape(keypoints)) >= 2 else -1
        by_count = {25: "openpose_body25", 18: "openpose_coco18"}
        if n not in by_count:
            raise ShapeError(
                f"OpenPose keypoints must have shape (..., 25, 2|3) (BODY_25) or (..., 18, 2|3) "
                f"(COCO-18); got {tuple(np.shape(keypoints))}."
            )
        layout = by_count[n]
    name = canonical_layout(layout)
    if name not in ("openpose_body25", "openpose_coco18"):
        raise UnknownLayoutError(f"adapt_openpose() takes layout 'body25' or 'coco18'; got {layout!r}")
    return adapt_layout(keypoints, name, confidence, target=target, min_confidence=min_confidence, correction=correction)


def adapt_coco17(
    keypoints: Array,
    confidence: Array | None = None,
    *,
    target: str = "h36m17",
    min_confidence: float = 0.0,
    correction: Correction | str | None = "default",
) -> Adapted:
    """Map COCO-17 keypoints (most 2D detectors: ViTPose, RTMPose, YOLO-pose...) to a lifter layout."""
    return adapt_layout(keypoints, "coco17", confidence, target=target, min_confidence=min_confidence, correction=correction)


def adapt_mpii16(
    keypoints: Array,
    confidence: Array | None = None,
    *,
    target: str = "h36m17",
    min_confidence: float = 0.0,
    correction: Correction | str | None = "default",
) -> Adapted:
    """Map MPII-16 keypoints (e.g. Stacked-Hourglass detections) to a lifter layout."""
    return adapt_layout(keypoints, "mpii16", confidence, target=target, min_confidence=min_confidence, correction=correction)
