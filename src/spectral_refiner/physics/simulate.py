"""Advance a batch of vorticity fields to a list of snapshot times, exactly.

Time step policy. Each trajectory gets its own step size, so that trajectory ``i`` is the
same whatever else shares its batch. The interval to the next snapshot is covered in
chunks of at most ``chunk_steps`` steps; at the start of a chunk, trajectory ``i`` with
time ``r_i`` left to the snapshot and target step ``Δt*_i`` takes
``n_i = ceil(r_i / Δt*_i)`` steps of ``r_i / n_i`` (so it lands on the snapshot time), of
which the chunk runs ``min(n_i, chunk_steps)``. The target is the fixed ``dt`` or, with a
Courant number ``C``, the CFL step ``Δt*_i = C Δx / max(|u_i| + |v_i|)`` measured on the
trajectory's own field. A trajectory that needs fewer steps than the chunk is advanced by
steps of size 0, which leave it unchanged bit for bit.

Blow-up guard. At every chunk start the field must be finite and the Courant number of the
step about to be taken must not exceed the scheme's stability bound; otherwise a
:class:`~spectral_refiner.errors.SpectralRefinerError` names the time reached and what to
change.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import torch

from ..errors import SpectralRefinerError
from ..threads import work_threads
from .navier_stokes import NavierStokes2D
from .time_stepping import IMEXScheme, get_scheme, imex_stepper

__all__ = ["simulate"]


def _check_times(times: Sequence[float], t0: float) -> list[float]:
    out = [float(t) for t in times]
    if not out:
        raise SpectralRefinerError("no snapshot times given: pass at least one time")
    if (
        any(not math.isfinite(t) for t in out)
        or out[0] < t0
        or any(b < a for a, b in itertools.pairwise(out))
    ):
        raise SpectralRefinerError(
            f"snapshot times must be finite, non-decreasing and >= the start time {t0}"
        )
    return out


def simulate(
    equation: NavierStokes2D,
    w0: torch.Tensor,
    times: Sequence[float],
    *,
    scheme: IMEXScheme | str = "rk4-cn",
    dt: float | None = None,
    courant: float | None = None,
    t0: float = 0.0,
    resolution: int | None = None,
    chunk_steps: int = 16,
    progress: Callable[[float], None] | None = None,
    observe: Callable[[torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Integrate ``∂tω = N(ω) + Lω`` from ``t0`` and return the fields at ``times``.

    Parameters
    ----------
    equation : NavierStokes2D
        The equation; its grid fixes resolution, dtype and device.
    w0 : Tensor
        Initial vorticity, ``(B, n, n)`` or ``(n, n)``.
    times : sequence of float
        Snapshot times, non-decreasing, ``>= t0`` (``t0`` itself returns the initial field).
    scheme : str or IMEXScheme
        ``rk4-cn`` (default), ``rk2-cn``, ``euler`` or ``euler-cn``.
    dt, courant : float
        Exactly one: a fixed target step, or a CFL number for an adaptive step.
    resolution : int, optional
        Return snapshots spectrally truncated (or zero-padded) to this resolution.
    chunk_steps : int
        Steps between step-size updates and blow-up checks.
    progress : callable, optional
        Called with the (minimum over the batch) simulated time after every chunk.
    observe : callable, optional
        Called at every snapshot with the full-resolution fields ``(B, n, n)`` (before any
        truncation to ``resolution``; e.g. to form the subgrid term of the stored frames).

    Returns
    -------
    Tensor
        ``(B, len(times), m, m)`` with ``m = resolution or n`` (no batch axis if ``w0`` had
        none), in the grid's dtype.
    """
    grid = equation.grid
    scheme = get_scheme(scheme) if isinstance(scheme, str) else scheme
    if (dt is None) == (courant is None):
        raise SpectralRefinerError("give exactly one of dt (fixed step) or courant (adaptive)")
    if dt is not None and not dt > 0:
        raise SpectralRefinerError(f"time step dt must be positive, got {dt}")
    if courant is not None and not 0 < courant <= scheme.max_courant:
        raise SpectralRefinerError(
            f"courant number must be in (0, {scheme.max_courant}] for scheme {scheme.name}, "
            f"got {courant}"
        )
    times = _check_times(times, t0)
    squeeze = w0.dim() == 2
    w0 = w0.unsqueeze(0) if squeeze else w0
    if w0.dim() != 3 or w0.shape[-2:] != (grid.n, grid.n):
        raise SpectralRefinerError(
            f"initial field has shape {tuple(w0.shape)}, expected (batch, {grid.n}, {grid.n})"
        )
    n_out = resolution or grid.n
    w_hat = grid.rfft(w0.to(device=grid.device, dtype=grid.dtype))
    # Stored m_y-major, the layout NavierStokes2D computes in (same values).
    w_hat = w_hat.transpose(-1, -2).contiguous().transpose(-1, -2)
    batch = w_hat.shape[0]
    frames = []
    t = float(t0)
    dt_prev, stepper = None, None  # the stage factors are formed once per distinct step size
    # Without autograd the steps run in inference mode (less bookkeeping per operation); the
    # snapshots are formed outside it, as ordinary tensors.
    inference = not torch.is_grad_enabled()
    # Threads from the work size and the free cores (one for small fields).
    with work_threads(batch * grid.n * grid.n):
        for t_next in times:
            remaining = torch.full((batch,), t_next - t, dtype=torch.float64)
            while bool((remaining > 0).any()):
                speed = equation.max_speed(w_hat).to(torch.float64).cpu()
                t_reached = t_next - float(remaining.max())
                if not bool(torch.isfinite(speed).all()):
                    raise SpectralRefinerError(
                        f"the solution blew up (non-finite field) at t = {t_reached:.4g}: use a "
                        "smaller dt or courant number, or a higher resolution"
                    )
                if dt is not None:
                    target = torch.full_like(speed, dt)
                else:
                    target = courant * grid.dx / speed.clamp_min(1e-30)
                active = remaining > 0
                n_steps = torch.where(
                    active, torch.ceil(remaining / target * (1 - 1e-12)).clamp_min(1), 0
                ).to(torch.int64)
                step = torch.where(active, remaining / n_steps.clamp_min(1), 0.0)
                cfl = step * speed / grid.dx
                if bool((cfl > scheme.max_courant).any()):
                    raise SpectralRefinerError(
                        f"CFL number {float(cfl.max()):.3g} exceeds the stability bound "
                        f"{scheme.max_courant} of scheme {scheme.name} at t = {t_reached:.4g}: "
                        "use a smaller dt or courant number, or a higher resolution"
                    )
                taken = torch.clamp(n_steps, max=chunk_steps)
                with torch.inference_mode(inference):
                    for j in range(int(taken.max())):
                        dt_j = torch.where(taken > j, step, 0.0).reshape(-1, 1, 1)
                        if dt_prev is None or not torch.equal(dt_j, dt_prev):
                            dt_prev = dt_j
                            stepper = imex_stepper(equation, dt_j.to(grid.device), scheme)
                        w_hat = stepper(w_hat)
                remaining = torch.where(n_steps <= chunk_steps, 0.0, remaining - taken * step)
                if progress is not None:
                    progress(t_next - float(remaining.max()))
            t = t_next
            # One inverse transform per field: a batched transform can round differently from a
            # single one, and trajectory i must not depend on its batch.
            frame = torch.stack([grid.irfft(f, n_out) for f in grid.resample_hat(w_hat, n_out)])
            if not bool(torch.isfinite(frame).all()):
                raise SpectralRefinerError(
                    f"the solution blew up (non-finite field) before t = {t:.4g}: use a smaller "
                    "dt or courant number, or a higher resolution"
                )
            frames.append(frame)
            if observe is not None:
                observe(torch.stack([grid.irfft(f) for f in w_hat]))
    out = torch.stack(frames, dim=1)
    return out[0] if squeeze else out
