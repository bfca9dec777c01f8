"""Online (solver-in-the-loop) versus offline training at equal wall-clock on the CPU.

Both sides get the same budget ``B`` of wall-clock seconds on this machine and train the
same model (the ``tiny`` config's SFNO, constant learning rate) on the same flow:

* offline: the solver first fills a file for ``f B`` seconds (all cores), then the model
  trains on that fixed file for the remaining ``(1 - f) B`` seconds; several ``f`` are tried
  and each reported, so offline is not held to one unlucky split;
* online: the model trains for ``B`` seconds while one DataLoader worker runs the solver
  (one thread) and streams fresh windows into the reservoir (large enough, by default, to
  keep every window of the run: at this scale eviction would only throw data away); the
  training process uses the remaining core.

Both final models are evaluated on the same held-out trajectories (another seed, simulated
before the clock starts); the script prints both validation errors and the ratio.

    python -m benchmarks.online_vs_offline [--budget 120] [--fractions 0.25 0.5]
        [--preset tiny] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import torch

from spectral_refiner.config import apply_config_overrides, load_config
from spectral_refiner.data import (
    apply_overrides,
    build_equation,
    eval_windows,
    get_preset,
    simulate_preset,
    window_span,
    write_dataset,
)
from spectral_refiner.metrics import relative_error
from spectral_refiner.training import load_checkpoint, model_from_checkpoint, train

EVAL_SEED = 1


def _make_file(preset, seconds: float, path: Path, batch: int) -> tuple[int, float]:
    """Simulate trajectories (seed 0) in batches until ``seconds`` pass; write them."""
    equation = build_equation(preset)
    trajectories, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds:
        indices = list(range(len(trajectories), len(trajectories) + batch))
        with torch.no_grad():
            trajectories.extend(simulate_preset(preset, equation, 0, indices).float().numpy())
    write_dataset(path, trajectories, preset.times(), preset.fields(), {"fingerprint": "bench"})
    return len(trajectories), time.perf_counter() - start


def _val_error(run: Path, frames: torch.Tensor, config, preset) -> float:
    model = model_from_checkpoint(load_checkpoint(run / "checkpoints" / "latest.pt"))
    d = config.data
    n_starts = preset.n_frames - window_span(d.t_in, d.t_out, d.frame_stride) + 1
    windows = eval_windows(range(frames.shape[0]), n_starts, 3)
    span = window_span(d.t_in, d.t_out, d.frame_stride)
    w = torch.stack([frames[t, s : s + span : d.frame_stride] for t, s in windows])
    equation = build_equation(preset, resolution=preset.resolution)
    with torch.no_grad():
        errors = relative_error(model.eval()(w[:, : d.t_in]), w[:, d.t_in :], equation.grid)
    return float(errors.mean())


def _final_train_loss(run: Path, last: int = 100) -> float:
    """Mean training loss of the last ``last`` steps (beside the validation error it shows
    how much a side overfits)."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if r["kind"] == "step"][-last:]
    return sum(losses) / len(losses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=120.0, help="seconds per side")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--set", action="append", default=[], help="preset override")
    parser.add_argument("--config", default="tiny")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--val-trajectories", type=int, default=16)
    parser.add_argument("--solver-batch", type=int, default=2, help="trajectories per solver call")
    parser.add_argument("--buffer", type=int, default=4096, help="online reservoir size (windows)")
    args = parser.parse_args()

    preset = apply_overrides(get_preset(args.preset), args.set).validate()
    base = apply_config_overrides(
        load_config(args.config),
        [
            "optim.schedule=constant",
            f"optim.lr={args.lr}",
            "optim.epochs=100000",
            f"optim.max_time={args.budget}",
            "device=cpu",
        ],
    )
    print(
        f"preset {preset.name} {preset.resolution}^2 x {preset.n_frames} frames, budget "
        f"{args.budget:g} s per side, {torch.get_num_threads()} threads"
    )
    with torch.no_grad():
        held_out = simulate_preset(
            preset, build_equation(preset), EVAL_SEED, list(range(args.val_trajectories))
        ).float()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for f in args.fractions:
            path = tmp / f"offline-{f}.h5"
            n, spent = _make_file(preset, f * args.budget, path, args.solver_batch)
            config = apply_config_overrides(
                base,
                [f"optim.max_time={args.budget - spent}", "data.val_split=0", "data.test_split=0"],
            )
            config.data = dataclasses.replace(config.data, file=str(path))
            run = tmp / f"offline-{f}"
            summary = train(config, str(run), progress=False)
            err = _val_error(run, held_out, config, preset)
            rows.append((f"offline f={f:g}", n, summary["steps"], _final_train_loss(run), err))
            print(
                f"  offline f={f:g}: {n} trajectories in {spent:.1f} s, "
                f"{summary['steps']} steps in {summary['train_time_s']:.1f} s, val {err:.4f}"
            )
        online_sets = [
            "online.workers=1",
            "online.solver_threads=1",
            "online.val_trajectories=1",
            "online.steps_per_epoch=50",
        ]
        if args.set:
            online_sets.append(f"online.preset_overrides={','.join(args.set)}")
        config = apply_config_overrides(base, online_sets)
        config.data = dataclasses.replace(config.data, file=None, online=preset.name)
        run = tmp / "online"
        torch_threads = torch.get_num_threads()
        summary = train(config, str(run), progress=False)
        torch.set_num_threads(torch_threads)
        err = _val_error(run, held_out, config, preset)
        online = summary["online"]
        n = round(online["online_trajectories"])
        rows.append(("online", n, summary["steps"], _final_train_loss(run), err))
        print(
            f"  online: {online['online_trajectories']:.0f} trajectories streamed "
            f"({online['online_generated_per_s']:.1f} windows/s generated, "
            f"{online['online_consumed_per_s']:.1f} samples/s consumed), "
            f"{summary['steps']} steps, val {err:.4f}"
        )
    print(f"\n{'side':16s}{'trajectories':>14s}{'steps':>8s}{'train loss':>12s}{'val rel L2':>12s}")
    for name, n, steps, loss, err in rows:
        print(f"{name:16s}{n:14d}{steps:8d}{loss:12.4f}{err:12.4f}")
    best_offline = min(r[4] for r in rows[:-1])
    print(
        f"\nonline / best offline validation error: {rows[-1][4] / best_offline:.3f} "
        f"({'online lower' if rows[-1][4] < best_offline else 'offline lower'})"
    )


if __name__ == "__main__":
    main()
