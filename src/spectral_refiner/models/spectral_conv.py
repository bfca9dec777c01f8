"""Spectral convolution over the last ``d`` dimensions, by truncated real DFTs as matrix products.

For a real input ``v`` with channels ``c`` on a grid of ``n_1 x ... x n_d`` points, the layer
computes

.. math::

    (\\mathcal{K} v)_o(x) = \\sum_{m \\in M} e^{2\\pi i\\, m\\cdot x'}
        \\sum_c W_{c o}(m)\\, \\hat v_c(m),
    \\qquad \\hat v_c(m) = \\frac{1}{n_1\\cdots n_d}\\sum_x v_c(x)\\, e^{-2\\pi i\\, m\\cdot x/n},

over the kept modes ``M = {|m_j| <= K_j for j < d, 0 <= m_d <= K_d}`` (the last dimension is
the real one: its negative frequencies are the conjugates), taking the real part of the sum
as a real inverse FFT does. The coefficients use the "forward" normalisation, so they do not
depend on the resolution: a band-limited field has the same ``v̂`` on every grid that resolves
it, which makes the layer resolution-invariant. The output may be evaluated on another number
of points along any dimension (``x'`` = the output grid, same period), which is how a window
of ``T_in`` frames is mapped to ``T_out`` frames.

Why matrix products and not FFTs: with few kept modes (``2K + 1 << n``) a truncated DFT is a
skinny GEMM, which both CPUs and GPUs run near peak, while an FFT computes every mode only to
throw most away. One dimension at a time: the real last axis multiplies by a real
``(n_d, 2(K_d + 1))`` matrix (cosines and sines, giving interleaved real and imaginary parts);
every other axis by a complex ``(2K_j + 1, n_j)`` matrix from the left. Coefficients are
kept mode-major, ``(modes, batch, channels)``, so the channel contraction is one batched
complex GEMM over the modes, with the weights stored as
``(K_d + 1, 2K_1 + 1, ..., 2K_{d-1} + 1, c_in, c_out)``. Weights keep the modes in increasing
order ``-K..K`` (``0..K`` on the last axis), so a grid coarser than ``K`` uses a centred
slice, and :meth:`SpectralConv.widen` pads the trained block with new modes. Nyquist modes
are never used (``K_j <= (n_j - 1) // 2``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import torch
from torch import nn

from ..errors import SpectralRefinerError

__all__ = ["SpectralConv"]


@lru_cache(maxsize=256)
def _forward_real(n: int, k: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``(n, 2(k+1))`` real matrix: ``v @ F`` = interleaved (re, im) of ``v̂_m``, ``m = 0..k``."""
    ang = 2 * math.pi * torch.outer(torch.arange(n), torch.arange(k + 1)).double() / n
    mat = torch.stack((torch.cos(ang), -torch.sin(ang)), dim=-1).reshape(n, 2 * (k + 1)) / n
    return mat.to(dtype=dtype, device=device)


@lru_cache(maxsize=256)
def _inverse_real(n: int, k: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``(2(k+1), n)`` real matrix: interleaved (re, im) of ``v̂_m``, ``m = 0..k`` -> real field.

    ``v(x) = Σ_m c_m (Re v̂_m cos(2π m x / n) - Im v̂_m sin(2π m x / n))``, ``c_0 = 1`` and
    ``c_m = 2`` (the conjugate modes): the real inverse FFT of a half spectrum.
    """
    ang = 2 * math.pi * torch.outer(torch.arange(k + 1), torch.arange(n)).double() / n
    c = torch.full((k + 1, 1), 2.0, dtype=torch.float64)
    c[0] = 1.0
    mat = torch.stack((c * torch.cos(ang), -c * torch.sin(ang)), dim=1).reshape(2 * (k + 1), n)
    return mat.to(dtype=dtype, device=device)


@lru_cache(maxsize=256)
def _dft_complex(
    n: int, k: int, inverse: bool, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """Complex DFT matrix on the modes ``m = -k..k``.

    Forward: ``(2k+1, n)`` with entries ``exp(-2πi m x / n) / n``. Inverse: ``(n, 2k+1)`` with
    ``exp(2πi m x / n)``. Both multiply from the left along the transformed axis.
    """
    m = torch.arange(-k, k + 1, dtype=torch.float64)
    ang = 2 * math.pi * torch.outer(m, torch.arange(n, dtype=torch.float64)) / n
    mat = (
        torch.polar(torch.ones_like(ang), ang).T if inverse else torch.polar(1 / n + 0 * ang, -ang)
    )
    cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
    return mat.to(dtype=cdtype, device=device).contiguous()


def _apply_left(h: torch.Tensor, mat: torch.Tensor, axis: int) -> torch.Tensor:
    """Multiply every line of the contiguous ``h`` along ``axis`` by ``mat`` from the left:
    a batched GEMM over the axes before ``axis``, each on the flattened axes after it."""
    shape = h.shape
    out = mat @ h.reshape(math.prod(shape[:axis]), shape[axis], -1)
    return out.reshape(*shape[:axis], mat.shape[0], *shape[axis + 1 :])


class SpectralConv(nn.Module):
    """Fourier-space convolution over the last ``len(modes)`` dimensions.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input ``(B, in_channels, *grid)`` and of the output.
    modes : sequence of int
        Highest kept wavenumber ``K_j`` per transformed dimension: ``-K_j..K_j`` on every
        dimension but the last, ``0..K_j`` on the last (real) one. ``K = 6`` keeps 13 x 7
        coefficients in 2-D, the layout of an FNO with "12 modes".
    out_size : int, optional
        Number of output points along the first transformed dimension (e.g. ``T_out``
        frames from ``T_in``); default: the same as the input.
    init_scale : float
        Real and imaginary parts of the weights are drawn uniformly in
        ``[0, init_scale / (c_in c_out))``, the FNO paper's initialisation.
    bias : bool
        Add a learned constant per output channel (to the mean mode, at no cost).

    Notes
    -----
    Runs in float32 (or float64) even under autocast: the transforms lose accuracy in half
    precision.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        modes: Sequence[int],
        out_size: int | None = None,
        init_scale: float = 1.0,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.modes = tuple(int(k) for k in modes)
        if not self.modes or min(self.modes) < 0:
            raise SpectralRefinerError(f"modes must be non-negative integers, got {modes}")
        self.out_size = out_size
        shape = (self.modes[-1] + 1, *(2 * k + 1 for k in self.modes[:-1]))
        scale = init_scale / (self.in_channels * self.out_channels)
        w = scale * torch.rand(*shape, self.in_channels, self.out_channels, 2)
        self.weight = nn.Parameter(w)
        self.bias = nn.Parameter(torch.zeros(self.out_channels)) if bias else None

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, modes={self.modes}, out_size={self.out_size}"
        )

    # ------------------------------------------------------------------ widening
    @torch.no_grad()
    def widen(self, modes: Sequence[int], init_std: float = 0.0) -> SpectralConv:
        """Keep more modes: the trained coefficients stay where they are, new ones are drawn
        from ``N(0, init_std^2)`` (zero by default, so the output is unchanged). In place."""
        new = tuple(int(k) for k in modes)
        if len(new) != len(self.modes) or any(a < b for a, b in zip(new, self.modes, strict=True)):
            raise SpectralRefinerError(
                f"cannot widen modes {self.modes} to {new}: give larger ones"
            )
        shape = (new[-1] + 1, *(2 * k + 1 for k in new[:-1]))
        w = init_std * torch.randn(
            *shape, self.in_channels, self.out_channels, 2, dtype=self.weight.dtype
        ).to(self.weight.device)
        index = tuple(
            slice(a - b, a + b + 1) for a, b in zip(new[:-1], self.modes[:-1], strict=True)
        )
        w[(slice(0, self.modes[-1] + 1), *index)] = self.weight
        self.weight = nn.Parameter(w)
        self.modes = new
        return self

    # ------------------------------------------------------------------ forward
    def kept_modes(self, sizes_in: Sequence[int], sizes_out: Sequence[int]) -> tuple[int, ...]:
        """Modes the grids carry: ``K_j`` capped at ``(n_j - 1) // 2`` (no Nyquist)."""
        return tuple(
            min(k, (a - 1) // 2, (b - 1) // 2)
            for k, a, b in zip(self.modes, sizes_in, sizes_out, strict=True)
        )

    def spectrum(self, v: torch.Tensor, keep: Sequence[int] | None = None) -> torch.Tensor:
        """Kept Fourier coefficients of ``v`` (``(B, c, *grid)``), mode-major.

        Returns a complex tensor ``(K_d + 1, 2K_1 + 1, ..., 2K_{d-1} + 1, B, c)``: the real
        axis's modes first, then the others in increasing order ``-K..K``, then batch and
        channels — the layout of the weights, so the channel contraction is one batched GEMM.
        ``keep`` (default: all the grid carries) caps the modes per dimension.
        """
        d = len(self.modes)
        sizes = tuple(v.shape[-d:])
        keep = tuple(keep) if keep is not None else self.kept_modes(sizes, sizes)
        h = v @ _forward_real(sizes[-1], keep[-1], v.dtype, v.device)
        h = torch.view_as_complex(h.unflatten(-1, (keep[-1] + 1, 2)))
        h = h.permute(d + 1, *range(2, d + 1), 0, 1).contiguous()
        for j in range(d - 1):
            mat = _dft_complex(sizes[j], keep[j], False, v.dtype, v.device)
            h = _apply_left(h, mat, j + 1)
        return h

    def contract(self, h: torch.Tensor) -> torch.Tensor:
        """Per-mode channel mixing ``ŷ_o(m) = Σ_c W_co(m) ĥ_c(m)`` of mode-major coefficients
        (see :meth:`spectrum`); the weights are cut to the modes ``h`` holds."""
        d = len(self.modes)
        keep = h.shape[:d]
        index = tuple(
            slice(k - (m - 1) // 2, k + (m - 1) // 2 + 1)
            for k, m in zip(self.modes[:-1], keep[1:], strict=True)
        )
        w = torch.view_as_complex(self.weight[(slice(0, keep[0]), *index)])
        w = w.reshape(-1, self.in_channels, self.out_channels).to(h.dtype)
        y = torch.bmm(h.reshape(w.shape[0], -1, self.in_channels), w)
        y = y.reshape(*keep, -1, self.out_channels)
        if self.bias is not None:  # a constant is the mode m = 0: first index 0, others centred
            y[(0, *((m - 1) // 2 for m in keep[1:]))] += self.bias.to(y.dtype)
        return y

    def synthesize(self, y: torch.Tensor, sizes: Sequence[int]) -> torch.Tensor:
        """Real fields ``(B, c, *sizes)`` from mode-major coefficients (see :meth:`spectrum`)."""
        d = len(self.modes)
        rdtype = _real(y.dtype)
        for j in range(d - 1):
            k = (y.shape[j + 1] - 1) // 2
            y = _apply_left(y, _dft_complex(sizes[j], k, True, rdtype, y.device), j + 1)
        k = y.shape[0] - 1
        y = y.permute(d, d + 1, *range(1, d), 0).contiguous()
        y = torch.view_as_real(y).flatten(-2)
        return y @ _inverse_real(sizes[-1], k, rdtype, y.device)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """``(B, c_in, *grid) -> (B, c_out, *grid')``; ``grid'`` differs only along the first
        transformed axis, when ``out_size`` is set."""
        d = len(self.modes)
        if v.dim() != d + 2 or v.shape[1] != self.in_channels:
            raise SpectralRefinerError(
                f"SpectralConv expects (B, {self.in_channels}, ...{d} dims), got {tuple(v.shape)}"
            )
        sizes_in = tuple(v.shape[-d:])
        sizes_out = sizes_in if self.out_size is None else (self.out_size, *sizes_in[1:])
        with torch.autocast(v.device.type, enabled=False):
            if v.dtype not in (torch.float32, torch.float64):
                v = v.float()
            h = self.spectrum(v, self.kept_modes(sizes_in, sizes_out))
            return self.synthesize(self.contract(h), sizes_out)


def _real(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.complex128 else torch.float32
