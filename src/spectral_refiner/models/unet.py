"""A small modern U-Net baseline (residual blocks, group norm, GELU, periodic padding).

U-Nets are strong baselines on these benchmarks (FNO paper, PDEArena). This one takes the
``t_in`` frames and 4 periodic coordinate channels as channels and predicts ``t_out`` frames.
It runs on any grid whose side is divisible by ``2**(levels - 1)``, but, being built from
3x3 stencils, it is not resolution-invariant the way the Fourier operators are.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import SpectralRefinerError
from .base import NeuralOperator, register
from .conditioning import FiLM, ScalarEmbedding, check_condition_on, embed
from .layers import periodic_encoding

__all__ = ["UNet"]


def _groups(channels: int) -> int:
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


class ResBlock(nn.Module):
    """``v + conv(σ(norm(conv(σ(norm(v))))))`` with periodic 3x3 convolutions; a 1x1
    convolution on the skip path when the channel count changes. With an embedding size,
    the second norm's output is modulated by the conditioning embedding ``e``
    (:class:`~.conditioning.FiLM`; after the norm, which would otherwise undo it)."""

    def __init__(self, c_in: int, c_out: int, embedding_dim: int = 0) -> None:
        super().__init__()
        self.film = FiLM(embedding_dim, c_out) if embedding_dim else None
        self.norm1 = nn.GroupNorm(_groups(c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, padding_mode="circular")
        self.norm2 = nn.GroupNorm(_groups(c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, padding_mode="circular")
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, v: torch.Tensor, e: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm2(self.conv1(F.gelu(self.norm1(v))))
        if self.film is not None:
            h = self.film(h, e)
        h = self.conv2(F.gelu(h))
        return self.skip(v) + h


@register("unet")
class UNet(NeuralOperator):
    """U-Net with ``levels`` resolutions, channels doubling at each coarser one.

    Parameters
    ----------
    t_in, t_out : int
        Input and output frames.
    width : int
        Channels at the finest level.
    levels : int
        Number of resolutions (``levels - 1`` down-samplings by 2).
    condition_on : {None, "lead_time", "noise_level", "step"}
        Conditioning keyword of the call (default none: the plain U-Net). With one, every
        residual block modulates its second norm's output by the embedding ``e``
        (size ``width``) of the keyword's value, as in the U-Nets of diffusion models
        (``e = 0`` when the call omits it). PDE-Refiner's backbone uses ``step``.
    condition_max : float, optional
        The largest conditioning value the model is trained for (e.g. the maximum lead time of
        all2all training); a call beyond it is an error. Default: unchecked.
    """

    def __init__(
        self,
        t_in: int = 10,
        t_out: int = 1,
        width: int = 32,
        levels: int = 3,
        condition_on: str | None = None,
        condition_max: float | None = None,
    ) -> None:
        super().__init__()
        self.t_in, self.t_out = t_in, t_out
        self.conditioning = check_condition_on(self.name, condition_on)
        self.condition_max = condition_max
        dim = width if self.conditioning else 0
        self.embedding = ScalarEmbedding(width) if self.conditioning else None
        chans = [width * 2**i for i in range(levels)]
        self.stem = nn.Conv2d(t_in + 4, width, 3, padding=1, padding_mode="circular")
        self.down = nn.ModuleList(
            ResBlock(a, b, dim) for a, b in zip([width, *chans[:-1]], chans, strict=True)
        )
        self.up = nn.ModuleList(ResBlock(2 * c, c, dim) for c in reversed(chans[:-1]))
        self.lift = nn.ModuleList(nn.Conv2d(b, a, 1) for a, b in itertools.pairwise(chans))
        self.out = nn.Conv2d(width, t_out, 1)
        self.levels = levels

    def operator(self, w_in: torch.Tensor, **conditioning: torch.Tensor) -> torch.Tensor:
        b, _, nx, ny = w_in.shape
        if nx % 2 ** (self.levels - 1) or ny % 2 ** (self.levels - 1):
            raise SpectralRefinerError(
                f"UNet needs a grid divisible by {2 ** (self.levels - 1)}, got {nx}x{ny}"
            )
        e = embed(self.embedding, conditioning, w_in)
        v = self.stem(torch.cat((w_in, periodic_encoding(b, (nx, ny), w_in.dtype, w_in.device)), 1))
        skips = []
        for i, block in enumerate(self.down):
            if i:
                v = F.avg_pool2d(v, 2)
            v = block(v, e)
            skips.append(v)
        skips.pop()
        for block, lift in zip(self.up, reversed(self.lift), strict=True):
            v = lift(F.interpolate(v, scale_factor=2, mode="nearest"))
            v = block(torch.cat((v, skips.pop()), dim=1), e)
        return self.out(v)
