"""2-D incompressible Navier–Stokes in vorticity form, split for IMEX time stepping."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import torch

from ..errors import SpectralRefinerError
from .grid import SpectralGrid

if TYPE_CHECKING:
    from .closures import Closure

__all__ = ["NavierStokes2D"]


class NavierStokes2D:
    r"""Vorticity equation on a periodic box, in Fourier space.

    .. math::

        \partial_t \omega + u\cdot\nabla\omega = \nu\Delta\omega - \mu\,\omega + f,
        \qquad u = (\partial_y\psi, -\partial_x\psi),\quad -\Delta\psi = \omega,

    split as ``dω̂/dt = N(ω̂) + L ω̂`` with

    * explicit terms ``N(ω̂) = -P·FFT(u·∇ω) + f̂``: advection, dealiased by the 2/3 rule ``P``
      (keep ``max(|m_x|, |m_y|) <= n // 3``) applied to the velocity and to the product, plus
      the forcing; and
    * implicit terms ``L ω̂ = -(ν|k|^2 + μ) ω̂``, diagonal (:attr:`linear`), so that the
      implicit solve ``(1 - τL)^{-1} ŷ`` is a division.

    The advection is evaluated in Basdevant's form: for a divergence-free ``u``,

    .. math::

        u\cdot\nabla\omega = \partial_x\partial_y (v^2 - u^2) + (\partial_x^2 - \partial_y^2)(uv),
        \quad\text{so}\quad
        \widehat{-u\cdot\nabla\omega} = k_x k_y\, \widehat{v^2 - u^2}
        + (k_x^2 - k_y^2)\, \widehat{uv}.

    With ``u`` band-limited to ``|m| <= K = n // 3`` the products hold ``|m| <= 2K`` and,
    when ``n > 3K`` (``n`` not a multiple of 3, e.g. a power of two), alias nothing onto the
    kept modes: this then equals the dealiased ``-P·FFT(u ∂xω + v ∂yω)`` up to round-off, at
    4 real transforms (inverse of ``u, v``; forward of ``v^2 - u^2, uv``) instead of 5. The
    transforms are pruned to the kept modes: the inverse runs along x only on the columns
    ``m_y <= K`` (the others are zero), the forward along x only on those columns (the others
    are discarded). The forcing is transformed once, here.

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
    closure : Closure, optional
        A subgrid closure (:mod:`.closures`): an object with ``term_hat(ŵ)`` (coefficients of
        ``ŵ``'s shape) and ``on_grid(n)``; its term is added to the explicit terms, so every
        stepper, :func:`~.simulate.simulate` and the residual use it.

    Attributes
    ----------
    linear : Tensor
        The diagonal of ``L``, ``-(ν|k|^2 + μ)``, real, shape ``(n, n // 2 + 1)``.
    forcing_hat : Tensor or None
        ``f̂``, shape ``(n, n // 2 + 1)``.
    """

    def __init__(
        self,
        grid: SpectralGrid,
        viscosity: float,
        drag: float = 0.0,
        forcing: torch.Tensor | None = None,
        closure: Closure | None = None,
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
        self.closure = closure
        # Spectral arrays are stored m_y-major (memory (m_y, m_x), shape still (n, n // 2 + 1)):
        # the x transforms then run along the contiguous axis (see explicit_terms).
        self.linear = _ky_major(-(self.viscosity * grid.k2 + self.drag))
        # Kept columns m_y <= n // 3; the kept rows |m_x| <= n // 3 are selected by zeros in the
        # weights (the x transforms need all n rows anyway).
        self._cols = grid.n // 3 + 1
        rows = grid.dealias[:, :1]
        ky, iky = grid.ky[:, : self._cols], grid.iky[:, : self._cols]
        psi = (grid.inv_k2[:, : self._cols] * rows).to(grid.cdtype)
        # (u, v) = (i k_y ψ̂, -i k_x ψ̂) on the kept columns, as (2, m_y, m_x).
        velocity = torch.stack((iky * psi, -grid.ikx * psi))
        self._velocity = velocity.transpose(-1, -2).contiguous()
        # N̂ = k_x k_y FFT(v² - u²) + (k_x² - k_y²) FFT(uv) on the kept columns, as
        # (2, m_y, m_x, 2): each real weight repeated for the (re, im) pair of a coefficient.
        weights = (torch.stack((grid.kx * ky, grid.kx**2 - ky**2)) * rows).transpose(-1, -2)
        self._advection = tuple(weights.unsqueeze(-1).expand(-1, -1, -1, 2).contiguous())
        if forcing is not None:
            if forcing.shape[-2:] != (grid.n, grid.n):
                raise SpectralRefinerError(
                    f"forcing has shape {tuple(forcing.shape)}, expected ({grid.n}, {grid.n})"
                )
            forcing = forcing.to(device=grid.device, dtype=grid.dtype)
            self.forcing_hat = _ky_major(grid.rfft(forcing))
        else:
            self.forcing_hat = None
        self._work: tuple[tuple, tuple] | None = None
        self._block_sizes: dict[int, list[int]] = {}

    # ---------------------------------------------------------------- IMEX protocol
    def explicit_terms(self, w_hat: torch.Tensor) -> torch.Tensor:
        """``N(ω̂) = -P·FFT(u·∇ω) + f̂`` (plus the closure's term) for ``(..., n, n//2+1)``.

        Returns a new tensor (callers may update it in place), stored m_y-major like
        :attr:`linear`; ``w_hat`` is read fastest when it is stored that way too. The batch is
        evaluated in the blocks of :meth:`block_sizes`, whose work space fits the core's
        L2 cache (a batch of 8 at 256² ran 2× slower per field as one block); every field is
        transformed with the same code path whatever its block, so trajectory ``i`` does not
        depend on its batch. Without autograd the intermediate fields live in buffers kept
        between calls (:meth:`_buffers`), so a call allocates only what it returns and what
        the FFT library allocates; with autograd each block's terms are a new tensor and the
        blocks are concatenated.
        """
        n, m = self.grid.n, self.grid.n // 2 + 1
        batch = w_hat.shape[:-2]
        flat = w_hat if w_hat.dim() == 3 else w_hat.reshape(-1, n, m)
        sizes = self.block_sizes(flat.shape[0])
        if torch.is_grad_enabled() and w_hat.requires_grad and len(sizes) > 1:
            out = torch.cat(
                [self._block_terms(b, b.new_empty((len(b), m, n))) for b in flat.split(sizes)]
            )
        else:
            out = flat.new_empty((flat.shape[0], m, n))
            if len(sizes) == 1:
                self._block_terms(flat, out)
            else:
                for b, o in zip(flat.split(sizes), out.split(sizes), strict=True):
                    self._block_terms(b, o)
        out = (out if w_hat.dim() == 3 else out.view(*batch, m, n)).transpose(-1, -2)
        if self.closure is not None:
            out = out + self.closure.term_hat(w_hat)
        return out

    def block_fields(self) -> int:
        """Fields per block of :meth:`explicit_terms`: as many as fit twice the L2 cache.

        A field's work space is its padded velocity spectra (``2 n (n/2+1)`` complex) and its
        two products (``2 n²`` real); at least one field per block. Twice the L2 (1 MiB here):
        at 256² (1.05 MB a field) a batch of 8 ran 2× faster per field in blocks of 1 or 2
        than as one block; at 128² (0.26 MB) a batch of 8 about 1.9× faster in blocks of 4,
        while a batch of 4 ran 15-20% slower split 2 + 2 than whole.
        """
        n, item = self.grid.n, torch.finfo(self.grid.dtype).bits // 8
        per_field = 2 * n * (n // 2 + 1) * 2 * item + 2 * n * n * item
        return max(1, 2 * _l2_cache_bytes() // per_field)

    def block_sizes(self, fields: int) -> list[int]:
        """Sizes of the blocks :meth:`explicit_terms` splits ``fields`` fields into: as few as
        hold at most :meth:`block_fields` each, as equal as can be (7 at 3 a block: 3, 2, 2)."""
        sizes = self._block_sizes.get(fields)
        if sizes is None:
            count = -(-fields // self.block_fields())
            sizes = [fields // count + (i < fields % count) for i in range(count)]
            self._block_sizes[fields] = sizes
        return sizes

    def _block_terms(self, w_hat: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """Advection (and forcing) of a block ``(b, n, n//2+1)`` into ``out`` ``(b, m_y, m_x)``.

        Inverse transform of ``(u, v)``: along x on the kept columns (m_y-major, so along the
        last axis), then along y, the columns beyond being zeros of the padded buffer. Forward
        transform of ``v² - u²`` and ``uv`` (side by side, one call): along y, then along x on
        the kept columns only. Every transform runs along a contiguous last axis.
        """
        n, cols = self.grid.n, self._cols
        padded, products, staged = self._buffers(w_hat)
        spec = w_hat.transpose(-1, -2)[..., None, :cols, :] * self._velocity
        spec = torch.fft.ifft(spec, norm="forward")
        if staged is not None:  # rows 8 coefficients longer: see _buffers
            spec = staged.copy_(spec)
        padded[..., :cols].copy_(spec.transpose(-1, -2))
        u, v = torch.fft.irfft(padded, n=n, norm="forward").unbind(-3)
        _product(v, v, products[..., 0, :, :]).addcmul_(u, u, value=-1)
        _product(u, v, products[..., 1, :, :])
        # N̂ = k_x k_y FFT(v² - u²) + (k_x² - k_y²) FFT(uv) + f̂, assembled m_y-major.
        spec = torch.fft.rfft(products, norm="forward")[..., :cols].transpose(-1, -2)
        spec = torch.view_as_real(torch.fft.fft(spec.contiguous(), norm="forward"))
        block = torch.view_as_real(out[..., :cols, :])
        if self.forcing_hat is None:
            out[..., cols:, :].zero_()
            _product(spec[..., 0, :, :, :], self._advection[0], block)
        else:  # f̂ first, then each product: the order of the additions is fixed
            out.copy_(self.forcing_hat.transpose(-1, -2))
            block.addcmul_(spec[..., 0, :, :, :], self._advection[0])
        block.addcmul_(spec[..., 1, :, :, :], self._advection[1])
        return out

    def _buffers(
        self, w_hat: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Work space of :meth:`_block_terms` for the block ``w_hat`` ``(b, n, n//2+1)``.

        ``padded``: ``(b, 2, n, n//2+1)`` complex, the columns ``m_y >= n//3+1`` zero;
        ``products``: ``(b, 2, n, n)`` real; ``staged``: ``(b, 2, n//3+1, n)`` complex rows
        stored ``n + 8`` apart, or None. The transposing copy into ``padded`` reads its
        source down columns; when a row spans a multiple of 2 KiB (``n >= 256``, a power of
        two) those reads fall on few cache sets and the copy ran 2.5-4x slower than a plain
        copy into ``staged`` followed by the transposing copy from it. Kept between calls
        (for the largest block, dtype, device and inference mode seen last; a smaller block
        uses the leading fields) unless autograd records the call, which needs tensors it may
        keep; then made afresh.
        """
        n, rows = self.grid.n, len(w_hat)
        key = (w_hat.dtype, w_hat.device, torch.is_inference_mode_enabled())
        if torch.is_grad_enabled() and w_hat.requires_grad:
            key = None
        elif self._work is not None and self._work[0] == key and len(self._work[1][0]) >= rows:
            work = self._work[1]
            if len(work[0]) == rows:
                return work
            return tuple(None if b is None else b[:rows] for b in work)
        padded = w_hat.new_zeros((rows, 2, n, n // 2 + 1))
        products = w_hat.real.new_empty((rows, 2, n, n))
        staged = None
        if n >= 256 and n * w_hat.element_size() % 2048 == 0:
            staged = w_hat.new_empty((rows, 2, self._cols, n + 8))[..., :n]
        if key is not None:
            self._work = (key, (padded, products, staged))
        return padded, products, staged

    def implicit_terms(self, w_hat: torch.Tensor) -> torch.Tensor:
        """``L ω̂ = -(ν|k|^2 + μ) ω̂``."""
        return w_hat * self.linear

    def implicit_solve(self, y_hat: torch.Tensor, tau: float | torch.Tensor) -> torch.Tensor:
        """Solve ``(1 - τL) ω̂ = ŷ``; ``τ`` a float or a per-trajectory tensor ``(B, 1, 1)``."""
        return y_hat / (1 - tau * self.linear)

    def on_grid(self, n: int) -> NavierStokes2D:
        """The same equation (viscosity, drag, forcing resampled spectrally, closure moved with
        its filter width) on ``n`` points."""
        if n == self.grid.n:
            return self
        grid = self.grid.with_resolution(n)
        forcing = None
        if self.forcing_hat is not None:
            forcing = grid.irfft(self.grid.resample_hat(self.forcing_hat, n))
        closure = None if self.closure is None else self.closure.on_grid(n)
        return NavierStokes2D(grid, self.viscosity, self.drag, forcing, closure)

    # ---------------------------------------------------------------- diagnostics
    def max_speed(self, w_hat: torch.Tensor) -> torch.Tensor:
        """``max_x (|u| + |v|)`` per field, shape ``w_hat.shape[:-2]``."""
        u, v = self.grid.velocity(w_hat)
        return (u.abs() + v.abs()).amax(dim=(-2, -1))

    def courant_number(self, w_hat: torch.Tensor, dt: float | torch.Tensor) -> torch.Tensor:
        """CFL number ``dt · max(|u| + |v|) / dx`` per field."""
        return self.max_speed(w_hat) * dt / self.grid.dx


def _product(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``out ← a * b`` in one pass, or through a temporary where autograd records ``a``."""
    if torch.is_grad_enabled() and a.requires_grad:
        return out.copy_(a * b)
    return torch.mul(a, b, out=out)


@functools.cache
def _l2_cache_bytes() -> int:
    """Size of this machine's per-core L2 cache (Linux sysfs), or 1 MiB where it is unknown."""
    try:
        with open("/sys/devices/system/cpu/cpu0/cache/index2/size") as f:
            text = f.read().strip()
        scale = {"K": 1024, "M": 1024**2}.get(text[-1:].upper(), 1)
        return int(text.rstrip("KkMm")) * scale
    except (OSError, ValueError):
        return 1024**2


def _ky_major(a: torch.Tensor) -> torch.Tensor:
    """``a`` (shape ``(..., n, m)``) with its last two axes swapped in memory, same values."""
    return a.transpose(-1, -2).contiguous().transpose(-1, -2)
