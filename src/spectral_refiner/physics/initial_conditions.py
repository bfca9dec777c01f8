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
    "perturbed_shear_layer",
    "random_vortices",
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
    w_hat = _white_noise_hat(grid, seed, indices) * torch.sqrt(spectrum) * _k2_cpu(grid)
    return _with_energy(w_hat, grid, energy)


def _with_energy(w_hat: torch.Tensor, grid: SpectralGrid, energy: float) -> torch.Tensor:
    """The fields of the CPU float64 coefficients ``ŵ (B, n, n//2+1)`` without their mean,
    scaled to mean kinetic energy ``½⟨|u|^2⟩ = ½ Σ_k |ŵ_k|^2/|k|^2 = energy``."""
    k2 = _k2_cpu(grid)
    weight = grid.half_weight.cpu().to(torch.float64)
    inv_k2 = torch.where(k2 > 0, 1.0 / k2.clamp_min(1e-300), 0.0)
    e = 0.5 * (w_hat.abs().square() * inv_k2 * weight).sum(dim=(-2, -1), keepdim=True)
    return _to_grid(w_hat * (k2 > 0) * torch.sqrt(energy / e), grid)


def _uniform(g: torch.Generator, low: float, high: float, count: int = 1) -> torch.Tensor:
    return low + (high - low) * torch.rand(count, generator=g, dtype=torch.float64)


def perturbed_shear_layer(
    grid: SpectralGrid,
    seed: int,
    indices: Sequence[int],
    thickness: tuple[float, float] = (0.025, 0.05),
    perturbation: float = 0.01,
    modes: int = 4,
    energy: float = 1.0,
) -> torch.Tensor:
    r"""A double shear layer whose interfaces carry a random perturbation.

    With ``L`` the box length, interfaces ``y_1(x) = L/4 + η(x)`` and ``y_2(x) = 3L/4 + η(x)``,
    ``η(x) = ε L Σ_{m=1}^{M} a_m \sin(2π m x / L + φ_m)``, the vorticity is that of the
    velocity jumps ``u = ±1`` across them,

    .. math::

        ω(x, y) = -\frac{1}{δ} \left[\operatorname{sech}^2\frac{y - y_1(x)}{δ}
                  - \operatorname{sech}^2\frac{y - y_2(x)}{δ}\right]

    (periodic images included), mean removed, scaled to mean kinetic energy ``energy``. Per
    trajectory, from the generator keyed by ``(seed, index)``: ``δ / L`` uniform in
    ``thickness``, ``a_m`` uniform in ``[0, 1]`` (normalised to ``Σ a_m = 1``), ``φ_m``
    uniform in ``[0, 2π)``; ``ε = perturbation``. The field is odd under ``y -> y + L/2``.
    """
    L = grid.length
    c = torch.arange(grid.n, dtype=torch.float64) * L / grid.n
    X, Y = torch.meshgrid(c, c, indexing="ij")
    m = torch.arange(1, modes + 1, dtype=torch.float64)
    fields = []
    for i in indices:
        g = trajectory_generator(seed, i)
        delta = float(_uniform(g, *thickness)) * L
        a = _uniform(g, 0.0, 1.0, modes)
        phase = _uniform(g, 0.0, 2 * math.pi, modes)
        eta = (
            perturbation
            * L
            * (a / a.sum() * torch.sin(2 * math.pi * m * X[..., None] / L + phase)).sum(-1)
        )
        w = torch.zeros_like(X)
        for image in (-L, 0.0, L):
            for centre, sign in ((L / 4, 1.0), (3 * L / 4, -1.0)):
                w -= sign / delta / torch.cosh((Y - centre - eta - image) / delta) ** 2
        fields.append(w)
    return _with_energy(torch.fft.rfft2(torch.stack(fields), norm="forward"), grid, energy)


def random_vortices(
    grid: SpectralGrid,
    seed: int,
    indices: Sequence[int],
    count: tuple[int, int] = (4, 12),
    radius: tuple[float, float] = (0.04, 0.1),
    energy: float = 1.0,
) -> torch.Tensor:
    r"""A random field of Gaussian vortices on the torus.

    ``ω(x) = Σ_j s_j A_j \exp(-|x - x_j|^2 / r_j^2)`` with periodic distance (the nearest
    image), mean removed, scaled to mean kinetic energy ``energy``. Per trajectory, from the
    generator keyed by ``(seed, index)``: the number of vortices uniform in ``count``
    (inclusive), centres ``x_j`` uniform in the box, radii ``r_j / L`` uniform in ``radius``,
    signs ``s_j = ±1`` and amplitudes ``A_j`` uniform in ``[0.5, 1]``.
    """
    L = grid.length
    c = torch.arange(grid.n, dtype=torch.float64) * L / grid.n
    X, Y = torch.meshgrid(c, c, indexing="ij")
    fields = []
    for i in indices:
        g = trajectory_generator(seed, i)
        k = int(torch.randint(count[0], count[1] + 1, (1,), generator=g))
        centre = _uniform(g, 0.0, L, 2 * k).view(k, 2)
        r = _uniform(g, *radius, k) * L
        amplitude = _uniform(g, 0.5, 1.0, k) * (2 * torch.randint(0, 2, (k,), generator=g) - 1)
        dx = torch.remainder(X[..., None] - centre[:, 0] + L / 2, L) - L / 2
        dy = torch.remainder(Y[..., None] - centre[:, 1] + L / 2, L) - L / 2
        fields.append((amplitude * torch.exp(-(dx**2 + dy**2) / r**2)).sum(-1))
    return _with_energy(torch.fft.rfft2(torch.stack(fields), norm="forward"), grid, energy)


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


INITIAL_CONDITIONS = ("fno-grf", "mcwilliams", "taylor-green", "shear-layer", "vortices")


def make_initial_condition(
    name: str, grid: SpectralGrid, seed: int, indices: Sequence[int]
) -> torch.Tensor:
    """Initial vorticity ``(len(indices), n, n)`` by name, keyed by ``(seed, index)``."""
    if name == "fno-grf":
        return fno_gaussian_random_field(grid, seed, indices)
    if name == "mcwilliams":
        return mcwilliams(grid, seed, indices)
    if name == "shear-layer":
        return perturbed_shear_layer(grid, seed, indices)
    if name == "vortices":
        return random_vortices(grid, seed, indices)
    if name == "taylor-green":
        return taylor_green(grid).expand(len(indices), grid.n, grid.n).clone()
    raise SpectralRefinerError(
        f"unknown initial condition {name!r}: choose one of {', '.join(INITIAL_CONDITIONS)}"
    )
