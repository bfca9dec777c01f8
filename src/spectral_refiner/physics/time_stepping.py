"""IMEX low-storage Runge–Kutta time steppers for equations split as ``N(u) + L u``.

An equation is any object with the methods ``explicit_terms(u)`` (``N``),
``implicit_terms(u)`` (``L u``) and ``implicit_solve(y, τ)`` (``(1 - τL)^{-1} y``). One step
of size ``Δt`` of a 2N-storage scheme with coefficients ``(α, β, γ)`` and implicitness ``θ``:

    h ← N(u) + β_s h
    u ← (1 - θ μ_s L)^{-1} [u + γ_s Δt h + (1 - θ) μ_s L u],     μ_s = Δt (α_{s+1} - α_s)

for stages s = 1..S. With θ = 1/2 the stiff linear part is Crank–Nicolson over each stage's
time interval; with θ = 1 it is backward Euler. ``Δt`` may be a float or a per-trajectory
tensor broadcastable against ``u``; ``Δt = 0`` leaves ``u`` unchanged, bit for bit except
that a coefficient -0.0 may come back as +0.0.

Diagonal linear part. An equation on complex (spectral) states may also expose ``linear``,
the diagonal of ``L`` as a real tensor (``L u = linear * u``). The stage then reads

    h ← N(u) + β_s h
    u ← a_s u + b_s h,   a_s = (1 + (1 - θ) μ_s L) / (1 - θ μ_s L),   b_s = γ_s Δt / (1 - θ μ_s L),

the same map with ``a_s, b_s`` formed once per step size (:func:`imex_stepper`) instead of
``implicit_terms`` and ``implicit_solve`` at every stage. With ``Δt = 0``, ``a_s = 1`` and
``b_s = 0`` exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import partial

import torch

from ..errors import SpectralRefinerError

__all__ = ["SCHEMES", "IMEXScheme", "get_scheme", "imex_step", "imex_stepper"]


@dataclass(frozen=True)
class IMEXScheme:
    """Coefficients of a 2N-storage IMEX Runge–Kutta scheme.

    Attributes
    ----------
    name : str
        Registry name.
    alphas : tuple of float
        Stage times as fractions of the step, ``S + 1`` values from 0 to 1.
    betas, gammas : tuple of float
        Low-storage weights, ``S`` values each (``betas[0]`` is unused and 0).
    theta : float
        Implicitness of the linear part: 1/2 Crank–Nicolson, 1 backward Euler.
    order : int
        Formal order of accuracy.
    max_courant : float
        Largest CFL number ``Δt max(|u|+|v|) / Δx`` at which the explicit part is stable with
        2/3-dealiased spectral advection (its eigenvalues reach ``2.09 C`` on the imaginary
        axis); the driver stops a run that exceeds it.
    """

    name: str
    alphas: tuple[float, ...]
    betas: tuple[float, ...]
    gammas: tuple[float, ...]
    theta: float
    order: int
    max_courant: float
    description: str = ""

    @property
    def stages(self) -> int:
        return len(self.gammas)


def _f(*values: Fraction | int) -> tuple[float, ...]:
    return tuple(float(Fraction(v)) for v in values)


# Carpenter & Kennedy (1994), five-stage fourth-order 2N-storage Runge–Kutta (solution 3).
_CK_ALPHA = _f(
    0,
    Fraction(1432997174477, 9575080441755),
    Fraction(2526269341429, 6820363962896),
    Fraction(2006345519317, 3224310063776),
    Fraction(2802321613138, 2924317926251),
    1,
)
_CK_BETA = _f(
    0,
    Fraction(-567301805773, 1357537059087),
    Fraction(-2404267990393, 2016746695238),
    Fraction(-3550918686646, 2091501179385),
    Fraction(-1275806237668, 842570457699),
)
_CK_GAMMA = _f(
    Fraction(1432997174477, 9575080441755),
    Fraction(5161836677717, 13612068292357),
    Fraction(1720146321549, 2090206949498),
    Fraction(3134564353537, 4481467310338),
    Fraction(2277821191437, 14882151754819),
)

SCHEMES: dict[str, IMEXScheme] = {
    s.name: s
    for s in (
        IMEXScheme(
            "rk4-cn",
            _CK_ALPHA,
            _CK_BETA,
            _CK_GAMMA,
            0.5,
            4,
            1.4,
            "Carpenter-Kennedy low-storage RK4 (5 stages) with Crank-Nicolson",
        ),
        IMEXScheme(
            "rk2-cn",
            (0.0, 1.0, 1.0),
            (0.0, -1.0),
            (1.0, 0.5),
            0.5,
            2,
            1.0,
            "Heun RK2 with Crank-Nicolson",
        ),
        IMEXScheme(
            "euler",
            (0.0, 1.0),
            (0.0,),
            (1.0,),
            1.0,
            1,
            0.5,
            "forward Euler (explicit) / backward Euler (implicit)",
        ),
        IMEXScheme(
            "euler-cn",
            (0.0, 1.0),
            (0.0,),
            (1.0,),
            0.5,
            1,
            0.5,
            "forward Euler with Crank-Nicolson: the scheme the FNO benchmark data were made with",
        ),
    )
}


def get_scheme(name: str) -> IMEXScheme:
    """Look up a scheme by name (``rk4-cn``, ``rk2-cn``, ``euler``, ``euler-cn``)."""
    try:
        return SCHEMES[name]
    except KeyError:
        raise SpectralRefinerError(
            f"unknown time-stepping scheme {name!r}: choose one of {', '.join(SCHEMES)}"
        ) from None


def imex_stepper(
    equation, dt: float | torch.Tensor, scheme: IMEXScheme | str = "rk4-cn"
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The one-step map ``u ↦ imex_step(equation, u, dt, scheme)``, for many steps of one size.

    With a diagonal :attr:`linear` the stage factors ``a_s, b_s`` are formed here, once, so
    that each step costs its explicit-term evaluations and three passes over ``u`` per stage.
    """
    scheme = get_scheme(scheme) if isinstance(scheme, str) else scheme
    linear = getattr(equation, "linear", None)
    if not isinstance(linear, torch.Tensor):
        return partial(_protocol_step, equation, dt=dt, scheme=scheme)
    dt = torch.as_tensor(dt, dtype=torch.float64)
    if dt.numel() > 1 and bool((dt == dt.flatten()[0]).all()):
        dt = dt.flatten()[:1].reshape((1,) * dt.dim())  # one set of factors serves the batch
    return partial(_diagonal_step, equation, factors=_stage_factors(linear, dt, scheme))


def imex_step(
    equation, u: torch.Tensor, dt: float | torch.Tensor, scheme: IMEXScheme | str = "rk4-cn"
) -> torch.Tensor:
    """Advance ``u`` by one step of size ``dt`` with an IMEX 2N-storage scheme.

    ``dt`` is a float or a float64 tensor broadcastable against ``u`` (one step size per
    trajectory). Stage coefficients are formed in float64 and then cast to ``u``'s precision,
    so a trajectory's arithmetic does not depend on whether its step size came as a float
    or as part of a batch. To take many steps of one size, build :func:`imex_stepper` once.
    """
    return imex_stepper(equation, dt, scheme)(u)


def _stage_factors(
    linear: torch.Tensor, dt: torch.Tensor, scheme: IMEXScheme
) -> list[tuple[float, torch.Tensor, torch.Tensor]]:
    """``(β_s, a_s, b_s)`` per stage, with ``a_s, b_s`` real and ``(..., n, m, 2)``-shaped.

    ``a_s = (1 + (1 - θ) μ_s L) / (1 - θ μ_s L)`` and ``b_s = γ_s Δt / (1 - θ μ_s L)``, formed in
    float64 from the float64 ``Δt`` and cast to ``linear``'s dtype; the last axis repeats each
    value for the (re, im) pair of a complex coefficient.
    """
    diag = linear.to(torch.float64)
    dt = dt.to(diag.device)
    factors = []
    for s in range(scheme.stages):
        mu = dt * (scheme.alphas[s + 1] - scheme.alphas[s])
        solve = 1 / (1 - scheme.theta * mu * diag)
        a = (1 + (1 - scheme.theta) * mu * diag) * solve
        b = scheme.gammas[s] * dt * solve
        # x + ix viewed as real repeats each value for the (re, im) pair, in the memory
        # layout of ``linear``.
        a, b = (x.to(linear.dtype) for x in (a, b))
        a, b = (torch.view_as_real(torch.complex(x, x)) for x in (a, b))
        factors.append((scheme.betas[s], a, b))
    return factors


def _diagonal_step(
    equation, u: torch.Tensor, factors: list[tuple[float, torch.Tensor, torch.Tensor]]
) -> torch.Tensor:
    """One step as ``h ← N(u) + β_s h;  u ← a_s u + b_s h`` (complex ``u``, real ``a_s, b_s``)."""
    h: torch.Tensor | None = None
    ur: torch.Tensor | None = None  # real view of the stepped state, updated in place
    for beta, a, b in factors:
        n_u = equation.explicit_terms(u)
        h = n_u if h is None or beta == 0 else n_u.add_(h, alpha=beta)
        if ur is None:  # the first stage writes a new tensor: the caller's u is never modified
            ur = torch.view_as_real(u).mul(a)
            u = torch.view_as_complex(ur)
        else:
            ur.mul_(a)
        ur.addcmul_(torch.view_as_real(h), b)
    return u


def _protocol_step(
    equation, u: torch.Tensor, dt: float | torch.Tensor, scheme: IMEXScheme
) -> torch.Tensor:
    """One step through ``explicit_terms`` / ``implicit_terms`` / ``implicit_solve``."""
    theta = scheme.theta
    real = u.real.dtype

    def coef(c: float | torch.Tensor) -> float | torch.Tensor:
        return c.to(real) if isinstance(c, torch.Tensor) else c

    h: torch.Tensor | None = None
    for s in range(scheme.stages):
        n_u = equation.explicit_terms(u)
        h = n_u if h is None or scheme.betas[s] == 0 else n_u.add_(h, alpha=scheme.betas[s])
        mu = dt * (scheme.alphas[s + 1] - scheme.alphas[s])
        y = u + coef(scheme.gammas[s] * dt) * h
        if theta != 1:
            y = y + coef((1 - theta) * mu) * equation.implicit_terms(u)
        u = equation.implicit_solve(y, coef(theta * mu))
    return u
