r"""Correlation time against cost over long rollouts: several surrogate runs (with and without
Spectral-Refiner) and the solver at several grids, on the same held-out trajectories.

Every method starts from the same frame: the common anchor is window frame
``A = max_r t_in^r - 1`` (run ``r`` reads the ``t_in^r`` window frames ending there), and
predicts the ``F`` window frames after it (``t_j = A + j``, ``j = 1..F``, ``Δt`` apart):

* a surrogate chains its windows (:func:`~.evaluate.rollout_estimates`, no estimate
  computed), and a refinable one (SFNO) also refines every window before the next reads it;
* the solver (RK4-CN, adaptive step at Courant ``courant``) advances the anchor frame,
  spectrally truncated or zero-padded to each grid ``r``, output at the runs' resolution.

Per method: the mean over trajectories of the vorticity correlation ``ρ_j`` against the file's
frames, the lead times ``τ_c = j Δt`` at which it first drops below ``c = 0.95`` and ``0.8``
(:func:`~.metrics.high_correlation_time`; ``None``: never within the horizon ``F Δt``), the mean
relative L2 error over the horizon, and the cost ``s`` = wall seconds per trajectory per unit
of simulated time, ``median(batch seconds) / (N F Δt)``, the methods timed interleaved
(:func:`~.compare.interleaved_timings`). The Pareto front of each ``τ_c`` against ``s`` keeps
the methods no other beats on both (time compared beyond timing noise,
:func:`~.compare.pareto_front`); :func:`rollout_verdict` says who wins in one sentence.

Results go to ``RUN_DIR/evaluation/pareto-DATAKEY-nN-iN-fF-solverGRIDS.json`` of every run.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..errors import SpectralRefinerError
from ..refine import check_refinable
from .compare import interleaved_timings, pareto_front, solver_methods
from .evaluate import rollout_estimates
from .inputs import HELD_OUT, RunData, Selection, open_run_data
from .metrics import frame_metrics, high_correlation_time
from .runs import data_key, write_results

__all__ = ["PARETO_PREFIX", "THRESHOLDS", "compare_rollouts", "rollout_front", "rollout_verdict"]

PARETO_PREFIX = "pareto-"
THRESHOLDS = (0.95, 0.8)


def _time_loss(threshold: float) -> Callable[[dict[str, Any]], float]:
    """Minus the correlation time (never dropping counts as infinitely long)."""
    return lambda p: -math.inf if p[f"t_{threshold}"] is None else -p[f"t_{threshold}"]


def rollout_front(points: list[dict[str, Any]], threshold: float) -> list[dict[str, Any]]:
    """The methods no other is both faster and longer correlated than (at ``threshold``)."""
    return pareto_front(points, _time_loss(threshold))


def _tau(p: dict[str, Any], threshold: float) -> str:
    t = p[f"t_{threshold}"]
    return "never below" if t is None else f"τ {t:.3g}"


def _labels(points: list[dict[str, Any]], threshold: float) -> str:
    """``method (τ, s)`` of each point, comma-separated."""
    return ", ".join(f"{p['method']} ({_tau(p, threshold)}, {p['seconds']:.3g} s)" for p in points)


def rollout_verdict(points: list[dict[str, Any]], threshold: float = 0.8) -> str:
    """Who wins at ``threshold``, in one sentence: the surrogates on the Pareto front of
    correlation time against cost, or the solver when only its grids are on it."""
    front = rollout_front(points, threshold)
    winners = [p for p in front if p["kind"] != "solver"]
    solvers = [p for p in front if p["kind"] == "solver"]
    lead = f"correlation time to {threshold} against cost"
    if not winners:
        return (
            f"{lead}: the solver wins, every surrogate is beaten by a solver grid both faster "
            f"and correlated at least as long (front: {_labels(front, threshold)})"
        )
    return (
        f"{lead}: {_labels(winners, threshold)} on the Pareto front"
        + (f" beside the solver ({_labels(solvers, threshold)})" if solvers else "")
        + ", beaten by no method both faster and correlated longer"
    )


def _common(datas: list[RunData]) -> tuple[float, int, list[int]]:
    """The window spacing, resolution and trajectories every run shares (else one line)."""
    first = datas[0]
    for d in datas[1:]:
        if not math.isclose(d.dt, first.dt, rel_tol=1e-6) or d.stride != first.stride:
            raise SpectralRefinerError(
                f"{d.run.path} windows frames {d.dt:g} apart, {first.run.path} {first.dt:g}: "
                "compare runs trained with the same frame spacing"
            )
        if d.trained_resolution != first.trained_resolution:
            raise SpectralRefinerError(
                f"{d.run.path} was trained at {d.trained_resolution}², {first.run.path} at "
                f"{first.trained_resolution}²: compare runs of one resolution"
            )
        if d.trajectories != first.trajectories:
            raise SpectralRefinerError(
                f"{d.run.path} and {first.run.path} may meet different trajectories of the "
                "file: use a file neither trained on, or --split test for runs of one file"
            )
    return first.dt, first.trained_resolution, first.trajectories


def _names(datas: list[RunData]) -> list[str]:
    """Each run's label: its folder name (with the parent's when two folders share a name)."""
    names = [d.run.path.name for d in datas]
    if len(set(names)) < len(names):
        names = [f"{d.run.path.parent.name}/{d.run.path.name}" for d in datas]
    return names


def compare_rollouts(
    runs: list[str | os.PathLike],
    data_file: str | os.PathLike,
    *,
    resolutions: list[int] | None = None,
    frames: int | None = None,
    limit: int = 8,
    steps: int = 100,
    repeats: int = 3,
    max_repeats: int = 10,
    courant: float = 0.5,
    refine: bool = True,
    device: str = "cpu",
    select: Selection = HELD_OUT,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the comparison of the module docstring; returns (and writes) the results.

    Parameters
    ----------
    runs : list of run directories
        Surrogates trained with the same frame spacing and resolution ``n``.
    resolutions : list of int, optional
        Solver grids (default ``n/2, n, 2n``).
    frames : int, optional
        Horizon ``F`` in window frames (default: every frame the file holds after the anchor).
    steps : int
        Refinement evaluations per window of a refinable run (with ``refine``).
    """
    if not runs:
        raise SpectralRefinerError("give at least one run to compare: --run RUN_DIR")
    datas = [open_run_data(run, data_file, select) for run in runs]
    dt, n, trajectories = _common(datas)
    anchor = max(d.model.t_in for d in datas) - 1
    available = datas[0].frames() - anchor - 1
    frames = frames or available
    if not 1 <= frames <= available:
        raise SpectralRefinerError(
            f"{data_file} holds {available} window frames after the common anchor (frame "
            f"{anchor}): use --rollout {available} or fewer"
        )
    count = min(limit, len(trajectories))
    resolutions = sorted(set(resolutions or (max(8, n // 2), n, 2 * n)))
    methods: dict[str, Callable[[], torch.Tensor]] = {}
    kinds: dict[str, str] = {}
    for name, d in zip(_names(datas), datas, strict=True):
        residual = d.residual(n, device)
        model = d.model.to(residual.equation.grid.device)
        w_in = d.inputs(anchor - model.t_in + 1)[:count].to(residual.equation.grid.device)
        options = [(f"{name}", False)]
        if refine and model.refinable:
            check_refinable(model, str(d.run.path))
            options.append((f"{name} + refinement", True))
        for label, refined in options:
            methods[label] = lambda m=model, w=w_in, r=residual, f=refined: rollout_estimates(
                m, w, frames, r, refine=f, steps=steps, estimates=False
            )[0]
            kinds[label] = "refined" if refined else "surrogate"
    first = datas[0]
    times = [dt * (j + 1) for j in range(frames)]
    start = first.window(anchor, 1, n)[:count, 0]
    solvers = solver_methods(first, start, resolutions, times, courant=courant, device=device)
    methods.update(solvers)
    kinds.update(dict.fromkeys(solvers, "solver"))
    grid = first.equation(n, device).grid
    truth = first.window(anchor + 1, frames, n)[:count].to(grid.device)
    timings, outputs = interleaved_timings(
        methods, repeats, max(repeats, max_repeats), progress=progress
    )
    horizon = frames * dt
    lead = np.asarray(times)
    points = []
    for name in methods:
        metrics = frame_metrics(outputs[name].to(truth), truth, grid)
        corr = metrics["correlation"].double().mean(0).cpu().numpy()
        rel = metrics["rel_l2"].double().mean().item()
        point: dict[str, Any] = {"method": name, "kind": kinds[name]}
        for c in THRESHOLDS:
            t = high_correlation_time(corr, lead, c)
            point[f"t_{c}"] = None if math.isinf(t) else t
        per_unit = [t / count / horizon for t in timings[name]]
        point.update(
            seconds=statistics.median(per_unit),
            timings=per_unit,
            rel_l2=rel if math.isfinite(rel) else None,
            correlation=corr.tolist(),
        )
        points.append(point)
    dkey = data_key(data_file, first.flow.fingerprint)
    grids = "-".join(str(r) for r in resolutions)
    key = f"{PARETO_PREFIX}{dkey}-n{n}-i{count}-f{frames}-solver{grids}"
    results: dict[str, Any] = {
        "key": key,
        "runs": [str(d.run.path) for d in datas],
        "data": str(data_file),
        "data_key": dkey,
        "resolution": n,
        "instances": count,
        "trajectories": trajectories[:count],
        "anchor_time": float(first.flow.times[0] + anchor * dt),
        "frames": frames,
        "window_dt": dt,
        "horizon": horizon,
        "lead_times": times,
        "device": device,
        "threads": torch.get_num_threads(),
        "courant": courant,
        "refine_steps": steps if refine else None,
        "rounds": max(len(t) for t in timings.values()),
        "points": points,
        "front": {str(c): [p["method"] for p in rollout_front(points, c)] for c in THRESHOLDS},
        "verdict": [rollout_verdict(points, c) for c in THRESHOLDS],
        "written": time.time(),
    }
    for d in datas:
        write_results(d.run.path / "evaluation", key, results)
    return results
