r"""The long-horizon check of a hybrid run: the trained hybrid and the plain coarse solver it
corrects, rolled out far beyond the unroll it was trained on, against the truncated DNS.

From the first frame of each test trajectory both solvers advance ``H`` frames (default 10
times the run's longest training unroll ``t_out``) with the run's step and frame spacing;
the plain solver is the same hybrid with its gain set to 0 (bit for bit the coarse
solver). Per solver:

* ``blew_up``: the rollout stopped (non-finite field or CFL beyond the scheme's bound, the
  guard of :func:`~spectral_refiner.hybrid.rollout`), ``None`` if it did not, else the
  message;
* ``rel_l2``: the mean over trajectories of the relative L2 error per frame, ``(H,)``;
* ``correlation``: the mean vorticity correlation per frame and the times it first drops
  below 0.95 and 0.8 (:func:`~.metrics.high_correlation_time`);
* ``band_errors``: the energy-spectrum error per octave band ``[2^j, 2^{j+1})``
  (:func:`~.metrics.band_errors`) of the spectrum averaged over the trajectories and the
  last ``H / 10`` frames (a statistic, not a snapshot), against the DNS's, for the shells up
  to the coarse grid's 2/3 band ``|m| <= n/3``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..errors import SpectralRefinerError
from ..hybrid import HybridModel
from ..models import model_from_payload, model_payload
from ..physics import energy_spectrum, vorticity_correlation
from .metrics import band_errors, high_correlation_time

__all__ = ["long_horizon", "plain_solver"]


def long_horizon(
    model: HybridModel, frames: torch.Tensor, horizon: int | None = None
) -> dict[str, Any]:
    """The module docstring's measures for ``model`` and the plain solver.

    Parameters
    ----------
    model : HybridModel
        A trained hybrid (``RunDir.load_model()``).
    frames : Tensor
        Test trajectories ``(N, T, n, n)`` on the hybrid's grid and frame spacing.
    horizon : int, optional
        Frames to roll out, ``H <= T - 1`` (default ``10 · model.t_out``).

    Returns
    -------
    dict
        ``{"horizon", "time", "hybrid": {...}, "plain": {...}}``, ``time`` the simulated
        time of each frame.
    """
    if not isinstance(model, HybridModel):
        raise SpectralRefinerError("the long-horizon check needs a hybrid run (model hybrid)")
    horizon = horizon or 10 * model.t_out
    n = model.resolution
    if frames.dim() != 4 or frames.shape[-1] != n or frames.shape[1] < horizon + 1:
        raise SpectralRefinerError(
            f"the long-horizon check needs trajectories (N, >= {horizon + 1}, {n}, {n}), got "
            f"{tuple(frames.shape)}: use test data at the run's resolution, or a shorter horizon"
        )
    plain = plain_solver(model)
    spacing = model.steps_per_frame * model.dt
    times = spacing * np.arange(1, horizon + 1)
    target = frames[:, 1 : horizon + 1].to(model.gain.dtype)
    out: dict[str, Any] = {"horizon": horizon, "time": times.tolist()}
    for name, solver in (("hybrid", model), ("plain", plain)):
        out[name] = _measures(solver, frames[:, 0], target, horizon, times)
    return out


def plain_solver(model: HybridModel) -> HybridModel:
    """A copy of ``model`` with gain 0: bit for bit the plain coarse solver it corrects."""
    plain = model_from_payload(model_payload(model)).to(model.gain.dtype).eval()
    with torch.no_grad():
        plain.gain.zero_()
    return plain


def _measures(
    model: HybridModel, w0: torch.Tensor, target: torch.Tensor, horizon: int, times: np.ndarray
) -> dict[str, Any]:
    grid = model.hybrid.corrector.grid  # the stored resolution's
    try:
        with torch.no_grad():
            pred = model.advance(w0, horizon)
    except SpectralRefinerError as exc:
        return {"blew_up": str(exc)}
    diff = (pred - target).square().sum(dim=(-2, -1)).sqrt()
    rel = (diff / target.square().sum(dim=(-2, -1)).sqrt()).mean(dim=0)
    corr = vorticity_correlation(pred, target).mean(dim=0).cpu().numpy()
    last = max(1, horizon // 10)
    cut = grid.n // 3 + 1
    spectrum = energy_spectrum(pred[:, -last:], grid)[1].mean(dim=(0, 1))[:cut]
    truth = energy_spectrum(target[:, -last:], grid)[1].mean(dim=(0, 1))[:cut]
    return {
        "blew_up": None,
        "rel_l2": rel.cpu().tolist(),
        "correlation": corr.tolist(),
        "time_below_0.95": high_correlation_time(corr, times, 0.95),
        "time_below_0.8": high_correlation_time(corr, times, 0.8),
        "band_errors": [
            e if math.isfinite(e) else None
            for e in band_errors(spectrum.cpu().numpy(), truth.cpu().numpy())
        ],
    }
