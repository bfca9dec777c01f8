"""Refined SFNO on filtered-DNS Kolmogorov flow (issue 14): error before and after refinement
stopped at the floor, with and without a closure, and the honest estimate within one model.

What is measured
----------------
A trained SFNO run (``--run``; with ``--train`` it is trained there first if missing, on
``--train-data`` with :data:`RECIPE`: 10 → 10 frames every 2nd stored frame, i.e. 0.04 apart
on ``kdns256-*``, width 16, 8 modes, 25 epochs of 4 windows per trajectory, ≈ 20-40 min of one
busy core) predicts ``--windows`` consecutive windows of every trajectory of ``--data``
(held-out DNS stored at 64², another seed). For the residual without closure and with each
``--closure`` spec:

* median true relative L2 error unrefined and refined (``--evals`` L-BFGS evaluations,
  stopped at each instance's floor), the instances made worse, and among the instances
  already at or below their floor (η ≤ floor) those made worse (the issue's target: none);
* the honest estimate (:mod:`spectral_refiner.physics.error_estimate`): effectivity (error
  estimate over true error) within [1/3, 3] before and after refinement;
* Spearman(error estimate, true error) within the final model's predictions (unrefined;
  unrefined and refined pooled) and pooled with the predictions of the run's kept checkpoints
  (``optim.keep_checkpoints``);
* the refinement's seconds per instance.

    OMP_NUM_THREADS=1 python -m benchmarks.refined_sfno --run runs/sfno-kdns --train \\
        --train-data /work/data/kdns256-train.h5 --data /work/data/kdns256-long-test.h5 \\
        --closure learned:/work/data/k.closure.pt
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

import spectral_refiner.hybrid  # noqa: F401  (registers the learned closure)
from spectral_refiner.arguments import closure_spec
from spectral_refiner.config import config_from_dict
from spectral_refiner.evaluation.inputs import Selection, open_run_data
from spectral_refiner.metrics import relative_error
from spectral_refiner.physics import honest_estimate, refined_estimate
from spectral_refiner.refine import refine
from spectral_refiner.training import RunDir, train

from .closure_estimate import spearman
from .machine import machine_state

RECIPE = {
    "model": {"name": "sfno", "width": 16, "modes": 8, "time_modes": 4, "n_layers": 3},
    "data": {
        "t_in": 10,
        "t_out": 10,
        "frame_stride": 2,
        "val_split": 1,
        "test_split": 0,
        "eval_windows": 2,
        "samples_per_trajectory": 4,
        "batch_size": 8,
    },
    "optim": {"lr": 2e-3, "epochs": 25, "keep_checkpoints": [2, 8, 25]},
    "device": "cpu",
}


def _windows(data, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and truths of ``count`` consecutive windows of every trajectory, batched."""
    model, n = data.model, data.trained_resolution
    span = model.t_in + model.t_out
    count = min(count, data.frames() // span)
    w = [data.window(k * span, span, n) for k in range(count)]
    w = torch.cat(w)
    return w[:, : model.t_in], w[:, model.t_in :]


def _fraction_in(eff: np.ndarray) -> str:
    return f"{np.mean((eff >= 1 / 3) & (eff <= 3)):.0%} (median {np.median(eff):.3g})"


def _checkpoint_columns(run: RunDir, residual, w_in, truth) -> tuple[list, list]:
    """Error estimates and true errors of the unrefined predictions of the kept checkpoints."""
    estimates, errors = [], []
    for path in sorted(run.path.glob("checkpoints/epoch-*.pt")):
        model, _ = run.load_model(path=path)
        with torch.no_grad():
            pred = model(w_in)
        estimates.append(honest_estimate(residual, w_in, pred)["error_estimate"].numpy())
        errors.append(relative_error(pred, truth, residual.grid).numpy())
    return estimates, errors


def _measure(data, residual, w_in, truth, evals: int) -> list[str]:
    grid = residual.grid
    result = refine(data.model, w_in, residual, max_evals=evals)
    before = honest_estimate(residual, w_in, result.initial)
    after = refined_estimate(residual, w_in, result.prediction, before, result.initial)
    err0 = relative_error(result.initial, truth, grid).numpy()
    err1 = relative_error(result.prediction, truth, grid).numpy()
    est0, est1 = before["error_estimate"].numpy(), after["error_estimate"].numpy()
    below = (result.eta_before <= result.floor).numpy()
    worse = err1 > err0 * (1 + 1e-6)
    ck_est, ck_err = _checkpoint_columns(data.run, residual, w_in, truth)
    pooled_est = np.concatenate((est0, est1, *ck_est))
    pooled_err = np.concatenate((err0, err1, *ck_err))
    return [
        f"median rel L2 unrefined {np.median(err0):.4g}, refined {np.median(err1):.4g} "
        f"({np.median(err0) / np.median(err1):.2f}x); {worse.sum()} of {worse.size} instances "
        f"made worse; {below.sum()} at or below their floor, {(worse & below).sum()} of them "
        f"made worse",
        f"median floor {np.median(result.floor.numpy()):.3g}, η {np.median(result.eta_before):.3g}"
        f" -> {np.median(result.eta_after):.3g}; floor's error "
        f"{np.median(before['floor_error'].numpy()):.3g}",
        f"effectivity in [1/3, 3]: unrefined {_fraction_in(est0 / err0)}, refined "
        f"{_fraction_in(est1 / err1)}",
        f"Spearman(error estimate, error): final model unrefined {spearman(est0, err0):.3f}, "
        f"unrefined + refined {spearman(np.r_[est0, est1], np.r_[err0, err1]):.3f}, with "
        f"{len(ck_est)} checkpoints {spearman(pooled_est, pooled_err):.3f}",
        f"refinement {result.seconds / len(err0):.2f} s per instance, "
        f"{result.evaluations} evaluations",
    ]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="a trained SFNO run (or where to train one)")
    p.add_argument("--data", required=True, help="held-out DNS file stored at 64²")
    p.add_argument("--train", action="store_true", help="train the run first if missing")
    p.add_argument("--train-data", help="training DNS file (with --train)")
    p.add_argument("--closure", type=closure_spec, nargs="*", default=[], metavar="SPEC")
    p.add_argument("--windows", type=int, default=4, help="windows per trajectory")
    p.add_argument("--evals", type=int, default=50, help="refinement evaluations")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    print(f"threads 1; {machine_state()}")
    if args.train and not (Path(args.run) / "summary.json").exists():
        config = config_from_dict(
            {**RECIPE, "data": {**RECIPE["data"], "file": str(args.train_data)}}
        )
        started = time.perf_counter()
        train(config, args.run, overwrite=True, progress=False)
        print(f"trained in {time.perf_counter() - started:.0f} s")
    for spec in [{"name": "none"}, *args.closure]:
        data = open_run_data(args.run, args.data, Selection(closure=spec))
        w_in, truth = _windows(data, args.windows)
        residual = data.residual(data.trained_resolution)
        print(f"\nclosure {spec}: {w_in.shape[0]} windows of {args.data}")
        for line in _measure(data, residual, w_in, truth, args.evals):
            print(f"  {line}")


if __name__ == "__main__":
    main()
