"""Cost against accuracy: the surrogate (with and without refinement) against this project's
own best solver on the same trajectories, the same device and the same horizon.

From the last input frame of each test trajectory as the surrogate sees it (at the training
resolution: both sides start from the same information), the solver (RK4-CN, adaptive time
step at Courant number ``courant``) is run at several resolutions — the frame spectrally
truncated or zero-padded to each — for the ``frames`` window frames the surrogate predicts;
every output is compared with the file's frames at the training resolution. Each method is
timed on the whole batch, the methods interleaved and repeated, and the median seconds per
trajectory reported. A method is *dominated* when another is both faster and more accurate;
the undominated ones form the Pareto front, and the verdict names which method wins at
which accuracy.

Results go to ``RUN_DIR/evaluation/compare-DATAKEY-nRESOLUTION-iINSTANCES-solverGRIDS.json``
(:func:`~spectral_refiner.evaluation.runs.comparison_key`).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..errors import SpectralRefinerError
from ..metrics import relative_error
from ..physics import resample, simulate
from ..refine import refine
from .inputs import HELD_OUT, Selection, open_run_data
from .runs import comparison_key, data_key, write_results

__all__ = ["compare_solver", "pareto_front", "verdict"]


def pareto_front(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The points no other point beats on both ``seconds`` and ``rel_l2`` (sorted by time)."""

    def dominated(p: dict[str, Any]) -> bool:
        return any(
            q["seconds"] <= p["seconds"]
            and q["rel_l2"] <= p["rel_l2"]
            and q is not p
            and (q["seconds"] < p["seconds"] or q["rel_l2"] < p["rel_l2"])
            for q in points
        )

    return sorted((p for p in points if not dominated(p)), key=lambda p: p["seconds"])


def verdict(points: list[dict[str, Any]]) -> list[str]:
    """Plain sentences: who wins at which accuracy, and which methods are dominated."""
    front = pareto_front(points)
    lines = []
    for i, p in enumerate(front):
        worse = front[i - 1]["rel_l2"] if i else None
        span = f"errors from {p['rel_l2']:.3g}" + (f" up to {worse:.3g}" if worse else " up")
        lines.append(f"{p['method']} is the fastest at {span} ({p['seconds']:.3g} s/trajectory)")
    for p in points:
        if p not in front:
            better = min(
                (
                    q
                    for q in points
                    if q["seconds"] <= p["seconds"] and q["rel_l2"] <= p["rel_l2"] and q is not p
                ),
                key=lambda q: q["rel_l2"],
            )
            lines.append(
                f"{p['method']} is dominated: {better['method']} is faster "
                f"({better['seconds']:.3g} vs {p['seconds']:.3g} s) and more accurate "
                f"({better['rel_l2']:.3g} vs {p['rel_l2']:.3g})"
            )
    return lines


def _timed(run: Callable[[], torch.Tensor], repeats: int) -> tuple[list[float], torch.Tensor]:
    """Wall times of ``repeats`` calls (the last result returned)."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    return times, out


def compare_solver(
    run_dir: str | os.PathLike,
    data_file: str | os.PathLike,
    *,
    resolutions: list[int] | None = None,
    limit: int = 8,
    steps: int = 100,
    repeats: int = 3,
    courant: float = 0.5,
    device: str = "cpu",
    select: Selection = HELD_OUT,
) -> dict[str, Any]:
    """Run the comparison of the module docstring; returns (and writes) the results.
    ``select``: which trajectories, and what the run may meet (:class:`~.inputs.Selection`)."""
    data = open_run_data(run_dir, data_file, select)
    model, dt = data.model, data.dt
    t_in, frames = model.t_in, model.t_out
    n = data.trained_resolution
    if not data.has_truth(0, t_in + frames, n):
        raise SpectralRefinerError(
            f"{data_file} does not hold the {frames} frames after the inputs at resolution "
            f">= {n}: the comparison needs reference trajectories"
        )
    resolutions = sorted(set(resolutions or (max(8, n // 2), n, 2 * n)))
    count = min(limit, data.flow.frames.shape[0])
    residual = data.residual(n, device)
    equation = residual.equation
    model.to(equation.grid.device)
    w_in = data.inputs(0)[:count].to(equation.grid.device)
    truth = data.window(t_in, frames, n)[:count].to(equation.grid.device)
    anchor = w_in[:, -1]  # the frame the surrogate starts from, at the training resolution
    times = [dt * (j + 1) for j in range(frames)]

    methods: dict[str, Callable[[], torch.Tensor]] = {}
    for r in resolutions:
        eq_r = data.equation(r, device)
        w0 = resample(anchor.to(eq_r.grid.dtype), r).to(eq_r.grid.device)

        def solve(eq_r=eq_r, w0=w0) -> torch.Tensor:
            with torch.no_grad():
                return simulate(eq_r, w0, times, courant=courant, resolution=n)

        methods[f"solver {r}²"] = solve

    def surrogate() -> torch.Tensor:
        with torch.no_grad():
            return model(w_in)

    methods[f"{model.name} {n}²"] = surrogate
    if model.refinable:
        methods[f"{model.name} + refinement {n}²"] = lambda: (
            refine(model, w_in, residual, max_evals=steps).prediction
        )
    timings: dict[str, list[float]] = {name: [] for name in methods}
    outputs: dict[str, torch.Tensor] = {}
    for _ in range(repeats):  # interleaved: every method once per round
        for name, run in methods.items():
            seconds, outputs[name] = _timed(run, 1)
            timings[name] += seconds
    points = []
    for name in methods:
        err = relative_error(outputs[name], truth, equation.grid).double().cpu().numpy()
        points.append(
            {
                "method": name,
                "seconds": statistics.median(timings[name]) / count,
                "rel_l2": float(np.median(err)),
                "rel_l2_mean": float(np.mean(err)),
                "timings": [t / count for t in timings[name]],
            }
        )
    dkey = data_key(data_file, data.flow.fingerprint)
    subset = f"{dkey}-{select.split}" if select.split else dkey  # the held-out split only
    key = comparison_key(subset, resolution=n, instances=count, solvers=resolutions)
    results = {
        "key": key,
        "run": str(data.run.path),
        "model": model.name,
        "data": str(data_file),
        "data_key": dkey,
        "resolution": n,
        "instances": count,
        "trajectories": data.trajectories[:count],
        "frames": frames,
        "horizon": frames * dt,
        "device": str(equation.grid.device),
        "threads": torch.get_num_threads(),
        "courant": courant,
        "points": points,
        "front": [p["method"] for p in pareto_front(points)],
        "verdict": verdict(points),
    }
    results["written"] = time.time()
    write_results(data.run.path / "evaluation", key, results)
    return results
