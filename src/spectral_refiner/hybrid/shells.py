r"""A linear closure model: per-shell gains on each input channel's Fourier coefficients.

For input fields ``x_c`` on an ``n`` grid,

.. math::

    \widehat{\mathrm{out}}(m) = \sum_c a_{c,\,s(m)}\, \hat x_c(m),
    \qquad s(m) = \max(|m_x|, |m_y|) \quad (s < n/2),

one real gain per channel and shell of the square band, so the map commutes with
translations and with the rotations and reflections of the grid. Its gains are fitted in
closed form (:meth:`ShellGains.fit`, least squares shell by shell, from normal equations
that add up over chunks of data); with the resolved-transfer
inputs of :func:`~spectral_refiner.physics.resolved_transfer_hat` it is the a-priori closure
``transfer`` of :mod:`spectral_refiner.hybrid.apriori`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["ShellGains"]


class ShellGains(nn.Module):
    """``(B, t_in, n, n) -> (B, 1, n, n)`` of the module docstring.

    Parameters
    ----------
    t_in : int
        Input channels.
    resolution : int
        The grid side ``n`` (``n / 2`` shells).
    """

    name = "shell-gains"

    def __init__(self, t_in: int, resolution: int) -> None:
        super().__init__()
        self.t_in, self.t_out, self.resolution = t_in, 1, resolution
        self.config = {"t_in": t_in, "resolution": resolution}
        self.gains = nn.Parameter(torch.zeros(t_in, resolution // 2))
        mx = torch.fft.fftfreq(resolution, d=1.0 / resolution).round().abs().long()
        my = torch.arange(resolution // 2 + 1)
        shell = torch.maximum(mx.reshape(-1, 1), my.reshape(1, -1))
        self.register_buffer("shell", shell, persistent=False)

    def _spread(self) -> torch.Tensor:
        """The gains on the half spectrum ``(t_in, n, n // 2 + 1)``, zero on the Nyquist shell."""
        padded = torch.cat((self.gains, self.gains.new_zeros(self.t_in, 1)), dim=1)
        return padded[:, self.shell]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_hat = torch.fft.rfft2(x, norm="forward")
        out = (x_hat * self._spread()).sum(dim=-3, keepdim=True)
        return torch.fft.irfft2(out, s=x.shape[-2:], norm="forward")

    @torch.no_grad()
    def normal_equations(
        self, x: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Shell by shell, ``Σ x̂ x̂ᵀ`` ``(n/2, t_in, t_in)`` and ``Σ x̂ ŷ`` ``(n/2, t_in)``
        (float64, real and imaginary parts) of inputs ``(N, t_in, n, n)`` and targets
        ``(N, n, n)``: sums over frames, so chunks of data add up (:meth:`solve`)."""
        x_hat = torch.fft.rfft2(x.double(), norm="forward")
        y_hat = torch.fft.rfft2(target.double(), norm="forward")
        gram = torch.zeros(self.resolution // 2, self.t_in, self.t_in, dtype=torch.float64)
        rhs = torch.zeros(self.resolution // 2, self.t_in, dtype=torch.float64)
        for s in range(self.resolution // 2):
            pick = self.shell == s
            a = torch.view_as_real(x_hat[..., pick]).movedim(1, -1).reshape(-1, self.t_in)
            gram[s] = a.T @ a
            rhs[s] = a.T @ torch.view_as_real(y_hat[..., pick]).reshape(-1)
        return gram, rhs

    @torch.no_grad()
    def solve(self, gram: torch.Tensor, rhs: torch.Tensor) -> None:
        """Set the least-squares gains from summed :meth:`normal_equations` (each shell's
        system scaled to a unit diagonal first; a channel that is zero on a shell gets 0)."""
        scale = gram.diagonal(dim1=-2, dim2=-1).sqrt()
        inv = torch.where(scale > 0, 1 / scale.clamp_min(1e-300), 0.0)
        scaled = gram * inv.unsqueeze(-1) * inv.unsqueeze(-2)
        eye = torch.eye(self.t_in, dtype=gram.dtype) * (scale == 0).unsqueeze(-1)
        gains = torch.linalg.solve(scaled + eye, (rhs * inv).unsqueeze(-1))[..., 0] * inv
        self.gains.copy_(gains.T.to(self.gains.dtype))

    def fit(self, x: torch.Tensor, target: torch.Tensor) -> None:
        """Least-squares gains from inputs ``(N, t_in, n, n)`` and targets ``(N, n, n)``."""
        self.solve(*self.normal_equations(x, target))

    def payload(self) -> dict[str, Any]:
        """Name, constructor arguments and weights (as ``models.model_payload``)."""
        return {"name": self.name, "config": dict(self.config), "state_dict": self.state_dict()}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ShellGains:
        """Rebuild from :meth:`payload`."""
        model = cls(**payload["config"])
        model.to(payload["state_dict"]["gains"].dtype).load_state_dict(payload["state_dict"])
        return model
