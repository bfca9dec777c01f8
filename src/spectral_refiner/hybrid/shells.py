r"""A linear closure model: gains on each input channel's Fourier coefficients, tied over
shells or over the symmetric images of each mode.

For input fields ``x_c`` on an ``n`` grid,

.. math::

    \widehat{\mathrm{out}}(m) = \sum_c a_{c,\,g(m)}\, \hat x_c(m)
    \qquad (|m_x|, |m_y| < n/2),

one real gain per channel and group ``g(m)`` of modes (zero on the Nyquist modes), with the
groups (``tying``)

* ``shell``: ``g = max(|m_x|, |m_y|)``, one gain per shell of the square band;
* ``dihedral``: ``g = (max, min)`` of ``(|m_x|, |m_y|)``, one gain per mode and its images
  under the grid's rotations and reflections;
* ``reflections``: ``g = (|m_x|, |m_y|)``, one gain per mode and its images under the
  reflections ``x -> -x``, ``y -> -y`` (for flows with a preferred direction: Kolmogorov
  forcing is not invariant under the quarter turn).

Each map commutes with translations and with the symmetries it ties (real gains: a reflected
pseudo-scalar's coefficients are the reflected ones with the opposite sign, mapped by the
same gain). The gains are fitted in closed form (:meth:`ShellGains.fit`, least squares
group by group, from normal equations that add up over chunks of data); with the
resolved-transfer inputs of :func:`~spectral_refiner.physics.resolved_transfer_hat` it is the
a-priori closure ``transfer`` of :mod:`spectral_refiner.hybrid.apriori`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import SpectralRefinerError

__all__ = ["TYINGS", "ShellGains"]

#: How :class:`ShellGains` ties its gains over modes (module docstring).
TYINGS = ("shell", "dihedral", "reflections")


def _groups(n: int, tying: str) -> tuple[torch.Tensor, int]:
    """The group of every half-spectrum mode ``(n, n // 2 + 1)`` and the number of groups;
    the Nyquist modes get the extra last group (gain zero)."""
    mx = torch.fft.fftfreq(n, d=1.0 / n).round().abs().long().reshape(-1, 1)
    my = torch.arange(n // 2 + 1).reshape(1, -1)
    side = n // 2
    if tying == "shell":
        group, count = torch.maximum(mx, my), side
    elif tying == "dihedral":
        high, low = torch.maximum(mx, my), torch.minimum(mx, my)
        group, count = high * (high + 1) // 2 + low, side * (side + 1) // 2
    elif tying == "reflections":
        group, count = mx * side + my, side * side
    else:
        raise SpectralRefinerError(f"unknown tying {tying!r}: choose one of {', '.join(TYINGS)}")
    nyquist = (mx == side) | (my == side)
    return torch.where(nyquist, count, group), count


class ShellGains(nn.Module):
    """``(B, t_in, n, n) -> (B, 1, n, n)`` of the module docstring.

    Parameters
    ----------
    t_in : int
        Input channels.
    resolution : int
        The grid side ``n``.
    tying : str
        ``"shell"`` (``n / 2`` gains per channel), ``"dihedral"`` (``n (n + 2) / 8``) or
        ``"reflections"`` (``(n / 2)²``); module docstring.
    """

    name = "shell-gains"

    def __init__(self, t_in: int, resolution: int, tying: str = "shell") -> None:
        super().__init__()
        self.t_in, self.t_out, self.resolution = t_in, 1, resolution
        self.config = {"t_in": t_in, "resolution": resolution, "tying": tying}
        group, count = _groups(resolution, tying)
        self.gains = nn.Parameter(torch.zeros(t_in, count))
        self.register_buffer("group", group, persistent=False)

    def _spread(self) -> torch.Tensor:
        """The gains on the half spectrum ``(t_in, n, n // 2 + 1)``, zero on the Nyquist modes."""
        padded = torch.cat((self.gains, self.gains.new_zeros(self.t_in, 1)), dim=1)
        return padded[:, self.group]

    def forward_hat(self, x_hat: torch.Tensor) -> torch.Tensor:
        """The map on coefficients ``(B, t_in, n, n // 2 + 1) -> (B, 1, n, n // 2 + 1)``."""
        return (x_hat * self._spread().to(x_hat.real.dtype)).sum(dim=-3, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.forward_hat(torch.fft.rfft2(x, norm="forward"))
        return torch.fft.irfft2(out, s=x.shape[-2:], norm="forward")

    @torch.no_grad()
    def normal_equations(
        self, x: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Group by group, ``Σ x̂ x̂ᵀ`` ``(groups, t_in, t_in)`` and ``Σ x̂ ŷ``
        ``(groups, t_in)`` (float64, real and imaginary parts) of inputs ``(N, t_in, n, n)``
        and targets ``(N, n, n)``: sums over frames, so chunks of data add up
        (:meth:`solve`)."""
        a = torch.view_as_real(torch.fft.rfft2(x.double(), norm="forward"))
        b = torch.view_as_real(torch.fft.rfft2(target.double(), norm="forward"))
        gram = torch.einsum("ncklr,ndklr->klcd", a, a).reshape(-1, self.t_in, self.t_in)
        rhs = torch.einsum("ncklr,nklr->klc", a, b).reshape(-1, self.t_in)
        count, index = self.gains.shape[1] + 1, self.group.flatten()
        gram = gram.new_zeros(count, self.t_in, self.t_in).index_add_(0, index, gram)
        rhs = rhs.new_zeros(count, self.t_in).index_add_(0, index, rhs)
        return gram[:-1], rhs[:-1]

    @torch.no_grad()
    def solve(self, gram: torch.Tensor, rhs: torch.Tensor) -> None:
        """Set the least-squares gains from summed :meth:`normal_equations` (each group's
        system scaled to a unit diagonal first; a channel that is zero on a group gets 0)."""
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
        """Rebuild from :meth:`payload` (files written before ``tying`` existed: ``shell``)."""
        model = cls(**payload["config"])
        model.to(payload["state_dict"]["gains"].dtype).load_state_dict(payload["state_dict"])
        return model
