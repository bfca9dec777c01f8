"""Issue 13's targets for a hybrid run: is it on the Pareto front against our own solver?

Runs :func:`spectral_refiner.evaluation.compare_hybrid` (the ``compare-hybrid`` command: plain
solver at n, 2n, 4n with the 2/3 rule and keeping every stored mode, Smagorinsky and Leith tuned
a posteriori on the training file, dynamic Smagorinsky, the hybrid(s); all from the first frame
of the held-out trajectories) and prints, per hybrid, the target ratios:

* correlation-0.95 time over the 2n solver's (target >= 1) and the 4n solver's (aim >= 1);
* wall time per unit of simulated time over the 2n solver's (target <= 0.5) and 4n's (aim <= 0.2);
* stability over the horizon (target: ten times the longest unroll trained on, no blow-up);
* energy-spectrum error per octave band at the horizon, up to the n² grid's 2/3 band (target
  <= 10 % in every band, below the plain n solver's and the best closure's).

One thread; the methods' timing rounds are interleaved in this process (medians): on a busy
machine, read the ratios. Example (Kolmogorov, DNS 256² stored at 64²; the horizon of 100
frames is 2 time units, 12.5 times an 8-frame unroll):

    OMP_NUM_THREADS=1 python -m benchmarks.hybrid_pareto --run runs/kolmogorov-best \\
        --data kdns256-test.h5 --tune-data kdns256-train.h5
"""

from __future__ import annotations

import argparse

import torch
import yaml

import benchmarks  # noqa: F401  (passive OpenMP waiting)
from benchmarks.machine import machine_state
from spectral_refiner.evaluation import compare_hybrid, format_hybrid_comparison
from spectral_refiner.training import RunDir


def _r(value: float | None) -> str:
    """A ratio; ``n/a`` where a correlation time is beyond the horizon or a side is missing."""
    return "n/a" if value is None else f"{value:.3g}"


def _bands(values: list[float]) -> str:
    return " ".join(f"{v:.3f}" for v in values)


def _trained_unroll(run: str) -> int:
    """The longest unroll (data.t_out) the run was trained on, from its config."""
    config = yaml.safe_load(RunDir.existing(run).config.read_text()) or {}
    return int(config.get("data", {}).get("t_out", 1))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", action="append", required=True, help="hybrid run (repeatable)")
    p.add_argument("--data", required=True, help="held-out filtered-DNS test file")
    p.add_argument("--tune-data", help="training file for the closure coefficients")
    p.add_argument("--frames", type=int, help="horizon in frames (default: all)")
    p.add_argument("--limit", type=int, default=4, help="test trajectories (default 4)")
    p.add_argument("--multiples", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--tune-frames", type=int, default=10, help="frames per tuning rollout")
    p.add_argument("--timing-frames", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    print(f"1 thread, {machine_state()} before the run")
    r = compare_hybrid(
        args.run,
        args.data,
        tune_data=args.tune_data,
        multiples=tuple(args.multiples),
        frames=args.frames,
        limit=args.limit,
        tune_frames=args.tune_frames,
        timing_frames=args.timing_frames,
        repeats=args.repeats,
        progress=True,
    )
    print(format_hybrid_comparison(r) + f"\n{machine_state()} after the run")
    print("baselines: " + "; ".join(f"{k} = {v}" for k, v in r["baselines"].items()))
    for run, (name, row) in zip(args.run, r["targets"].items(), strict=True):
        unroll = _trained_unroll(run)
        print(f"\n{name}: trained unroll {unroll} frames; horizon = {r['frames'] / unroll:.3g}x it")
        print(
            f"  t(0.95) hybrid / 2n solver   {_r(row.get('t95_vs_2n'))}   (target >= 1; "
            f"hybrid's at least the 2n solver's: {row.get('t95_at_least_2n')})"
        )
        print(f"  wall time hybrid / 2n solver {_r(row.get('cost_vs_2n'))}   (target <= 0.5)")
        print(
            f"  t(0.95) hybrid / 4n solver   {_r(row.get('t95_vs_4n'))}   (aim >= 1; "
            f"at least: {row.get('t95_at_least_4n')})"
        )
        print(f"  wall time hybrid / 4n solver {_r(row.get('cost_vs_4n'))}   (aim <= 0.2)")
        print(f"  stable over the horizon      {row['stable']}")
        print(f"  band errors hybrid           {_bands(row['band_errors'])}   (target <= 0.1)")
        for key in ("plain", "closure"):
            if f"band_errors_{key}" in row:
                bands = _bands(row[f"band_errors_{key}"])
                print(f"  band errors {key:17s}{bands}   ({row[f'{key}_method']})")
    print("\nverdict:")
    for line in r["verdict"]:
        print(f"- {line}")


if __name__ == "__main__":
    main()
