r"""The a-priori figures of a learned closure against the exact subgrid term ``τ``:

.. math::

    \rho = \frac{\langle \tau_G, \tau\rangle}{\|\tau_G\|\,\|\tau\|}
    \quad\text{(both centred over all held-out points)},\qquad
    e = \frac{\|\tau_G - \tau\|}{\|\tau\|}.
"""

from __future__ import annotations

import torch

from ..hybrid import AprioriClosure

__all__ = ["closure_correlation", "closure_figures"]


def _predict(closure: AprioriClosure, frames: torch.Tensor, batch: int) -> torch.Tensor:
    if closure.history:  # whole trajectories, each frame with its full history
        grid, h = closure.stored_grid, closure.history
        with torch.no_grad():
            return torch.cat(
                [
                    grid.irfft(closure.window_tau_hat(grid.rfft(f[None].to(grid.dtype))))[0, h:]
                    for f in frames
                ]
            )
    flat = frames.flatten(0, -3)
    with torch.no_grad():
        return torch.cat([closure.tau(flat[i : i + batch]) for i in range(0, len(flat), batch)])


def closure_figures(
    closure: AprioriClosure, frames: torch.Tensor, tau: torch.Tensor, batch: int = 64
) -> dict[str, float]:
    """``correlation`` ``ρ`` and ``relative_error`` ``e`` (module docstring) of
    ``τ_G(frames)`` against ``tau``, pooled over all frames; for a closure with a window,
    ``frames`` and ``tau`` are whole trajectories ``(B, T, n, n)`` and each trajectory's
    first ``history`` frames (those without their full history) are left out."""
    tau = tau[:, closure.history :] if closure.history else tau
    p, t = _predict(closure, frames, batch).double().flatten(), tau.double().flatten()
    error = float((p - t).norm() / t.norm())
    p, t = p - p.mean(), t - t.mean()
    return {"correlation": float((p @ t) / (p.norm() * t.norm())), "relative_error": error}


def closure_correlation(
    closure: AprioriClosure, frames: torch.Tensor, tau: torch.Tensor, batch: int = 64
) -> float:
    """Pooled Pearson correlation of ``τ_G(frames)`` with ``tau`` (module docstring)."""
    return closure_figures(closure, frames, tau, batch)["correlation"]
