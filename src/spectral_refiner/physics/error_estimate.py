r"""The honest estimate of a prediction: η, its resolution floor, and the error it implies.

The estimate η (:func:`~.residual.estimate`) of a prediction measures its residual relative
to the size of the equation's terms. For frames stored below the resolution of the flow that
made them, the true trajectory has a residual too: the unresolved scales drive the stored
band (the subgrid term ``τ``, :mod:`.subgrid`), and the residual's fourth-order time quadrature
has its own error ``O(Δt^4)``. No prediction on the stored band can be judged more accurately
than that, and a refinement that lowers η below it moves the prediction away from the truth.
So every prediction is reported with four numbers (all per instance):

=================  ==========================================================================
column             meaning
=================  ==========================================================================
``eta``            η of the prediction's trajectory (last input frame, then the prediction),
                   :meth:`Residual.of_prediction <.residual.Residual.of_prediction>`; with a
                   closure in the equation, of the closed equation.
``floor``          the resolution floor, in η's units: η of the given input frames
                   themselves (:func:`resolution_floor`), the residual the data carry before
                   any prediction: subgrid term (minus what a closure models) plus the
                   time-quadrature error. ``nan`` with fewer than 4 input frames.
``estimate``       ``max(eta, floor)``: what the residual can tell, never below the floor
                   (``eta`` itself when the floor is ``nan``).
``error_estimate`` the relative L2 error the estimate implies: the error-transport estimate
                   ``ê`` (:func:`transported_error`, the residual propagated through the
                   linear part of the equation over the window) scaled by
                   ``estimate / eta``, the same transport applied to a residual of the
                   floor's size when the prediction's own is smaller.
=================  ==========================================================================

Why the floor is measured on the input frames. They are data: whatever residual they have
under the chosen equation (and closure) is what the stored band cannot remove, measured and
not modelled, and it includes both parts (the subgrid term, shrinking as a closure captures
it, and the quadrature error, growing as ``Δt^4``). It is ~0 (round-off and the quadrature
error of a resolved flow) for frames at their simulation's resolution, and it grows as the
stored resolution falls.

Error transport. With ``p = ω + e`` and ``R(ω) ≈ 0``, the residual's definition
``R_{j+1/2} = (p_{j+1} - p_j)/Δt - Q_j[F(p)]`` linearises to
``(e_{j+1} - e_j)/Δt = Q_j[J e] + R_{j+1/2}(p)``. Keeping the linear part ``L`` of ``J``
(viscosity and drag) and integrating it by Crank–Nicolson from ``e = 0`` at the first frame,

.. math::

    \hat e_{j+1} = \frac{(1 + \Delta t L/2)\,\hat e_j + \Delta t\,\hat R_{j+1/2}}
    {1 - \Delta t L/2},
    \qquad
    \hat\epsilon = \frac{(\sum_{j\ge 1}\|e_j\|^2)^{1/2}}{(\sum_{j\ge 1}\|p_j\|^2)^{1/2}},

the relative L2 error of the frames after the first, the quantity the true ``rel_l2`` of a
window measures. It inverts the time difference, so an error alternating from frame to frame
and a smooth one of the same size get the same estimate (η weighs the first ``~6×`` more).
"""

from __future__ import annotations

import math

import torch

from .norms import sobolev_norm_hat
from .residual import Residual, ns_residual, prediction_trajectory

__all__ = [
    "ESTIMATE_COLUMNS",
    "honest_estimate",
    "resolution_floor",
    "transported_error",
    "with_floor",
]

ESTIMATE_COLUMNS: tuple[str, ...] = ("eta", "floor", "estimate", "error_estimate")
"""The per-prediction columns of the module docstring, in order."""


def resolution_floor(residual: Residual, frames: torch.Tensor) -> torch.Tensor:
    """η of given frames ``(B, T, n, n)`` (the data before a prediction), shape ``(B,)``;
    ``nan`` when ``T < 4`` (the residual needs four frames). See the module docstring."""
    if frames.shape[1] < 4:
        return torch.full(
            frames.shape[:1], math.nan, dtype=residual.grid.dtype, device=residual.grid.device
        )
    return residual.estimate(frames)


def transported_error(
    residual: Residual, traj: torch.Tensor, last: int | None = None
) -> torch.Tensor:
    """``ε̂`` of the module docstring for a trajectory ``(B, T, n, n)``, ``T >= 4``, shape
    ``(B,)``: the relative L2 error its residual implies when frame 0 is exact, over its
    ``last`` frames (default all after the first, ``T - 1``)."""
    equation, dt = residual.equation, residual.dt
    grid = equation.grid
    r_hat = ns_residual(traj, equation, dt)
    half = 0.5 * dt * equation.linear
    gain, source = (1 + half) / (1 - half), dt / (1 - half)
    e_hat = torch.zeros_like(r_hat[:, 0])
    sizes = []
    for j in range(r_hat.shape[1]):
        e_hat = gain * e_hat + source * r_hat[:, j]
        sizes.append(sobolev_norm_hat(e_hat, grid, 0.0))
    last = traj.shape[1] - 1 if last is None else last
    error = torch.linalg.vector_norm(torch.stack(sizes[-last:], dim=-1), dim=-1)
    w_hat = grid.rfft(traj[:, -last:].to(grid.device, grid.dtype))
    return error / torch.linalg.vector_norm(sobolev_norm_hat(w_hat, grid, 0.0), dim=-1)


def with_floor(columns: dict[str, torch.Tensor], floor: torch.Tensor) -> dict[str, torch.Tensor]:
    """The columns of :func:`honest_estimate` under another floor ``(B,)`` (a rollout's later
    windows keep the floor of the given data, the first window's inputs): ``estimate`` and
    ``error_estimate`` recomputed, the transport ``ê = error_estimate · eta / estimate`` kept."""
    eta = columns["eta"]
    estimate = torch.where(torch.isnan(floor), eta, torch.maximum(eta, floor))
    transported = columns["error_estimate"] * eta / columns["estimate"]
    return {
        "eta": eta,
        "floor": floor,
        "estimate": estimate,
        "error_estimate": transported * estimate / eta,
    }


@torch.no_grad()
def honest_estimate(
    residual: Residual, w_in: torch.Tensor, pred: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The columns :data:`ESTIMATE_COLUMNS` of predictions ``pred`` ``(B, t_out, n, n)`` made
    from the input frames ``w_in`` ``(B, t_in, n, n)`` (on the residual's grid), each ``(B,)``.

    The transport runs over the last input frame and the prediction; with fewer than 3
    predicted frames the trajectory starts with as many input frames as make four
    (:func:`~.residual.prediction_trajectory`), whose own residual is then transported too;
    the error is measured on the predicted frames.
    """
    eta = residual.of_prediction(w_in, pred)
    error = transported_error(residual, prediction_trajectory(w_in, pred), pred.shape[1])
    columns = {"eta": eta, "estimate": eta, "error_estimate": error}
    return with_floor(columns, resolution_floor(residual, w_in))
