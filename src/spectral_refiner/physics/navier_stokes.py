"""2-D incompressible Navier–Stokes in vorticity form, split for IMEX time stepping."""

from __future__ import annotations

import torch

from ..errors import SpectralRefinerError
from .grid import SpectralGrid

__all__ = ["NavierStokes2D"]


class NavierStokes2D:
    r"""Vorticity equation on a periodic box, in Fourier space.

    .. math::

        \partial_t \omega + u\cdot\nabla\omega = \nu\Delta\omega - \mu\,\omega + f,
        \qquad u = (\partial_y\psi, -\partial_x\psi),\quad -\Delta\psi = \omega,

    split as ``dω̂/dt = N(ω̂) + L ω̂`` with

    * explicit terms ``N(ω̂) = -P·FFT(u ∂xω + v ∂yω) + f̂`` (advection, dealiased by the 2/3
      rule ``P`` applied to the inputs and to the product, plus the forcing), and
    * implicit terms ``L ω̂ = -(ν|k|^2 + μ) ω̂``, diagonal, so that the implicit solve
      ``(1 - τL)^{-1} ŷ`` is a division.

    One evaluation of the explicit terms costs 5 real FFTs: one batched inverse transform of
    ``(u, v, ∂xω, ∂yω)`` and one forward transform of the product. The forcing is
    transformed once, here.

    Parameters
    ----------
    grid : SpectralGrid
        Resolution, box length, dtype and device.
    viscosity : float
        Kinematic viscosity ν >= 0.
    drag : float
        Linear drag coefficient μ >= 0.
    forcing : Tensor, optional
        Time-independent vorticity forcing ``f`` on the grid, shape ``(n, n)``.
    """

    def __init__(
        self,
        grid: SpectralGrid,
        viscosity: float,
        drag: float = 0.0,
        forcing: torch.Tensor | None = None,
    ) -> None:
        if not viscosity >= 0:
            raise SpectralRefinerError(
                f"viscosity must be >= 0, got {viscosity}; use a positive value such as 1e-3"
            )
        if not drag >= 0:
            raise SpectralRefinerError(f"drag must be >= 0, got {drag}")
        self.grid = grid
        self.viscosity = float(viscosity)
        self.drag = float(drag)
        self.linear = -(self.viscosity * grid.k2 + self.drag)
        psi = grid.inv_k2.to(grid.cdtype)
        mult = torch.stack((grid.iky * psi, -grid.ikx * psi, grid.ikx.expand_as(psi),
                            grid.iky.expand_as(psi)))
        self._to_physical = (mult * grid.dealias).contiguous()
        self._minus_dealias = (-grid.dealias).to(grid.cdtype)
        if forcing is not None:
            if forcing.shape[-2:] != (grid.n, grid.n):
                raise SpectralRefinerError(
                    f"forcing has shape {tuple(forcing.shape)}, expected ({grid.n}, {grid.n})"
                )
            forcing = forcing.to(device=grid.device, dtype=grid.dtype)
            self.forcing_hat = grid.rfft(forcing)
        else:
            self.forcing_hat = None
        self._solve_cache: dict[float, torch.Tensor] = {}

    # ---------------------------------------------------------------- IMEX protocol
    def explicit_terms(self, w_hat: torch.Tensor) -> torch.Tensor:
        """``N(ω̂) = -P·FFT(u·∇ω) + f̂`` for coefficients ``(..., n, n//2+1)``."""
        fields = self.grid.irfft(w_hat.unsqueeze(-3) * self._to_physical)
        u, v, wx, wy = fields.unbind(-3)
        advection = self.grid.rfft(torch.addcmul(u * wx, v, wy))
        out = advection.mul_(self._minus_dealias)
        if self.forcing_hat is not None:
            out.add_(self.forcing_hat)
        return out

    def implicit_terms(self, w_hat: torch.Tensor) -> torch.Tensor:
        """``L ω̂ = -(ν|k|^2 + μ) ω̂``."""
        return w_hat * self.linear

    def implicit_solve(self, y_hat: torch.Tensor, tau: float | torch.Tensor) -> torch.Tensor:
        """Solve ``(1 - τL) ω̂ = ŷ``; ``τ`` a float or a per-trajectory tensor ``(B, 1, 1)``."""
        if isinstance(tau, torch.Tensor):
            return y_hat / (1 - tau * self.linear)
        inv = self._solve_cache.get(tau)
        if inv is None:
            if len(self._solve_cache) > 64:
                self._solve_cache.clear()
            inv = self._solve_cache[tau] = 1 / (1 - tau * self.linear)
        return y_hat * inv

    # ---------------------------------------------------------------- diagnostics
    def max_speed(self, w_hat: torch.Tensor) -> torch.Tensor:
        """``max_x (|u| + |v|)`` per field, shape ``w_hat.shape[:-2]``."""
        u, v = self.grid.velocity(w_hat)
        return (u.abs() + v.abs()).amax(dim=(-2, -1))

    def courant_number(self, w_hat: torch.Tensor, dt: float | torch.Tensor) -> torch.Tensor:
        """CFL number ``dt · max(|u| + |v|) / dx`` per field."""
        return self.max_speed(w_hat) * dt / self.grid.dx
