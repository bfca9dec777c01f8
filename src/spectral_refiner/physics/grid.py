"""Periodic spectral grid: physical wavenumbers, dealiasing, derivatives and resampling.

A field ``w`` on an ``n x n`` grid of the box ``[0, L)^2`` is stored as a tensor ``(..., x, y)``
with ``w[..., i, j] = w(x_i, y_j)``, ``x_i = i L / n``. Its Fourier coefficients are

    ŵ_k = (1 / n^2) Σ_{i,j} w_{ij} exp(-i (k_x x_i + k_y y_j)),     k = 2π m / L,  m ∈ Z^2,

the "forward" normalisation of ``torch.fft.rfft2``: ``ŵ_0`` is the mean of ``w`` and Parseval
reads ``mean(|w|^2) = Σ_k |ŵ_k|^2`` over the full spectrum. Only the half spectrum ``m_y >= 0``
is stored (shape ``(..., n, n // 2 + 1)``); :attr:`SpectralGrid.half_weight` restores the
full-spectrum sums.
"""

from __future__ import annotations

import math

import torch

from ..errors import SpectralRefinerError

__all__ = ["SpectralGrid", "irfft2", "resample"]


def irfft2(w_hat: torch.Tensor, n: int) -> torch.Tensor:
    """Inverse real FFT (forward normalisation) of ``(..., n, n//2+1)`` to ``(..., n, n)``.

    Batch-invariant: the CPU backend computes a lone complex-to-real transform with other
    roundings than a batch of them (while batches of any size >= 2 agree with each other),
    so a lone transform is done as a batch of two. A field thus gets the same bits whether
    it is transformed alone or inside a batch.
    """
    if w_hat.numel() == w_hat.shape[-1] * w_hat.shape[-2]:
        pair = torch.stack((w_hat, w_hat))
        return torch.fft.irfft2(pair, s=(n, n), norm="forward")[0]
    return torch.fft.irfft2(w_hat, s=(n, n), norm="forward")


def _complex_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64


class SpectralGrid:
    """An ``n x n`` periodic grid on a square box of side ``length``.

    Parameters
    ----------
    n : int
        Points per direction (even, at least 4).
    length : float
        Box side L; wavenumbers are physical, ``k = 2π m / L``.
    dtype : torch.dtype
        Real dtype of fields (float32 or float64); spectra use the matching complex dtype.
    device : torch.device or str
        Where every precomputed array lives.

    Attributes
    ----------
    kx, ky : Tensor
        Physical wavenumbers, shapes ``(n, 1)`` and ``(1, n // 2 + 1)``.
    k2 : Tensor
        ``|k|^2`` on the half spectrum, shape ``(n, n // 2 + 1)``.
    dealias : Tensor
        The 2/3-rule mask: 1 where ``max(|m_x|, |m_y|) <= n // 3``, else 0 (real dtype).
    half_weight : Tensor
        Weight of each stored coefficient in a full-spectrum sum: 1 for the columns
        ``m_y = 0`` and ``m_y = n / 2``, 2 for the others; shape ``(1, n // 2 + 1)``.
    """

    def __init__(
        self,
        n: int,
        length: float = 2 * math.pi,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        if int(n) != n or n < 4 or n % 2:
            raise SpectralRefinerError(
                f"grid resolution must be an even integer >= 4, got {n}; choose e.g. 64 or 256"
            )
        if not length > 0:
            raise SpectralRefinerError(f"box length must be positive, got {length}")
        if dtype not in (torch.float32, torch.float64):
            raise SpectralRefinerError(f"dtype must be float32 or float64, got {dtype}")
        self.n = int(n)
        self.length = float(length)
        self.dtype = dtype
        self.cdtype = _complex_dtype(dtype)
        self.device = torch.device(device)
        self.dx = self.length / self.n
        m = self.n // 2 + 1
        fac = 2 * math.pi / self.length
        mx = torch.fft.fftfreq(self.n, d=1.0 / self.n, dtype=torch.float64).round()
        my = torch.arange(m, dtype=torch.float64)
        self.mx = mx.to(self.device).reshape(-1, 1)
        self.my = my.to(self.device).reshape(1, -1)
        kw = {"dtype": dtype, "device": self.device}
        self.kx = (fac * mx).reshape(-1, 1).to(**kw)
        self.ky = (fac * my).reshape(1, -1).to(**kw)
        k2 = (fac**2) * (mx.reshape(-1, 1) ** 2 + my.reshape(1, -1) ** 2)
        self.k2 = k2.to(**kw)
        inv = torch.where(k2 > 0, 1.0 / torch.where(k2 > 0, k2, 1.0), 0.0)
        self.inv_k2 = inv.to(**kw)
        cut = self.n // 3
        mask = (mx.abs().reshape(-1, 1) <= cut) & (my.reshape(1, -1) <= cut)
        self.dealias = mask.to(**kw)
        weight = torch.full((1, m), 2.0, dtype=torch.float64)
        weight[0, 0] = 1.0
        weight[0, -1] = 1.0
        self.half_weight = weight.to(**kw)
        # Derivative multipliers i k with the Nyquist row/column zeroed (its derivative is
        # not representable as a real field).
        nyq_x = (mx.abs() == self.n // 2).reshape(-1, 1)
        nyq_y = (my == self.n // 2).reshape(1, -1)
        self.ikx = (
            (1j * fac * torch.where(nyq_x, 0.0, mx.reshape(-1, 1))).to(self.cdtype).to(self.device)
        )
        self.iky = (
            (1j * fac * torch.where(nyq_y, 0.0, my.reshape(1, -1))).to(self.cdtype).to(self.device)
        )

    def __repr__(self) -> str:
        return (
            f"SpectralGrid(n={self.n}, length={self.length:g}, dtype={self.dtype}, "
            f"device={self.device})"
        )

    # ------------------------------------------------------------------ transforms
    def rfft(self, w: torch.Tensor) -> torch.Tensor:
        """Fourier coefficients ``ŵ`` (forward normalisation) of real fields ``(..., n, n)``."""
        return torch.fft.rfft2(w, norm="forward")

    def irfft(self, w_hat: torch.Tensor, n: int | None = None) -> torch.Tensor:
        """Real fields ``(..., n, n)`` from half-spectrum coefficients ``(..., n, n//2+1)``.

        ``n`` defaults to the grid's resolution; pass another to synthesise coefficients
        already resampled with :meth:`resample_hat`.
        """
        return irfft2(w_hat, n or self.n)

    # ------------------------------------------------------------------ coordinates
    def mesh(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Coordinate arrays ``(X, Y)`` of shape ``(n, n)`` with ``X[i, j] = x_i``."""
        c = torch.arange(self.n, dtype=torch.float64) * self.dx
        X, Y = torch.meshgrid(c, c, indexing="ij")
        return X.to(self.dtype).to(self.device), Y.to(self.dtype).to(self.device)

    # ------------------------------------------------------------------ calculus
    def derivative(self, w_hat: torch.Tensor, order: tuple[int, int] = (1, 0)) -> torch.Tensor:
        """Spectral derivative ``∂x^a ∂y^b`` of ``ŵ``: multiplies by ``(i k_x)^a (i k_y)^b``."""
        a, b = order
        return w_hat * (self.ikx**a) * (self.iky**b)

    def laplacian(self, w_hat: torch.Tensor) -> torch.Tensor:
        """``Δw`` in Fourier space: ``-|k|^2 ŵ``."""
        return -self.k2 * w_hat

    def stream_function(self, w_hat: torch.Tensor) -> torch.Tensor:
        """Stream function ``ψ̂`` solving ``-Δψ = ω`` with zero mean: ``ψ̂ = ω̂ / |k|^2``."""
        return w_hat * self.inv_k2

    def velocity(self, w_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Velocity ``u = ∂ψ/∂y, v = -∂ψ/∂x`` (physical fields) from vorticity coefficients."""
        psi = self.stream_function(w_hat)
        uv = torch.stack((psi * self.iky, -psi * self.ikx), dim=-3)
        uv = self.irfft(uv)
        return uv[..., 0, :, :], uv[..., 1, :, :]

    # ------------------------------------------------------------------ resolution
    def resample_hat(self, w_hat: torch.Tensor, n_out: int) -> torch.Tensor:
        """Coefficients on an ``n_out`` grid: truncate (``n_out < n``) or zero-pad.

        Modes with ``|m| >= min(n, n_out) / 2`` in either direction are dropped (the Nyquist
        modes of the smaller grid are ambiguous for real data), so resampling down and back
        up is the identity on fields band-limited below that.
        """
        if n_out == self.n:
            return w_hat
        return _resample_hat(w_hat, self.n, n_out)

    def with_resolution(self, n: int) -> SpectralGrid:
        """The same box, dtype and device at resolution ``n``."""
        return SpectralGrid(n, self.length, self.dtype, self.device)


def _resample_hat(w_hat: torch.Tensor, n_in: int, n_out: int) -> torch.Tensor:
    keep = min(n_in, n_out) // 2  # modes |m| < keep survive in each direction
    out = w_hat.new_zeros((*w_hat.shape[:-2], n_out, n_out // 2 + 1))
    out[..., :keep, :keep] = w_hat[..., :keep, :keep]
    if keep > 1:
        out[..., n_out - keep + 1 :, :keep] = w_hat[..., n_in - keep + 1 :, :keep]
    return out


def resample(w: torch.Tensor, n_out: int) -> torch.Tensor:
    """Spectral resampling of real periodic fields ``(..., n, n)`` to ``(..., n_out, n_out)``.

    Truncates the Fourier series when coarsening and zero-pads it when refining; never
    interpolates. Values at grid points of a band-limited field are preserved exactly.
    """
    n_in = w.shape[-1]
    if w.shape[-2] != n_in:
        raise SpectralRefinerError(f"fields must be square, got shape {tuple(w.shape)}")
    if n_out == n_in:
        return w
    if n_out < 2 or n_out % 2:
        raise SpectralRefinerError(f"target resolution must be an even integer, got {n_out}")
    w_hat = torch.fft.rfft2(w, norm="forward")
    return irfft2(_resample_hat(w_hat, n_in, n_out), n_out)
