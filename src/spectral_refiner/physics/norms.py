"""Sobolev and Bochner norms of periodic fields, computed exactly in Fourier space.

On the box ``[0, L)^2`` of a :class:`~.grid.SpectralGrid`, with the forward-normalised
coefficients ``ŵ_k`` (``ŵ_0`` is the mean) and physical wavenumbers ``k = 2π m / L``,
Parseval's identity ``∫ |w|^2 dx = L^2 Σ_k |ŵ_k|^2`` (full spectrum) gives

    ‖w‖_{H^s}^2 = L^2 Σ_k (α + |k|^2)^s |ŵ_k|^2,        |w|_{H^s}^2 = L^2 Σ_{k≠0} |k|^{2s} |ŵ_k|^2,

for any real ``s`` and ``α > 0``: ``s = 0`` is the true L2 norm ``(∫|w|^2 dx)^{1/2}`` (box area
included), ``s = -1`` the H^-1 norm of the a posteriori estimate. The sums run over the
stored half spectrum with :attr:`~.grid.SpectralGrid.half_weight`. Norms are taken with
:func:`torch.linalg.vector_norm` of the real and imaginary parts (many times faster on the
CPU than on complex input), whose gradient at a zero field is zero (not NaN).

The Bochner norm of a trajectory of ``T`` frames ``w(t_j)``, ``t_j = j Δt``, is

    ‖w‖_{L2(0,T;H^s)} = (∫_0^{t_{T-1}} ‖w(t)‖_{H^s}^2 dt)^{1/2},

the time integral by the trapezoidal rule (weights ``Δt/2, Δt, ..., Δt, Δt/2``), so a
trajectory needs at least two frames; a single frame's norm is :func:`sobolev_norm`.
"""

from __future__ import annotations

import torch

from ..errors import SpectralRefinerError
from .grid import SpectralGrid

__all__ = [
    "bochner_norm",
    "relative_bochner_error",
    "relative_sobolev_error",
    "sobolev_norm",
    "sobolev_norm_hat",
]


def _sqrt_weight(grid: SpectralGrid, s: float, alpha: float, seminorm: bool) -> torch.Tensor:
    """``(L^2 h_k (α + |k|^2)^s)^{1/2}`` per stored mode, ``h_k`` the half-spectrum weight.

    With ``seminorm`` the factor ``(α + |k|^2)^s`` is ``|k|^{2s}`` (zero at ``k = 0``).
    """
    if seminorm:
        if not s > 0:
            raise SpectralRefinerError(
                f"the Sobolev seminorm needs an order s > 0, got s = {s}; use the full norm"
            )
        factor = grid.k2 ** (s / 2)
    else:
        if not alpha > 0:
            raise SpectralRefinerError(
                f"the Sobolev shift alpha must be positive, got {alpha}; use e.g. alpha = 1"
            )
        factor = (alpha + grid.k2) ** (s / 2)
    return grid.length * grid.half_weight.sqrt() * factor


def _check_fields(w: torch.Tensor, grid: SpectralGrid, min_dim: int, what: str) -> torch.Tensor:
    if w.dim() < min_dim or w.shape[-2:] != (grid.n, grid.n):
        raise SpectralRefinerError(
            f"{what} has shape {tuple(w.shape)}, expected (..., {grid.n}, {grid.n}) to match "
            f"the {grid.n}x{grid.n} grid; resample it or use a grid of its resolution"
        )
    return w.to(device=grid.device, dtype=grid.dtype)


def _trapezoid_weights(frames: int, dt: float, like: torch.Tensor) -> torch.Tensor:
    """Square roots of the trapezoidal weights ``Δt (1/2, 1, ..., 1, 1/2)``."""
    if frames < 2:
        raise SpectralRefinerError(
            f"a trajectory needs at least 2 frames for the time integral, got {frames}; "
            "use sobolev_norm for a single frame"
        )
    if not dt > 0:
        raise SpectralRefinerError(f"the frame spacing dt must be positive, got {dt}")
    weights = torch.full((frames,), dt, dtype=like.dtype, device=like.device)
    weights[[0, -1]] = dt / 2
    return weights.sqrt()


def sobolev_norm_hat(
    w_hat: torch.Tensor,
    grid: SpectralGrid,
    s: float = 0.0,
    alpha: float = 1.0,
    seminorm: bool = False,
) -> torch.Tensor:
    """H^s norm from half-spectrum coefficients ``(..., n, n//2+1)``, shape ``w_hat.shape[:-2]``.

    ``‖w‖_{H^s} = (L^2 Σ_k (α + |k|^2)^s |ŵ_k|^2)^{1/2}`` over the full spectrum, or with
    ``seminorm`` ``|w|_{H^s} = (L^2 Σ_{k≠0} |k|^{2s} |ŵ_k|^2)^{1/2}`` (``s > 0``). The
    coefficients are those of :meth:`SpectralGrid.rfft` (forward normalisation), in any
    memory layout.

    Parameters
    ----------
    w_hat : Tensor
        Complex coefficients on ``grid``.
    grid : SpectralGrid
        Box length and wavenumbers.
    s : float
        Sobolev order, any real number.
    alpha : float
        Shift ``α > 0`` of the weight ``(α + |k|^2)^s`` (ignored by the seminorm).
    seminorm : bool
        Use the homogeneous weight ``|k|^{2s}``, which drops the mean.
    """
    weighted = torch.view_as_real(w_hat * _sqrt_weight(grid, s, alpha, seminorm))
    return torch.linalg.vector_norm(weighted, dim=(-3, -2, -1))


def sobolev_norm(
    w: torch.Tensor,
    grid: SpectralGrid,
    s: float = 0.0,
    alpha: float = 1.0,
    seminorm: bool = False,
) -> torch.Tensor:
    """H^s norm of real fields ``(..., n, n)`` on ``grid``'s box, shape ``w.shape[:-2]``.

    ``‖w‖_{H^s} = (L^2 Σ_k (α + |k|^2)^s |ŵ_k|^2)^{1/2}``; ``s = 0`` is ``(∫|w|^2 dx)^{1/2}``.
    See :func:`sobolev_norm_hat` for the parameters.
    """
    w = _check_fields(w, grid, 2, "field")
    return sobolev_norm_hat(grid.rfft(w), grid, s, alpha, seminorm)


def bochner_norm(
    traj: torch.Tensor,
    grid: SpectralGrid,
    s: float = 0.0,
    alpha: float = 1.0,
    dt: float = 1.0,
) -> torch.Tensor:
    """L2(0, T; H^s) norm of trajectories ``(..., T, n, n)``, shape ``traj.shape[:-3]``.

    ``(∫ ‖w(t)‖_{H^s}^2 dt)^{1/2}`` over frames spaced ``dt``, the integral by the
    trapezoidal rule ``Σ_j c_j ‖w(t_j)‖_{H^s}^2`` with ``c = dt (1/2, 1, ..., 1, 1/2)``;
    ``T >= 2``.
    """
    traj = _check_fields(traj, grid, 3, "trajectory")
    per_frame = sobolev_norm(traj, grid, s, alpha)
    weights = _trapezoid_weights(traj.shape[-3], dt, per_frame)
    return torch.linalg.vector_norm(per_frame * weights, dim=-1)


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.shape != target.shape:
        raise SpectralRefinerError(
            f"prediction has shape {tuple(pred.shape)} but target has {tuple(target.shape)}; "
            "pass tensors of the same shape"
        )


def relative_sobolev_error(
    pred: torch.Tensor,
    target: torch.Tensor,
    grid: SpectralGrid,
    s: float = 0.0,
    alpha: float = 1.0,
) -> torch.Tensor:
    """``‖pred - target‖_{H^s} / ‖target‖_{H^s}`` per field, shape ``pred.shape[:-2]``."""
    _check_pair(pred, target)
    return sobolev_norm(pred - target, grid, s, alpha) / sobolev_norm(target, grid, s, alpha)


def relative_bochner_error(
    pred: torch.Tensor,
    target: torch.Tensor,
    grid: SpectralGrid,
    s: float = 0.0,
    alpha: float = 1.0,
) -> torch.Tensor:
    """``‖pred - target‖_{L2(0,T;H^s)} / ‖target‖_{L2(0,T;H^s)}`` per trajectory.

    Trajectories ``(..., T, n, n)``, ``T >= 2``; result of shape ``pred.shape[:-3]``. The
    frame spacing cancels in the ratio of two trapezoidal sums, so it is not an argument.
    """
    _check_pair(pred, target)
    return bochner_norm(pred - target, grid, s, alpha) / bochner_norm(target, grid, s, alpha)
