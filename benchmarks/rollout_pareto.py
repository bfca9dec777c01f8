"""The joint Pareto plot of issue 17: correlation time against cost for trained runs (e.g.
PDE-Refiner, its MSE backbone, SFNO with and without Spectral-Refiner) and the solver at
several grids, on the same held-out rollouts
(:func:`~spectral_refiner.evaluation.compare_rollouts`).

Printed: the thread count and load, the table (wall seconds per trajectory per unit simulated
time, lead times until the mean correlation drops below 0.95 and 0.8, mean relative L2 over the
horizon) and the verdict at each threshold; the plot, table and numbers go to ``--out``.

Run from the repository root (one thread; timings on a shared machine vary)::

    OMP_NUM_THREADS=1 python -m benchmarks.rollout_pareto --data /work/data/kdns256-long-test.h5 \\
        --run RUN_PDE_REFINER --run RUN_MSE --run RUN_SFNO --resolutions 32 64 128 --out DIR
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from spectral_refiner.evaluation import (
    compare_rollouts,
    format_rollout_table,
    write_rollout_pareto,
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", action="append", required=True, help="a run (repeatable)")
    p.add_argument("--data", required=True, help="held-out trajectories")
    p.add_argument("--resolutions", type=int, nargs="+", default=[32, 64, 128])
    p.add_argument("--steps", type=int, default=5, help="refinement evaluations per window")
    p.add_argument("--limit", type=int, default=4, help="trajectories")
    p.add_argument("--repeats", type=int, default=2, help="interleaved timing rounds at least")
    p.add_argument("--max-repeats", type=int, default=3)
    p.add_argument("--out", default="/tmp/rollout-pareto")
    args = p.parse_args()
    torch.set_num_threads(1)
    print(f"threads: {torch.get_num_threads()}, load {os.getloadavg()[0]:.1f} on {os.cpu_count()}")
    started = time.perf_counter()
    results = compare_rollouts(
        args.run,
        args.data,
        resolutions=args.resolutions,
        limit=args.limit,
        steps=args.steps,
        repeats=args.repeats,
        max_repeats=args.max_repeats,
    )
    print(format_rollout_table(results))
    print(f"({time.perf_counter() - started:.0f} s; load {os.getloadavg()[0]:.1f})")
    for path in write_rollout_pareto(results, Path(args.out)):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
