"""Pointwise building blocks shared by the neural operators (channels-first tensors)."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .spectral_conv import SpectralConv

__all__ = [
    "ChannelLinear",
    "ChannelMLP",
    "FourierLayer",
    "fourier_layers",
    "instance_norm",
    "periodic_encoding",
    "time_encoding",
]


class ChannelLinear(nn.Module):
    """``y_o(x) = Σ_c A_oc v_c(x) + b_o`` at every grid point of ``(B, c_in, *grid)``.

    One GEMM per sample on the flattened grid (a 1x1 convolution without im2col). Weights
    and bias are drawn from ``U(-1/√fan_in, 1/√fan_in)``; ``fan_in`` defaults to
    ``in_channels`` and is larger when the layer is one part of a layer split by input.
    """

    def __init__(
        self, in_channels: int, out_channels: int, bias: bool = True, fan_in: int | None = None
    ) -> None:
        super().__init__()
        bound = 1 / math.sqrt(fan_in or in_channels)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels).uniform_(-bound, bound))
        self.bias = (
            nn.Parameter(torch.empty(out_channels, 1).uniform_(-bound, bound)) if bias else None
        )

    def forward(self, v: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor:
        """``A v + b``; ``add`` (shaped as the output, or with batch size 1 to be broadcast)
        is summed in the same GEMM. In plain inference (:func:`_may_overwrite`) a full-batch
        ``add`` is overwritten with the result (one allocation and one copy fewer)."""
        b = v.shape[0]
        weight = self.weight.expand(b, -1, -1)
        flat = v.flatten(2)
        if add is not None and add.shape[0] == b and _may_overwrite(v):
            add.view(b, add.shape[1], -1).baddbmm_(weight, flat)
            return add if self.bias is None else add.add_(self.bias.view(-1, *[1] * (v.dim() - 2)))
        base = self.bias if add is None else add.flatten(2)
        if add is not None and self.bias is not None:
            base = base + self.bias
        out = torch.bmm(weight, flat) if base is None else torch.baddbmm(base, weight, flat)
        return out.view(b, -1, *v.shape[2:])


def _may_overwrite(v: torch.Tensor) -> bool:
    """Whether intermediate results may be overwritten: no gradient is recorded and no
    autocast changes dtypes on ``v``'s device (plain inference)."""
    return not torch.is_grad_enabled() and not torch.is_autocast_enabled(v.device.type)


def gelu(v: torch.Tensor) -> torch.Tensor:
    """GELU ``σ(v) = v Φ(v)``; in place in plain inference (:func:`_may_overwrite`), which
    saves an allocation and a pass over memory."""
    if _may_overwrite(v):
        return torch.ops.aten.gelu_(v)
    return F.gelu(v)


class ChannelMLP(nn.Module):
    """Two pointwise layers ``A_2 σ(A_1 v + b_1) + b_2`` with GELU ``σ`` (``fan_in``: of the
    first layer, see :class:`ChannelLinear`)."""

    def __init__(
        self, in_channels: int, hidden: int, out_channels: int, fan_in: int | None = None
    ) -> None:
        super().__init__()
        self.fc1 = ChannelLinear(in_channels, hidden, fan_in=fan_in)
        self.fc2 = ChannelLinear(hidden, out_channels)

    def forward(self, v: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor:
        """``A_2 σ(A_1 v + b_1 + add) + b_2``."""
        return self.fc2(gelu(self.fc1(v, add)))


class FourierLayer(nn.Module):
    """One Fourier layer: ``v -> σ(K v + W v)``, then, if ``mlp_ratio > 0``, a pointwise
    feed-forward with residual ``v -> v + MLP(norm(v))``.

    ``K`` is a :class:`SpectralConv`, ``W`` a :class:`ChannelLinear` (the local path of the
    FNO paper) and ``σ`` GELU, skipped when ``activation`` is False (the last layer of an
    FNO). The normalisation of the feed-forward is a per-sample, per-channel standardisation
    over the grid (instance norm), which is resolution-invariant for band-limited fields.
    """

    def __init__(
        self,
        width: int,
        modes: tuple[int, ...],
        mlp_ratio: float = 0.0,
        activation: bool = True,
    ) -> None:
        super().__init__()
        self.spectral = SpectralConv(width, width, modes, bias=True)
        self.local = ChannelLinear(width, width, bias=False)
        self.activation = activation
        hidden = round(mlp_ratio * width)
        self.mlp = ChannelMLP(width, hidden, width) if hidden > 0 else None

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        v = self.local(v, add=self.spectral(v))
        if self.activation:
            v = gelu(v)
        if self.mlp is not None:
            v = v + self.mlp(instance_norm(v))
        return v


def fourier_layers(
    width: int,
    modes: tuple[int, ...],
    n_layers: int,
    mlp_ratio: float = 0.0,
    activate_last: bool = True,
) -> nn.Sequential:
    """``n_layers`` :class:`FourierLayer` in sequence; the last one without its activation
    unless ``activate_last`` (an FNO ends on the projection MLP's own activation)."""
    return nn.Sequential(
        *(
            FourierLayer(width, modes, mlp_ratio, activation=activate_last or i < n_layers - 1)
            for i in range(n_layers)
        )
    )


def instance_norm(v: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Standardise each sample and channel of ``(B, C, *grid)`` over its grid points."""
    dims = tuple(range(2, v.dim()))
    var, mean = torch.var_mean(v, dim=dims, keepdim=True, correction=0)
    return (v - mean) * torch.rsqrt(var + eps)


def periodic_encoding(
    batch: int, sizes: tuple[int, int], dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """``(batch, 4, nx, ny)`` channels ``sin 2πx, cos 2πx, sin 2πy, cos 2πy`` (x, y in [0, 1)).

    Band-limited (a single mode each), so they are the same function on every grid: unlike
    the linear ramps of the FNO paper, they keep the model resolution-invariant and periodic.
    """
    nx, ny = sizes
    x = 2 * math.pi * torch.arange(nx, dtype=torch.float64, device=device) / nx
    y = 2 * math.pi * torch.arange(ny, dtype=torch.float64, device=device) / ny
    cx = torch.stack((x.sin(), x.cos()))[:, :, None].expand(2, nx, ny)
    cy = torch.stack((y.sin(), y.cos()))[:, None, :].expand(2, nx, ny)
    enc = torch.cat((cx, cy)).to(dtype)
    return enc.expand(batch, -1, -1, -1)


def time_encoding(
    batch: int, sizes: tuple[int, int, int], dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """``(batch, 5, nt, nx, ny)``: the time ``t / nt`` in [0, 1) and the periodic space channels."""
    nt, nx, ny = sizes
    t = (torch.arange(nt, dtype=dtype, device=device) / nt)[None, :, None, None]
    space = periodic_encoding(1, (nx, ny), dtype, device)[0][:, None]
    enc = torch.cat((t.expand(1, nt, nx, ny), space.expand(4, nt, nx, ny)))
    return enc.expand(batch, -1, -1, -1, -1)
