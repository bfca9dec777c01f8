"""Where a second thread starts to pay: solver step time at one and at two threads, by work size.

For each resolution and batch (work = batch x n² grid points), ``--steps`` fixed RK4-CN steps
(float32, McWilliams fields) are timed at 1 and at ``--threads`` threads, alternately, in one
process with the OpenMP wait policy in effect (passive unless ``OMP_WAIT_POLICY`` is set: the
``benchmarks`` package imports ``spectral_refiner`` first; printed); the table gives the
median seconds per step and the speed-up of the extra threads. The smallest work with a
speed-up above 1 is the crossover behind :data:`spectral_refiner.threads.SMALL_WORK`. Run on
an idle machine from the repository root::

    python -m benchmarks.thread_crossover [--resolution 64 128 256] [--batch 1 2 8]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import torch

from benchmarks.machine import machine_state
from spectral_refiner.physics import NavierStokes2D, SpectralGrid, mcwilliams
from spectral_refiner.physics.time_stepping import imex_stepper


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolution", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 2, 8])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print(
        f"1 vs {args.threads} threads (OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}), "
        f"RK4-CN float32, {args.steps} steps per "
        f"sample, medians of {args.repeats} alternating samples; {machine_state()}"
    )
    print(
        f"{'n':>5}{'batch':>6}{'points':>9}{'1 thread ms':>13}{'N threads ms':>14}{'speed-up':>10}"
    )
    for n in args.resolution:
        grid = SpectralGrid(n, 2 * math.pi)
        equation = NavierStokes2D(grid, 1e-3)
        step = imex_stepper(equation, 1e-3)
        for batch in args.batch:
            w_hat = grid.rfft(mcwilliams(grid, 0, range(batch)))
            w_hat = w_hat.transpose(-1, -2).contiguous().transpose(-1, -2)
            samples: dict[int, list[float]] = {1: [], args.threads: []}
            with torch.inference_mode():
                for r in range(args.repeats + 1):  # the first round warms up
                    for count in samples:
                        torch.set_num_threads(count)
                        start = time.perf_counter()
                        for _ in range(args.steps):
                            step(w_hat)
                        if r:
                            samples[count].append((time.perf_counter() - start) / args.steps)
            one, many = (statistics.median(samples[c]) for c in samples)
            print(
                f"{n:>5}{batch:>6}{batch * n * n:>9}{one * 1e3:>13.2f}{many * 1e3:>14.2f}"
                f"{one / many:>10.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
