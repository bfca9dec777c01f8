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

The head's time axis is zero-padded by ``head_padding`` frames (default ``t_out``): the
latent's ``t_in`` frames are followed by zeros, the output is synthesised on
``t_out + head_padding`` points and cropped to the first ``t_out``. Increments grow over the
window and are not periodic; on a periodic grid of ``t_out`` points the trig modes of the head
miss the alternating one (a ramp has a large alternating part), and the Navier–Stokes residual
of single frame intervals is most sensitive to exactly that error. On the padded grid the
widened head spans every sequence of ``t_out`` frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

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
    head_padding : int, optional
        Zero frames appended to the head's time axis (see the module docstring); default
        ``t_out``.
    """

    data_normalization = False
    refinable = True  # the head is linear in its weights and widenable

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
        head_padding: int | None = None,
    ) -> None:
        super().__init__()
        self.t_in, self.t_out = t_in, t_out
        self.head_padding = t_out if head_padding is None else head_padding
        head_modes = tuple(head_modes or (time_modes, modes, modes))
        hidden = int(lifting_ratio * width)
        # The lifting MLP of [frame, encoding]: the encoding's part of its first layer is
        # computed once per grid, not once per sample (as in FNO2d).
        self.encoding = ChannelLinear(5, hidden, bias=False, fan_in=6)
        self.lifting = ChannelMLP(1, hidden, width, fan_in=6)
        self.layers = fourier_layers(width, (time_modes, modes, modes), n_layers, mlp_ratio)
        self.head = SpectralConv(width, 1, head_modes, out_size=t_out + self.head_padding)

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

    def head_input(self, latent: torch.Tensor) -> torch.Tensor:
        """The latent ``(B, width, t_in, X, Y)`` zero-padded along time for the head."""
        return F.pad(latent, (0, 0, 0, 0, 0, self.head_padding))

    def decode(
        self, w_in: torch.Tensor, head_output: torch.Tensor, sigma: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``ω_in(t_in) + σ · increment``, the increment being the first ``t_out`` frames of a
        head output ``(B, 1, t_out + head_padding, X, Y)`` (``σ`` of :meth:`normalise`,
        computed when not given)."""
        if sigma is None:
            sigma = self.normalise(w_in)[1]
        return w_in[:, -1:] + sigma * head_output[:, 0, : self.t_out]

    def operator(self, w_in: torch.Tensor) -> torch.Tensor:
        z, sigma = self.normalise(w_in)
        return self.decode(w_in, self.head(self.head_input(self._trunk(z))), sigma)

    def full_head_modes(self, resolution: int) -> tuple[int, int, int]:
        """Every ``(time, x, y)`` mode the head can use on an ``resolution``² grid: up to the
        padded time axis's and the grid's highest non-Nyquist wavenumbers."""
        time = (self.t_in + self.head_padding - 1) // 2
        return (time, (resolution - 1) // 2, (resolution - 1) // 2)

    def widen_head(self, modes: Sequence[int], init_std: float = 0.0) -> SFNO:
        """Raise the head's kept modes to ``modes`` (trained coefficients kept); in place."""
        self.head.widen(modes, init_std)
        self.config["head_modes"] = list(self.head.modes)
        return self
