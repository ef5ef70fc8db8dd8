"""A normalising-flow prior on 2D poses: the likelihood of a random projection replaces the discriminator.

The flow is fitted once, before the lifter trains, on the training set's normalised 2D
(no 3D), then frozen. During training the negative log-likelihood of the re-projected
random-view 2D under it is one more loss (``loss.flow``): a fixed, smooth density with
no adversarial dynamics (ElePose, Wandt et al. CVPR 2022, uses such a prior).

The flow (RealNVP, Dinh et al. 2017), on a pose ``x`` ``(N, 2)``, normalised the way the
lifter's input is:

- ``v = c * x`` flattened, then a fixed whitening ``z0 = W (v - mean)`` fitted on the
  training 2D: principal axes with (numerically) zero variance are dropped (root-centring
  makes two of them exactly zero), the rest scaled to unit variance;
- affine coupling layers ``z_b' = z_b * exp(s(z_a)) + t(z_a)`` on alternating halves of a
  fixed random permutation of the dimensions (``s`` bounded by ``tanh``), each exactly
  invertible with log-determinant ``sum(s)``;
- a standard normal base density.

``log p(v) = log N(z; 0, I) + sum of the couplings' log-determinants + log|det W|``.
(With dimensions dropped, this is the density on the whitened subspace.)
"""

from __future__ import annotations

import logging
import math

import torch
from torch import nn

from .losses import capped_nll

__all__ = ["AffineCoupling", "PoseFlow", "FlowPrior", "fit_flow"]

logger = logging.getLogger(__name__)


class AffineCoupling(nn.Module):
    """One RealNVP coupling: the dimensions where ``mask`` is 1 condition an affine map of the others."""

    def __init__(self, mask: torch.Tensor, width: int, scale_limit: float = 2.0):
        super().__init__()
        self.register_buffer("mask", mask.float())
        dim = mask.numel()
        self.scale_limit = float(scale_limit)
        self.net = nn.Sequential(
            nn.Linear(dim, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(), nn.Linear(width, 2 * dim),
        )
        nn.init.zeros_(self.net[-1].weight)  # starts as the identity
        nn.init.zeros_(self.net[-1].bias)

    def _scale_shift(self, z_fixed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.net(z_fixed).chunk(2, dim=-1)
        free = 1.0 - self.mask
        return self.scale_limit * torch.tanh(s / self.scale_limit) * free, t * free

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, D)`` -> (transformed ``(B, D)``, log-determinant ``(B,)``)."""
        s, t = self._scale_shift(z * self.mask)
        return z * self.mask + (1.0 - self.mask) * (z * s.exp() + t), s.sum(dim=-1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        s, t = self._scale_shift(y * self.mask)
        return y * self.mask + (1.0 - self.mask) * ((y - t) * (-s).exp())


class PoseFlow(nn.Module):
    """RealNVP density on flattened 2D poses ``(B, num_features)`` with a fitted whitening in front.

    :meth:`set_whitening` must be called (by :func:`fit_flow`) before the flow is used; the
    whitening is stored in buffers, so a saved ``state_dict`` restores the whole density.
    """

    def __init__(self, num_features: int, *, layers: int = 8, width: int = 256, dims: int | None = None, seed: int = 0):
        super().__init__()
        self.num_features = int(num_features)
        self.dims = int(dims if dims is not None else num_features)  # kept after whitening
        self.register_buffer("mean", torch.zeros(self.num_features))
        self.register_buffer("whiten", torch.eye(self.num_features)[: self.dims].clone())  # (dims, num_features)
        self.register_buffer("whiten_logdet", torch.zeros(()))
        gen = torch.Generator().manual_seed(seed)
        couplings = []
        for i in range(layers):
            if i % 2 == 0:
                perm = torch.randperm(self.dims, generator=gen)
            mask = torch.zeros(self.dims)
            half = perm[: self.dims // 2] if i % 2 == 0 else perm[self.dims // 2 :]
            mask[half] = 1.0
            couplings.append(AffineCoupling(mask, width))
        self.couplings = nn.ModuleList(couplings)

    @torch.no_grad()
    def set_whitening(self, v: torch.Tensor, rel_eps: float = 1e-6) -> int:
        """Fit mean and whitening to samples ``v`` ``(M, num_features)``; returns the kept dimensions.

        Principal axes with variance below ``rel_eps`` times the largest are dropped; the
        flow must have been built with ``dims`` equal to the count kept (see :func:`whitened_dims`).
        """
        mean, basis, var = _principal_axes(v)
        keep = var > rel_eps * var.max()
        if int(keep.sum()) != self.dims:
            raise ValueError(f"the data has {int(keep.sum())} non-degenerate dimensions; the flow was built for {self.dims}")
        var, basis = var[keep], basis[:, keep]
        self.mean.copy_(mean)
        self.whiten.copy_((basis / var.sqrt()).T)
        W = self.whiten.double()  # the volume factor of the stored matrix itself: 0.5 log det(W W^T)
        self.whiten_logdet.copy_(0.5 * torch.linalg.slogdet(W @ W.T)[1])
        return self.dims

    def to_latent(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, num_features)`` -> (latent ``(B, dims)``, total log-determinant ``(B,)``)."""
        z = (v - self.mean) @ self.whiten.T
        logdet = self.whiten_logdet.expand(z.shape[0]).clone()
        for layer in self.couplings:
            z, ld = layer(z)
            logdet = logdet + ld
        return z, logdet

    def from_latent(self, z: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`to_latent` on the whitened subspace: latent ``(B, dims)`` -> ``(B, num_features)``."""
        for layer in reversed(self.couplings):
            z = layer.inverse(z)
        return z @ torch.linalg.pinv(self.whiten).T + self.mean

    def log_prob(self, v: torch.Tensor) -> torch.Tensor:
        """Log-density of each row of ``v`` ``(B, num_features)``: ``(B,)``."""
        z, logdet = self.to_latent(v)
        return -0.5 * z.square().sum(dim=-1) - 0.5 * self.dims * math.log(2 * math.pi) + logdet

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        z = torch.randn(n, self.dims, generator=generator).to(self.mean.device)
        return self.from_latent(z)


def _principal_axes(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    v = v.double()
    mean = v.mean(dim=0)
    cov = (v - mean).T @ (v - mean) / max(len(v) - 1, 1)
    var, basis = torch.linalg.eigh(cov)
    return mean.float(), basis.float(), var.clamp_min(0).float()


def whitened_dims(v: torch.Tensor, rel_eps: float = 1e-6) -> int:
    """How many principal axes of ``v`` ``(M, F)`` :meth:`PoseFlow.set_whitening` keeps."""
    var = _principal_axes(v)[2]
    return int((var > rel_eps * var.max()).sum())


def fit_flow(
    flow: PoseFlow,
    v: torch.Tensor,
    *,
    steps: int,
    batch_size: int = 1024,
    lr: float = 1e-3,
    noise: float = 0.0,
    generator: torch.Generator | None = None,
    log_every: int = 0,
) -> list[float]:
    """Maximum-likelihood fit of ``flow`` to samples ``v`` ``(M, F)`` (whitening, then Adam with a cosine
    schedule). ``noise``: Gaussian noise of this standard deviation added to each batch (in the
    units of ``v``), which keeps the density from collapsing onto the normalisation's constraint
    surface. Returns the mean NLL per step."""
    flow.set_whitening(v)
    opt = torch.optim.Adam(flow.couplings.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
    history = []
    flow.train()
    for step in range(steps):
        rows = torch.randint(len(v), (batch_size,), generator=generator).to(v.device)
        batch = v[rows]
        if noise > 0:
            batch = batch + noise * torch.randn(batch.shape, generator=generator).to(v.device)
        loss = -flow.log_prob(batch).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(flow.couplings.parameters(), 10.0)
        opt.step()
        sched.step()
        history.append(float(loss.detach()))
        if log_every and (step + 1) % log_every == 0:
            logger.info("flow prior: step %d/%d, NLL %.3f", step + 1, steps, history[-1])
    flow.eval()
    return history


class FlowPrior(nn.Module):
    """The training objective: NLL of normalised 2D poses ``(B, N, 2)`` under a frozen :class:`PoseFlow`.

    ``c`` is the normaliser's constant: poses are fed as ``c * x`` (RMS size about 1), the
    scale the discriminators see. The NLL of an implausible pose grows without bound (the
    whitened density is Gaussian-like in its tails; a lifter's early random views reach
    NLLs of 10^4 where training poses sit near -30), so a batch mean would be ruled by its
    worst poses: above ``cap`` (the 99th percentile of the training poses' NLL, set by
    :meth:`fitted`) each pose's loss grows only logarithmically, ``cap + log(1 + nll - cap)``.
    """

    def __init__(self, num_joints: int, c: float, *, layers: int = 8, width: int = 256, dims: int | None = None, seed: int = 0):
        super().__init__()
        self.c = float(c)
        self.flow = PoseFlow(2 * num_joints, layers=layers, width=width, dims=dims, seed=seed)
        self.register_buffer("cap", torch.tensor(math.inf))

    @classmethod
    def fitted(
        cls, x_n: torch.Tensor, c: float, *, layers: int = 8, width: int = 256, steps: int = 2000, batch_size: int = 1024,
        lr: float = 1e-3, noise: float = 0.02, seed: int = 0, dims: int | None = None,
    ) -> "FlowPrior":
        """A prior fitted to normalised 2D poses ``x_n`` ``(M, N, 2)`` and frozen. ``dims``: the
        whitened dimensions of ``x_n`` when the caller knows them (:func:`whitened_dims` of
        ``c * x_n`` flattened; computed here otherwise)."""
        v = (x_n * c).flatten(1)
        dims = whitened_dims(v) if dims is None else dims
        prior = cls(x_n.shape[1], c, layers=layers, width=width, dims=dims, seed=seed).to(x_n.device)
        gen = torch.Generator().manual_seed(seed)
        history = fit_flow(prior.flow, v, steps=steps, batch_size=batch_size, lr=lr, noise=noise, generator=gen,
                           log_every=max(steps // 10, 1))
        with torch.no_grad():
            sample = v[torch.randperm(len(v), generator=gen)[:20000].to(v.device)]
            prior.cap.fill_(float(torch.quantile(-prior.flow.log_prob(sample), 0.99)))
        logger.info("flow prior fitted on %d poses: final NLL %.3f (%d dimensions), cap %.3f", len(v), history[-1],
                    prior.flow.dims, float(prior.cap))
        return prior.freeze()

    def freeze(self) -> "FlowPrior":
        self.eval()
        self.requires_grad_(False)
        return self

    def log_prob(self, x_n: torch.Tensor) -> torch.Tensor:
        """Log-density ``(B,)`` of normalised poses ``(B, N, 2)``."""
        return self.flow.log_prob((x_n * self.c).flatten(1))

    def forward(self, x_n: torch.Tensor) -> torch.Tensor:
        """The loss: mean capped NLL of ``x_n`` ``(B, N, 2)`` (gradients reach ``x_n``, not the flow)."""
        nll = -self.log_prob(x_n.float())
        return capped_nll(nll, self.cap)
