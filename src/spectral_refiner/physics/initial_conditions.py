"""Initial vorticity fields, each random draw keyed by ``(seed, trajectory index)``.

Trajectory ``i`` of a dataset with seed ``s`` starts from the same field whatever batch,
rank or run it is made in: its noise comes from a generator seeded with
``SeedSequence([s, i])``, drawn on the CPU in float64 and only then cast and moved.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ..errors import SpectralRefinerError
from .grid import SpectralGrid, irfft2

__all__ = [
    "INITIAL_CONDITIONS",
    "fno_gaussian_random_field",
    "make_initial_condition",
    "mcwilliams",
    "taylor_green",
    "taylor_green_exact",
    "trajectory_generator",
]


def trajectory_generator(seed: int, index: int) -> torch.Generator:
    """A CPU generator keyed by ``(seed, index)``, independent across keys."""
    state = np.random.SeedSequence([int(seed), int(index)]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def _white_noise_hat(grid: SpectralGrid, seed: int, indices: Sequence[int]) -> torch.Tensor:
    """Forward-normalised rfft of unit white noise on the grid, float64 on the CPU.

    ``E|ξ̂_k|^2 = 1 / n^2`` for every mode that is not its own conjugate.
    """
    noise = torch.stack(
        [
            torch.randn(
                grid.n, grid.n, generator=trajectory_generator(seed, i), dtype=torch.float64
            )
            for i in indices
        ]
    )
    return torch.fft.rfft2(noise, norm="forward")


def _k2_cpu(grid: SpectralGrid) -> torch.Tensor:
    fac = 2 * math.pi / grid.length
    return fac**2 * (grid.mx.cpu() ** 2 + grid.my.cpu() ** 2)


def _to_grid(w_hat: torch.Tensor, grid: SpectralGrid) -> torch.Tensor:
    w = irfft2(w_hat, grid.n)
    return w.to(dtype=grid.dtype, device=grid.device)


def fno_gaussian_random_field(
    grid: SpectralGrid,
    seed: int,
    indices: Sequence[int],
    alpha: float = 2.5,
    tau: float = 7.0,
    sigma: float | None = None,
) -> torch.Tensor:
    """The FNO benchmark's initial vorticity ``ω0 ~ N(0, σ^2 (-Δ + τ^2 I)^{-α})``, mean zero.

    ``ω0 = Σ_{k≠0} ĉ_k e^{ik·x}`` with independent Hermitian Gaussian coefficients of variance
    ``E|ĉ_k|^2 = 2 σ^2 (|k|^2 + τ^2)^{-α}``, ``σ = τ^{(2α - 2)/2}`` (= 7^{3/2} for the defaults):
    the convention of the generator the FNO data were made with (Li et al. 2020), on whose
    unit box ``|k|^2 = 4π^2|m|^2``.

    Returns
    -------
    Tensor
        ``(len(indices), n, n)`` in the grid's dtype and device.
    """
    sigma = tau ** (0.5 * (2 * alpha - 2)) if sigma is None else sigma
    amp = grid.n * math.sqrt(2.0) * sigma * (_k2_cpu(grid) + tau**2) ** (-alpha / 2)
    amp[0, 0] = 0.0
    return _to_grid(_white_noise_hat(grid, seed, indices) * amp, grid)


def mcwilliams(
    grid: SpectralGrid,
    seed: int,
    indices: Sequence[int],
    k0: float = 4.0,
    tau: float = 1.0,
    energy: float = 1.0,
) -> torch.Tensor:
    """McWilliams (1984) decaying-turbulence initial vorticity.

    Random phases under the stream-function spectrum
    ``|ψ̂_k|^2 ∝ |m|^{-1} (τ^2 + (|m|/k0)^4)^{-1}`` (``m`` the integer wavenumber), mean zero,
    then ``ω̂ = |k|^2 ψ̂`` scaled to mean kinetic energy ``½⟨|u|^2⟩ = energy``.
    """
    m2 = grid.mx.cpu() ** 2 + grid.my.cpu() ** 2
    m = torch.sqrt(m2)
    spectrum = torch.where(m > 0, 1.0 / (m.clamp_min(1e-30) * (tau**2 + (m / k0) ** 4)), 0.0)
    k2 = _k2_cpu(grid)
    w_hat = _white_noise_hat(grid, seed, indices) * torch.sqrt(spectrum) * k2
    weight = grid.half_weight.cpu().to(torch.float64)
    inv_k2 = torch.where(k2 > 0, 1.0 / k2.clamp_min(1e-300), 0.0)
    e = 0.5 * (w_hat.abs().square() * inv_k2 * weight).sum(dim=(-2, -1), keepdim=True)
    return _to_grid(w_hat * torch.sqrt(energy / e), grid)


def taylor_green(grid: SpectralGrid, wavenumber: int = 1, amplitude: float = 1.0) -> torch.Tensor:
    """Taylor–Green vortex ``ω = 2 A k sin(kx) sin(ky)``, ``k = 2π m / L``, shape ``(n, n)``.

    Its stream function ``ψ = (A/k) sin(kx) sin(ky)`` is proportional to ω, so advection
    vanishes identically and the flow decays exactly; see :func:`taylor_green_exact`.
    """
    k = 2 * math.pi * wavenumber / grid.length
    X, Y = grid.mesh()
    return 2 * amplitude * k * torch.sin(k * X) * torch.sin(k * Y)


def taylor_green_exact(
    grid: SpectralGrid,
    t: float,
    viscosity: float,
    drag: float = 0.0,
    wavenumber: int = 1,
    amplitude: float = 1.0,
) -> torch.Tensor:
    """Exact unforced Taylor–Green vorticity ``ω(t) = ω(0) exp(-(2νk^2 + μ) t)``."""
    k = 2 * math.pi * wavenumber / grid.length
    decay = math.exp(-(2 * viscosity * k**2 + drag) * t)
    return taylor_green(grid, wavenumber, amplitude) * decay


INITIAL_CONDITIONS = ("fno-grf", "mcwilliams", "taylor-green")


def make_initial_condition(
    name: str, grid: SpectralGrid, seed: int, indices: Sequence[int]
) -> torch.Tensor:
    """Initial vorticity ``(len(indices), n, n)`` by name, keyed by ``(seed, index)``."""
    if name == "fno-grf":
        return fno_gaussian_random_field(grid, seed, indices)
    if name == "mcwilliams":
        return mcwilliams(grid, seed, indices)
    if name == "taylor-green":
        return taylor_green(grid).expand(len(indices), grid.n, grid.n).clone()
    raise SpectralRefinerError(
        f"unknown initial condition {name!r}: choose one of {', '.join(INITIAL_CONDITIONS)}"
    )
