"""Chen et al.'s view cycle, shared by the training losses and the self-consistency score.

A lift ``X`` (root at depth ``c``) is turned by a random view ``R`` about the root pivot
``p = (0, 0, c)``: ``Y = R (X - p) + p``; its projection ``y`` is lifted again (``Y~``), and
``Y~`` turned back by ``R^T`` and projected returns to the input view. The random view turns
about the world vertical (estimated as the batch-mean root-to-head direction): azimuth
U[-pi, pi], elevation U[-pi/9, pi/9], no roll (the defaults of
:func:`poselift.geometry.random_view_rotation`).
"""

from __future__ import annotations

import numpy as np
import torch

from .. import geometry
from ..pipeline import LiftPipeline
from ..skeleton import Skeleton
from .losses import depth_offset
from .sampling import normalise

__all__ = ["up_direction", "random_views", "turn_and_lift", "back_projection", "self_consistency"]


def up_direction(X: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """The world vertical in camera coordinates, estimated as the batch-mean root-to-head direction."""
    root = geometry.root_point(X, skeleton)[:, 0]
    v = (X[:, skeleton.head] - root).detach()
    v = v / v.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    return v.mean(dim=0)


def random_views(n: int, X: torch.Tensor, skeleton: Skeleton, generator: torch.Generator) -> torch.Tensor:
    """``n`` random view rotations ``(n, 3, 3)`` about the vertical of the lifts ``X``."""
    return geometry.random_view_rotation(n, up_direction(X, skeleton), generator=generator, device=X.device)


def _pivot(X: torch.Tensor, c: float) -> torch.Tensor:
    return depth_offset(c, X.device, torch.get_default_dtype()).expand(X.shape[0], 1, 3)


def turn_and_lift(pipe: LiftPipeline, X: torch.Tensor, R: torch.Tensor, c: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``X`` turned by ``R`` about the root pivot (``Y``), its projection lifted again
    (``Y~``) and that projection normalised as the lifter saw it."""
    Y = geometry.rotate_about_root(X, R, _pivot(X, c))
    Y2, y_n = pipe.lift_3d(geometry.project(Y, min_depth=1.0))
    return Y, Y2.float(), y_n


def back_projection(Y2: torch.Tensor, R: torch.Tensor, c: float) -> torch.Tensor:
    """``Y~`` turned back by ``R^T`` and projected: the cycle's return to the input view."""
    return geometry.project(geometry.rotate_about_root(Y2, R.transpose(-1, -2), _pivot(Y2, c)), min_depth=1.0)


@torch.no_grad()
def self_consistency(pipe: LiftPipeline, kp2d: np.ndarray, *, device: torch.device, views: int = 4, seed: int = 0) -> float:
    """An unsupervised validation score of 2D-only poses ``(M, N, 2)`` (pixels): the mean
    lift-rotate-project-lift-project 2D error (normalised units x 1000) over ``views``
    fixed random views per pose. A lifter that flattens or distorts depth cannot close
    the loop; fewer is better."""
    c, skeleton = pipe.c, pipe.skeleton
    x, ok = normalise(kp2d[:, None], skeleton, c, pipe.scale_mode)
    x = x[ok[:, 0], 0].to(device)
    gen = torch.Generator().manual_seed(seed)
    was_training = pipe.net.training
    pipe.net.eval()
    errors = []
    try:
        for chunk in x.split(8192):
            X = pipe.lift_3d(chunk)[0].float()
            for _ in range(views):
                R = random_views(len(chunk), X, skeleton, gen)
                Y2 = turn_and_lift(pipe, X, R, c)[1]
                errors.append((back_projection(Y2, R, c) - chunk).norm(dim=-1).mean(dim=-1))
    finally:
        pipe.net.train(was_training)
    return float(torch.cat(errors).mean()) * 1000.0
