"""Cost of a learned closure in the residual: one residual evaluation with and without it.

What is measured: the median wall time of ``ns_residual`` on windows of held-out DNS frames
(float64, the residual's own 3n/2 grid) for the plain equation and for the equation with the
learned closure ``--closure`` (its term on every frame), and of the closure's term alone
(``term_hat`` on the padded grid; ``window_term_hat`` of the whole window for a closure with
lags or a memory, which needs windows longer than its history: ``--frames``), interleaved
in one process on one thread after a warm-up; printed with the ratios to the plain residual.
On a shared machine the absolute times vary; the ratios less.

    OMP_NUM_THREADS=1 python -m benchmarks.closure_residual_cost \\
        --data /work/data/kdns256-test.h5 --closure /work/data/k.closure.pt
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time

import torch

import spectral_refiner.hybrid  # noqa: F401  (registers the learned closure)
from spectral_refiner.data import read_info, read_vorticity
from spectral_refiner.physics import ns_residual


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="DNS file stored at the closure's resolution")
    p.add_argument("--closure", required=True, help="a closure file (train-closure)")
    p.add_argument("--windows", type=int, default=4, help="windows per batch")
    p.add_argument("--frames", type=int, default=4, help="frames per window (default 4)")
    p.add_argument("--repeats", type=int, default=15)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    info = read_info(args.data)
    frames = torch.from_numpy(read_vorticity(args.data)).double()
    size = args.frames
    windows = frames[:, : size * (frames.shape[1] // size)].reshape(-1, size, *frames.shape[-2:])
    batch = windows[: args.windows]
    spec = {"name": "learned", "path": args.closure}
    closed = dataclasses.replace(info.problem, closure=spec).equation(dtype=torch.float64)
    plain = info.problem.equation(dtype=torch.float64)
    grid = closed.grid.with_resolution(2 * ((3 * info.resolution + 3) // 4))
    term = closed.closure.on_grid(grid.n)
    w_hat = closed.grid.resample_hat(closed.grid.rfft(batch), grid.n)
    calls = {
        "residual": lambda: ns_residual(batch, plain, info.problem.dt),
        "closed residual": lambda: ns_residual(batch, closed, info.problem.dt),
        "closure term": (
            (lambda: term.window_term_hat(w_hat, info.problem.dt))
            if getattr(term, "history", 0)
            else (lambda: term.term_hat(w_hat))
        ),
    }
    times: dict[str, list[float]] = {k: [] for k in calls}
    with torch.inference_mode():
        for call in calls.values():
            call()
        for _ in range(args.repeats):
            for name, call in calls.items():
                start = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - start)
    print(
        f"{args.windows} windows of {size} frames at {info.resolution}^2, float64, torch threads "
        f"{torch.get_num_threads()}, load {os.getloadavg()[0]:.1f}"
    )
    base = statistics.median(times["residual"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:16s} {median * 1e3:8.2f} ms   ratio to the residual {median / base:5.2f}")


if __name__ == "__main__":
    main()
