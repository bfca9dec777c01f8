"""scOT against FNO2d and SFNO at matched parameter count on the same task (issue 18).

The task: Kolmogorov flow (the shared 256² DNS stored at 64², resampled to ``--resolution``),
windows of 4 frames 0.1 apart (every 5th stored frame) to the next one. scOT is built first
(its lead-time embedding unused: called without a lead time it is a fixed-window model, and
the parameters counted are those that reach the output); FNO2d's and SFNO's widths are the
ones whose parameter counts come closest to it (the counts are printed). Each model trains
with the same settings, the same number of optimiser steps and batch on the 8 training
trajectories (seed 0), then is tested on the 4 held-out trajectories of the test file
(seed 1), one step from every ``--start-every``-th window start: relative L2 error, mean and
median over windows. Throughput: a training step (forward, backward, Adam) and an inference
call on a batch of ``--batch`` windows, the three models interleaved in one process (one
thread), repeated; medians, in windows per second, and the ratios to scOT.

    python -m benchmarks.scot_vs_fno [--workdir bench-scot] [--epochs 12] [--resolution 32]
        [--embed-dim 32] [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import torch

from benchmarks.machine import machine_state
from spectral_refiner.config import config_from_dict
from spectral_refiner.evaluation import open_run_data
from spectral_refiner.evaluation.compare import interleaved_timings
from spectral_refiner.metrics import relative_error
from spectral_refiner.models import NeuralOperator, build_model
from spectral_refiner.training import RunDir, train

TRAIN, TEST = "/work/data/kdns256-train.h5", "/work/data/kdns256-test.h5"
T_IN, T_OUT, STRIDE = 4, 1, 5
WIDTHS = range(4, 65)


def scot(embed_dim: int) -> dict[str, Any]:
    return {"name": "scot", "embed_dim": embed_dim, "patch_size": 2, "window_size": 4,
            "levels": 2, "depth": 2, "head_dim": 8, "condition_on": "lead_time"}  # fmt: skip


FAMILIES = {
    "fno2d": lambda w: {"name": "fno2d", "width": w, "modes": 8, "n_layers": 4},
    "sfno": lambda w: {"name": "sfno", "width": w, "modes": 8, "time_modes": 2, "n_layers": 4},
}


def count(model: dict[str, Any]) -> int:
    """Parameters that reach the output of the fixed-window call (nonzero gradient): scOT's
    lead-time embedding acts only through its biases when no lead time is given."""
    kwargs = {k: v for k, v in model.items() if k != "name"}
    torch.manual_seed(0)
    built = build_model(model["name"], t_in=T_IN, t_out=T_OUT, **kwargs)
    built(torch.randn(2, T_IN, 16, 16)).square().sum().backward()
    return sum(p.numel() for p in built.parameters() if p.grad is not None and p.grad.any())


def matched(embed_dim: int) -> dict[str, dict[str, Any]]:
    """scOT of ``embed_dim``, and FNO2d and SFNO of the width whose count is closest to its
    (counts grow with the width: the search stops at the first one above)."""
    target = count(scot(embed_dim))
    models = {"scot": scot(embed_dim)}
    for name, family in FAMILIES.items():
        below = None
        for width in WIDTHS:
            if (c := count(family(width))) >= target:
                closer = below is not None and target - below[1] < c - target
                models[name] = family(below[0] if closer else width)
                break
            below = (width, c)
    return models


def config(model: dict[str, Any], resolution: int, epochs: int, batch: int):
    return config_from_dict(
        {
            "model": model,
            "data": {
                "file": TRAIN,
                "resolution": resolution,
                "t_in": T_IN,
                "t_out": T_OUT,
                "frame_stride": STRIDE,
                "val_split": 1,
                "test_split": 1,
                "samples_per_trajectory": 16,
                "batch_size": batch,
            },
            "optim": {"lr": 1e-3, "epochs": epochs},
            "device": "cpu",
        }
    )


def test_errors(run: Path, every: int) -> tuple[float, float]:
    """Mean and median one-step rel L2 over the held-out file's windows."""
    data = open_run_data(run, TEST)
    n, errors = data.trained_resolution, []
    for start in range(0, data.frames() - T_IN - T_OUT + 1, every):
        with torch.no_grad():
            pred = data.model(data.inputs(start))
        truth = data.window(start + T_IN, T_OUT, n)
        errors.append(relative_error(pred, truth, data.equation(n).grid))
    err = torch.cat(errors).double()
    return float(err.mean()), float(err.median())


def throughput(
    models: dict[str, NeuralOperator], batch: torch.Tensor, target: torch.Tensor, rounds: int
) -> dict[str, tuple[float, float]]:
    """Median training and inference windows per second of every model, interleaved."""
    methods = {}
    for name, model in models.items():
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)

        def step(model=model, opt=opt) -> torch.Tensor:
            opt.zero_grad(set_to_none=True)
            loss = (model(batch) - target).square().mean()
            loss.backward()
            opt.step()
            return loss.detach()

        def infer(model=model) -> torch.Tensor:
            with torch.no_grad():
                return model(batch)

        methods[f"{name} train"], methods[f"{name} infer"] = step, infer
    timings, _ = interleaved_timings(methods, rounds, rounds)
    size = batch.shape[0]
    return {
        name: (
            size / statistics.median(timings[f"{name} train"]),
            size / statistics.median(timings[f"{name} infer"]),
        )
        for name in models
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="bench-scot")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--embed-dim", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--start-every", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = Path(args.workdir)
    models = matched(args.embed_dim)
    print(f"threads {torch.get_num_threads()}, {machine_state()}")
    rows = {}
    for name, model in models.items():
        run = work / name
        if not RunDir(run).summary.is_file():
            cfg = config(model, args.resolution, args.epochs, args.batch)
            summary = train(cfg, str(run), overwrite=True, progress=False)
        else:
            summary = json.loads(RunDir(run).summary.read_text())
        rows[name] = (count(model), summary["steps"], *test_errors(run, args.start_every))
    data = open_run_data(work / "scot", TEST)
    inputs = torch.cat([data.inputs(s) for s in range(-(-args.batch // 4))])[: args.batch]
    target = data.window(T_IN, T_OUT, data.trained_resolution)
    target = target.repeat(args.batch // target.shape[0] + 1, 1, 1, 1)[: args.batch]
    trained = {name: RunDir(work / name).load_model()[0].train() for name in models}
    rates = throughput(trained, inputs, target, args.rounds)
    print(f"{args.resolution}², windows {T_IN} -> {T_OUT} frames 0.1 apart, batch {args.batch}")
    print(
        f"{'model':>6s} {'params':>8s} {'steps':>6s} {'mean L2':>8s} {'median':>8s} "
        f"{'train/s':>8s} {'infer/s':>8s} {'train÷scOT':>10s} {'infer÷scOT':>10s}"
    )
    for name, (params, steps, mean, median) in rows.items():
        train_rate, infer_rate = rates[name]
        print(
            f"{name:>6s} {params:8d} {steps:6d} {mean:8.4f} {median:8.4f} {train_rate:8.1f} "
            f"{infer_rate:8.1f} {train_rate / rates['scot'][0]:10.2f} "
            f"{infer_rate / rates['scot'][1]:10.2f}"
        )
    print(f"after: {machine_state()}")
    print("configs:", {name: m for name, m in models.items()})


if __name__ == "__main__":
    main()
