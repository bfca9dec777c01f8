"""Sample efficiency of pretraining, end to end at a reduced scale: the shipped config
``fno2d-pretrain-mixture`` (FNO ν = 1e-3 and 1e-4, McWilliams, shear layer, random vortices),
then ``efficiency`` on held-out Kolmogorov flow. Prints the test errors, EG and AG at N = 8
against the issue's targets (EG ≥ 4, AG ≥ 1.5) and the thread count; the files and runs stay
in ``--workdir`` (a rerun reuses them).

    python -m benchmarks.efficiency [--workdir bench-efficiency] [--trajectories 24]
        [--epochs 20] [--pretrain-epochs 20] [--sizes 2 4 8 16] [--trunk-lr 1]
        [--set KEY=VALUE ...]

``--trunk-lr F`` fine-tunes the pretrained trunk at F times the learning rate (results in
``efficiency-lrF``); ``--set`` overrides the config of every run, the pretraining's included.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch

from benchmarks.machine import machine_state
from spectral_refiner.config import apply_config_overrides, load_config
from spectral_refiner.data import apply_overrides, generate, get_preset
from spectral_refiner.evaluation import efficiency
from spectral_refiner.training import RunDir, train

FAMILIES = (
    "fno-nu1e-3",
    "fno-nu1e-4",
    "mcwilliams-re1000",
    "shear-layer-re1000",
    "vortices-re1000",
)


def make_file(preset: str, path: Path, trajectories: int, extra: list[str]) -> str:
    if not path.exists():
        small = [
            "frame_interval=0.25",
            "n_frames=17",
            "sim_resolution=64",
            "resolution=32",
            f"n_trajectories={trajectories}",
            f"batch_size={trajectories}",
            *extra,
        ]
        generate(apply_overrides(get_preset(preset), small), path, progress=False)
    return str(path.resolve())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="bench-efficiency")
    parser.add_argument("--trajectories", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--pretrain-epochs", type=int, default=20)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 4, 8, 16])
    parser.add_argument("--trunk-lr", type=float, default=1.0)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    print(f"threads {torch.get_num_threads()}, {machine_state()}")
    start = time.perf_counter()
    files = [make_file(p, work / f"pre-{p}.h5", args.trajectories, []) for p in FAMILIES]
    down = make_file(
        "kolmogorov-re1000", work / "kolmogorov.h5", args.trajectories, ["warmup_time=10"]
    )
    print(f"data: {time.perf_counter() - start:.0f} s")
    config = apply_config_overrides(
        load_config("fno2d-pretrain-mixture"),
        [f"optim.epochs={args.epochs}", "device=cpu", *args.set],
    )
    pre = work / "pretrain"
    if not RunDir(pre).summary.is_file():
        clock = time.perf_counter()
        resume = RunDir(pre).latest.is_file()
        pretrain = dataclasses.replace(
            config,
            data=dataclasses.replace(config.data, files=files),
            optim=dataclasses.replace(config.optim, epochs=args.pretrain_epochs),
        )
        summary = train(pretrain, str(pre), resume=resume, progress=False)
        print(
            f"pretraining: {time.perf_counter() - clock:.0f} s, test rel L2 "
            f"{summary['test']['rel_l2']:.4f}"
        )
    clock = time.perf_counter()
    # more held-out Kolmogorov trajectories than the pretraining files keep, each tested at
    # several windows: the error of a size is a median over 6 x 4 windows, not 2
    down_config = apply_config_overrides(config, ["data.test_split=6", "data.eval_windows=4"])
    folder = "efficiency" if args.trunk_lr == 1 else f"efficiency-lr{args.trunk_lr:g}"
    result = efficiency(
        down_config, down, str(pre), str(work / folder), args.sizes, None, False, args.trunk_lr
    )
    print(f"efficiency runs: {time.perf_counter() - clock:.0f} s")
    print("test error: median relative L1 over the held-out windows (Poseidon's)")
    print(f"{'N':>4s} {'scratch':>10s} {'pretrained':>11s} {'ratio':>7s}")
    for n in result["sizes"]:
        row = result["errors"][str(n)]
        ratio = row["scratch"] / row["pretrained"]
        print(f"{n:4d} {row['scratch']:10.4f} {row['pretrained']:11.4f} {ratio:7.2f}")
    met = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    for label, key in (("median rel L1", "gains"), ("mean rel L2", "gains_rel_l2")):
        g = result[key]
        measured = g["EG_measured"] or 0.0
        print(
            f"{label}, N = {g['reference']}: EG {g['EG']:.2f} from the fits (target >= 4: "
            f"{met(g['EG'] >= 4)}), measured EG {measured:.2f} ({met(measured >= 4)}), "
            f"AG {g['AG']:.2f} (target >= 1.5: {met(g['AG'] >= 1.5)})"
        )


if __name__ == "__main__":
    main()
