"""Training losses and per-sample errors: thin wrappers over the Sobolev norms and the
Navier–Stokes residual of :mod:`spectral_refiner.physics`.

For a predicted window ``p`` of frames ``p_t`` and its target ``y``, the relative error in
``H^s`` over the window is

    e_s(p, y) = (Σ_t ‖p_t - y_t‖_{H^s}^2)^{1/2} / (Σ_t ‖y_t‖_{H^s}^2)^{1/2},

(``s = 0``: relative L2, ``s = 1``: H1, ``s = -1``: H^-1, with ``‖·‖_{H^s}`` the
shifted norm of :func:`~spectral_refiner.physics.sobolev_norm`), the sum over frames being the
time integral of a Bochner norm up to the common factor ``Δt``.

The physics term is the residual of the predicted trajectory, the last input frame followed
by the prediction (:func:`~spectral_refiner.physics.prediction_trajectory`),
``‖R(w_in(t_in) ⊕ p)‖_{L2(H^-1)}`` (:func:`~spectral_refiner.physics.residual_norm`),
divided by the size of the input frames' time derivative in the same norm,
``‖(w_{j+1} - w_j)/Δt‖_{L2(H^-1)}``: scale-free, and unlike the estimate η not reducible by
making the prediction rougher, since its denominator does not depend on the prediction. With
no data term the training is label-free (physics-informed).
"""

from __future__ import annotations

import torch

from ..physics import (
    NavierStokes2D,
    SpectralGrid,
    bochner_norm,
    prediction_trajectory,
    residual_norm,
    sobolev_norm,
)

__all__ = ["ORDERS", "Objective", "physics_loss", "relative_error"]

ORDERS = {"rel_l2": 0.0, "rel_h1": 1.0, "rel_h-1": -1.0}


def relative_error(
    pred: torch.Tensor, target: torch.Tensor, grid: SpectralGrid, s: float = 0.0, alpha: float = 1.0
) -> torch.Tensor:
    """``e_s(pred, target)`` of the module docstring per sample, for windows ``(B, T, n, n)``."""
    err = torch.linalg.vector_norm(sobolev_norm(pred - target, grid, s, alpha), dim=-1)
    return err / torch.linalg.vector_norm(sobolev_norm(target, grid, s, alpha), dim=-1)


def physics_loss(
    w_in: torch.Tensor,
    pred: torch.Tensor,
    equation: NavierStokes2D,
    dt: float,
    alpha: float = 1.0,
) -> torch.Tensor:
    """The scaled residual of the module docstring per sample, shape ``(B,)``.

    Needs ``t_in + t_out >= 4`` frames and ``t_in >= 3`` (for the scale).
    """
    traj = prediction_trajectory(w_in, pred)
    scale = bochner_norm(torch.diff(w_in, dim=1) / dt, equation.grid, -1.0, alpha, dt)
    return residual_norm(traj, equation, dt, alpha) / scale.detach()


class Objective:
    """``data_weight · mean_b e_s(p, y) + physics_weight · mean_b physics_loss`` of a batch.

    Parameters
    ----------
    equation : NavierStokes2D
        The equation on the data's grid (its grid gives the norms' wavenumbers).
    dt : float
        Time between the frames of a window.
    data : str
        ``rel_l2``, ``rel_h1`` or ``rel_h-1``.
    data_weight, physics_weight : float
        Weights of the two terms (a zero weight skips the term).
    alpha : float
        Shift of the Sobolev weights ``(α + |k|^2)^s``.
    """

    def __init__(
        self,
        equation: NavierStokes2D,
        dt: float,
        data: str = "rel_l2",
        data_weight: float = 1.0,
        physics_weight: float = 0.0,
        alpha: float = 1.0,
    ) -> None:
        self.equation, self.dt = equation, dt
        self.s, self.alpha = ORDERS[data], alpha
        self.data_weight, self.physics_weight = data_weight, physics_weight

    def __call__(
        self, w_in: torch.Tensor, pred: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss (a scalar) and its detached parts ``{"data", "physics"}`` (batch means)."""
        pred = pred.to(self.equation.grid.dtype)
        parts: dict[str, torch.Tensor] = {}
        loss = pred.new_zeros(())
        if self.data_weight:
            term = relative_error(pred, target, self.equation.grid, self.s, self.alpha).mean()
            loss = loss + self.data_weight * term
            parts["data"] = term.detach()
        if self.physics_weight:
            term = physics_loss(w_in, pred, self.equation, self.dt, self.alpha).mean()
            loss = loss + self.physics_weight * term
            parts["physics"] = term.detach()
        return loss, parts
