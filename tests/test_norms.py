import math

import pytest
import torch

from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.physics import (
    SpectralGrid,
    bochner_norm,
    relative_bochner_error,
    relative_sobolev_error,
    sobolev_norm,
    sobolev_norm_hat,
)

F64 = torch.float64
LENGTHS = [1.0, 2 * math.pi]


def cosine_mode(g, m, amplitude):
    """``A cos(k·x)`` with ``k = 2π m / L`` and ``|k|^2``."""
    X, Y = g.mesh()
    k = (2 * math.pi / g.length * m[0], 2 * math.pi / g.length * m[1])
    return amplitude * torch.cos(k[0] * X + k[1] * Y), k[0] ** 2 + k[1] ** 2


def band_limited(g, seed, band=10):
    """A random real field with modes ``|m_x|, |m_y| <= band`` only (nonzero mean)."""
    gen = torch.Generator().manual_seed(seed)
    w_hat = torch.zeros(g.n, g.n // 2 + 1, dtype=torch.complex128)
    rows = list(range(band + 1)) + list(range(g.n - band, g.n))
    coeff = torch.randn(len(rows), band + 1, 2, generator=gen, dtype=F64)
    w_hat[rows, : band + 1] = torch.view_as_complex(coeff)
    return g.irfft(w_hat)


def full_spectrum(w, g):
    """``|ŵ_k|^2`` and ``|k|^2`` over the full (not half) spectrum, independently of the
    module under test."""
    w_hat = torch.fft.fft2(w, norm="forward")
    m = torch.fft.fftfreq(g.n, d=1.0 / g.n, dtype=F64)
    k2 = (2 * math.pi / g.length) ** 2 * (m[:, None] ** 2 + m[None, :] ** 2)
    return w_hat.abs().square(), k2


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("m", [(3, -2), (5, 0)])  # an interior column and the m_y = 0 column
@pytest.mark.parametrize("s", [-1.0, 0.0, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("alpha", [1.0, 0.3])
def test_single_mode_has_the_exact_sobolev_norm(length, m, s, alpha):
    """‖A cos(k·x)‖_{H^s} = L A / √2 (α + |k|^2)^{s/2}: catches a missing box area, a
    wrong half-spectrum weight and a wrong exponent (H^-1 vs H^-1/2, "L2" that is H1)."""
    g = SpectralGrid(32, length, F64)
    amplitude = 1.7
    w, k2 = cosine_mode(g, m, amplitude)
    expected = length * amplitude / math.sqrt(2) * (alpha + k2) ** (s / 2)
    got = sobolev_norm(w, g, s=s, alpha=alpha)
    assert got.shape == ()
    assert float(got) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("s", [0.5, 1.0, 2.0])
def test_single_mode_has_the_exact_seminorm(length, s):
    g = SpectralGrid(32, length, F64)
    w, k2 = cosine_mode(g, (3, -2), 0.6)
    w = w + 5.0  # the mean is invisible to the seminorm
    expected = length * 0.6 / math.sqrt(2) * k2 ** (s / 2)
    assert float(sobolev_norm(w, g, s=s, seminorm=True)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("length", [1.0, 3.0])
def test_parseval_against_grid_quadrature(length):
    """On a band-limited field grid quadrature is exact: ‖w‖_{L2}^2 = (L/n)^2 Σ w_ij^2 and
    |w|_{H1}^2 = ∫|∇w|^2 of the spectrally computed gradient; ‖w‖_{H1}^2 = α‖w‖^2 + |w|_{H1}^2."""
    g = SpectralGrid(32, length, F64)
    w = torch.stack([band_limited(g, seed) for seed in range(3)])
    cell = (length / g.n) ** 2
    l2_sq = cell * w.square().sum(dim=(-2, -1))
    w_hat = g.rfft(w)
    grad_sq = sum(g.irfft(g.derivative(w_hat, order)).square() for order in ((1, 0), (0, 1)))
    h1_semi_sq = cell * grad_sq.sum(dim=(-2, -1))
    torch.testing.assert_close(sobolev_norm(w, g).square(), l2_sq, rtol=1e-12, atol=0)
    torch.testing.assert_close(
        sobolev_norm(w, g, s=1.0, seminorm=True).square(), h1_semi_sq, rtol=1e-12, atol=0
    )
    torch.testing.assert_close(
        sobolev_norm(w, g, s=1.0, alpha=0.7).square(), 0.7 * l2_sq + h1_semi_sq, rtol=1e-12, atol=0
    )
    # the coefficient version is the same norm, in any memory layout
    w_hat_t = w_hat.transpose(-1, -2).contiguous().transpose(-1, -2)
    torch.testing.assert_close(sobolev_norm_hat(w_hat_t, g, s=-1.0), sobolev_norm(w, g, s=-1.0))


@pytest.mark.parametrize("alpha", [1.0, 0.1])
def test_h_minus_1_norm_of_a_laplacian(alpha):
    """‖Δφ‖_{H^-1}^2 = |φ|_{H1}^2 - α L^2 Σ_k |k|^2 / (α + |k|^2) |φ̂_k|^2."""
    g = SpectralGrid(32, 2 * math.pi, F64)
    phi = band_limited(g, 4)
    lap = g.irfft(g.laplacian(g.rfft(phi)))
    power, k2 = full_spectrum(phi, g)
    correction = alpha * g.length**2 * (k2 / (alpha + k2) * power).sum()
    lhs = sobolev_norm(lap, g, s=-1.0, alpha=alpha).square()
    rhs = sobolev_norm(phi, g, s=1.0, seminorm=True).square() - correction
    assert float(lhs) == pytest.approx(float(rhs), rel=1e-12)


def test_h_minus_1_norm_of_a_laplacian_tends_to_the_h1_seminorm():
    """The gap |φ|_{H1}^2 - ‖Δφ‖_{H^-1}^2 = α L^2 Σ |k|^2/(α+|k|^2)|φ̂|^2 lies between
    α ‖φ - φ̄‖^2 |k_min|^2/(α + |k_min|^2) and α ‖φ - φ̄‖^2, so it vanishes with α."""
    g = SpectralGrid(32, 1.0, F64)
    phi = band_limited(g, 5)
    lap = g.irfft(g.laplacian(g.rfft(phi)))
    semi_sq = float(sobolev_norm(phi, g, s=1.0, seminorm=True)) ** 2
    zero_mean_sq = float(sobolev_norm(phi - phi.mean(), g)) ** 2
    k2_min = (2 * math.pi) ** 2
    for alpha in (1e-1, 1e-3, 1e-5, 1e-8):
        gap = semi_sq - float(sobolev_norm(lap, g, s=-1.0, alpha=alpha)) ** 2
        ratio = gap / (alpha * zero_mean_sq)
        assert k2_min / (alpha + k2_min) - 1e-4 <= ratio <= 1 + 1e-4
    assert gap / semi_sq < 1e-9


def test_h_minus_1_weight_exponent_at_a_high_mode():
    """A perturbation at |k| = 16 (L = 2π) is smaller in H^-1 than in L2 by exactly
    sqrt(α + 256) (an H^-1/2 weight would give a factor of only 257^{1/4} ≈ 4)."""
    g = SpectralGrid(64, 2 * math.pi, F64)
    X, Y = g.mesh()
    delta = 1e-2 * (torch.cos(16 * X) + torch.sin(16 * Y))
    ratio = sobolev_norm(delta, g) / sobolev_norm(delta, g, s=-1.0, alpha=1.0)
    assert float(ratio) == pytest.approx(math.sqrt(257.0), rel=1e-12)


def test_bochner_norm_of_a_separable_trajectory():
    """w(t) = g(t) φ: ‖w‖_{L2(H^s)} = ‖φ‖_{H^s} (∫ g^2 dt)^{1/2}. With g^2 = 1 + t the
    trapezoidal rule is exact; with g = cos t it is second-order accurate."""
    grid = SpectralGrid(16, 2 * math.pi, F64)
    phi = torch.stack([band_limited(grid, seed, band=5) for seed in (6, 7)])
    norm_phi = sobolev_norm(phi, grid, s=-1.0, alpha=0.5)

    dt, frames = 0.25, 9
    t = dt * torch.arange(frames, dtype=F64)
    traj = torch.sqrt(1 + t)[:, None, None] * phi[:, None]
    duration = dt * (frames - 1)
    expected = norm_phi * math.sqrt(duration + duration**2 / 2)
    got = bochner_norm(traj, grid, s=-1.0, alpha=0.5, dt=dt)
    assert got.shape == (2,)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=0)

    dt, frames = 0.01, 101
    t = dt * torch.arange(frames, dtype=F64)
    traj = torch.cos(t)[:, None, None] * phi[:, None]
    expected = norm_phi * math.sqrt(0.5 + math.sin(2.0) / 4)  # ∫_0^1 cos^2
    got = bochner_norm(traj, grid, s=-1.0, alpha=0.5, dt=dt)
    torch.testing.assert_close(got, expected, rtol=2e-5, atol=0)


def test_relative_errors():
    g = SpectralGrid(16, 1.0, F64)
    target = torch.stack([band_limited(g, seed, band=5) for seed in range(6)]).reshape(2, 3, 16, 16)
    scale = torch.tensor([1.1, 0.97], dtype=F64)[:, None, None, None]
    pred = target * scale
    for s in (-1.0, 0.0, 1.0):
        expected = (scale.reshape(2, 1) - 1).abs().expand(2, 3)
        got = relative_sobolev_error(pred, target, g, s=s)
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=0)
        got = relative_bochner_error(pred, target, g, s=s)
        torch.testing.assert_close(got, expected[:, 0], rtol=1e-12, atol=0)
    # the Bochner version weighs frames by the trapezoidal rule: the end frames count half
    pred = target.clone()
    pred[:, 1] *= 2
    mid = sobolev_norm(target[:, 1], g).square()
    total = (sobolev_norm(target, g).square() * torch.tensor([0.5, 1.0, 0.5], dtype=F64)).sum(-1)
    torch.testing.assert_close(relative_bochner_error(pred, target, g), (mid / total).sqrt())


def test_gradient_at_a_zero_field_is_zero_not_nan():
    g = SpectralGrid(16, 1.0, F64)
    w = torch.zeros(2, 3, 16, 16, dtype=F64, requires_grad=True)
    bochner_norm(w, g, s=-1.0).sum().backward()
    assert torch.equal(w.grad, torch.zeros_like(w))


def test_bad_arguments_are_clear_errors():
    g = SpectralGrid(16, 1.0, F64)
    w = torch.zeros(2, 16, 16, dtype=F64)
    with pytest.raises(SpectralRefinerError, match="alpha must be positive"):
        sobolev_norm(w, g, s=-1.0, alpha=0.0)
    with pytest.raises(SpectralRefinerError, match="s > 0"):
        sobolev_norm(w, g, s=-1.0, seminorm=True)
    with pytest.raises(SpectralRefinerError, match="resample"):
        sobolev_norm(torch.zeros(2, 32, 32), g)
    with pytest.raises(SpectralRefinerError, match="at least 2 frames"):
        bochner_norm(w[:1], g)
    with pytest.raises(SpectralRefinerError, match="dt must be positive"):
        bochner_norm(w, g, dt=0.0)
    with pytest.raises(SpectralRefinerError, match="same shape"):
        relative_sobolev_error(w, w[0], g)
