"""A small periodic CNN: the cheapest learned map between fields on the torus.

Meant as a learned correction term (a hybrid solver's correction, an a-priori subgrid closure)
more than as a surrogate: a few periodic convolutions with GELU between them,

.. math::

    v_0 = z, \\qquad v_{l+1} = \\sigma(C_l * v_l)\\ (l < L - 1), \\qquad
    \\text{out} = C_{L-1} * v_{L-1},

with circular padding (the domain is periodic), so it commutes with shifts of the grid by
whole points and runs on any grid. Its receptive field is ``L (k - 1) + 1`` points: it is a
local operator, and a stencil in grid points, not in physical length (not resolution-invariant).
"""

from __future__ import annotations

import itertools

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import SpectralRefinerError
from .base import NeuralOperator, register

__all__ = ["PeriodicCNN"]


@register("cnn")
class PeriodicCNN(NeuralOperator):
    """Periodic CNN from ``t_in`` input channels to ``t_out`` output channels.

    Parameters
    ----------
    t_in, t_out : int
        Input and output frames (channels).
    width : int
        Channels of the hidden layers.
    n_layers : int
        Number of convolutions (at least 2).
    kernel_size : int
        Odd side of the convolution kernels.
    """

    def __init__(
        self,
        t_in: int = 1,
        t_out: int = 1,
        width: int = 16,
        n_layers: int = 4,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        if n_layers < 2 or kernel_size < 1 or kernel_size % 2 == 0:
            raise SpectralRefinerError(
                f"cnn needs n_layers >= 2 and an odd kernel_size, got {n_layers}, {kernel_size}"
            )
        self.t_in, self.t_out = t_in, t_out
        chans = [t_in, *[width] * (n_layers - 1), t_out]
        self.convs = nn.ModuleList(
            nn.Conv2d(a, b, kernel_size, padding=kernel_size // 2, padding_mode="circular")
            for a, b in itertools.pairwise(chans)
        )

    def operator(self, z: torch.Tensor) -> torch.Tensor:
        for conv in self.convs[:-1]:
            z = F.gelu(conv(z))
        return self.convs[-1](z)
