"""Cost of the classical closures: one evaluation of the explicit terms with and without.

What is measured: the median wall time of ``NavierStokes2D.explicit_terms`` (advection, plus
the closure's term) on a batch of McWilliams fields, for no closure, Smagorinsky, Leith and
dynamic Smagorinsky, interleaved in one process on one thread, after a warm-up; printed
with the ratio to no closure. On a shared machine the absolute times vary; the ratios less.

    OMP_NUM_THREADS=1 python -m benchmarks.closure_cost --n 64 --batch 8
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from spectral_refiner.physics import NavierStokes2D, SpectralGrid, make_closure, mcwilliams


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeats", type=int, default=15)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    g = SpectralGrid(args.n, 2 * math.pi, torch.float32)
    w_hat = g.rfft(mcwilliams(g, 0, range(args.batch)))
    equations = {"none": NavierStokes2D(g, 1e-3)}
    for name in ("smagorinsky", "leith", "dynamic-smagorinsky"):
        equations[name] = NavierStokes2D(g, 1e-3, closure=make_closure({"name": name}, g))
    times: dict[str, list[float]] = {k: [] for k in equations}
    with torch.inference_mode():
        for eq in equations.values():
            eq.explicit_terms(w_hat)
        for _ in range(args.repeats):
            for name, eq in equations.items():
                start = time.perf_counter()
                for _ in range(20):
                    eq.explicit_terms(w_hat)
                times[name].append((time.perf_counter() - start) / 20)
    base = statistics.median(times["none"])
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"{name:20s} {median * 1e3:8.3f} ms per explicit_terms "
            f"(batch {args.batch}, {args.n}^2, float32), ratio {median / base:5.2f}"
        )


if __name__ == "__main__":
    main()
