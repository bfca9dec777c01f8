import itertools
import math

import pytest
import torch

from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.physics import (
    NavierStokes2D,
    SpectralGrid,
    estimate,
    fno_forcing,
    fno_gaussian_random_field,
    kolmogorov_forcing,
    ns_residual,
    relative_sobolev_error,
    residual_norm,
    simulate,
    sobolev_norm,
    sobolev_norm_hat,
    taylor_green_exact,
)

F64 = torch.float64
FRAME_DT = 0.05
FRAMES = 11


def fno_equation(dtype=F64):
    grid = SpectralGrid(64, 1.0, dtype)
    return NavierStokes2D(grid, 1e-3, forcing=fno_forcing(grid))


@pytest.fixture(scope="module")
def solver_trajectory():
    """Forced FNO flow, unit box, ν = 1e-3, simulated at 128² and stored at 64² (as the
    datasets are), two trajectories of 11 frames 0.05 apart, RK4-CN at dt = 2.5e-3
    (converged: dt = 1e-2 gives the same η)."""
    eq = fno_equation()
    w0 = fno_gaussian_random_field(eq.on_grid(128).grid, 0, [0, 1])
    times = [FRAME_DT * j for j in range(FRAMES)]
    return eq, simulate(eq.on_grid(128), w0, times, dt=2.5e-3, resolution=64)


def scaled_to(delta, traj, grid, eps):
    """``delta`` rescaled frame by frame to ``eps`` times the L2 norm of ``traj``."""
    ratio = sobolev_norm(traj, grid) / sobolev_norm(delta, grid)
    return eps * ratio[..., None, None] * delta


def test_every_stored_mode_is_advected_exactly():
    """For a frozen field with every mode |m| < n/2 (stored data, truncated from a finer run,
    has them all), the residual is u·∇ω - νΔω - f on that band, the product taken exactly:
    here in physical space on a 4n grid, where nothing aliases. The 2/3 rule of the n grid
    would leave the modes above n/3 without advection."""
    n = 32
    grid = SpectralGrid(n, 2 * math.pi, F64)
    eq = NavierStokes2D(grid, 1e-2, forcing=kolmogorov_forcing(grid, 2))
    g = torch.Generator().manual_seed(0)
    w_hat = torch.randn(n, n // 2 + 1, generator=g, dtype=torch.complex128)
    w_hat[0, 0] = 0
    w_hat[n // 2] = 0
    w_hat[:, -1] = 0  # the band |m| < n/2: no Nyquist modes
    w = grid.irfft(w_hat)
    traj = w.expand(1, 4, n, n)
    big = grid.with_resolution(4 * n)
    w4 = big.rfft(big.irfft(grid.resample_hat(grid.rfft(w), 4 * n)))
    u, v = big.velocity(w4)
    wx, wy = big.irfft(big.derivative(w4, (1, 0))), big.irfft(big.derivative(w4, (0, 1)))
    advection = big.resample_hat(big.rfft(u * wx + v * wy), n)
    forcing = eq.forcing_hat
    band_w = grid.rfft(w)
    expected = advection - eq.viscosity * grid.laplacian(band_w) - forcing
    got = ns_residual(traj, eq, dt=0.1)[0]  # every interval of the frozen trajectory
    assert float((got - expected).abs().max()) < 1e-10 * float(expected.abs().max())
    high = (grid.mx.abs() > n // 3) | (grid.my > n // 3)
    assert float((advection * high).abs().max()) > 0.1 * float(advection.abs().max())


def test_taylor_green_residual_is_the_quadrature_error_of_fourth_order():
    """Exact decaying Taylor–Green frames (advection vanishes, viscosity and drag act): only
    the fourth-order quadrature error of the decay ``e^{-λt}`` remains, so η falls 16x per
    halving of Δt = 0.4 ... 0.05."""
    grid = SpectralGrid(32, 2 * math.pi, F64)
    nu, mu = 0.1, 0.1
    eq = NavierStokes2D(grid, nu, drag=mu)
    etas = []
    for dt in (0.4, 0.2, 0.1, 0.05):
        frames = round(1.6 / dt) + 1
        traj = torch.stack(
            [taylor_green_exact(grid, j * dt, nu, drag=mu, wavenumber=2) for j in range(frames)]
        )
        etas.append(float(estimate(traj[None], eq, dt)))
    orders = [math.log2(a / b) for a, b in itertools.pairwise(etas)]
    assert min(orders) >= 3.5, (etas, orders)
    assert etas[-1] < 1e-7


def test_steady_kolmogorov_shear_has_zero_residual():
    """ω = -A k cos(ky) / (νk² + μ) is steady under Kolmogorov forcing: pins the signs of the
    forcing, viscous and drag terms (η measured 1e-15)."""
    grid = SpectralGrid(32, 2 * math.pi, F64)
    nu, mu, k = 0.05, 0.1, 4
    eq = NavierStokes2D(grid, nu, drag=mu, forcing=kolmogorov_forcing(grid, k))
    _, Y = grid.mesh()
    steady = -k * torch.cos(k * Y) / (nu * k**2 + mu)
    assert float(estimate(steady.expand(1, 4, -1, -1), eq, 0.1)) < 1e-12


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_every_term_of_a_frozen_field_analytically(alpha):
    """Frozen frames ω = cos x + cos 2y (2π box) under forcing f = cos 3x: D = 0 and
    -u·∇ω = 1.5 sin x sin 2y, νΔω = -ν(cos x + 4 cos 2y), -μω, f live on orthogonal modes,
    so ‖R‖ and every term of S follow from ‖A cos(k·x)‖_{H^-1}^2 = L^2 A^2 / (2(α + |k|^2))
    (‖sin x sin 2y‖_{H^-1}^2 = L^2 / (4(α + 5)))."""
    grid = SpectralGrid(16, 2 * math.pi, F64)
    nu, mu, dt = 0.3, 0.2, 0.1
    X, Y = grid.mesh()
    eq = NavierStokes2D(grid, nu, drag=mu, forcing=torch.cos(3 * X))
    traj = (torch.cos(X) + torch.cos(2 * Y)).expand(1, 4, -1, -1)  # 3 equal intervals

    def mode(amplitude, k2):
        return grid.length**2 * amplitude**2 / (2 * (alpha + k2))

    advection = grid.length**2 * 1.5**2 / (4 * (alpha + 5))
    viscous = nu**2 * (mode(1, 1) + mode(4, 4))
    drag = mu**2 * (mode(1, 1) + mode(1, 4))
    forcing = mode(1, 9)
    residual = advection + mode(nu + mu, 1) + mode(4 * nu + mu, 4) + forcing
    size = sum(math.sqrt(t) for t in (advection, viscous, drag, forcing))
    got = residual_norm(traj, eq, dt, alpha)
    assert float(got) == pytest.approx(math.sqrt(3 * dt * residual), rel=1e-12)
    assert float(estimate(traj, eq, dt, alpha)) == pytest.approx(
        math.sqrt(residual) / size, rel=1e-12
    )


def test_solver_trajectory_is_small_and_perturbations_are_seen_in_proportion(solver_trajectory):
    """Solver frames: η = 2e-4 (the quadrature error at Δt = 0.05; the small scales turn over
    at |u| k_max Δt ≈ 0.3). A perturbation smooth in space and time (two
    random FNO fields rotating with period 1, 1% of the L2 norm in every frame) raises η to
    0.067 and 0.078, ~250x; 2% doubles it (measured ratios 1.97 and 1.96)."""
    eq, traj = solver_trajectory
    grid = eq.grid
    eta_exact = estimate(traj, eq, FRAME_DT)
    assert float(eta_exact.max()) < 3e-4

    phi = fno_gaussian_random_field(grid, 7, range(4)).reshape(2, 2, 1, 64, 64)
    theta = 2 * math.pi * FRAME_DT * torch.arange(FRAMES, dtype=F64)[:, None, None]
    delta = torch.cos(theta) * phi[:, 0] + torch.sin(theta) * phi[:, 1]
    etas = []
    for eps in (0.01, 0.02):
        perturbed = traj + scaled_to(delta, traj, grid, eps)
        rel = relative_sobolev_error(perturbed, traj, grid)
        torch.testing.assert_close(rel, torch.full_like(rel, eps))
        etas.append(estimate(perturbed, eq, FRAME_DT))
    assert bool((etas[0] >= 100 * eta_exact).all()), (eta_exact, etas[0])
    torch.testing.assert_close(etas[1] / etas[0], torch.full_like(etas[0], 2.0), rtol=0.1, atol=0)


def naive_central_difference_norm(traj, eq, dt):
    """‖(ω_{n+1} - ω_{n-1}) / (2Δt) - F(ω_n)‖ in L2(H^-1): the scheme this module does not use."""
    grid = eq.grid
    w_hat = grid.rfft(traj)
    mid = w_hat[:, 1:-1]
    f_hat = eq.explicit_terms(mid.flatten(0, 1)).unflatten(0, mid.shape[:2]) + eq.linear * mid
    r_hat = (w_hat[:, 2:] - w_hat[:, :-2]) / (2 * dt) - f_hat
    return math.sqrt(dt) * torch.linalg.vector_norm(sobolev_norm_hat(r_hat, grid, -1.0), dim=-1)


def test_alternating_perturbation_is_seen(solver_trajectory):
    """δ_j = (-1)^j ε φ versus δ_j = ε φ, ε = 1% of ‖ω_0‖. The jump ω_{j+1} - ω_j of every
    interval sees the alternation directly (2εφ/Δt): measured η = 0.37 and 0.46
    (alternating), 1.4e-3 and 2.1e-3 (constant), 2.7e-4 and 2.4e-4 (exact).

    The naive central difference (ω_{n+1} - ω_{n-1})/(2Δt) - F(ω_n), like Simpson's rule
    over two intervals, is blind to it: its residual is the same for the alternating and the
    constant perturbation (it is seen only through F)."""
    eq, traj = solver_trajectory
    grid = eq.grid
    phi = fno_gaussian_random_field(grid, 1, [5, 6])
    delta = scaled_to(phi, traj[:, 0], grid, 0.01)[:, None]
    sign = (-1.0) ** torch.arange(FRAMES, dtype=F64)[:, None, None]
    exact, constant, alternating = traj, traj + delta, traj + sign * delta

    eta_exact, eta_constant, eta_alternating = (
        estimate(x, eq, FRAME_DT) for x in (exact, constant, alternating)
    )
    assert bool((eta_alternating > 100 * eta_constant).all()), (eta_alternating, eta_constant)
    assert bool((eta_alternating > 1000 * eta_exact).all()), (eta_alternating, eta_exact)

    naive = [naive_central_difference_norm(x, eq, FRAME_DT) for x in (exact, constant, alternating)]
    torch.testing.assert_close(naive[2] / naive[1], torch.ones(2, dtype=F64), rtol=0.05, atol=0)


def test_frames_advanced_by_a_tiny_step_are_not_a_solution():
    """The pitfall: advancing each frame by a tiny solver step τ gives a residual
    (Φ_τ(ω) - ω)/τ - F(ω) of O(τ) for any field (measured 3e-5 relative), so minimising it
    does nothing. Unrelated random frames, advanced or not, are far from a trajectory for
    the residual of this module: η = 0.96."""
    grid = SpectralGrid(32, 1.0, F64)
    eq = NavierStokes2D(grid, 1e-3, forcing=fno_forcing(grid))
    frames = fno_gaussian_random_field(grid, 11, range(5))
    tau = 1e-4
    advanced = simulate(eq, frames, [tau], dt=tau)[:, 0]
    w_hat = grid.rfft(frames)
    f_hat = eq.explicit_terms(w_hat) + eq.linear * w_hat
    pitfall = sobolev_norm_hat((grid.rfft(advanced) - w_hat) / tau - f_hat, grid, -1.0)
    assert float((pitfall / sobolev_norm_hat(f_hat, grid, -1.0)).max()) < 1e-3
    for traj in (frames, advanced):
        assert float(estimate(traj[None], eq, FRAME_DT)) > 0.5


def test_float32_agrees_with_float64(solver_trajectory):
    """Measured: the float32 η of the solver frames is within 1e-4 of the float64 one."""
    eq, traj = solver_trajectory
    eq32 = fno_equation(torch.float32)
    eta32 = estimate(traj.float(), eq32, FRAME_DT)
    assert eta32.dtype == torch.float32
    torch.testing.assert_close(eta32.double(), estimate(traj, eq, FRAME_DT), rtol=1e-3, atol=0)


def test_shapes_and_the_residual_norm():
    grid = SpectralGrid(16, 1.0, F64)
    eq = NavierStokes2D(grid, 1e-2, forcing=fno_forcing(grid))
    traj = fno_gaussian_random_field(grid, 3, range(8)).reshape(2, 4, 16, 16)
    r_hat = ns_residual(traj, eq, 0.1)
    assert r_hat.shape == (2, 3, 16, 9)
    per_frame = sobolev_norm_hat(r_hat, grid, -1.0, 2.0)
    expected = (0.1 * per_frame.square().sum(-1)).sqrt()
    torch.testing.assert_close(residual_norm(traj, eq, 0.1, alpha=2.0), expected)


def test_gradients_are_exact():
    """Autograd through the residual (the refiner's objective ‖R‖² and η) matches finite
    differences on a tiny case: 16², T = 4, forced, with drag. Fast mode compares the
    derivative along random directions of the 1024 inputs (uᵀ J v, fresh draws per check)
    with central differences along them, instead of one difference per input."""
    grid = SpectralGrid(16, 2 * math.pi, F64)
    eq = NavierStokes2D(grid, 1e-2, drag=0.1, forcing=kolmogorov_forcing(grid, 2))
    traj = fno_gaussian_random_field(grid, 5, range(4))[None].requires_grad_(True)
    for objective in (lambda x: residual_norm(x, eq, 0.1).square(), lambda x: estimate(x, eq, 0.1)):
        for seed in range(3):
            torch.manual_seed(seed)
            assert torch.autograd.gradcheck(objective, (traj,), fast_mode=True)


def test_bad_input_is_a_clear_error():
    grid = SpectralGrid(16, 1.0, F64)
    eq = NavierStokes2D(grid, 1e-3)
    traj = torch.zeros(1, 4, 16, 16, dtype=F64)
    with pytest.raises(SpectralRefinerError, match="at least 4 frames"):
        estimate(traj[:, :3], eq, 0.1)
    with pytest.raises(SpectralRefinerError, match="resample it"):
        estimate(torch.zeros(1, 4, 32, 32, dtype=F64), eq, 0.1)
    with pytest.raises(SpectralRefinerError, match=r"\(batch, time"):
        ns_residual(traj[0], eq, 0.1)
    with pytest.raises(SpectralRefinerError, match="dt must be positive"):
        residual_norm(traj, eq, 0.0)
    with pytest.raises(SpectralRefinerError, match="alpha must be positive"):
        residual_norm(traj, eq, 0.1, alpha=-1.0)
