r"""Window-aware inputs of a learned closure: the resolved transfer of earlier frames and the
memory of the unresolved ring.

The unresolved modes a stored band exchanges with are those the resolved advection feeds:
the ring ``n/2 <= max(|m_x|, |m_y|) <= n - 2`` beyond the band, where
``P = (1 - F)(ū·∇ω̄)`` lives (:func:`~.subgrid.transfer_fields`). Linearised about the
resolved flow, the ring's vorticity ``ω_r`` is driven by the resolved transfer, swept by the
resolved flow and damped by viscosity and drag,

.. math::

    \partial_t\hat\omega_r = L\hat\omega_r + \hat s
      - R\big(\bar u\cdot\nabla\omega_r + u_r\cdot\nabla\bar\omega\big)^\wedge,
    \qquad s = -P,\qquad L = -(\nu|k|^2 + \mu),

(``R`` the restriction to the ring). Over a window of frames ``t_j = jΔt``, started at zero
``H`` frames back (``ω_r(t_{j-H}) = 0``, the memory ``H``), with ``s`` and the resolved
fields linear in time between frames, it is integrated by ETD2RK in a few substeps per
interval. Without the sweep the scheme is exact; per interval, ``z = LΔt``,

.. math::

    \hat\omega_r(t_{j+1}) = e^{z}\hat\omega_r(t_j)
    + \Delta t\big[(\varphi_1(z) - \varphi_2(z))\,\hat s_j + \varphi_2(z)\,\hat s_{j+1}\big],
    \qquad \varphi_1(z) = \frac{e^z - 1}{z},\ \varphi_2(z) = \frac{e^z - 1 - z}{z^2}

(:func:`ring_memory`). The ring's back-transfer into the band, the first-order subgrid term
it makes,

.. math::

    M = F\big(u_r\cdot\nabla\bar\omega + \bar u\cdot\nabla\omega_r\big),

is formed on the transfer grid ``N = 5n/2`` (:func:`~.subgrid.transfer_grid`), alias-free on
the band: ``ω_r`` holds ``|m| <= n - 2``, its products with band fields ``|m| <= 3n/2 - 3``,
whose aliases miss the band when ``N > 2n - 4``; the sweep's products are needed on the
ring ``|m| <= n - 2``, which their aliases miss when ``N > 5n/2 - 5``.

Why the sweep: at 256² → 64² Kolmogorov flow the resolved flow carries a ring mode by about a
radian per frame, so an unswept ring decorrelates from ``τ`` within a frame or two (held-out
correlation of the memory alone 0.834 at ``H = 4``, 0.783 at ``H = 16``); swept, 0.917 at
``H = 4``.

A frame's window reaches only as far back as the window's first frame: lags and the memory
are clamped there (:func:`window_transfer_hat`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ..errors import SpectralRefinerError
from .grid import SpectralGrid
from .subgrid import _dot, _fields, transfer_fields, transfer_grid

__all__ = ["ring_memory", "unresolved_memory_hat", "window_transfer_hat"]

#: Below this ``|z|`` the ``φ`` functions are taken from their series (no cancellation).
_SERIES = 1e-6


def _phi(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``φ_1(z)``, ``φ_2(z)`` of the module docstring, float64."""
    small = z.abs() < _SERIES
    safe = torch.where(small, torch.ones_like(z), z)
    phi1 = torch.where(small, 1 + z / 2, torch.expm1(safe) / safe)
    phi2 = torch.where(small, 0.5 + z / 6, (torch.expm1(safe) - safe) / safe**2)
    return phi1, phi2


def ring_memory(
    source: torch.Tensor,
    linear: torch.Tensor,
    dt: float,
    memory: int,
    sweep: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float], torch.Tensor] | None = None,
    substeps: int = 1,
) -> torch.Tensor:
    """``ω̂_r`` of the module docstring at every frame of a window.

    Parameters
    ----------
    source : Tensor
        ``ŝ`` at the frames, ``(B, T, *modes)``, complex.
    linear : Tensor
        ``L`` per mode, ``modes`` (real, ``<= 0``).
    dt : float
        Time between frames.
    memory : int
        ``H >= 1``: frame ``j`` integrates from zero at frame ``max(j - H, 0)``.
    sweep : callable, optional
        ``sweep(ω̂_r, lo, hi, θ)``: the ring's own linear terms ``-R(ū·∇ω_r + u_r·∇ω̄)`` at
        the resolved fields interpolated between frames ``lo`` and ``hi`` (index tensors
        ``(T,)``) with weight ``θ``; ``None``: none (the ring only decays).
    substeps : int
        ETD2RK steps per frame interval.

    Returns
    -------
    Tensor
        ``(B, T, *modes)``. Every step is the exponential Runge–Kutta scheme ETD2RK (Cox &
        Matthews 2002) of ``∂tω̂ = Lω̂ + N(ω̂, t)``, ``N = ŝ + sweep``, ``s`` linear in time
        between frames: ``a = e^{z}ω̂ + hφ_1 N_0``, ``ω̂ ← a + hφ_2 (N(a) - N_0)``,
        ``z = Lh``; without ``sweep`` it is exact.
    """
    if memory < 1 or substeps < 1:
        raise SpectralRefinerError(
            f"the ring's memory and substeps must be >= 1, got {memory} and {substeps}"
        )
    h = dt / substeps
    z = linear.to(torch.float64) * h
    phi1, phi2 = _phi(z)
    dtype = source.real.dtype
    decay, phi1, phi2 = (torch.exp(z).to(dtype), (h * phi1).to(dtype), (h * phi2).to(dtype))
    frames = source.shape[1]
    index = torch.arange(frames, device=source.device)
    ring = torch.zeros_like(source)
    for k in range(memory):
        first = index - memory + k  # the interval's first frame, for every target frame
        active = (first >= 0).reshape(1, -1, *([1] * (source.dim() - 2)))
        lo, hi = first.clamp_min(0), (first + 1).clamp_min(0)
        for step in range(substeps):
            t0, t1 = step / substeps, (step + 1) / substeps
            start = _rate(source, ring, (lo, hi, t0), sweep)
            a = decay * ring + phi1 * start
            change = _rate(source, a, (lo, hi, t1), sweep) - start
            ring = torch.where(active, a + phi2 * change, ring)
    return ring


def _rate(source: torch.Tensor, ring: torch.Tensor, at: tuple, sweep: Callable | None):
    """``N = ŝ + sweep`` at the fraction ``θ`` of the intervals from frames ``lo`` to ``hi``."""
    lo, hi, theta = at
    drive = source[:, lo] * (1 - theta) + source[:, hi] * theta
    return drive if sweep is None else drive + sweep(ring, lo, hi, theta)


def _ring_linear(big: SpectralGrid, viscosity: float, drag: float) -> torch.Tensor:
    return -(viscosity * big.k2.double() + drag)


def _exchange(big: SpectralGrid, band_fields: torch.Tensor, ring_hat: torch.Tensor) -> torch.Tensor:
    """``ū·∇ω_r + u_r·∇ω̄`` as coefficients on ``big`` from the band's
    ``(ū, v̄, ∂xω̄, ∂yω̄)`` there and ``ω̂_r``."""
    r = _fields(big, ring_hat)
    product = _dot(r[..., :2, :, :], band_fields[..., 2:, :, :]) + _dot(
        band_fields[..., :2, :, :], r[..., 2:, :, :]
    )
    return big.rfft(product)


def window_transfer_hat(
    w_hat: torch.Tensor,
    grid: SpectralGrid,
    lags: Sequence[int] = (),
    memory: int = 0,
    decay: tuple[float, float] = (0.0, 0.0),
    dt: float = 1.0,
    substeps: int = 4,
) -> torch.Tensor:
    """The resolved transfer ``F A, T_1, T_2`` of every frame of a window, of the frames
    ``lags`` earlier, and the ring's back-transfer ``M`` over ``memory`` frames.

    Parameters
    ----------
    w_hat : Tensor
        Coefficients ``(B, T, n, n // 2 + 1)`` of the window's frames on ``grid``.
    grid : SpectralGrid
        The stored grid.
    lags : sequence of int
        Frame lags ``>= 1``; frame ``j`` takes the terms of frame ``max(j - lag, 0)``.
    memory : int
        ``H``: the ring's memory in frames (0: no ``M``).
    decay : (float, float)
        ``(ν, μ)`` of the ring's ``L``.
    dt : float
        Time between frames.
    substeps : int
        ETD2RK steps of the ring per frame interval (:func:`ring_memory`), the ring swept
        by the resolved flow; 0: not swept, it only decays (integrated exactly).

    Returns
    -------
    Tensor
        ``(B, T, 3 + 3 len(lags) + [memory > 0], n, n // 2 + 1)``.
    """
    batch, frames = w_hat.shape[:2]
    terms, band_fields, ring = transfer_fields(w_hat.flatten(0, 1), grid)
    terms = terms.unflatten(0, (batch, frames))
    index = torch.arange(frames, device=w_hat.device)
    channels = [terms] + [terms[:, (index - lag).clamp_min(0)] for lag in lags]
    out = torch.cat(channels, dim=2)
    if memory:
        big, n = transfer_grid(grid), grid.n
        keep = ((big.mx.abs() < n - 1) & (big.my < n - 1)).to(big.dtype)
        keep = keep - ((big.mx.abs() < n // 2) & (big.my < n // 2)).to(big.dtype)
        fields = band_fields.unflatten(0, (batch, frames))

        def sweep(r: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, theta: float):
            between = fields[:, lo] * (1 - theta) + fields[:, hi] * theta
            return -_exchange(big, between, r) * keep

        source = -ring.unflatten(0, (batch, frames))
        linear = _ring_linear(big, *decay)
        swept = sweep if substeps else None
        ring = ring_memory(source, linear, dt, memory, swept, substeps or 1)
        m = big.resample_hat(_exchange(big, fields, ring), n)
        out = torch.cat((out, m.unsqueeze(2)), dim=2)
    return out


def unresolved_memory_hat(
    w_hat: torch.Tensor,
    grid: SpectralGrid,
    memory: int,
    decay: tuple[float, float],
    dt: float,
    substeps: int = 4,
) -> torch.Tensor:
    """``M`` (module docstring) of every frame of a window ``(B, T, n, n // 2 + 1)``, same
    shape; parameters as in :func:`window_transfer_hat`."""
    return window_transfer_hat(w_hat, grid, (), memory, decay, dt, substeps)[:, :, -1]
