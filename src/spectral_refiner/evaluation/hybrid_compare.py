r"""The hybrid comparison: hybrids at ``n`` against the plain solver at ``n, 2n, 4n`` and the
tuned classical closures at ``n``, all from the same coarse frame of held-out trajectories.

From the first window frame ``ω*_0`` of each test trajectory at the hybrids' resolution ``n``
(the truncated DNS), every method advances ``F`` frames ``Δt_f`` apart (the window spacing):

* the plain solver at ``r = m n`` (``m`` in ``multiples``, default 1, 2, 4) on the ``r``² grid
  with the 2/3 rule, the frame zero-padded to it; and where that rule drops modes the stored
  ``n``² frame holds (``r // 3 < n // 2``: at ``r = n``), also on a ``3r/2``² grid, which keeps
  every mode the ``r``² grid stores (``|m| <= r/2``) under its 2/3 rule. At ``r >= 2n`` the 2/3
  rule already keeps every mode of the frame and every mode compared, so the second variant
  would only cost more (the verdict takes the stronger variant, :mod:`.hybrid_verdict`);
* each classical closure at ``n`` (Smagorinsky and Leith with the coefficient tuned on the
  training data, :mod:`.closure_tuning`; dynamic Smagorinsky, which has none);
* each hybrid run's corrected solver at ``n`` (on its solver's grid, ``3n/2`` for the
  ``all-modes`` base, the frames truncated to ``n``).

Every method takes fixed steps, the hybrid's ``s`` steps of ``Δt`` per frame on the ``n``²
grid and ``⌈s g/n⌉`` steps per frame on a ``g``² grid (the same Courant number), through the
hybrid's driver :func:`~spectral_refiner.hybrid.rollout` one frame at a time (its blow-up guard:
a method that blows up is recorded with the time, its later frames count as lost). Outputs are
truncated to ``n`` and compared with the truncated DNS: per frame the relative L2 error
(median over trajectories) and the vorticity correlation (mean), the first times the mean
correlation drops below 0.95 and 0.8, and at the last frame the energy-spectrum error per
octave band up to the ``n``² grid's 2/3 band (mean spectra over trajectories). Wall time per
unit of simulated time per trajectory: the methods advance ``timing_frames`` frames in
interleaved rounds (:func:`~.compare.interleaved_timings`), medians. Who wins:
:mod:`.hybrid_verdict`.

Results go to ``RUN_DIR/evaluation/hybrid-compare-DATAKEY-nN-iINSTANCES-fFRAMES.json`` of every
hybrid run compared.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data import read_flow
from ..errors import SpectralRefinerError
from ..hybrid import HybridModel, rollout
from ..physics import SpectralGrid, energy_spectrum, resample
from ..problem import Problem, check_compatible
from .closure_tuning import TUNABLE, FixedStep, tune_closure
from .compare import interleaved_timings
from .hybrid_verdict import baselines, hybrid_verdict, target_ratios
from .inputs import HELD_OUT, RunData, Selection, open_run_data
from .metrics import band_errors, frame_metrics, high_correlation_time
from .runs import data_key, write_results

__all__ = [
    "CLOSURE_NAMES",
    "HYBRID_PREFIX",
    "compare_hybrid",
    "read_hybrid_comparisons",
    "trajectory_metrics",
]

HYBRID_PREFIX = "hybrid-compare-"
#: The classical closures compared by default.
CLOSURE_NAMES = ("smagorinsky", "leith", "dynamic-smagorinsky")


@dataclasses.dataclass
class _Method:
    """A way to advance coarse frames: ``advance(w, frames)`` on its own grid ``grid_n``."""

    name: str
    kind: str  # solver, closure or hybrid
    resolution: int  # the resolution it stands for (the solver's r; n otherwise)
    grid_n: int
    step: Any  # an object for rollout: FixedStep or a hybrid
    steps_per_frame: int
    dt: float

    def advance(self, w: torch.Tensor, frames: int, first: int = 0) -> torch.Tensor:
        """``frames`` frames ``(B, frames, g, g)`` after ``w`` ``(B, g, g)``, the ``first``-th
        frame of the rollout (a hybrid's correction cadence keeps its phase)."""
        return rollout(self.step, w, frames, self.steps_per_frame, self.dt, first_frame=first)


def _steps(spf: int, dt: float, n: int, g: int) -> tuple[int, float]:
    """Steps per frame and step size on a ``g``² grid at the Courant number of ``(spf, dt)``
    on ``n``² (the very ``dt`` when the count is unchanged)."""
    steps = math.ceil(spf * g / n - 1e-9)
    return (spf, dt) if steps == spf else (steps, dt * spf / steps)


def _methods(
    problem: Problem,
    hybrids: list[tuple[str, HybridModel]],
    multiples: list[int],
    closures: dict[str, dict[str, Any]],
    device: str,
) -> list[_Method]:
    n = problem.resolution
    spf, dt = hybrids[0][1].steps_per_frame, hybrids[0][1].dt
    out = []
    for m in multiples:
        r = m * n
        variants = [("2/3 rule", r)]
        if r // 3 < n // 2:
            variants.append((f"all modes, {3 * r // 2}² grid", 3 * r // 2))
        for label, g in variants:
            s, d = _steps(spf, dt, n, g)
            eq = problem.equation(g, device)
            out.append(_Method(f"solver {r}² ({label})", "solver", r, g, FixedStep(eq), s, d))
    for name, spec in closures.items():
        eq = dataclasses.replace(problem, closure=spec).equation(n, device)
        coefficient = f" C={spec['coefficient']:.3g}" if "coefficient" in spec else ""
        out.append(_Method(f"{name}{coefficient} {n}²", "closure", n, n, FixedStep(eq), spf, dt))
    for label, model in hybrids:
        g = model.hybrid.grid.n  # n, or 3n/2 for a hybrid on the all-modes base
        out.append(_Method(label, "hybrid", n, g, model.hybrid, model.steps_per_frame, model.dt))
    return out


def _run(
    method: _Method,
    w0: torch.Tensor,
    frames: int,
    n: int,
    tick: Callable[[], object] = lambda: None,
) -> tuple[torch.Tensor, int]:
    """The method's frames at ``n`` ``(B, frames, n, n)`` (NaN after a blow-up) and the
    number of frames it reached; ``tick()`` after each frame (a progress bar's)."""
    w = resample(w0, method.grid_n)
    out = torch.full((w0.shape[0], frames, n, n), math.nan, dtype=w0.dtype, device=w0.device)
    with torch.no_grad():
        for k in range(frames):
            try:
                w = method.advance(w, 1, first=k)[:, 0]
            except SpectralRefinerError:
                return out, k
            out[:, k] = resample(w.to(w0.dtype), n)
            tick()
    return out, frames


def trajectory_metrics(
    pred: torch.Tensor, truth: torch.Tensor, times: np.ndarray, grid: SpectralGrid
) -> dict[str, Any]:
    """Metrics of frames ``pred`` against ``truth`` ``(B, T, n, n)`` at ``times`` ``(T,)``:
    relative L2 error per frame (median over trajectories) and its mean over frames
    (``rel_l2``, median over trajectories), the mean vorticity correlation per frame (and at
    the last, ``correlation_final``: the measure left when no method drops below 0.95), the
    first times it drops below 0.95 and 0.8 (``None``: not within ``times``), and the
    energy-spectrum error per octave band at the last frame up to the 2/3 band, of the mean
    spectra. NaN frames (after a blow-up) count as uncorrelated and infinitely wrong."""
    metrics = frame_metrics(pred, truth, grid)
    err = metrics["rel_l2"].double().cpu().numpy()
    corr = metrics["correlation"].double().cpu().numpy().mean(axis=0)
    corr = np.where(np.isfinite(corr), corr, -1.0)  # a lost frame is uncorrelated
    shells = truth.shape[-1] // 3 + 1  # the 2/3 band of the n² grid
    last_p = energy_spectrum(pred[:, -1], grid)[1].double().cpu().numpy().mean(axis=0)
    last_t = energy_spectrum(truth[:, -1], grid)[1].double().cpu().numpy().mean(axis=0)
    out: dict[str, Any] = {
        "rel_l2": float(np.median(np.where(np.isfinite(err), err, np.inf).mean(axis=1))),
        "rel_l2_final": float(np.median(np.where(np.isfinite(err[:, -1]), err[:, -1], np.inf))),
        "per_frame_rel_l2": np.median(err, axis=0).tolist(),
        "per_frame_correlation": corr.tolist(),
        "correlation_final": float(corr[-1]),
        "band_errors": band_errors(last_p[:shells], last_t[:shells]),
    }
    for threshold in (0.95, 0.8):
        t = high_correlation_time(corr, times, threshold)
        out[f"t_{threshold}"] = None if math.isinf(t) else t
    return out


def _tuning_frames(
    run: RunData, tune_file: str | os.PathLike, frames: int, starts: int, limit: int
) -> torch.Tensor:
    """Training windows ``(B, frames + 1, n, n)`` for tuning: from the run's training
    trajectories of ``tune_file`` (all of it if it is another file), never a test trajectory
    of the comparison (by key)."""
    flow = read_flow(tune_file)
    check_compatible(flow.problem, run.problem, source=str(tune_file))
    record = run.run.read_split()
    chosen = (
        list(record.get("train", []))
        if flow.fingerprint and record.get("fingerprint") == flow.fingerprint
        else list(range(flow.frames.shape[0]))
    )[:limit]
    test_keys = {tuple(k) for k in run.keys or []}
    if flow.keys is not None and any(tuple(flow.keys[i]) in test_keys for i in chosen):
        raise SpectralRefinerError(
            f"{tune_file} holds test trajectories of the comparison: tune on the training "
            "file (--tune-data), never on the test data"
        )
    if not chosen:
        raise SpectralRefinerError(
            f"{tune_file} holds no training trajectory of {run.run.path}: give --tune-data "
            "a training file of the same problem"
        )
    stride = run.stride
    total = (flow.frames.shape[1] - 1) // stride + 1
    if total < frames + 1:
        raise SpectralRefinerError(
            f"{tune_file} holds {total} window frames per trajectory; tuning over "
            f"{frames} frames needs {frames + 1}: lower --tune-frames"
        )
    firsts = range(0, total - frames, max(1, (total - frames) // starts))[:starts]
    pieces = [flow.frames[chosen, a * stride : (a + frames) * stride + 1 : stride] for a in firsts]
    return resample(torch.cat(pieces).float(), run.trained_resolution)


def _open(runs: list[str | os.PathLike], data_file, select: Selection) -> list[RunData]:
    datas = [open_run_data(r, data_file, select) for r in runs]
    for d in datas:
        if not isinstance(d.model, HybridModel):
            raise SpectralRefinerError(
                f"{d.run.path} is a {d.model.name} run, not a hybrid: compare it with "
                "`spectral-refiner compare-solver`"
            )
        first = datas[0]
        if (d.trained_resolution, d.dt, d.trajectories) != (
            first.trained_resolution,
            first.dt,
            first.trajectories,
        ):
            raise SpectralRefinerError(
                f"{d.run.path} and {first.run.path} differ in resolution, frame spacing or "
                "held-out trajectories: compare hybrids of one dataset together"
            )
    return datas


def compare_hybrid(
    runs: list[str | os.PathLike],
    data_file: str | os.PathLike,
    *,
    tune_data: str | os.PathLike | None = None,
    closures: tuple[str, ...] = CLOSURE_NAMES,
    multiples: tuple[int, ...] = (1, 2, 4),
    frames: int | None = None,
    limit: int = 8,
    tune_frames: int = 10,
    tune_starts: int = 4,
    tune_limit: int = 4,
    timing_frames: int = 5,
    repeats: int = 3,
    max_repeats: int = 10,
    device: str = "cpu",
    select: Selection = HELD_OUT,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the comparison of the module docstring; returns (and writes) the results.

    ``tune_data``: the file the closure coefficients are tuned on (default: the first run's
    training file), over ``tune_frames`` frames from ``tune_starts`` start frames of up to
    ``tune_limit`` training trajectories; ``frames``: the horizon (default: every frame the
    file holds); ``limit``: test trajectories; ``repeats``/``max_repeats``: timing rounds.
    """
    datas = _open(list(runs), data_file, select)
    first = datas[0]
    n, frame_dt = first.trained_resolution, first.dt
    available = first.frames() - 1
    frames = available if frames is None else frames
    if not 1 <= frames <= available or not timing_frames >= 1:
        raise SpectralRefinerError(
            f"{data_file} holds {available} frames after the first one: choose --frames "
            f"between 1 and {available}"
        )
    timing_frames = min(timing_frames, frames)
    unknown = [c for c in closures if c not in CLOSURE_NAMES]
    if unknown:
        raise SpectralRefinerError(
            f"unknown closure {unknown[0]!r}: choose from {', '.join(CLOSURE_NAMES)}"
        )
    count = min(limit, first.flow.frames.shape[0])
    truth = first.window(0, frames + 1, n)[:count].to(device)
    w0, truth = truth[:, 0], truth[:, 1:]
    hybrids = [(f"hybrid {d.run.path.name} {n}²", d.model.to(device)) for d in datas]
    spf, dt = hybrids[0][1].steps_per_frame, hybrids[0][1].dt

    tuning: dict[str, Any] = {}
    specs: dict[str, dict[str, Any]] = {}
    if any(c in TUNABLE for c in closures):
        source = tune_data or first.run.read_split().get("source")
        if not source or not Path(source).is_file():
            raise SpectralRefinerError(
                f"the run's training file {source} is not there: give --tune-data FILE.h5 "
                "(training data of the same problem) to tune the closures"
            )
        windows = _tuning_frames(first, source, tune_frames, tune_starts, tune_limit).to(device)

        def equation_with(spec):
            return dataclasses.replace(first.problem, closure=spec).equation(n, device)

        for name in (c for c in closures if c in TUNABLE):
            with tqdm(desc=f"tuning {name}", unit="rollout", disable=not progress) as bar:

                def tick(c: float, j: float, bar=bar) -> None:
                    bar.set_postfix(C=f"{c:.4f}", J=f"{j:.4g}")
                    bar.update()

                tuning[name] = tune_closure(
                    name, equation_with, windows[:, 0], windows[:, 1:], spf, dt, on_evaluation=tick
                )
            specs[name] = {"name": name, "coefficient": tuning[name]["coefficient"]}
        tuning["data"] = str(source)
        tuning["windows"] = int(windows.shape[0])
        tuning["frames"] = tune_frames
    specs.update({c: {"name": c} for c in closures if c not in TUNABLE})
    methods = _methods(first.problem, hybrids, sorted(set(multiples)), specs, device)

    times = np.array([frame_dt * (j + 1) for j in range(frames)])
    grid = first.equation(n, device).grid
    points = []
    bar = tqdm(total=len(methods) * frames, desc="rollouts", unit="frame", disable=not progress)
    for method in methods:
        bar.set_description(f"rollout {method.name}")
        pred, reached = _run(method, w0, frames, n, bar.update)
        bar.update(frames - reached)
        point = {
            "method": method.name,
            "kind": method.kind,
            "resolution": method.resolution,
            "grid": method.grid_n,
            "steps_per_frame": method.steps_per_frame,
            "dt": method.dt,
            "blew_up_at": None if reached == frames else float(reached * frame_dt),
        }
        points.append(point | trajectory_metrics(pred, truth, times, grid))
    bar.close()
    calls: dict[str, Callable[[], torch.Tensor]] = {
        m.name: (lambda m=m: _run(m, w0, timing_frames, n)[0]) for m in methods
    }
    timings, _ = interleaved_timings(calls, repeats, max(repeats, max_repeats), progress=progress)
    per = count * timing_frames * frame_dt  # trajectories times simulated time
    for p in points:
        p["timings"] = [t / per for t in timings[p["method"]]]
        p["seconds"] = statistics.median(p["timings"])
    dkey = data_key(data_file, first.flow.fingerprint)
    subset = f"{dkey}-{select.split}" if select.split else dkey
    key = f"{HYBRID_PREFIX}{subset}-n{n}-i{count}-f{frames}"
    results = {
        "key": key,
        "runs": [str(d.run.path) for d in datas],
        "data": str(data_file),
        "data_key": dkey,
        "resolution": n,
        "instances": count,
        "trajectories": first.trajectories[:count],
        "frames": frames,
        "frame_dt": frame_dt,
        "times": times.tolist(),
        "horizon": frames * frame_dt,
        "timing_frames": timing_frames,
        "rounds": max(len(t) for t in timings.values()),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "tuning": tuning,
        "points": points,
        "baselines": {label: p["method"] for label, p in baselines(points).items()},
        "verdict": hybrid_verdict(points),
        "targets": target_ratios(points, n),
        "written": time.time(),
    }
    for d in datas:
        write_results(d.run.path / "evaluation", key, results)
    return results


def read_hybrid_comparisons(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Every hybrid comparison written into the run's ``evaluation/`` (oldest first)."""
    folder = Path(run_dir) / "evaluation"
    found = []
    for path in sorted(folder.glob(f"{HYBRID_PREFIX}*.json")):
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            raise SpectralRefinerError(
                f"{path} is unreadable: delete it and rerun compare-hybrid"
            ) from None
    return sorted(found, key=lambda r: r.get("written", 0.0))
