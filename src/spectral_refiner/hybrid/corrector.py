r"""The learned part of a hybrid solver: a field-to-field model as a band-limited correction.

A :class:`Corrector` maps the vorticity coefficients ``ω̂`` of the coarse grid to the Fourier
coefficients of a correction field,

.. math::

    \hat c = g\, P_0\, \mathrm{FFT}\big(G(x)\big),\qquad
    x = (\omega)\ \text{or}\ (\omega, u, v),

with ``G`` any :class:`~spectral_refiner.models.NeuralOperator` with ``t_in`` = the number of
input channels and ``t_out = 1`` (its time axis read as channels), ``P_0`` the 2/3-rule band
of the grid without the mean (``max(|m_x|, |m_y|) <= n/3``, ``m ≠ 0``), and ``g`` a learned
scalar gain, zero at construction: an untrained hybrid is the plain coarse solver bit for
bit, and training starts from it. The velocity ``(u, v)`` comes from the stream function
(:meth:`SpectralGrid.velocity <spectral_refiner.physics.SpectralGrid.velocity>`).

The correction is zero-mean (the mean vorticity of a periodic flow is fixed by the
equation) and band-limited to the modes the coarse solver advects, so it never excites the
modes its 2/3 rule drops. The model must hold the grid's dtype (``corrector.to(dtype)``).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import SpectralRefinerError
from ..models import NeuralOperator
from ..physics import SpectralGrid

__all__ = ["INPUTS", "Corrector"]

#: Input channels of a corrector's model, by name.
INPUTS = {"vorticity": 1, "vorticity-velocity": 3}


class Corrector(nn.Module):
    """A learned, band-limited, zero-mean correction ``ĉ(ω̂)`` (module docstring).

    Parameters
    ----------
    model : NeuralOperator
        Field-to-field model, ``t_in = INPUTS[inputs]``, ``t_out = 1``.
    grid : SpectralGrid
        The coarse grid the correction lives on.
    inputs : str
        ``"vorticity"`` or ``"vorticity-velocity"``.
    gain : float
        Initial value of the learned gain ``g`` (0: the plain solver).
    """

    def __init__(
        self,
        model: NeuralOperator,
        grid: SpectralGrid,
        inputs: str = "vorticity",
        gain: float = 0.0,
    ) -> None:
        super().__init__()
        if inputs not in INPUTS:
            raise SpectralRefinerError(
                f"unknown corrector inputs {inputs!r}: choose one of {', '.join(INPUTS)}"
            )
        t_in, t_out = getattr(model, "t_in", None), getattr(model, "t_out", None)
        if (t_in, t_out) != (INPUTS[inputs], 1):
            raise SpectralRefinerError(
                f"a corrector with inputs {inputs!r} needs a model with t_in={INPUTS[inputs]} "
                f"and t_out=1, got t_in={t_in}, t_out={t_out}; build the model with those"
            )
        self.model = model
        self.grid = grid
        self.inputs = inputs
        self.gain = nn.Parameter(torch.tensor(float(gain), dtype=grid.dtype, device=grid.device))
        band = grid.dealias.clone()
        band[0, 0] = 0
        self.band = band

    def channels(self, w_hat: torch.Tensor) -> torch.Tensor:
        """The model's input fields ``(B, C, n, n)`` from coefficients ``(B, n, n // 2 + 1)``."""
        w = self.grid.irfft(w_hat)
        if self.inputs == "vorticity":
            return w.unsqueeze(1)
        u, v = self.grid.velocity(w_hat)
        return torch.stack((w, u, v), dim=1)

    def forward(self, w_hat: torch.Tensor) -> torch.Tensor:
        """``ĉ`` for coefficients ``(..., n, n // 2 + 1)``, same shape, in the standard layout."""
        lead = w_hat.shape[:-2]
        flat = w_hat.reshape(-1, *w_hat.shape[-2:])
        out = self.model(self.channels(flat))[:, 0]
        out_hat = self.grid.rfft(out) * self.band
        return (self.gain * out_hat).reshape(*lead, *out_hat.shape[-2:])
