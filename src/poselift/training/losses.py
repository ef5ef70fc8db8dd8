"""Training losses, one function per loss, on batched torch tensors.

Poses are ``(B, N, 3)`` (3D) or ``(B, N, 2)`` (2D) in the network's normalised units
(:mod:`poselift.geometry`); distances are mean per-joint Euclidean, GAN losses LSGAN.
The lifter's losses come first, then those of the networks that ship beside it: the
missing-joint completion (:func:`filled_joint_error`), the 2D domain correction
(:func:`gan_loss` and :func:`correction_size`) and distillation (:func:`depth_regression`).
None of these functions reads a 3D label except :func:`supervised_3d`, which only
semi-supervised recipes use.
"""

from __future__ import annotations

import functools
import math

import torch

from .. import geometry
from ..skeleton import Skeleton

__all__ = [
    "capped_nll",
    "joint_distance",
    "gan_loss",
    "bone_lengths",
    "limb_symmetry",
    "motion_consistency",
    "cross_view_2d",
    "depth_offset",
    "reprojection_2d",
    "cross_view_3d",
    "reference_scale",
    "gaussian_kl",
    "scale_bone_consistency",
    "supervised_3d",
    "filled_joint_error",
    "correction_size",
    "depth_regression",
]


def joint_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean per-joint Euclidean distance of ``(..., N, D)`` tensors."""
    return ((a - b).square().sum(dim=-1) + 1e-12).sqrt().mean()


def gan_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """LSGAN loss of a generator or discriminator: logits against the label ``real``."""
    return 0.5 * (logits - (1.0 if real else 0.0)).square().mean()


def bone_lengths(X: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """Length of every bone of ``skeleton`` (``(B, N, 3)`` -> ``(B, bones)``)."""
    parent, child = zip(*skeleton.bones)
    return (X[:, list(child)] - X[:, list(parent)]).norm(dim=-1)


def limb_symmetry(X: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """Squared difference of the lengths of mirror-image bones (left vs right)."""
    parents = skeleton.parents
    pairs = [(l, r) for l, r in skeleton.pairs if parents[l] >= 0 and parents[r] >= 0]
    if not pairs:
        return X.new_zeros(())
    left = torch.stack([(X[:, l] - X[:, parents[l]]).norm(dim=-1) for l, _ in pairs], dim=-1)
    right = torch.stack([(X[:, r] - X[:, parents[r]]).norm(dim=-1) for _, r in pairs], dim=-1)
    return (left - right).square().mean()


def motion_consistency(Y_t: torch.Tensor, Y_k: torch.Tensor, Y2_t: torch.Tensor, Y2_k: torch.Tensor) -> torch.Tensor:
    """Yu et al.'s multi-view motion consistency ``Ltmc``.

    ``Y_t``, ``Y_k``: two frames of one sequence lifted and turned by one shared random
    rotation; ``Y2_t``, ``Y2_k``: the lifts of their projections. The motion between the two
    frames must be the same in both: ``|(Y_t - Y_k) - (Y2_t - Y2_k)|``.
    """
    return joint_distance(Y_t - Y_k, Y2_t - Y2_k)


def _rms(x: torch.Tensor) -> torch.Tensor:
    return x.square().sum(dim=-1).mean(dim=-1).sqrt()


def cross_view_2d(P_a: torch.Tensor, R_ab: torch.Tensor, x_b: torch.Tensor, skeleton: Skeleton, c: float) -> torch.Tensor:
    """Wang et al.'s cross-view re-projection.

    ``P_a`` ``(B, N, 3)``: root-relative lift of view a; ``R_ab = R_b R_a^T`` turns it into
    view b's camera; placed at depth ``c`` on the optical axis and projected, then
    re-normalised (root-centred, RMS size ``1/c``) and compared with view b's normalised 2D
    ``x_b``.
    """
    Y = P_a @ R_ab.transpose(-1, -2)
    Y = Y + depth_offset(c, Y.device, Y.dtype)
    y = geometry.project(Y, min_depth=1.0)
    y_n, _, _ = geometry.normalize_2d(y, skeleton, c, "rms")
    return joint_distance(y_n, x_b)


@functools.lru_cache(maxsize=32)
def depth_offset(c: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The constant ``(0, 0, c)`` (a root-relative pose plus it stands at depth ``c``), made once
    per depth, device and dtype rather than copied to the device every step; never written to."""
    with torch.inference_mode(False):  # an ordinary tensor even if first asked for under inference mode
        return torch.tensor([0.0, 0.0, c], dtype=dtype, device=device)


def reprojection_2d(X: torch.Tensor, x_n: torch.Tensor, skeleton: Skeleton, c: float) -> torch.Tensor:
    """The lift ``X`` (root at depth ``c``) re-projects onto its own normalised input ``x_n``.

    Zero by construction for the depth head; the kinematic head needs it, since forward
    kinematics does not place joints on their viewing rays.
    """
    y_n, _, _ = geometry.normalize_2d(geometry.project(X, min_depth=1.0), skeleton, c, "rms")
    return joint_distance(y_n, x_n)


def cross_view_3d(P_a: torch.Tensor, R_ab: torch.Tensor, P_b: torch.Tensor) -> torch.Tensor:
    """The 3D of view a, turned into view b and scale-aligned, matches view b's lift (held fixed)."""
    target = P_b.detach()
    return joint_distance(geometry.scale_align(P_a @ R_ab.transpose(-1, -2), target), target)


def reference_scale(P: torch.Tensor, skeleton: Skeleton, c: float) -> torch.Tensor:
    """Yu et al.'s reference 2D scale of root-relative 3D poses ``P`` (``(B, N, 3)``, any unit).

    The pose is sized so its bones sum to the same length for everybody, placed at depth
    ``c`` (about ten body sizes away, like the normalised skeleton) and projected; the
    result is ``c`` times the RMS size of that projection, about 1 for a standing person
    and smaller for a crouching one. It is the factor the per-pose 2D normalisation loses.
    """
    total = bone_lengths(P, skeleton).sum(dim=-1).clamp_min(1e-8)
    Q = P / total[:, None, None] * (0.5 * len(skeleton.bones))  # mean bone 0.5: RMS size about 1
    Q = Q + depth_offset(c, P.device, P.dtype)
    y = geometry.project(Q, min_depth=1.0)
    return c * _rms(y - geometry.root_point(y, skeleton))


def gaussian_kl(log_scale: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """KL divergence from a Gaussian fitted to a batch of log-scales to the prior ``N(mean, std^2)``."""
    mu = log_scale.mean()
    var = log_scale.var(unbiased=False).clamp_min(1e-8)
    prior_var = std**2
    return 0.5 * (var / prior_var + (mu - mean) ** 2 / prior_var - 1.0 + math.log(prior_var) - var.log())


def scale_bone_consistency(P_t: torch.Tensor, P_k: torch.Tensor, s_t: torch.Tensor, s_k: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """Yu et al.'s bone-length consistency: ``s_t P_t`` and ``s_k P_k`` (one person, frames t
    and t+l, each scaled by its estimated scale ``s`` ``(B,)``) have equal bone lengths (L1, relative)."""
    la = bone_lengths(P_t, skeleton) * s_t[:, None]
    lb = bone_lengths(P_k, skeleton) * s_k[:, None]
    return ((la - lb).abs() / (0.5 * (la + lb)).detach().clamp_min(1e-6)).mean()


def supervised_3d(P: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Semi-supervised 3D loss in normalised units: ``target`` (root-relative, any unit) is
    scaled to RMS size 1, ``P`` is scale-aligned onto it (so the loss ignores the unknown
    global scale, like N-MPJPE)."""
    t = target / _rms(target).clamp_min(1e-8)[:, None, None]
    return joint_distance(geometry.scale_align(P, t), t)


# ---------------------------------------------------------------------------- the networks beside the lifter
def capped_nll(nll: torch.Tensor, cap: torch.Tensor | float) -> torch.Tensor:
    """Mean negative log-likelihood ``(B,)`` -> scalar that grows only logarithmically above ``cap``.

    ``min(nll, cap) + log(1 + relu(nll - cap))``: the flow prior's loss (:mod:`.flow`), so a few
    wildly unlikely poses cannot rule the batch's gradient.
    """
    cap = torch.as_tensor(cap, dtype=nll.dtype, device=nll.device)
    return (torch.minimum(nll, cap) + torch.log1p(torch.relu(nll - cap))).mean()


def filled_joint_error(pred: torch.Tensor, x: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """Completion: mean distance of the joints hidden from the network (``visible`` ``(B, N)``
    False) to where they were, poses ``(B, N, 2)`` at RMS size 1."""
    return (pred - x).norm(dim=-1)[~visible].mean()


def correction_size(delta: torch.Tensor, c: float) -> torch.Tensor:
    """2D domain correction (Chen et al. eq. 7): the squared size ``|C(x_s)|^2`` of the
    corrections ``delta`` ``(B, N, 2)`` of normalised poses, in units of ``c * x`` (RMS size 1)."""
    return (delta * c).square().sum(-1).mean()


def depth_regression(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Distillation: mean absolute difference of the student's depth offsets to the teacher's."""
    return (pred - target).abs().mean()
