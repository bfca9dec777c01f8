"""The a-priori closure's building blocks against independent computations: the nonlinear
gradient model, the resolved transfer terms (physics/subgrid.py) and the per-shell gains
(hybrid/shells.py)."""

import math

import numpy as np
import pytest
import torch

from spectral_refiner.hybrid import ShellGains
from spectral_refiner.physics import SpectralGrid, gradient_model_hat, resolved_transfer_hat

N_STORED = 16


def _band_limited(rng: np.random.Generator, n: int, batch: int) -> np.ndarray:
    """Random real fields on an ``n`` grid with modes ``|m| < n/2`` only and zero mean."""
    w_hat = np.fft.fft2(rng.standard_normal((batch, n, n)))
    m = np.fft.fftfreq(n, 1 / n)
    keep = (np.abs(m)[:, None] < n // 2) & (np.abs(m)[None, :] < n // 2)
    keep[0, 0] = False
    return np.fft.ifft2(w_hat * keep).real


class Spectral:
    """Full-spectrum numpy calculus on an ``N``-point grid of the box ``L`` (independent of
    the project's half-spectrum grid)."""

    def __init__(self, n_points: int, length: float) -> None:
        m = np.fft.fftfreq(n_points, 1 / n_points)
        self.n, self.m = n_points, m
        self.kx = (2 * math.pi / length * m)[:, None]
        self.ky = (2 * math.pi / length * m)[None, :]
        k2 = self.kx**2 + self.ky**2
        self.inv_k2 = np.where(k2 > 0, 1 / np.where(k2 > 0, k2, 1), 0)

    def embed(self, w: np.ndarray) -> np.ndarray:
        """Coefficients (forward-normalised) of coarse fields zero-padded to this grid."""
        n = w.shape[-1]
        coarse = np.fft.fft2(w) / n**2
        out = np.zeros((*w.shape[:-2], self.n, self.n), complex)
        idx = np.r_[0 : n // 2, self.n - n // 2 + 1 : self.n]
        src = np.r_[0 : n // 2, n - n // 2 + 1 : n]
        out[..., idx[:, None], idx[None, :]] = coarse[..., src[:, None], src[None, :]]
        return out

    def field(self, c: np.ndarray) -> np.ndarray:
        return np.fft.ifft2(c * self.n**2).real

    def coeffs(self, f: np.ndarray) -> np.ndarray:
        return np.fft.fft2(f) / self.n**2

    def velocity(self, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        psi = c * self.inv_k2
        return self.field(1j * self.ky * psi), self.field(-1j * self.kx * psi)

    def grad(self, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.field(1j * self.kx * c), self.field(1j * self.ky * c)

    def flux_advection(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Coefficients of ``∇·(u(a) b)`` (the divergence form of ``u(a)·∇b``)."""
        u, v = self.velocity(a)
        f = self.field(b)
        return 1j * self.kx * self.coeffs(u * f) + 1j * self.ky * self.coeffs(v * f)

    def band(self, n: int) -> np.ndarray:
        return ((np.abs(self.m)[:, None] < n // 2) & (np.abs(self.m)[None, :] < n // 2)).astype(
            float
        )

    def to_half(self, c: np.ndarray, n: int) -> np.ndarray:
        """The band of full coefficients in the project's ``(n, n // 2 + 1)`` layout."""
        rows = np.r_[0 : n // 2, self.n - n // 2 : self.n]
        out = np.zeros((*c.shape[:-2], n, n // 2 + 1), complex)
        out[..., np.r_[0 : n // 2, n - n // 2 : n], :] = c[..., rows, : n // 2 + 1]
        out[..., n // 2, :] = 0  # the Nyquist row holds nothing of the band
        out[..., :, n // 2] = 0
        return out


@pytest.mark.parametrize("length", [2 * math.pi, 3.0])
def test_gradient_model_against_its_flux_form(length):
    """``Δ² F(∂_k u_j ∂_j∂_k ω)`` (the project, expanded, on the 3n/2 grid) equals
    ``Δ² F ∂_j(∂_k u_j ∂_k ω)`` (numpy, flux form, on a 4n grid): they agree because
    ``∇·u = 0``."""
    n = N_STORED
    w = _band_limited(np.random.default_rng(0), n, 3)
    grid = SpectralGrid(n, length, torch.float64)
    ours = gradient_model_hat(grid.rfft(torch.from_numpy(w)), grid).numpy()
    s = Spectral(4 * n, length)
    c = s.embed(w)
    psi = c * s.inv_k2
    u_hat = (1j * s.ky * psi, -1j * s.kx * psi)
    kk = (s.kx, s.ky)
    total = 0
    for j in range(2):
        flux = sum(s.field(1j * kk[k] * u_hat[j]) * s.field(1j * kk[k] * c) for k in range(2))
        total = total + 1j * kk[j] * s.coeffs(flux)
    theirs = s.to_half(total * s.band(n), n) * (length / n) ** 2
    theirs[..., 0, 0] = 0
    assert np.abs(theirs).max() > 1e-3
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12 * np.abs(theirs).max())


def test_resolved_transfer_terms_against_numpy():
    """``F A``, ``T_1``, ``T_2`` of the project (advective form, 3n grid) against numpy's
    divergence form on a 4n grid, where every product is exact."""
    n, length = N_STORED, 2 * math.pi
    w = _band_limited(np.random.default_rng(1), n, 2)
    grid = SpectralGrid(n, length, torch.float64)
    ours = resolved_transfer_hat(grid.rfft(torch.from_numpy(w)), grid).numpy()
    s = Spectral(4 * n, length)
    c, band = s.embed(w), s.band(n)
    advection = s.flux_advection(c, c)
    beyond = advection * (1 - band)
    swept = s.flux_advection(c, beyond)
    first = swept + s.flux_advection(beyond, c)
    second = s.flux_advection(c, swept * (1 - band))
    for i, term in enumerate((advection, first, second)):
        theirs = s.to_half(term * band, n)
        assert np.abs(theirs).max() > 1e-3
        np.testing.assert_allclose(
            ours[:, i], theirs, rtol=0, atol=1e-11 * np.abs(theirs).max(), err_msg=str(i)
        )


def test_shell_gains_are_recovered_by_the_fit():
    """Targets made by known gains are fitted back to round-off; the map is one gain per
    channel and shell ``max(|m_x|, |m_y|)``, zero on the Nyquist shell."""
    torch.manual_seed(0)
    known = ShellGains(3, N_STORED).double()
    with torch.no_grad():
        known.gains.normal_()
    x = torch.randn(12, 3, N_STORED, N_STORED, dtype=torch.float64)
    target = known(x)[:, 0]
    fitted = ShellGains(3, N_STORED).double()
    fitted.fit(x, target)
    assert float((fitted.gains - known.gains).detach().abs().max()) < 1e-10
    # One shell, one channel: the map multiplies exactly those coefficients.
    probe = ShellGains(1, N_STORED).double()
    with torch.no_grad():
        probe.gains[0, 5] = 2.0
    out_hat = torch.fft.rfft2(probe(x[:, :1])[:, 0])
    x_hat = torch.fft.rfft2(x[:, 0])
    shell = torch.maximum(
        torch.fft.fftfreq(N_STORED, 1 / N_STORED).abs().reshape(-1, 1),
        torch.arange(N_STORED // 2 + 1).reshape(1, -1),
    )
    assert float((out_hat - torch.where(shell == 5, 2 * x_hat, 0)).detach().abs().max()) < 1e-12
