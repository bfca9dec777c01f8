"""SFNO: the spatiotemporal Fourier neural operator of Spectral-Refiner (Cao et al., 2024).

Maps a window of ``t_in`` vorticity frames to the next ``t_out`` frames, with Fourier
transforms over ``(t, x, y)``:

.. math::

    z = (\\omega_{in} - \\mu) / \\sigma, \\qquad
    v_0 = P([z, e]),\\qquad v_{l+1} = \\mathcal{L}_l(v_l),\\qquad
    \\omega_{out}(t) = \\omega_{in}(t_{in}) + \\sigma\\, (\\mathcal{K}_{head} v_L)(t),

* normalisation by the window's own mean ``μ`` and standard deviation ``σ`` (per sample; on
  band-limited fields the same at every resolution);
* lifting ``P``: a pointwise MLP of the frame and the space-time encoding ``e`` (time, and
  ``sin/cos`` of ``2πx``, ``2πy``);
* Fourier layers ``L_l`` (:class:`~.layers.FourierLayer`): spectral convolution over
  ``(t, x, y)`` plus a pointwise linear path, GELU, then a normalised pointwise feed-forward
  with residual;
* the head ``K_head``: one :class:`~.spectral_conv.SpectralConv` from ``width`` channels to
  one, mapping the ``t_in`` latent frames to ``t_out`` output frames. It predicts the increment
  added to the last input frame, so ``t_out`` is free, and the prediction is *linear in the
  head's weights* — the property the refiner uses after widening the head to all modes
  (:meth:`SFNO.widen_head`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import NeuralOperator, register
from .layers import ChannelLinear, ChannelMLP, fourier_layers, time_encoding
from .spectral_conv import SpectralConv

__all__ = ["SFNO"]


@register("sfno")
class SFNO(NeuralOperator):
    """Spatiotemporal FNO with a spectral-convolution head.

    It normalises each window by its own statistics and so commutes with affine maps of the
    data (``G(a w + b) = a G(w) + b``, ``a > 0``): data normalisation would change nothing,
    and is not applied (``data_normalization = False``).

    Parameters
    ----------
    t_in, t_out : int
        Input and output frames.
    width : int
        Channels of the Fourier layers.
    modes : int
        Highest kept spatial wavenumber of the Fourier layers.
    time_modes : int
        Highest kept temporal wavenumber (capped at ``(t_in - 1) // 2`` by the window).
    n_layers : int
        Number of Fourier layers.
    mlp_ratio : float
        Hidden width of each layer's feed-forward, as a multiple of ``width``.
    lifting_ratio : float
        Hidden width of the lifting MLP, as a multiple of ``width``.
    head_modes : sequence of 3 int, optional
        Kept ``(time, x, y)`` wavenumbers of the head; default ``(time_modes, modes, modes)``.
        :meth:`widen_head` raises them and records the new value here.
    """

    data_normalization = False

    def __init__(
        self,
        t_in: int = 10,
        t_out: int = 10,
        width: int = 20,
        modes: int = 8,
        time_modes: int = 4,
        n_layers: int = 4,
        mlp_ratio: float = 2.0,
        lifting_ratio: float = 2.0,
        head_modes: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.t_in, self.t_out = t_in, t_out
        head_modes = tuple(head_modes or (time_modes, modes, modes))
        hidden = int(lifting_ratio * width)
        # The lifting MLP of [frame, encoding]: the encoding's part of its first layer is
        # computed once per grid, not once per sample (as in FNO2d).
        self.encoding = ChannelLinear(5, hidden, bias=False, fan_in=6)
        self.lifting = ChannelMLP(1, hidden, width, fan_in=6)
        self.layers = fourier_layers(width, (time_modes, modes, modes), n_layers, mlp_ratio)
        self.head = SpectralConv(width, 1, head_modes, out_size=t_out)

    def normalise(self, w_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``z = (ω_in - μ) / σ`` and ``σ`` (shape ``(B, 1, 1, 1)``), with the window's mean
        ``μ`` and standard deviation ``σ``."""
        var, mean = torch.var_mean(w_in, dim=(1, 2, 3), keepdim=True, correction=0)
        sigma = torch.sqrt(var + 1e-12)
        return (w_in - mean) / sigma, sigma

    def _trunk(self, z: torch.Tensor) -> torch.Tensor:
        enc = time_encoding(1, z.shape[1:], z.dtype, z.device)
        return self.layers(self.lifting(z[:, None], add=self.encoding(enc)))

    def latent(self, w_in: torch.Tensor) -> torch.Tensor:
        """The field ``v_L`` entering the head, shape ``(B, width, t_in, X, Y)``."""
        self.check_input(w_in)
        return self._trunk(self.normalise(w_in)[0])

    def decode(
        self, w_in: torch.Tensor, increment: torch.Tensor, sigma: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``ω_in(t_in) + σ · increment`` for a head output ``(B, 1, t_out, X, Y)`` (``σ`` of
        :meth:`normalise`, computed when not given)."""
        if sigma is None:
            sigma = self.normalise(w_in)[1]
        return w_in[:, -1:] + sigma * increment[:, 0]

    def operator(self, w_in: torch.Tensor) -> torch.Tensor:
        z, sigma = self.normalise(w_in)
        return self.decode(w_in, self.head(self._trunk(z)), sigma)

    def widen_head(self, modes: Sequence[int], init_std: float = 0.0) -> SFNO:
        """Raise the head's kept modes to ``modes`` (trained coefficients kept); in place."""
        self.head.widen(modes, init_std)
        self.config["head_modes"] = list(self.head.modes)
        return self
