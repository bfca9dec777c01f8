import itertools
import math

import pytest
import torch

from benchmarks.peers import run_torch_cfd, torch_cfd_available
from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.physics import (
    NavierStokes2D,
    SpectralGrid,
    fno_forcing,
    fno_gaussian_random_field,
    imex_step,
    kolmogorov_forcing,
    mcwilliams,
    simulate,
    taylor_green,
    taylor_green_exact,
)

F64 = torch.float64


def rel(a, b):
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("drag", [0.0, 0.1])
def test_taylor_green_is_exact_to_round_off(drag):
    """Advection vanishes for Taylor–Green; the only error left is Crank–Nicolson's on the
    decay, about λ^3 dt^2 t / 12 with λ = 2νk^2 + μ (0.064 and 0.164 here; measured 2e-13
    and 1.3e-11 at dt = 1e-3)."""
    g = SpectralGrid(32, 2 * math.pi, F64)
    eq = NavierStokes2D(g, 1e-3, drag=drag)
    w0 = taylor_green(g, wavenumber=4)
    out = simulate(eq, w0, [0.5, 1.0], dt=1e-3)
    exact = taylor_green_exact(g, 1.0, 1e-3, drag=drag, wavenumber=4)
    assert rel(out[-1], exact) <= 1e-10


@pytest.mark.parametrize("n", [16, 256])  # 256: rows staged before the transposing copy
def test_advection_matches_the_analytic_product(n):
    # omega = cos x + cos 2y: u = -sin(2y)/2, v = sin x, u.grad(omega) = -1.5 sin x sin 2y;
    # round-off grows with n (1.1e-12 measured at 256)
    g = SpectralGrid(n, 2 * math.pi, F64)
    X, Y = g.mesh()
    eq = NavierStokes2D(g, 0.0)
    n_hat = eq.explicit_terms(g.rfft(torch.cos(X) + torch.cos(2 * Y)))
    torch.testing.assert_close(
        g.irfft(n_hat), 1.5 * torch.sin(X) * torch.sin(2 * Y), atol=1e-13 * n / 16, rtol=0
    )


def test_kolmogorov_forcing_drives_the_exact_laminar_shear():
    """From rest, ω(t) = -A k cos(ky) (1 - e^{-λt}) / λ with λ = νk^2 + μ (advection of a
    shear flow vanishes), which pins the forcing's axis, sign and wavenumber."""
    g = SpectralGrid(32, 2 * math.pi, F64)
    nu, mu, k = 0.05, 0.1, 4
    eq = NavierStokes2D(g, nu, drag=mu, forcing=kolmogorov_forcing(g, k, amplitude=1.0))
    out = simulate(eq, torch.zeros(32, 32, dtype=F64), [1.0], dt=1e-3)[-1]
    _, Y = g.mesh()
    lam = nu * k**2 + mu
    exact = -k * torch.cos(k * Y) * (1 - math.exp(-lam)) / lam
    assert rel(out, exact) < 1e-7


def _order(errors):
    return [math.log2(a / b) for a, b in itertools.pairwise(errors)]


@pytest.fixture(scope="module")
def smooth_forced_flow():
    """Smooth forced flow (FNO forcing, unit box, 32², ν = 1e-4, initial field ×5 so that
    advection dominates): the equation, the initial field and its rk4-cn reference at t = 1
    with dt = 1/640, whose error (≈ 7e-8 / 4^4 ≈ 3e-10) moves the measured orders below by
    less than 0.01."""
    g = SpectralGrid(32, 1.0, F64)
    eq = NavierStokes2D(g, 1e-4, forcing=fno_forcing(g))
    w0 = 5 * fno_gaussian_random_field(g, 0, [0])
    return eq, w0, simulate(eq, w0, [1.0], dt=1 / 640)


@pytest.mark.parametrize(("scheme", "min_order"), [("rk4-cn", 3.5), ("rk2-cn", 1.8)])
def test_temporal_convergence_order(smooth_forced_flow, scheme, min_order):
    """Errors at t = 1 against the reference (:func:`smooth_forced_flow`).

    Measured: rk4-cn orders 4.03, 4.09 (errors 2.0e-5, 1.2e-6, 7.1e-8 at dt = 1/40, 1/80,
    1/160); rk2-cn 2.07, 2.01. With ν = 1e-3 the Crank–Nicolson part (second order) dominates
    and rk4-cn measures 1.8–1.9: the scheme is fourth order in the advection only.
    """
    eq, w0, ref = smooth_forced_flow
    errors = [
        rel(simulate(eq, w0, [1.0], dt=dt, scheme=scheme), ref) for dt in (1 / 40, 1 / 80, 1 / 160)
    ]
    assert min(_order(errors)) >= min_order, errors


def test_zero_step_is_the_identity_bit_for_bit():
    g = SpectralGrid(32, 1.0)
    eq = NavierStokes2D(g, 1e-3, forcing=fno_forcing(g))
    w_hat = g.rfft(fno_gaussian_random_field(g, 1, [0, 1]))
    dt = torch.tensor([0.0, 0.05], dtype=F64).reshape(2, 1, 1)
    out = imex_step(eq, w_hat, dt)
    assert torch.equal(out[0], w_hat[0])
    assert not torch.equal(out[1], w_hat[1])


@pytest.mark.parametrize("policy", [{"courant": 0.5}, {"dt": 0.01}])
def test_trajectory_is_independent_of_its_batch(policy):
    g = SpectralGrid(32, 2 * math.pi)
    eq = NavierStokes2D(g, 1e-3)
    w0 = mcwilliams(g, 7, [0, 1, 2])
    times = [0.0, 0.3, 0.5]
    together = simulate(eq, w0, times, **policy)
    for i in range(3):
        alone = simulate(eq, w0[i : i + 1], times, **policy)
        assert torch.equal(alone[0], together[i])
    reordered = simulate(eq, w0[[2, 0]], times, **policy)
    assert torch.equal(reordered[0], together[2])


@pytest.mark.parametrize("forced", [False, True])
def test_blocks_of_the_batch_give_the_same_bits_and_gradients(monkeypatch, forced):
    """explicit_terms evaluates the batch in cache-sized blocks: the split (here 3 + 2 + 2
    fields against one block of 7) changes neither the terms, bit for bit, nor the
    gradient recorded through them."""
    from spectral_refiner.physics import navier_stokes

    g = SpectralGrid(32, 2 * math.pi)
    forcing = kolmogorov_forcing(g, 4, amplitude=1.0) if forced else None
    w_hat = g.rfft(mcwilliams(g, 3, range(7))).reshape(7, 32, 17)
    per_field = 2 * 32 * 17 * 2 * 4 + 2 * 32 * 32 * 4
    results = {}
    for fields in (3, 7):
        monkeypatch.setattr(navier_stokes, "_l2_cache_bytes", lambda f=fields: f * per_field // 2)
        eq = NavierStokes2D(g, 1e-3, drag=0.1, forcing=forcing)
        assert eq.block_sizes(7) == ([3, 2, 2] if fields == 3 else [7])
        with torch.inference_mode():
            terms = eq.explicit_terms(w_hat)
        w = w_hat.clone().requires_grad_(True)
        recorded = eq.explicit_terms(w)
        (recorded.abs() ** 2).sum().backward()
        assert torch.equal(recorded.detach(), terms)
        results[fields] = (terms, w.grad)
    assert torch.equal(results[3][0], results[7][0])
    torch.testing.assert_close(results[3][1], results[7][1], rtol=1e-6, atol=0)
    assert float(results[3][1].abs().max()) > 0


def test_adaptive_step_lands_on_snapshot_times_and_respects_cfl():
    g = SpectralGrid(32, 2 * math.pi, F64)
    eq = NavierStokes2D(g, 1e-3)
    w0 = mcwilliams(g, 0, [0])
    # Adaptive steps (dt ≈ 0.015 here) land on the snapshot times: the frames agree with a
    # fine fixed-step run to the scheme's accuracy (~1e-5), where a frame off by one step
    # would be off by ~1e-2.
    a = simulate(eq, w0, [0.0, 0.3, 0.6], courant=0.4)
    c = simulate(eq, w0, [0.0, 0.3, 0.6], dt=1e-3)
    torch.testing.assert_close(a[:, 0], w0, atol=1e-12, rtol=0)
    assert rel(a[:, 1], c[:, 1]) < 1e-4 and rel(a[:, 2], c[:, 2]) < 1e-4


def test_blow_up_guard_names_the_time_and_the_fix():
    g = SpectralGrid(32, 2 * math.pi)
    eq = NavierStokes2D(g, 1e-3)
    w0 = mcwilliams(g, 0, [0])
    with pytest.raises(SpectralRefinerError, match=r"CFL number .* at t = 0.*smaller dt"):
        simulate(eq, w0, [1.0], dt=0.5)
    bad = w0.clone()
    bad[0, 3, 3] = float("nan")
    with pytest.raises(SpectralRefinerError, match="blew up"):
        simulate(eq, bad, [0.1], dt=0.01)


def test_bad_parameters_are_clear_errors():
    g = SpectralGrid(32)
    with pytest.raises(SpectralRefinerError, match="viscosity must be >= 0"):
        NavierStokes2D(g, -1e-3)
    with pytest.raises(SpectralRefinerError, match="too small for forcing wavenumber"):
        kolmogorov_forcing(SpectralGrid(8), 4)
    eq = NavierStokes2D(g, 1e-3)
    with pytest.raises(SpectralRefinerError, match="exactly one"):
        simulate(eq, torch.zeros(32, 32), [1.0])
    with pytest.raises(SpectralRefinerError, match="non-decreasing"):
        simulate(eq, torch.zeros(32, 32), [1.0, 0.5], dt=0.1)


@pytest.mark.skipif(not torch_cfd_available(), reason="torch-cfd is not installed")
@pytest.mark.parametrize(
    ("length", "forcing", "drag"), [(2 * math.pi, "kolmogorov", 0.1), (1.0, "fno", 0.0)]
)
def test_agrees_with_torch_cfd(length, forcing, drag):
    """Same dealiased initial field, dt and forcing, float64, RK4 Crank–Nicolson: torch-cfd
    0.2.6 and this solver agree to ≤ 1e-6 relative (measured: 4e-13 Kolmogorov; the FNO
    case is limited by torch-cfd's 13-digit Runge–Kutta coefficients)."""
    n, nu, dt, steps = 64, 1e-3, 0.005, 100
    g = SpectralGrid(n, length, F64)
    w0 = (
        mcwilliams(g, 3, [0, 1])
        if forcing == "kolmogorov"
        else (fno_gaussian_random_field(g, 3, [0, 1]))
    )
    w0 = g.irfft(g.rfft(w0) * g.dealias)  # torch-cfd leaves modes above 2/3 unfiltered
    f = kolmogorov_forcing(g, 4) if forcing == "kolmogorov" else fno_forcing(g)
    ours = simulate(NavierStokes2D(g, nu, drag, f), w0, [dt * steps], dt=dt)[:, 0]
    theirs = run_torch_cfd(w0, length, nu, drag, forcing, dt, steps)
    assert rel(ours, theirs) <= 1e-6
