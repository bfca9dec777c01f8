"""A trained hybrid against the plain coarse solver it corrects, on held-out DNS trajectories.

What is measured (one thread; the plain solver is the run's hybrid with gain 0, bit for bit
the coarse solver):

* the error the run is trained on, the relative L2 error of a window of ``K`` frames (``t_out``
  or ``--window``; mean over windows starting every ``K`` frames of every test trajectory),
  hybrid / plain;
* the long-horizon check (:func:`spectral_refiner.evaluation.hybrid_horizon.long_horizon`):
  10 × K frames from each trajectory's first frame: blow-up, the times the vorticity
  correlation drops below 0.95 and 0.8, the energy-spectrum error per octave band up to the
  2/3 band;
* wall time per unit of simulated time, hybrid / plain, interleaved, median of repeats (on a
  busy machine compare the ratio, not the times). The plain solver timed is the coarse
  equation's own IMEX step (:class:`~spectral_refiner.evaluation.closure_tuning.FixedStep`,
  as ``compare-hybrid`` times it), not the gain-0 hybrid, which gives the same fields but
  still evaluates its corrector.

    OMP_NUM_THREADS=1 python -m benchmarks.hybrid --run runs/kolmogorov-best \
        --data /work/data/kdns256-test.h5
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from spectral_refiner.data import read_flow
from spectral_refiner.evaluation.closure_tuning import FixedStep
from spectral_refiner.evaluation.hybrid_horizon import long_horizon, plain_solver
from spectral_refiner.hybrid import rollout
from spectral_refiner.metrics import relative_error
from spectral_refiner.problem import Problem, check_compatible
from spectral_refiner.training import RunDir


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True)
    p.add_argument("--data", required=True, help="held-out filtered-DNS trajectories")
    p.add_argument("--horizon", type=int, default=None, help="frames (default 10 x t_out)")
    p.add_argument("--window", type=int, default=None, help="K frames (default t_out)")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    print(f"threads 1, load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    model, _ = RunDir(args.run).load_model()
    flow = read_flow(args.data, model.hybrid.grid.n)
    check_compatible(flow.problem, Problem.from_dict(model.problem), source=args.data)
    result = long_horizon(model, flow.frames, args.horizon)
    plain = plain_solver(model)

    k, frames = args.window or model.t_out, flow.frames
    model.t_out = plain.t_out = k
    starts = range(0, frames.shape[1] - k, k)
    w0 = torch.cat([frames[:, s : s + 1] for s in starts])
    target = torch.cat([frames[:, s + 1 : s + 1 + k] for s in starts])
    with torch.no_grad():
        errors = {
            name: float(relative_error(m(w0), target, model.hybrid.grid).mean())
            for name, m in (("hybrid", model), ("plain", plain))
        }
    print(
        f"window error over K = {k} frames ({len(w0)} windows): hybrid {errors['hybrid']:.4f}, "
        f"plain {errors['plain']:.4f}, ratio {errors['hybrid'] / errors['plain']:.3f}"
    )
    h = result["horizon"]
    print(f"long horizon: {h} frames = {result['time'][-1]:.3g} time units")
    for name in ("hybrid", "plain"):
        r = result[name]
        if r["blew_up"]:
            print(f"  {name}: blew up: {r['blew_up']}")
            continue
        bands = ", ".join("-" if e is None else f"{e:.3f}" for e in r["band_errors"])
        print(
            f"  {name}: final rel L2 {r['rel_l2'][-1]:.3f}, correlation < 0.95 at "
            f"t = {r['time_below_0.95']:.3g}, < 0.8 at t = {r['time_below_0.8']:.3g}; "
            f"spectrum error per octave band [1,2), [2,4), ...: {bands}"
        )

    w, grid = frames[:, 0], model.hybrid.grid
    coarse = FixedStep(Problem.from_dict(model.problem).equation(grid.n, grid.device, grid.dtype))
    times: dict[str, list[float]] = {"hybrid": [], "plain": []}
    span = h * model.steps_per_frame * model.dt
    with torch.no_grad():
        for _ in range(args.repeats):
            for name, solver in (("hybrid", model.hybrid), ("plain", coarse)):
                start = time.perf_counter()
                rollout(solver, w, h, model.steps_per_frame, model.dt)
                times[name].append((time.perf_counter() - start) / span / len(w))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"wall time per unit simulated time per trajectory: hybrid {med['hybrid']:.3g} s, "
        f"plain {med['plain']:.3g} s, ratio {med['hybrid'] / med['plain']:.2f} "
        f"(load {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
