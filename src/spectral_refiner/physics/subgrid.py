r"""The exact subgrid term of a filtered fine (DNS) vorticity field.

With ``F`` the spectral cutoff to the stored band ``|m_x|, |m_y| < n/2`` of an ``n`` grid
(what :meth:`SpectralGrid.resample_hat <.grid.SpectralGrid.resample_hat>` keeps, the one way
the project changes resolution), ``ω̄ = Fω`` and ``ū = Fu``, filtering the vorticity equation
of :class:`~.navier_stokes.NavierStokes2D` gives

.. math::

    \partial_t\bar\omega + F(\bar u\cdot\nabla\bar\omega)
    = \nu\Delta\bar\omega - \mu\bar\omega + \bar f - \tau,
    \qquad
    \tau = F(u\cdot\nabla\omega) - F(\bar u\cdot\nabla\bar\omega),

the sign convention of this module: ``τ`` is what the unresolved scales add to the resolved
advection, and ``-τ`` is the term the stored band misses. Both products are restricted to
the band (``F`` of ``ū·∇ω̄``), which is what the residual
(:func:`~.residual.ns_residual`) computes for stored frames; so a truncated DNS trajectory
has residual ``R ≈ Q[-τ]``, its interval average, up to time discretisation.

Evaluation, alias-free on the band:

* ``F(u·∇ω)`` is the fine solver's own advection (the explicit terms of the unforced,
  inviscid equation on the fine ``n_f`` grid, dealiased by its 2/3 rule), truncated. It is
  alias-free on ``|m| <= n_f/3``, which holds the band when ``n_f >= 3n/2`` (required), and
  it is exactly the advection the fine simulation was advanced with (its velocity from the
  modes ``|m| <= n_f/3``);
* ``F(ū·∇ω̄)`` is formed on the ``3n/2`` grid (rounded up to even) from ``ω̄`` zero-padded,
  as the residual does: band fields hold ``|m| <= n/2 - 1``, so their products alias
  nothing onto the band.

Consequently ``τ = 0`` exactly (to round-off) when the fine field has no mode beyond the band
(``ω = ω̄`` and both products agree on the band), whatever its content inside the band.
"""

from __future__ import annotations

import math

import torch

from ..errors import SpectralRefinerError
from .grid import SpectralGrid, irfft2
from .navier_stokes import NavierStokes2D, _ky_major

__all__ = ["subgrid_term", "subgrid_term_hat"]


def _advection_hat(w_hat: torch.Tensor, grid: SpectralGrid, n: int) -> torch.Tensor:
    """``-F(u·∇ω)`` on the ``n`` band from coefficients on ``grid``, dealiased there."""
    equation = NavierStokes2D(grid, 0.0)
    return grid.resample_hat(equation.explicit_terms(_ky_major(w_hat)), n)


def subgrid_term_hat(
    w_fine: torch.Tensor, resolution: int, length: float = 2 * math.pi
) -> torch.Tensor:
    """Fourier coefficients of ``τ = F(u·∇ω) - F(ū·∇ω̄)`` on the ``resolution`` grid.

    Parameters
    ----------
    w_fine : Tensor
        Fine vorticity fields ``(..., n_f, n_f)``, float32 or float64, any device.
    resolution : int
        The stored resolution ``n`` (even, ``3n/2 <= n_f``).
    length : float
        Box side ``L``.

    Returns
    -------
    Tensor
        ``(..., n, n // 2 + 1)``, complex, zero outside the band ``|m| < n/2`` (module
        docstring for the definition and sign).
    """
    n_fine, n = w_fine.shape[-1], int(resolution)
    if w_fine.dim() < 2 or w_fine.shape[-2] != n_fine:
        raise SpectralRefinerError(
            f"fine fields must be square (..., n, n), got shape {tuple(w_fine.shape)}"
        )
    if n != resolution or n < 4 or n % 2 or 2 * n_fine < 3 * n:
        raise SpectralRefinerError(
            f"stored resolution {resolution} must be an even integer >= 4 with 3n/2 <= "
            f"{n_fine} (the fine resolution); store the DNS at a coarser resolution"
        )
    dtype = w_fine.dtype if w_fine.dtype in (torch.float32, torch.float64) else torch.float32
    fine = SpectralGrid(n_fine, length, dtype, w_fine.device)
    coarse = fine.with_resolution(n)
    padded = fine.with_resolution(2 * ((3 * n + 3) // 4))
    w_hat = fine.rfft(w_fine.to(dtype))
    w_bar = coarse.resample_hat(fine.resample_hat(w_hat, n), padded.n)
    return _advection_hat(w_bar, padded, n) - _advection_hat(w_hat, fine, n)


def subgrid_term(
    w_fine: torch.Tensor, resolution: int, length: float = 2 * math.pi
) -> torch.Tensor:
    """``τ`` as real fields ``(..., n, n)`` on the stored grid; see :func:`subgrid_term_hat`."""
    return irfft2(subgrid_term_hat(w_fine, resolution, length), resolution)
