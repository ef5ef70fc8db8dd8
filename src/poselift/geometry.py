"""Geometry shared by training and inference (one implementation, in torch).

Conventions (Chen et al. 2019, section 3): a 2D pose ``x`` of shape ``(*batch, N, 2)`` is
made root-relative and scaled so its size (see :func:`pose_size`) is ``1 / c``; the
camera has unit focal length; the lifter predicts a depth offset ``d_i`` per joint and
the skeleton is held at depth ``c``. Axes are OpenCV's: x right, y down, z forward.

The lifting is *scale-equivariant*: for a root-relative 2D pose of any size ``s``,
``sigma = c * s`` and the network sees ``x / sigma``; depths are ``z_i = max(1, c + sigma d_i)``
and ``X_i = (x_i z_i, y_i z_i, z_i)``. So ``project(X) == x`` exactly, and a pose twice as
large in 2D gives a 3D pose twice as large, at the same root depth ``c``.
"""

from __future__ import annotations

import math
from typing import Literal

from .errors import InvalidArgumentError, SkeletonError, require
from .skeleton import Skeleton

torch = require("torch", "torch")

__all__ = [
    "ScaleMode",
    "root_point",
    "pose_size",
    "normalize_2d",
    "normalize_visible",
    "unproject",
    "project",
    "axis_angle_matrix",
    "random_view_rotation",
    "rotate_about_root",
    "mirror",
    "forward_kinematics",
    "procrustes_align",
    "scale_align",
    "chain_height",
]

ScaleMode = Literal["rms"]

_EPS = 1e-8


def root_point(x: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """Root of each pose, ``(*batch, 1, D)``: the root joint, or the mean of the root joints."""
    idx = list(skeleton.root)
    if len(idx) == 1:
        return x[..., idx[0] : idx[0] + 1, :]
    return x[..., idx, :].mean(dim=-2, keepdim=True)


def pose_size(x_rel: torch.Tensor, skeleton: Skeleton, mode: ScaleMode = "rms") -> torch.Tensor:
    """Size of root-relative poses, ``(*batch,)``.

    ``"rms"``: root-mean-square distance of all joints from the root, the one size measure
    (Chen et al.'s head-to-root distance, ``"head"``, was removed: no model or recipe used it).
    """
    if mode == "rms":
        return x_rel.square().sum(dim=-1).mean(dim=-1).sqrt()
    raise InvalidArgumentError(f"unknown scale mode {mode!r}; the one size measure is 'rms' ('head' was removed)")


def normalize_2d(
    x: torch.Tensor, skeleton: Skeleton, c: float = 10.0, mode: ScaleMode = "rms"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-pose normalisation: root-centre and scale to size ``1/c``.

    Returns ``(x_n, root, sigma)`` with ``x = x_n * sigma[..., None, None] + root``.
    ``sigma`` is zero for degenerate poses (all joints at the root); callers check it.
    """
    root = root_point(x, skeleton)
    x_rel = x - root
    sigma = c * pose_size(x_rel, skeleton, mode)
    x_n = x_rel / sigma.clamp_min(_EPS)[..., None, None]
    return x_n, root, sigma


def normalize_visible(x: torch.Tensor, visible: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Normalisation of poses with missing joints (the completion network's input): centred on
    the mean of their ``visible`` joints ``(*batch, N)`` and scaled to RMS spread 1 over them,
    missing joints 0 (their coordinates, NaN included, are ignored).

    Returns ``(x_n, centre, spread)`` with ``x = x_n * spread + centre`` at the visible joints.
    :func:`normalize_2d` cannot serve here: the root it centres on may be missing.
    """
    v = visible.to(x.dtype)[..., None]
    count = v.sum(dim=-2, keepdim=True).clamp_min(1.0)
    x = torch.where(v > 0, x, torch.zeros_like(x))
    centre = (x * v).sum(dim=-2, keepdim=True) / count
    spread = (((x - centre) * v).square().sum(dim=(-1, -2), keepdim=True) / count).sqrt().clamp_min(_EPS)
    return (x - centre) / spread * v, centre, spread


def unproject(
    x_rel: torch.Tensor, d: torch.Tensor, c: float = 10.0, sigma: torch.Tensor | float = 1.0
) -> torch.Tensor:
    """Depth offsets to 3D: ``z = max(1, c + sigma d)``, ``X = (x z, y z, z)``.

    ``x_rel``: root-relative 2D ``(*batch, N, 2)`` at scale ``sigma`` (1 for normalised poses).
    ``d``: depth offsets ``(*batch, N)`` predicted from the normalised pose.
    """
    sigma = torch.as_tensor(sigma, dtype=x_rel.dtype, device=x_rel.device)
    if sigma.ndim:
        sigma = sigma[..., None]
    z = (c + sigma * d).clamp_min(1.0)
    return torch.cat([x_rel * z[..., None], z[..., None]], dim=-1)


def project(X: torch.Tensor, min_depth: float = 1e-3) -> torch.Tensor:
    """Perspective projection with unit focal length, depths clamped to ``min_depth``."""
    return X[..., :2] / X[..., 2:].clamp_min(min_depth)


def axis_angle_matrix(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``(*batch, 3, 3)`` from unit axes ``(*batch, 3)`` and angles ``(*batch,)``."""
    axis = axis / axis.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    K = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*axis.shape[:-1], 3, 3)
    s = torch.sin(angle)[..., None, None]
    c = torch.cos(angle)[..., None, None]
    eye = torch.eye(3, dtype=axis.dtype, device=axis.device).expand_as(K)
    return eye + s * K + (1 - c) * (K @ K)


def random_view_rotation(
    batch: int,
    up: torch.Tensor,
    *,
    azimuth: float = math.pi,
    elevation: float = math.pi / 9,
    roll: float = 0.0,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Random virtual-camera rotations ``(batch, 3, 3)`` in camera coordinates.

    Azimuth ~ U[-azimuth, azimuth] about the ``up`` axis (the world vertical expressed in
    camera coordinates, ``(3,)`` or ``(batch, 3)``), then elevation ~ U[-elevation, elevation]
    about the camera x axis, then roll ~ U[-roll, roll] about the optical axis.
    """
    def uniform(limit: float) -> torch.Tensor:
        gen_device = generator.device if generator is not None else device
        u = torch.rand(batch, generator=generator, dtype=dtype, device=gen_device)
        return ((2 * u - 1) * limit).to(device)

    up = up.to(dtype=dtype, device=device).expand(batch, 3)
    ex = torch.tensor([1.0, 0.0, 0.0], dtype=dtype, device=device).expand(batch, 3)
    ez = torch.tensor([0.0, 0.0, 1.0], dtype=dtype, device=device).expand(batch, 3)
    R = axis_angle_matrix(up, uniform(azimuth))
    R = axis_angle_matrix(ex, uniform(elevation)) @ R
    if roll > 0:
        R = axis_angle_matrix(ez, uniform(roll)) @ R
    return R


def rotate_about_root(X: torch.Tensor, R: torch.Tensor, pivot: torch.Tensor) -> torch.Tensor:
    """``R (X - pivot) + pivot`` for poses ``(B, N, 3)``, rotations ``(B, 3, 3)``, pivots ``(B, 1, 3)``."""
    return (X - pivot) @ R.transpose(-1, -2) + pivot


def mirror(x: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """Mirror image of poses ``(*batch, N, D)`` (2D or 3D): x negated, left and right joints swapped.

    For root-centred poses this is the pose seen in a mirror held along the image's vertical axis.
    """
    sign = torch.tensor([-1.0] + [1.0] * (x.shape[-1] - 1), dtype=x.dtype, device=x.device)
    return x[..., list(skeleton.flip_permutation), :] * sign


def forward_kinematics(directions: torch.Tensor, lengths: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """Joints ``(B, N, 3)`` from bone directions ``(B, N, 3)`` (any length; normalised here) and
    bone lengths ``(N,)`` or ``(B, N)`` indexed by child joint, built outward from the root joint
    at the origin. The root joint's entries are ignored.
    """
    if not skeleton.root_is_joint:
        raise SkeletonError(f"forward kinematics needs a root joint; layout {skeleton.name!r} has none")
    unit = directions / directions.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    bones = unit * lengths[..., None]
    root = skeleton.root[0]
    joints: list[torch.Tensor | None] = [None] * skeleton.num_joints
    joints[root] = torch.zeros_like(bones[:, root])
    pending = [j for j in range(skeleton.num_joints) if j != root]
    while pending:  # parents before children, whatever the joint order
        for j in list(pending):
            p = skeleton.parents[j]
            p = root if p < 0 else p
            if joints[p] is not None:
                joints[j] = joints[p] + bones[:, j]
                pending.remove(j)
    return torch.stack(joints, dim=1)


def procrustes_align(pred: torch.Tensor, target: torch.Tensor, scale: bool = True) -> torch.Tensor:
    """Similarity (rotation, translation, optional scale) of ``pred`` onto ``target``.

    Both ``(*batch, N, 3)``; returns the aligned ``pred``. Reflections are excluded.
    """
    mu_p = pred.mean(dim=-2, keepdim=True)
    mu_t = target.mean(dim=-2, keepdim=True)
    p = pred - mu_p
    t = target - mu_t
    H = p.transpose(-1, -2) @ t  # (*, 3, 3)
    U, S, Vh = torch.linalg.svd(H)
    det = torch.linalg.det(Vh.transpose(-1, -2) @ U.transpose(-1, -2))
    sign = torch.ones_like(S)
    sign[..., -1] = torch.where(det < 0, -1.0, 1.0).to(S.dtype)
    R = Vh.transpose(-1, -2) @ (sign[..., :, None] * U.transpose(-1, -2))  # maps p -> t
    if scale:
        s = (S * sign).sum(dim=-1) / p.square().sum(dim=(-1, -2)).clamp_min(_EPS)
    else:
        s = torch.ones(p.shape[:-2], dtype=p.dtype, device=p.device)
    return s[..., None, None] * (p @ R.transpose(-1, -2)) + mu_t


def scale_align(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Least-squares scale of ``pred`` onto ``target`` (both root-relative), no rotation."""
    s = (pred * target).sum(dim=(-1, -2)) / pred.square().sum(dim=(-1, -2)).clamp_min(_EPS)
    return s[..., None, None] * pred


def chain_height(X: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """Body height ``(*batch,)``: bone lengths summed from the head to each foot, averaged.

    For a standing person this is stature minus the foot and the scalp above the head
    joint (a few centimetres).
    """
    if not skeleton.height_chains:
        raise SkeletonError(f"layout {skeleton.name!r} defines no height chains")
    n = X.shape[-2]
    length = max(len(chain) for chain in skeleton.height_chains)
    # One gather for all chains (a few ONNX nodes instead of one per joint): -1, the root
    # point, is row n of X with the root appended; a short chain repeats its last point,
    # adding bones of length zero.
    index = [
        [n if j < 0 else j for j in chain] + [n if chain[-1] < 0 else chain[-1]] * (length - len(chain))
        for chain in skeleton.height_chains
    ]
    pts = torch.cat([X, root_point(X, skeleton)], dim=-2)[..., index, :]  # (*batch, chains, length, D)
    return (pts[..., 1:, :] - pts[..., :-1, :]).norm(dim=-1).sum(dim=-1).mean(dim=-1)
