r"""Fixed-step rollouts of a hybrid solver and the unrolled training loss.

:func:`rollout` advances ``K`` frames of ``s`` steps of size ``Δt`` each (frames ``sΔt``
apart, the spacing of the filtered-DNS presets), keeping the autograd graph through every
stage of every step when gradients are enabled. :func:`unrolled_loss` compares the frames
with target frames ``ω*`` by the relative error of the whole window,

.. math::

    \mathcal L = \frac{1}{B}\sum_{b}
    \Big(\frac{\sum_k \|\omega_{b,k} - \omega^*_{b,k}\|_{H^s}^2}
              {\sum_k \|\omega^*_{b,k}\|_{H^s}^2}\Big)^{1/2},

``s = 0`` (relative L2) or ``s = -1`` (relative H^-1, shift ``α = 1``), norms of
:func:`~spectral_refiner.physics.sobolev_norm`: the trainer's data loss and the validation
and test metric of every model (``spectral_refiner.metrics.relative_error``), so what a
hybrid is trained on, selected by and reported with is one number. (A mean of per-frame
relative errors would weigh the early frames, where the coarse solver is already close, as
much as the late ones.)

Memory. Backpropagation through an unroll keeps every stage's tensors; with
``checkpoint=True`` each frame's steps run under :func:`torch.utils.checkpoint.checkpoint`
(non-reentrant): only the frame boundaries are kept and each frame is recomputed in the
backward pass, which gives the same gradient.

Blow-up guard (as :func:`~spectral_refiner.physics.simulate`'s): before every frame the
field must be finite and the Courant number ``Δt max(|u|+|v|) / Δx`` within the scheme's
stability bound, and every frame must be finite; otherwise a
:class:`~spectral_refiner.errors.SpectralRefinerError` names the time reached.
"""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint as _checkpoint

from ..errors import SpectralRefinerError
from ..physics import IMEXScheme, get_scheme, sobolev_norm
from ..physics.time_stepping import imex_stepper
from .solvers import LearnedClosure, SolverInTheLoop

__all__ = ["rollout", "unrolled_loss"]

Hybrid = LearnedClosure | SolverInTheLoop


def _blew_up(t: float, why: str) -> SpectralRefinerError:
    return SpectralRefinerError(
        f"the hybrid solution blew up ({why}) at t = {t:.4g}: use a smaller dt, a higher "
        "resolution, or a smaller correction"
    )


def rollout(
    hybrid: Hybrid,
    w0: torch.Tensor,
    frames: int,
    steps_per_frame: int,
    dt: float,
    *,
    scheme: IMEXScheme | str = "rk4-cn",
    checkpoint: bool = False,
    first_frame: int = 0,
) -> torch.Tensor:
    """The fields after ``1..frames`` times ``steps_per_frame`` steps of size ``dt``.

    Parameters
    ----------
    hybrid : LearnedClosure or SolverInTheLoop
        The corrected solver (or any object with ``grid``, ``max_speed`` and
        ``stepper(dt, scheme)``; one call of the stepper's map advances
        ``hybrid.steps_per_call`` steps, 1 if it has none, which must divide
        ``steps_per_frame`` or be a multiple ``m`` of it: then the frames are plain coarse
        steps and ``hybrid.correct`` follows every ``m``-th frame, the same map sampled
        at the frames).
    w0 : Tensor
        Initial vorticity ``(B, n, n)`` on the hybrid's grid.
    frames, steps_per_frame : int
        ``K >= 1`` frames, each ``s >= 1`` steps after the previous one.
    dt : float
        Step size.
    scheme : str or IMEXScheme
        Time-stepping scheme (default ``rk4-cn``).
    checkpoint : bool
        Recompute each frame's steps in the backward pass instead of storing them.
    first_frame : int
        Frames already advanced since the cadence's start (a rollout continued frame by
        frame keeps a correction every ``m`` frames in phase; 0 for a fresh one).

    Returns
    -------
    Tensor
        ``(B, K, n, n)`` in the grid's dtype.
    """
    grid = hybrid.grid
    scheme = get_scheme(scheme) if isinstance(scheme, str) else scheme
    if w0.dim() != 3 or w0.shape[-2:] != (grid.n, grid.n):
        raise SpectralRefinerError(
            f"initial field has shape {tuple(w0.shape)}, expected (batch, {grid.n}, {grid.n})"
        )
    if int(frames) != frames or frames < 1 or int(steps_per_frame) != steps_per_frame:
        raise SpectralRefinerError(
            f"frames and steps_per_frame must be positive integers, got {frames}, {steps_per_frame}"
        )
    if steps_per_frame < 1 or not dt > 0:
        raise SpectralRefinerError(
            f"steps_per_frame must be >= 1 and dt > 0, got {steps_per_frame} and {dt}"
        )
    per_call = getattr(hybrid, "steps_per_call", 1)
    if steps_per_frame % per_call and per_call % steps_per_frame:
        raise SpectralRefinerError(
            f"the hybrid corrects every {per_call} steps, which does not divide the "
            f"{steps_per_frame} steps per frame nor is a multiple of them: choose a divisor "
            "or a multiple of steps_per_frame"
        )
    if per_call <= steps_per_frame:
        step, calls, span = hybrid.stepper(dt, scheme), steps_per_frame // per_call, 1
    else:  # plain frames, the correction after every span-th one
        step = imex_stepper(hybrid.equation, dt, scheme)
        calls, span = steps_per_frame, per_call // steps_per_frame

    def advance(w_hat: torch.Tensor, k: int) -> torch.Tensor:
        for _ in range(calls):
            w_hat = step(w_hat)
        return hybrid.correct(w_hat) if span > 1 and (first_frame + k + 1) % span == 0 else w_hat

    w_hat = grid.rfft(w0.to(device=grid.device, dtype=grid.dtype))
    out = []
    for k in range(frames):
        t = k * steps_per_frame * dt
        with torch.no_grad():
            speed = hybrid.max_speed(w_hat)
        if not bool(torch.isfinite(speed).all()):
            raise _blew_up(t, "non-finite field")
        courant = float(speed.max()) * dt / grid.dx
        if courant > scheme.max_courant:
            raise _blew_up(t, f"CFL number {courant:.3g} > {scheme.max_courant}")
        if checkpoint and torch.is_grad_enabled():
            w_hat = _checkpoint(advance, w_hat, k, use_reentrant=False)
        else:
            w_hat = advance(w_hat, k)
        out.append(grid.irfft(w_hat))
    result = torch.stack(out, dim=1)
    if not bool(torch.isfinite(result.detach()).all()):
        raise _blew_up(frames * steps_per_frame * dt, "non-finite field")
    return result


def unrolled_loss(
    hybrid: Hybrid,
    w0: torch.Tensor,
    targets: torch.Tensor,
    steps_per_frame: int,
    dt: float,
    *,
    s: float = 0.0,
    scheme: IMEXScheme | str = "rk4-cn",
    checkpoint: bool = False,
) -> torch.Tensor:
    """Mean window relative ``H^s`` error of a rollout from ``w0`` against ``targets``
    (module docstring).

    ``targets`` are the ``K`` frames ``(B, K, n, n)`` that follow ``w0`` (``B`` fields
    ``(B, n, n)``), ``steps_per_frame`` steps of ``dt`` apart; ``s`` is 0 (L2) or -1 (H^-1).
    Differentiable in the corrector's parameters and in ``w0``; a scalar.
    """
    grid = hybrid.grid
    if (
        targets.dim() != 4
        or targets.shape[0] != w0.shape[0]
        or targets.shape[-2:]
        != (
            grid.n,
            grid.n,
        )
    ):
        raise SpectralRefinerError(
            f"targets have shape {tuple(targets.shape)}, expected ({w0.shape[0]}, K, "
            f"{grid.n}, {grid.n}) for {w0.shape[0]} initial fields"
        )
    pred = rollout(
        hybrid,
        w0,
        targets.shape[1],
        steps_per_frame,
        dt,
        scheme=scheme,
        checkpoint=checkpoint,
    )
    err = torch.linalg.vector_norm(sobolev_norm(pred - targets.to(pred), grid, s), dim=-1)
    return (err / torch.linalg.vector_norm(sobolev_norm(targets.to(pred), grid, s), dim=-1)).mean()
