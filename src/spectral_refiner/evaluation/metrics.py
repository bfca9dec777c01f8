"""Rollout metrics of predicted trajectories against the truth: a metric is a small function
of (prediction, target, grid), per instance and frame (names and relative errors:
:mod:`spectral_refiner.metrics`).

For frames ``p_t`` against ``y_t`` (``(B, T, n, n)``):

* relative errors per frame ``‖p_t - y_t‖_{H^s} / ‖y_t‖_{H^s}``, ``s = 0, 1, -1``
  (:func:`~spectral_refiner.metrics.relative_error` with ``per_frame``);
* the vorticity correlation ``ρ_t`` (:func:`~spectral_refiner.physics.vorticity_correlation`)
  and the high-correlation time, the first time the mean ``ρ`` drops below a threshold
  (0.95 as in Kochkov et al. 2021, 0.8 as in PDE-Refiner);
* energy ``E = ½⟨|u|^2⟩`` and enstrophy ``Z = ½⟨ω^2⟩`` per frame, and the shell energy spectrum
  ``E(k)`` (its shells sum to ``E``); the spectral error per octave band ``[2^j, 2^{j+1})`` of
  the integer wavenumber, ``Σ_band |E_p(k) - E_y(k)| / Σ_band E_y(k)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..metrics import ORDERS, relative_error
from ..physics import (
    SpectralGrid,
    energy_spectrum,
    enstrophy,
    kinetic_energy,
    vorticity_correlation,
)

__all__ = [
    "band_errors",
    "flow_statistics",
    "frame_metrics",
    "high_correlation_time",
    "octave_bands",
]


def frame_metrics(
    pred: torch.Tensor, target: torch.Tensor, grid: SpectralGrid
) -> dict[str, torch.Tensor]:
    """Per-instance, per-frame :data:`~spectral_refiner.metrics.FRAME_METRICS` (``rel_l2``,
    ``rel_h1``, ``rel_h-1`` and ``correlation``), each ``(B, T)``."""
    out = {
        name: relative_error(pred, target, grid, s, per_frame=True) for name, s in ORDERS.items()
    }
    out["correlation"] = vorticity_correlation(pred, target)
    return out


def flow_statistics(w: torch.Tensor, grid: SpectralGrid) -> dict[str, torch.Tensor]:
    """Energy and enstrophy ``(B, T)`` and the energy spectrum ``(B, T, shells)`` of frames."""
    k, spectrum = energy_spectrum(w, grid)
    return {
        "energy": kinetic_energy(w, grid),
        "enstrophy": enstrophy(w, grid),
        "spectrum": spectrum,
        "wavenumber": k,
    }


def high_correlation_time(correlation: np.ndarray, times: np.ndarray, threshold: float) -> float:
    """The first time the correlation ``(T,)`` is below ``threshold``; ``inf`` if never."""
    below = np.nonzero(np.asarray(correlation) < threshold)[0]
    return float(times[below[0]]) if below.size else math.inf


def octave_bands(n_shells: int) -> list[tuple[int, int]]:
    """Shell ranges ``[lo, hi)`` of integer wavenumbers: ``[1, 2), [2, 4), [4, 8), ...``."""
    bands, lo = [], 1
    while lo < n_shells:
        bands.append((lo, min(2 * lo, n_shells)))
        lo *= 2
    return bands


def band_errors(spectrum_pred: np.ndarray, spectrum_true: np.ndarray) -> list[float]:
    """Relative spectral error per octave band (module docstring) of ``(shells,)`` spectra."""
    out = []
    for lo, hi in octave_bands(len(spectrum_true)):
        true = float(np.sum(spectrum_true[lo:hi]))
        out.append(
            float(np.sum(np.abs(spectrum_pred[lo:hi] - spectrum_true[lo:hi]))) / true
            if true > 0
            else math.nan
        )
    return out
