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

The classical a-priori yardstick needs no training: the nonlinear gradient (Clark) model, the
leading term of the Taylor expansion of the vorticity flux ``F(uω) - ūω̄`` for a filter of
width ``Δ``,

.. math::

    \tau \approx \tau_{\rm NGM} = C\,\Delta^2\, F\,\nabla\cdot\big(\partial_k\bar u\,
    \partial_k\bar\omega\big) = C\,\Delta^2\, F\big(\partial_k\bar u_j\,
    \partial_j\partial_k\bar\omega\big)

(summed over ``j, k``; ``∇·ū = 0``), ``Δ = L/n`` the stored grid spacing and ``C`` a
coefficient (``1/12`` for a Gaussian filter; for the sharp cutoff it is fitted:
:func:`gradient_model_hat` returns the term at ``C = 1``). Formed alias-free on the band
on the ``3n/2`` grid like ``F(ū·∇ω̄)``.

With a sharp cutoff ``τ`` lives at the band's edge (on 256² Kolmogorov flow stored at 64²,
87% of its energy on the last two shells ``max(|m_x|, |m_y|) = n/2 - 2, n/2 - 1``): it is
the resolved field exchanging with the first unresolved modes. Those modes are fed by the
part of the resolved advection beyond the band, which the stored field determines; the
*resolved transfer* terms of :func:`resolved_transfer_hat` follow that chain,

.. math::

    A = \bar u\cdot\nabla\bar\omega,\quad P = (1 - F)A,\quad
    T_1 = F\big(\bar u\cdot\nabla P + u_P\cdot\nabla\bar\omega\big),\quad
    Q = (1 - F)(\bar u\cdot\nabla P),\quad T_2 = F(\bar u\cdot\nabla Q),

(``u_P`` the velocity of ``P``): ``P`` stands for the unresolved vorticity the resolved
scales make (``ω' ≈ -θ P`` over a memory time ``θ``), ``T_1`` for the first-order subgrid
term it gives, ``T_2`` for the next term of the sweeping series. Each is exact (no alias on
the band) on a ``5n/2`` grid (:func:`resolved_transfer_hat`), and each is translation- and
rotation/reflection-equivariant as ``τ`` is.
"""

from __future__ import annotations

import functools
import math

import torch

from ..errors import SpectralRefinerError
from .grid import SpectralGrid, irfft2
from .navier_stokes import NavierStokes2D, _ky_major

__all__ = [
    "gradient_model_hat",
    "resolved_transfer_hat",
    "subgrid_term",
    "subgrid_term_hat",
    "transfer_fields",
    "transfer_grid",
]


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


def gradient_model_hat(w_hat: torch.Tensor, grid: SpectralGrid) -> torch.Tensor:
    """The nonlinear gradient model ``τ_NGM`` at ``C = 1`` (module docstring).

    Parameters
    ----------
    w_hat : Tensor
        Coefficients ``(..., n, n // 2 + 1)`` of band-limited fields on ``grid``.
    grid : SpectralGrid
        The stored grid (``Δ = grid.dx``).

    Returns
    -------
    Tensor
        ``Δ² F(∂_k ū_j ∂_j ∂_k ω̄)`` as coefficients on ``grid``, zero mean, zero outside
        the band ``|m| < n/2``.
    """
    n = grid.n
    padded = grid.with_resolution(2 * ((3 * n + 3) // 4))
    psi = grid.stream_function(w_hat)
    velocity = (psi * grid.iky, -psi * grid.ikx)
    axes = ((1, 0), (0, 1))
    product = 0
    for u_j, a_j in zip(velocity, axes, strict=True):
        for a_k in axes:
            du = grid.derivative(u_j, a_k)
            ddw = grid.derivative(w_hat, (a_j[0] + a_k[0], a_j[1] + a_k[1]))
            pair = torch.stack((du, ddw), dim=-3)
            fields = padded.irfft(grid.resample_hat(pair, padded.n))
            product = product + fields[..., 0, :, :] * fields[..., 1, :, :]
    out = padded.resample_hat(padded.rfft(product), n) * grid.dx**2
    out[..., 0, 0] = 0
    return out


@functools.lru_cache(maxsize=8)
def _transfer_grid(n: int, length: float, dtype: torch.dtype, device: str) -> SpectralGrid:
    """The ``N``-point grid of :func:`resolved_transfer_hat`, ``N = 5n/2`` rounded up to even
    (``>= 5n/2 - 4``, below which it would alias onto what it keeps; see its docstring),
    built once per stored grid."""
    return SpectralGrid(2 * ((5 * n + 3) // 4), length, dtype, device)


def resolved_transfer_hat(w_hat: torch.Tensor, grid: SpectralGrid) -> torch.Tensor:
    """The resolved transfer terms ``F A, T_1, T_2`` of the module docstring.

    Formed on one ``N = 5n/2`` grid (rounded up to even) in 14 transforms, exactly: band
    fields hold ``|m| <= n/2 - 1`` per direction, so ``A`` (``|m| <= n - 2``) is alias-free
    on any ``N >= 2n - 3``; ``ū·∇P`` reaches ``3n/2 - 3`` and is needed on ``|m| <= n - 2``
    (the modes of ``Q`` that ``ū`` carries into the band), which its aliases miss when
    ``N > 5n/2 - 5``; the remaining products are needed on the band only (``N >= 2n - 3``).

    Parameters
    ----------
    w_hat : Tensor
        Coefficients ``(..., n, n // 2 + 1)`` on ``grid``; modes ``|m| >= n/2`` are ignored.
    grid : SpectralGrid
        The stored grid.

    Returns
    -------
    Tensor
        ``(..., 3, n, n // 2 + 1)``: ``F(ū·∇ω̄)``, ``T_1``, ``T_2`` on ``grid``.
    """
    return transfer_fields(w_hat, grid)[0]


def transfer_fields(
    w_hat: torch.Tensor, grid: SpectralGrid
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`resolved_transfer_hat` and what it forms on the way, for closures that go on
    from there (:mod:`.memory`).

    Returns
    -------
    tuple of Tensor
        The terms ``(..., 3, n, n // 2 + 1)`` of :func:`resolved_transfer_hat`; the fields
        ``(ū, v̄, ∂xω̄, ∂yω̄)`` on the ``N`` grid, ``(..., 4, N, N)``; and ``P = (1 - F)A``,
        the resolved advection on the ring ``n/2 <= max(|m_x|, |m_y|) <= n - 2`` beyond the
        band, as coefficients ``(..., N, N // 2 + 1)`` on the ``N`` grid
        (:func:`transfer_grid`).
    """
    n = grid.n
    big = transfer_grid(grid)
    mx, my = big.mx.abs(), big.my
    band = ((mx < n // 2) & (my < n // 2)).to(big.dtype)
    beyond = ((mx < n - 1) & (my < n - 1)).to(big.dtype) - band

    def fields(a_hat: torch.Tensor, velocity: bool = True) -> torch.Tensor:
        return _fields(big, a_hat, velocity)

    w = fields(grid.resample_hat(w_hat, big.n))
    advection = big.rfft(_dot(w[..., :2, :, :], w[..., 2:, :, :]))
    ring = advection * beyond
    p = fields(ring)
    products = torch.stack(
        (_dot(w[..., :2, :, :], p[..., 2:, :, :]), _dot(p[..., :2, :, :], w[..., 2:, :, :])),
        dim=-3,
    )
    swept, cross = big.rfft(products).unbind(dim=-3)
    q = fields(swept * beyond, velocity=False)
    second = big.rfft(_dot(w[..., :2, :, :], q))
    terms = torch.stack((advection, swept + cross, second), dim=-3)
    return big.resample_hat(terms, n), w, ring


def _fields(big: SpectralGrid, a_hat: torch.Tensor, velocity: bool = True) -> torch.Tensor:
    """``(u, v, ∂x a, ∂y a)`` of ``a`` (or only the gradient) on the grid ``big``."""
    grad = (big.derivative(a_hat, (1, 0)), big.derivative(a_hat, (0, 1)))
    if not velocity:
        return big.irfft(torch.stack(grad, dim=-3))
    psi = big.stream_function(a_hat)
    return big.irfft(torch.stack((psi * big.iky, -psi * big.ikx, *grad), dim=-3))


def _dot(u: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """``u·g`` of vector fields stacked on the axis -3."""
    return (u * g).sum(dim=-3)


def transfer_grid(grid: SpectralGrid) -> SpectralGrid:
    """The ``N``-point grid of :func:`resolved_transfer_hat` for the stored ``grid``."""
    return _transfer_grid(grid.n, grid.length, grid.dtype, str(grid.device))


def subgrid_term(
    w_fine: torch.Tensor, resolution: int, length: float = 2 * math.pi
) -> torch.Tensor:
    """``τ`` as real fields ``(..., n, n)`` on the stored grid; see :func:`subgrid_term_hat`."""
    return irfft2(subgrid_term_hat(w_fine, resolution, length), resolution)
