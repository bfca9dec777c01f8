"""The model arguments of a hybrid run (``model.name: hybrid``): the coarse equation from the
data, checked to be a filtered DNS, and the corrector's scales from the training frames.

A hybrid learns the difference between the coarse solver and a finer one, so its training
frames must be a DNS spectrally truncated to the coarse grid: the file's recipe must have
``sim_resolution`` an integer multiple ``>= 2`` of the stored ``resolution`` (the
``*-dns*`` presets of :mod:`spectral_refiner.data.presets`). The frame spacing of the run's
window (``data.frame_stride`` stored frames) is the Problem's ``dt`` that
``model.steps_per_frame · model.dt`` must equal (:class:`~spectral_refiner.hybrid.HybridModel`).

Scales (unless the config sets them): ``input_scale`` the root mean square of each input
channel (``ω`` or ``ω, u, v``) over the training frames, ``output_scale`` ``σ²`` for a
closure term and ``σ`` for a state correction, ``σ`` the vorticity's root mean square
(a rate of vorticity has the units of ``ω²``).
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import SpectralRefinerError
from ..hybrid import HybridModel, closure_inputs
from ..physics import SpectralGrid
from ..problem import Problem

__all__ = ["HYBRID", "hybrid_kwargs"]

#: The model name of a hybrid run (registered by importing :mod:`spectral_refiner.hybrid`).
HYBRID = HybridModel.name


def hybrid_kwargs(
    kwargs: dict[str, Any],
    problem: Problem,
    recipe: Any,
    source: str,
    frames: torch.Tensor | None = None,
) -> dict:
    """``kwargs`` of :class:`~spectral_refiner.hybrid.HybridModel` with the run's
    ``problem`` (:meth:`Problem.with_window`: its ``dt`` is the window's frame spacing) and
    the scales of the module docstring from the training ``frames`` ``(N, T, n, n)`` where
    ``kwargs`` leave them out; ``recipe`` is the data's preset (with ``sim_resolution``),
    ``source`` names the data in errors."""
    fine = getattr(recipe, "sim_resolution", None)
    n = problem.resolution
    if not isinstance(fine, int) or fine < 2 * n or fine % n:
        raise SpectralRefinerError(
            f"{source} is not a filtered DNS (simulated at {fine}, stored at {n}): a hybrid "
            "trains on frames simulated at a multiple >= 2 of the stored resolution; make "
            "them with `spectral-refiner generate --preset kolmogorov-dns256`"
        )
    out = {**kwargs, "problem": problem.to_dict()}
    if frames is not None and frames.numel():
        grid = SpectralGrid(n, problem.box_length, dtype=torch.float64)
        w = frames.reshape(-1, n, n).to(torch.float64)
        x = closure_inputs(grid, grid.rfft(w), kwargs.get("inputs", "vorticity"))
        rms = x.square().mean(dim=(0, 2, 3)).sqrt().clamp_min(1e-30).tolist()
        power = 2 if kwargs.get("form", "closure") == "closure" else 1
        out.setdefault("input_scale", rms)
        out.setdefault("output_scale", rms[0] ** power)
    return out
