"""Classical closures as explicit terms of NavierStokes2D (physics/closures.py)."""

import math
import re

import numpy as np
import pytest
import torch

from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.physics import (
    DynamicSmagorinsky,
    Leith,
    NavierStokes2D,
    Smagorinsky,
    SpectralGrid,
    make_closure,
    mcwilliams,
    resample,
    residual_norm,
    simulate,
)

F64 = torch.float64
TWO_PI = 2 * math.pi


def energy_rate(grid, w_hat, term_hat):
    """``dE/dt`` of a term by Parseval: ``Σ_k Re(ψ̂_k^* T̂_k)`` over the full spectrum."""
    psi = w_hat * grid.inv_k2
    return (psi.conj() * term_hat * grid.half_weight).real.sum(dim=(-2, -1))


def single_mode(n, mode, amplitude=2.0):
    g = SpectralGrid(n, TWO_PI, F64)
    X, Y = g.mesh()
    return g, g.rfft(amplitude * torch.cos(mode[0] * X + mode[1] * Y))


@pytest.mark.parametrize("mode", [(1, 0), (1, 1), (2, 1)])
def test_smagorinsky_single_mode_rate_is_analytic(mode):
    """ω = A cos(k·x): |S̄| = |ω|, so dE/dt = -(C_sΔ)²|A|³⟨|cos|³⟩ = -(C_sΔ)²|A|³ 4/(3π)
    and dZ/dt = |k|² dE/dt. The grid evaluates ⟨|cos|³⟩ by the trapezoidal rule, exact up
    to the Fourier coefficients of |cos|³ beyond the grid, O((n/m)^-4): 7e-8 at n/m = 128
    (measured; 1.2e-6 at 64)."""
    g, w_hat = single_mode(128 * max(mode), mode)
    c, a, k2 = 0.17, 2.0, mode[0] ** 2 + mode[1] ** 2
    term = Smagorinsky(g, c).term_hat(w_hat)
    exact = -((c * g.dx) ** 2) * a**3 * 4 / (3 * math.pi)
    assert float(energy_rate(g, w_hat, term)) == pytest.approx(exact, rel=1e-6)
    enstrophy_rate = float((w_hat.conj() * term * g.half_weight).real.sum())
    assert enstrophy_rate == pytest.approx(k2 * exact, rel=1e-6)


@pytest.mark.parametrize("mode", [(1, 0), (1, 1)])
def test_leith_single_mode_rate_is_analytic_in_the_limit(mode):
    """ω = A cos(k·x): |∇ω| = A|k||sin|, dE/dt = -(C_LΔ)³|A|³|k|⟨|sin| cos²⟩ with
    ⟨|sin| cos²⟩ = 2/(3π). |sin| has a kink, so the grid's trapezoidal rule errs by
    c/N² + O(N^-4) (N = n/m points per wavelength; measured -6.0e-4 at N = 128, -1.5e-4 at
    256): what is compared at 1e-6 is the Richardson limit (4 r(2N) - r(N)) / 3 of the
    rate scaled by Δ³, whose error is O(N^-4) (4e-8 here)."""
    c, a, kk = 0.3, 2.0, math.hypot(*mode)
    scaled = []
    for n in (128, 256):
        g, w_hat = single_mode(n, mode)
        rate = energy_rate(g, w_hat, Leith(g, c).term_hat(w_hat))
        scaled.append(float(rate) / (c * g.dx) ** 3)
    limit = (4 * scaled[1] - scaled[0]) / 3
    assert limit == pytest.approx(-(a**3) * kk * 2 / (3 * math.pi), rel=1e-6)
    assert scaled[0] != pytest.approx(limit, rel=1e-4)  # the kink is visible at finite n


@pytest.fixture(scope="module")
def turbulent():
    g = SpectralGrid(64, TWO_PI, F64)
    return g, g.rfft(mcwilliams(g, 3, [0, 1]))


@pytest.mark.parametrize("name", ["smagorinsky", "leith", "dynamic-smagorinsky"])
def test_closures_remove_energy_at_the_rate_of_their_eddy_viscosity(turbulent, name):
    """On an unforced turbulent field dE/dt of the closed equation is below the viscous-only
    rate, by exactly -⟨ν_t|S̄|²⟩ (summation by parts is exact on the grid); the advection
    conserves energy on its band, so the viscous-only rate is -ν⟨|ω|²⟩ (2 ν Z)."""
    g, w_hat = turbulent
    spec = {"name": name} if name == "dynamic-smagorinsky" else {"name": name, "coefficient": 0.2}
    closure = make_closure(spec, g)
    closed, plain = (NavierStokes2D(g, 1e-3, closure=c) for c in (closure, None))

    def rate(eq):
        return energy_rate(g, w_hat, eq.explicit_terms(w_hat) + eq.implicit_terms(w_hat))

    viscous = energy_rate(g, w_hat, plain.implicit_terms(w_hat))
    torch.testing.assert_close(rate(plain), viscous, rtol=1e-10, atol=0)
    extra = closure.energy_rate(w_hat)
    assert bool((extra < -1e-3 * viscous.abs()).all())
    torch.testing.assert_close(rate(closed) - rate(plain), extra, rtol=1e-9, atol=0)


def test_zero_coefficient_and_no_closure_leave_the_solver_bit_identical(turbulent):
    g, _ = turbulent
    w0 = mcwilliams(g, 3, [0, 1])
    plain = simulate(NavierStokes2D(g, 1e-3), w0, [0.1, 0.2], dt=0.01)
    for spec in (None, {"name": "none"}, {"name": "smagorinsky", "coefficient": 0.0}):
        closure = make_closure(spec, g)
        out = simulate(NavierStokes2D(g, 1e-3, closure=closure), w0, [0.1, 0.2], dt=0.01)
        assert torch.equal(out, plain)
    closed = NavierStokes2D(g, 1e-3, closure=Smagorinsky(g, 0.17))
    assert not torch.equal(simulate(closed, w0, [0.1, 0.2], dt=0.01), plain)


@pytest.mark.parametrize("cls", [Smagorinsky, Leith, DynamicSmagorinsky])
def test_closure_term_is_batch_invariant_and_in_the_solver_layout(turbulent, cls):
    g, w_hat = turbulent
    closure = cls(g)
    batch = closure.term_hat(w_hat)
    assert batch.shape == w_hat.shape and batch.transpose(-1, -2).is_contiguous()
    for i in range(2):
        assert torch.equal(closure.term_hat(w_hat[i]), batch[i])
    # The term lives on the 2/3-rule band and has zero mean.
    assert float(batch[..., g.dealias == 0].abs().max()) == 0
    assert float(batch[..., 0, 0].abs().max()) == 0


def test_on_grid_keeps_the_filter_width_and_the_residual_uses_the_closure(turbulent):
    g, w_hat = turbulent
    eq = NavierStokes2D(g, 1e-3, closure=Smagorinsky(g, 0.17))
    fine = eq.on_grid(96)
    assert isinstance(fine.closure, Smagorinsky) and fine.closure.width == g.dx
    assert fine.closure.coefficient == 0.17
    # A closed trajectory from a field band-limited to |m| <= 8: over 0.03 its modes stay
    # well inside the solver's band, so the 2/3 rule of the solver and the residual's 3/2
    # padding see nearly the same advection; the residual with the closure (moved to the
    # padded grid with its Δ) is then ~10x smaller than without (measured 0.12 and 0.10;
    # what remains is the different aliasing of ν_t on the two grids).
    w0 = resample(resample(g.irfft(w_hat), 18), g.n)
    traj = simulate(eq, w0, [0.0, 0.01, 0.02, 0.03], dt=0.0025)
    ratio = residual_norm(traj, eq, 0.01) / residual_norm(traj, NavierStokes2D(g, 1e-3), 0.01)
    assert float(ratio.max()) < 0.2


def _numpy_dynamic(w, length, ratio):
    """Lilly's ⟨L:M⟩/⟨M:M⟩, not clipped, computed independently: numpy's full complex FFTs,
    each tensor component written out, products on the grid from the 2/3-band fields."""
    n = w.shape[0]
    m = np.fft.fftfreq(n, 1.0 / n)
    mx, my = np.meshgrid(m, m, indexing="ij")
    kx, ky = 2 * np.pi * mx / length, 2 * np.pi * my / length
    band = (np.abs(mx) <= n // 3) & (np.abs(my) <= n // 3)
    test = band & (np.abs(mx) <= n / (2 * ratio)) & (np.abs(my) <= n / (2 * ratio))
    k2 = kx**2 + ky**2
    psi = np.where(band & (k2 > 0), np.fft.fft2(w) / np.where(k2 > 0, k2, 1), 0)

    def field(h):
        return np.fft.ifft2(h).real

    def filt(f):
        return field(np.fft.fft2(f) * test)

    u, v = field(1j * ky * psi), field(-1j * kx * psi)
    s11, s12 = field(-kx * ky * psi), field(0.5 * (kx**2 - ky**2) * psi)
    rate = 2 * np.sqrt(s11**2 + s12**2)
    delta = length / n
    l11 = filt(u * u) - filt(u) ** 2
    l22 = filt(v * v) - filt(v) ** 2
    l12 = filt(u * v) - filt(u) * filt(v)
    t11, t12 = filt(s11), filt(s12)
    rate_t = 2 * np.sqrt(t11**2 + t12**2)
    m11 = 2 * delta**2 * (filt(rate * s11) - ratio**2 * rate_t * t11)
    m12 = 2 * delta**2 * (filt(rate * s12) - ratio**2 * rate_t * t12)
    num = np.mean(l11 * m11 - l22 * m11 + 2 * l12 * m12)
    den = np.mean(2 * m11**2 + 2 * m12**2)
    return num / den


def test_dynamic_coefficient_matches_an_independent_least_squares():
    """The 2/3-band velocity products alias only beyond n/3, outside the test band, so L
    and M (formed with the same |S̄| on the grid) agree with numpy's to round-off. Field 4
    of this seed has ⟨L:M⟩ < 0 (backscatter): its coefficient is clipped to exactly 0."""
    g = SpectralGrid(64, TWO_PI, F64)
    w_hat = g.rfft(mcwilliams(g, 3, [0, 4]))
    closure = DynamicSmagorinsky(g, test_ratio=2.0)
    c = closure.coefficient(w_hat)
    w = g.irfft(w_hat).numpy()
    raw = [_numpy_dynamic(w[i], g.length, 2.0) for i in range(2)]
    assert raw[0] > 0 > raw[1] and float(c[1]) == 0.0
    np.testing.assert_allclose(c.numpy(), np.maximum(raw, 0), rtol=1e-9, atol=0)
    # Scale-free: c is unchanged when the field is multiplied by a constant.
    torch.testing.assert_close(closure.coefficient(3.0 * w_hat), c, rtol=1e-9, atol=0)
    # With c fixed, the dynamic model is Smagorinsky with C_s = sqrt(c).
    for i in range(2):
        smag = Smagorinsky(g, math.sqrt(float(c[i])))
        torch.testing.assert_close(
            closure.term_hat(w_hat[i]), smag.term_hat(w_hat[i]), rtol=1e-9, atol=1e-15
        )


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"name": "smagorinsky", "coefficient": -0.1}, "coefficient must be"),
        ({"name": "leith", "coefficient": "big"}, "coefficient must be a number"),
        ({"name": "smagorsky"}, "unknown closure 'smagorsky'"),
        ({"name": "smagorinsky", "cs": 0.1}, "unknown key(s) cs"),
        ({"name": "dynamic-smagorinsky", "test_ratio": 1.0}, "test_ratio must be > 1"),
        ({"coefficient": 0.1}, "must be a mapping with a 'name'"),
    ],
)
def test_bad_closure_specs_name_the_problem(spec, words):
    g = SpectralGrid(16, TWO_PI, F64)
    with pytest.raises(SpectralRefinerError, match=re.escape(words)):
        make_closure(spec, g)
