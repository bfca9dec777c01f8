"""all2all against one-step training of the same lead-time-conditioned FNO2d at equal compute.

Both runs train the same model (FNO2d with ``condition_on: lead_time``) on the same reduced
McWilliams file with the same epochs, pairs per trajectory and batch (so the same number of
forward and backward passes): all2all on every pair up to ``D`` frames apart, one-step on
pairs one frame apart only (``data.max_lead`` = one frame interval). On the test trajectories,
at every lead ``d = 1..D`` frames, all2all predicts ``w_{i+d} = G(w_i, τ = d Δt)`` in one call,
one-step chains ``d`` calls at ``τ = Δt``. Prints the mean relative L2 error of both at every
lead, their ratio (one-step / all2all: above 1 where all2all is better) and the thread count.

    python -m benchmarks.all2all_vs_onestep [--workdir bench-all2all] [--epochs 20]
        [--max-lead 8] [--trajectories 32] [--lead-sampling pairs|leads|log|power]
        [--lead-power 2] [--residual | --residual-lead] [--seed 0] [--width 16]

``--lead-sampling``: how all2all draws its pairs (``data.lead_sampling``: uniform over the
pairs, over the lead times, in log lead time, or ``P(d) ∝ d^-p``, ``p = --lead-power``); its
run is ``all2all`` for ``pairs``, else ``all2all-MODE`` (``all2all-powerP``). The one-step
run is the same for every mode. ``--residual``: both runs use the residual form of the model
(``model.residual=true``, ``w_out = w_in + σ G``; runs ``…-residual``); ``--residual-lead``:
the increment scaled by the lead time (``model.residual_lead=true``, ``w_out = w_in + τ σ G``;
runs ``…-residual-lead``). ``--seed S``: the
training seed of both runs (initialisation, batches and the train/val/test split of the
trajectories; runs ``…-seedS`` for S ≠ 0). ``--width W``: the FNO2d's channels (runs
``…-wW`` for W ≠ 16).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from benchmarks.machine import machine_state
from spectral_refiner.config import apply_config_overrides
from spectral_refiner.data import LEAD_SAMPLINGS, apply_overrides, generate, get_preset, read_flow
from spectral_refiner.metrics import relative_error
from spectral_refiner.training import (
    RunDir,
    TrainConfig,
    load_checkpoint,
    model_from_checkpoint,
    train,
)

MODEL = {"name": "fno2d", "width": 16, "modes": 8, "n_layers": 3, "condition_on": "lead_time"}


def run(
    data: str,
    out: Path,
    max_lead: float,
    epochs: int,
    sampling: str = "pairs",
    power: float = 2,
    residual: str = "",
    seed: int = 0,
    width: int = MODEL["width"],
) -> tuple[torch.nn.Module, list[int]]:
    form = {"residual": residual != "", "residual_lead": residual == "lead", "width": width}
    config = apply_config_overrides(
        TrainConfig(model=dict(MODEL, **form), device="cpu", seed=seed),
        [
            f"data.file={data}",
            "data.sampling=all2all",
            "data.t_in=1",
            "data.t_out=1",
            f"data.max_lead={max_lead}",
            f"data.lead_sampling={sampling}",
            f"data.lead_power={power}",
            "data.val_split=4",
            "data.test_split=4",
            "data.samples_per_trajectory=16",
            "data.batch_size=8",
            f"optim.epochs={epochs}",
            "optim.lr=3e-3",
        ],
    )
    if not RunDir(out).summary.is_file():
        train(config, str(out), resume=RunDir(out).latest.is_file(), progress=False)
    checkpoint = load_checkpoint(out / "checkpoints" / "best.pt")
    return model_from_checkpoint(checkpoint).eval(), checkpoint["split"]["test"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="bench-all2all")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--max-lead", type=int, default=8, help="in frames")
    parser.add_argument("--trajectories", type=int, default=32)
    parser.add_argument("--lead-sampling", choices=LEAD_SAMPLINGS, default="pairs")
    parser.add_argument("--lead-power", type=float, default=2.0)
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--residual", action="store_true", help="w_out = w_in + σ G")
    form.add_argument("--residual-lead", action="store_true", help="w_out = w_in + τ σ G")
    parser.add_argument("--seed", type=int, default=0, help="training seed of both runs")
    parser.add_argument("--width", type=int, default=MODEL["width"], help="FNO2d channels")
    args = parser.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    print(f"threads {torch.get_num_threads()}, {machine_state()}")
    path = work / "mcwilliams.h5"
    if not path.exists():
        small = [
            "frame_interval=0.1",
            "n_frames=17",
            "sim_resolution=64",
            "resolution=32",
            f"n_trajectories={args.trajectories}",
            f"batch_size={args.trajectories}",
        ]
        generate(apply_overrides(get_preset("mcwilliams-re1000"), small), path, progress=False)
    flow = read_flow(path)
    dt, D = flow.problem.dt, args.max_lead
    mode = args.lead_sampling
    name = "all2all" if mode == "pairs" else f"all2all-{mode}"
    name += f"{args.lead_power:g}" if mode == "power" else ""
    res = "lead" if args.residual_lead else "state" if args.residual else ""
    tail = {"": "", "state": "-residual", "lead": "-residual-lead"}[res]
    tail += f"-seed{args.seed}" if args.seed else ""
    tail += f"-w{args.width}" if args.width != MODEL["width"] else ""
    data, seed, width = str(path.resolve()), args.seed, args.width
    all2all, test = run(
        data, work / (name + tail), D * dt, args.epochs, mode, args.lead_power, res, seed, width
    )
    onestep, _ = run(data, work / ("onestep" + tail), dt, args.epochs, "pairs", 2, res, seed, width)
    frames = flow.frames[test]  # (N, T, n, n), the runs' test trajectories
    grid = flow.equation().grid
    print(f"{'lead':>6s} {'all2all':>9s} {'one-step':>9s} {'ratio':>6s}")
    better = 0
    for d in range(1, D + 1):
        x = frames[:, : frames.shape[1] - d].reshape(-1, 1, *frames.shape[-2:])
        y = frames[:, d:].reshape(-1, 1, *frames.shape[-2:])
        with torch.no_grad():
            direct = all2all(x, lead_time=d * dt)
            chained = x
            for _ in range(d):
                chained = onestep(chained, lead_time=dt)
        e_a = float(relative_error(direct, y, grid, 0.0).mean())
        e_o = float(relative_error(chained, y, grid, 0.0).mean())
        better += e_a < e_o
        print(f"{d * dt:6.2f} {e_a:9.4f} {e_o:9.4f} {e_o / e_a:6.2f}")
    verdict = "met" if better == D else "NOT met"
    print(f"all2all lower at {better} of {D} lead times (target: every one: {verdict})")


if __name__ == "__main__":
    main()
