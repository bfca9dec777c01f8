r"""A-posteriori tuning of a classical closure's coefficient on training data.

For a closure with one coefficient ``C`` (Smagorinsky ``C_s``, Leith ``C_L``;
:mod:`spectral_refiner.physics.closures`) on the coarse ``n``² grid, the tuned value minimises
the mean relative L2 error of the closed coarse solver against the truncated DNS frames over
a short horizon of ``K`` frames, from several start frames ``ω*_{b,0}`` of the training
trajectories:

.. math::

    J(C) = \frac{1}{BK}\sum_{b=1}^{B}\sum_{k=1}^{K}
    \frac{\|\omega^{C}_{b,k} - \omega^*_{b,k}\|_{L^2}}{\|\omega^*_{b,k}\|_{L^2}},
    \qquad \omega^{C}_{b,\cdot} = \text{rollout of the closed solver from } \omega^*_{b,0},

with the same fixed steps as the hybrid (:class:`FixedStep`). A rollout that blows up gives
``J = ∞``. The search (:func:`minimise_1d`) scans a uniform grid of ``C`` on ``[0, C_max]``
and refines the best bracket by golden-section search.

Why a-posteriori rather than matching the exact subgrid energy transfer of ``subgrid/tau``
(a-priori): in 2-D the a-priori optimum is tiny (``C_s ≈ 0.02`` on 256² → 64² Kolmogorov flow,
the value the dynamic procedure also finds), because the inverse cascade makes the mean
transfer small, while what a user of the coarse solver needs is the coefficient that makes the
*simulation* closest to the DNS; it is also the criterion the hybrid is trained on and judged
by, so the comparison is fair to the closures. On data made by the closed solver itself with a
known ``C``, ``J`` vanishes there, and the search recovers it (the test).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ..errors import SpectralRefinerError
from ..hybrid import rollout
from ..metrics import relative_error
from ..physics import IMEXScheme, NavierStokes2D, SpectralGrid
from ..physics.time_stepping import imex_stepper

__all__ = ["TUNABLE", "FixedStep", "closure_error", "minimise_1d", "tune_closure"]

#: Closures with one coefficient, and the upper end of the search interval for each.
TUNABLE = {"smagorinsky": 0.5, "leith": 1.0}

_GOLDEN = (math.sqrt(5) - 1) / 2


class FixedStep:
    """A plain (or classically closed) equation in the protocol of
    :func:`spectral_refiner.hybrid.rollout`: ``grid``, ``max_speed`` and
    ``stepper(dt, scheme)``, one IMEX step of the equation (the hybrid's fixed-step driver, so
    a hybrid with zero correction and this give the same fields bit for bit)."""

    def __init__(self, equation: NavierStokes2D) -> None:
        self.equation = equation

    @property
    def grid(self) -> SpectralGrid:
        return self.equation.grid

    def max_speed(self, w_hat: torch.Tensor) -> torch.Tensor:
        return self.equation.max_speed(w_hat)

    def stepper(
        self, dt: float, scheme: IMEXScheme | str = "rk4-cn"
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        return imex_stepper(self.equation, dt, scheme)


def closure_error(
    equation: NavierStokes2D,
    w0: torch.Tensor,
    targets: torch.Tensor,
    steps_per_frame: int,
    dt: float,
) -> float:
    """``J`` of the module docstring for one equation: the mean relative L2 error of the
    fixed-step rollout from ``w0`` ``(B, n, n)`` against ``targets`` ``(B, K, n, n)``;
    ``inf`` if it blows up."""
    try:
        with torch.no_grad():
            pred = rollout(FixedStep(equation), w0, targets.shape[1], steps_per_frame, dt)
    except SpectralRefinerError:
        return math.inf
    err = relative_error(pred, targets.to(pred), equation.grid, per_frame=True)
    return float(err.double().mean())


def minimise_1d(
    f: Callable[[float], float],
    low: float,
    high: float,
    *,
    points: int = 9,
    tol: float = 1e-3,
) -> tuple[float, float, list[tuple[float, float]]]:
    """Minimise ``f`` on ``[low, high]``: a scan of ``points`` equally spaced values, then
    golden-section search on the bracket around the best one until it is shorter than
    ``tol · (high - low)``. Returns ``(x, f(x), every (x, f(x)) evaluated)``; exact for a
    function unimodal on the scanned bracket."""
    if not (high > low and points >= 3 and tol > 0):
        raise SpectralRefinerError(
            f"minimise_1d needs high > low, points >= 3 and tol > 0, got {low}, {high}, "
            f"{points}, {tol}"
        )
    seen: list[tuple[float, float]] = []

    def g(x: float) -> float:
        value = f(x)
        seen.append((x, value))
        return value

    xs = [low + (high - low) * i / (points - 1) for i in range(points)]
    values = [g(x) for x in xs]
    best = min(range(points), key=lambda i: values[i])
    a, b = xs[max(best - 1, 0)], xs[min(best + 1, points - 1)]
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    fc, fd = g(c), g(d)
    while b - a > tol * (high - low):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - _GOLDEN * (b - a)
            fc = g(c)
        else:
            a, c, fc = c, d, fd
            d = a + _GOLDEN * (b - a)
            fd = g(d)
    x, value = min(seen, key=lambda p: p[1])
    return x, value, seen


def tune_closure(
    name: str,
    equation_with: Callable[[dict[str, Any] | None], NavierStokes2D],
    w0: torch.Tensor,
    targets: torch.Tensor,
    steps_per_frame: int,
    dt: float,
    *,
    high: float | None = None,
    points: int = 9,
    tol: float = 2e-3,
    on_evaluation: Callable[[float, float], None] | None = None,
) -> dict[str, Any]:
    """The coefficient of closure ``name`` (one of :data:`TUNABLE`) minimising ``J`` (module
    docstring) on ``[0, high]`` (default :data:`TUNABLE`'s bound).

    ``equation_with(spec)`` builds the coarse equation with a closure spec (``None``: none).
    Returns ``{"name", "coefficient", "error", "error_without", "evaluations"}``: the tuned
    coefficient, ``J`` there, ``J`` of the plain solver and every ``(C, J)`` evaluated;
    ``on_evaluation(C, J)`` is called after each evaluation (e.g. a progress bar).
    """
    if name not in TUNABLE:
        raise SpectralRefinerError(
            f"closure {name!r} has no coefficient to tune: choose one of {', '.join(TUNABLE)}"
        )
    high = TUNABLE[name] if high is None else high

    def objective(c: float) -> float:
        spec = {"name": name, "coefficient": c} if c > 0 else None
        value = closure_error(equation_with(spec), w0, targets, steps_per_frame, dt)
        if on_evaluation is not None:
            on_evaluation(c, value)
        return value

    c, value, seen = minimise_1d(objective, 0.0, high, points=points, tol=tol)
    plain = next(v for x, v in seen if x == 0.0)
    return {
        "name": name,
        "coefficient": c,
        "error": value,
        "error_without": plain,
        "evaluations": [[x, v] for x, v in seen],
    }
