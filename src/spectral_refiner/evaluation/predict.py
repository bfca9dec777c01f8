"""Predictions for every trajectory of a file, each with its estimate η, optionally refined.

For each trajectory of the input file, the window of ``t_in`` frames starting at window frame
``start`` (every ``frame_stride``-th stored frame, as in training) goes through the run's model;
with ``refine`` an SFNO's prediction is then refined without labels
(:func:`~spectral_refiner.refine.refine`). Inputs are first brought to the resolution the
model was trained at (spectral resampling), and the prediction is made on the output grid
``resolution`` (default: the training one; a finer one is zero-shot super-resolution, the
inputs spectrally up-sampled). Every prediction carries its estimate η
(:func:`~spectral_refiner.physics.prediction_estimate`); when the file also holds the frames
that follow the window at a resolution at least the output's, the true relative L2, H1 and
H^-1 errors too.

The output is a dataset file of the same schema: the predicted frames as
``t0_fields/vorticity`` ``(trajectories, t_out, n, n)`` with their times, and per trajectory
in ``estimates/``: ``eta``, ``floor``, ``estimate`` and ``error_estimate`` (the honest
estimate, :mod:`spectral_refiner.physics.error_estimate`, whose docstring defines each
column; a refined ``error_estimate`` is
:func:`~spectral_refiner.physics.refined_error` of the unrefined and refined estimates and
the distance refinement moved the prediction; with
refinement also their ``_unrefined`` values), ``rel_l2``/``rel_h1``/``rel_h-1``
(and the ``_unrefined`` ones) when the truth is known. With a use-time ``closure`` (a spec,
see :class:`~.inputs.Selection`) the residual of every estimate and of the refiner has it.
Work is saved (:class:`~spectral_refiner.data.Parts`) one trajectory per piece, keyed by its
index, so an interrupted run resumes with any batch size, and the file appears only when
complete.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import __version__
from ..atomic import check_writable
from ..data import (
    Parts,
    parse_dtype,
    read_estimates,
    read_info,
    write_dataset,
)
from ..errors import SpectralRefinerError
from ..metrics import ORDERS, relative_error
from ..physics import honest_estimate, refined_estimate, resample
from ..refine import check_refinable
from ..refine import refine as refine_batch
from .inputs import HELD_OUT, Selection, open_run_data

__all__ = ["predict_file"]


def _fingerprint(*items: Any) -> str:
    return hashlib.sha256(json.dumps(items, sort_keys=True, default=str).encode()).hexdigest()[:16]


def predict_file(
    run_dir: str | os.PathLike,
    input_file: str | os.PathLike,
    out: str | os.PathLike,
    *,
    refine: bool = False,
    resolution: int | None = None,
    start: int = 0,
    steps: int = 100,
    tol: float = 0.0,
    batch: int = 8,
    device: str = "cpu",
    dtype: str = "float32",
    overwrite: bool = False,
    progress: bool = True,
    select: Selection = HELD_OUT,
) -> dict[str, Any]:
    """Predict (and with ``refine``, refine) every trajectory of ``input_file`` (or of its
    ``select``-ed split, see :class:`~.inputs.Selection`) into ``out``; the output records the keys
    of the trajectories it predicts.

    Returns the summary: counts, resolution, seconds per instance, and the median and mean
    of η and of each true error before and after refinement, the fraction of instances the
    refinement improved (true relative L2) and the median improvement factor.
    """
    out = check_writable(out, reads=(input_file,))
    if batch < 1:
        raise SpectralRefinerError(f"--batch must be >= 1, got {batch}")
    data = open_run_data(run_dir, input_file, select)
    run, model, flow = data.run, data.model, data.flow
    if refine:
        check_refinable(model, str(run.path))
    t_in, t_out = model.t_in, model.t_out
    if start < 0 or start + t_in > data.frames():
        raise SpectralRefinerError(
            f"inputs of {t_in} window frames from frame {start} need {start + t_in} frames, "
            f"{input_file} holds {data.frames()} (at stride {data.stride}): lower --start or "
            "use longer trajectories"
        )
    n = data.trained_resolution if resolution is None else resolution
    if n < 4 or n % 2:
        raise SpectralRefinerError(f"--resolution must be an even integer >= 4, got {n}")
    torch_dtype = parse_dtype(dtype)
    residual = data.residual(n, device, torch_dtype)
    equation, dt = residual.equation, residual.dt
    count = flow.frames.shape[0]
    if count == 0:
        raise SpectralRefinerError(f"{input_file} holds no trajectories: nothing to predict")
    # The identity of the result: every input of it, and not the batch size (instances are
    # independent of their batch), so a rerun with another --batch continues the same job.
    checkpoint = run.checkpoint_path()
    source = read_info(input_file).attrs.get("fingerprint") or str(Path(input_file).resolve())
    identity = (str(checkpoint.resolve()), checkpoint.stat().st_mtime_ns, source, data.trajectories)
    settings = (refine, n, start, steps if refine else 0, tol if refine else 0.0, dtype)
    if select.closure is not None:  # without one, the identity of every older job is kept
        settings = (*settings, select.closure)
    parts = Parts(out, _fingerprint(*identity, *settings, equation.grid.device.type, __version__))
    if out.exists():
        if parts.finished():  # a rerun of a finished job (or one killed after its rename)
            return _summary_of_file(out, refine, n, data.trained_resolution)
        if not overwrite:
            raise SpectralRefinerError(f"{out} exists: choose another --out or pass --overwrite")
    parts.check(overwrite, marker="prediction_of")
    has_truth = data.has_truth(start, t_in + t_out, n)
    model.to(device=equation.grid.device, dtype=torch_dtype)
    inputs = data.inputs(start, dtype=torch_dtype)
    truths = data.window(start + t_in, t_out, n, torch_dtype) if has_truth else None

    parts.open({"run": str(run.path), "input": str(input_file)})
    todo = [i for i in range(count) if not parts.has(i)]
    bar = tqdm(
        total=count,
        initial=count - len(todo),
        unit="traj",
        desc="refine" if refine else "predict",
        disable=not progress,
        dynamic_ncols=True,
    )
    with parts.guard(), bar:
        for first in range(0, len(todo), batch):
            chunk = todo[first : first + batch]
            t0 = time.perf_counter()
            w_in = inputs[chunk].to(equation.grid.device)
            truth = truths[chunk].to(equation.grid.device) if has_truth else None
            pieces = _predict_chunk(model, w_in, truth, residual, refine, steps, tol)
            seconds = (time.perf_counter() - t0) / len(chunk)
            for j, i in enumerate(chunk):  # one piece per trajectory, keyed by its index
                parts.save(i, seconds=np.array(seconds), **{k: v[j] for k, v in pieces.items()})
            bar.update(len(chunk))

    loaded = [parts.load(i) for i in range(count)]
    fields = {k: np.stack([p[k] for p in loaded]) for k in loaded[0] if k != "seconds"}
    seconds = float(sum(p["seconds"] for p in loaded))
    prediction = fields.pop("prediction")
    t_last = flow.times[(start + t_in - 1) * data.stride]
    times = t_last + dt * np.arange(1, t_out + 1)
    preset = {**flow.preset.fields(), "resolution": n}
    problem = dataclasses.replace(data.problem, resolution=n, t_in=None, t_out=None, stride=None)
    write_dataset(
        out,
        prediction,
        times,
        preset,
        {
            "prediction_of": str(input_file),
            "run": str(run.path),
            "model": model.name,
            "refined": bool(refine),
            "refine_steps": steps if refine else 0,
            "input_start_frame": start,
            "package_version": __version__,
            "fingerprint": parts.fingerprint,
            "seconds": seconds,
        },
        estimates=fields,
        keys=flow.keys,
        problem=problem,
    )
    parts.remove()
    return _summary(fields, refine, has_truth, n, data.trained_resolution, seconds, count, out)


def _summary_of_file(out: Path, refine: bool, n: int, n_train: int) -> dict[str, Any]:
    """The summary of a finished prediction file (a rerun of the job that wrote it)."""
    fields = read_estimates(out)
    info = read_info(out)
    has_truth = "rel_l2" in fields
    seconds = float(info.attrs.get("seconds", 0.0))
    return _summary(fields, refine, has_truth, n, n_train, seconds, info.n_trajectories, out)


@torch.no_grad()
def _predict_chunk(
    model, w_in, truth, residual, refine: bool, steps: int, tol: float
) -> dict[str, np.ndarray]:
    """Prediction(s), the estimate's columns and true errors of one chunk, as numpy arrays."""
    grid = residual.grid
    w_up = resample(w_in, grid.n)
    if refine:
        with torch.enable_grad():
            result = refine_batch(model, w_in, residual, max_evals=steps, tol=tol)
        final, initial = result.prediction, result.initial
        values = {"eta": result.eta_after, "eta_unrefined": result.eta_before}
        before = honest_estimate(residual, w_up, initial)
        for key, value in before.items():
            if key != "floor":  # the inputs' own, the same before and after
                values.setdefault(f"{key}_unrefined", value)
        after = refined_estimate(residual, w_up, final, before, initial)
    else:
        final = initial = model(w_up)
        values = {"eta": residual.of_prediction(w_up, final)}
        after = honest_estimate(residual, w_up, final)
    for key, value in after.items():
        values.setdefault(key, value)
    if truth is not None:
        for name, s in ORDERS.items():
            values[name] = relative_error(final, truth, grid, s)
            if refine:
                values[f"{name}_unrefined"] = relative_error(initial, truth, grid, s)
    arrays = {k: v.double().cpu().numpy() for k, v in values.items()}
    arrays["prediction"] = final.float().cpu().numpy()
    return arrays


def _summary(
    fields: dict[str, np.ndarray],
    refine: bool,
    has_truth: bool,
    n: int,
    n_train: int,
    seconds: float,
    count: int,
    out: Path,
) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "file": str(out),
        "instances": count,
        "resolution": n,
        "trained_resolution": n_train,
        "refined": refine,
        "seconds_per_instance": seconds / max(count, 1),
    }
    for key, values in fields.items():
        summary[f"median_{key}"] = float(np.median(values))
        summary[f"mean_{key}"] = float(np.mean(values))
    if refine and has_truth:
        after, before = fields["rel_l2"], fields["rel_l2_unrefined"]
        summary["improved_fraction"] = float(np.mean(after < before))
        summary["median_improvement"] = float(np.median(before / after))
    return summary
