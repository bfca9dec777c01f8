r"""The honest estimate of a prediction: η, its resolution floor, and the error it implies.

The estimate η (:func:`~.residual.estimate`) of a prediction measures its residual relative
to the size of the equation's terms. For frames stored below the resolution of the flow that
made them, the true trajectory has a residual too: the unresolved scales drive the stored
band (the subgrid term ``τ``, :mod:`.subgrid`), and the residual's fourth-order time quadrature
has its own error ``O(Δt^4)``. No prediction on the stored band can be judged more accurately
than that, and a refinement that lowers η below it moves the prediction away from the truth.
So every prediction is reported with five numbers (all per instance):

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
``floor_error``    the floor in error units: ``F``, the relative L2 error the input frames'
                   own residual implies when transported over them (:func:`floor_error`),
                   scaled to the prediction's duration (× its frame intervals over the
                   inputs': the transported error of a residual coherent in time grows
                   linearly), the error a prediction as good as the data carries in its
                   residual. ``nan`` with fewer than 4 input frames.
``error_estimate`` the relative L2 error of the prediction: the excess of its transported
                   residual ``ê`` over the floor's, :func:`excess_error`
                   ``E = (max(ê² - F², 0) + (F/4)²)^{1/2}`` (``ê`` when ``F`` is ``nan``);
                   after refinement :func:`refined_error` of the unrefined and refined
                   estimates and the distance refinement moved the prediction
                   (:func:`refined_estimate`).
=================  ==========================================================================

The excess. The residual of a prediction ``p = ω + e`` is the truth's own residual (what the
stored band cannot remove) plus the residual the error makes, ``R(p) ≈ R(ω) + R'(ω) e``; the
two are uncorrelated (the unresolved scales' against the model's), so their transported
errors add in squares, ``ê² ≈ ê_ω² + ε²`` (measured on 256² → 64² Kolmogorov frames:
``ê`` of the truth plus a 1%, 3%, 10% error is ``(ê_ω² + ε²)^{1/2}`` within a few per cent).
Transporting the whole residual charges every prediction the truth's ``ê_ω`` (≈ 6% there),
which swamps smaller errors (a 1% error was estimated at 6%). ``ê_ω`` of the predicted
window is not known, but the input frames' ``F`` measures it on the window before (within
~±15% there): ``(ê² - F²)^{1/2}`` is the error. The excess is resolved only down to a
fraction of ``F`` (``F`` itself fluctuates from window to window), so ``E`` never claims
less than ``F/4``: without that term, errors of 1-3% under a ≈ 6% floor were estimated at 0
as often as not; the fraction was chosen on training trajectories (``kdns256-train``: 1/5,
1/4 and 1/3 put 97-98% of a mix of errors within a factor 3, 0 only 65%). On a resolved
flow ``F ≈ 0`` and ``E`` is ``ê`` itself.

After refinement. Refinement minimises the residual, down to the floor where it stops, so a
refined prediction's own excess says little: refinement removes the part of the residual it
can, whatever the error. What it does tell is how far it moved the prediction,
``d = ‖p_1 - p_0‖ / ‖p_0‖`` (relative L2 over the predicted frames, :func:`moved_distance`).
Refinement moves the prediction along the residual's gradient, toward the set of frames
whose residual is at the floor; when the truth lies near that set the move is toward the
truth's projection on it, and the error left is the leg of a right triangle whose hypotenuse
is the error before (Pythagoras): ``ε_1² ≈ ε_0² - d²`` (measured on 256² → 64² Kolmogorov
training frames: noisy errors of 1-10% lose ~94% of their size to the move and keep ~30%).
The resolved part of the unrefined estimate, ``X_0 = E_0² - (F/4)²``, loses ``d²``; the
unresolved part ``F/4`` shrinks by the move too (the move is error removed, resolved or
not), down to a fraction ``c`` of ``F``, the resolution of a prediction at the floor:

.. math::

    r = \max(F/4 - d,\ cF), \qquad
    E_{\rm refined} = \max\Big(\big(\max(X_1, 0) + r^2\big)^{1/2},\
    \min\big(F, (\max(X_0 - d^2, 0) + r^2)^{1/2}\big)\Big),

``X_1 = E_1² - (F/4)²`` the refined prediction's own resolved excess, ``c`` =
:data:`REFINED_FRACTION` (chosen on the training files only, :func:`refined_error`). The
Pythagoras term never exceeds ``F``: refinement is trusted to bring an error down to the
floor's, and above the floor the refined prediction's own excess is resolved and speaks for
itself. Without a move (``d = 0``) ``r = F/4`` and the estimate is ``E_0`` unchanged, bit for
bit; on a resolved flow (``F ≈ 0``) it is ``E_1``, the refined prediction's own transport.
Guard: where the move exceeds the estimated error beyond its resolution,
``d² > E_0² + (F/4)²``, refinement went somewhere the estimate cannot follow (Pythagoras
cannot hold), and the estimate falls back to ``max(E_1, min(E_0, F))``.

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
    "REFINED_FRACTION",
    "excess_error",
    "floor_error",
    "honest_estimate",
    "moved_distance",
    "refined_error",
    "refined_estimate",
    "resolution_floor",
    "transported_error",
]

ESTIMATE_COLUMNS: tuple[str, ...] = ("eta", "floor", "estimate", "floor_error", "error_estimate")
"""The per-prediction columns of the module docstring, in order."""

RESOLVED_FRACTION = 0.25
"""The fraction of the floor's error ``F`` below which the excess is not resolved (module
docstring): ``E >= F/4``."""

REFINED_FRACTION = 0.1
"""``c`` of :func:`refined_error`: the least fraction of ``F`` a refined prediction's error
estimate is resolved to (module docstring; chosen on the training files ``kdns256-train``
and ``mdns256-train``, ``python -m benchmarks.closure_estimate``)."""


def resolution_floor(residual: Residual, frames: torch.Tensor) -> torch.Tensor:
    """η of given frames ``(B, T, n, n)`` (the data before a prediction), shape ``(B,)``;
    ``nan`` when ``T < 4`` (the residual needs four frames). See the module docstring."""
    if frames.shape[1] < 4:
        return _nan(frames, residual)
    return residual.estimate(frames)


def _nan(frames: torch.Tensor, residual: Residual) -> torch.Tensor:
    grid = residual.grid
    return torch.full(frames.shape[:1], math.nan, dtype=grid.dtype, device=grid.device)


def transported_error(
    residual: Residual,
    traj: torch.Tensor,
    last: int | None = None,
    r_hat: torch.Tensor | None = None,
) -> torch.Tensor:
    """``ε̂`` of the module docstring for a trajectory ``(B, T, n, n)``, ``T >= 4``, shape
    ``(B,)``: the relative L2 error its residual implies when frame 0 is exact, over its
    ``last`` frames (default all after the first, ``T - 1``); ``r_hat``: the trajectory's
    residual (:func:`~.residual.ns_residual`) when already computed."""
    equation, dt = residual.equation, residual.dt
    grid = equation.grid
    r_hat = ns_residual(traj, equation, dt) if r_hat is None else r_hat
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


def floor_error(
    residual: Residual, frames: torch.Tensor, intervals: int | None = None
) -> torch.Tensor:
    """``F``: :func:`transported_error` of given frames ``(B, T, n, n)`` (the input frames)
    scaled to a trajectory of ``intervals`` frame intervals (default ``T - 1``: unscaled) by
    ``intervals / (T - 1)``, shape ``(B,)``; ``nan`` when ``T < 4``. See the module
    docstring."""
    return _floors(residual, frames, intervals)[1]


def _floors(
    residual: Residual, frames: torch.Tensor, intervals: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`resolution_floor` and :func:`floor_error` from one residual evaluation."""
    if frames.shape[1] < 4:
        return _nan(frames, residual), _nan(frames, residual)
    r_hat, _, eta = residual.with_estimate(frames)
    scale = 1.0 if intervals is None else intervals / (frames.shape[1] - 1)
    return eta, scale * transported_error(residual, frames, r_hat=r_hat)


def excess_error(transported: torch.Tensor, floor_err: torch.Tensor) -> torch.Tensor:
    """``E = (max(ê² - F², 0) + (F/4)²)^{1/2}`` of transported errors ``ê`` and floor errors
    ``F`` ``(B,)``; ``ê`` where ``F`` is ``nan`` (module docstring)."""
    base = torch.where(torch.isnan(floor_err), 0, floor_err)
    excess = (transported.square() - base.square()).clamp_min(0)
    return (excess + (RESOLVED_FRACTION * base).square()).sqrt()


def refined_error(
    unrefined: dict[str, torch.Tensor],
    own: torch.Tensor,
    moved: torch.Tensor,
    fraction: float = REFINED_FRACTION,
) -> torch.Tensor:
    """``E_refined`` of the module docstring, shape ``(B,)``, from the columns ``unrefined``
    of the unrefined prediction (``error_estimate`` ``E_0``, ``floor_error`` ``F``), the
    refined prediction's ``own`` error estimate ``E_1`` (:func:`honest_estimate` with the same
    floors) and the relative distance ``moved`` ``d`` between them; ``c`` = ``fraction``.
    Where ``F`` is ``nan`` (no floor known) ``F`` counts as 0 in ``r`` and as ``∞`` in the
    caps."""
    error, base = unrefined["error_estimate"], unrefined["floor_error"]
    moved, unknown = moved.to(error), torch.isnan(base)
    known = torch.where(unknown, 0, base)
    unresolved = RESOLVED_FRACTION * known
    resolution = torch.maximum(unresolved - moved, fraction * known)
    gained = unresolved.square() - resolution.square()  # 0 without a move, bit for bit

    def shrunk(e: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        return torch.maximum(e.square() - d.square() - gained, resolution.square()).sqrt()

    cap = torch.where(unknown, math.inf, base)
    left = torch.minimum(shrunk(error, moved), cap)
    after = torch.maximum(shrunk(own, torch.zeros_like(moved)), left)
    guard = moved.square() > error.square() + unresolved.square()
    fallback = torch.minimum(error, cap)
    return torch.where(guard, torch.maximum(own, fallback), after)


def moved_distance(refined: torch.Tensor, unrefined: torch.Tensor) -> torch.Tensor:
    """``d = ‖p_1 - p_0‖ / ‖p_0‖`` of predictions ``(B, t_out, n, n)``, shape ``(B,)``: the
    relative L2 distance (over all predicted frames, Parseval's ratio needs no grid)
    refinement moved ``p_0`` to ``p_1``."""
    dims = tuple(range(1, refined.ndim))
    change = torch.linalg.vector_norm(refined - unrefined, dim=dims)
    return change / torch.linalg.vector_norm(unrefined, dim=dims)


@torch.no_grad()
def honest_estimate(
    residual: Residual,
    w_in: torch.Tensor,
    pred: torch.Tensor,
    floors: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """The columns :data:`ESTIMATE_COLUMNS` of predictions ``pred`` ``(B, t_out, n, n)`` made
    from the input frames ``w_in`` ``(B, t_in, n, n)`` (on the residual's grid), each ``(B,)``.

    ``floors``: ``(floor, floor_error)`` to use instead of the inputs' (a rollout's later
    windows keep those of the given data, the first window's inputs). The transport runs over
    the last input frame and the prediction; with fewer than 3 predicted frames the
    trajectory starts with as many input frames as make four
    (:func:`~.residual.prediction_trajectory`), whose own residual is then transported too;
    the error is measured on the predicted frames.
    """
    traj = prediction_trajectory(w_in, pred)
    r_hat, _, eta = residual.with_estimate(traj)
    transported = transported_error(residual, traj, pred.shape[1], r_hat)
    floors = _floors(residual, w_in, traj.shape[1] - 1) if floors is None else floors
    floor, base = floors
    return {
        "eta": eta,
        "floor": floor,
        "estimate": torch.where(torch.isnan(floor), eta, torch.maximum(eta, floor)),
        "floor_error": base,
        "error_estimate": excess_error(transported, base),
    }


def refined_estimate(
    residual: Residual,
    w_in: torch.Tensor,
    refined: torch.Tensor,
    unrefined: dict[str, torch.Tensor],
    initial: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """The columns of a prediction ``refined`` from ``w_in``, given the prediction ``initial``
    it was refined from and that one's columns ``unrefined`` (whose floors it keeps): those of
    :func:`honest_estimate`, the error estimate :func:`refined_error` with ``d`` =
    :func:`moved_distance` ``(refined, initial)`` (module docstring)."""
    floors = unrefined["floor"], unrefined["floor_error"]
    columns = honest_estimate(residual, w_in, refined, floors)
    moved = moved_distance(refined, initial)
    columns["error_estimate"] = refined_error(unrefined, columns["error_estimate"], moved)
    return columns
