"""Solver step throughput beside torch-cfd 0.2.6 and the FFT-only bound.

Both solvers integrate the identical problem: the same dealiased initial vorticity, the same
viscosity, drag and forcing, float32, the Carpenter–Kennedy low-storage RK4 with Crank–Nicolson
on the viscous/drag term, a fixed step ``dt``. One timing sample is ``--steps`` steps.

* ours: :func:`spectral_refiner.physics.simulate` with fixed ``dt`` over ``steps * dt``, i.e.
  what users run, including its rfft of the initial field, its per-chunk CFL/finiteness check
  and the inverse transform of the returned snapshot;
* torch-cfd: ``NavierStokes2DSpectral.forward(w_hat, dt, steps)`` built and run under the
  float32 default dtype (its spectral state in, its spectral state out: no transforms counted);
* transforms: exactly the transforms ``--steps`` steps of ours make, in a loop timed as a
  total like the solvers: per stage (five per step) the pruned inverse along x (``ifft`` of
  ``(B, 2, n//3+1, n)``), the inverse along y (``irfft`` of ``(B, 2, n, n//2+1)``), the
  forward along y (``rfft`` of ``(B, 2, n, n)``) and along x (``fft`` of
  ``(B, 2, n//3+1, n)``): the 4 real 2-D transforms of :meth:`NavierStokes2D.explicit_terms`
  (2 fields each way), i.e. 20 per step (torch-cfd's step makes 25 full ones), made on the
  blocks of :meth:`NavierStokes2D.block_sizes` that ours makes them on.

Within each repeat the three samples are interleaved (in rotating order); the table reports,
per thread count (``--threads``, the count printed on every row), medians over repeats of
field-steps per second (``batch * steps / seconds``), the speed-up over torch-cfd (target
>= 2.5 unforced) and ``ours / transforms`` (our step's time over its transforms' time; target
<= 1.5). Unforced (McWilliams) and forced (Kolmogorov) rows are separate: torch-cfd
re-evaluates its velocity forcing every stage, which favours us in the forced case only.

Run from the repository root::

    python -m benchmarks.solver_throughput [--resolution 256] [--batch 1 8] [--threads 1 2]
        [--clock cpu]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from benchmarks.machine import machine_state
from benchmarks.peers import build_torch_cfd, default_dtype
from spectral_refiner.physics import (
    NavierStokes2D,
    SpectralGrid,
    fno_gaussian_random_field,
    make_forcing,
    mcwilliams,
    simulate,
)
from spectral_refiner.threads import pin_threads

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


#: Clocks of ``--clock``: wall time, or the CPU time of this process (all its threads), which
#: leaves out the time other processes hold the core on a busy machine.
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = CLOCKS["wall"]


def _timed(fn) -> float:
    start = _clock()
    fn()
    return _clock() - start


def transforms_of_steps(n: int, sizes: list[int], steps: int):
    """A loop of exactly the transforms ``steps`` RK4-CN steps of ours make (float32), on the
    blocks of ``sizes`` fields that :meth:`NavierStokes2D.explicit_terms` evaluates."""
    cols = n // 3 + 1
    blocks = [
        (
            torch.randn(b, 2, cols, n, dtype=torch.complex64),
            torch.randn(b, 2, n, n // 2 + 1, dtype=torch.complex64),
            torch.randn(b, 2, n, n),
        )
        for b in sizes
    ]

    def run() -> None:
        for _ in range(5 * steps):
            for along_x, along_y, fields in blocks:
                torch.fft.ifft(along_x, norm="forward")
                torch.fft.irfft(along_y, n=n, norm="forward")
                torch.fft.rfft(fields, norm="forward")
                torch.fft.fft(along_x, norm="forward")

    return run


def run_case(n: int, batch: int, forcing: str, nu: float, dt: float, steps: int, repeats: int):
    """Median seconds per step of (ours, torch-cfd, transforms) and the float32 discrepancy."""
    length, drag, ic = PROBLEMS[forcing]
    grid = SpectralGrid(n, length, torch.float32)
    w0 = _initial_field(grid, ic, batch)
    equation = NavierStokes2D(grid, nu, drag, make_forcing(forcing, grid))
    with default_dtype(torch.float32):
        theirs = build_torch_cfd(n, length, nu, drag, forcing)
    w0_hat_theirs = torch.fft.rfft2(w0)
    t_end = steps * dt

    def ours():
        return simulate(equation, w0, [t_end], dt=dt)

    def torch_cfd():
        with default_dtype(torch.float32):
            return theirs(w0_hat_theirs, dt, steps=steps)[0]

    transforms = transforms_of_steps(n, equation.block_sizes(batch), steps)

    # Warm-up, and the check that both sides solve the same problem.
    w_ours = ours()[:, -1]
    w_theirs = torch.fft.irfft2(torch_cfd(), s=(n, n))
    transforms()
    discrepancy = float((w_ours - w_theirs).norm() / w_theirs.norm())

    samples = {"ours": [], "torch-cfd": [], "transforms": []}
    runners = [
        ("ours", lambda: _timed(ours) / steps),
        ("torch-cfd", lambda: _timed(torch_cfd) / steps),
        ("transforms", lambda: _timed(transforms) / steps),
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
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="cpu: CPU seconds of the process, robust to other processes taking the core",
    )
    args = parser.parse_args(argv)
    global _clock
    _clock = CLOCKS[args.clock]
    print(
        f"torch {torch.__version__}, float32, {args.resolution}^2, RK4-CN, dt={args.dt:g}, "
        f"nu={args.viscosity:g}, {args.steps} steps/sample, median of {args.repeats} "
        f"interleaved repeats, {args.clock} clock, {machine_state()}\n"
        "ours = simulate(fixed dt); f-s/s = field-steps per second; vs torch-cfd = their time / "
        "ours (target >= 2.5 unforced); ours/FFTs = our time / the time of the 20 transforms "
        "our steps make, looped like the solvers (target <= 1.5)"
    )
    header = (
        f"{'threads':>7} {'forcing':<11}{'batch':>6}{'ours f-s/s':>12}{'torch-cfd':>12}"
        f"{'FFTs only':>12}{'vs torch-cfd':>14}{'ours/FFTs':>11}{'rel diff':>10}"
    )
    print(header)
    print("-" * len(header))
    with torch.no_grad():
        for threads in args.threads:
            pin_threads(threads)
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
                        f"{torch.get_num_threads():>7} {forcing:<11}{batch:>6}"
                        f"{batch / t['ours']:>12.1f}{batch / t['torch-cfd']:>12.1f}"
                        f"{batch / t['transforms']:>12.1f}{t['torch-cfd'] / t['ours']:>13.2f}x"
                        f"{t['ours'] / t['transforms']:>11.2f}{diff:>10.1e}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
