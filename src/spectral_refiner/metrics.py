"""The project's metrics in one place, below training and evaluation: their names, their
Sobolev orders, the one relative-error function and the per-window metrics of a prediction.

For a predicted window ``p`` of frames ``p_t`` and its target ``y``, the relative error in
``H^s`` over the window is

    e_s(p, y) = (Σ_t ‖p_t - y_t‖_{H^s}^2)^{1/2} / (Σ_t ‖y_t‖_{H^s}^2)^{1/2},

and per frame ``‖p_t - y_t‖_{H^s} / ‖y_t‖_{H^s}`` (``s = 0``: relative L2, ``s = 1``: H1,
``s = -1``: H^-1, with the shifted norm of :func:`~spectral_refiner.physics.sobolev_norm`);
the sum over frames is the time integral of a Bochner norm up to the common factor ``Δt``.
The estimate ``η`` of a prediction is :meth:`Residual.of_prediction
<spectral_refiner.physics.Residual.of_prediction>`. Imports the physics only.
"""

from __future__ import annotations

import math

import torch

from .physics import Residual, SpectralGrid, relative_sobolev_error, sobolev_norm

__all__ = [
    "ERRORS",
    "FRAME_METRICS",
    "ORDERS",
    "WINDOW_METRICS",
    "relative_error",
    "window_metrics",
]

ORDERS: dict[str, float] = {"rel_l2": 0.0, "rel_h1": 1.0, "rel_h-1": -1.0}
"""The relative errors and the Sobolev order ``s`` of each."""
ERRORS: tuple[str, ...] = tuple(ORDERS)
WINDOW_METRICS: tuple[str, ...] = (*ERRORS, "eta")
"""What training and file predictions report per window."""
FRAME_METRICS: tuple[str, ...] = (*ERRORS, "correlation")
"""What a rollout reports per frame."""


def relative_error(
    pred: torch.Tensor,
    target: torch.Tensor,
    grid: SpectralGrid,
    s: float = 0.0,
    alpha: float = 1.0,
    *,
    per_frame: bool = False,
) -> torch.Tensor:
    """``e_s(pred, target)`` of the module docstring per sample, ``(B,)``, for windows
    ``(B, T, n, n)``; with ``per_frame``, the error of every frame, ``(B, T)``."""
    if per_frame:
        return relative_sobolev_error(pred, target, grid, s, alpha)
    err = torch.linalg.vector_norm(sobolev_norm(pred - target, grid, s, alpha), dim=-1)
    return err / torch.linalg.vector_norm(sobolev_norm(target, grid, s, alpha), dim=-1)


@torch.no_grad()
def window_metrics(
    w_in: torch.Tensor,
    pred: torch.Tensor,
    target: torch.Tensor,
    residual: Residual,
    *,
    eta: bool = True,
) -> dict[str, torch.Tensor]:
    """Each of :data:`WINDOW_METRICS` per window, ``(B,)``: the relative errors of ``pred``
    against ``target`` (with the residual's ``α``) and the estimate η of the prediction
    (NaN with ``eta=False``: samples that are not windows of consecutive frames; NaN when
    ``w_in`` and ``pred`` hold fewer than the residual's 4 frames)."""
    out = {
        name: relative_error(pred, target, residual.grid, s, residual.alpha)
        for name, s in ORDERS.items()
    }
    if eta and w_in.shape[1] + pred.shape[1] >= 4:
        out["eta"] = residual.of_prediction(w_in, pred)
    else:  # not windows, or too short for the residual (a hybrid's window of 1 + 1 frames)
        out["eta"] = torch.full_like(out["rel_l2"], math.nan)
    return out
