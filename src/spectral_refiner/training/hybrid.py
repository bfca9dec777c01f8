"""The model arguments of a hybrid run (``model.name: hybrid``): the coarse equation from the
data, checked to be a filtered DNS.

A hybrid learns the difference between the coarse solver and a finer one, so its training
frames must be a DNS spectrally truncated to the coarse grid: the file's recipe must have
``sim_resolution`` an integer multiple ``>= 2`` of the stored ``resolution`` (the
``*-dns*`` presets of :mod:`spectral_refiner.data.presets`). The frame spacing of the run's
window (``data.frame_stride`` stored frames) is the Problem's ``dt`` that
``model.steps_per_frame · model.dt`` must equal (:class:`~spectral_refiner.hybrid.HybridModel`).
"""

from __future__ import annotations

from typing import Any

from ..errors import SpectralRefinerError
from ..hybrid import HybridModel
from ..problem import Problem

__all__ = ["HYBRID", "hybrid_kwargs"]

#: The model name of a hybrid run (registered by importing :mod:`spectral_refiner.hybrid`).
HYBRID = HybridModel.name


def hybrid_kwargs(kwargs: dict[str, Any], problem: Problem, recipe: Any, source: str) -> dict:
    """``kwargs`` of :class:`~spectral_refiner.hybrid.HybridModel` with the run's
    ``problem`` (:meth:`Problem.with_window`: its ``dt`` is the window's frame spacing);
    ``recipe`` is the data's preset (with
    ``sim_resolution``), ``source`` names the data in errors."""
    fine = getattr(recipe, "sim_resolution", None)
    n = problem.resolution
    if not isinstance(fine, int) or fine < 2 * n or fine % n:
        raise SpectralRefinerError(
            f"{source} is not a filtered DNS (simulated at {fine}, stored at {n}): a hybrid "
            "trains on frames simulated at a multiple >= 2 of the stored resolution; make "
            "them with `spectral-refiner generate --preset kolmogorov-dns256`"
        )
    return {**kwargs, "problem": problem.to_dict()}
