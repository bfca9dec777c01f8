r"""Hybrid solvers: the coarse IMEX solver plus a learned :class:`~.corrector.Corrector`.

Two forms (Kochkov et al. 2021; Um et al. 2020):

* :class:`LearnedClosure`, a learned term in the equation,
  ``∂t ω̂ = N(ω̂) + ĉ(ω̂) + L ω̂``: the correction is added to the explicit terms, so it acts
  in every stage of every IMEX stepper. The object has the equation protocol of
  :class:`~spectral_refiner.physics.NavierStokes2D` (``grid``, ``linear``,
  ``explicit_terms``, ``implicit_terms``, ``implicit_solve``, ``max_speed``,
  ``courant_number``, ``on_grid`` and the fields the residual reads), so
  :func:`~spectral_refiner.physics.simulate`, the steppers and the residual take it as is.
* :class:`SolverInTheLoop`, a correction of the state after each step,
  ``ω̂_{j+1} = S_Δt(ω̂_j) + ĉ(S_Δt(ω̂_j))`` with ``S_Δt`` one step of the coarse solver; it is
  tied to its step size, so it runs in the fixed-step driver :func:`~.unroll.rollout`. With
  ``every = m > 1`` the state is corrected after every ``m``-th step only,
  ``ω̂ ← S^m_Δt(ω̂) + ĉ(S^m_Δt(ω̂))``: the corrector's cost per step drops by ``m`` (at 64²
  a 4,946-parameter CNN costs about three coarse steps); ``m = 1`` is the form above bit
  for bit.

Both give the plain coarse solver bit for bit when the correction is zero (gain 0), are
batched, and run on the device and in the dtype of their grid (``hybrid.to(dtype)`` for the
model). Both expose ``stepper(dt, scheme)``, the one-step map of coefficients that
:func:`~.unroll.rollout` iterates.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..errors import SpectralRefinerError
from ..physics import IMEXScheme, NavierStokes2D, SpectralGrid
from ..physics.time_stepping import imex_stepper
from .corrector import Corrector

__all__ = ["LearnedClosure", "SolverInTheLoop"]

Stepper = Callable[[torch.Tensor], torch.Tensor]


class _Hybrid(nn.Module):
    """A coarse equation and a corrector; the diagnostics of the equation."""

    def __init__(self, equation: NavierStokes2D, corrector: Corrector) -> None:
        super().__init__()
        self.equation = equation
        self.corrector = corrector

    @property
    def grid(self) -> SpectralGrid:
        return self.equation.grid

    def max_speed(self, w_hat: torch.Tensor) -> torch.Tensor:
        """``max_x (|u| + |v|)`` per field (the blow-up guard's measure)."""
        return self.equation.max_speed(w_hat)

    def courant_number(self, w_hat: torch.Tensor, dt: float | torch.Tensor) -> torch.Tensor:
        return self.equation.courant_number(w_hat, dt)


def _check_grids(equation: NavierStokes2D, corrector: Corrector, finer_only: bool) -> None:
    if equation.grid.length != corrector.grid.length or (
        finer_only and equation.grid.n < corrector.grid.n
    ):
        raise SpectralRefinerError(
            f"the corrector was built for a {corrector.grid.n}^2 grid of box "
            f"{corrector.grid.length:g} but the equation is on {equation.grid.n}^2 of box "
            f"{equation.grid.length:g}; build both on the coarse grid (the equation may be finer)"
        )


def _correction(corrector: Corrector, own: SpectralGrid, w_hat: torch.Tensor) -> torch.Tensor:
    """``ĉ`` of ``ω̂`` on ``own``: the corrector on ``ω̂`` truncated to its grid, zero-padded
    back (the very ``ĉ(ω̂)`` on the corrector's own grid)."""
    grid = corrector.grid
    if grid.n == own.n:
        return corrector(w_hat)
    return grid.resample_hat(corrector(own.resample_hat(w_hat, grid.n)), own.n)


class LearnedClosure(_Hybrid):
    """``∂t ω̂ = N(ω̂) + ĉ(ω̂) + L ω̂``: the correction as an explicit term (module docstring).

    On another grid (:meth:`on_grid`, e.g. the residual's padded grid) the correction is
    evaluated on the band of the corrector's grid (``ω̂`` truncated to it) and zero-padded:
    the same closure term, since it lives on that band.
    """

    def __init__(self, equation: NavierStokes2D, corrector: Corrector) -> None:
        _check_grids(equation, corrector, finer_only=False)
        super().__init__(equation, corrector)

    # ---------------------------------------------------------------- IMEX protocol
    @property
    def linear(self) -> torch.Tensor:
        return self.equation.linear

    @property
    def viscosity(self) -> float:
        return self.equation.viscosity

    @property
    def drag(self) -> float:
        return self.equation.drag

    @property
    def forcing_hat(self) -> torch.Tensor | None:
        return self.equation.forcing_hat

    def explicit_terms(self, w_hat: torch.Tensor) -> torch.Tensor:
        """``N(ω̂) + ĉ(ω̂)``, a new tensor."""
        return self.equation.explicit_terms(w_hat) + _correction(self.corrector, self.grid, w_hat)

    def implicit_terms(self, w_hat: torch.Tensor) -> torch.Tensor:
        return self.equation.implicit_terms(w_hat)

    def implicit_solve(self, y_hat: torch.Tensor, tau: float | torch.Tensor) -> torch.Tensor:
        return self.equation.implicit_solve(y_hat, tau)

    def on_grid(self, n: int) -> LearnedClosure:
        """The same equation and learned term, evaluated on ``n`` points."""
        if n == self.grid.n:
            return self
        return LearnedClosure(self.equation.on_grid(n), self.corrector)

    def stepper(self, dt: float, scheme: IMEXScheme | str = "rk4-cn") -> Stepper:
        """One IMEX step of the closed equation."""
        return imex_stepper(self, dt, scheme)


class SolverInTheLoop(_Hybrid):
    """``ω̂ ← S^m_Δt(ω̂) + ĉ(S^m_Δt(ω̂))``: a state correction after every ``m``-th coarse
    step (module docstring).

    Parameters
    ----------
    equation : NavierStokes2D
        The coarse equation.
    corrector : Corrector
        The learned correction, on the equation's grid or a coarser one of the same box (then
        ``ĉ`` acts on ``ω̂`` truncated to that grid and is zero-padded back: e.g. the stored
        ``n``² band advected on a ``3n/2``² grid that dealiases every stored mode).
    every : int
        ``m >= 1``, the coarse steps per correction (:attr:`steps_per_call`).
    """

    def __init__(self, equation: NavierStokes2D, corrector: Corrector, every: int = 1) -> None:
        _check_grids(equation, corrector, finer_only=True)
        if int(every) != every or every < 1:
            raise SpectralRefinerError(
                f"a state correction every {every} steps: give a positive integer (1: every step)"
            )
        super().__init__(equation, corrector)
        self.every = int(every)

    @property
    def steps_per_call(self) -> int:
        """Coarse steps of size ``dt`` one call of :meth:`stepper`'s map advances (``m``)."""
        return self.every

    def stepper(self, dt: float, scheme: IMEXScheme | str = "rk4-cn") -> Stepper:
        """``m`` coarse steps of ``dt`` followed by the correction."""
        step, every = imex_stepper(self.equation, dt, scheme), self.every

        def corrected(w_hat: torch.Tensor) -> torch.Tensor:
            for _ in range(every):
                w_hat = step(w_hat)
            return self.correct(w_hat)

        return corrected

    def correct(self, w_hat: torch.Tensor) -> torch.Tensor:
        """``ω̂ + ĉ(ω̂)``: the correction alone (a cadence longer than a frame,
        :func:`~.unroll.rollout`)."""
        return w_hat + _correction(self.corrector, self.grid, w_hat)
