"""Sequence lifting: :func:`poselift.sequence.refine_sequence` and :meth:`Lifter.lift_sequence`."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from poselift import Lifter
from poselift.errors import InvalidArgumentError, MissingJointsError, ShapeError
from poselift.sequence import SEQUENCE_DEFAULTS, _dense, refine_sequence, smooth_banded, whittaker_lambda
from poselift.skeleton import get_skeleton

from conftest import BLOCK_TORCH, POSE_H36M17_PX

SKEL = get_skeleton("h36m17")


@pytest.fixture(scope="module")
def released() -> Lifter:
    """The released default on the ONNX backend (what users without torch run)."""
    return Lifter.from_pretrained("poselift/h36m-17", backend="onnx")


_BASE3D: dict[str, np.ndarray] = {}


def walking_clip(frames: int = 120, fps: float = 50.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic clip: a 3D skeleton turning and swinging its limbs, seen by a pinhole camera.

    The skeleton is the released lifter's 3D of the standing test pose, so the clip is a
    motion the lifter can follow. Returns ``(keypoints px (T, 17, 2), pose3d root-relative
    metres (T, 17, 3))``.
    """
    if "base" not in _BASE3D:
        _BASE3D["base"] = np.asarray(Lifter.from_pretrained("poselift/h36m-17", backend="onnx").lift(POSE_H36M17_PX), float)
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / fps
    P = np.repeat(_BASE3D["base"][None], frames, axis=0)
    phase = rng.uniform(0, 2 * np.pi)
    swing = 0.15 * np.sin(2 * np.pi * 1.0 * t + phase)
    for joints, sign in (((2, 3), 1.0), ((5, 6), -1.0), ((12, 13), -1.0), ((15, 16), 1.0)):
        for depth, j in enumerate(joints, 1):
            P[:, j, 2] += sign * swing * depth
    yaw = 0.6 * np.sin(2 * np.pi * 0.3 * t + phase)  # turning about the vertical (y) axis
    c, s = np.cos(yaw), np.sin(yaw)
    x, z = P[..., 0].copy(), P[..., 2].copy()
    P[..., 0], P[..., 2] = c[:, None] * x + s[:, None] * z, -s[:, None] * x + c[:, None] * z
    P -= P[:, :1]
    cam = P + np.array([0.0, 0.0, 4.0]) + np.stack([0.3 * np.sin(t), 0 * t, 0.2 * t], axis=1)[:, None]
    kp = 1000.0 * cam[..., :2] / cam[..., 2:] + np.array([640.0, 360.0])
    return kp.astype(np.float32), P


def test_smooth_banded_matches_a_dense_solve():
    rng = np.random.default_rng(0)
    for T in (1, 2, 3, 4, 5, 30):
        y = rng.normal(size=(T, 3))
        w = rng.uniform(0.0, 1.0, size=(T, 3))
        w[0, 0] = 0.0  # a gap
        lam = np.array([0.0, 2.0, 50.0])
        expected = _dense(w * y, w, lam, 1e-9)
        np.testing.assert_allclose(smooth_banded(y, w, lam), expected, atol=1e-9)


def test_whittaker_lambda_puts_half_power_at_the_cutoff():
    lam = whittaker_lambda(2.0, 50.0)
    w = 2 * np.pi * 2.0 / 50.0
    assert 1.0 / (1.0 + lam * (2 * np.sin(w / 2)) ** 4) == pytest.approx(0.5)
    assert whittaker_lambda(100.0, 50.0) == 0.0  # above Nyquist: no smoothing


def test_shapes_and_containers(released):
    kp, _ = walking_clip(40)
    out = released.lift_sequence(kp, fps=50.0)
    assert out.shape == (40, 17, 3) and out.dtype == np.float32 and np.isfinite(out).all()
    np.testing.assert_allclose(out[:, 0], 0.0, atol=1e-6)  # root-relative
    assert released.lift_sequence(kp.astype(np.float64), fps=50.0).dtype == np.float64


def test_the_clip_has_the_body_height_and_one_length_per_bone(released):
    from poselift.smooth import bone_length_cv

    kp, _ = walking_clip(60)
    out = released.lift_sequence(kp, fps=50.0, height=1.5)
    from poselift.sequence import _chain_height

    assert np.median(_chain_height(out.astype(np.float64), SKEL)) == pytest.approx(1.5, rel=1e-5)
    assert bone_length_cv(out, SKEL).max() < 1e-5


def test_refinement_lowers_the_error_of_a_noisy_clip(released):
    """Detector-like noise on the 2D of a known 3D motion: the clip's P-MPJPE drops."""
    from poselift.metrics import p_mpjpe

    kp, P = walking_clip(150)
    rng = np.random.default_rng(1)
    noisy = kp + rng.normal(0.0, 4.0, kp.shape).astype(np.float32)
    per_frame = released.lift(noisy)
    clip = released.lift_sequence(noisy, fps=50.0)
    before = float(p_mpjpe(per_frame.astype(np.float64), P).mean())
    after = float(p_mpjpe(clip.astype(np.float64), P).mean())
    assert after < 0.9 * before, (before, after)
    jitter = lambda x: np.abs(np.diff(x, 2, axis=0)).mean()  # noqa: E731
    assert jitter(clip) < 0.3 * jitter(per_frame)


def test_gaps_stay_nan_and_are_bridged(released):
    kp, _ = walking_clip(60)
    conf = np.ones(kp.shape[:-1], dtype=np.float32)
    conf[20:25] = 0.0  # nobody detected for five frames
    result = released.lift_sequence(kp, conf, fps=50.0, on_unliftable="nan")
    assert not result.lifted[20:25].any() and result.lifted[:20].all() and result.lifted[25:].all()
    assert set(result.reason[20:25]) == {"missing_joints"}
    assert np.isnan(result.poses[20:25]).all() and np.isfinite(result.poses[:20]).all() and np.isfinite(result.poses[25:]).all()
    full = released.lift_sequence(kp, fps=50.0)
    assert np.abs(result.poses[30:] - full[30:]).max() < 0.05  # a short gap barely changes the rest
    with pytest.raises(MissingJointsError, match="on_unliftable"):
        released.lift_sequence(kp, conf, fps=50.0)


def test_missing_joints_are_filled_and_weighted_out(released):
    kp, _ = walking_clip(50)
    conf = np.ones(kp.shape[:-1], dtype=np.float32)
    conf[10:30, 13] = 0.0  # left wrist missing for 20 frames
    kp = kp.copy()
    kp[10:30, 13] = np.nan
    out = released.lift_sequence(kp, conf, fps=50.0)
    assert np.isfinite(out).all()
    result = released.lift_sequence(kp, conf, fps=50.0, on_unliftable="nan")
    assert result.filled[10:30, 13].all() and not result.filled[:10].any()


def test_one_frame_and_short_clips(released):
    kp, _ = walking_clip(3)
    one = released.lift_sequence(kp[:1], fps=50.0)
    assert one.shape == (1, 17, 3) and np.isfinite(one).all()
    # One frame: nothing to smooth, its bones already have their lengths: the per-frame lift
    # (left and right bones not made equal).
    one = released.lift_sequence(kp[:1], fps=50.0, symmetric=False)
    single = released.lift(kp[:1])
    np.testing.assert_allclose(one, single, atol=2e-3)
    for n in (2, 3):
        assert np.isfinite(released.lift_sequence(kp[:n], fps=50.0)).all()


def test_batch_of_clips_equals_each_clip(released):
    a, _ = walking_clip(30, seed=0)
    b, _ = walking_clip(30, seed=1)
    both = released.lift_sequence(np.stack([a, b]), fps=50.0)
    np.testing.assert_allclose(both[0], released.lift_sequence(a, fps=50.0), atol=1e-5)
    np.testing.assert_allclose(both[1], released.lift_sequence(b, fps=50.0), atol=1e-5)


@pytest.mark.parametrize("latency", [0, 5])
def test_causal_output_does_not_depend_on_later_frames(released, latency):
    kp, _ = walking_clip(80)
    changed = kp.copy()
    cut = 50
    changed[cut:] += np.random.default_rng(2).normal(0.0, 30.0, changed[cut:].shape).astype(np.float32)
    a = released.lift_sequence(kp, fps=50.0, causal=True, latency=latency)
    b = released.lift_sequence(changed, fps=50.0, causal=True, latency=latency)
    last_same = cut - 1 - latency  # frames up to here saw only frames < cut
    np.testing.assert_allclose(a[: last_same + 1], b[: last_same + 1], atol=1e-6)
    assert np.abs(a[last_same + 1] - b[last_same + 1]).max() > 1e-4  # the next one does see them
    offline = released.lift_sequence(changed, fps=50.0)
    assert np.abs(offline[:last_same] - a[:last_same]).max() > 1e-4  # offline looks further ahead


def test_arguments_are_checked(released):
    kp, _ = walking_clip(10)
    with pytest.raises(ShapeError, match="frames"):
        released.lift_sequence(kp[0], fps=50.0)
    with pytest.raises(InvalidArgumentError, match="fps"):
        released.lift_sequence(kp, fps=0.0)
    with pytest.raises(InvalidArgumentError, match="unknown sequence parameter"):
        released.lift_sequence(kp, fps=50.0, cutoff=3.0)
    with pytest.raises(InvalidArgumentError, match="bones"):
        released.lift_sequence(kp, fps=50.0, bones="stretch")
    with pytest.raises(ShapeError, match="weights"):
        refine_sequence(np.zeros((4, 17, 3)), np.zeros((4, 17, 2)), np.ones((4, 16)), SKEL, c=10.0, fps=50.0)
    assert set(SEQUENCE_DEFAULTS) >= {"cutoff_xy", "cutoff_z", "latency"}


def test_all_frames_unliftable_gives_nan(released):
    kp, _ = walking_clip(5)
    result = released.lift_sequence(kp, np.zeros(kp.shape[:-1]), fps=50.0, on_unliftable="nan")
    assert np.isnan(result.poses).all() and not result.lifted.any()


def test_torch_tensors_come_back_as_tensors(released):
    torch = pytest.importorskip("torch")
    kp, _ = walking_clip(20)
    out = released.lift_sequence(torch.from_numpy(kp), fps=50.0)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), released.lift_sequence(kp, fps=50.0), atol=1e-6)


_NO_TORCH = BLOCK_TORCH + '''
import json
import numpy as np
from poselift import Lifter
kp = np.load(sys.argv[1])
lifter = Lifter.from_pretrained("poselift/h36m-17")
out = lifter.lift_sequence(kp, fps=50.0)
causal = lifter.lift_sequence(kp, fps=50.0, causal=True)
print(json.dumps({"backend": lifter.backend, "finite": bool(np.isfinite(out).all() and np.isfinite(causal).all()),
                  "imported": sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "onnx"))}))
'''


def test_lift_sequence_works_without_torch(tmp_path):
    kp, _ = walking_clip(30)
    np.save(tmp_path / "kp.npy", kp)
    script = tmp_path / "no_torch.py"
    script.write_text(textwrap.dedent(_NO_TORCH))
    result = subprocess.run([sys.executable, str(script), str(tmp_path / "kp.npy")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"backend": "onnx", "finite": True, "imported": []}


def test_cli_lift_sequence(tmp_path):
    from poselift.cli import main
    from poselift.demo import sample_path

    out = tmp_path / "walk.npz"
    assert main(["lift", str(sample_path("openpose_walk")), "-o", str(out), "--sequence"]) == 0
    poses = np.load(out)["poses3d"]
    lifted = np.isfinite(poses).all(axis=(-1, -2))
    assert lifted.sum() > 10
    from poselift.smooth import bone_length_cv

    seq = poses[:, 0][lifted[:, 0]]
    assert np.nanmax(bone_length_cv(seq, SKEL)) < 1e-4  # one length per bone over the clip


def test_clean_2d_is_smoothed_less(released):
    """The cut-offs rise for clean 2D (noise-adaptive), so a noise-free clip keeps its motion."""
    from poselift.sequence import _boost, _prepare

    kp, _ = walking_clip(100)
    noisy = kp + np.random.default_rng(3).normal(0.0, 4.0, kp.shape).astype(np.float32)
    boosts = []
    for clip in (kp, noisy):
        X = np.asarray(released.lift(clip, units="normalized"), dtype=np.float64)
        w = np.ones(clip.shape[:-1])
        Xp, a, sigma, _ = _prepare(X, clip.astype(np.float64), w, np.ones(len(X), bool), SKEL, 10.0, 1.7)
        boosts.append(float(_boost(a, sigma, w, 50.0, SEQUENCE_DEFAULTS)))
    assert boosts[0] == SEQUENCE_DEFAULTS["max_boost"] and boosts[1] < boosts[0]
    fixed = released.lift_sequence(kp, fps=50.0, noise_ref=None)
    adaptive = released.lift_sequence(kp, fps=50.0)
    per_frame = released.lift(kp)
    assert np.abs(adaptive - per_frame).mean() < np.abs(fixed - per_frame).mean()


def test_lift_video_lifts_the_frames_as_one_clip(released):
    """lift_video uses lift_sequence by default (one length per bone over the clip); a missed frame is a gap."""
    pytest.importorskip("cv2")
    from poselift.smooth import bone_length_cv
    from poselift.video import lift_video

    from test_video import StandIn, blank_frames

    clip = lift_video(blank_frames(12), None, lifter=released, detector=StandIn(missing={5}), fps=25.0)
    alone = lift_video(blank_frames(12), None, lifter=released, detector=StandIn(missing={5}), fps=25.0, sequence=None)
    assert not clip.lifted[5, 0] and clip.lifted.sum() == 11 and np.isnan(clip.poses[5]).all()
    poses = clip.poses[:, 0]  # the person axis: one person
    rel = poses - poses[:, :1]
    assert np.nanmax(bone_length_cv(rel[clip.lifted[:, 0]], SKEL)) < 1e-4
    assert np.abs(np.nan_to_num(clip.poses - alone.poses)).max() > 1e-4


@pytest.mark.data
def test_evaluate_sequence_on_h36m(shared_data, tmp_path, capsys):
    from poselift.cli import main

    h36m = shared_data / "h36m"
    if not (h36m / "h36m_3d_17j.npz").is_file():
        pytest.skip("Human3.6M files not in the shared data folder")
    out = tmp_path / "eval.json"
    rc = main(["evaluate", "poselift/h36m-17", "--h36m", str(h36m), "--subjects", "S8", "--stride", "100",
               "--sequence", "--json", str(out)])  # fmt: skip
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    assert "lift_sequence (offline)" in printed.out and "Accel" in printed.out
    record = json.loads(out.read_text())
    assert record["sequence"] == "offline" and record["subjects"] == ["S8"]
    assert main(["evaluate", "poselift/h36m-17", "--h36m", str(h36m), "--sequence", "--smooth", "offline"]) == 2
