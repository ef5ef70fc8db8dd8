"""Each training loss on a hand-made case where its value is known."""

from __future__ import annotations

import math

import pytest
import torch

from poselift import geometry
from poselift.skeleton import get_skeleton
from poselift.training import losses as L

SK = get_skeleton("h36m17")
C = 10.0
ATOL = 1e-5  # float32 arithmetic on poses of size about 1

# A standing person, h36m17 order, camera axes (y down), metres, pelvis at the origin.
STAND = torch.tensor([
    [0.0, 0.0, 0.0], [-0.12, 0.02, 0.0], [-0.13, 0.45, 0.02], [-0.13, 0.88, 0.0],
    [0.12, 0.02, 0.0], [0.13, 0.45, 0.02], [0.13, 0.88, 0.0], [0.0, -0.25, 0.0],
    [0.0, -0.5, 0.0], [0.0, -0.6, -0.05], [0.0, -0.77, 0.0], [0.18, -0.47, 0.0],
    [0.22, -0.2, -0.05], [0.25, 0.05, -0.1], [-0.18, -0.47, 0.0], [-0.22, -0.2, -0.05],
    [-0.25, 0.05, -0.1],
])


def _rot_y(angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _view(P: torch.Tensor) -> torch.Tensor:
    """Normalised 2D of root-relative 3D placed at depth ``C`` on the optical axis."""
    y = geometry.project(P + torch.tensor([0.0, 0.0, C]))
    return geometry.normalize_2d(y, SK, C)[0]


def test_joint_distance_is_the_mean_euclidean_distance():
    a = torch.zeros(2, 3, 2)
    b = torch.zeros(2, 3, 2)
    b[..., 0] = 3.0
    b[..., 1] = 4.0
    assert float(L.joint_distance(a, b)) == pytest.approx(5.0, abs=ATOL)
    b[0, 0] = 0.0  # one joint of six at distance 0
    assert float(L.joint_distance(a, b)) == pytest.approx(5.0 * 5 / 6, abs=ATOL)


def test_gan_losses_are_zero_at_their_targets():
    ones, zeros = torch.ones(4, 1), torch.zeros(4, 1)
    assert float(L.gan_loss(ones, True)) == pytest.approx(0.0, abs=ATOL)
    assert float(L.gan_loss(zeros, False)) == pytest.approx(0.0, abs=ATOL)
    assert float(L.gan_loss(zeros, True)) == pytest.approx(0.5, abs=ATOL)


def test_bone_losses():
    P = STAND[None]
    assert float(L.limb_symmetry(P, SK)) == pytest.approx(0.0, abs=ATOL)
    longer = P.clone()
    longer[0, 3, 1] += 0.1  # right shin 0.1 m longer than the left
    assert float(L.limb_symmetry(longer, SK)) > 1e-4
    lengths = L.bone_lengths(P, SK)
    assert lengths.shape == (1, len(SK.bones))
    assert float(lengths[0, SK.bones.index((2, 3))]) == pytest.approx(math.hypot(0.43, 0.02), abs=ATOL)  # right shin


def test_motion_consistency_compares_differences_not_positions():
    Y_t, Y_k = STAND[None], STAND[None] + 0.1
    # the lifts moved by the same amount, at another offset: no loss
    assert float(L.motion_consistency(Y_t, Y_k, Y_t + 1.0, Y_k + 1.0)) == pytest.approx(0.0, abs=ATOL)
    assert float(L.motion_consistency(Y_t, Y_k, Y_t, Y_t)) == pytest.approx(math.sqrt(0.03), abs=1e-4)


def test_cross_view_losses_vanish_for_the_true_rotation():
    R_ab = _rot_y(0.7)
    P_a = STAND[None]
    P_b = P_a @ R_ab.T
    x_b = _view(P_b)
    assert float(L.cross_view_2d(P_a, R_ab[None], x_b, SK, C)) == pytest.approx(0.0, abs=1e-4)
    assert float(L.cross_view_2d(P_a, _rot_y(-0.7)[None], x_b, SK, C)) > 1e-3
    # the 3D term ignores the scale of the lift
    assert float(L.cross_view_3d(3.0 * P_a, R_ab[None], P_b)) == pytest.approx(0.0, abs=1e-4)
    assert float(L.cross_view_3d(P_a, torch.eye(3)[None], P_b)) > 1e-2


def test_mirrored_views_pair_with_the_mirrored_rotation():
    """Mirroring both views' 2D is the mirrored world: the relative rotation becomes M R M."""
    R_ab = _rot_y(1.1) @ torch.tensor([[1.0, 0, 0], [0, math.cos(0.2), -math.sin(0.2)], [0, math.sin(0.2), math.cos(0.2)]])
    P_a = STAND[None]
    x_b = _view(P_a @ R_ab.T)
    M = torch.diag(torch.tensor([-1.0, 1.0, 1.0]))
    mirrored_a = geometry.mirror(P_a, SK)
    assert torch.allclose(_view(mirrored_a), geometry.mirror(_view(P_a), SK), atol=ATOL)
    loss = L.cross_view_2d(mirrored_a, (M @ R_ab @ M)[None], geometry.mirror(x_b, SK), SK, C)
    assert float(loss) == pytest.approx(0.0, abs=1e-4)


def test_reference_scale_is_smaller_for_a_crouching_pose():
    P = STAND[None]
    standing = float(L.reference_scale(P, SK, C))
    assert 0.5 < standing < 2.0
    assert float(L.reference_scale(2.0 * P, SK, C)) == pytest.approx(standing, rel=1e-4)  # any unit
    crouch = P.clone()
    crouch[0, [2, 5], 2] -= 0.4  # knees forward
    crouch[0, [2, 5], 1] -= 0.2
    crouch[0, 7:, 1] += 0.3  # upper body lowered
    assert float(L.reference_scale(crouch, SK, C)) < standing


def test_gaussian_kl_is_zero_for_the_prior_and_grows_away_from_it():
    g = torch.Generator().manual_seed(0)
    sample = 0.3 + 0.2 * torch.randn(20000, generator=g)
    assert float(L.gaussian_kl(sample, 0.3, 0.2)) == pytest.approx(0.0, abs=2e-3)
    assert float(L.gaussian_kl(sample, 0.0, 0.2)) == pytest.approx(0.5 * (0.3 / 0.2) ** 2, rel=0.02)


def test_scale_bone_consistency_uses_the_scales():
    P = STAND[None]
    one = torch.ones(1)
    assert float(L.scale_bone_consistency(P, 2 * P, 2 * one, one, SK)) == pytest.approx(0.0, abs=ATOL)
    assert float(L.scale_bone_consistency(P, 2 * P, one, one, SK)) > 0.5


def test_supervised_3d_ignores_scale():
    P = STAND[None]
    assert float(L.supervised_3d(5.0 * P, P * 1000.0)) == pytest.approx(0.0, abs=ATOL)
    assert float(L.supervised_3d(P * torch.tensor([1.0, 1.0, -1.0]), P)) > 1e-2  # depths reversed


def test_reprojection_2d_is_zero_on_the_viewing_rays():
    X = STAND[None] + torch.tensor([0.0, 0.0, C])
    x_n = _view(STAND[None])
    assert float(L.reprojection_2d(X, x_n, SK, C)) == pytest.approx(0.0, abs=1e-4)
    off = X.clone()
    off[0, 13, 0] += 0.3  # left wrist moved sideways
    assert float(L.reprojection_2d(off, x_n, SK, C)) > 1e-3


def test_forward_kinematics_builds_bones_of_the_given_lengths():
    lengths = torch.rand(SK.num_joints) + 0.1
    directions = torch.randn(3, SK.num_joints, 3)
    P = geometry.forward_kinematics(directions, lengths, SK)
    assert torch.allclose(P[:, 0], torch.zeros(3, 3))
    got = L.bone_lengths(P, SK)
    want = torch.stack([lengths[c] for _, c in SK.bones]).expand_as(got)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    # directions point from parent to child
    d = P[:, 3] - P[:, 2]
    torch.testing.assert_close(d / d.norm(dim=-1, keepdim=True), directions[:, 3] / directions[:, 3].norm(dim=-1, keepdim=True), atol=1e-5, rtol=0)


def test_losses_of_the_networks_beside_the_lifter():
    x = torch.zeros(2, 4, 2)
    pred = x.clone()
    pred[:, 1] = torch.tensor([3.0, 4.0])
    pred[:, 2] = 100.0  # a visible joint: not counted
    visible = torch.tensor([[True, False, True, True], [True, False, True, True]])
    assert float(L.filled_joint_error(pred, x, visible)) == pytest.approx(5.0, abs=ATOL)
    delta = torch.zeros(3, 4, 2)
    delta[:, 0] = torch.tensor([0.3, 0.4])  # size 0.5 at c = 10: 5 in units of c * x
    assert float(L.correction_size(delta, 10.0)) == pytest.approx(25.0 / 4, abs=1e-4)
    assert float(L.depth_regression(torch.ones(2, 17), torch.zeros(2, 17) - 1.0)) == pytest.approx(2.0, abs=ATOL)


def test_capped_nll_is_the_mean_below_the_cap_and_logarithmic_above():
    from poselift.training.losses import capped_nll

    nll = torch.tensor([-3.0, 1.0, 2.0])
    assert abs(float(capped_nll(nll, 5.0)) - 0.0) < 1e-6  # all below: the plain mean
    far = torch.tensor([0.0, 1e4])
    assert abs(float(capped_nll(far, 2.0)) - (0.0 + 2.0 + math.log1p(1e4 - 2.0)) / 2) < 1e-4
    x = torch.tensor([100.0], requires_grad=True)
    capped_nll(x, 2.0).backward()
    assert abs(float(x.grad) - 1 / (1 + 98.0)) < 1e-6  # the gradient shrinks above the cap
