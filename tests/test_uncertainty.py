"""Uncertainty of sampled rollouts: Spearman's rank correlation against an independent
formula, and the spread, error, agreement and decorrelation times of known sample sets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.evaluation import (
    calibrated_times,
    spearman,
    spread_factor,
    uncertainty,
)
from spectral_refiner.physics import vorticity_correlation


def test_spearman_is_the_rank_formula_and_ranks_ties_by_their_mean():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(size=50)
    d = np.argsort(np.argsort(x)) - np.argsort(np.argsort(y))  # no ties: 1 - 6Σd²/(n(n²-1))
    assert spearman(x, y) == pytest.approx(1 - 6 * np.sum(d**2) / (50 * (50**2 - 1)), rel=1e-12)
    assert spearman(x, np.exp(3 * x)) == pytest.approx(1.0)  # invariant to monotone maps
    assert spearman(x, -x) == pytest.approx(-1.0)
    # ties: ranks of [1, 2, 2, 3] are [0, 1.5, 1.5, 3]; Pearson of those with [0, 1, 2, 3]
    ranks = np.array([0, 1.5, 1.5, 3])
    expected = np.corrcoef(ranks, np.arange(4))[0, 1]
    assert spearman(np.array([1, 2, 2, 3]), np.arange(4)) == pytest.approx(expected, rel=1e-12)
    assert math.isnan(spearman(np.ones(5), np.arange(5)))
    assert math.isnan(spearman(np.ones(1), np.ones(1))) and math.isnan(spearman([], []))


def _fields(shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_spread_error_agreement_and_times_of_known_samples():
    """Samples ``y + a_t ξ^s`` with independent noise ``ξ^s`` of growing size ``a_t``: the
    numbers equal an independent numpy computation, the spread ranks the error perfectly, and
    the two decorrelation times are the first frames where the correlations pass 0.8."""
    S, B, T, n = 4, 3, 12, 16
    truth = _fields((B, T, n, n), 0)
    a = torch.linspace(0.05, 2.0, T, dtype=torch.float64).view(1, 1, T, 1, 1)
    runs = truth + a * _fields((S, B, T, n, n), 1)
    etas = _fields((S, B, T), 2).abs()
    times = 0.5 * np.arange(T)
    summary, arrays = uncertainty(runs, etas, truth, times)

    r, y = runs.numpy(), truth.numpy()
    mean = r.mean(0)

    def norm(v):
        return np.sqrt((v**2).sum(axis=(-2, -1)))

    def corr(u, v):
        u = u - u.mean(axis=(-2, -1), keepdims=True)
        v = v - v.mean(axis=(-2, -1), keepdims=True)
        return (u * v).sum(axis=(-2, -1)) / (norm(u) * norm(v))

    spread = np.sqrt(np.mean([norm(r[s] - mean) ** 2 for s in range(S)], axis=0)) / norm(mean)
    np.testing.assert_allclose(arrays["spread"], spread, rtol=1e-10)
    np.testing.assert_allclose(arrays["error"], norm(mean - y) / norm(y), rtol=1e-10)
    np.testing.assert_allclose(arrays["eta"], etas.numpy().mean(0), rtol=1e-12)
    agree = np.mean([corr(r[i], r[j]) for i in range(S) for j in range(i + 1, S)], axis=0)
    np.testing.assert_allclose(arrays["agreement"], agree, rtol=1e-10)
    truecorr = np.mean([corr(r[s], y) for s in range(S)], axis=0)
    np.testing.assert_allclose(arrays["correlation"], truecorr, rtol=1e-10)
    for b in range(B):
        assert arrays["estimated_time"][b] == times[np.argmax(agree[b] < 0.8)]
        assert arrays["true_time"][b] == times[np.argmax(truecorr[b] < 0.8)]
    assert summary["spearman_spread_error"] > 0.95  # both grow with a_t
    assert summary["median_estimated_time"] == float(np.median(arrays["estimated_time"]))
    assert summary["median_true_time"] == float(np.median(arrays["true_time"]))
    assert summary["samples"] == S and len(summary["per_frame_spread"]) == T


def test_the_correlated_spearman_keeps_only_frames_still_correlated_with_the_truth():
    """Noise growing to 8× the field: the late frames (correlation < 0.2) are left out of the
    second Spearman, which equals the pooled formula on the kept frames."""
    S, B, T, n = 3, 2, 16, 16
    truth = _fields((B, T, n, n), 3)
    a = torch.logspace(-1.5, math.log10(8.0), T, dtype=torch.float64).view(1, 1, T, 1, 1)
    runs = truth + a * _fields((S, B, T, n, n), 4)
    summary, arrays = uncertainty(runs, _fields((S, B, T), 5).abs(), truth, np.arange(T) * 1.0)
    kept = arrays["correlation"] >= 0.2
    assert 0 < kept.sum() < kept.size and summary["correlated_frames"] == kept.sum()
    assert kept[:, 0].all() and not kept[:, -1].any()
    expected = spearman(arrays["spread"][kept], arrays["error"][kept])
    assert summary["spearman_spread_error_correlated"] == pytest.approx(expected, rel=1e-12)
    assert expected > 0.9


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("pde_refiner", {"refinement_steps": 0}, "this run's model is pde_refiner without"),
        ("fno2d", {}, "--samples needs a model that samples"),
    ],
)
def test_only_a_sampling_model_gives_samples(name, kwargs, message):
    from spectral_refiner.errors import SpectralRefinerError
    from spectral_refiner.evaluation.uncertainty import check_samples
    from spectral_refiner.models import build_model

    with pytest.raises(SpectralRefinerError, match=message):
        check_samples(build_model(name, t_in=2, t_out=1, **kwargs), 3)


def test_the_spread_factor_is_fitted_on_correlated_frames_only():
    rng = np.random.default_rng(1)
    spread = rng.uniform(0.05, 0.5, size=(3, 20))
    correlation = np.where(np.arange(20) < 12, 0.9, 0.1) * np.ones((3, 1))
    error = np.where(correlation >= 0.2, 1.7 * spread, 5.0)  # saturated frames must not count
    assert spread_factor(spread, error, correlation) == pytest.approx(1.7, rel=1e-12)
    with pytest.raises(SpectralRefinerError, match="no frame is still correlated"):
        spread_factor(spread, error, np.zeros_like(spread))


def test_calibrated_times_cross_where_the_equal_norm_identity_says():
    """corr = 1 - |u - y|^2 / (2 |y|^2) for fields of equal norm (checked on the project's
    correlation), so a spread a t scaled by lam crosses 0.8 at t = sqrt(0.4) / (lam a)."""
    g = torch.Generator().manual_seed(0)
    u, y = torch.randn(2, 1, 16, 16, generator=g, dtype=torch.float64)
    u = u - u.mean()
    y = y - y.mean()
    u = u * y.norm() / u.norm()
    identity = 1 - (u - y).square().sum() / (2 * y.square().sum())
    torch.testing.assert_close(vorticity_correlation(u, y).squeeze(), identity)
    times = np.linspace(0.0, 4.0, 401)
    spread = np.stack([0.1 * times, 0.2 * times, 0.0 * times])
    lam = 2.0
    got = calibrated_times(spread, lam, times)
    assert got[0] == pytest.approx(math.sqrt(0.4) / (lam * 0.1), abs=0.011)
    assert got[1] == pytest.approx(math.sqrt(0.4) / (lam * 0.2), abs=0.011)
    assert math.isinf(got[2])  # never below
