"""Temporal smoothing: One-Euro (causal), forward-backward (offline), and the measures."""

from __future__ import annotations

import numpy as np
import pytest

from poselift.errors import PoseliftError, ShapeError
from poselift.smooth import (
    OneEuroFilter,
    bone_length_cv,
    estimate_lag,
    jitter,
    smooth_poses,
    smooth_sequence,
)

FPS = 50.0


def noisy_sine(frames: int = 200, noise: float = 0.02, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(frames) / FPS
    clean = np.stack([np.sin(2 * np.pi * 0.3 * t), 0.5 * np.cos(2 * np.pi * 0.2 * t)], axis=-1)
    rng = np.random.default_rng(seed)
    return clean, clean + rng.normal(0.0, noise, clean.shape)


def test_constant_signal_passes_unchanged():
    x = np.full((30, 4, 3), 2.5)
    for mode in ("causal", "offline"):
        np.testing.assert_allclose(smooth_sequence(x, FPS, mode=mode), x, atol=1e-12)


def test_smoothing_reduces_jitter_and_error():
    clean, noisy = noisy_sine()
    for mode in ("causal", "offline"):
        out = smooth_sequence(noisy, FPS, mode=mode)
        assert jitter(out, FPS) < 0.5 * jitter(noisy, FPS)
    offline = smooth_sequence(noisy, FPS, mode="offline")  # no lag: closer to the clean signal
    assert np.sqrt(np.mean((offline - clean) ** 2)) < np.sqrt(np.mean((noisy - clean) ** 2))


def test_causal_lags_and_offline_does_not():
    clean, noisy = noisy_sine(noise=0.0)
    causal = smooth_sequence(clean, FPS, mode="causal", min_cutoff=0.5, beta=0.0)
    offline = smooth_sequence(clean, FPS, mode="offline", min_cutoff=0.5, beta=0.0)
    assert estimate_lag(clean, causal, FPS) >= 2 / FPS
    inner = slice(50, -50)  # away from the ends, where a finite sequence bends any filter
    assert abs(estimate_lag(clean[inner], offline[inner], FPS)) < 0.2 / FPS


def test_causal_filter_uses_only_the_past():
    _, noisy = noisy_sine()
    full = smooth_sequence(noisy, FPS, mode="causal")
    head = smooth_sequence(noisy[:50], FPS, mode="causal")
    np.testing.assert_allclose(full[:50], head, atol=1e-12)
    f = OneEuroFilter(FPS)
    np.testing.assert_allclose(np.stack([f(x) for x in noisy[:50]]), head, atol=1e-12)


def test_beta_follows_fast_motion():
    t = np.arange(100) / FPS
    step = np.where(t > 1.0, 1.0, 0.0)[:, None]
    slow = smooth_sequence(step, FPS, mode="causal", min_cutoff=0.5, beta=0.0)
    fast = smooth_sequence(step, FPS, mode="causal", min_cutoff=0.5, beta=5.0)
    i = int(1.1 * FPS)  # 0.1 s after the step
    assert fast[i, 0] > slow[i, 0] + 0.1


def test_nan_gaps_stay_nan_and_restart():
    _, noisy = noisy_sine(60)
    x = noisy.copy()
    x[20:25] = np.nan
    for mode in ("causal", "offline"):
        out = smooth_sequence(x, FPS, mode=mode)
        assert np.isnan(out[20:25]).all() and np.isfinite(out[:20]).all() and np.isfinite(out[25:]).all()
    causal = smooth_sequence(x, FPS, mode="causal")
    np.testing.assert_allclose(causal[25], x[25], atol=1e-12)  # restart: the first sample passes through


def test_smooth_poses_keeps_a_static_pose_and_moves_the_root_smoothly(pose):
    rng = np.random.default_rng(0)
    P = np.zeros((50, 17, 3))
    P[:, :, :2] = pose / 180.0
    P[:, :, 2] = 4.0 + np.linspace(0.0, 1.0, 50)[:, None]
    noisy = P + rng.normal(0.0, 0.01, P.shape)
    out = smooth_poses(noisy, "h36m17", FPS)
    assert jitter(out, FPS) < 0.3 * jitter(noisy, FPS)
    assert np.median(bone_length_cv(out, "h36m17")) < np.median(bone_length_cv(noisy, "h36m17"))


def test_measures():
    P = np.zeros((5, 17, 3))
    P[:, :, 0] = np.arange(17)
    assert jitter(P, FPS) == pytest.approx(0.0, abs=1e-12)
    moving = P + (np.arange(5) ** 2)[:, None, None] * np.array([1.0, 0.0, 0.0])
    assert jitter(moving, 10.0) == pytest.approx(200.0)  # 2 units/frame^2 at 10 fps
    np.testing.assert_allclose(bone_length_cv(P, "h36m17"), 0.0, atol=1e-12)
    ref = np.sin(np.arange(100) / 5.0)[:, None]
    shifted = np.concatenate([np.zeros((3, 1)), ref[:-3]])
    assert estimate_lag(ref, shifted, FPS) == pytest.approx(3 / FPS, abs=0.1 / FPS)
    assert estimate_lag(shifted, ref, FPS) == pytest.approx(-3 / FPS, abs=0.1 / FPS)


def test_bad_arguments_raise():
    with pytest.raises(PoseliftError, match="mode"):
        smooth_sequence(np.zeros((3, 2)), FPS, mode="zero-lag")
    with pytest.raises(PoseliftError, match="positive"):
        OneEuroFilter(fps=0.0)
    with pytest.raises(ShapeError, match="at least one frame"):
        smooth_sequence(np.zeros((0, 2)), FPS)
    with pytest.raises(ShapeError, match=r"\(frames, 17, 3\)"):
        smooth_poses(np.zeros((3, 16, 3)), "h36m17", FPS)


# --------------------------------------------------------------------------- argument checks (F28)
@pytest.mark.parametrize("fps", [None, "30", float("inf"), float("nan"), True, 0.0, -5, 1e-9, 1e9])
def test_frame_rates_are_checked_by_every_sequence_tool(fps):
    """F28: fps None/'30'/inf/True gave tracebacks, NaN or silently wrong results."""
    from poselift.errors import InvalidArgumentError

    seq = np.zeros((5, 17, 3))
    calls = (
        lambda: smooth_poses(seq, "h36m17", fps), lambda: smooth_sequence(seq, fps), lambda: estimate_lag(seq, seq, fps),
        lambda: OneEuroFilter(fps),
    )  # fmt: skip
    for call in calls:
        with pytest.raises(InvalidArgumentError, match="fps must be a positive frame rate"):
            call()


def test_smoothing_parameters_and_values_are_checked():
    """F28: unknown parameters gave a TypeError, beta=inf NaN poses, 1e200 m poses NaN, ragged
    lists a ValueError from numpy, max_lag=-1/True a silent default."""
    from poselift.errors import InvalidArgumentError, KeypointTypeError

    seq = np.random.default_rng(0).normal(0, 0.3, (6, 17, 3))
    with pytest.raises(InvalidArgumentError, match=r"unknown smoothing parameters \['gamma'\]"):
        smooth_poses(seq, "h36m17", 30.0, gamma=1.0)
    for name, value in (("beta", float("inf")), ("min_cutoff", 0.0), ("d_cutoff", float("nan")), ("beta", "1")):
        with pytest.raises(InvalidArgumentError, match=name):
            smooth_poses(seq, "h36m17", 30.0, **{name: value})
    with pytest.raises(InvalidArgumentError, match="poses hold coordinates up to 1.*e\\+200"):
        smooth_poses(seq * 1e200, "h36m17", 30.0)
    with pytest.raises(KeypointTypeError, match="cannot be read as one array"):
        smooth_sequence([[1.0, 2.0], [3.0]], 30.0)
    for max_lag in (-1, True, 2.5):
        with pytest.raises(InvalidArgumentError, match="max_lag"):
            estimate_lag(seq, seq, 30.0, max_lag=max_lag)
