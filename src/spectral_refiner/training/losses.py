"""Training losses: thin wrappers over the relative errors of :mod:`spectral_refiner.metrics`
and the Navier–Stokes residual of :mod:`spectral_refiner.physics`.

The data term is the relative error ``e_s(p, y)`` over the window of a prediction ``p``
against its target ``y`` (:func:`~spectral_refiner.metrics.relative_error`).

The physics term is the residual of the predicted trajectory, the last input frame followed
by the prediction (:func:`~spectral_refiner.physics.prediction_trajectory`),
``‖R(w_in(t_in) ⊕ p)‖_{L2(H^-1)}`` (:meth:`~spectral_refiner.physics.Residual.prediction_norm`),
divided by the size of the input frames' time derivative in the same norm,
``‖(w_{j+1} - w_j)/Δt‖_{L2(H^-1)}``: scale-free, and unlike the estimate η not reducible by
making the prediction rougher, since its denominator does not depend on the prediction. With
no data term the training is label-free (physics-informed).
"""

from __future__ import annotations

import torch

from ..metrics import ORDERS, relative_error
from ..physics import Residual, bochner_norm

__all__ = ["Objective", "physics_loss"]


def physics_loss(w_in: torch.Tensor, pred: torch.Tensor, residual: Residual) -> torch.Tensor:
    """The scaled residual of the module docstring per sample, shape ``(B,)``.

    Needs ``t_in + t_out >= 4`` frames and ``t_in >= 3`` (for the scale).
    """
    dt, alpha = residual.dt, residual.alpha
    scale = bochner_norm(torch.diff(w_in, dim=1) / dt, residual.grid, -1.0, alpha, dt)
    return residual.prediction_norm(w_in, pred) / scale.detach()


class Objective:
    """``data_weight · mean_b e_s(p, y) + physics_weight · mean_b physics_loss`` of a batch.

    Parameters
    ----------
    residual : Residual
        The run's residual on the data's grid (its grid gives the norms' wavenumbers, its
        ``α`` the shift of the Sobolev weights ``(α + |k|^2)^s`` of both terms).
    data : str
        ``rel_l2``, ``rel_h1`` or ``rel_h-1``.
    data_weight, physics_weight : float
        Weights of the two terms (a zero weight skips the term).
    """

    def __init__(
        self,
        residual: Residual,
        data: str = "rel_l2",
        data_weight: float = 1.0,
        physics_weight: float = 0.0,
    ) -> None:
        self.residual = residual
        self.s = ORDERS[data]
        self.data_weight, self.physics_weight = data_weight, physics_weight

    def __call__(
        self, w_in: torch.Tensor, pred: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss (a scalar) and its detached parts ``{"data", "physics"}`` (batch means)."""
        grid, alpha = self.residual.grid, self.residual.alpha
        pred = pred.to(grid.dtype)
        parts: dict[str, torch.Tensor] = {}
        loss = pred.new_zeros(())
        if self.data_weight:
            term = relative_error(pred, target, grid, self.s, alpha).mean()
            loss = loss + self.data_weight * term
            parts["data"] = term.detach()
        if self.physics_weight:
            term = physics_loss(w_in, pred, self.residual).mean()
            loss = loss + self.physics_weight * term
            parts["physics"] = term.detach()
        return loss, parts
