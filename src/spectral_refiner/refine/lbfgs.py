"""L-BFGS for a batch of independent problems, each with its own history and step length.

``fun(x)`` returns the objectives ``f_b(x_b)`` of all instances, ``(B,)``; their gradients come
from one backward pass of ``Σ_b f_b`` (the problems are independent, so it yields every
``∇f_b``). Per instance: the two-loop recursion over its last ``history`` pairs
``(s, y)`` (a pair with ``s·y <= 0`` is skipped), initial inverse Hessian ``γ = s·y / y·y``,
and a backtracking line search from the unit step (Armijo, constant ``c1``), halving on
failure; the first step length comes from the parabola through ``f(0)``, ``f'(0)`` and one
trial. Inner products, step lengths and the evaluation budget are per instance (an instance
is charged for the evaluations it needed, not for those its batch needed), so an instance's
path does not depend on what else is in the batch, and it stops on its own once its budget is
spent or ``done(x, aux)`` marks it (``aux``: what ``fun`` computed besides the objective at the
accepted point, so that a stopping test costs no second evaluation).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["minimize"]


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).flatten(1).sum(1)


def _col(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.reshape(-1, *[1] * (like.dim() - 1))


def minimize(
    fun: Callable[[torch.Tensor], torch.Tensor | tuple[torch.Tensor, torch.Tensor]],
    x0: torch.Tensor,
    *,
    max_evals: int,
    history: int = 20,
    c1: float = 1e-4,
    done: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor] | None = None,
    check_every: int = 10,
) -> tuple[torch.Tensor, int]:
    """Minimise every ``f_b`` from ``x0`` (batch first) with at most ``max_evals`` evaluations
    per instance; returns ``(x, evaluations)``, the latter the number of batched calls.

    ``fun(x)`` returns ``f`` ``(B,)`` or ``(f, aux)`` with ``aux`` ``(B,)`` a by-product of the
    evaluation. ``done(x, aux)`` (a ``(B,)`` bool tensor; ``aux`` of ``x``, or ``None``),
    called at the start and every ``check_every`` iterations, freezes the instances it marks
    (one already done at ``x0`` never moves); iteration stops when every instance is frozen or
    out of budget.
    """

    def evaluate(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            out = fun(x)
            f, aux = out if isinstance(out, tuple) else (out, None)
            (g,) = torch.autograd.grad(f.sum(), x)
        return f.detach(), g, None if aux is None else aux.detach()

    x = x0.detach().clone()
    f, g, aux = evaluate(x)
    evals, iteration = 1, 0
    used = torch.ones(x.shape[0], dtype=torch.int64, device=x.device)  # evaluations charged
    active = used < max_evals
    if done is not None:
        active &= ~done(x, aux)
    pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (s, y, 1 / s·y or 0)
    while bool(active.any()):
        if pairs:
            q = g.clone()
            alphas = []
            for s, y, rho in reversed(pairs):
                a = rho * _dot(s, q)
                q -= _col(a, q) * y
                alphas.append(a)
            s, y, rho = pairs[-1]
            gamma = torch.where(rho > 0, _dot(s, y) / _dot(y, y).clamp_min(1e-300), 1.0)
            q *= _col(gamma, q)
            for (s, y, rho), a in zip(pairs, reversed(alphas), strict=True):
                q += _col(a - rho * _dot(y, q), q) * s
            d = -q
            step = torch.ones_like(f)
        else:  # steepest descent, its length from a parabola through one trial step
            d = -g
            gg = _dot(g, g).clamp_min(1e-300)
            trial = f / gg
            f_trial, _, _ = evaluate(x + _col(trial, x) * d)
            evals += 1
            used += active
            curvature = (f_trial - f + trial * gg) / trial.square()
            step = torch.where(curvature > 0, gg / (2 * curvature.clamp_min(1e-300)), trial)
        slope = _dot(g, d)
        descent = slope < 0
        d = torch.where(_col(descent, d), d, -g)  # a lost history restarts from -∇f
        slope = torch.where(descent, slope, -_dot(g, g))
        d = d * _col(active, d)
        accepted = ~active
        f_new, g_new, aux_new = f.clone(), g.clone(), aux
        for _ in range(30):  # backtracking: halve the steps of the instances not yet accepted
            pending = ~accepted & (used < max_evals)
            if not bool(pending.any()):
                break
            trial_f, trial_g, trial_aux = evaluate(x + _col(step, x) * d)
            evals += 1
            used += pending
            ok = pending & (trial_f <= f + c1 * step * slope)
            f_new = torch.where(ok, trial_f, f_new)
            g_new = torch.where(_col(ok, g), trial_g, g_new)
            if aux is not None:
                aux_new = torch.where(ok, trial_aux, aux_new)
            accepted |= ok
            step = torch.where(accepted, step, step / 2)
        moved = accepted & active
        s = _col(step * moved, d) * d
        x = x + s
        y = g_new - g
        sy = _dot(s, y)
        pairs.append((s, y, torch.where(moved & (sy > 0), 1 / sy.clamp_min(1e-300), 0.0)))
        pairs = pairs[-history:]
        f, g = torch.where(moved, f_new, f), torch.where(_col(moved, g), g_new, g)
        aux = None if aux is None else torch.where(moved, aux_new, aux)
        active &= moved & (used < max_evals)  # a failed line search: converged (or no budget)
        iteration += 1
        if done is not None and iteration % check_every == 0:
            active &= ~done(x, aux)
    return x, evals
