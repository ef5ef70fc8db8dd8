"""Test-time refinement of a lifted clip (numpy only, no training).

A single-frame lifter sees each frame alone: detector noise shakes the 2D, the depth it
infers from that 2D shakes more, and bone lengths wander. :func:`refine_sequence` takes the
per-frame output of :meth:`poselift.Lifter.lift` (``units="normalized"``) with the 2D it came
from and finds, for the whole clip at once, the 3D that

(a) re-projects onto the confidence-weighted 2D (the lifter's own pinhole convention:
    unit focal length, root at depth ``c`` for the network's normalised pose),
(b) moves smoothly (a penalty on each joint's acceleration, separately for the image
    plane and for depth, which is the noisier),
(c) stays close to the network's per-frame 3D (which resolves the depth ambiguity), and
(d) keeps one length per bone over the clip.

(a)-(c) are quadratic: every joint coordinate is one banded linear system over the frames
(:func:`smooth_banded`, a Whittaker smoother whose strength is given as a cut-off
frequency in Hz, so it means the same at any frame rate; solved for all joints, the image
plane, the depth and the person's image scale at once). The cut-offs rise for clips whose
2D is cleaner than the detections they were chosen on (the noise is measured from the 2D).
(d) then gives each bone its median length over the clip, along the bone's direction.

Frames that could not be lifted (NaN) are gaps: they carry no data, the smoother bridges
them, and they stay NaN in the output. ``causal=True`` refines each frame from a window of
past frames and at most ``latency`` future frames (the output at frame ``t`` depends on no
frame after ``t + latency``; at 50 fps ``latency=5`` is 100 ms).

The hyper-parameters in :data:`SEQUENCE_DEFAULTS` were chosen on Human3.6M S8 (held out);
the measurements are in ``training/RESULTS.md``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ._args import check_fps, check_number
from .errors import InvalidArgumentError, ShapeError
from .skeleton import Skeleton, get_skeleton
from .smooth import chain_heights as _chain_height, set_bone_lengths, tree_bone_lengths as _bone_lengths_tree

__all__ = ["SEQUENCE_DEFAULTS", "refine_sequence", "smooth_banded", "whittaker_lambda"]

#: Defaults of :func:`refine_sequence` (chosen on Human3.6M S8; see ``training/RESULTS.md``).
#: ``cutoff_xy`` / ``cutoff_z``: cut-off frequencies (Hz) of the image-plane and depth
#: smoothing; ``cutoff_scale``: of the person's image scale (distance to the camera);
#: ``anchor_xy``: weight of the network's image-plane output beside the 2D (weight 1 per unit
#: confidence); ``bones``: ``"direction"`` (scale each bone along its direction to its
#: length), ``"depth"`` (keep its image-plane part, solve its depth: noisy on detections)
#: or ``None``; ``symmetric``: left and right bones get one length;
#: ``noise_ref``: the 2D noise (relative to the pose's size) at which ``cutoff_xy`` and
#: ``cutoff_z`` hold; cleaner 2D raises both, by ``sqrt(noise_ref / noise)`` up to
#: ``max_boost`` times (``None``: fixed cut-offs); ``window``: frames of
#: look-back in causal mode; ``latency``: frames of look-ahead in causal mode.
SEQUENCE_DEFAULTS: dict[str, Any] = {
    "cutoff_xy": 1.5,
    "cutoff_z": 1.5,
    "cutoff_scale": 0.03,
    "anchor_xy": 0.1,
    "bones": "direction",
    "symmetric": True,
    "noise_ref": 0.0072,
    "max_boost": 8.0,
    "window": 25,
    "latency": 5,
}


def whittaker_lambda(cutoff: float | np.ndarray, fps: float) -> float | np.ndarray:
    """Weight of the squared second difference that puts a Whittaker smoother's half-power
    point at ``cutoff`` Hz for samples at ``fps`` (response ``1 / (1 + lam * (2 sin(w/2))^4)``);
    0 at or above Nyquist (practically no smoothing). A float for a scalar, else an array."""
    w = 2.0 * np.pi * np.asarray(cutoff, dtype=np.float64) / fps
    with np.errstate(divide="ignore"):
        lam = np.where(w >= np.pi, 0.0, 1.0 / (2.0 * np.sin(np.minimum(w, np.pi) / 2.0)) ** 4)
    return float(lam) if lam.ndim == 0 else lam


def smooth_banded(y: np.ndarray, w: np.ndarray, lam: np.ndarray | float, ridge: float = 1e-9) -> np.ndarray:
    """Solve ``(diag(w) + lam D'D + ridge I) x = w y`` for a batch of sequences.

    ``y``, ``w``: ``(T, *batch)`` targets and non-negative weights (0 where there is no data;
    ``y`` is ignored there); ``lam``: ``()`` or ``(*batch)`` weights of the squared second
    differences ``D``. A symmetric pentadiagonal LDL' factorisation, one pass over the frames
    each way, vectorised over the batch. Returns ``(T, *batch)`` float64.
    """
    y = np.asarray(y, dtype=np.float64)
    w = np.broadcast_to(np.asarray(w, dtype=np.float64), y.shape)
    T = y.shape[0]
    lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), y.shape[1:])
    rhs = np.where(w > 0, w * np.nan_to_num(y), 0.0)
    if T < 4:  # the bands below hold from four frames on
        return _dense(rhs, w, lam, ridge)
    # Bands of D'D for second differences: main (1,5,6,...,6,5,1), first (-2,-4,...,-4,-2), second (1,...,1).
    main0 = np.full(T, 6.0)
    main0[[0, -1]] = 1.0
    main0[[1, -2]] = 5.0
    off1 = np.full(T, -4.0)  # off1[t] = A[t, t-1]
    off1[[1, -1]] = -2.0
    main = w + ridge + lam * main0.reshape(-1, *([1] * (y.ndim - 1)))
    d = np.empty_like(main)
    l1 = np.zeros_like(main)
    l2 = np.zeros_like(main)
    z = np.empty_like(main)
    d[0] = main[0]
    z[0] = rhs[0]
    l1[1] = lam * off1[1] / d[0]
    d[1] = main[1] - l1[1] * l1[1] * d[0]
    z[1] = rhs[1] - l1[1] * z[0]
    for t in range(2, T):
        l2t = lam / d[t - 2]
        l1t = (lam * off1[t] - l2t * l1[t - 1] * d[t - 2]) / d[t - 1]
        d[t] = main[t] - l1t * l1t * d[t - 1] - l2t * l2t * d[t - 2]
        z[t] = rhs[t] - l1t * z[t - 1] - l2t * z[t - 2]
        l1[t], l2[t] = l1t, l2t
    x = z / d
    x[T - 2] -= l1[T - 1] * x[T - 1]
    for t in range(T - 3, -1, -1):
        x[t] -= l1[t + 1] * x[t + 1] + l2[t + 2] * x[t + 2]
    return x


def _dense(rhs: np.ndarray, w: np.ndarray, lam: np.ndarray, ridge: float) -> np.ndarray:
    """:func:`smooth_banded` for very short sequences, by a dense solve per batch element."""
    T = rhs.shape[0]
    if T < 3:
        DtD = np.zeros((T, T))
    else:
        D = np.diff(np.eye(T), n=2, axis=0)
        DtD = D.T @ D
    r = rhs.reshape(T, -1).T
    A = np.einsum("bt,ts->bts", w.reshape(T, -1).T, np.eye(T)) + lam.reshape(-1)[:, None, None] * DtD + ridge * np.eye(T)
    return np.linalg.solve(A, r[..., None])[..., 0].T.reshape(rhs.shape)


def _fix_bones(P: np.ndarray, lengths: np.ndarray, skel: Skeleton, mode: str) -> np.ndarray:
    """Give bone ``(p, j)`` the length ``lengths[:, k]`` (``(T, bones)``), rebuilding from the root.

    ``"direction"``: scale the bone along its direction. ``"depth"``: keep its image-plane
    component and solve its depth component (sign kept) so the re-projection is unchanged;
    where the image-plane component alone is longer than the bone, scale it down, depth 0.
    """
    if mode == "direction":
        return set_bone_lengths(P, skel, lengths)
    n = P.shape[1]
    pts = skel.with_root_point(P)
    out = pts.copy()
    for k, (p, j) in enumerate(skel.bone_tree):
        v = pts[:, j] - pts[:, p]
        L = lengths[:, k]
        xy = v[:, :2]
        nxy = np.linalg.norm(xy, axis=-1)
        dz2 = L * L - nxy * nxy
        shrink = np.where(dz2 < 0, L / np.maximum(nxy, 1e-12), 1.0)
        sign = np.where(v[:, 2] < 0, -1.0, 1.0)
        out[:, j] = out[:, p] + np.concatenate([xy * shrink[:, None], (sign * np.sqrt(np.maximum(dz2, 0.0)))[:, None]], axis=1)
    return out[:, :n]


def _symmetric(L: np.ndarray, skel: Skeleton) -> np.ndarray:
    """Bone lengths ``(..., bones)`` (tree order) with each left/right pair given its mean."""
    mirror = {a: b for pair in skel.pairs for a, b in (pair, pair[::-1])}
    child = [j for _, j in skel.bone_tree]
    other = [child.index(mirror.get(j, j)) if mirror.get(j, j) in child else k for k, j in enumerate(child)]
    return 0.5 * (L + L[..., other])


def refine_sequence(
    poses: np.ndarray,
    keypoints: np.ndarray,
    weights: np.ndarray,
    skeleton: str | Skeleton,
    *,
    c: float,
    fps: float,
    height: float = 1.70,
    causal: bool = False,
    **params: Any,
) -> np.ndarray:
    """Refine a clip of per-frame lifts; see the module docstring.

    Args:
        poses: ``(T, N, 3)`` root-relative output of ``lift(..., units="normalized")`` (the
            network's units, root at depth ``c``); NaN rows are frames that were not lifted.
        keypoints: ``(T, N, 2)`` the pixel keypoints they were lifted from.
        weights: ``(T, N)`` per-joint confidence of the 2D in ``[0, 1]``; 0 for missing or
            filled joints (their image position then comes from the network alone).
        skeleton: the joint layout.
        c: the lifter's depth constant (``config.c``).
        fps: frames per second.
        height: body height in metres; the clip is scaled so its median chain height is this.
        causal: refine each frame from ``window`` past and ``latency`` future frames only.
        **params: override :data:`SEQUENCE_DEFAULTS`.

    Returns:
        ``(T, N, 3)`` float64 root-relative metres, NaN where ``poses`` was NaN.
    """
    unknown = set(params) - set(SEQUENCE_DEFAULTS)
    if unknown:
        raise InvalidArgumentError(f"unknown sequence parameter(s) {sorted(unknown)}; known: {sorted(SEQUENCE_DEFAULTS)}.")
    p = {**SEQUENCE_DEFAULTS, **params}
    skel = get_skeleton(skeleton)
    fps = check_fps(fps)
    height = check_number(height, "height", lo=0.0, lo_open=True)
    for key in ("cutoff_xy", "cutoff_z", "cutoff_scale"):
        check_number(p[key], key, lo=0.0, lo_open=True)
    check_number(p["anchor_xy"], "anchor_xy", lo=0.0)
    if p["noise_ref"] is not None:
        check_number(p["noise_ref"], "noise_ref", lo=0.0, lo_open=True)
    check_number(p["max_boost"], "max_boost", lo=1.0)
    if p["bones"] not in ("depth", "direction", None):
        raise InvalidArgumentError(f"bones must be 'depth', 'direction' or None; got {p['bones']!r}.")
    X = np.asarray(poses, dtype=np.float64)
    kp = np.asarray(keypoints, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    T, n = X.shape[:2] if X.ndim == 3 else (0, 0)
    if X.ndim != 3 or X.shape[1:] != (skel.num_joints, 3) or T == 0:
        raise ShapeError(f"poses must have shape (frames, {skel.num_joints}, 3) with frames >= 1; got {X.shape}.")
    if kp.shape != (T, n, 2) or w.shape != (T, n):
        raise ShapeError(f"keypoints and weights must have shapes {(T, n, 2)} and {(T, n)}; got {kp.shape} and {w.shape}.")
    lifted = np.isfinite(X).all(axis=(1, 2))
    out = np.full((T, n, 3), np.nan)
    if not lifted.any():
        return out
    w = np.where(lifted[:, None] & np.isfinite(kp).all(axis=-1) & np.isfinite(w), np.clip(w, 0.0, 1.0), 0.0)
    if causal:
        window, latency = int(p["window"]), int(p["latency"])
        if window < 0 or latency < 0:
            raise InvalidArgumentError(f"window and latency must be >= 0 frames; got {window} and {latency}.")
        return _refine_causal(X, kp, w, lifted, skel, c, fps, height, p, window, latency)
    return _refine(X, kp, w, lifted, skel, c, fps, height, p)


def _prepare(X, kp, w, lifted, skel, c, height):
    """Per-frame pinhole fit: pixel-unit 3D, root-relative 2D targets, per-frame image scale."""
    Xs = np.where(lifted[:, None, None], X, 0.0)
    u = Xs[..., :2] / np.maximum(Xs[..., 2:] + c, 1e-3)  # the lifter's projection (root at depth c)
    # Least squares kp ~ r + sigma u over the 2D's joints: where the pose sits and its pixel size.
    sw = np.maximum(w.sum(axis=1), 1e-12)
    mu_u = (w[..., None] * u).sum(axis=1) / sw[:, None]
    mu_k = (w[..., None] * np.nan_to_num(kp)).sum(axis=1) / sw[:, None]
    du = u - mu_u[:, None]
    dk = np.nan_to_num(kp) - mu_k[:, None]
    sigma = (w[..., None] * du * dk).sum(axis=(1, 2)) / np.maximum((w[..., None] * du * du).sum(axis=(1, 2)), 1e-12)
    fitted = (w.sum(axis=1) >= 2) & (sigma > 0)
    # Frames without a 2D fit (fewer than two weighted joints) keep the median pixel size.
    sigma = np.where(fitted, sigma, np.median(sigma[fitted]) if fitted.any() else 1.0)
    r = mu_k - sigma[:, None] * mu_u
    Xp = Xs * sigma[:, None, None]  # pixel units at the root's depth; root depth c * sigma
    # The 2D in the 3D's units at the root's depth: Xp_xy = a (1 + Xp_z / (c sigma)).
    a = np.where(w[..., None] > 0, c * (np.nan_to_num(kp) - r[:, None]), Xp[..., :2])
    scale = _chain_height(Xp, skel) / height  # pixels per metre
    return Xp, a, sigma, scale


def _boost(a, sigma, w, fps, p, axis=None):
    """How much to raise the cut-offs for this clip's 2D noise: ``sqrt(noise_ref / noise)``
    clipped to ``[1, max_boost]`` (a Whittaker smoother's best weight grows with the noise
    variance, so its cut-off falls with the square root of the noise). Noisier 2D keeps the
    cut-offs: lower ones smooth away the motion itself (a walk's limbs swing at about 1 Hz;
    on the CMU validation clips with detector-like noise a floor of 0.5 cost 19 mm).

    The noise is the robust spread (1.4826 x median absolute value) of what a smoother with
    its cut-off at 0.2 x fps (10 Hz at 50 fps) removes from the 2D, in units of the pose's
    size (the 2D divided by its pixel size). Time on axis 0; ``axis``: the axes the median
    runs over (``None``: all, one value for the clip).
    """
    if p["noise_ref"] is None:
        return 1.0
    q = a / sigma[..., None, None]
    mask = np.repeat((w > 0)[..., None], 2, axis=-1)
    res = q - smooth_banded(q, mask.astype(np.float64), whittaker_lambda(0.2 * fps, fps))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no 2D at all: no boost
        noise = 1.4826 * np.nanmedian(np.where(mask, np.abs(res), np.nan), axis=axis)
    ratio = np.sqrt(p["noise_ref"] / np.maximum(noise, 1e-12))
    return np.clip(np.where(np.isfinite(noise), ratio, 1.0), 1.0, p["max_boost"])


def _solve(Xp, a, w, data, sigma, scale, c, fps, p, boost=1.0):
    """The quadratic part (a)-(c), as one banded solve: image plane, depth and image scale.

    Arrays have time on axis 0 and any batch after it: ``Xp`` ``(time, *B, N, 3)`` pixel-unit
    3D, ``a`` ``(time, *B, N, 2)`` 2D targets, ``w`` ``(time, *B, N)`` 2D weights, ``data``
    ``(time, *B)`` 1 for lifted frames, ``sigma`` and ``scale`` ``(time, *B)``. Returns the
    smoothed 3D in metres (divided by the smoothed image scale), ``(time, *B, N, 3)``.
    """
    n = Xp.shape[-2]
    b = a / (c * sigma)[..., None, None]  # the perspective term: Xp_xy = a + b Xp_z
    anchor = p["anchor_xy"] * data[..., None]
    wxy = anchor + w
    target = (anchor[..., None] * Xp[..., :2] + w[..., None] * (a + b * Xp[..., 2:])) / np.maximum(wxy, 1e-12)[..., None]
    lead = Xp.shape[:-2]
    y = np.concatenate([target.reshape(*lead, 2 * n), Xp[..., 2], np.log(np.maximum(scale, 1e-12))[..., None]], axis=-1)
    weights = np.concatenate([np.repeat(wxy, 2, axis=-1), np.repeat(data[..., None], n + 1, axis=-1)], axis=-1)
    boost = np.asarray(boost, dtype=np.float64)[..., None]  # () or the batch's shape
    cutoffs = np.array([p["cutoff_xy"]] * (2 * n) + [p["cutoff_z"]] * n + [0.0])
    lam = np.array(whittaker_lambda(cutoffs * boost, fps))
    lam[..., -1] = whittaker_lambda(p["cutoff_scale"], fps)  # the image scale is not boosted
    out = smooth_banded(y, weights, lam)
    xy = out[..., : 2 * n].reshape(*lead, n, 2)
    P = np.concatenate([xy, out[..., 2 * n : 3 * n, None]], axis=-1)
    return P / np.exp(out[..., -1])[..., None, None]


def _root_relative(P: np.ndarray, skel: Skeleton) -> np.ndarray:
    return P - skel.root_point(P, keepdims=True)


def _refine(X, kp, w, lifted, skel, c, fps, height, p):
    Xp, a, sigma, scale = _prepare(X, kp, w, lifted, skel, c, height)
    boost = _boost(a, sigma, w, fps, p)
    Y = _root_relative(_solve(Xp, a, w, lifted.astype(np.float64), sigma, scale, c, fps, p, boost), skel)
    if p["bones"] is not None:
        L = np.median(_bone_lengths_tree(Y[lifted], skel), axis=0)
        if p["symmetric"]:
            L = _symmetric(L, skel)
        Y = _fix_bones(Y, np.broadcast_to(L, (len(Y), len(L))), skel, p["bones"])
        Y = _root_relative(Y, skel)
    Y *= height / np.median(_chain_height(Y[lifted], skel))
    return np.where(lifted[:, None, None], Y, np.nan)


def _refine_causal(X, kp, w, lifted, skel, c, fps, height, p, window, latency):
    """Each frame ``t`` from frames ``t - window .. t + latency``: all windows as one batch."""
    T, n = X.shape[:2]
    Xp, a, sigma, scale = _prepare(X, kp, w, lifted, skel, c, height)
    idx = np.arange(T)[None, :] + np.arange(-window, latency + 1)[:, None]  # (span, T): window rows, frame columns
    inside = (idx >= 0) & (idx < T)
    idx = np.clip(idx, 0, T - 1)
    live = (inside & lifted[idx]).astype(np.float64)
    ww = w[idx] * live[..., None]
    boost = _boost(a[idx], sigma[idx], ww, fps, p, axis=(0, 2, 3))  # (T,): from each frame's own window
    P = _solve(Xp[idx], a[idx], ww, live, sigma[idx], scale[idx], c, fps, p, boost)
    Y = P[window]  # the row of frame t in its own window
    Y = _root_relative(Y, skel)
    if p["bones"] is not None:
        # One length per bone: the median over the refined frames up to t (each of them saw
        # frames up to its own t + latency, so frame t still sees nothing after t + latency).
        Lf = _bone_lengths_tree(np.where(lifted[:, None, None], Y, np.nan), skel)
        L = _running_median(Lf)
        if p["symmetric"]:
            L = _symmetric(L, skel)
        Y = _root_relative(_fix_bones(Y, L, skel, p["bones"]), skel)
    ch = _running_median(_chain_height(np.where(lifted[:, None, None], Y, np.nan), skel)[:, None])[:, 0]
    Y *= (height / ch)[:, None, None]
    return np.where(lifted[:, None, None], Y, np.nan)


def _running_median(v: np.ndarray, horizon: int = 250, every: int = 10) -> np.ndarray:
    """``(T, K)``: for every ``t``, the median of rows up to ``t`` (at most ``horizon`` of them,
    rows with NaN ignored), recomputed every ``every`` frames from the rows up to that frame
    (frame by frame while none of them is finite yet)."""
    T = len(v)
    out = np.full_like(v, np.nan)

    def median_up_to(t: int) -> np.ndarray:
        seg = v[max(0, t - horizon + 1) : t + 1]
        seg = seg[np.isfinite(seg).all(axis=1)]
        return np.median(seg, axis=0) if len(seg) else np.full(v.shape[1], np.nan)

    for t in range(0, T, every):
        value = median_up_to(t)
        if np.isfinite(value).all():
            out[t : t + every] = value
        else:
            for s in range(t, min(T, t + every)):
                out[s] = median_up_to(s)
    return out
