r"""Navier–Stokes residual of a vorticity trajectory and the a posteriori error estimate η.

For the equation of :class:`~.navier_stokes.NavierStokes2D`,

.. math::

    R(\omega) = \partial_t\omega + u\cdot\nabla\omega - \nu\Delta\omega + \mu\omega - f,

i.e. ``R = ∂tω - F(ω)`` with ``F̂(ω̂) = N(ω̂) + L ω̂`` the right-hand side of ``∂tω̂ = F̂``:
``N`` the dealiased advection plus forcing, velocity from the stream function
(:meth:`NavierStokes2D.explicit_terms <.navier_stokes.NavierStokes2D.explicit_terms>`), and
``L = -(ν|k|^2 + μ)`` (:attr:`NavierStokes2D.linear <.navier_stokes.NavierStokes2D.linear>`).

Time discretisation, integral form over single intervals. A trajectory is given by frames
``ω_j = ω(t_j)``, ``t_j = j Δt``, ``j = 0..T-1``, ``T >= 4``. On every interval
``[t_j, t_{j+1}]``, ``j = 0..T-2``, the exact identity
``ω(t_{j+1}) - ω(t_j) = ∫_{t_j}^{t_{j+1}} F dt``, divided by ``Δt`` and with the integral of
the cubic through four neighbouring frames, defines

.. math::

    \hat R_{j+1/2} = \frac{\hat\omega_{j+1} - \hat\omega_j}{\Delta t} - Q_j[\hat F],
    \qquad
    Q_j[a] = \begin{cases}
        (9a_0 + 19a_1 - 5a_2 + a_3)/24 & j = 0,\\
        (-a_{j-1} + 13a_j + 13a_{j+1} - a_{j+2})/24 & 0 < j < T-2,\\
        (a_{T-4} - 5a_{T-3} + 19a_{T-2} + 9a_{T-1})/24 & j = T-2,
    \end{cases}

the average of ``R`` over the interval up to the quadrature error, ``O(Δt^4)`` for a smooth
solution. ``F̂`` of all frames comes from one batched call of ``explicit_terms`` (``L`` is
constant in time, so it is applied once to the averages of ``ω̂``); everything stays in
Fourier space and is differentiable (autograd runs through it), in float32 or float64, on
the equation's device.

Space: every stored mode is advected. Stored frames are spectral truncations of a finer
simulation, so they carry every mode ``|m| < n/2``; the 2/3 rule of a solver on the ``n``
grid would leave the modes above ``n/3`` without advection, and their whole time derivative
would be counted as residual (for 64² McWilliams frames, η of the true trajectory was 0.11
that way). So the frames are zero-padded to ``3n/2`` points, where the products of band
fields are alias-free on the band, and every term is restricted to the band ``|m| < n/2``.
What remains for a truncated true trajectory is the effect of the modes it does not store.

Closures. A closure in the equation is part of ``F`` (its term is added to the explicit
terms of every frame). A closure with a positive ``history`` (a window-aware learned closure,
:class:`~spectral_refiner.hybrid.AprioriClosure` trained with lags or a memory) sees the
window's earlier frames: its term comes from ``window_term_hat(ω̂ (B, T, ...), Δt)`` on the
padded grid, of the frames the residual holds (those of a prediction's trajectory when the
residual is of a prediction), never of frames outside the trajectory.

Why single intervals. A difference across two intervals, ``ω_{n+1} - ω_{n-1}`` (central
differences, or Simpson's rule over ``[t_{n-1}, t_{n+1}]``), only couples frames of equal
parity: a perturbation alternating in sign from frame to frame, ``δ_j = (-1)^j ε φ``, leaves
it unchanged, so a correction optimised against such a residual can hide error there. Here
the jump ``ω_{j+1} - ω_j`` of every interval is seen, ``2εφ/Δt`` for the alternating
perturbation. A residual made by advancing each frame by a tiny solver step is ``O(step)``
for any field whatsoever; this one compares the frames with each other, so it vanishes only
for a trajectory of the equation.

Norms, in ``L2(t_0, t_{T-1}; H^-1)`` (:func:`~.norms.sobolev_norm_hat`, ``s = -1``, shift
``α``), with the rectangle rule over the residual frames (weight ``Δt`` each, since every
``R̂_n`` is a local time average):

* the absolute residual norm :func:`residual_norm`
  ``‖R‖ = (Δt Σ_n ‖R_n‖_{H^-1}^2)^{1/2}``, the quantity to minimise when refining (its
  square); and
* the estimate :func:`estimate` ``η = ‖R‖ / S``, scaled by the size of the equation's terms
  in the same norm, ``S = ‖D‖ + ‖A‖ + ‖V‖ + ‖M‖ + ‖f‖``: the time difference
  ``D_{j+1/2} = (ω_{j+1} - ω_j) / Δt`` and the interval averages ``Q_j`` of advection
  ``A = -u·∇ω``, viscous term ``V = νΔω``, drag ``M = -μω`` and forcing ``f`` (the last two
  when present). ``η`` is scale-free and comparable across flows, which makes it the
  measure to report; it is not a training objective: a relative quantity can be lowered by
  inflating the terms (a faster-changing, rougher trajectory) instead of reducing ``R``.
"""

from __future__ import annotations

import copy
import math
import weakref
from functools import lru_cache

import torch

from ..errors import SpectralRefinerError
from .grid import SpectralGrid
from .navier_stokes import NavierStokes2D, _ky_major
from .norms import sobolev_norm_hat

__all__ = [
    "Residual",
    "band_forcing",
    "estimate",
    "ns_residual",
    "prediction_estimate",
    "prediction_trajectory",
    "residual_and_estimate",
    "residual_norm",
]


@lru_cache(maxsize=64)
def _interval_weights(frames: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``(T - 1, T)`` matrix of the interval averages ``Q_j`` (see the module docstring);
    cached, since the refiner evaluates the residual of the same window length many times."""
    q = torch.zeros(frames - 1, frames, dtype=torch.float64)
    q[0, :4] = torch.tensor([9.0, 19.0, -5.0, 1.0])
    for j in range(1, frames - 2):
        q[j, j - 1 : j + 3] = torch.tensor([-1.0, 13.0, 13.0, -1.0])
    q[-1, -4:] = torch.tensor([1.0, -5.0, 19.0, 9.0])
    return (q / 24).to(dtype=dtype, device=device)


def _residual_terms(
    traj: torch.Tensor, equation: NavierStokes2D, dt: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``R̂``, ``D̂`` and the interval averages ``N̄ = Q[N(ω̂)]`` and ``ω̄ = Q[ω̂]``.

    Each has shape ``(B, T - 1, n, n // 2 + 1)`` (one per interval); ``R̂ = D̂ - N̄ - L ω̄``.
    """
    grid = equation.grid
    if traj.dim() != 4 or traj.shape[-2:] != (grid.n, grid.n):
        raise SpectralRefinerError(
            f"trajectory has shape {tuple(traj.shape)}, expected (batch, time, {grid.n}, "
            f"{grid.n}) to match the equation's grid; resample it or build the equation at "
            "its resolution"
        )
    if traj.shape[1] < 4:
        raise SpectralRefinerError(
            f"the residual needs at least 4 frames per trajectory, got {traj.shape[1]}; "
            "pass a longer window"
        )
    if not dt > 0:
        raise SpectralRefinerError(f"the frame spacing dt must be positive, got {dt}")
    # The frames zero-padded to the 3/2-rule grid (m_y-major, the layout explicit_terms reads
    # fastest), the explicit terms there, and everything restricted to the band |m| < n/2.
    fine = _padded(equation)
    w_fine = _ky_major(grid.resample_hat(grid.rfft(traj.to(grid.device, grid.dtype)), fine.grid.n))
    if getattr(fine.closure, "history", 0):  # a closure that sees the window's earlier frames
        n_fine = _open(fine).explicit_terms(w_fine.flatten(0, 1)).unflatten(0, traj.shape[:2])
        n_fine = n_fine + fine.closure.window_term_hat(w_fine, dt)
    else:
        n_fine = fine.explicit_terms(w_fine.flatten(0, 1)).unflatten(0, traj.shape[:2])
    w_hat, n_hat = (fine.grid.resample_hat(a, grid.n) for a in (w_fine, n_fine))
    q = _interval_weights(traj.shape[1], grid.cdtype, grid.device)

    def average(a: torch.Tensor) -> torch.Tensor:
        return torch.einsum("jt,bt...->bj...", q, a)

    d_hat = (w_hat[:, 1:] - w_hat[:, :-1]) / dt
    n_bar, w_bar = average(n_hat), average(w_hat)
    return d_hat - n_bar - equation.linear * w_bar, d_hat, n_bar, w_bar


_PADDED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_OPEN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _padded(equation: NavierStokes2D) -> NavierStokes2D:
    """The equation on ``N = 3n/2`` points (rounded up to even), cached per equation.

    Frames of the ``n`` grid hold the modes ``|m| <= K = n/2 - 1``; their products hold
    ``|m| <= 2K`` and alias onto ``m - N``, which misses the band when ``N > 3K``. So on this
    grid the advection of every stored mode is exact (the 2/3 rule of the equation's own
    grid would drop it for ``|m| > n/3``).
    """
    fine = _PADDED.get(equation)
    if fine is None:
        fine = _PADDED[equation] = equation.on_grid(2 * ((3 * equation.grid.n + 3) // 4))
    return fine


def _open(equation: NavierStokes2D) -> NavierStokes2D:
    """The equation without its closure (a window-aware closure's term is added separately),
    cached per equation."""
    bare = _OPEN.get(equation)
    if bare is None:
        bare = _OPEN[equation] = copy.copy(equation)
        bare.closure, bare._work = None, None
    return bare


def band_forcing(equation: NavierStokes2D) -> torch.Tensor | None:
    """The forcing's coefficients on the band ``|m| < n/2`` of the equation's grid."""
    if equation.forcing_hat is None:
        return None
    return _padded(equation).grid.resample_hat(_padded(equation).forcing_hat, equation.grid.n)


def _bochner_h_minus_1(
    x_hat: torch.Tensor, grid: SpectralGrid, dt: float, alpha: float
) -> torch.Tensor:
    """``(Δt Σ_n ‖x_n‖_{H^-1}^2)^{1/2}`` of coefficients ``(B, T', n, n//2+1)``, shape ``(B,)``."""
    per_frame = sobolev_norm_hat(x_hat, grid, -1.0, alpha)
    return math.sqrt(dt) * torch.linalg.vector_norm(per_frame, dim=-1)


def ns_residual(traj: torch.Tensor, equation: NavierStokes2D, dt: float) -> torch.Tensor:
    """Fourier coefficients of the residual on every frame interval.

    ``R̂_{j+1/2} = (ω̂_{j+1} - ω̂_j) / Δt - Q_j[F̂]``, ``j = 0..T-2``, with ``Q_j`` the
    fourth-order interval average of the module docstring.

    Parameters
    ----------
    traj : Tensor
        Vorticity frames ``(B, T, n, n)``, ``T >= 4``, on the equation's grid.
    equation : NavierStokes2D
        The equation the trajectory should solve.
    dt : float
        Time between frames.

    Returns
    -------
    Tensor
        ``(B, T - 1, n, n // 2 + 1)``, complex.
    """
    return _residual_terms(traj, equation, dt)[0]


def residual_norm(
    traj: torch.Tensor, equation: NavierStokes2D, dt: float, alpha: float = 1.0
) -> torch.Tensor:
    """``‖R‖_{L2(H^-1)} = (Δt Σ_n ‖R_n‖_{H^-1}^2)^{1/2}`` per trajectory, shape ``(B,)``.

    ``‖R_n‖_{H^-1}^2 = L^2 Σ_k |R̂_{n,k}|^2 / (α + |k|^2)``. Its square is the objective of
    label-free refinement (absolute, so that it cannot be lowered by inflating the terms).
    Parameters as in :func:`ns_residual`.
    """
    return _bochner_h_minus_1(ns_residual(traj, equation, dt), equation.grid, dt, alpha)


def estimate(
    traj: torch.Tensor, equation: NavierStokes2D, dt: float, alpha: float = 1.0
) -> torch.Tensor:
    """The a posteriori error estimate ``η = ‖R‖ / S`` per trajectory, shape ``(B,)``.

    ``‖R‖`` is :func:`residual_norm`; ``S = ‖D‖ + ‖A‖ + ‖V‖ + ‖M‖ + ‖f‖`` sums the norms
    of the time difference and of the interval averages of advection, viscous term, drag and
    forcing, each in the same ``L2(H^-1)`` norm (drag and forcing only when present); see the
    module docstring; ``S = 0`` (so ``η`` is NaN) only for a zero trajectory of an unforced
    equation. The one estimator that the trainer, the refiner and the evaluation all report.
    Parameters as in :func:`ns_residual`.
    """
    return residual_and_estimate(traj, equation, dt, alpha)[2]


def residual_and_estimate(
    traj: torch.Tensor, equation: NavierStokes2D, dt: float, alpha: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(R̂, ‖R‖, η)`` of :func:`ns_residual`, :func:`residual_norm` and :func:`estimate` from
    one evaluation of the equation's terms (a closure in the equation is evaluated once)."""
    residual, d_hat, n_bar, w_bar = _residual_terms(traj, equation, dt)
    grid, forcing = equation.grid, band_forcing(equation)
    terms = [
        d_hat,
        n_bar if forcing is None else n_bar - forcing,
        equation.viscosity * grid.k2 * w_bar,
    ]
    if equation.drag:
        terms.append(equation.drag * w_bar)
    size = sum(_bochner_h_minus_1(term, grid, dt, alpha) for term in terms)
    if forcing is not None:
        duration = (traj.shape[1] - 1) * dt
        size = size + math.sqrt(duration) * sobolev_norm_hat(forcing, grid, -1.0, alpha)
    norm = _bochner_h_minus_1(residual, grid, dt, alpha)
    return residual, norm, norm / size


def prediction_trajectory(w_in: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    """The trajectory a prediction is judged on: the last input frame (its initial condition)
    followed by the ``T_out`` predicted frames, ``(B, 1 + T_out, n, n)``; with fewer than 3
    predicted frames, as many earlier input frames as make the 4 the residual needs.

    Every estimate the project reports for a prediction (training, refinement, evaluation)
    is of this trajectory, so η measures the prediction and not the given input frames.
    """
    anchor = max(1, 4 - pred.shape[1])
    if w_in.shape[1] < anchor:
        raise SpectralRefinerError(
            f"a prediction of {pred.shape[1]} frames needs {anchor} input frames for its "
            f"residual, got {w_in.shape[1]}"
        )
    return torch.cat((w_in[:, -anchor:].to(pred.dtype), pred), dim=1)


def prediction_estimate(
    w_in: torch.Tensor,
    pred: torch.Tensor,
    equation: NavierStokes2D,
    dt: float,
    alpha: float = 1.0,
) -> torch.Tensor:
    """η (:func:`estimate`) of :func:`prediction_trajectory`, per sample, shape ``(B,)``."""
    return estimate(prediction_trajectory(w_in, pred), equation, dt, alpha)


class Residual:
    """The residual functionals of one equation, frame spacing and ``H^-1`` shift, bound
    together so that every caller measures a trajectory the same way.

    ``Residual(equation, dt, alpha)`` stands for the triple the functions of this module take;
    a :class:`~spectral_refiner.problem.Problem` makes one with ``problem.residual(n)``.

    Parameters
    ----------
    equation : NavierStokes2D
        The equation on the frames' grid.
    dt : float
        Time between frames.
    alpha : float
        Shift of the ``H^-1`` weight ``(α + |k|^2)^-1``.
    """

    def __init__(self, equation: NavierStokes2D, dt: float, alpha: float = 1.0) -> None:
        self.equation, self.dt, self.alpha = equation, float(dt), float(alpha)

    @property
    def grid(self) -> SpectralGrid:
        return self.equation.grid

    def norm(self, traj: torch.Tensor) -> torch.Tensor:
        """``‖R‖_{L2(H^-1)}`` per trajectory (:func:`residual_norm`), shape ``(B,)``."""
        return residual_norm(traj, self.equation, self.dt, self.alpha)

    def estimate(self, traj: torch.Tensor) -> torch.Tensor:
        """``η = ‖R‖ / S`` per trajectory (:func:`estimate`), shape ``(B,)``."""
        return estimate(traj, self.equation, self.dt, self.alpha)

    def of_prediction(self, w_in: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
        """η of a prediction (:func:`prediction_estimate`), shape ``(B,)``."""
        return prediction_estimate(w_in, pred, self.equation, self.dt, self.alpha)

    def prediction_norm(self, w_in: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
        """``‖R‖`` of a prediction's trajectory (:func:`prediction_trajectory`), ``(B,)``."""
        return self.norm(prediction_trajectory(w_in, pred))

    def with_estimate(self, traj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(R̂, ‖R‖, η)`` of a trajectory from one evaluation
        (:func:`residual_and_estimate`)."""
        return residual_and_estimate(traj, self.equation, self.dt, self.alpha)
