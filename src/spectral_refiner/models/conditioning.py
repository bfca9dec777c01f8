"""Scalar conditioning of a model call: lead time, noise level or refinement step.

A model call ``model(w_in, lead_time=τ)`` (or ``noise_level=σ``, ``step=k``) carries one scalar
per instance. :func:`conditioning_values` checks and converts what the caller passed into a
``(B,)`` tensor; :class:`ScalarEmbedding` turns it into the vector ``e (B, E)`` from which the
conditioned layers take their scale and shift. Calling a conditioned model without its keyword
gives ``e = 0``: every conditioned layer then applies only its learned bias (see the models'
docstrings), so the model is an ordinary fixed-window model.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import SpectralRefinerError

__all__ = [
    "CONDITIONING_KEYS",
    "FiLM",
    "ScalarEmbedding",
    "check_condition_on",
    "conditioning_values",
    "embed",
]

#: The conditioning keywords a model call may carry, and the smallest value each accepts
#: (lead times are positive; noise levels and refinement steps non-negative).
CONDITIONING_KEYS: dict[str, float] = {"lead_time": 0.0, "noise_level": 0.0, "step": 0.0}
_STRICT = {"lead_time"}  # keys whose value must exceed the bound, not only reach it


def check_condition_on(model: str, condition_on: str | None) -> frozenset[str]:
    """The conditioning keywords of a model built with ``condition_on`` (none when ``None``);
    an error naming the valid keywords otherwise."""
    if condition_on is None:
        return frozenset()
    if condition_on not in CONDITIONING_KEYS:
        raise SpectralRefinerError(
            f"{model}: condition_on={condition_on!r} is unknown; choose one of "
            f"{', '.join(CONDITIONING_KEYS)} or none"
        )
    return frozenset({condition_on})


def conditioning_values(
    model: str,
    accepted: frozenset[str],
    values: Mapping[str, float | torch.Tensor],
    like: torch.Tensor,
    maximum: float | None = None,
) -> dict[str, torch.Tensor]:
    """``values`` as ``(B,)`` tensors of ``like``'s dtype and device (``B = like.shape[0]``).

    A value is a number (the same for every instance), a 0-d tensor or a ``(B,)`` tensor;
    ``maximum`` is the largest value the model was trained for (none: unchecked).

    Raises
    ------
    SpectralRefinerError
        For a keyword the model does not take (``model X takes no lead_time conditioning``),
        a tensor of another batch size, a value that is not finite or below its bound
        (lead times must be positive, noise levels and steps non-negative), or one above
        ``maximum``.
    """
    out = {}
    batch = like.shape[0]
    for key, value in values.items():
        if key not in accepted:
            raise SpectralRefinerError(
                f"model {model} takes no {key} conditioning"
                + (f" (it takes {', '.join(sorted(accepted))})" if accepted else "")
            )
        v = torch.as_tensor(value, dtype=like.dtype, device=like.device)
        if v.dim() == 0:
            v = v.expand(batch)
        if v.shape != (batch,):
            raise SpectralRefinerError(
                f"{key} must be a number or a ({batch},) tensor for a batch of {batch}, "
                f"got shape {tuple(v.shape)}"
            )
        bound = CONDITIONING_KEYS[key]
        bad = ~torch.isfinite(v) | ((v <= bound) if key in _STRICT else (v < bound))
        if bool(bad.any()):
            relation = "positive" if key in _STRICT else "non-negative"
            raise SpectralRefinerError(
                f"{key} must be finite and {relation}, got {v[bad][0].item()}"
            )
        if maximum is not None and bool((v > maximum).any()):
            raise SpectralRefinerError(
                f"{key} {v.max().item():g} is beyond the largest value model {model} was trained "
                f"for ({maximum:g}, its condition_max): stay within it, or chain predictions"
            )
        out[key] = v
    return out


class ScalarEmbedding(nn.Module):
    """``e(c) = A_2 σ(a_1 c + b_1) + b_2``: a one-hidden-layer GELU network of the scalar ``c``.

    A smooth function of ``c``, so that a model trained at some lead times interpolates to
    others. (Sinusoidal features of ``c``, as in diffusion models, were tried: with periods
    down to a fraction of the frame interval they made predictions at unseen lead times
    3-4x worse than at trained ones, on the heat-equation all2all task; this embedding
    keeps them at the level of the trained ones.)

    Parameters
    ----------
    dim : int
        Size ``E`` of the embedding (and of the hidden layer).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(1, dim)
        self.fc2 = nn.Linear(dim, dim)

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        """``(B,) -> (B, E)``."""
        return self.fc2(F.gelu(self.fc1(c[:, None])))


def embed(
    embedding: ScalarEmbedding | None, conditioning: Mapping[str, torch.Tensor], like: torch.Tensor
) -> torch.Tensor | None:
    """The embedding ``e (B, E)`` of the one conditioning value given, zeros when none is
    given (the fixed-window model), ``None`` for a model without conditioning.

    The zeros are ``0 · embedding(0)``: exactly zero, but the embedding's parameters stay in
    the autograd graph (with zero gradient), as data-parallel training requires of every
    parameter in every step."""
    if embedding is None:
        return None
    if not conditioning:
        return embedding(like.new_zeros(like.shape[0])) * 0
    (value,) = conditioning.values()
    return embedding(value)


class FiLM(nn.Module):
    """Feature-wise affine modulation ``v -> (1 + s(e)) v + b(e)`` with ``[s, b] = A e + a``.

    ``s`` and ``b`` are per sample and channel; ``e = 0`` (no conditioning given) leaves the
    learned constant modulation ``(1 + a_s) v + a_b``.

    Parameters
    ----------
    embedding_dim : int
        Size of ``e``.
    channels : int
        Channels of ``v``.
    """

    def __init__(self, embedding_dim: int, channels: int) -> None:
        super().__init__()
        self.linear = nn.Linear(embedding_dim, 2 * channels)

    def forward(self, v: torch.Tensor, e: torch.Tensor, channel_dim: int = 1) -> torch.Tensor:
        """Modulate ``v`` whose channels are on ``channel_dim`` (1: channels first, -1: last)."""
        scale, shift = self.linear(e).chunk(2, dim=1)
        shape = [1] * v.dim()
        shape[0], shape[channel_dim] = v.shape[0], v.shape[channel_dim]
        return torch.addcmul(shift.view(shape), v, 1 + scale.view(shape))
