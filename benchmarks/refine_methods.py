"""Refinement objectives compared at equal budgets: the Navier–Stokes residual itself, and its
Oseen linearisation (the advecting velocity frozen at the unrefined prediction).

With the velocity ``u0`` frozen, the residual ``∂tω + u0·∇ω - νΔω + μω - f`` is affine in the
head's output, so its square is a convex quadratic; it is minimised by the same preconditioned
batched L-BFGS (on a quadratic, a direct solver's answer after few iterations). The nonlinear
residual is what the library refines with. Both are run on the same instances with 25, 50 and
100 evaluations; the script prints the true relative L2 error, η (of the true equation) and
the seconds of each, so the more accurate per second can be kept.

    python -m benchmarks.refine_methods --workdir DIR   # DIR from benchmarks.refinement
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from spectral_refiner.data import read_flow
from spectral_refiner.physics import NavierStokes2D, Residual, prediction_estimate, resample
from spectral_refiner.physics.residual import prediction_trajectory
from spectral_refiner.refine import refine
from spectral_refiner.threads import pin_threads
from spectral_refiner.training import RunDir, relative_error


class FrozenVelocity(NavierStokes2D):
    """The Oseen equation: advection by fixed velocity fields, one per (instance, frame) in
    the order the residual flattens a batch of trajectories."""

    def __init__(self, equation: NavierStokes2D, frames: torch.Tensor) -> None:
        grid = equation.grid
        forcing = None if equation.forcing_hat is None else grid.irfft(equation.forcing_hat)
        super().__init__(grid, equation.viscosity, equation.drag, forcing)
        self.frames = frames.flatten(0, 1)  # (B T, n, n) vorticity whose velocity advects
        self.u0, self.v0 = grid.velocity(grid.rfft(self.frames))

    def on_grid(self, n: int) -> FrozenVelocity:
        base = super().on_grid(n)
        return FrozenVelocity(base, resample(self.frames, n)[None])

    def explicit_terms(self, w_hat: torch.Tensor) -> torch.Tensor:
        grid = self.grid
        wx = grid.irfft(grid.derivative(w_hat, (1, 0)))
        wy = grid.irfft(grid.derivative(w_hat, (0, 1)))
        out = -grid.rfft(self.u0 * wx + self.v0 * wy) * grid.dealias
        return out if self.forcing_hat is None else out + self.forcing_hat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="a benchmarks.refinement --workdir")
    parser.add_argument("--instances", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    pin_threads(args.threads)
    work = Path(args.workdir)
    model, _ = RunDir(work / "run").load_model()
    flow = read_flow(work / "test256.h5")
    eq = flow.equation().on_grid(64)
    w = resample(flow.frames[: args.instances, :20], 64)
    w_in, truth = w[:, :10], w[:, 10:]
    dt = flow.dt
    with torch.no_grad():
        initial = model(w_in)
    oseen = FrozenVelocity(eq, prediction_trajectory(w_in, initial))
    start = relative_error(initial, truth, eq.grid).numpy()
    print(
        f"{len(start)} instances, unrefined median rel L2 {np.median(start):.4f}, "
        f"{torch.get_num_threads()} threads"
    )
    print(f"{'objective':12s}{'evals':>7s}{'rel L2':>10s}{'η':>10s}{'s/inst':>9s}")
    for evals in (25, 50, 100):
        for name, objective in (("residual", eq), ("Oseen", oseen)):
            result = refine(model, w_in, Residual(objective, dt), max_evals=evals)
            err = relative_error(result.prediction, truth, eq.grid).numpy()
            eta = prediction_estimate(w_in, result.prediction, eq, dt).numpy()
            print(
                f"{name:12s}{evals:7d}{np.median(err):10.4f}{np.median(eta):10.4f}"
                f"{result.seconds / len(err):9.2f}"
            )


if __name__ == "__main__":
    main()
