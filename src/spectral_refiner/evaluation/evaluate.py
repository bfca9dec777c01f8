"""Evaluation of a run on a file: errors, correlation, spectra and η over long rollouts.

A rollout chains windows outside the model: from the file's first ``t_in`` window frames,
the model predicts ``t_out`` frames, the last ``t_in`` frames of everything so far are the
next input, and so on until ``frames`` frames are predicted (with ``refine``, every window
is refined before the next one reads it). Each window's prediction carries its estimate η.
Against the file's frames the evaluation reports, per predicted frame and averaged over
frames: relative L2, H1 and H^-1 errors and the vorticity correlation; the high-correlation
times (mean correlation below 0.95 and 0.8); energy and enstrophy of prediction and truth over
time; and the energy spectra of prediction and truth with their error per octave band.

Every evaluation also scores the *persistence* baseline, the last input frame held for every
predicted frame, ``p_t = ω_{t_in - 1}``: a model worse than it has learnt nothing useful.
Besides the means over trajectories, each metric's spread over trajectories is kept: the
median and the 10th and 90th percentiles of the per-trajectory mean over frames, and per frame.

A sampling model (PDE-Refiner) can also roll out ``samples`` rollouts with different noise
seeds: their spread against the true error, beside η, and the decorrelation time estimated
from their agreement beside the true one (:mod:`~.uncertainty`).

Per window, every rollout also reports the honest estimate
(:mod:`spectral_refiner.physics.error_estimate`): ``floor`` (η of the given input frames, the
same for every window of a rollout), ``estimate`` (``max(η, floor)``), ``floor_error`` (the
floor in error units), ``error_estimate`` (the relative L2 error the residual's excess over
the floor implies; a refined window's bounded below by its unrefined prediction's and the
floor's error) beside the true relative L2 error of the window
(``per_window_rel_l2``) and the effectivity (error estimate over true error). A use-time
closure (``select.closure``) changes the residual of all of them and is named in the key.

Results go to ``RUN_DIR/evaluation/KEY.json`` (every number) and ``KEY.npz`` (the arrays the
report plots: per-frame metrics per trajectory, spectra, η per window, and snapshots of the
first trajectory), ``KEY`` naming the data file, split, rollout, resolution, refinement and
samples (:func:`~spectral_refiner.evaluation.runs.evaluation_key`), so evaluations never
overwrite each other.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import SpectralRefinerError
from ..metrics import relative_error
from ..models import NeuralOperator
from ..physics import ESTIMATE_COLUMNS, Residual, honest_estimate, refined_estimate
from ..refine import check_refinable
from ..refine import refine as refine_windows
from .inputs import HELD_OUT, Selection, open_run_data
from .metrics import band_errors, flow_statistics, frame_metrics, high_correlation_time
from .runs import data_key, evaluation_key, write_results
from .uncertainty import check_samples, sample_rollouts, uncertainty

__all__ = ["evaluate_run", "rollout", "rollout_estimates"]

SNAPSHOTS = 4
THRESHOLDS = (0.95, 0.8)
PERCENTILES = (10, 50, 90)


def rollout_estimates(
    model: NeuralOperator,
    w_in: torch.Tensor,
    frames: int,
    residual: Residual,
    *,
    refine: bool = False,
    steps: int = 100,
    bar: tqdm | None = None,
    estimates: bool = True,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``frames`` predicted frames ``(B, frames, n, n)`` from ``w_in`` by chaining windows,
    and the honest estimate's columns of every window (:data:`~spectral_refiner.physics.\
ESTIMATE_COLUMNS`: η, floor, estimate, floor's error, error estimate; each ``(B, windows)``, of
    ``residual``); with ``refine``, each window refined first (stopping at its floor). Every
    window's floor is the first window's, measured on the given frames ``w_in``: later
    windows' inputs are predictions. ``bar`` advances by the frames of each window. Without
    ``estimates`` no column is computed (an empty dict: the rollout alone, as timed)."""
    history, columns = w_in, []
    predicted = 0
    while predicted < frames:
        window = history[:, -model.t_in :]
        floors = (columns[0]["floor"], columns[0]["floor_error"]) if columns else None
        if refine:
            result = refine_windows(model, window, residual, max_evals=steps)
            pred = result.prediction.detach()
        else:
            with torch.no_grad():
                pred = model(window)
        if estimates and refine:
            before = honest_estimate(residual, window, result.initial, floors)
            columns.append(refined_estimate(residual, window, pred, before, result.initial))
        elif estimates:
            columns.append(honest_estimate(residual, window, pred, floors))
        history = torch.cat((history, pred.detach()), dim=1)
        if bar is not None:
            bar.update(min(pred.shape[1], frames - predicted))
        predicted += pred.shape[1]
    stacked = {k: torch.stack([c[k] for c in columns], dim=1) for k in ESTIMATE_COLUMNS if columns}
    return history[:, w_in.shape[1] : w_in.shape[1] + frames], stacked


def rollout(*args: Any, **options: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The frames of :func:`rollout_estimates` (same arguments) and η of every window,
    ``(B, windows)``."""
    pred, columns = rollout_estimates(*args, **options)
    return pred, columns["eta"]


def _side(pred: torch.Tensor, truth: torch.Tensor, grid, times: np.ndarray) -> dict[str, Any]:
    """Per-frame metrics of one prediction (instance means) and their summaries."""
    per_instance = {
        k: v.double().cpu().numpy() for k, v in frame_metrics(pred, truth, grid).items()
    }
    metrics = {k: v.mean(0) for k, v in per_instance.items()}
    stats = flow_statistics(pred, grid)
    out: dict[str, Any] = {f"per_frame_{k}": v.tolist() for k, v in metrics.items()}
    out.update({f"mean_{k}": float(np.mean(v)) for k, v in metrics.items()})
    for k, v in per_instance.items():  # spread over trajectories of the mean over frames
        p10, p50, p90 = np.percentile(v.mean(1), PERCENTILES)
        out.update({f"p10_{k}": float(p10), f"median_{k}": float(p50), f"p90_{k}": float(p90)})
        if k in ("rel_l2", "correlation"):  # and per frame, for the report's bands
            bands = np.percentile(v, PERCENTILES, axis=0)
            for name, band in zip(("p10", "median", "p90"), bands, strict=True):
                out[f"{name}_per_frame_{k}"] = band.tolist()
    out["_per_instance"] = per_instance
    for threshold in THRESHOLDS:  # None: the mean correlation never dropped that low
        time_below = high_correlation_time(metrics["correlation"], times, threshold)
        out[f"time_below_{threshold}"] = None if math.isinf(time_below) else time_below
    out["energy"] = stats["energy"].double().mean(0).cpu().numpy().tolist()
    out["enstrophy"] = stats["enstrophy"].double().mean(0).cpu().numpy().tolist()
    out["_spectrum"] = stats["spectrum"].double().mean(0).cpu().numpy()  # (T, shells)
    return out


def _estimate_summary(
    columns: dict[str, torch.Tensor],
    pred: torch.Tensor,
    truth: torch.Tensor,
    grid,
    t_out: int,
    arrays: dict[str, np.ndarray],
    name: str,
) -> dict[str, Any]:
    """Per window: the floor, estimate and error estimate (``arrays[f"{column}_{name}"]``,
    ``(B, windows)``), and the true relative L2 error of the window (over its frames, as the
    error estimate is, ``window_rel_l2_{name}``); their means over instances per window, and
    the effectivity (error estimate over true error): median and fraction in [1/3, 3]."""
    windows = columns["eta"].shape[1]
    true = (
        torch.stack(
            [
                relative_error(
                    pred[:, j * t_out : (j + 1) * t_out],
                    truth[:, j * t_out : (j + 1) * t_out],
                    grid,
                )
                for j in range(windows)
            ],
            dim=1,
        )
        .double()
        .cpu()
        .numpy()
    )
    arrays[f"window_rel_l2_{name}"] = true
    out: dict[str, Any] = {"per_window_rel_l2": true.mean(0).tolist()}
    for column in ESTIMATE_COLUMNS[1:]:
        values = columns[column].double().cpu().numpy()
        arrays[f"{column}_{name}"] = values
        out[f"per_window_{column}"] = values.mean(0).tolist()
        out[f"mean_{column}"] = float(values.mean())
    effectivity = arrays[f"error_estimate_{name}"] / true
    out["median_effectivity"] = float(np.median(effectivity))
    out["effectivity_within_3"] = float(np.mean((effectivity >= 1 / 3) & (effectivity <= 3)))
    return out


def evaluate_run(
    run_dir: str | os.PathLike,
    data_file: str | os.PathLike,
    *,
    refine: bool = False,
    frames: int | None = None,
    steps: int = 100,
    limit: int | None = None,
    device: str = "cpu",
    select: Selection = HELD_OUT,
    samples: int | None = None,
    ensemble: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Evaluate the run's model on the file (module docstring); returns the results, which
    are also written to ``RUN_DIR/evaluation/``. ``progress`` shows a bar of predicted frames.

    Parameters
    ----------
    frames : int, optional
        Frames of the rollout (default: one window, ``t_out``), at most what the file holds.
    refine : bool
        Also evaluate the refined rollout (SFNO runs).
    steps : int
        Refinement evaluations per window.
    limit : int, optional
        Evaluate only the first ``limit`` of the selected trajectories.
    select : Selection
        Which trajectories, and what the run may meet (:class:`~.inputs.Selection`).
    samples : int, optional
        Also roll out this many samples of a sampling model (PDE-Refiner) and report their
        spread against the true error and the estimated decorrelation time
        (:mod:`~.uncertainty`; results under ``"uncertainty"``, arrays ``uncertainty_*``).
    ensemble : int, optional
        Roll out a PDE-Refiner with the mean of this many refinement samples as each next
        frame (:class:`~spectral_refiner.models.PDERefiner`; the sampled rollouts of
        ``samples`` stay single-sample).
    """
    data = open_run_data(run_dir, data_file, select)
    model, dt = data.model, data.dt
    t_in = model.t_in
    available = data.frames() - t_in
    frames = frames or model.t_out
    if available < 1:
        raise SpectralRefinerError(
            f"{data_file} holds no frames after the {t_in} input frames: nothing to compare with"
        )
    if frames > available:
        raise SpectralRefinerError(
            f"a rollout of {frames} frames needs {t_in + frames} window frames, {data_file} "
            f"holds {data.frames()}: use --rollout {available} or longer trajectories"
        )
    if refine:
        check_refinable(model, str(data.run.path))
    if samples is not None:
        check_samples(model, samples)
    if ensemble is not None:
        check_samples(model, ensemble, "--ensemble")
        model.ensemble = ensemble
    n = data.trained_resolution
    residual = data.residual(n, device)
    equation = residual.equation
    model.to(equation.grid.device)
    count = data.flow.frames.shape[0] if limit is None else min(limit, data.flow.frames.shape[0])
    w_in = data.inputs(0)[:count].to(equation.grid.device)
    truth = data.window(t_in, frames, n)[:count].to(equation.grid.device)
    times = data.flow.times[0] + dt * np.arange(t_in, t_in + frames)
    grid = equation.grid

    split = select.split or "all"  # the run's held-out test split, or the whole file
    if count < data.flow.frames.shape[0]:
        split = f"{split}-first{count}"
    dkey = data_key(data_file, data.flow.fingerprint)
    key = evaluation_key(
        dkey,
        split=split,
        frames=frames,
        resolution=n,
        refine_steps=steps if refine else None,
        samples=samples,
        closure=select.closure,
        ensemble=ensemble,
    )
    results: dict[str, Any] = {
        "key": key,
        "run": str(data.run.path),
        "data": str(data_file),
        "data_key": dkey,
        "split": split,
        "model": model.name,
        "t_in": t_in,
        "t_out": model.t_out,
        "instances": count,
        "trajectories": data.trajectories[:count],
        "keys": None if data.keys is None else data.keys[:count],
        "resolution": n,
        "frames": frames,
        "refine_steps": steps if refine else None,
        "ensemble": ensemble,
        "closure": select.closure,
        "times": times.tolist(),
        "physics": {
            **data.flow.preset.fields(),
            "stored_resolution": data.flow.resolution,
            "frame_interval": data.flow.dt,
            "window_dt": dt,
        },
    }
    total = frames * ((ensemble or 1) + refine + (samples or 0))
    bar = tqdm(total=total, desc="evaluate", unit="frame", disable=not progress)
    started = time.perf_counter()
    pred, columns = rollout_estimates(model, w_in, frames, residual, bar=bar)
    results["seconds_per_instance"] = (time.perf_counter() - started) / count
    sides: dict[str, tuple[torch.Tensor, dict[str, torch.Tensor] | None]] = {
        "prediction": (pred, columns)
    }
    if refine:
        bar.set_description("evaluate (refined)")
        started = time.perf_counter()
        sides["refined"] = rollout_estimates(
            model, w_in, frames, residual, refine=True, steps=steps, bar=bar
        )
        results["refine_seconds_per_instance"] = (time.perf_counter() - started) / count
    arrays: dict[str, np.ndarray] = {"times": times}
    if samples is not None:
        bar.set_description("evaluate (samples)")
        runs, etas = sample_rollouts(
            model, w_in, frames, samples, data.trajectories[:count], residual, bar
        )
        results["uncertainty"], spread = uncertainty(runs, etas, truth, times)
        arrays.update({f"uncertainty_{k}": v for k, v in spread.items()})
    bar.close()
    sides["persistence"] = (w_in[:, -1:].expand(-1, frames, -1, -1), None)
    truth_stats = flow_statistics(truth, grid)
    spectrum_true = truth_stats["spectrum"].double().mean(0).cpu().numpy()
    results["truth"] = {
        "energy": truth_stats["energy"].double().mean(0).cpu().numpy().tolist(),
        "enstrophy": truth_stats["enstrophy"].double().mean(0).cpu().numpy().tolist(),
    }
    arrays.update(wavenumber=truth_stats["wavenumber"].cpu().numpy(), spectrum_truth=spectrum_true)
    for name, (p, e) in sides.items():
        side = _side(p, truth, grid, times)
        spectrum = side.pop("_spectrum")
        per_instance = side.pop("_per_instance")
        side["band_errors_last_frame"] = band_errors(spectrum[-1], spectrum_true[-1])
        side["band_errors_mean"] = band_errors(spectrum.mean(0), spectrum_true.mean(0))
        results[name] = side
        arrays[f"spectrum_{name}"] = spectrum
        for key_ in ("rel_l2", "correlation"):
            arrays[f"{key_}_{name}"] = np.asarray(side[f"per_frame_{key_}"])
            arrays[f"instance_{key_}_{name}"] = per_instance[key_]  # (B, frames)
        if e is None:
            continue
        windows = e["eta"].shape[1]
        err_windows = np.stack(
            [
                per_instance["rel_l2"][:, j * model.t_out : (j + 1) * model.t_out].mean(1)
                for j in range(windows)
            ],
            axis=1,
        )
        side["mean_eta"] = float(e["eta"].double().mean())
        side["per_window_eta"] = e["eta"].double().mean(0).cpu().numpy().tolist()
        arrays[f"eta_{name}"] = e["eta"].double().cpu().numpy()  # (B, windows)
        arrays[f"window_error_{name}"] = err_windows
        side.update(_estimate_summary(e, p, truth, grid, model.t_out, arrays, name))
    picks = np.unique(np.linspace(0, frames - 1, SNAPSHOTS).round().astype(int))
    arrays["snapshot_frames"] = picks
    arrays["snapshot_truth"] = truth[0, picks].float().cpu().numpy()
    for name, (p, _) in sides.items():
        arrays[f"snapshot_{name}"] = p[0, picks].float().cpu().numpy()
    results["written"] = time.time()
    write_results(data.run.path / "evaluation", key, results, arrays)
    return results
