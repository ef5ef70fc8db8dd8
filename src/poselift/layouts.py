"""Layout mapping tables: how keypoints of other layouts become a lifter's layout (``h36m17`` or ``lsp14``).

Pure data and numpy: this module loads no network. The public adapters of
:mod:`poselift.adapt` apply these tables, then a learned correction where one ships.

The mapping is geometric and documented: every target joint is an **affine combination**
of source joints (weights summing to 1; negative weights extrapolate), with a list of
**alternatives** tried in order when source joints are missing. The first alternative
whose source joints are all present gives the joint; its confidence is the smallest
confidence among those sources. A joint with no usable alternative is missing
(confidence 0, coordinates NaN, so it cannot be lifted as a real point when the
confidence is dropped). A source joint with NaN or infinite coordinates is missing,
whatever its confidence. All tables live in :data:`MAPPINGS` and can be printed::

    >>> MAPPINGS[("coco17", "h36m17")]["pelvis"]
    ({'left_hip': 0.5, 'right_hip': 0.5},)

How each Human3.6M-17 joint is made (the measurements behind the constants are in
``training/RESULTS.md``, "Layout mapping constants"):

* **limbs** (shoulders, elbows, wrists, knees, ankles): the same joint.
* **hips**: the source hip pushed away from the other hip by :data:`HIP_WIDEN` (15 % of
  the hip width): hips marked by annotators and detectors (MPII, COCO, OpenPose) sit
  closer together than Human3.6M's hip joint centres.
* **pelvis** (root): the mid-point of the (unwidened) hips; OpenPose BODY_25's
  ``mid_hip`` or MPII's ``pelvis`` when a hip is missing.
* **thorax**: the mid-point of the shoulders (OpenPose's ``neck`` is close to it, and is
  used when available), moved up along the torso by :data:`THORAX_RAISE` (10 %) of the
  hips-to-shoulders distance. MPII has neck joints: thorax = 0.25 ``thorax`` + 0.75
  ``upper_neck``.
* **spine**: :data:`SPINE_FRACTION` (0.5) of the way from the pelvis to the thorax.
* **neck** (H36M joint 9, "neck/nose"): half-way (:data:`NECK_FRACTION`) from the
  thorax to the head top.
* **head_top**: Human3.6M's "head" joint, near the centre of the head. MPII: 0.5
  ``upper_neck`` + 0.5 ``head_top``. Layouts without a head top (COCO, OpenPose) extend a
  head point away from the neck base (OpenPose ``neck``, else the shoulder mid-point ``b``):
  ``head_top = p + k (p - b)`` with, in order of preference, ``p`` = mid-ears
  (:data:`HEAD_FROM_EARS`, k = 0.2), mid-eyes (:data:`HEAD_FROM_EYES`, k = 0.1), one
  ear (k = 0.2, profile views), the nose (:data:`HEAD_FROM_NOSE`, k = 0.3).

``lsp14`` targets use the same rules: its ``neck`` is the Human3.6M thorax (as in the
``lsp14`` lifters, trained on Human3.6M) and its ``head_top`` the Human3.6M head top.
Source ``lsp14`` keypoints follow that convention.

"""

from __future__ import annotations

import itertools
from typing import Any, Callable, NamedTuple, TypeVar

import numpy as np

from ._args import check_number
from ._arrays import Container, to_numpy
from .errors import InvalidArgumentError, LayoutMappingError, NonFiniteError, ShapeError, UnknownLayoutError
from .skeleton import canonical_layout, get_skeleton, guess_layouts

__all__ = [
    "Adapted",
    "Correction",
    "apply_mapping",
    "map_layout",
    "MAPPINGS",
    "TARGETS",
    "HIP_WIDEN",
    "THORAX_RAISE",
    "SPINE_FRACTION",
    "NECK_FRACTION",
    "HEAD_FROM_EARS",
    "HEAD_FROM_EYES",
    "HEAD_FROM_NOSE",
]

Array = TypeVar("Array")  # np.ndarray or torch.Tensor: results come back in the caller's container

#: A learned correction: ``(B, M, 2)`` mapped keypoints and ``(B, M)`` confidence (numpy)
#: -> ``(B, M, 2)`` corrected keypoints, in the target layout
#: (e.g. :class:`poselift.correction.LearnedCorrection`).
Correction = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: Layouts that lifters use; every source layout maps to each of them.
TARGETS = ("h36m17", "lsp14")

HIP_WIDEN = 0.15
THORAX_RAISE = 0.10
SPINE_FRACTION = 0.5
NECK_FRACTION = 0.5
HEAD_FROM_EARS = 0.2
HEAD_FROM_EYES = 0.1
HEAD_FROM_NOSE = 0.3


# --------------------------------------------------------------------------- table building
# A Rule is a tuple of alternatives, most preferred first; an alternative is a dict
# {source joint: weight} whose weights sum to 1.
Rule = tuple[dict[str, float], ...]


def _j(name: str) -> Rule:
    return ({name: 1.0},)


def _mid(a: str, b: str) -> Rule:
    return ({a: 0.5, b: 0.5},)


def _either(*rules: Rule) -> Rule:
    """Alternatives of the first rule, then of the second, ... (duplicates dropped)."""
    out: list[dict[str, float]] = []
    for rule in rules:
        for alt in rule:
            if alt not in out:
                out.append(alt)
    return tuple(out)


def _affine(*terms: tuple[float, Rule]) -> Rule:
    """``sum_i w_i * rule_i`` with ``sum_i w_i = 1``; alternatives in preference order."""
    out: list[dict[str, float]] = []
    for combo in itertools.product(*(rule for _, rule in terms)):
        acc: dict[str, float] = {}
        for (w, _), alt in zip(terms, combo):
            for joint, v in alt.items():
                acc[joint] = acc.get(joint, 0.0) + w * v
        alt = {j: round(v, 10) for j, v in sorted(acc.items()) if abs(v) > 1e-12}
        if alt not in out:
            out.append(alt)
    return tuple(out)


def _lerp(a: Rule, b: Rule, t: float) -> Rule:
    """The point a fraction ``t`` of the way from ``a`` to ``b`` (``t > 1`` extrapolates)."""
    return _affine((1.0 - t, a), (t, b))


def _extend(point: Rule, base: Rule, k: float) -> Rule:
    """``point + k (point - base)``: ``point`` pushed away from ``base``."""
    return _affine((1.0 + k, point), (-k, base))


def _widened_hip(side: str, fallback_mid: Rule = ()) -> Rule:
    other = "left_hip" if side == "right_hip" else "right_hip"
    return _either(
        _extend(_j(side), _j(other), HIP_WIDEN),
        _extend(_j(side), fallback_mid, 2 * HIP_WIDEN) if fallback_mid else (),
        _j(side),
    )


def _h36m17(limbs: dict[str, Rule], pelvis: Rule, thorax: Rule, head_top: Rule) -> dict[str, Rule]:
    """The 17 Human3.6M joints from the source's limbs and its pelvis, thorax and head top."""
    rules = dict(limbs)
    rules["pelvis"] = pelvis
    rules["thorax"] = thorax
    rules["head_top"] = head_top
    rules["spine"] = _lerp(pelvis, thorax, SPINE_FRACTION)
    rules["neck"] = _lerp(thorax, head_top, NECK_FRACTION)
    order = get_skeleton("h36m17").joints
    return {j: rules[j] for j in order}


_LIMBS = ("shoulder", "elbow", "wrist", "knee", "ankle")


def _limbs(hip_mid: Rule = ()) -> dict[str, Rule]:
    out = {f"{s}_{p}": _j(f"{s}_{p}") for s in ("left", "right") for p in _LIMBS}
    out["left_hip"] = _widened_hip("left_hip", hip_mid)
    out["right_hip"] = _widened_hip("right_hip", hip_mid)
    return out


def _coco_like(neck: bool, mid_hip: bool) -> dict[str, Rule]:
    """COCO-17 and the OpenPose layouts (``neck``: has OpenPose's neck; ``mid_hip``: BODY_25)."""
    hips = _mid("left_hip", "right_hip")
    hip_mid = _either(hips, _j("mid_hip")) if mid_hip else hips
    shoulders = _mid("left_shoulder", "right_shoulder")
    base = _either(_j("neck"), shoulders) if neck else shoulders
    thorax = _either(_extend(base, hip_mid, THORAX_RAISE), base)
    head = _either(
        _extend(_mid("left_ear", "right_ear"), base, HEAD_FROM_EARS),
        _extend(_mid("left_eye", "right_eye"), base, HEAD_FROM_EYES),
        _extend(_j("right_ear"), base, HEAD_FROM_EARS),
        _extend(_j("left_ear"), base, HEAD_FROM_EARS),
        _extend(_j("nose"), base, HEAD_FROM_NOSE),
    )
    return _h36m17(_limbs(_j("mid_hip") if mid_hip else ()), hip_mid, thorax, head)


def _mpii16() -> dict[str, Rule]:
    pelvis = _either(_mid("left_hip", "right_hip"), _j("pelvis"))
    thorax = _either(({"thorax": 0.25, "upper_neck": 0.75},), _j("upper_neck"), _j("thorax"))
    head = _either(_mid("upper_neck", "head_top"),)
    return _h36m17(_limbs(_j("pelvis")), pelvis, thorax, head)


def _lsp14_source() -> dict[str, Rule]:
    limbs = {f"{s}_{p}": _j(f"{s}_{p}") for s in ("left", "right") for p in (*_LIMBS, "hip")}
    return _h36m17(limbs, _mid("left_hip", "right_hip"), _j("neck"), _j("head_top"))


def _identity(layout: str) -> dict[str, Rule]:
    return {j: _j(j) for j in get_skeleton(layout).joints}


def _to_lsp14(h36m: dict[str, Rule]) -> dict[str, Rule]:
    """lsp14 rules from h36m17 rules: lsp14's neck is the Human3.6M thorax."""
    return {j: h36m["thorax" if j == "neck" else j] for j in get_skeleton("lsp14").joints}


_H36M17_FROM = {
    "openpose_body25": _coco_like(neck=True, mid_hip=True),
    "openpose_coco18": _coco_like(neck=True, mid_hip=False),
    "coco17": _coco_like(neck=False, mid_hip=False),
    "mediapipe33": _coco_like(neck=False, mid_hip=False),
    "mpii16": _mpii16(),
    "lsp14": _lsp14_source(),
    "h36m17": _identity("h36m17"),
}

#: (source layout, target layout) -> {target joint: alternatives}; each alternative is a
#: dict {source joint: weight} with weights summing to 1, tried in order. To change a mapping,
#: assign a new table to its key (the arrays compiled from a table are kept while it is the
#: entry; a table edited in place is not compiled again).
MAPPINGS: dict[tuple[str, str], dict[str, Rule]] = {}
for _src, _rules in _H36M17_FROM.items():
    MAPPINGS[(_src, "h36m17")] = _rules
    MAPPINGS[(_src, "lsp14")] = _identity("lsp14") if _src == "lsp14" else _to_lsp14(_rules)
del _src, _rules


# --------------------------------------------------------------------------- application
class Adapted(NamedTuple):
    """Keypoints in the target layout, ready for ``lifter.lift(adapted)``.

    ``keypoints`` ``(*batch, M, 2)`` and ``confidence`` ``(*batch, M)`` (0 = missing, with
    NaN coordinates), in the container (numpy or torch) of the input.
    """

    keypoints: Any
    confidence: Any


#: ``{(source, target): (table, compiled arrays)}``: :func:`_compile`'s results, each valid while
#: its table is the :data:`MAPPINGS` entry (compiling takes about 200 µs, more than the mapping).
_COMPILED: dict[tuple[str, str], tuple[Any, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}


def _compile(source: str, target: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A mapping as arrays over its R candidate combinations (every alternative of every joint).

    Returns weights ``(R, N)``, source indices ``(R, K)`` padded with ``N`` (a column that
    is always present) and, per target joint, its candidates in preference order
    ``(M, A)`` padded with ``R`` (a candidate that is never present). Read-only, kept per table.
    """
    try:
        table = MAPPINGS[(source, target)]
    except KeyError:
        known = sorted(f"{s} -> {t}" for s, t in MAPPINGS)
        raise UnknownLayoutError(f"no mapping from {source!r} to {target!r}; known mappings: {known}") from None
    kept = _COMPILED.get((source, target))
    if kept is not None and kept[0] is table:
        return kept[1]
    arrays = _compile_table(table, source, target)
    for a in arrays:
        a.flags.writeable = False
    _COMPILED[(source, target)] = (table, arrays)
    return arrays


def _compile_table(table: dict[str, Rule], source: str, target: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    src, dst = get_skeleton(source), get_skeleton(target)
    rules = [table[j] if isinstance(table[j], (tuple, list)) else (table[j],) for j in dst.joints]
    alts = [alt for rule in rules for alt in rule]
    n_src = max((len(alt) for alt in alts), default=1)
    W = np.zeros((len(alts), src.num_joints), dtype=np.float64)
    idx = np.full((len(alts), n_src), src.num_joints, dtype=np.int64)
    sel = np.full((dst.num_joints, max(len(r) for r in rules)), len(alts), dtype=np.int64)
    r = 0
    for m, rule in enumerate(rules):
        for a, alt in enumerate(rule):
            total = sum(alt.values())
            if abs(total - 1.0) > 1e-6:
                raise LayoutMappingError(
                    f"mapping {source} -> {target}, joint {dst.joints[m]!r}: weights {alt} sum to {total}, not 1"
                )
            for k, (joint, w) in enumerate(alt.items()):
                W[r, src.index(joint)] = w
                idx[r, k] = src.index(joint)
            sel[m, a] = r
            r += 1
    return W, idx, sel


def _map_flat(
    x: np.ndarray, c: np.ndarray, source: str, target: str, min_confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(B, N, 2)``, ``(B, N)`` -> ``(B, M, 2)``, ``(B, M)``."""
    W, idx, sel = _compile(source, target)
    W = W.astype(x.dtype)
    present = (c > min_confidence) & np.isfinite(x).all(axis=-1)
    c0 = np.where(present, c, 0).astype(c.dtype)
    x0 = np.where(present[..., None], x, 0).astype(x.dtype)
    B, M = x.shape[0], sel.shape[0]
    c_ext = np.concatenate([c0, np.full((B, 1), np.inf, dtype=c.dtype)], axis=1)  # (B, N + 1)
    out_x, out_c = [], []
    for start in range(0, B, 16384):  # bounds memory for huge inputs
        ce = c_ext[start : start + 16384]
        b = ce.shape[0]
        c_r = ce[:, idx].min(axis=-1)  # (b, R): confidence of each candidate
        c_r = np.concatenate([c_r, np.zeros((b, 1), dtype=c_r.dtype)], axis=1)  # candidate R: never present
        options = (c_r > min_confidence)[:, sel]  # (b, M, A)
        first = options.argmax(axis=-1)[..., None]  # first usable alternative
        cand = np.take_along_axis(np.broadcast_to(sel, (b, *sel.shape)), first, axis=2)[..., 0]  # (b, M)
        cand = np.where(options.any(axis=-1), cand, W.shape[0])  # none: missing
        xy_r = np.einsum("rn,bnd->brd", W, x0[start : start + 16384])
        xy_r = np.concatenate([xy_r, np.zeros((b, 1, 2), dtype=xy_r.dtype)], axis=1)
        out_x.append(np.take_along_axis(xy_r, cand[..., None], axis=1))
        out_c.append(np.take_along_axis(c_r, cand, axis=1))
    if not out_x:
        return np.zeros((0, M, 2), dtype=x.dtype), np.zeros((0, M), dtype=c.dtype)
    return np.concatenate(out_x), np.concatenate(out_c)


def apply_mapping(
    keypoints: Array,
    source: str,
    confidence: Array | None = None,
    *,
    target: str = "h36m17",
    min_confidence: float = 0.0,
    correction: Correction | None = None,
) -> Adapted:
    """Map keypoints of layout ``source`` to the lifter layout ``target`` with :data:`MAPPINGS`
    (then ``correction``); :func:`poselift.adapt.adapt_layout` is the public adapter.

    Args:
        keypoints: ``(*batch, N, 2)`` pixel coordinates, or ``(*batch, N, 3)`` with the
            confidence as the last channel; ``np.ndarray`` or ``torch.Tensor``.
        source: layout of the keypoints (``"body25"``, ``"coco18"``, ``"coco17"``,
            ``"mpii16"``, ``"lsp14"``, ``"h36m17"`` or a full layout name).
        confidence: ``(*batch, N)`` per-joint confidence (only with 2-channel keypoints);
            default: every joint with finite coordinates is present.
        target: ``"h36m17"`` or ``"lsp14"``, the lifter's layout (``lifter.config.skeleton``).
        min_confidence: source joints at or below it count as missing (so the next
            alternative is used). Joints with NaN or infinite coordinates are missing too.
        correction: a learned correction applied after the mapping (:data:`Correction`), or
            ``None`` for the geometric mapping only.

    Returns:
        :class:`Adapted` ``(keypoints (*batch, M, 2), confidence (*batch, M))`` in the
        input's container, float64 for float64 input and float32 otherwise. Missing
        joints have confidence 0 and NaN coordinates. Pass the result whole to the
        lifter: ``lifter.lift(adapted)``.
    """
    if not isinstance(source, str):
        raise InvalidArgumentError(
            f"source must be a layout name such as 'coco17'; got {type(source).__name__}. "
            "Pass the confidence as confidence=..."
        )
    src = get_skeleton(canonical_layout(source))
    tgt = get_skeleton(canonical_layout(target))
    if tgt.name not in TARGETS:
        raise UnknownLayoutError(f"target must be one of the lifter layouts {list(TARGETS)}; got {target!r}")
    min_confidence = check_number(min_confidence, "min_confidence", lo=0.0, what="a confidence >= 0")
    x = to_numpy(keypoints)
    container = Container.of(keypoints, x)
    n = src.num_joints
    shape = tuple(x.shape)
    if x.ndim < 2 or shape[-1] not in (2, 3) or shape[-2] != n:
        guesses = [g for g in guess_layouts(shape[-2]) if g != src.name] if x.ndim >= 2 else []
        hint = f" {shape[-2]} joints looks like {' or '.join(guesses)}." if guesses else ""
        raise ShapeError(
            f"keypoints must have shape (..., {n}, 2) or (..., {n}, 3) for the {src.name} layout; got {shape}.{hint}"
        )
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    x = x.astype(dtype, copy=False)
    if shape[-1] == 3:
        if confidence is not None:
            raise ShapeError(
                f"keypoints of shape {shape} already carry confidence as the last channel; "
                "pass confidence= only with (..., N, 2) keypoints."
            )
        c = x[..., 2]
        x = x[..., :2]
    elif confidence is None:
        c = np.ones(shape[:-1], dtype=dtype)
    else:
        c = to_numpy(confidence, "confidence")
        if tuple(c.shape) != shape[:-1]:
            raise ShapeError(f"confidence must have shape {shape[:-1]} to match keypoints {shape}; got {tuple(c.shape)}.")
        c = c.astype(dtype, copy=False)
    if not np.isfinite(c).all():
        raise NonFiniteError("confidence holds NaN or infinite values; use 0 for missing joints.")
    batch = shape[:-2]
    xy, conf = _map_flat(x.reshape(-1, n, 2), c.reshape(-1, n), src.name, tgt.name, min_confidence)
    if correction is not None:
        corrected = to_numpy(correction(xy, conf))
        if tuple(corrected.shape) != tuple(xy.shape):
            raise ShapeError(f"correction returned shape {tuple(corrected.shape)}; expected {tuple(xy.shape)}")
        xy = np.where(conf[..., None] > 0, corrected.astype(xy.dtype), xy)
    xy = np.where(conf[..., None] > 0, xy, np.nan).astype(xy.dtype)  # missing joints cannot pass for real coordinates
    m = tgt.num_joints
    return Adapted(container.restore(xy.reshape(*batch, m, 2)), container.restore(conf.reshape(*batch, m)))


def map_layout(keypoints: Array, source: str, target: str) -> Array:
    """Geometric mapping of ``(..., N_source, 2)`` keypoints (all present) to ``(..., N_target, 2)``."""
    out = apply_mapping(keypoints, source, target=target).keypoints
    if isinstance(keypoints, np.ndarray) and keypoints.dtype.kind == "f" and out.dtype != keypoints.dtype:
        out = out.astype(keypoints.dtype)
    return out
