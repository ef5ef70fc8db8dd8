"""The normalising-flow prior on 2D poses (poselift.training.flow), on hand-made cases.

Tolerances: float64 checks to 1e-9 (inverse) and 1e-8 (log-determinant); float32 density
checks to 1e-4 relative.
"""

from __future__ import annotations

import math

import pytest
import torch

pytest.importorskip("pydantic")

from poselift import geometry  # noqa: E402
from poselift.skeleton import get_skeleton  # noqa: E402
from poselift.training.flow import AffineCoupling, FlowPrior, PoseFlow, fit_flow, whitened_dims  # noqa: E402

from conftest import random_poses  # noqa: E402
from test_training import synthetic_poses, tiny_config  # noqa: E402

SK = get_skeleton("h36m17")


def _randomise(module: torch.nn.Module, seed: int = 0, scale: float = 0.5) -> torch.nn.Module:
    """Non-trivial couplings (the output layers start at zero, i.e. the identity): every
    parameter of ``module`` (a flow's are its couplings') drawn anew."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return module


def _tiny_flow(features: int = 4, layers: int = 3) -> PoseFlow:
    flow = PoseFlow(features, layers=layers, width=8, seed=1).double()
    gen = torch.Generator().manual_seed(2)
    flow.set_whitening(torch.randn(500, features, generator=gen, dtype=torch.float64) * torch.arange(1, features + 1).double())
    return _randomise(flow.double(), seed=3)


def test_coupling_is_exactly_invertible_and_leaves_its_condition_alone():
    layer = AffineCoupling(torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0]), width=16).double()
    _randomise(layer)
    z = torch.randn(64, 5, dtype=torch.float64)
    y, _ = layer(z)
    torch.testing.assert_close(y[:, [0, 2]], z[:, [0, 2]], rtol=0, atol=0)
    assert not torch.allclose(y[:, [1, 3, 4]], z[:, [1, 3, 4]])  # the free half did move
    torch.testing.assert_close(layer.inverse(y), z, rtol=0, atol=1e-12)


def test_flow_round_trip_is_exact():
    flow = _tiny_flow(features=6, layers=4)
    v = torch.randn(128, 6, dtype=torch.float64) * 3.0 + 1.0
    z, _ = flow.to_latent(v)
    torch.testing.assert_close(flow.from_latent(z), v, rtol=0, atol=1e-9)


def test_log_determinant_matches_a_numerical_jacobian():
    """log|det dz/dv| of the whole flow (whitening + couplings), against finite differences."""
    flow = _tiny_flow(features=4, layers=3)
    v = torch.randn(5, 4, dtype=torch.float64)
    with torch.no_grad():
        _, logdet = flow.to_latent(v)
    for i in range(len(v)):
        J = torch.autograd.functional.jacobian(lambda u: flow.to_latent(u[None])[0][0], v[i])
        assert abs(float(torch.linalg.slogdet(J.detach())[1]) - float(logdet[i])) < 1e-8
    # and by finite differences (central, step 1e-5: truncation error about 1e-10)
    eps = 1e-5
    J = torch.stack([
        (flow.to_latent((v[0] + eps * e)[None])[0][0] - flow.to_latent((v[0] - eps * e)[None])[0][0]) / (2 * eps)
        for e in torch.eye(4, dtype=torch.float64)
    ], dim=1).detach()
    assert abs(float(torch.linalg.slogdet(J)[1]) - float(logdet[0])) < 1e-7


def test_untrained_flow_is_the_gaussian_of_its_whitening():
    """With identity couplings the density is N(sample mean, sample covariance)."""
    gen = torch.Generator().manual_seed(0)
    A = torch.tensor([[2.0, 0.0, 0.0], [0.5, 1.0, 0.0], [-0.3, 0.2, 0.3]])
    v = torch.randn(4000, 3, generator=gen) @ A.T + torch.tensor([1.0, -2.0, 0.5])
    flow = PoseFlow(3, layers=2, width=8)
    flow.set_whitening(v)
    mean = v.double().mean(0)
    cov = torch.cov(v.double().T)
    ref = torch.distributions.MultivariateNormal(mean, cov).log_prob(v[:50].double())
    torch.testing.assert_close(flow.log_prob(v[:50]).double(), ref, rtol=1e-4, atol=1e-4)


def test_fitting_reaches_the_entropy_of_a_known_gaussian():
    """Fitted to N(0, diag(4, 1, 0.25)), the mean NLL approaches the true entropy."""
    gen = torch.Generator().manual_seed(0)
    std = torch.tensor([2.0, 1.0, 0.5])
    v = torch.randn(20000, 3, generator=gen) * std
    flow = PoseFlow(3, layers=4, width=16)
    fit_flow(flow, v, steps=200, batch_size=512, lr=1e-3, generator=gen)
    entropy = 0.5 * 3 * (1 + math.log(2 * math.pi)) + float(std.log().sum())
    test = torch.randn(20000, 3, generator=gen) * std
    with torch.no_grad():
        assert abs(-float(flow.log_prob(test).mean()) - entropy) < 0.02


def test_degenerate_dimensions_are_dropped():
    """Root-centred poses have two exactly-zero coordinates (the root joint): 32 of 34 are kept."""
    x = geometry.normalize_2d(torch.from_numpy(random_poses(2000)), SK, 10.0, "rms")[0]
    assert whitened_dims((10.0 * x).flatten(1)) == 32
    flow = PoseFlow(34, layers=2, width=8, dims=33)
    with pytest.raises(ValueError, match="32 non-degenerate dimensions"):
        flow.set_whitening((10.0 * x).flatten(1))


def test_a_prior_given_its_dimensions_is_the_prior_that_counts_them():
    """FlowPrior.fitted(dims=...) skips the count, not the fit: the same prior, bit for bit; a wrong count is refused."""
    x = geometry.normalize_2d(torch.from_numpy(random_poses(500)), SK, 10.0, "rms")[0]
    settings = dict(layers=2, width=8, steps=5, batch_size=64, seed=3)
    torch.manual_seed(0)  # the couplings' first layers start from the global generator
    counted = FlowPrior.fitted(x, 10.0, **settings)
    torch.manual_seed(0)
    given = FlowPrior.fitted(x, 10.0, dims=whitened_dims((10.0 * x).flatten(1)), **settings)
    assert given.flow.dims == counted.flow.dims == 32
    for k, v in counted.state_dict().items():
        torch.testing.assert_close(given.state_dict()[k], v, rtol=0, atol=0)
    with pytest.raises(ValueError, match="32 non-degenerate dimensions"):
        FlowPrior.fitted(x, 10.0, dims=33, **settings)


@pytest.fixture(scope="module")
def pose_prior() -> tuple[FlowPrior, torch.Tensor]:
    """A prior fitted to the synthetic walkers' normalised 2D; held-out walkers to score."""
    torch.manual_seed(0)
    train = synthetic_poses(sequences=24, frames=40, seed=0).kp2d
    held_out = synthetic_poses(sequences=4, frames=40, seed=7).kp2d
    norm = lambda kp: geometry.normalize_2d(torch.from_numpy(kp), SK, 10.0, "rms")[0]  # noqa: E731
    prior = FlowPrior.fitted(norm(train), 10.0, layers=4, width=64, steps=300, batch_size=256, noise=0.02)
    return prior, norm(held_out)


def test_training_like_poses_are_far_likelier_than_shuffled_joints(pose_prior):
    prior, x = pose_prior
    gen = torch.Generator().manual_seed(0)
    shuffled = x[:, torch.randperm(17, generator=gen)]
    shuffled = geometry.normalize_2d(shuffled, SK, 10.0, "rms")[0]  # same normalisation as the real ones
    lp_real, lp_shuffled = prior.log_prob(x), prior.log_prob(shuffled)
    assert float(lp_real.median()) > float(lp_shuffled.median()) + 50.0
    assert float((lp_real > lp_shuffled).float().mean()) > 0.99


def test_prior_loss_is_capped_and_trains_the_input_not_the_flow(pose_prior):
    prior, x = pose_prior
    assert all(not p.requires_grad for p in prior.parameters())
    assert math.isfinite(float(prior.cap))
    # below the cap the loss is the NLL itself
    nll = -prior.log_prob(x)
    inside = x[nll < prior.cap]
    torch.testing.assert_close(prior(inside), (-prior.log_prob(inside)).mean(), rtol=1e-6, atol=1e-6)
    # far above it, only logarithmic: poses with shuffled joints cost less than cap + log(1 + their NLL)
    gen = torch.Generator().manual_seed(1)
    flat = geometry.normalize_2d(x[:, torch.randperm(17, generator=gen)], SK, 10.0, "rms")[0]
    nll_flat = -prior.log_prob(flat)
    assert float(nll_flat.min()) > float(prior.cap) + 20.0
    loss = prior(flat)
    assert float(loss) < float(prior.cap) + math.log1p(float(nll_flat.max() - prior.cap))
    assert float(loss) < float(nll_flat.mean()) - 10.0
    # gradients reach the poses, and descending them makes the poses likelier
    y = flat.clone().requires_grad_(True)
    prior(y).backward()
    assert torch.isfinite(y.grad).all() and float(y.grad.abs().sum()) > 0
    moved = y.detach() - 1e-4 * y.grad / y.grad.norm()
    assert float(prior(moved)) < float(loss)


def test_trainer_uses_the_flow_prior_and_resumes_it_without_refitting(tmp_path, monkeypatch):
    from poselift.training import trainer as trainer_module
    from poselift.training.trainer import Trainer

    data = synthetic_poses()
    cfg = tiny_config(
        loss=dict(adversarial=0.0, flow=0.01), flow_prior=dict(layers=2, width=16, steps=20, batch_size=64),
    )
    first = Trainer(cfg, data, run_dir=tmp_path)
    assert first.D is None and first.F is not None
    first.fit(stop_after=4)
    assert first.flow_fitted
    record = first.train_step()
    assert "flow" in record and math.isfinite(record["flow"])
    fitted = {k: v.clone() for k, v in first.F.state_dict().items()}

    def refit(*a, **k):  # noqa: ARG001
        raise AssertionError("a resumed run must take the flow prior from its checkpoint")

    monkeypatch.setattr(trainer_module.FlowPrior, "fitted", refit)
    resumed = Trainer(cfg, data, run_dir=tmp_path)
    resumed.fit()
    assert resumed.step == cfg.steps
    for k, v in fitted.items():
        torch.testing.assert_close(resumed.F.state_dict()[k], v, rtol=0, atol=0)
    monkeypatch.undo()
    # the lifter gets gradients from the flow term alone
    only_flow = tiny_config(loss=dict(adversarial=0.0, l2d=0.0, l3d=0.0, flow=1.0), flow_prior=dict(layers=2, width=16, steps=5))
    t = Trainer(only_flow, data, run_dir=tmp_path / "b")
    t._fit_flow_prior()
    t.opt_G.step = lambda: None
    t.train_step()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in t.G.parameters())
    assert sum(float(p.grad.abs().sum()) for p in t.G.parameters()) > 0


def test_recipe_flow_weight_and_settings_validate():
    from poselift.training.config import TrainConfig

    cfg = TrainConfig.model_validate({"loss": {"adversarial": 0, "l2d": 0, "l3d": 0, "flow": 0.5}})
    assert cfg.loss.flow == 0.5 and cfg.flow_prior.layers == 8
    with pytest.raises(Exception, match="flow_prior.layers"):
        TrainConfig.model_validate({"flow_prior": {"layers": 0}})
    with pytest.raises(Exception, match="extra"):
        TrainConfig.model_validate({"flow_prior": {"depth": 3}})


def test_no_nan_for_a_batch_of_jittered_poses(pose_prior):
    prior, _ = pose_prior
    x = geometry.normalize_2d(torch.from_numpy(random_poses(256, noise=40.0)), SK, 10.0, "rms")[0]
    assert math.isfinite(prior(x).item())
