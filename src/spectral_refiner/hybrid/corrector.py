r"""The learned part of a hybrid solver: a field-to-field model as a band-limited correction.

A :class:`Corrector` maps the vorticity coefficients ``ω̂`` of the coarse grid to the Fourier
coefficients of a correction field,

.. math::

    \hat c = g\, s_c\, P_0\, \mathrm{FFT}\big(G(x / s_x)\big),\qquad
    x = (\omega)\ \text{or}\ (\omega, u, v),

with ``s_x`` a scale per input channel and ``s_c`` the scale of the correction (fixed
numbers, not trained: the hybrid takes them from the training data, so that ``G`` sees and
makes fields of order one and the gain's Adam steps of size ``lr`` move the correction by a
fraction ``lr`` of its natural size; with unit scales a correction of raw vorticity moves by
``lr`` in absolute terms and training hardly changes the error), ``G`` any
:class:`~spectral_refiner.models.NeuralOperator` with ``t_in`` = the number of input
channels and ``t_out = 1`` (its time axis read as channels), ``P_0`` the stored band of the
grid without the mean and the Nyquist modes (``|m_x|, |m_y| < n/2``, ``m ≠ 0``), and ``g``
a learned scalar gain, zero at construction: an untrained hybrid is the plain coarse solver
bit for bit, and training starts from it. The velocity ``(u, v)`` comes from the stream
function (:meth:`SpectralGrid.velocity <spectral_refiner.physics.SpectralGrid.velocity>`).

The correction is zero-mean (the mean vorticity of a periodic flow is fixed by the
equation) and acts on every stored mode, not only on the 2/3-rule band the coarse solver
advects: the modes ``n/3 < |m| < n/2`` of a truncated DNS frame are carried by the coarse
solver but never advected, and on Kolmogorov flow at 32² (DNS 128²) they hold 79% of the
plain solver's squared error over 8 frames (0.16 time units), which a correction confined to
the 2/3 band could never remove. The model must hold the grid's dtype
(``corrector.to(dtype)``).
"""

from __future__ import annotations

from collections.abc import Sequence

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
    input_scale : sequence of float
        ``s_x``, one per input channel (or one for all).
    output_scale : float
        ``s_c`` (negative flips the sign of ``G``'s output).
    """

    def __init__(
        self,
        model: NeuralOperator,
        grid: SpectralGrid,
        inputs: str = "vorticity",
        gain: float = 0.0,
        input_scale: Sequence[float] = (1.0,),
        output_scale: float = 1.0,
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
        scale = torch.as_tensor(list(input_scale), dtype=grid.dtype, device=grid.device)
        if scale.numel() not in (1, INPUTS[inputs]) or not bool((scale > 0).all()):
            raise SpectralRefinerError(
                f"corrector input_scale needs 1 or {INPUTS[inputs]} positive numbers, got "
                f"{list(input_scale)}"
            )
        self.input_scale = scale.reshape(-1, 1, 1)
        self.output_scale = float(output_scale)
        self.gain = nn.Parameter(torch.tensor(float(gain), dtype=grid.dtype, device=grid.device))
        half = grid.n // 2
        band = (grid.mx.abs() < half) & (grid.my < half)
        band[0, 0] = False
        self.band = band.to(grid.dtype)

    def channels(self, w_hat: torch.Tensor) -> torch.Tensor:
        """The model's scaled input fields ``x / s_x``, ``(B, C, n, n)``, from coefficients
        ``(B, n, n // 2 + 1)``."""
        w = self.grid.irfft(w_hat)
        if self.inputs == "vorticity":
            return w.unsqueeze(1) / self.input_scale
        u, v = self.grid.velocity(w_hat)
        return torch.stack((w, u, v), dim=1) / self.input_scale

    def forward(self, w_hat: torch.Tensor) -> torch.Tensor:
        """``ĉ`` for coefficients ``(..., n, n // 2 + 1)``, same shape, in the standard layout."""
        lead = w_hat.shape[:-2]
        flat = w_hat.reshape(-1, *w_hat.shape[-2:])
        out = self.model(self.channels(flat))[:, 0]
        out_hat = self.grid.rfft(out) * self.band
        return (self.gain * self.output_scale * out_hat).reshape(*lead, *out_hat.shape[-2:])
