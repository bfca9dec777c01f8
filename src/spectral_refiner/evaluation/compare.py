"""Cost against accuracy: the surrogate (with and without refinement) against this project's
own best solver on the same trajectories, the same device and the same horizon.

From the last input frame of each test trajectory as the surrogate sees it (at the training
resolution: both sides start from the same information), the solver (RK4-CN, adaptive time
step at Courant number ``courant``) is run at several resolutions — the frame spectrally
truncated or zero-padded to each — for the ``frames`` window frames the surrogate predicts;
every output is compared with the file's frames at the training resolution. Each method is
timed on the whole batch, the methods interleaved (every method once per round, in rotating
order) and repeated — after the first rounds, only the methods not yet apart in time from all
others (every round of one faster than every round of the other) — until all are apart or the
cap on rounds is reached; the median seconds per trajectory
are reported. A method is *dominated* when another is both at least as fast (faster, or tied
within timing noise) and more accurate; the undominated ones form the Pareto front, and the
verdict names which method wins at which accuracy and which methods are tied within noise, so
that a rerun on a busier machine does not reverse it.

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
from tqdm.auto import tqdm

from ..errors import SpectralRefinerError
from ..metrics import relative_error
from ..physics import resample, simulate
from ..refine import refine
from .inputs import HELD_OUT, RunData, Selection, open_run_data
from .runs import comparison_key, data_key, write_results

__all__ = [
    "compare_solver",
    "faster",
    "interleaved_timings",
    "pareto_front",
    "solver_methods",
    "tied",
    "verdict",
]


def _spread(p: dict[str, Any]) -> tuple[float, float]:
    """The range of ``p``'s timing rounds (``seconds`` alone when it has none)."""
    times = p.get("timings") or [p["seconds"]]
    return min(times), max(times)


def faster(q: dict[str, Any], p: dict[str, Any]) -> bool:
    """``q`` is faster than ``p`` beyond timing noise: every round of ``q`` beat every round of
    ``p`` (their ranges of rounds are disjoint)."""
    return _spread(q)[1] < _spread(p)[0]


def tied(q: dict[str, Any], p: dict[str, Any]) -> bool:
    """Neither of ``q`` and ``p`` is :func:`faster` than the other: same time within noise."""
    return not faster(q, p) and not faster(p, q)


def _rel_l2(p: dict[str, Any]) -> float:
    return p["rel_l2"]


def _beats(
    q: dict[str, Any], p: dict[str, Any], loss: Callable[[dict[str, Any]], float] = _rel_l2
) -> bool:
    """``q`` dominates ``p``: at least as fast (faster or tied) and at least as accurate (a
    ``loss`` as low), and strictly better on one of the two."""
    if q is p or loss(q) > loss(p):
        return False
    return faster(q, p) or (tied(q, p) and loss(q) < loss(p))


def pareto_front(
    points: list[dict[str, Any]], loss: Callable[[dict[str, Any]], float] = _rel_l2
) -> list[dict[str, Any]]:
    """The points no other point beats on both time and ``loss`` (lower is better; default
    ``rel_l2``), sorted by time.

    Time is compared beyond noise (:func:`faster`, :func:`tied`): a method dominates another
    that it ties in time and beats in accuracy.
    """
    front = (p for p in points if not any(_beats(q, p, loss) for q in points))
    return sorted(front, key=lambda p: p["seconds"])


def verdict(points: list[dict[str, Any]], rounds: int | None = None) -> list[str]:
    """Plain sentences: who wins at which accuracy, which methods are dominated, and which
    take the same time within timing noise (after ``rounds`` interleaved rounds)."""
    front = pareto_front(points)
    lines = []
    for i, p in enumerate(front):
        worse = front[i - 1]["rel_l2"] if i else None
        span = f"errors from {p['rel_l2']:.3g}" + (f" up to {worse:.3g}" if worse else " up")
        lines.append(f"{p['method']} is the fastest at {span} ({p['seconds']:.3g} s/trajectory)")
    for p in points:
        if p not in front:
            better = min((q for q in points if _beats(q, p)), key=lambda q: q["rel_l2"])
            speed = (
                f"as fast within timing noise ({better['seconds']:.3g} vs {p['seconds']:.3g} s)"
                if tied(better, p)
                else f"faster ({better['seconds']:.3g} vs {p['seconds']:.3g} s)"
            )
            lines.append(
                f"{p['method']} is dominated: {better['method']} is {speed} and more accurate "
                f"({better['rel_l2']:.3g} vs {p['rel_l2']:.3g})"
            )
    ties = [
        f"{p['method']} and {q['method']}"
        for i, p in enumerate(points)
        for q in points[i + 1 :]
        if tied(p, q)
    ]
    if rounds is not None:
        lines.append(
            f"timing: up to {rounds} interleaved rounds; "
            + (
                "tied within timing noise: " + "; ".join(ties)
                if ties
                else "every method's rounds are apart from every other's"
            )
        )
    return lines


def _unresolved(timings: dict[str, list[float]]) -> list[str]:
    """The methods whose range of rounds overlaps another method's (in the given order)."""
    spread = {name: (min(t), max(t)) for name, t in timings.items()}
    return [
        name
        for name, (low, high) in spread.items()
        if any(o != name and low <= b and a <= high for o, (a, b) in spread.items())
    ]


def interleaved_timings(
    methods: dict[str, Callable[[], torch.Tensor]],
    min_rounds: int = 3,
    max_rounds: int = 10,
    progress: bool = False,
) -> tuple[dict[str, list[float]], dict[str, torch.Tensor]]:
    """Wall times of ``methods``, interleaved: every method once per round, in rotating order.

    After ``min_rounds`` rounds, further rounds (up to ``max_rounds``) run only the methods
    not yet apart from every other (a range of rounds overlapping another's), until none is
    left; those still overlapping at the cap are tied within noise (:func:`tied`). A slow
    method that is clearly apart is thus not rerun to separate two fast ones. Returns the
    times per method and each method's last output; ``progress`` shows a bar of method runs.
    """
    names = list(methods)
    timings: dict[str, list[float]] = {name: [] for name in names}
    outputs: dict[str, torch.Tensor] = {}
    bar = tqdm(total=len(names) * min_rounds, desc="timing", unit="run", disable=not progress)
    for r in range(max(1, max_rounds)):
        todo = names if r < min_rounds else _unresolved(timings)
        if not todo:
            break
        if r >= min_rounds:
            bar.total += len(todo)
        bar.set_description(f"timing round {r + 1}")
        for name in todo[r % len(todo) :] + todo[: r % len(todo)]:
            start = time.perf_counter()
            outputs[name] = methods[name]()
            timings[name].append(time.perf_counter() - start)
            bar.update()
    bar.close()
    return timings, outputs


def solver_methods(
    data: RunData,
    start: torch.Tensor,
    resolutions: list[int],
    times: list[float],
    *,
    courant: float = 0.5,
    device: str = "cpu",
) -> dict[str, Callable[[], torch.Tensor]]:
    """``solver r²`` for each grid ``r``: a call that advances ``start`` (``(N, n, n)`` at the
    run's resolution ``n``, spectrally truncated or zero-padded to ``r``) with the run's
    equation to ``times`` after it (adaptive step at Courant ``courant``), ``(N, T, n, n)``."""
    n = data.trained_resolution
    methods: dict[str, Callable[[], torch.Tensor]] = {}
    for r in resolutions:
        eq_r = data.equation(r, device)
        w0 = resample(start.to(eq_r.grid.dtype), r).to(eq_r.grid.device)

        def solve(eq_r=eq_r, w0=w0) -> torch.Tensor:
            with torch.no_grad():
                return simulate(eq_r, w0, times, courant=courant, resolution=n)

        methods[f"solver {r}²"] = solve
    return methods


def compare_solver(
    run_dir: str | os.PathLike,
    data_file: str | os.PathLike,
    *,
    resolutions: list[int] | None = None,
    limit: int = 8,
    steps: int = 100,
    repeats: int = 3,
    max_repeats: int = 10,
    courant: float = 0.5,
    device: str = "cpu",
    select: Selection = HELD_OUT,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the comparison of the module docstring; returns (and writes) the results.
    ``select``: which trajectories, and what the run may meet (:class:`~.inputs.Selection`);
    ``progress`` shows a bar of timed method runs."""
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

    methods = solver_methods(data, anchor, resolutions, times, courant=courant, device=device)

    def surrogate() -> torch.Tensor:
        with torch.no_grad():
            return model(w_in)

    methods[f"{model.name} {n}²"] = surrogate
    if model.refinable:
        methods[f"{model.name} + refinement {n}²"] = lambda: (
            refine(model, w_in, residual, max_evals=steps).prediction
        )
    timings, outputs = interleaved_timings(
        methods, repeats, max(repeats, max_repeats), progress=progress
    )
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
        "rounds": max(len(t) for t in timings.values()),
        "verdict": verdict(points, max(len(t) for t in timings.values())),
    }
    results["written"] = time.time()
    write_results(data.run.path / "evaluation", key, results)
    return results
