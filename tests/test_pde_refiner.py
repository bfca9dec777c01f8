"""PDE-Refiner: K = 0 is its backbone, the noise schedule and objective are the paper's, a
refinement step is exact where it must be, sampling is keyed by seed per instance."""

from __future__ import annotations

import pytest
import torch

from spectral_refiner.config import config_from_dict
from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.models import PDERefiner, build_model

UNET = {"name": "unet", "width": 8, "levels": 2}


def _refiner(steps: int = 3, sigma_min: float = 1e-2, seed: int = 0) -> PDERefiner:
    torch.manual_seed(seed)
    return PDERefiner(t_in=2, backbone=UNET, refinement_steps=steps, sigma_min=sigma_min).double()


def _x(batch: int = 3, t: int = 2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, t, 16, 16, generator=g, dtype=torch.float64)


def test_without_refinement_it_is_exactly_the_backbone():
    """K = 0: the same weights as the plain model built with the same seed, the same outputs
    bit for bit, and the training loss is the plain model's MSE (on normalised frames)."""
    refiner = _refiner(steps=0)
    torch.manual_seed(0)
    plain = build_model("unet", t_in=2, t_out=1, width=8, levels=2).double()
    assert refiner.backbone.state_dict().keys() == plain.state_dict().keys()
    for key, value in plain.state_dict().items():
        assert torch.equal(refiner.backbone.state_dict()[key], value), key
    refiner.set_normalization(0.3, 2.0)
    plain.set_normalization(0.3, 2.0)
    x, target = _x(), _x(t=1, seed=1)
    with torch.no_grad():
        assert torch.equal(refiner(x), plain(x))
        assert torch.equal(refiner.sample(x, seed=5), plain(x))
        loss = refiner.training_loss(x, target, [0, 1, 2])
        expected = ((plain(x) - target) / 2.0).square().mean()
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=0)


def test_noise_schedule_is_the_configured_one():
    model = PDERefiner()  # K = 3, σ_min = 0.1: σ_k = 0.464, 0.215, 0.1
    assert (model.steps, model.sigma_min) == (3, 0.1)
    sigmas = model.sigmas()
    expected = [10 ** (-k / 3) for k in (1, 2, 3)]
    torch.testing.assert_close(
        sigmas, torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=0
    )
    assert sigmas[-1].item() == pytest.approx(0.1, rel=1e-14)
    assert sigmas[0].item() == pytest.approx(0.46416, rel=1e-5)
    assert model.config["backbone"] == {"name": "unet", "width": 32, "levels": 3}


def test_a_refinement_step_adds_sigma_k_noise_and_removes_the_predicted_noise():
    """With a backbone that predicts zero noise, a step with zero noise is the identity on the
    estimate and a step with noise ε adds exactly σ_k ε; with a backbone that predicts the
    added noise exactly, the step returns the exact input."""
    model, z = _refiner(steps=3, sigma_min=1e-3), _x()
    exact = _x(t=1, seed=2)
    eps = _x(t=1, seed=3)
    with torch.no_grad():
        model.backbone.out.weight.zero_()
        model.backbone.out.bias.zero_()
        for k in (1, 2, 3):
            assert torch.equal(model.refine_step(z, exact, k, torch.zeros_like(exact)), exact)
            sigma = 10 ** (-3 * k / 3)
            torch.testing.assert_close(
                model.refine_step(z, exact, k, eps), exact + sigma * eps, rtol=0, atol=1e-14
            )
    oracle = _refiner(steps=3, sigma_min=1e-3)
    oracle.predict = lambda z, noisy, k: (noisy - exact) / oracle.sigmas()[k - 1].item()
    for k in (1, 2, 3):
        torch.testing.assert_close(oracle.refine_step(z, exact, k, eps), exact, rtol=0, atol=1e-14)


def test_sampling_is_reproducible_and_independent_of_the_batch():
    model, x = _refiner(), _x(batch=3)
    model.set_normalization(0.1, 1.5)
    with torch.no_grad():
        a, b = model.sample(x, seed=3), model.sample(x, seed=3)
        other = model.sample(x, seed=4)
        alone = model.sample(x[1:2], seed=3)
        mixed = model.sample(x, seed=[3, 7, 3])
        seven = model.sample(x[1:2], seed=7)
        default = model(x)
        zero = model.sample(x, seed=0)
    assert torch.equal(a, b)
    assert (a - other).abs().max() > 1e-6  # the seed matters
    torch.testing.assert_close(alone, a[1:2], rtol=0, atol=1e-12)
    torch.testing.assert_close(seven, mixed[1:2], rtol=0, atol=1e-12)
    torch.testing.assert_close(mixed[::2], a[::2], rtol=0, atol=1e-12)
    assert torch.equal(default, zero)


def test_training_loss_is_the_papers_objective():
    """An independent evaluation of the objective with the same draws (per sample, from its
    seed: k, then ε): k = 0 the MSE of the prediction from a zero estimate, k >= 1 the MSE of
    the predicted noise from u + σ_k ε; a sample's term does not depend on the batch."""
    model, x, target = _refiner(steps=2, sigma_min=0.05), _x(batch=6), _x(batch=6, t=1, seed=4)
    model.set_normalization(-0.2, 0.5)
    seeds = [0, 1, 2, 3, 4, 5]
    loss = model.training_loss(x, target, seeds)
    again = model.training_loss(x, target, seeds)
    assert torch.equal(loss, again)
    z, u = (x + 0.2) / 0.5, (target + 0.2) / 0.5
    terms, ks = [], []
    for i, seed in enumerate(seeds):
        g = torch.Generator().manual_seed(seed)
        ki = int(torch.randint(0, 3, (1,), generator=g))
        eps = torch.randn(u.shape[1:], generator=g, dtype=torch.float64)[None]
        ks.append(ki)
        if ki == 0:
            pred = model.predict(z[i : i + 1], torch.zeros_like(u[i : i + 1]), 0)
            terms.append((pred - u[i : i + 1]).square().mean())
        else:
            sigma = 0.05 ** (ki / 2)
            pred = model.predict(z[i : i + 1], u[i : i + 1] + sigma * eps, ki)
            terms.append((pred - eps).square().mean())
        alone = model.training_loss(x[i : i + 1], target[i : i + 1], [seed])
        torch.testing.assert_close(alone, terms[-1], rtol=1e-12, atol=0)
    assert set(ks) == {0, 1, 2}  # every branch is exercised
    torch.testing.assert_close(loss, torch.stack(terms).mean(), rtol=1e-12, atol=0)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(refinement_steps=-1), "refinement_steps must be >= 0, got -1"),
        (dict(sigma_min=0.0), r"sigma_min must be in \(0, 1\), got 0.0"),
        (dict(sigma_min=1.0), r"sigma_min must be in \(0, 1\), got 1.0"),
        (dict(backbone={"name": "sfno"}), "model sfno takes no step conditioning: choose a"),
        (
            dict(backbone={"name": "unet", "t_in": 3}),
            "sets the backbone's t_in, t_out, condition_on, condition_max",
        ),
        (dict(backbone={"name": "vit"}), "backbone name 'vit' is unknown"),
        (dict(t_out=4), "predicts one frame per step, got t_out=4: set data.t_out=1"),
    ],
)
def test_bad_configuration_is_one_line(kwargs, message):
    with pytest.raises(SpectralRefinerError, match=message) as err:
        build_model("pde_refiner", **kwargs)
    assert "\n" not in str(err.value)


def test_a_training_config_names_it_with_its_backbone():
    """The registry makes the wrapper nameable in a config, its backbone a nested mapping."""
    raw = {"name": "pde_refiner", "backbone": dict(UNET), "refinement_steps": 2}
    config = config_from_dict({"model": raw, "data": {"t_in": 2, "t_out": 1}})
    model = build_model("pde_refiner", **config.model_kwargs())
    expected = {"t_in": 2, "t_out": 1, "backbone": UNET, "refinement_steps": 2, "sigma_min": 0.1}
    assert model.config == expected
    with pytest.raises(
        SpectralRefinerError, match=r"model\.backbone: 'unet' is not a valid mapping"
    ):
        config_from_dict({"model": {"name": "pde_refiner", "backbone": "unet"}})


def test_an_ensemble_rollout_is_the_mean_of_the_seeded_samples():
    """``ensemble = 1`` is the single-sample call bit for bit; ``ensemble = S`` is the mean of
    the samples with seeds 0..S-1, reproducible, and the mean of S identical samples is one."""
    model, x = _refiner(sigma_min=0.3), _x(batch=3)
    model.set_normalization(0.1, 1.5)
    with torch.no_grad():
        single = model(x)
        model.ensemble = 1
        assert torch.equal(model(x), single)
        model.ensemble = 3
        mean, again = model(x), model(x)
        samples = torch.stack([model.sample(x, seed=s) for s in range(3)])
        alone = model(x[1:2])
        original = model.refine
        model.refine = lambda z, seeds: original(z, [0] * len(seeds))  # identical samples
        identical = model(x)
    assert torch.equal(mean, again)
    torch.testing.assert_close(mean, samples.mean(0), rtol=0, atol=1e-12)
    assert (mean - single).abs().max() > 1e-6  # the other seeds count
    torch.testing.assert_close(alone, mean[1:2], rtol=0, atol=1e-12)
    torch.testing.assert_close(identical, single, rtol=0, atol=1e-12)


def test_an_ensemble_of_zero_is_refused_in_one_line():
    model = _refiner()
    model.ensemble = 0
    with pytest.raises(SpectralRefinerError, match="ensemble must be >= 1"):
        model(_x())
