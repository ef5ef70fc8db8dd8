"""Temporal smoothing of pose sequences (numpy only).

* :class:`OneEuroFilter`: the One-Euro filter of Casiez et al. (CHI 2012), causal, for
  live use: a low-pass filter whose cut-off frequency rises with speed, so slow motion is
  smoothed hard (little jitter) and fast motion is followed closely (little lag).
* :func:`smooth_sequence`: a whole sequence at once, ``mode="causal"`` (the filter run
  forward, as live) or ``mode="offline"`` (forward, then backward over the forward
  result: the phase lags of the two passes cancel, so the output has no lag).

Frames holding NaN are gaps: they stay NaN and the filter restarts after them.
:func:`jitter`, :func:`bone_length_cv` and :func:`estimate_lag` measure what smoothing did.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from ._args import check_coordinates, check_count, check_fps, check_number
from ._arrays import to_numpy
from .errors import InvalidArgumentError, ShapeError, SkeletonError
from .skeleton import Skeleton, get_skeleton

__all__ = [
    "smooth_people",
    "OneEuroFilter",
    "smooth_sequence",
    "smooth_poses",
    "SMOOTH_DEFAULTS",
    "jitter",
    "bone_lengths",
    "bone_length_cv",
    "estimate_lag",
    "fix_bone_lengths",
    "check_smooth_params",
    "bone_tree",
    "tree_bone_lengths",
    "set_bone_lengths",
    "chain_heights",
]

#: Default One-Euro parameters for metric 3D poses (metres): min_cutoff in Hz, beta in
#: 1/m (cut-off rises by beta Hz per m/s of speed), d_cutoff in Hz for the speed estimate.
SMOOTH_DEFAULTS = {"min_cutoff": 1.0, "beta": 1.0, "d_cutoff": 1.0}


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """Smoothing factor of a first-order low-pass filter with this cut-off (Hz) at step ``dt`` (s)."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Causal One-Euro filter over arrays of any fixed shape, one sample per call.

    >>> f = OneEuroFilter(fps=50.0)
    >>> smoothed = [f(x) for x in samples]                     # doctest: +SKIP

    Args:
        fps: samples per second.
        min_cutoff: cut-off frequency (Hz) at rest; lower = smoother, more lag.
        beta: how fast the cut-off rises with speed (Hz per unit/s); higher = less lag
            in fast motion.
        d_cutoff: cut-off frequency (Hz) of the speed estimate.

    Elements that are NaN in a sample are passed through as NaN and restart the filter
    for those elements.
    """

    def __init__(self, fps: float, min_cutoff: float = 1.0, beta: float = 1.0, d_cutoff: float = 1.0):
        self.dt = 1.0 / check_fps(fps)
        self.min_cutoff = check_number(min_cutoff, "min_cutoff", lo=0.0, lo_open=True, what="a positive cut-off in Hz")
        self.beta = check_number(beta, "beta", lo=0.0, what="a number >= 0 (Hz per unit/s of speed)")
        self.d_cutoff = check_number(d_cutoff, "d_cutoff", lo=0.0, lo_open=True, what="a positive cut-off in Hz")
        self.reset()

    def reset(self) -> None:
        """Forget the past: the next sample passes through unchanged."""
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Filter one sample; returns the smoothed sample (same shape)."""
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._x.shape != x.shape:
            self._x, self._dx = x.copy(), np.zeros_like(x)
            return x.copy()
        fresh = ~np.isfinite(self._x)  # elements restarting after a gap
        dx = (x - self._x) / self.dt
        dx = np.where(fresh, 0.0, dx)
        a_d = _alpha(self.d_cutoff, self.dt)
        dx_hat = a_d * dx + (1.0 - a_d) * self._dx
        cutoff = self.min_cutoff + self.beta * np.abs(dx_hat)
        a = _alpha(cutoff, self.dt)
        x_hat = np.where(fresh, x, a * x + (1.0 - a) * self._x)
        self._x = x_hat
        self._dx = np.where(np.isfinite(dx_hat), dx_hat, 0.0)
        return x_hat.copy()


def _check_sequence(x: np.ndarray, name: str = "the sequence") -> np.ndarray:
    arr = to_numpy(x, name).astype(np.float64)  # real numbers only: no None, strings or ragged lists
    check_coordinates(arr, name)
    if arr.ndim < 1 or arr.shape[0] == 0:
        raise ShapeError(f"a sequence must have shape (frames, ...) with at least one frame; got {arr.shape}.")
    return arr


def _run(x: np.ndarray, fps: float, params: dict[str, float]) -> np.ndarray:
    f = OneEuroFilter(fps, **params)
    return np.stack([f(frame) for frame in x])


def _runs(valid: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` of each run of True in a 1D bool array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], valid.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _forward_backward(x: np.ndarray, fps: float, params: dict[str, float]) -> np.ndarray:
    """The filter forward then backward over a finite run, padded at both ends by odd reflection.

    The padding (about one time constant of the slowest cut-off) lets the start-up of each
    pass settle outside the run, so the ends are neither lagged nor pulled.
    """
    pad = int(min(len(x) - 1, round(fps / params["min_cutoff"])))
    if pad > 0:
        head = 2.0 * x[0] - x[pad:0:-1]
        tail = 2.0 * x[-1] - x[-2 : -pad - 2 : -1]
        x = np.concatenate([head, x, tail])
    out = _run(_run(x, fps, params)[::-1], fps, params)[::-1]
    return out[pad : len(out) - pad] if pad > 0 else out


def smooth_sequence(
    x: np.ndarray,
    fps: float,
    *,
    mode: Literal["offline", "causal"] = "offline",
    min_cutoff: float = SMOOTH_DEFAULTS["min_cutoff"],
    beta: float = SMOOTH_DEFAULTS["beta"],
    d_cutoff: float = SMOOTH_DEFAULTS["d_cutoff"],
) -> np.ndarray:
    """Smooth a ``(frames, ...)`` sequence with the One-Euro filter.

    ``mode="causal"`` uses only past frames (as a live filter would; it lags fast motion
    slightly). ``mode="offline"`` runs the filter forward and then backward over the
    result, which cancels the lag; it needs the whole sequence and smooths each run of
    complete frames on its own. NaN elements stay NaN (offline: a frame with any NaN is
    passed through unsmoothed). Returns float64 of the input's shape.
    """
    arr = _check_sequence(x)
    params = {"min_cutoff": min_cutoff, "beta": beta, "d_cutoff": d_cutoff}
    OneEuroFilter(fps, **params)  # checks the parameters
    if mode == "causal":
        out = _run(arr, fps, params)
    elif mode == "offline":
        out = arr.copy()
        complete = np.isfinite(arr.reshape(len(arr), -1)).all(axis=1)
        for start, stop in _runs(complete):
            out[start:stop] = _forward_backward(arr[start:stop], fps, params)
    else:
        raise InvalidArgumentError(f"smoothing mode must be 'offline' or 'causal'; got {mode!r}.")
    return np.where(np.isfinite(arr), out, np.nan)


def smooth_poses(
    poses: np.ndarray,
    skeleton: str | Skeleton,
    fps: float,
    *,
    mode: Literal["offline", "causal"] = "offline",
    trajectory_cutoff: float | None = None,
    fixed_bones: bool = True,
    **params: float,
) -> np.ndarray:
    """Smooth ``(frames, N, 3)`` poses: their shape about the root and the root's path apart.

    The root-relative pose is smoothed with ``params`` (:data:`SMOOTH_DEFAULTS`); the root
    position (camera-space translation, zero for root-relative poses) with a plain
    low-pass of ``trajectory_cutoff`` Hz (default ``params["min_cutoff"]`` / 2: depth from
    a single image is the noisiest quantity), so a noisy depth does not shake the limbs.
    With ``fixed_bones`` each bone then gets one length (:func:`fix_bone_lengths`, causal
    in ``"causal"`` mode): a lifter's bone lengths wander from frame to frame far more
    slowly than jitter, so filtering alone barely steadies them.
    """
    skel = get_skeleton(skeleton)
    P = _check_sequence(poses, "poses")
    if P.ndim != 3 or P.shape[1:] != (skel.num_joints, 3):
        raise ShapeError(f"poses must have shape (frames, {skel.num_joints}, 3); got {P.shape}.")
    check_smooth_params(params)
    if trajectory_cutoff is not None:
        check_number(trajectory_cutoff, "trajectory_cutoff", lo=0.0, lo_open=True, what="a positive cut-off in Hz")
    kw = {**SMOOTH_DEFAULTS, **params}
    root = skel.root_point(P, keepdims=True)
    rel = smooth_sequence(P - root, fps, mode=mode, **kw)
    tc = trajectory_cutoff if trajectory_cutoff is not None else kw["min_cutoff"] / 2.0
    traj = smooth_sequence(root, fps, mode=mode, min_cutoff=tc, beta=0.0, d_cutoff=kw["d_cutoff"])
    out = rel + traj
    return fix_bone_lengths(out, skel, causal=mode == "causal") if fixed_bones else out


# --------------------------------------------------------------------------- fixed bone lengths
def check_smooth_params(params: dict[str, float]) -> dict[str, float]:
    """:data:`SMOOTH_DEFAULTS` updated with ``params``; unknown names and impossible values
    raise :class:`~poselift.errors.InvalidArgumentError` (before any work is done)."""
    unknown = sorted(set(params) - set(SMOOTH_DEFAULTS))
    if unknown:
        raise InvalidArgumentError(f"unknown smoothing parameters {unknown}; the One-Euro filter takes {sorted(SMOOTH_DEFAULTS)}.")
    kw = {**SMOOTH_DEFAULTS, **params}
    OneEuroFilter(30.0, **kw)  # checks every value
    return kw


def bone_tree(skeleton: str | Skeleton) -> list[tuple[int, int]]:
    """``(parent point, joint)`` for every bone of a layout (by name or ``Skeleton``), parents
    first: :attr:`poselift.skeleton.Skeleton.bone_tree` as a list."""
    return list(get_skeleton(skeleton).bone_tree)


def fix_bone_lengths(
    poses: np.ndarray, skeleton: str | Skeleton, *, causal: bool = False, window: int = 250
) -> np.ndarray:
    """Give every bone one length over the sequence, keeping its direction in each frame.

    The length is the bone's median over the frames (``causal``: over the last ``window``
    frames up to and including each frame, as a live system can). Poses are rebuilt
    from the root outward, so the root stays where it was. NaN frames stay NaN.

    Args:
        poses: ``(frames, N, 3)``.
    """
    skel = get_skeleton(skeleton)
    P = _check_sequence(poses)
    if P.ndim != 3 or P.shape[1:] != (skel.num_joints, 3):
        raise ShapeError(f"poses must have shape (frames, {skel.num_joints}, 3); got {P.shape}.")
    lengths = tree_bone_lengths(P, skel)
    if causal:
        lengths = np.array([[_nanmedian(col[max(0, t - window + 1) : t + 1]) for col in lengths.T] for t in range(len(P))])
    else:
        lengths = np.broadcast_to([_nanmedian(col) for col in lengths.T], lengths.shape)
    return set_bone_lengths(P, skel, lengths)


def tree_bone_lengths(poses: np.ndarray, skeleton: str | Skeleton) -> np.ndarray:
    """``(frames, bones)`` length of every bone of ``Skeleton.bone_tree`` (its order) in ``(frames, N, 3)``."""
    skel = get_skeleton(skeleton)
    pts = skel.with_root_point(poses)
    parent, child = (list(v) for v in zip(*skel.bone_tree))
    return np.linalg.norm(pts[:, child] - pts[:, parent], axis=-1)


def set_bone_lengths(poses: np.ndarray, skeleton: str | Skeleton, lengths: np.ndarray) -> np.ndarray:
    """``(frames, N, 3)`` with bone ``k`` of ``Skeleton.bone_tree`` scaled along its direction to
    ``lengths[:, k]`` (``(frames, bones)``), rebuilt from the root outward (the root stays)."""
    skel = get_skeleton(skeleton)
    pts = skel.with_root_point(poses)
    out = pts.copy()
    for k, (p, j) in enumerate(skel.bone_tree):
        v = pts[:, j] - pts[:, p]
        out[:, j] = out[:, p] + (lengths[:, k] / np.maximum(np.linalg.norm(v, axis=-1), 1e-12))[:, None] * v
    return out[:, : skel.num_joints]


def chain_heights(poses: np.ndarray, skeleton: str | Skeleton) -> np.ndarray:
    """``(frames,)`` body height of ``(frames, N, 3)`` poses: the length of each head-to-foot
    chain (``skeleton.height_chains``), averaged (numpy; :func:`poselift.geometry.chain_height` in torch)."""
    skel = get_skeleton(skeleton)
    if not skel.height_chains:
        raise SkeletonError(f"layout {skel.name!r} defines no height chains")
    pts = skel.with_root_point(poses)
    n = skel.num_joints
    chains = [np.linalg.norm(np.diff(pts[:, [n if j < 0 else j for j in chain]], axis=1), axis=-1).sum(axis=1) for chain in skel.height_chains]
    return np.mean(chains, axis=0)


def _nanmedian(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else float("nan")


# --------------------------------------------------------------------------- measures
def jitter(poses: np.ndarray, fps: float) -> float:
    """Mean joint acceleration magnitude (units/s^2) over frames with two valid neighbours."""
    check_fps(fps)
    P = _check_sequence(poses)
    if P.shape[0] < 3:
        return float("nan")
    acc = (P[2:] - 2.0 * P[1:-1] + P[:-2]) * fps * fps
    mag = np.linalg.norm(acc, axis=-1)
    return float(np.nanmean(mag)) if np.isfinite(mag).any() else float("nan")


def bone_lengths(poses: np.ndarray, skeleton: str | Skeleton) -> np.ndarray:
    """``(*batch, bones)`` bone lengths in the order of ``skeleton.bones``."""
    skel = get_skeleton(skeleton)
    P = np.asarray(poses, dtype=np.float64)
    parent, child = (np.array(v) for v in zip(*skel.bones))
    return np.linalg.norm(P[..., child, :] - P[..., parent, :], axis=-1)


def bone_length_cv(poses: np.ndarray, skeleton: str | Skeleton) -> np.ndarray:
    """Coefficient of variation (std / mean) of each bone's length over the frames, ``(bones,)``."""
    L = bone_lengths(poses, skeleton)
    L = L[np.isfinite(L).all(axis=-1)]
    if L.shape[0] < 2:
        return np.full(L.shape[-1], np.nan)
    return L.std(axis=0) / np.maximum(L.mean(axis=0), 1e-12)


def estimate_lag(reference: np.ndarray, delayed: np.ndarray, fps: float, max_lag: int = 25) -> float:
    """Delay of ``delayed`` behind ``reference`` in seconds (negative: ahead).

    The shift (within ``max_lag`` frames either way) that maximises the correlation of the
    two sequences' frame-to-frame changes, over the elements where both are finite,
    refined to a fraction of a frame by a parabola through the peak. Correlating changes
    rather than values makes the estimate blind to offsets and to the amplitude a
    low-pass filter removes.
    """
    check_fps(fps)
    check_count(max_lag, "max_lag", lo=0)
    ref = _check_sequence(reference, "reference")
    ref = ref.reshape(len(ref), -1)
    out = _check_sequence(delayed, "delayed")
    out = out.reshape(len(out), -1)
    if ref.shape != out.shape:
        raise ShapeError(f"reference and delayed must have the same shape; got {ref.shape} and {out.shape}.")
    dr, do = np.diff(ref, axis=0), np.diff(out, axis=0)
    n = len(dr)
    max_lag = max(0, min(max_lag, n - 3))
    shifts = np.arange(-max_lag, max_lag + 1)
    score = np.full(len(shifts), -np.inf)
    for k, shift in enumerate(shifts):
        a = do[shift:] if shift >= 0 else do[: n + shift]
        b = dr[: n - shift] if shift >= 0 else dr[-shift:]
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() < 2:
            continue
        a, b = np.where(ok, a, 0.0), np.where(ok, b, 0.0)
        denom = math.sqrt(float((a * a).sum() * (b * b).sum()))
        score[k] = float((a * b).sum()) / denom if denom > 0 else -np.inf
    if not np.isfinite(score).any():
        return float("nan")
    k = int(np.argmax(score))
    frac = 0.0
    if 0 < k < len(shifts) - 1 and np.isfinite(score[k - 1]) and np.isfinite(score[k + 1]):
        curv = score[k - 1] - 2.0 * score[k] + score[k + 1]
        if curv < 0:
            frac = 0.5 * (score[k - 1] - score[k + 1]) / curv
    return (float(shifts[k]) + frac) / fps


def smooth_people(
    poses: np.ndarray, lifted: np.ndarray, skeleton: str | Skeleton, fps: float, *, mode: Literal["offline", "causal"] = "offline"
) -> np.ndarray:
    """:func:`smooth_poses` for each person slot of ``poses`` ``(frames, people, N, 3)`` over the
    frames where ``lifted`` ``(frames, people)``; other frames are returned unchanged, and a
    slot lifted in fewer than two frames is not smoothed."""
    out = poses.copy()
    for p in range(poses.shape[1]):
        if lifted[:, p].sum() < 2:
            continue
        seq = np.where(lifted[:, p, None, None], poses[:, p], np.nan)
        out[:, p] = np.where(lifted[:, p, None, None], smooth_poses(seq, skeleton, fps, mode=mode), poses[:, p])
    return out
