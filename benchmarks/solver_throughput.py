"""Solver step throughput beside torch-cfd 0.2.6 and the FFT-only bound.

Both solvers integrate the identical problem: the same dealiased initial vorticity, the same
viscosity, drag and forcing, float32, the Carpenter–Kennedy low-storage RK4 with Crank–Nicolson
on the viscous/drag term, a fixed step ``dt``. One timing sample is ``--steps`` steps.

* ours: :func:`spectral_refiner.physics.simulate` with fixed ``dt`` over ``steps * dt``, i.e.
  what users run, including its rfft of the initial field, its per-chunk CFL/finiteness check
  and the inverse transform of the returned snapshot;
* torch-cfd: ``NavierStokes2DSpectral.forward(w_hat, dt, steps)`` built and run under the
  float32 default dtype (its spectral state in, its spectral state out: no transforms counted);
* FFT bound: the 25 real transforms one step needs, each measured alone: one ``irfft2`` of
  ``(B, n, n//2+1)`` complex64 timed in a loop (x 20, the four fields of five stages) plus one
  ``rfft2`` of ``(B, n, n)`` float32 (x 5, the advection product of five stages).

Within each repeat the three samples are interleaved (in rotating order); the table reports
medians over repeats of field-steps per second (``batch * steps / seconds``), the speed-up
over torch-cfd and ``bound / ours`` (the FFT-bound time per step over ours: above 1 means our
step costs less than its 25 full transforms).

Run from the repository root::

    python -m benchmarks.solver_throughput [--resolution 256] [--batch 1 8] [--repeats 7]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from benchmarks.peers import build_torch_cfd, default_dtype
from spectral_refiner.physics import (
    NavierStokes2D,
    SpectralGrid,
    fno_gaussian_random_field,
    make_forcing,
    mcwilliams,
    simulate,
)

#: (box length, drag, initial condition) per forcing; ν comes from the command line.
PROBLEMS = {
    "none": (2 * math.pi, 0.0, "mcwilliams"),
    "kolmogorov": (2 * math.pi, 0.1, "mcwilliams"),
    "fno": (1.0, 0.0, "fno-grf"),
}


def _initial_field(grid: SpectralGrid, ic: str, batch: int) -> torch.Tensor:
    """Dealiased initial vorticity ``(batch, n, n)`` (seed 0, trajectories 0..batch-1)."""
    make = mcwilliams if ic == "mcwilliams" else fno_gaussian_random_field
    w0 = make(grid, 0, range(batch))
    return grid.irfft(grid.rfft(w0) * grid.dealias)


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _per_call(fn, calls: int) -> float:
    """Median wall time of one call of ``fn`` over ``calls`` calls."""
    return statistics.median(_timed(fn) for _ in range(calls))


def run_case(n: int, batch: int, forcing: str, nu: float, dt: float, steps: int, repeats: int):
    """Median seconds per step of (ours, torch-cfd, FFT bound) and the float32 discrepancy."""
    length, drag, ic = PROBLEMS[forcing]
    grid = SpectralGrid(n, length, torch.float32)
    w0 = _initial_field(grid, ic, batch)
    equation = NavierStokes2D(grid, nu, drag, make_forcing(forcing, grid))
    with default_dtype(torch.float32):
        theirs = build_torch_cfd(n, length, nu, drag, forcing)
    w0_hat_theirs = torch.fft.rfft2(w0)
    w_hat_c = torch.fft.rfft2(w0, norm="forward")
    t_end = steps * dt

    def ours():
        return simulate(equation, w0, [t_end], dt=dt)

    def torch_cfd():
        with default_dtype(torch.float32):
            return theirs(w0_hat_theirs, dt, steps=steps)[0]

    def fft_bound():
        inverse = _per_call(lambda: torch.fft.irfft2(w_hat_c, s=(n, n), norm="forward"), steps)
        forward = _per_call(lambda: torch.fft.rfft2(w0, norm="forward"), steps)
        return 20 * inverse + 5 * forward

    # Warm-up, and the check that both sides solve the same problem.
    w_ours = ours()[:, -1]
    w_theirs = torch.fft.irfft2(torch_cfd(), s=(n, n))
    fft_bound()
    discrepancy = float((w_ours - w_theirs).norm() / w_theirs.norm())

    samples = {"ours": [], "torch-cfd": [], "bound": []}
    runners = [
        ("ours", lambda: _timed(ours) / steps),
        ("torch-cfd", lambda: _timed(torch_cfd) / steps),
        ("bound", fft_bound),
    ]
    for r in range(repeats):
        for name, run in runners[r % 3 :] + runners[: r % 3]:
            samples[name].append(run())
    medians = {name: statistics.median(values) for name, values in samples.items()}
    return medians, discrepancy


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20, help="steps per timing sample")
    parser.add_argument(
        "--forcing",
        nargs="+",
        choices=sorted(PROBLEMS),
        default=["none", "kolmogorov"],
        help="none: McWilliams, 2π box; kolmogorov: k=4, drag 0.1, 2π box; fno: unit box, GRF",
    )
    parser.add_argument("--viscosity", type=float, default=1e-3)
    parser.add_argument("--dt", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, "
        f"{args.resolution}^2, RK4-CN, dt={args.dt:g}, nu={args.viscosity:g}, "
        f"{args.steps} steps/sample, median of {args.repeats} interleaved repeats\n"
        "ours = simulate(fixed dt); f-s/s = field-steps per second; vs torch-cfd = their time / "
        "ours (target >= 2.5); bound/ours = time of 20 irfft2 + 5 rfft2 / ours (target >= 0.75)"
    )
    header = (
        f"{'forcing':<11}{'batch':>6}{'ours f-s/s':>12}{'torch-cfd':>12}{'FFT bound':>12}"
        f"{'vs torch-cfd':>14}{'bound/ours':>12}{'rel diff':>10}"
    )
    print(header)
    print("-" * len(header))
    with torch.no_grad():
        for forcing in args.forcing:
            for batch in args.batch:
                t, diff = run_case(
                    args.resolution,
                    batch,
                    forcing,
                    args.viscosity,
                    args.dt,
                    args.steps,
                    args.repeats,
                )
                print(
                    f"{forcing:<11}{batch:>6}{batch / t['ours']:>12.1f}"
                    f"{batch / t['torch-cfd']:>12.1f}{batch / t['bound']:>12.1f}"
                    f"{t['torch-cfd'] / t['ours']:>13.2f}x{t['bound'] / t['ours']:>12.2f}"
                    f"{diff:>10.1e}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
