"""``lift``: bad arguments, extreme coordinates, input types, adapter results and ``on_unliftable``.

Regression tests for the hardening issue (#11) and adapter misuse (#10, item 5).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import POSE_H36M17_PX, random_poses, tiny_lifter
from poselift import (
    DegeneratePoseError,
    InvalidArgumentError,
    KeypointTypeError,
    LiftResult,
    MissingJointsError,
    NonFiniteError,
    PoseliftError,
    adapt_coco17,
    adapt_openpose,
)
from poselift.config import CompletionConfig
from poselift.lifter import UNLIFTABLE_REASONS


def _completing(min_visible: int = 8):
    return tiny_lifter(seed=3, completion=CompletionConfig(width=32, blocks=1, min_visible=min_visible))


def _err(exc_type, fn, *args, **kwargs) -> str:
    with pytest.raises(exc_type) as info:
        fn(*args, **kwargs)
    return str(info.value)


# ----------------------------------------------------------------------------- arguments
@pytest.mark.parametrize("height", [0, 0.0, -1.7, float("nan"), float("inf"), -float("inf"), 1e-300, 1e300, 0.05, 12.0])
def test_impossible_heights_are_refused(lifter, pose, height):
    """F17 added 1e-300 (silently gave normalised units: 0 in float32) and 1e300 (was blamed
    on "broken weights"): a body height lies between 0.1 and 10 m."""
    msg = _err(InvalidArgumentError, lifter.lift, pose, height=height)
    assert "height must be a body height in metres between 0.1 and 10" in msg and 'units="normalized"' in msg


def test_a_height_in_centimetres_names_them(lifter, pose):
    assert "looks like centimetres: pass 1.75" in _err(InvalidArgumentError, lifter.lift, pose, height=175)


@pytest.mark.parametrize("height", ["tall", "1.7", True, np.bool_(True), None.__class__])
def test_a_height_that_is_not_a_number(lifter, pose, height):
    """F17: ``height=True`` was accepted as 1 m."""
    assert "height must be a number of metres" in _err(InvalidArgumentError, lifter.lift, pose, height=height)


@pytest.mark.parametrize("batch_size", [0, -1, 1.5, True, "8"])
def test_impossible_batch_sizes_are_refused(lifter, poses, batch_size):
    msg = _err(InvalidArgumentError, lifter.lift, poses, batch_size=batch_size)
    assert "batch_size must be a whole number >= 1" in msg


def _count_runner_calls(lifter, monkeypatch) -> list[int]:
    calls: list[int] = []
    real = lifter.runner.lift

    def counted(x, height, visible=None):
        calls.append(x.shape[0])
        return real(x, height, visible)

    monkeypatch.setattr(lifter.runner, "lift", counted)
    return calls


def test_the_default_batch_is_the_backends_and_an_explicit_one_wins(lifter, monkeypatch):
    """``batch_size=None`` (the default) runs the network on ``runner.batch_size`` poses at a
    time (512 on a CPU: the activations stay in cache); an explicit ``batch_size`` wins. The
    chunks change nothing in the result."""
    assert lifter.runner.batch_size == 512
    x = random_poses(1300, seed=5)
    whole = lifter.lift(x, batch_size=4096)
    calls = _count_runner_calls(lifter, monkeypatch)
    np.testing.assert_allclose(lifter.lift(x), whole, rtol=1e-5, atol=1e-6)
    assert calls == [512, 512, 276]
    calls.clear()
    lifter.lift(x, batch_size=1000)
    assert calls == [1000, 300]


def test_a_runner_of_your_own_needs_only_lift_x_height(lifter, poses):
    """``Lifter(config, runner=...)`` takes a runner with just ``lift(x, height)`` and
    ``describe()`` for a model without completion: no ``batch_size`` (512 is used), and
    ``visible`` is passed only for poses with missing joints."""
    from poselift import Lifter
    from poselift.runners import CPU_BATCH

    class Mine:
        backend = "torch"

        def __init__(self, inner):
            self.inner, self.calls = inner, []

        def lift(self, x, height):
            self.calls.append(x.shape[0])
            return self.inner.lift(x, height)

        def describe(self):
            return "mine"

    mine = Mine(lifter.runner)
    wrapped = Lifter(lifter.config, runner=mine)
    x = random_poses(CPU_BATCH + 3, seed=9)
    np.testing.assert_allclose(wrapped.lift(x), lifter.lift(x), rtol=1e-5, atol=1e-6)
    assert mine.calls == [CPU_BATCH, 3]


def test_completion_and_lift_are_one_runner_call_and_one_trip_back(monkeypatch):
    """Poses with missing joints are filled and lifted in the same runner call, so with the
    torch backend the filled poses stay on the device: one ``.cpu()`` per chunk, completion
    or not (on a GPU that is one round trip instead of two)."""
    lifter = _completing()
    x = random_poses(6, seed=2)
    conf = np.ones(x.shape[:-1], dtype=np.float32)
    conf[:, [3, 13]] = 0.0
    calls = _count_runner_calls(lifter, monkeypatch)
    trips = []
    real_cpu = torch.Tensor.cpu

    def cpu(self, *args, **kwargs):
        trips.append(tuple(self.shape))
        return real_cpu(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "cpu", cpu)
    out = lifter.lift(x, conf)
    assert calls == [6] and trips == [(6, 17, 3)] and np.isfinite(out).all()


def test_batch_size_one_and_numpy_integers_work(lifter, poses):
    ref = lifter.lift(poses)
    np.testing.assert_allclose(lifter.lift(poses, batch_size=1), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lifter.lift(poses, batch_size=np.int64(3)), ref, rtol=1e-5, atol=1e-6)


def test_unknown_on_unliftable(lifter, pose):
    assert "'raise' or 'nan'" in _err(InvalidArgumentError, lifter.lift, pose, on_unliftable="skip")


# ----------------------------------------------------------------------------- extreme coordinates
@pytest.mark.parametrize("scale", [1e-3, 1e6, 1e19, 1e30])
def test_any_scale_gives_the_same_pose(lifter, pose, scale):
    ref = lifter.lift(pose)
    out = lifter.lift((pose.astype(np.float64) * scale).astype(np.float32))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


def test_float64_keeps_a_huge_offset(lifter, pose):
    ref = lifter.lift(pose.astype(np.float64))
    out = lifter.lift(pose.astype(np.float64) + 1e9)  # 100 px of pose on a 1e9 px offset: fine in float64
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    t = lifter.lift(torch.from_numpy(pose.astype(np.float64) + 1e12))
    np.testing.assert_allclose(t.numpy(), ref, rtol=1e-3, atol=1e-3)


def test_a_float32_pose_lost_in_its_offset_is_degenerate(lifter, pose):
    # in float32, 1e12 + 300 px is 1e12: the pose has no shape left
    assert "degenerate" in _err(DegeneratePoseError, lifter.lift, pose + np.float32(1e12))


@pytest.mark.parametrize("where", [1e19, -1e30, 3e38])
def test_all_joints_at_one_huge_point_is_degenerate(lifter, where):
    x = np.full((17, 2), where, dtype=np.float32)
    assert "degenerate" in _err(DegeneratePoseError, lifter.lift, x)


def test_missing_joint_and_huge_coordinates_stay_finite(pose):
    lifter = _completing()
    conf = np.ones(17, dtype=np.float32)
    conf[13] = 0.0
    ref = lifter.lift(pose, conf)
    for scale in (1e19, 1e30):
        x = (pose.astype(np.float64) * scale).astype(np.float32)
        out = lifter.lift(x, conf)
        assert np.isfinite(out).all()
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


def test_single_pose_messages_do_not_print_an_empty_index(lifter):
    msg = _err(DegeneratePoseError, lifter.lift, np.full((17, 2), 5.0, dtype=np.float32))
    assert "pose ()" not in msg and "the pose is degenerate" in msg
    x = POSE_H36M17_PX.copy()
    x[3] = np.nan
    msg = _err(NonFiniteError, lifter.lift, x)
    assert "()" not in msg and "right_ankle" in msg


# ----------------------------------------------------------------------------- input types
@pytest.mark.parametrize(
    "bad, what",
    [
        (None, "NoneType"),
        ("17 joints", "str"),
        (np.ones((17, 2), dtype=bool), "bool"),
        (np.ones((17, 2), dtype=np.complex64), "complex"),
        (torch.ones(17, 2, dtype=torch.bool), "torch.bool"),
        (torch.ones(17, 2, dtype=torch.complex64), "torch.complex64"),
        ([[1.0, 2.0]] * 16 + [[1.0]], "ragged"),
        (np.array([{"x": 1}] * 34, dtype=object).reshape(17, 2), "objects"),
    ],
)
def test_anything_but_real_numbers_is_a_type_error(lifter, bad, what):
    msg = _err(KeypointTypeError, lifter.lift, bad)
    assert "real numbers" in msg
    with pytest.raises(TypeError):  # also a TypeError, for callers that catch those
        lifter.lift(bad)


def test_bool_confidence_is_refused_and_lists_are_accepted(lifter, pose):
    assert "confidence" in _err(KeypointTypeError, lifter.lift, pose, np.ones(17, dtype=bool))
    np.testing.assert_allclose(lifter.lift(pose.tolist()), lifter.lift(pose), rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------- adapter results
def _coco17(n: int = 3) -> np.ndarray:
    """``(n, 17, 3)`` upright-ish COCO-17 people with confidence 0.9."""
    rng = np.random.default_rng(0)
    base = np.array([[200, 100], [205, 95], [195, 95], [212, 98], [188, 98], [225, 140], [175, 140],
                     [235, 190], [165, 190], [240, 235], [160, 235], [215, 240], [185, 240],
                     [217, 320], [183, 320], [218, 400], [182, 400]], float)  # fmt: skip
    xy = base[None] + rng.normal(0, 3, (n, 17, 2))
    return np.concatenate([xy, np.full((n, 17, 1), 0.9)], axis=-1).astype(np.float32)


def test_lift_takes_the_adapter_result_whole():
    lifter = _completing()
    x = _coco17()
    adapted = adapt_coco17(x)
    np.testing.assert_allclose(lifter.lift(adapted), lifter.lift(*adapted), rtol=1e-6, atol=1e-6)
    assert "already carries its confidence" in _err(InvalidArgumentError, lifter.lift, adapted, adapted.confidence)


def test_dropping_the_adapter_confidence_cannot_lift_missing_joints_as_real_points():
    lifter = _completing()
    x = _coco17()
    x[1, 15, 2] = 0.0  # pose 1: left ankle undetected
    adapted = adapt_coco17(x)
    assert np.isnan(adapted.keypoints[1]).any() and np.isfinite(adapted.keypoints[0]).all()
    msg = _err(NonFiniteError, lifter.lift, adapted.keypoints)
    assert "first at index (1,)" in msg and "left_ankle" in msg and "lifter.lift(adapted)" in msg
    assert np.isfinite(lifter.lift(adapted)).all()  # with its confidence the ankle is filled


def test_adapt_openpose_layout_and_confidence_are_keyword_only():
    xy = np.zeros((25, 2), dtype=np.float32)
    with pytest.raises(TypeError, match="positional"):
        adapt_openpose(xy, np.ones(25))  # was: TypeError: unhashable type
    with pytest.raises(TypeError, match="positional"):
        adapt_openpose(xy, "body25")


def test_adapt_layout_source_must_be_a_name():
    from poselift.adapt import adapt_layout

    x = _coco17()
    assert "confidence=" in _err(InvalidArgumentError, adapt_layout, x[..., :2], x[..., 2], "coco17")


def test_nan_coordinates_with_confidence_are_missing_like_in_the_adapters(poses):
    lifter = _completing()
    x = poses.copy()
    x[2, 5] = np.nan
    result = lifter.lift(x, np.ones((8, 17), np.float32), on_unliftable="nan")
    out, filled = result.poses, result.filled
    assert np.isfinite(out).all() and filled[2, 5] and filled.sum() == 1


# ----------------------------------------------------------------------------- on_unliftable
def test_on_unliftable_nan_returns_nan_poses_and_a_mask(lifter):
    x = random_poses(6, seed=4)
    conf = np.ones((6, 17), np.float32)
    x[1] = 7.0  # degenerate
    x[3, 2] = np.nan  # NaN in a visible joint (no completion network: missing is unliftable)
    conf[4, 0] = 0.0  # missing joint, and this lifter cannot fill it
    with pytest.raises(PoseliftError):
        lifter.lift(x, conf)
    result = lifter.lift(x, conf, on_unliftable="nan")
    assert isinstance(result, LiftResult)
    np.testing.assert_array_equal(result.lifted, [True, False, True, False, False, True])
    assert result.reason.tolist() == ["", "degenerate", "", "missing_joints", "missing_joints", ""]
    assert set(result.reason.tolist()) - {""} <= set(UNLIFTABLE_REASONS)
    assert np.isnan(result.poses[~result.lifted]).all() and np.isfinite(result.poses[result.lifted]).all()
    keep = [0, 2, 5]
    np.testing.assert_allclose(result.poses[keep], lifter.lift(x[keep]), rtol=1e-5, atol=1e-6)
    assert not result.filled.any()


def test_on_unliftable_nan_without_confidence_and_with_tensors(lifter):
    x = torch.from_numpy(random_poses(4, seed=5)).reshape(2, 2, 17, 2).clone()
    x[0, 1, 4] = float("inf")
    result = lifter.lift(x, on_unliftable="nan")
    assert torch.is_tensor(result.poses) and torch.is_tensor(result.lifted)
    assert result.lifted.tolist() == [[True, False], [True, True]]
    assert result.reason[0, 1] == "nonfinite"
    assert torch.isnan(result.poses[0, 1]).all()


def test_on_unliftable_nan_fills_what_it_can():
    lifter = _completing(min_visible=8)
    x = random_poses(3, seed=6)
    conf = np.ones((3, 17), np.float32)
    conf[0, 3] = 0.0  # fillable
    conf[2, :12] = 0.0  # only 5 visible: not fillable
    result = lifter.lift(x, conf, on_unliftable="nan")
    assert result.lifted.tolist() == [True, True, False]
    assert result.filled[0, 3] and not result.filled[2].any()
    assert result.reason[2] == "missing_joints"
    with pytest.raises(MissingJointsError, match="only 5 of 17"):
        lifter.lift(x, conf)


def test_nothing_liftable_is_all_nan(lifter):
    x = np.full((3, 17, 2), 1.0, dtype=np.float32)
    result = lifter.lift(x, on_unliftable="nan")
    assert not result.lifted.any() and np.isnan(result.poses).all()
    assert result.poses.shape == (3, 17, 3)


def test_on_unliftable_nan_with_camera_places_only_the_lifted_poses(lifter):
    x = random_poses(4, seed=8) + 300.0
    x[2] = 5.0  # degenerate
    result = lifter.lift(x, camera=(1280, 720), on_unliftable="nan")
    assert result.lifted.tolist() == [True, True, False, True]
    keep = [0, 1, 3]
    np.testing.assert_allclose(result.poses[keep], lifter.lift(x[keep], camera=(1280, 720)), rtol=1e-5, atol=1e-5)
    assert np.isnan(result.poses[2]).all()


def test_masked_arrays_treat_masked_values_as_missing(lifter, pose):
    """F15: the mask of a numpy masked array was ignored: a masked joint's stale data moved the
    pose 2 m. Masked coordinates are missing (NaN); masked confidences too."""
    kp = np.ma.masked_array(np.stack([pose, pose]), mask=False)
    kp.data[0, 3] = [5000.0, -5000.0]  # stale data under the mask
    kp[0, 3] = np.ma.masked
    result = lifter.lift(kp, on_unliftable="nan")
    assert result.lifted.tolist() == [False, True] and result.reason[0] == "nonfinite"
    conf = np.ma.masked_array(np.ones((2, 17), np.float32), mask=False)
    conf[1, 5] = np.ma.masked
    result = lifter.lift(np.stack([pose, pose]), conf, on_unliftable="nan")
    assert result.lifted.tolist() == [True, False] and result.reason[1] == "missing_joints"
    np.testing.assert_allclose(lifter.lift(np.ma.masked_array(pose, mask=False)), lifter.lift(pose))


def test_meta_and_sparse_tensors_are_refused_with_a_message(lifter, pose):
    """F27: a torch ``meta`` tensor gave NotImplementedError from deep inside torch."""
    with pytest.raises(KeypointTypeError, match="meta tensor, which holds no values"):
        lifter.lift(torch.empty((17, 2), device="meta"))
    with pytest.raises(KeypointTypeError, match="sparse"):
        lifter.lift(torch.from_numpy(pose).to_sparse())


def test_lifting_numpy_while_another_thread_imports_torch(model_dir, pose, monkeypatch, tmp_path):
    """F08: while one thread imported torch, others failed with "partially initialized module
    'torch'" (the tensor check called into the half-imported module). A torch module still
    being imported has no tensors yet: numpy input is lifted as usual (here on ONNX Runtime,
    as in a torch-free service whose other thread starts training)."""
    import sys
    import types

    pytest.importorskip("onnxruntime")
    from poselift import Lifter

    onnx_lifter = Lifter.from_folder(model_dir, backend="onnx", onnx_cache_dir=tmp_path / "cache")
    expected = onnx_lifter.lift(pose)
    half_imported = types.ModuleType("torch")  # what sys.modules holds while torch's import runs
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "torch", half_imported)
        from poselift._arrays import is_tensor

        assert not is_tensor(pose)
        np.testing.assert_array_equal(onnx_lifter.lift(pose), expected)
