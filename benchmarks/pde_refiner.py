"""PDE-Refiner against the same backbone trained with plain MSE, on Kolmogorov flow, reduced to
fit a busy 2-core CPU: long-rollout correlation time and the uncertainty of its samples.

What is measured
----------------
Kolmogorov flow (2π box, ν = 1e-3, forcing sin(4y), drag 0.1) from McWilliams initial fields,
simulated at ``--sim``² (RK4-CN, Courant 0.5), stored at ``--n``², frames ``--frame-dt`` apart
after ``--warmup``; a training file (seed 0) and a test file of fresh seeds (seed 1).
Two runs through the project's trainer, at **equal training compute** (the same U-Net
backbone, batch, steps and schedule; one forward and backward pass per sample each):

* ``pde_refiner`` with ``K = --refinement-steps``, ``σ_min = --sigma-min`` (its denoising
  objective, :meth:`~spectral_refiner.models.PDERefiner.training_loss`);
* ``mse``: the same wrapper with ``K = 0``, i.e. exactly the backbone trained with MSE on
  normalised frames.

Each run's ``t_in``-frame windows predict the next frame; the test trajectories are rolled
out for every frame the file holds (:func:`~spectral_refiner.evaluation.evaluate_run`).
Printed: the time the mean vorticity correlation first drops below 0.8 and 0.95 for both and
their ratio (target ≥ 1.3), the mean relative L2 error, and for PDE-Refiner's ``--samples``
sampled rollouts Spearman(spread, true error) over test frames (target ≥ 0.8) and the
median estimated decorrelation time against the median true one (target within 20%).

With ``--ensemble S`` PDE-Refiner rolls out with the mean of ``S`` refinement samples as each
next frame (a posterior-mean estimate, not the paper's single-sample rollout; the ``--samples``
rollouts that give the spread stay single-sample). Also printed: the *calibrated* estimate
(:func:`~spectral_refiner.evaluation.spread_factor`): one factor ``λ`` fitted on the run's
validation trajectories of the training file (``--split val``, never the test file) so that
``λ × spread`` matches the rollout's error, the decorrelation time then read from
``1 - (λ × spread)² / 2 < 0.8``, against the true time of the rollout, median trajectory;
and Spearman(spread, error of the rollout itself), beside the one against the samples' mean.

With ``--train-file`` and ``--test-file`` the runs train on a given file (e.g. the filtered
DNS ``kdns256-train.h5`` at 64², windows every ``--frame-stride``-th stored frame) and are
rolled out over every frame of the held-out file (e.g. ``kdns256-long-test.h5``).

Run from the repository root (one thread; timings on a shared machine vary)::

    OMP_NUM_THREADS=1 python -m benchmarks.pde_refiner --workdir /tmp/pderefiner-bench
    OMP_NUM_THREADS=1 python -m benchmarks.pde_refiner --workdir /tmp/pdr-dns --ensemble 4 \
        --train-file /work/data/kdns256-train.h5 --test-file /work/data/kdns256-long-test.h5 \
        --frame-stride 10 --val-split 1 --width 16 --samples-per-trajectory 40 --steps 1505 \
        --lr 1e-3
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from spectral_refiner.config import config_from_dict
from spectral_refiner.data import apply_overrides, generate, get_preset, read_flow
from spectral_refiner.evaluation import (
    Selection,
    calibrated_times,
    evaluate_run,
    high_correlation_time,
    spearman,
    spread_factor,
)
from spectral_refiner.training import train


def _data(args: argparse.Namespace, work: Path) -> tuple[Path, Path]:
    if args.train_file and args.test_file:  # given files (e.g. filtered DNS): nothing to simulate
        return Path(args.train_file), Path(args.test_file)
    preset = apply_overrides(
        get_preset("kolmogorov-re1000"),
        [
            f"sim_resolution={args.sim}",
            f"resolution={args.n}",
            f"warmup_time={args.warmup}",
            f"frame_interval={args.frame_dt}",
            f"n_frames={args.frames}",
        ],
    )
    files = []
    for seed, count in ((0, args.train_trajectories), (1, args.test_trajectories)):
        path = work / f"kolmogorov-{args.n}-seed{seed}.h5"
        if not path.exists():
            started = time.perf_counter()
            generate(
                apply_overrides(preset, [f"n_trajectories={count}"]),
                path,
                seed=seed,
                progress=False,
            )
            print(f"generated {path.name}: {time.perf_counter() - started:.0f} s")
        files.append(path)
    return files[0], files[1]


def _train(args: argparse.Namespace, name: str, steps: int, data: Path, work: Path) -> Path:
    out = work / f"run-{name}"
    if (out / "summary.json").exists():
        return out
    windows = (args.train_trajectories - args.val_split) * args.samples_per_trajectory
    epochs = max(1, round(args.steps * args.batch / windows))
    config = config_from_dict(
        {
            "model": {
                "name": "pde_refiner",
                "backbone": {"name": "unet", "width": args.width, "levels": 3},
                "refinement_steps": steps,
                "sigma_min": args.sigma_min,
            },
            "data": {
                "file": str(data),
                "t_in": args.t_in,
                "t_out": 1,
                "frame_stride": args.frame_stride,
                "val_split": args.val_split,
                "test_split": 0,
                "samples_per_trajectory": args.samples_per_trajectory,
                "batch_size": args.batch,
            },
            "optim": {"lr": args.lr, "epochs": epochs, "schedule": "cosine"},
            "device": "cpu",
        }
    )
    summary = train(config, str(out), progress=False)
    print(
        f"trained {name}: {summary['steps']} steps in {summary['train_time_s']:.0f} s, "
        f"{summary['parameters']} parameters, val rel L2 {summary['val']['rel_l2']:.3g}"
    )
    return out


def _arrays(run: Path, result: dict) -> dict[str, np.ndarray]:
    """The per-instance arrays an evaluation wrote beside its JSON."""
    with np.load(run / "evaluation" / f"{result['key']}.npz") as npz:
        return dict(npz)


def _calibrated(args: argparse.Namespace, run: Path, train_file: Path, test: dict) -> dict:
    """λ fitted on the run's validation trajectories; the calibrated estimate on the test file."""
    frames = _frames(train_file, args.frame_stride) - args.t_in
    val = evaluate_run(
        run,
        train_file,
        frames=frames,
        samples=args.samples,
        ensemble=args.ensemble,
        select=Selection(split="val"),
    )
    fit = _arrays(run, val)
    factor = spread_factor(
        fit["uncertainty_spread"],
        fit["instance_rel_l2_prediction"],
        fit["instance_correlation_prediction"],
    )
    arrays, times = _arrays(run, test), np.asarray(test["times"])
    estimated = calibrated_times(arrays["uncertainty_spread"], factor, times)
    true = np.array(
        [high_correlation_time(c, times, 0.8) for c in arrays["instance_correlation_prediction"]]
    )
    start = times[0] - test["physics"]["window_dt"]
    est, tru = float(np.median(estimated)), float(np.median(true))
    print(
        f"calibrated spread: λ = {factor:.3g} (median error / spread over {val['instances']} "
        f"validation trajectories, {frames} frames); decorrelation (corr < 0.8) of the rollout "
        f"per test trajectory: estimated {estimated.tolist()}, true {true.tolist()}; median "
        f"{est:.3g} / {tru:.3g}, ratio from the last input frame "
        f"{(est - start) / (tru - start):.2f} (target 0.8-1.2)"
    )
    spread, error = arrays["uncertainty_spread"], arrays["instance_rel_l2_prediction"]
    kept = arrays["instance_correlation_prediction"] >= 0.2
    ranks = spearman(spread, error), spearman(spread[kept], error[kept])
    print(
        f"Spearman(spread, error of this rollout) over test frames: {ranks[0]:.3f}; over the "
        f"{kept.sum()} frames the rollout is still correlated (>= 0.2): {ranks[1]:.3f}"
    )
    return {
        "factor": factor,
        "estimated": estimated.tolist(),
        "true": true.tolist(),
        "spearman_spread_rollout_error": ranks,
    }


def _frames(path: Path, stride: int) -> int:
    """Window frames a file holds at ``stride``."""
    return (read_flow(path).frames.shape[1] - 1) // stride + 1


def _fmt(value) -> str:
    return "never" if value is None else f"{value:.3g}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workdir", default="/tmp/pderefiner-bench")
    p.add_argument("--sim", type=int, default=64)
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--warmup", type=float, default=10.0)
    p.add_argument("--frame-dt", type=float, default=0.25)
    p.add_argument("--frames", type=int, default=41)
    p.add_argument("--train-trajectories", type=int, default=26)
    p.add_argument("--test-trajectories", type=int, default=8)
    p.add_argument("--train-file", help="train on this file instead of simulating one")
    p.add_argument("--test-file", help="held-out file (with --train-file)")
    p.add_argument("--frame-stride", type=int, default=1, help="windows take every k-th frame")
    p.add_argument("--val-split", type=int, default=2, help="validation trajectories")
    p.add_argument("--t-in", type=int, default=3)
    p.add_argument("--width", type=int, default=8)
    p.add_argument("--steps", type=int, default=1200, help="optimiser steps of each run")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--samples-per-trajectory", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--refinement-steps", type=int, default=3)
    p.add_argument("--sigma-min", type=float, default=0.1)
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--ensemble", type=int, help="roll out with the mean of S refinements")
    args = p.parse_args()
    torch.set_num_threads(1)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    print(f"threads: {torch.get_num_threads()}, load {os.getloadavg()[0]:.1f} on {os.cpu_count()}")
    train_file, test_file = _data(args, work)
    runs = {
        "pde_refiner": _train(args, "pde_refiner", args.refinement_steps, train_file, work),
        "mse": _train(args, "mse", 0, train_file, work),
    }
    frames = _frames(test_file, args.frame_stride) - args.t_in
    results = {}
    for name, run in runs.items():
        started = time.perf_counter()
        results[name] = evaluate_run(
            run,
            test_file,
            frames=frames,
            samples=args.samples if name != "mse" else None,
            ensemble=args.ensemble if name != "mse" else None,
        )
        print(f"evaluated {name}: {time.perf_counter() - started:.0f} s")
    spacing = results["pde_refiner"]["physics"]["window_dt"]
    print(
        f"\n{test_file.name}: {results['mse']['instances']} fresh test trajectories, {frames} "
        f"frames {spacing:.3g} apart at {results['mse']['resolution']}^2; "
        f"load {os.getloadavg()[0]:.1f}"
    )
    print(f"{'':24s}{'pde_refiner':>14s}{'mse':>14s}")
    for label, key in (
        ("corr < 0.95 at t", "time_below_0.95"),
        ("corr < 0.8 at t", "time_below_0.8"),
        ("mean rel L2", "mean_rel_l2"),
        ("mean correlation", "mean_correlation"),
    ):
        row = [results[n]["prediction"][key] for n in runs]
        print(f"{label:24s}" + "".join(f"{_fmt(v):>14s}" for v in row))
    start = results["pde_refiner"]["times"][0] - spacing  # the last input frame
    a, b = (results[n]["prediction"]["time_below_0.8"] for n in runs)
    if a is not None and b is not None:
        print(
            f"correlation-0.8 time ratio (from the last input frame): "
            f"{(a - start) / (b - start):.2f}x (target >= 1.3)"
        )
    u = results["pde_refiner"]["uncertainty"]
    print(
        f"Spearman(spread, error) over test frames: {u['spearman_spread_error']:.3f} "
        f"(target >= 0.8); Spearman(eta, error): {u['spearman_eta_error']:.3f}; over the "
        f"{u['correlated_frames']} frames still correlated (>= 0.2): "
        f"{u['spearman_spread_error_correlated']:.3f}"
    )
    est, true = u["median_estimated_time"], u["median_true_time"]
    print(
        f"median decorrelation time (corr < {u['threshold']}): estimated {_fmt(est)}, "
        f"true {_fmt(true)}"
        + (
            ""
            if est is None or true is None
            else f", ratio from the last input frame {(est - start) / (true - start):.2f} "
            "(target 0.8-1.2)"
        )
    )
    calibration = _calibrated(args, runs["pde_refiner"], train_file, results["pde_refiner"])
    (work / "results.json").write_text(
        json.dumps(
            {
                n: {k: results[n][k] for k in ("prediction", "key")}
                | {"uncertainty": results[n].get("uncertainty")}
                for n in runs
            }
            | {"calibration": calibration},
            indent=1,
            default=float,
        )
    )


if __name__ == "__main__":
    main()
