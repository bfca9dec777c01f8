"""Spectral-Refiner on reduced benchmark flows, end to end on the CPU (each case < 15 min).

For a case (``mcwilliams``: McWilliams decaying turbulence, ν = 1e-3, frames 0.05 apart from
t = 4.5; ``fno``: the FNO benchmark flow, ν = 1e-3, frames 1 apart from t = 0), the script

1. generates training trajectories (simulated at the case's resolution — 192² for McWilliams,
   nearly resolved and half the cost of 256²; 128² for the smooth FNO flow — stored at 64²)
   and held-out test trajectories (another seed, simulated and stored at 256², so 64² inputs
   and truths are their spectral truncations);
2. trains an SFNO (windows of 10 → 10 frames), keeping the checkpoints after epochs 1, 3
   and the last;
3. refines the final model's prediction of every test window at 64² (two CPU threads), and of
   a few at 256² zero-shot (64² inputs), and prints the true relative L2 errors before and
   after, the fraction of instances improved, η before and after, and the cost per instance;
4. checks the estimate η: its Spearman rank correlation with the true error across the test
   instances and the three checkpoints, the effectivity η / error, and η of the true
   trajectories against the model's.

    python -m benchmarks.refinement --case mcwilliams [--workdir DIR] [--steps 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from spectral_refiner.config import config_from_dict
from spectral_refiner.data import apply_overrides, generate, get_preset, read_flow
from spectral_refiner.physics import Residual, prediction_estimate, resample
from spectral_refiner.refine import refine
from spectral_refiner.threads import pin_threads
from spectral_refiner.training import RunDir, relative_error, train

CASES = {
    "mcwilliams": {
        "preset": "mcwilliams-re1000",
        "sets": ["frame_interval=0.05", "n_frames=30", "batch_size=8"],
        "sim": 192,  # nearly resolved (k_max 64 against a dissipation scale near 70)
        "train": 96,
        "epochs": 15,
    },
    "fno": {
        "preset": "fno-nu1e-3",
        "sets": ["frame_interval=1.0", "n_frames=31", "batch_size=16"],
        "sim": 128,
        "train": 64,
        "epochs": 10,
    },
}
MODEL = {"name": "sfno", "width": 16, "modes": 8, "time_modes": 4, "n_layers": 3}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (no ties expected in continuous data)."""
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES), default="mcwilliams")
    parser.add_argument("--workdir", help="keep data and runs here (default: a temp dir)")
    parser.add_argument("--steps", type=int, default=100, help="refinement evaluations")
    parser.add_argument("--test", type=int, default=16, help="test trajectories")
    parser.add_argument("--zero-shot", type=int, default=4, help="instances refined at 256²")
    parser.add_argument("--epochs", type=int, help="training epochs (default: the case's)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    pin_threads(args.threads)
    case = CASES[args.case]
    args.epochs = args.epochs or case["epochs"]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        base = apply_overrides(get_preset(case["preset"]), case["sets"])
        train_file = generate(
            apply_overrides(
                base,
                [
                    f"sim_resolution={case['sim']}",
                    "resolution=64",
                    f"n_trajectories={case['train']}",
                ],
            ),
            work / "train.h5",
            progress=False,
        )
        test_file = generate(
            apply_overrides(
                base, ["sim_resolution=256", "resolution=256", f"n_trajectories={args.test}"]
            ),
            work / "test256.h5",
            seed=1,
            progress=False,
        )
        generated = time.perf_counter() - started
        config = config_from_dict(
            {
                "model": MODEL,
                "data": {
                    "file": str(train_file),
                    "t_in": 10,
                    "t_out": 10,
                    "val_split": 4,
                    "test_split": 0,
                    "samples_per_trajectory": 4,
                    "batch_size": 8,
                },
                "optim": {
                    "lr": 2e-3,
                    "epochs": args.epochs,
                    "keep_checkpoints": sorted({1, 3, args.epochs}),
                },
                "device": "cpu",
            }
        )
        run = work / "run"
        if not (run / "summary.json").exists():
            train(config, str(run), overwrite=True, progress=False)
        trained = time.perf_counter() - started - generated

        flow = read_flow(test_file)
        eq256 = flow.equation()
        eq64 = eq256.on_grid(64)
        w256 = flow.frames[:, :20]
        w64 = resample(w256, 64)
        w_in, truth = w64[:, :10], w64[:, 10:20]
        dt = flow.dt

        # --- the estimate η across models of different quality
        etas, errors = [], []
        for epoch in sorted({1, 3, args.epochs}):
            model, _ = RunDir(run).load_model(path=RunDir(run).epoch(epoch))
            with torch.no_grad():
                pred = model(w_in)
            etas.append(prediction_estimate(w_in, pred, eq64, dt).numpy())
            errors.append(relative_error(pred, truth, eq64.grid).numpy())
            print(
                f"epoch {epoch:2d}: median rel L2 {np.median(errors[-1]):.4f}, "
                f"median η {np.median(etas[-1]):.4f}"
            )
        eta_all, err_all = np.concatenate(etas), np.concatenate(errors)
        effectivity = eta_all / err_all
        true_eta = prediction_estimate(w_in, truth, eq64, dt).numpy()
        print(
            f"η vs true error over {len(eta_all)} (instance, checkpoint) pairs: Spearman "
            f"{spearman(eta_all, err_all):.3f}; effectivity η/error "
            f"{effectivity.min():.2f}..{effectivity.max():.2f}"
        )
        print(f"within the final checkpoint: Spearman {spearman(etas[-1], errors[-1]):.3f}")
        print(
            f"η of the true trajectories: median {np.median(true_eta):.4f} "
            f"({np.median(true_eta) / np.median(etas[-1]):.3f} of the final model's)"
        )

        # --- refinement at the training resolution
        model, _ = RunDir(run).load_model()
        result = refine(model, w_in, Residual(eq64, dt), max_evals=args.steps)
        before = relative_error(result.initial, truth, eq64.grid).numpy()
        after = relative_error(result.prediction, truth, eq64.grid).numpy()
        persistence = relative_error(w_in[:, -1:].expand_as(truth), truth, eq64.grid).numpy()
        print(
            f"\n64²: {len(before)} instances, {args.steps} evaluations: median rel L2 "
            f"{np.median(before):.4f} -> {np.median(after):.4f} "
            f"({np.median(before) / np.median(after):.2f}x; ratio of medians), "
            f"median per-instance ratio {np.median(before / after):.2f}x, "
            f"{100 * np.mean(after < before):.0f}% improved; η {np.median(result.eta_before):.4f}"
            f" -> {np.median(result.eta_after):.5f}; persistence {np.median(persistence):.4f}"
        )
        eta_more = np.concatenate((eta_all, result.eta_after.numpy()))
        err_more = np.concatenate((err_all, after))
        print(
            f"η vs true error with the refined predictions added ({len(eta_more)} pairs): "
            f"Spearman {spearman(eta_more, err_more):.3f}"
        )
        print(
            f"cost: {result.seconds / len(before):.2f} s per instance on "
            f"{torch.get_num_threads()} threads"
        )

        # --- zero-shot super-resolution: 64² inputs, refined on the 256² grid
        k = args.zero_shot
        zs = refine(model, w_in[:k], Residual(eq256, dt), max_evals=args.steps)
        refined256 = relative_error(zs.prediction, w256[:k, 10:20], eq256.grid).numpy()
        print(
            f"256² zero-shot ({k} instances): refined rel L2 at 256² "
            f"{np.median(refined256):.4f} (max {refined256.max():.4f}) vs unrefined 64² "
            f"{np.median(before[:k]):.4f} (min {before[:k].min():.4f}); "
            f"{zs.seconds / k:.1f} s per instance"
        )
        total = time.perf_counter() - started
        print(f"\ntime: generate {generated:.0f} s, train {trained:.0f} s, total {total:.0f} s")


if __name__ == "__main__":
    main()
