"""The exact subgrid term of a filtered DNS (physics/subgrid.py)."""

import math

import numpy as np
import pytest
import torch

from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.physics import (
    NavierStokes2D,
    SpectralGrid,
    kolmogorov_forcing,
    mcwilliams,
    ns_residual,
    resample,
    simulate,
    sobolev_norm_hat,
    subgrid_term,
    subgrid_term_hat,
)
from spectral_refiner.physics.residual import _interval_weights

F64 = torch.float64
TWO_PI = 2 * math.pi


def band_limited(n_fine, keep, seed=0, batch=2):
    """Random fields on ``n_fine`` points with modes ``max(|m_x|, |m_y|) <= keep`` only."""
    g = SpectralGrid(n_fine, TWO_PI, F64)
    w_hat = g.rfft(mcwilliams(g, seed, list(range(batch))))
    mask = (g.mx.abs() <= keep) & (g.my <= keep)
    return g.irfft(w_hat * mask)


def test_tau_vanishes_when_the_fine_field_has_no_mode_beyond_the_band():
    """ω = ω̄ (every mode below n/2, stored): both products agree on the band, τ = 0 to
    round-off. One mode beyond the band (m = n/2 + 1) makes τ non-zero."""
    n = 16
    w = band_limited(64, n // 2 - 1)
    tau = subgrid_term_hat(w, n)
    advection = NavierStokes2D(SpectralGrid(64, TWO_PI, F64), 0.0).explicit_terms(
        torch.fft.rfft2(w, norm="forward")
    )
    assert float(tau.abs().max()) <= 1e-13 * float(advection.abs().max())
    X, Y = SpectralGrid(64, TWO_PI, F64).mesh()
    tau = subgrid_term_hat(w + 0.5 * torch.cos((n // 2 + 1) * X + 3 * Y), n)
    assert float(tau.abs().max()) > 1e-3 * float(advection.abs().max())


def _numpy_tau(w, n, length):
    """τ = F(u·∇ω) - F(ū·∇ω̄) from physical-space products on grids padded to 4n_f and 4n
    (alias-free far beyond the band), with numpy's full complex FFTs."""

    def advect(h, size):
        m = np.fft.fftfreq(size, 1.0 / size)
        mx, my = np.meshgrid(m, m, indexing="ij")
        kx, ky = 2 * np.pi * mx / length, 2 * np.pi * my / length
        k2 = np.where(kx**2 + ky**2 > 0, kx**2 + ky**2, 1.0)
        big = np.zeros((size, size), complex)
        n_in = h.shape[0]
        idx = np.r_[0 : n_in // 2, size - n_in // 2 + 1 : size]
        src = np.r_[0 : n_in // 2, n_in - n_in // 2 + 1 : n_in]
        big[np.ix_(idx, idx)] = h[np.ix_(src, src)]
        psi = big / k2
        field = lambda a: np.fft.ifft2(a).real * size**2  # noqa: E731
        u, v = field(1j * ky * psi), field(-1j * kx * psi)
        prod = u * field(1j * kx * big) + v * field(1j * ky * big)
        out = np.fft.fft2(prod) / size**2
        return out[np.ix_(np.r_[0 : n // 2, size - n // 2 + 1 : size], np.r_[0 : n // 2])]

    h = np.fft.fft2(w) / w.shape[0] ** 2
    coarse = np.zeros((n, n), complex)
    keep = np.r_[0 : n // 2, w.shape[0] - n // 2 + 1 : w.shape[0]]
    coarse[np.ix_(np.r_[0 : n // 2, n // 2 + 1 : n], np.r_[0 : n // 2, n // 2 + 1 : n])] = h[
        np.ix_(keep, keep)
    ]
    return advect(h, 4 * w.shape[0]) - advect(coarse, 4 * n)


def test_tau_agrees_with_an_independent_physical_space_product():
    """A fine field in the fine solver's 2/3 band (as a DNS's frames are): the padded spectral
    τ equals numpy's physical-space products at 4x padding, to round-off."""
    n, n_fine = 16, 48
    w = band_limited(n_fine, n_fine // 3, seed=5, batch=1)[0]
    tau = subgrid_term_hat(w, n)
    ref = _numpy_tau(w.numpy(), n, TWO_PI)
    got = tau.numpy()[:, : n // 2]
    rows = np.r_[0 : n // 2, n // 2 + 1 : n]
    np.testing.assert_allclose(got[rows], ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    assert np.abs(ref).max() > 1e-3
    # The real field on the n grid is its synthesis.
    real = subgrid_term(w, n)
    assert real.shape == (n, n)
    torch.testing.assert_close(torch.fft.rfft2(real, norm="forward"), tau)


def test_filtered_dns_satisfies_the_filtered_equation_with_tau():
    """128² Kolmogorov DNS stored at 32², frames 0.01 apart: the residual of the truncated
    trajectory is the interval average of -τ up to time discretisation, so R + Q[τ] is
    ~3000x smaller than R in L2(H^-1) (measured 3.3e-4 here; after a warm-up of 2: 4.6e-4,
    6.6e-3 at frames 0.02 apart, 0.16 at 0.05, where the quartic quadrature error of the
    interval averages takes over)."""
    nf, n, dt = 128, 32, 0.01
    gf, g = SpectralGrid(nf, TWO_PI, F64), SpectralGrid(n, TWO_PI, F64)
    fine = NavierStokes2D(gf, 1e-3, drag=0.1, forcing=kolmogorov_forcing(gf, 4))
    coarse = NavierStokes2D(g, 1e-3, drag=0.1, forcing=kolmogorov_forcing(g, 4))
    traj = simulate(fine, mcwilliams(gf, 0, [0]), [0.25 + dt * j for j in range(5)], courant=0.5)
    residual = ns_residual(resample(traj, n), coarse, dt)
    tau = subgrid_term_hat(traj, n)
    average = torch.einsum("jt,bt...->bj...", _interval_weights(5, g.cdtype, g.device), tau)

    def norm(x):
        return float(sobolev_norm_hat(x, g, -1.0, 1.0).square().sum().sqrt())

    assert norm(residual + average) < 1e-2 * norm(residual)


def test_bad_resolutions_are_refused():
    w = torch.zeros(2, 32, 32, dtype=F64)
    for n in (24, 15, 2):
        with pytest.raises(SpectralRefinerError, match="stored resolution"):
            subgrid_term_hat(w, n)
    with pytest.raises(SpectralRefinerError, match="must be square"):
        subgrid_term_hat(torch.zeros(32, 16), 8)
