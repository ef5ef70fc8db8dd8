"""Pose-error metrics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from poselift.metrics import auc, mpjpe, n_mpjpe, p_mpjpe, pck


def _target(batch: int = 4, seed: int = 0) -> np.ndarray:
    """Poses in millimetres, ``(batch, 17, 3)``, away from the origin."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 300.0, size=(batch, 17, 3)) + np.array([100.0, -50.0, 4000.0])


def _rotation(axis, angle: float) -> np.ndarray:
    k = np.asarray(axis, dtype=np.float64)
    k = k / np.linalg.norm(k)
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(angle) * K + (1 - math.cos(angle)) * K @ K


def test_constant_offset_gives_that_offset_without_root_alignment():
    target = _target()
    pred = target + np.array([6.0, 8.0, 0.0])  # 10 mm on every joint
    np.testing.assert_allclose(mpjpe(pred, target, None), np.full(4, 10.0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(mpjpe(pred, target, "h36m17"), np.zeros(4), atol=1e-9)  # root alignment removes it


def test_mpjpe_by_hand():
    target = np.zeros((4, 3))
    pred = target.copy()
    pred[2] = [3.0, 4.0, 0.0]  # one joint 5 mm off, three exact
    assert mpjpe(pred, target, None).item() == pytest.approx(1.25)


def test_root_alignment_uses_the_skeleton_root():
    """lsp14 has no pelvis joint (joint 0 is an ankle): its root is the mid-point of the hips."""
    from poselift.skeleton import get_skeleton

    lsp = get_skeleton("lsp14")
    target = _target()[:, :14]
    pred = target.copy()
    hips = [lsp.index("right_hip"), lsp.index("left_hip")]
    pred[:, hips] += np.array([10.0, 0.0, 0.0])  # both hips 10 mm right: the root moves by 10 mm
    # every other joint is 10 mm off relative to the root; the hips are exact
    np.testing.assert_allclose(mpjpe(pred, target, lsp), np.full(4, 10.0 * 12 / 14), atol=1e-9)
    np.testing.assert_allclose(mpjpe(pred, target, "lsp14"), mpjpe(pred, target, lsp), atol=0)
    with pytest.raises(ValueError, match="has 17"):
        mpjpe(pred, target, "h36m17")


def test_similarity_transform_p_mpjpe_zero_mpjpe_not():
    target = _target()
    R = _rotation([0.3, -1.0, 0.2], 1.1)
    pred = 0.7 * target @ R.T + np.array([250.0, 10.0, -30.0])
    np.testing.assert_allclose(p_mpjpe(pred, target), np.zeros(4), atol=1e-6)
    assert np.all(mpjpe(pred, target, "h36m17") > 50.0)
    assert np.all(n_mpjpe(pred, target, "h36m17") > 50.0)  # scale alone cannot undo a rotation


def test_n_mpjpe_is_zero_for_a_pure_scaling():
    target = _target()
    pred = 1.3 * target
    np.testing.assert_allclose(n_mpjpe(pred, target, "h36m17"), np.zeros(4), atol=1e-9)
    assert np.all(mpjpe(pred, target, "h36m17") > 10.0)


def test_p_mpjpe_does_not_undo_a_mirror_image():
    target = _target()
    mirrored = target * np.array([-1.0, 1.0, 1.0])
    assert np.all(p_mpjpe(mirrored, target) > 10.0)


def test_pck_and_auc_on_hand_made_errors():
    errors = np.array([0.0, 50.0, 150.0, 151.0, 300.0])
    target = np.zeros((5, 3))
    pred = np.stack([errors, np.zeros(5), np.zeros(5)], axis=-1)
    # within 150 mm (inclusive): 0, 50, 150 -> 3 of 5
    assert pck(pred, target, None, threshold=150.0).item() == pytest.approx(3 / 5)
    assert pck(pred, target, None, threshold=49.0).item() == pytest.approx(1 / 5)
    # thresholds 0, 5, ..., 150 (31 values): an error e is within the thresholds >= e:
    # e=0 -> 31, e=50 -> 21, e=150 -> 1, e=151 -> 0, e=300 -> 0
    assert auc(pred, target, None).item() == pytest.approx((31 + 21 + 1) / (31 * 5))
    assert auc(pred, pred, None).item() == pytest.approx(1.0, abs=1e-9)


def test_leading_batch_dims_numpy_torch_and_float64_output():
    target = _target(6).reshape(2, 3, 17, 3)
    pred = target + np.random.default_rng(1).normal(0, 20, size=target.shape)
    for metric in (mpjpe, n_mpjpe, p_mpjpe, pck, auc):
        args = () if metric is p_mpjpe else ("h36m17",)
        out = metric(pred, target, *args)
        assert out.shape == (2, 3) and out.dtype == np.float64, metric.__name__
        flat = metric(pred.reshape(6, 17, 3), target.reshape(6, 17, 3), *args)
        np.testing.assert_allclose(out.reshape(6), flat, rtol=1e-6, atol=1e-6, err_msg=metric.__name__)
        from_torch = metric(torch.from_numpy(pred).float(), torch.from_numpy(target).float(), *args)
        assert isinstance(from_torch, np.ndarray)
        np.testing.assert_allclose(from_torch, out, rtol=1e-4, atol=1e-3, err_msg=metric.__name__)


def test_mismatched_shapes_are_rejected():
    with pytest.raises(ValueError, match=r"\(\.\.\., N, 3\); got \(17, 3\) and \(16, 3\)"):
        mpjpe(np.zeros((17, 3)), np.zeros((16, 3)), None)
    with pytest.raises(ValueError, match=r"got \(17, 2\) and \(17, 2\)"):
        p_mpjpe(np.zeros((17, 2)), np.zeros((17, 2)))
