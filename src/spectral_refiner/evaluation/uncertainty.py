"""Uncertainty of a sampling model's rollouts (PDE-Refiner): the spread of ``S`` samples
against the true error, and the decorrelation time estimated from sample agreement.

From the same input frames, ``S`` rollouts are chained with different noise seeds: rollout
``s`` draws the refinement noise of instance ``i``'s ``j``-th step from the seed keyed by
``(s, j, trajectory index)`` (:func:`~spectral_refiner.training.sample_seeds`), so a sample
does not depend on the batch it is computed in. For rollouts ``u^s_t`` with mean
``ū_t = (1/S) Σ_s u^s_t`` and truth ``y_t``, per instance and frame:

* the spread ``σ_t = (1/S Σ_s ‖u^s_t - ū_t‖²)^{1/2} / ‖ū_t‖`` (relative, L2);
* the true error ``e_t = ‖ū_t - y_t‖ / ‖y_t‖`` of the sample mean;
* the estimate η of every sample's one-step window (its input frames then its prediction),
  averaged over the samples;
* the sample agreement ``a_t``, the mean vorticity correlation over the pairs ``s < s'`` of
  ``u^s_t`` and ``u^{s'}_t``, and the true correlation ``c_t``, the mean over samples of the
  correlation of ``u^s_t`` with ``y_t``.

Reported: Spearman's rank correlation of the spread (and of η) with the true error over all
test frames (instances × frames), and over the frames still correlated with the truth
(``c_t ≥ 0.2``): once a rollout has decorrelated its error saturates (``≈ √2`` for fields of
equal norm, the sample mean's somewhat less) and no longer ranks anything, while the spread
keeps growing, so a long horizon pulls the pooled figure down whatever the spread's quality.
Also per instance the *estimated decorrelation time*, the
first time ``a_t`` drops below the threshold (0.8, as in PDE-Refiner, Lippe et al. 2023,
which estimates a rollout's correlation time from the agreement of its samples), beside the
true one, the first time ``c_t`` does; with their medians over instances.

Calibrated spread. Samples that are under-dispersed agree too long. :func:`spread_factor`
fits one factor ``λ``, the median of ``e_t / σ_t`` over frames still correlated, on
trajectories the model did not train on (the run's validation split), so that ``λ σ_t``
estimates the error ``e_t`` of the rollout; :func:`calibrated_times` turns it into a
correlation through the identity for fields of equal norm,
``corr(u, y) = 1 - ‖u - y‖² / (2‖y‖²)``, i.e. ``ĉ_t = 1 - (λ σ_t)² / 2``, and reports the first
time ``ĉ_t`` drops below the threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import SpectralRefinerError
from ..models import NeuralOperator
from ..physics import Residual, vorticity_correlation
from ..training import sample_seeds
from .metrics import high_correlation_time

__all__ = [
    "calibrated_times",
    "check_samples",
    "sample_rollouts",
    "spearman",
    "spread_factor",
    "uncertainty",
]

THRESHOLD = 0.8
CORRELATED = 0.2  # frames with a true correlation at least this are "still correlated"


def check_samples(model: NeuralOperator, samples: int, option: str = "--samples") -> None:
    """Refuse ``samples`` for a model that cannot sample, or fewer than 2 samples."""
    if not callable(getattr(model, "sample", None)) or not getattr(model, "steps", 0):
        raise SpectralRefinerError(
            f"{option} needs a model that samples (pde_refiner with refinement_steps >= 1); "
            f"this run's model is {model.name}"
            + (" without refinement steps" if model.name == "pde_refiner" else "")
        )
    if samples < 2:
        raise SpectralRefinerError(f"{option} must be at least 2, got {samples}")


@torch.no_grad()
def sample_rollouts(
    model: NeuralOperator,
    w_in: torch.Tensor,
    frames: int,
    samples: int,
    trajectories: Sequence[int],
    residual: Residual,
    bar: tqdm | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``S`` chained rollouts ``(S, B, frames, n, n)`` of a one-step sampling model from
    ``w_in (B, t_in, n, n)`` (noise keyed as the module docstring says, ``trajectories`` the
    instances' indices in their file), and η of every step ``(S, B, frames)``."""
    runs, etas = [], []
    for s in range(samples):
        history, eta = w_in, []
        for j in range(frames):
            window = history[:, -model.t_in :]
            pred = model.sample(window, sample_seeds(s, j, trajectories))
            eta.append(residual.of_prediction(window, pred))
            history = torch.cat((history, pred), dim=1)
            if bar is not None:
                bar.update(1)
        runs.append(history[:, w_in.shape[1] :])
        etas.append(torch.stack(eta, dim=1))
    return torch.stack(runs), torch.stack(etas)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation of two samples (ties ranked by their mean rank); NaN
    when either is constant or has fewer than two values."""
    if np.size(x) < 2:
        return math.nan
    rx, ry = _ranks(np.ravel(x)), _ranks(np.ravel(y))
    if rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def _ranks(v: np.ndarray) -> np.ndarray:
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v), dtype=np.float64)
    ranks[order] = np.arange(len(v), dtype=np.float64)
    _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def _l2(w: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(w, dim=(-2, -1))


def uncertainty(
    runs: torch.Tensor, etas: torch.Tensor, truth: torch.Tensor, times: np.ndarray
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The numbers of the module docstring from rollouts ``(S, B, T, n, n)``, their η
    ``(S, B, T)`` and the truth ``(B, T, n, n)`` at ``times (T,)``: a summary and the
    per-instance, per-frame arrays ``(B, T)`` (spread, error, η, agreement, correlation)."""
    mean = runs.mean(0)
    spread = _l2(runs - mean).square().mean(0).sqrt() / _l2(mean)
    error = _l2(mean - truth) / _l2(truth)
    s = runs.shape[0]
    pairs = [(a, b) for a in range(s) for b in range(a + 1, s)]
    agreement = torch.stack([vorticity_correlation(runs[a], runs[b]) for a, b in pairs]).mean(0)
    correlation = vorticity_correlation(runs, truth.expand_as(runs)).mean(0)
    arrays = {
        name: v.double().cpu().numpy()
        for name, v in (
            ("spread", spread),
            ("error", error),
            ("eta", etas.mean(0)),
            ("agreement", agreement),
            ("correlation", correlation),
        )
    }
    estimated = np.array([high_correlation_time(a, times, THRESHOLD) for a in arrays["agreement"]])
    true = np.array([high_correlation_time(c, times, THRESHOLD) for c in arrays["correlation"]])
    arrays["estimated_time"], arrays["true_time"] = estimated, true
    median_est, median_true = float(np.median(estimated)), float(np.median(true))
    correlated = arrays["correlation"] >= CORRELATED
    summary = {
        "samples": s,
        "threshold": THRESHOLD,
        "spearman_spread_error": spearman(arrays["spread"], arrays["error"]),
        "spearman_eta_error": spearman(arrays["eta"], arrays["error"]),
        "spearman_spread_error_correlated": spearman(
            arrays["spread"][correlated], arrays["error"][correlated]
        ),
        "correlated_frames": int(correlated.sum()),
        "per_frame_spread": arrays["spread"].mean(0).tolist(),
        "per_frame_error": arrays["error"].mean(0).tolist(),
        "per_frame_eta": arrays["eta"].mean(0).tolist(),
        "median_estimated_time": _finite(median_est),
        "median_true_time": _finite(median_true),
    }
    return summary, arrays


def spread_factor(spread: np.ndarray, error: np.ndarray, correlation: np.ndarray) -> float:
    """``λ = median(e / σ)`` over the frames with ``correlation ≥ 0.2`` (module docstring);
    arrays ``(B, T)`` of spread, true error and true correlation."""
    keep = (np.asarray(correlation) >= CORRELATED) & (np.asarray(spread) > 0)
    if not keep.any():
        raise SpectralRefinerError(
            "spread_factor: no frame is still correlated with a nonzero spread: fit on a "
            "shorter rollout or more trajectories"
        )
    return float(np.median(np.asarray(error)[keep] / np.asarray(spread)[keep]))


def calibrated_times(spread: np.ndarray, factor: float, times: np.ndarray) -> np.ndarray:
    """Per instance the first time ``1 - (λ σ_t)² / 2`` drops below 0.8 (module docstring;
    ``inf`` if never), from the spread ``(B, T)`` at ``times (T,)`` and ``λ = factor``."""
    estimated = 1.0 - 0.5 * (factor * np.asarray(spread)) ** 2
    return np.array([high_correlation_time(c, times, THRESHOLD) for c in estimated])


def _finite(value: float) -> float | None:
    """``None`` for a time that never came (inf), as the evaluation's JSON has it."""
    return value if math.isfinite(value) else None
