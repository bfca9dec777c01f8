import math

import pytest
import torch

from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.physics import SpectralGrid, resample


@pytest.mark.parametrize("length", [1.0, 2 * math.pi, 3.0])
def test_derivatives_use_physical_wavenumbers(length):
    g = SpectralGrid(32, length, torch.float64)
    X, Y = g.mesh()
    k = 2 * math.pi * 3 / length
    w = torch.sin(k * X) * torch.cos(2 * k * Y)
    w_hat = g.rfft(w)
    dx = g.irfft(g.derivative(w_hat, (1, 0)))
    dy = g.irfft(g.derivative(w_hat, (0, 1)))
    torch.testing.assert_close(dx, k * torch.cos(k * X) * torch.cos(2 * k * Y), atol=1e-11, rtol=0)
    torch.testing.assert_close(
        dy, -2 * k * torch.sin(k * X) * torch.sin(2 * k * Y), atol=1e-11, rtol=0
    )
    lap = g.irfft(g.laplacian(w_hat))
    torch.testing.assert_close(lap, -5 * k**2 * w, atol=1e-10, rtol=0)


def test_velocity_from_vorticity_is_the_curl_inverse():
    # psi = cos(x) + cos(2y)/4  =>  omega = cos(x) + cos(2y), u = -sin(2y)/2, v = sin(x)
    g = SpectralGrid(16, 2 * math.pi, torch.float64)
    X, Y = g.mesh()
    u, v = g.velocity(g.rfft(torch.cos(X) + torch.cos(2 * Y)))
    torch.testing.assert_close(u, -torch.sin(2 * Y) / 2, atol=1e-13, rtol=0)
    torch.testing.assert_close(v, torch.sin(X), atol=1e-13, rtol=0)


def test_parseval_and_half_spectrum_weights():
    g = SpectralGrid(24, 1.0, torch.float64)
    w = torch.randn(3, 24, 24, dtype=torch.float64)
    w_hat = g.rfft(w)
    full = (w_hat.abs() ** 2 * g.half_weight).sum(dim=(-2, -1))
    torch.testing.assert_close(full, (w**2).mean(dim=(-2, -1)))


@pytest.mark.parametrize("n", [48, 64, 256])
def test_dealias_mask_keeps_two_thirds(n):
    g = SpectralGrid(n)
    kept_x = g.mx[g.dealias[:, 0] > 0].abs().max()
    kept_y = g.my[0, g.dealias[0] > 0].max()
    assert int(kept_x) == int(kept_y) == n // 3
    # symmetric in the sign of m_x
    assert int(g.dealias[:, 0].sum()) == 2 * (n // 3) + 1


def test_resample_is_spectral_and_exact_on_band_limited_fields():
    fine = SpectralGrid(64, 2 * math.pi, torch.float64)
    coarse = SpectralGrid(16, 2 * math.pi, torch.float64)

    def field(g):
        X, Y = g.mesh()
        return torch.sin(3 * X) * torch.cos(5 * Y) + 0.3 * torch.cos(7 * X - 2 * Y)

    torch.testing.assert_close(resample(field(fine), 16), field(coarse), atol=1e-13, rtol=0)
    torch.testing.assert_close(resample(field(coarse), 64), field(fine), atol=1e-13, rtol=0)
    # a mode the coarse grid cannot carry is removed, not aliased
    X, _Y = fine.mesh()
    assert resample(torch.cos(20 * X), 16).abs().max() < 1e-13


def test_bad_grid_is_a_clear_error():
    with pytest.raises(SpectralRefinerError, match="even integer"):
        SpectralGrid(31)
    with pytest.raises(SpectralRefinerError, match="positive"):
        SpectralGrid(32, -1.0)
