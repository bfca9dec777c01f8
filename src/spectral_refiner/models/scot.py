"""scOT: a lead-time-conditioned multiscale operator transformer after Poseidon.

Poseidon (Herde et al. 2024, arXiv 2405.19101) builds its operator from shifted-window
attention blocks (Swin V2) in a U-Net-like hierarchy, with layer norms whose scale and shift
depend on the lead time. This is that architecture for the periodic vorticity of this project:

.. math::

    v^0 = \\mathrm{LN}_e(P * z), \\qquad
    v \\leftarrow v + \\mathrm{LN}_e(\\mathrm{WA}(v)), \\qquad
    v \\leftarrow v + \\mathrm{LN}_e(\\mathrm{MLP}(v)),

* patch embedding ``P``: a convolution with kernel and stride ``p`` from the ``t_in`` frames to
  ``C`` channels (one token per ``p x p`` patch);
* ``L = levels`` stages of ``depth`` blocks (residual post-norm, as Swin V2 and Poseidon), the
  ``l``-th on a token grid ``2^l`` times coarser with ``C 2^l`` channels; between them *patch
  merging* (2x2 neighbouring tokens concatenated, linear map to twice the channels) and, on
  the way back up, *patch expansion* (linear map to four tokens of half the channels), each
  followed by a conditioned norm, and skip connections (the encoder's tokens of that level
  concatenated and mapped linearly back to ``C 2^l`` channels);
* windowed multi-head attention ``WA`` over ``w x w`` tokens with a learned relative position
  bias; every second block shifts the windows by ``w / 2`` tokens cyclically. The domain is a
  torus, so the cyclic shift joins tokens that are neighbours and, unlike Swin on images, no
  attention mask is needed; a grid of a single window is not shifted;
* recovery: a transposed convolution (kernel and stride ``p``) back to the grid, GELU, and a
  periodic 3x3 convolution to ``t_out`` frames;
* conditional layer norms ``LN_e(v) = (1 + s(e)) LN(v) + b(e)`` (:class:`~.conditioning.FiLM`
  after a layer norm without affine), ``e`` the embedding of the lead time
  (:class:`~.conditioning.ScalarEmbedding`, size ``C``). Poseidon maps the lead time linearly
  to ``s`` and ``b``; the embedding here contains that linear feature and sinusoidal ones.

Without a lead time (``model(w_in)``) the embedding is ``e = 0``: each norm then applies its
learned constant scale and shift, and the model is a plain fixed-window operator — that is
the documented default, so a model trained without lead times is called without them.

Grids: each side must be divisible by ``p w 2^(L-1)`` (the coarsest token grid holds whole
windows). The model is translation-equivariant for shifts by whole patches at every level,
and, like every stencil or patch model, not resolution-invariant.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import SpectralRefinerError
from .base import NeuralOperator, register
from .conditioning import FiLM, ScalarEmbedding, check_condition_on, embed

__all__ = ["ScOT"]


class ConditionalLayerNorm(nn.Module):
    """``(1 + s(e)) LN(v) + b(e)`` over the last (channel) axis of ``(B, H, W, C)``."""

    def __init__(self, embedding_dim: int, channels: int) -> None:
        super().__init__()
        self.film = FiLM(embedding_dim, channels)

    def forward(self, v: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return self.film(F.layer_norm(v, v.shape[-1:]), e, channel_dim=-1)


class WindowAttention(nn.Module):
    """Multi-head self-attention within ``w x w`` windows of a periodic token grid
    ``(B, H, W, C)``, with a learned bias per head and relative offset (Swin), optionally
    on windows shifted cyclically by ``w / 2`` tokens."""

    def __init__(self, channels: int, heads: int, window: int) -> None:
        super().__init__()
        self.heads, self.window = heads, window
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        self.bias_table = nn.Parameter(torch.randn((2 * window - 1) ** 2, heads) * 0.02)
        idx = torch.arange(window)
        rows, cols = torch.meshgrid(idx, idx, indexing="ij")
        rows, cols = rows.flatten(), cols.flatten()
        offset = (rows[:, None] - rows[None] + window - 1) * (2 * window - 1)
        self.register_buffer("bias_index", offset + cols[:, None] - cols[None] + window - 1, False)

    def forward(self, v: torch.Tensor, shifted: bool) -> torch.Tensor:
        b, h, w_, c = v.shape
        w = self.window
        shifts = (w // 2 if h > w else 0, w // 2 if w_ > w else 0)
        if shifted:
            v = torch.roll(v, (-shifts[0], -shifts[1]), dims=(1, 2))
        tokens = v.view(b, h // w, w, w_ // w, w, c).transpose(2, 3).reshape(-1, w * w, c)
        qkv = self.qkv(tokens).view(tokens.shape[0], w * w, 3, self.heads, c // self.heads)
        q, k, val = qkv.permute(2, 0, 3, 1, 4)
        bias = self.bias_table[self.bias_index].permute(2, 0, 1).to(v.dtype)
        out = F.scaled_dot_product_attention(q, k, val, attn_mask=bias)
        out = self.proj(out.transpose(1, 2).reshape(-1, w * w, c))
        out = out.view(b, h // w, w_ // w, w, w, c).transpose(2, 3).reshape(b, h, w_, c)
        if shifted:
            out = torch.roll(out, shifts, dims=(1, 2))
        return out


class SwinBlock(nn.Module):
    """``v + LN_e(WA(v))``, then ``v + LN_e(MLP(v))`` (residual post-norm)."""

    def __init__(
        self, channels: int, heads: int, window: int, shifted: bool, mlp_ratio: float, dim: int
    ) -> None:
        super().__init__()
        self.shifted = shifted
        self.attention = WindowAttention(channels, heads, window)
        self.norm1 = ConditionalLayerNorm(dim, channels)
        hidden = round(mlp_ratio * channels)
        self.mlp = nn.Sequential(
            nn.Linear(channels, hidden), nn.GELU(), nn.Linear(hidden, channels)
        )
        self.norm2 = ConditionalLayerNorm(dim, channels)

    def forward(self, v: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        v = v + self.norm1(self.attention(v, self.shifted), e)
        return v + self.norm2(self.mlp(v), e)


class PatchMerging(nn.Module):
    """``(B, H, W, C) -> (B, H/2, W/2, 2C)``: each 2x2 block of tokens concatenated, mapped
    linearly to ``2C`` channels, then a conditioned norm."""

    def __init__(self, channels: int, dim: int) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * channels, 2 * channels, bias=False)
        self.norm = ConditionalLayerNorm(dim, 2 * channels)

    def forward(self, v: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        b, h, w, c = v.shape
        v = v.view(b, h // 2, 2, w // 2, 2, c).transpose(2, 3).reshape(b, h // 2, w // 2, 4 * c)
        return self.norm(self.reduction(v), e)


class PatchExpansion(nn.Module):
    """``(B, H, W, C) -> (B, 2H, 2W, C/2)``: each token mapped linearly to a 2x2 block of
    tokens of ``C/2`` channels, then a conditioned norm."""

    def __init__(self, channels: int, dim: int) -> None:
        super().__init__()
        self.expand = nn.Linear(channels, 2 * channels, bias=False)
        self.norm = ConditionalLayerNorm(dim, channels // 2)

    def forward(self, v: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        b, h, w, c = v.shape
        v = self.expand(v).view(b, h, w, 2, 2, c // 2).transpose(2, 3)
        return self.norm(v.reshape(b, 2 * h, 2 * w, c // 2), e)


def _stage(
    channels: int, depth: int, head_dim: int, window: int, mlp_ratio: float, dim: int
) -> nn.ModuleList:
    heads = max(1, channels // head_dim)
    return nn.ModuleList(
        SwinBlock(channels, heads, window, i % 2 == 1, mlp_ratio, dim) for i in range(depth)
    )


@register("scot")
class ScOT(NeuralOperator):
    """Shifted-window operator transformer with lead-time-conditioned layer norms.

    Parameters
    ----------
    t_in, t_out : int
        Input and output frames.
    embed_dim : int
        Channels ``C`` of the finest token grid (``C 2^l`` at level ``l``; also the size of
        the lead-time embedding).
    patch_size : int
        Side ``p`` of a patch (one token).
    window_size : int
        Side ``w`` of an attention window, in tokens.
    levels : int
        Number of token resolutions ``L`` (``L - 1`` patch mergings).
    depth : int
        Attention blocks per stage (alternately unshifted and shifted windows).
    head_dim : int
        Channels per attention head (``C 2^l / head_dim`` heads at level ``l``).
    mlp_ratio : float
        Hidden width of each block's MLP, as a multiple of its channels.
    condition_on : {"lead_time", "noise_level", "step"}
        The conditioning keyword of the call.
    condition_max : float, optional
        The largest conditioning value the model is trained for (e.g. the maximum lead time of
        all2all training); a call beyond it is an error. Default: unchecked.
    """

    def __init__(
        self,
        t_in: int = 10,
        t_out: int = 1,
        embed_dim: int = 32,
        patch_size: int = 4,
        window_size: int = 4,
        levels: int = 3,
        depth: int = 2,
        head_dim: int = 16,
        mlp_ratio: float = 2.0,
        condition_on: str = "lead_time",
        condition_max: float | None = None,
    ) -> None:
        super().__init__()
        if min(embed_dim, patch_size, window_size, levels, depth, head_dim) < 1:
            raise SpectralRefinerError("scot: every size must be a positive integer")
        self.t_in, self.t_out = t_in, t_out
        self.conditioning = check_condition_on(self.name, condition_on)
        self.condition_max = condition_max
        if not self.conditioning:
            raise SpectralRefinerError("scot needs a condition_on keyword (e.g. lead_time)")
        self.divisor = patch_size * window_size * 2 ** (levels - 1)
        chans = [embed_dim * 2**level for level in range(levels)]
        dim = embed_dim
        self.embedding = ScalarEmbedding(dim)
        self.patch = nn.Conv2d(t_in, embed_dim, patch_size, stride=patch_size)
        self.patch_norm = ConditionalLayerNorm(dim, embed_dim)
        self.encoder = nn.ModuleList(
            _stage(c, depth, head_dim, window_size, mlp_ratio, dim) for c in chans
        )
        self.merge = nn.ModuleList(PatchMerging(c, dim) for c in chans[:-1])
        self.expand = nn.ModuleList(PatchExpansion(2 * c, dim) for c in chans[:-1])
        self.fuse = nn.ModuleList(nn.Linear(2 * c, c) for c in chans[:-1])
        self.decoder = nn.ModuleList(
            _stage(c, depth, head_dim, window_size, mlp_ratio, dim) for c in chans[:-1]
        )
        self.recovery = nn.ConvTranspose2d(embed_dim, embed_dim, patch_size, stride=patch_size)
        self.out = nn.Conv2d(embed_dim, t_out, 3, padding=1, padding_mode="circular")

    def operator(self, z: torch.Tensor, **conditioning: torch.Tensor) -> torch.Tensor:
        nx, ny = z.shape[-2:]
        if nx % self.divisor or ny % self.divisor:
            c = self.config
            raise SpectralRefinerError(
                f"scot needs a grid divisible by {self.divisor} (patch_size {c['patch_size']} x "
                f"window_size {c['window_size']} x 2^(levels - 1)), got {nx}x{ny}: resample the "
                "data or lower patch_size, window_size or levels"
            )
        e = embed(self.embedding, conditioning, z)
        v = self.patch_norm(self.patch(z).permute(0, 2, 3, 1), e)
        skips = []
        for level, stage in enumerate(self.encoder):
            if level:
                v = self.merge[level - 1](v, e)
            for block in stage:
                v = block(v, e)
            skips.append(v)
        skips.pop()
        for level in reversed(range(len(self.decoder))):
            v = self.expand[level](v, e)
            v = self.fuse[level](torch.cat((v, skips.pop()), dim=-1))
            for block in self.decoder[level]:
                v = block(v, e)
        v = F.gelu(self.recovery(v.permute(0, 3, 1, 2)))
        return self.out(v)
