"""Fourier neural operators of Li et al. (2020): FNO2d (frames as channels) and FNO3d (space-time).

Both are ``lifting -> Fourier layers -> projection`` with pointwise lifting and projection
MLPs; a Fourier layer is ``v -> σ(K v + W v)`` (:class:`~.layers.FourierLayer`), without the
activation after the last one. ``modes`` is the highest kept wavenumber ``K`` per dimension:
``K = 6`` keeps ``|m_x| <= 6, 0 <= m_y <= 6`` (13 x 7 coefficients), the layout of
neuraloperator's ``FNO(n_modes=(12, 12))`` (12 x 7).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import SpectralRefinerError
from .base import NeuralOperator, register
from .conditioning import FiLM, ScalarEmbedding, check_condition_on, embed
from .layers import ChannelLinear, ChannelMLP, fourier_layers, periodic_encoding, time_encoding

__all__ = ["FNO2d", "FNO3d"]


@register("fno2d")
class FNO2d(NeuralOperator):
    """FNO-2D: the ``t_in`` input frames (and 4 periodic coordinate channels) are channels;
    predicts the next ``t_out`` frames at once, for autoregressive rollouts.

    Parameters
    ----------
    t_in, t_out : int
        Input and output frames.
    width : int
        Channels of the Fourier layers.
    modes : int
        Highest kept wavenumber per spatial dimension.
    n_layers : int
        Number of Fourier layers.
    lifting_ratio, projection_ratio : float
        Hidden width of the lifting / projection MLP, as a multiple of ``width``.
    mlp_ratio : float
        Hidden width of a pointwise feed-forward after each Fourier layer (0: none).
    condition_on : {None, "lead_time", "noise_level", "step"}
        Conditioning keyword of the call (default none: the plain FNO). With one, the output
        of each Fourier layer is modulated, ``v_l -> (1 + s_l(e)) v_l + b_l(e)``
        (:class:`~.conditioning.FiLM`), by the embedding ``e`` of the keyword's value
        (:class:`~.conditioning.ScalarEmbedding`, size ``width``; ``e = 0`` when the call
        omits it).
    condition_max : float, optional
        The largest conditioning value the model is trained for (e.g. the maximum lead time of
        all2all training); a call beyond it is an error. Default: unchecked.
    residual : bool
        Predict the increment of the last input frame, ``w_out = w_in[-1] + σ G(z)`` (the
        residual form of :class:`~.base.NeuralOperator`; a zero head is the identity). Default
        false: the output is ``σ G(z) + μ``.
    residual_lead : bool
        With ``residual`` and ``condition_on="lead_time"``: scale the increment by the lead
        time, ``w_out = w_in[-1] + τ σ G(z, τ)``. Default false.
    """

    def __init__(
        self,
        t_in: int = 10,
        t_out: int = 1,
        width: int = 32,
        modes: int = 6,
        n_layers: int = 4,
        lifting_ratio: float = 2.0,
        projection_ratio: float = 2.0,
        mlp_ratio: float = 0.0,
        condition_on: str | None = None,
        condition_max: float | None = None,
        residual: bool = False,
        residual_lead: bool = False,
    ) -> None:
        super().__init__()
        self.t_in, self.t_out = t_in, t_out
        self.conditioning = check_condition_on(self.name, condition_on)
        self.condition_max = condition_max
        if not isinstance(residual, bool):
            raise SpectralRefinerError(
                f"{self.name}: residual={residual!r} must be true or false (model.residual)"
            )
        if residual_lead and not (residual and condition_on == "lead_time"):
            raise SpectralRefinerError(
                f"{self.name}: residual_lead needs residual=true and condition_on=lead_time"
            )
        self.residual, self.residual_lead = residual, bool(residual_lead)
        hidden = int(lifting_ratio * width)
        # The lifting MLP of [frames, coordinates]: its first layer is split in a frame part and
        # a coordinate part, computed once per grid instead of once per sample.
        self.encoding = ChannelLinear(4, hidden, bias=False, fan_in=t_in + 4)
        self.lifting = ChannelMLP(t_in, hidden, width, fan_in=t_in + 4)
        self.layers = fourier_layers(width, (modes, modes), n_layers, mlp_ratio, False)
        self.projection = ChannelMLP(width, int(projection_ratio * width), t_out)
        self.embedding = ScalarEmbedding(width) if self.conditioning else None
        self.film = None
        if self.conditioning:  # layers called one by one, each output modulated
            self.layers = nn.ModuleList(self.layers)
            self.film = nn.ModuleList(FiLM(width, width) for _ in range(n_layers))

    def operator(self, w_in: torch.Tensor, **conditioning: torch.Tensor) -> torch.Tensor:
        enc = periodic_encoding(1, w_in.shape[-2:], w_in.dtype, w_in.device)
        v = self.lifting(w_in, add=self.encoding(enc))
        e = embed(self.embedding, conditioning, w_in)
        if e is None:
            return self.projection(self.layers(v))
        for layer, film in zip(self.layers, self.film, strict=True):
            v = film(layer(v), e)
        return self.projection(v)


@register("fno3d")
class FNO3d(NeuralOperator):
    """FNO-3D: a Fourier neural operator in space-time, as the FNO paper's 3-D model.

    The ``t_in`` input frames are channels repeated at each of the ``t_out`` output times,
    with 5 coordinate channels (``t``, and the periodic ``x, y`` encodings); the time axis,
    which is not periodic, is zero-padded by ``time_padding`` points before the Fourier
    layers and cropped after them.

    Parameters
    ----------
    t_in, t_out : int
        Input and output frames.
    width : int
        Channels of the Fourier layers.
    modes : int
        Highest kept spatial wavenumber.
    time_modes : int
        Highest kept temporal wavenumber.
    n_layers, lifting_ratio, projection_ratio, mlp_ratio
        As for :class:`FNO2d`.
    time_padding : int
        Zeros appended along time.
    """

    def __init__(
        self,
        t_in: int = 10,
        t_out: int = 40,
        width: int = 20,
        modes: int = 6,
        time_modes: int = 6,
        n_layers: int = 4,
        lifting_ratio: float = 2.0,
        projection_ratio: float = 2.0,
        mlp_ratio: float = 0.0,
        time_padding: int = 6,
    ) -> None:
        super().__init__()
        self.t_in, self.t_out = t_in, t_out
        self.time_padding = time_padding
        self.lifting = ChannelMLP(t_in + 5, int(lifting_ratio * width), width)
        self.layers = fourier_layers(width, (time_modes, modes, modes), n_layers, mlp_ratio, False)
        self.projection = ChannelMLP(width, int(projection_ratio * width), 1)

    def operator(self, w_in: torch.Tensor) -> torch.Tensor:
        b, _, nx, ny = w_in.shape
        frames = w_in[:, :, None].expand(-1, -1, self.t_out, -1, -1)
        enc = time_encoding(b, (self.t_out, nx, ny), w_in.dtype, w_in.device)
        v = self.lifting(torch.cat((frames, enc), dim=1))
        v = self.layers(F.pad(v, (0, 0, 0, 0, 0, self.time_padding)))
        v = v[:, :, : self.t_out]
        return self.projection(v)[:, 0]
