"""Geometry shared by training and inference: normalisation, projection, rotations, alignment."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import POSE_H36M17_PX
from poselift import geometry as G
from poselift import get_skeleton

H36M = get_skeleton("h36m17")
LSP = get_skeleton("lsp14")


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _rot_x(a: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(a), torch.sin(a)
    one, zero = torch.ones_like(a), torch.zeros_like(a)
    return torch.stack([one, zero, zero, zero, c, -s, zero, s, c], -1).reshape(*a.shape, 3, 3)


def _random_rotation(batch: int, seed: int = 0) -> torch.Tensor:
    g = _gen(seed)
    axis = torch.randn(batch, 3, generator=g, dtype=torch.float64)
    angle = (torch.rand(batch, generator=g, dtype=torch.float64) * 2 - 1) * math.pi
    return G.axis_angle_matrix(axis, angle)


def _pose3d(batch: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 17, 3, generator=_gen(seed), dtype=torch.float64)


# ----------------------------------------------------------------------------- normalisation
def test_root_point_is_the_root_joint_or_the_hip_midpoint():
    x = torch.randn(3, 17, 2, generator=_gen())
    assert torch.equal(G.root_point(x, H36M), x[:, 0:1])
    y = torch.randn(3, 14, 2, generator=_gen(1))
    mid_hip = (y[:, LSP.index("left_hip")] + y[:, LSP.index("right_hip")]) / 2
    torch.testing.assert_close(G.root_point(y, LSP)[:, 0], mid_hip)


def test_pose_size_by_hand():
    x_rel = torch.zeros(17, 2, dtype=torch.float64)
    x_rel[H36M.head] = torch.tensor([3.0, 4.0], dtype=torch.float64)
    assert G.pose_size(x_rel, H36M, "rms").item() == pytest.approx(math.sqrt(25.0 / 17))
    for removed in ("max", "head"):  # "head" was removed (issue 18): no model or recipe used it
        with pytest.raises(ValueError, match=f"unknown scale mode '{removed}'"):
            G.pose_size(x_rel, H36M, removed)


@pytest.mark.parametrize("mode", ["rms"])
@pytest.mark.parametrize("c", [10.0, 4.0])
def test_normalize_2d_reconstructs_and_has_size_one_over_c(mode, c):
    x = torch.as_tensor(POSE_H36M17_PX, dtype=torch.float64) + torch.randn(5, 17, 2, generator=_gen(), dtype=torch.float64)
    x_n, root, sigma = G.normalize_2d(x, H36M, c, mode)
    assert x_n.shape == (5, 17, 2) and root.shape == (5, 1, 2) and sigma.shape == (5,)
    torch.testing.assert_close(x_n * sigma[:, None, None] + root, x)
    torch.testing.assert_close(G.pose_size(x_n, H36M, mode), torch.full((5,), 1 / c, dtype=torch.float64))
    assert torch.all(x_n[:, 0] == 0)  # root-centred


@pytest.mark.parametrize("mode", ["rms"])
def test_normalize_2d_is_invariant_to_translation_and_scale(mode):
    x = torch.as_tensor(POSE_H36M17_PX, dtype=torch.float64)
    x_n, root, sigma = G.normalize_2d(x, H36M, 10.0, mode)
    shift = torch.tensor([-513.0, 87.5], dtype=torch.float64)
    x_n2, root2, sigma2 = G.normalize_2d(2.5 * x + shift, H36M, 10.0, mode)
    torch.testing.assert_close(x_n2, x_n)
    torch.testing.assert_close(sigma2, 2.5 * sigma)
    torch.testing.assert_close(root2, 2.5 * root + shift)


def test_normalize_2d_of_a_degenerate_pose_has_zero_sigma_and_no_nan():
    x = torch.full((17, 2), 42.0)
    x_n, _, sigma = G.normalize_2d(x, H36M)
    assert sigma.item() == 0.0
    assert torch.isfinite(x_n).all()


def test_normalize_visible_uses_only_the_visible_joints():
    """The completion's normalisation: mean and RMS spread of the visible joints; the missing
    joints' coordinates (NaN here) are ignored and come out 0; translation and scale of the
    pose leave it unchanged."""
    x = torch.as_tensor(POSE_H36M17_PX, dtype=torch.float64).repeat(2, 1, 1)
    visible = torch.ones(2, 17, dtype=torch.bool)
    visible[1, [0, 3, 13]] = False
    hidden = x.clone()
    hidden[1, [0, 3, 13]] = float("nan")
    x_n, centre, spread = G.normalize_visible(hidden, visible)
    assert torch.isfinite(x_n).all() and (x_n[1, [0, 3, 13]] == 0).all()
    torch.testing.assert_close(centre[1, 0], x[1, visible[1]].mean(dim=0))
    rms = lambda p: p.square().sum(-1).mean().sqrt()  # noqa: E731
    torch.testing.assert_close(rms(x_n[1, visible[1]]), torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close((x_n * spread + centre)[1, visible[1]], x[1, visible[1]])
    moved, _, _ = G.normalize_visible(3.0 * hidden + torch.tensor([40.0, -7.0], dtype=torch.float64), visible)
    torch.testing.assert_close(moved, x_n)
    assert not torch.allclose(x_n[0], x_n[1])  # the visible joints alone set centre and spread


# ----------------------------------------------------------------------------- projection
@pytest.mark.parametrize("sigma", [1.0, 0.37])
def test_project_inverts_unproject(sigma):
    g = _gen()
    x = torch.randn(6, 17, 2, generator=g, dtype=torch.float64) * 0.1
    d = torch.randn(6, 17, generator=g, dtype=torch.float64) * 3.0
    X = G.unproject(x, d, 10.0, sigma)
    assert X.shape == (6, 17, 3)
    torch.testing.assert_close(X[..., 2], (10.0 + sigma * d).clamp_min(1.0))
    torch.testing.assert_close(G.project(X), x)


def test_unproject_clamps_depth_to_one_and_accepts_per_pose_sigma():
    x = torch.full((2, 17, 2), 0.05, dtype=torch.float64)
    d = torch.full((2, 17), -50.0, dtype=torch.float64)
    X = G.unproject(x, d, 10.0, torch.tensor([1.0, 0.1], dtype=torch.float64))
    assert torch.all(X[0, :, 2] == 1.0)  # 10 - 50 clamped to 1
    assert torch.allclose(X[1, :, 2], torch.full((17,), 5.0, dtype=torch.float64))  # 10 + 0.1 * -50
    torch.testing.assert_close(G.project(X), x)


def test_project_by_hand():
    X = torch.tensor([[2.0, -4.0, 2.0], [1.0, 1.0, 0.0]])
    P = G.project(X, min_depth=0.5)
    torch.testing.assert_close(P, torch.tensor([[1.0, -2.0], [2.0, 2.0]]))


# ----------------------------------------------------------------------------- rotations
def test_axis_angle_matrix_is_orthonormal_with_det_one():
    R = _random_rotation(64)
    eye = torch.eye(3, dtype=torch.float64).expand(64, 3, 3)
    torch.testing.assert_close(R @ R.transpose(-1, -2), eye)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(64, dtype=torch.float64))


def test_axis_angle_matrix_by_hand():
    R = G.axis_angle_matrix(torch.tensor([0.0, 0.0, 2.0]), torch.tensor(math.pi / 2))
    # right-handed: a quarter turn about +z takes +x to +y; the axis need not be unit length
    torch.testing.assert_close(R @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]))
    axis = torch.tensor([[1.0, 2.0, -2.0]]) / 3
    R = G.axis_angle_matrix(axis, torch.tensor([0.7]))
    torch.testing.assert_close(R[0] @ axis[0], axis[0])  # the axis is fixed


def _azimuth_elevation(R: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``R = Rx(elevation) @ Ry(azimuth)`` (up = +y) back into its two angles."""
    up = torch.tensor([0.0, 1.0, 0.0], dtype=R.dtype)
    r_up = R @ up  # Ry leaves up alone, so this is Rx(el) @ up = (0, cos el, sin el)
    elevation = torch.atan2(r_up[:, 2], r_up[:, 1])
    Ry = _rot_x(-elevation) @ R
    torch.testing.assert_close(Ry @ up, up.expand(len(R), 3))  # nothing else (no roll) is left
    azimuth = torch.atan2(Ry[:, 0, 2], Ry[:, 0, 0])
    return azimuth, elevation


def test_random_view_rotation_default_ranges():
    up = torch.tensor([0.0, 1.0, 0.0])
    R = G.random_view_rotation(4000, up, generator=_gen(3), dtype=torch.float64)
    assert R.shape == (4000, 3, 3) and R.dtype == torch.float64
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(4000, dtype=torch.float64))
    az, el = _azimuth_elevation(R)
    assert az.abs().max() <= math.pi + 1e-9 and el.abs().max() <= math.pi / 9 + 1e-9
    # the whole range is used, in both directions
    assert az.min() < -0.95 * math.pi and az.max() > 0.95 * math.pi
    assert el.min() < -0.95 * math.pi / 9 and el.max() > 0.95 * math.pi / 9


def test_random_view_rotation_custom_ranges_and_determinism():
    up = torch.tensor([0.0, 1.0, 0.0])
    R = G.random_view_rotation(2000, up, azimuth=0.5, elevation=0.1, generator=_gen(4), dtype=torch.float64)
    az, el = _azimuth_elevation(R)
    assert az.abs().max() <= 0.5 + 1e-9 and az.abs().max() > 0.45
    assert el.abs().max() <= 0.1 + 1e-9 and el.abs().max() > 0.09
    R2 = G.random_view_rotation(2000, up, azimuth=0.5, elevation=0.1, generator=_gen(4), dtype=torch.float64)
    torch.testing.assert_close(R, R2, rtol=0, atol=1e-12)  # same generator seed, same rotations


def test_random_view_rotation_roll_turns_about_the_optical_axis():
    up = torch.tensor([0.0, 1.0, 0.0])
    R = G.random_view_rotation(500, up, azimuth=0.0, elevation=0.0, roll=0.3, generator=_gen(5), dtype=torch.float64)
    ez = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(R @ ez, ez.expand(500, 3))
    roll = torch.atan2(R[:, 1, 0], R[:, 0, 0])
    assert roll.abs().max() <= 0.3 + 1e-9 and roll.abs().max() > 0.25


def test_rotate_about_root_keeps_the_pivot_and_the_bone_lengths():
    X = _pose3d(4)
    R = _random_rotation(4, seed=1)
    pivot = X[:, :1]
    Y = G.rotate_about_root(X, R, pivot)
    torch.testing.assert_close(Y[:, :1], pivot)
    torch.testing.assert_close(torch.cdist(Y, Y), torch.cdist(X, X))
    torch.testing.assert_close(Y[:, 5] - pivot[:, 0], ((X[:, 5] - pivot[:, 0])[:, None, :] @ R.transpose(-1, -2))[:, 0])


# ----------------------------------------------------------------------------- alignment
def test_procrustes_recovers_a_known_similarity():
    pred = _pose3d(8)
    R = _random_rotation(8, seed=2)
    s = torch.linspace(0.3, 3.0, 8, dtype=torch.float64)
    t = torch.randn(8, 1, 3, generator=_gen(6), dtype=torch.float64) * 5
    target = s[:, None, None] * (pred @ R.transpose(-1, -2)) + t
    torch.testing.assert_close(G.procrustes_align(pred, target), target)


def test_procrustes_without_scale_recovers_a_rigid_motion_but_not_a_scaling():
    pred = _pose3d(3)
    R = _random_rotation(3, seed=3)
    rigid = pred @ R.transpose(-1, -2) + 1.5
    torch.testing.assert_close(G.procrustes_align(pred, rigid, scale=False), rigid)
    scaled = 2.0 * rigid
    err = (G.procrustes_align(pred, scaled, scale=False) - scaled).norm(dim=-1).mean()
    assert err > 0.1


def test_procrustes_never_reflects():
    pred = _pose3d(5)
    mirrored = pred * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    aligned = G.procrustes_align(pred, mirrored)
    assert (aligned - mirrored).norm(dim=-1).mean(dim=-1).min() > 0.05
    # what it returns is still a proper similarity of pred: distances scale, chirality kept
    ratio = torch.cdist(aligned, aligned)[:, 0, 1:] / torch.cdist(pred, pred)[:, 0, 1:]
    torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio))
    assert torch.all(torch.sign(_handedness(aligned)) == torch.sign(_handedness(pred)))


def _handedness(P: torch.Tensor) -> torch.Tensor:
    """Sign-carrying volume spanned by joints 1..3 seen from joint 0; a mirror flips it."""
    return torch.linalg.det(P[:, 1:4] - P[:, :1])


def test_scale_align_by_hand():
    target = _pose3d(2)
    torch.testing.assert_close(G.scale_align(0.25 * target, target), target)


# ----------------------------------------------------------------------------- height
def test_chain_height_by_hand():
    X = torch.zeros(17, 3, dtype=torch.float64)
    ys = {"head_top": -0.8, "neck": -0.6, "thorax": -0.5, "spine": -0.25, "pelvis": 0.0,
          "left_hip": 0.0, "right_hip": 0.0, "left_knee": 0.45, "right_knee": 0.45,
          "left_ankle": 0.9, "right_ankle": 0.9}
    for name, y in ys.items():
        X[H36M.index(name), 1] = y
    X[H36M.index("left_hip"), 0] = 0.1
    X[H36M.index("right_hip"), 0] = -0.1
    X[H36M.index("left_knee"), 0] = 0.1
    X[H36M.index("right_knee"), 0] = -0.1
    X[H36M.index("left_ankle"), 0] = 0.1
    X[H36M.index("right_ankle"), 0] = -0.1
    # head -> pelvis 0.8, pelvis -> hip 0.1, hip -> knee 0.45, knee -> ankle 0.45
    assert G.chain_height(X, H36M).item() == pytest.approx(0.8 + 0.1 + 0.45 + 0.45)
    assert G.chain_height(3 * X[None], H36M).shape == (1,)
    assert G.chain_height(3 * X, H36M).item() == pytest.approx(3 * 1.8)


def test_chain_height_goes_through_the_mid_hip_root_for_lsp14():
    X = torch.zeros(14, 3, dtype=torch.float64)
    X[LSP.index("head_top"), 1] = -0.7
    X[LSP.index("neck"), 1] = -0.5
    X[LSP.index("left_hip"), 0], X[LSP.index("right_hip"), 0] = 0.1, -0.1
    for side, x in (("left", 0.1), ("right", -0.1)):
        X[LSP.index(f"{side}_knee")] = torch.tensor([x, 0.4, 0.0], dtype=torch.float64)
        X[LSP.index(f"{side}_ankle")] = torch.tensor([x, 0.8, 0.0], dtype=torch.float64)
    # head -> neck 0.2, neck -> mid-hip 0.5, mid-hip -> hip 0.1, hip -> knee 0.4, knee -> ankle 0.4
    assert G.chain_height(X, LSP).item() == pytest.approx(1.6)


def test_chain_height_needs_chains():
    with pytest.raises(ValueError, match="defines no height chains"):
        G.chain_height(torch.zeros(17, 3), get_skeleton("coco17"))
