"""Issue 14's targets on filtered-DNS files: what a closure does to η, the floor, refinement
from the truth and the honest estimate (floor, error estimate) over a mix of error kinds.

What is measured
----------------
Instances: from each trajectory of each ``--data`` file (a DNS stored below its simulation's
resolution, e.g. ``kolmogorov-dns256``), ``--windows`` consecutive windows of ``--t-in`` input
and ``--t-out`` true frames. For every closure of the residual (``none``, each ``--closure``
spec, and with ``--oracle`` the exact subgrid term ``τ`` the file stores, added as a known
time-dependent term: the best any closure could do):

* ``eta(truth)``: median η of the true windows (target: with the learned closure ≥ 3× lower
  than without), and the median floor (η of the input frames); with the oracle, the floor of
  every other input frame over the floor (16 if what remains is the Δt⁴ time quadrature);
* ``3% / truth``: median estimate of the truth plus a 3% smooth error over the truth's
  estimate (target ≥ 2);
* ``moved``: refinement started from the exact truth (the predicted frames optimised directly
  by L-BFGS on ``‖R‖²``, ``--evals`` evaluations) stopped at the floor, and not stopped: the
  relative L2 distance it moves the truth (target ≤ 3%; 13% without closure at frames 0.05);
* ``effectivity``: error estimate over true relative L2 error on a mix of predictions: smooth,
  noisy and frame-alternating errors of 1/3/10%, time-jittered frames, frames lagged by one,
  the coarse solver (no closure, exact ν) and the coarse solver at 2ν from the last input,
  and the truth refined without stopping: fraction within [1/3, 3] (target ≥ 90%), median,
  and the median per kind;
* ``Spearman``: rank correlation of the error estimate (and of η) with the true error over
  the same mix (target ≥ 0.9).
* with ``--refined-evals``: every prediction of the mix but the refined truth refined
  (stopped at the floor), its error estimate :func:`refined_error` over its true error
  (within [1/3, 3], median, per kind; the same with each fraction ``c`` of
  :data:`FRACTIONS`, to choose ``c`` on training files), and Spearman before and after
  pooled.

Run from the repository root (single thread; the machine's load beside the figures)::

    OMP_NUM_THREADS=1 python -m benchmarks.closure_estimate --data /work/data/kdns256-test.h5 \\
        --closure smagorinsky dynamic learned:k.closure.pt --oracle
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import torch

import spectral_refiner.hybrid  # noqa: F401  (registers the learned closure)
from spectral_refiner.arguments import closure_spec
from spectral_refiner.data import read_flow, read_subgrid
from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.metrics import relative_error
from spectral_refiner.physics import (
    NavierStokes2D,
    Residual,
    SpectralGrid,
    floor_error,
    honest_estimate,
    moved_distance,
    prediction_trajectory,
    refined_error,
    resample,
    resolution_floor,
    simulate,
)
from spectral_refiner.refine.lbfgs import minimize

from .machine import machine_state

F64 = torch.float64
FRACTIONS = (0.0, 0.05, 0.1, 0.2, 0.25, 0.5)
"""The fractions ``c`` of :func:`refined_error` whose after-refinement effectivity is also
shown (to choose ``c`` on training files)."""


class StoredTerm:
    """The oracle closure: ``-τ̂`` of the stored frames as a known term (one field per frame
    of the batch the residual evaluates), on any grid (the :class:`Closure` protocol)."""

    def __init__(self, tau_hat: torch.Tensor, grid: SpectralGrid) -> None:
        self.tau_hat, self.grid = tau_hat, grid

    def term_hat(self, w_hat: torch.Tensor) -> torch.Tensor:
        return -self.tau_hat.reshape(w_hat.shape) * self.grid.dealias

    def on_grid(self, n: int) -> StoredTerm:
        return StoredTerm(self.grid.resample_hat(self.tau_hat, n), self.grid.with_resolution(n))


def _oracle(residual: Residual, tau: torch.Tensor) -> Residual:
    eq, grid = residual.equation, residual.grid
    closure = StoredTerm(grid.rfft(tau).flatten(0, 1), grid)
    closed = NavierStokes2D(grid, eq.viscosity, eq.drag, None, closure)
    closed.forcing_hat = eq.forcing_hat
    return Residual(closed, residual.dt, residual.alpha)


def columns(r_in: Residual, r_pred: Residual, w_in, pred) -> dict[str, torch.Tensor]:
    """The honest estimate's columns with separate residuals for inputs and prediction (the
    oracle's term is the truth's at each frame's time)."""
    floors = resolution_floor(r_in, w_in), floor_error(r_in, w_in)
    return honest_estimate(r_pred, w_in, pred, floors)


def refine_frames(r_pred: Residual, w_in, start, floor, evals: int, stop: bool):
    """The predicted frames optimised directly from ``start`` to minimise ``‖R‖²`` (scaled per
    wavenumber by the residual's diagonal curvature), stopped at the floor if ``stop``."""
    grid, dt = r_pred.grid, r_pred.dt
    k2 = grid.k2
    curvature = (2 / dt**2 + 4 * k2 + (r_pred.equation.viscosity * k2) ** 2) / (1 + k2)
    scale = curvature.rsqrt() * grid.dealias
    x0 = torch.zeros(*start.shape[:2], *k2.shape, 2, dtype=F64)

    def frames(x):
        return start + grid.irfft(torch.view_as_complex(x) * scale)

    base = r_pred.prediction_norm(w_in, start).square()

    def objective(x):
        _, norm, eta = r_pred.with_estimate(prediction_trajectory(w_in, frames(x)))
        return norm.square() / base, eta

    x, _ = minimize(
        objective,
        x0,
        max_evals=evals,
        done=(lambda x, eta: eta <= floor) if stop else None,
        check_every=1,
    )
    return frames(x).detach()


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def error_mix(problem, w_in, truth, full, start, t_in, refined) -> dict[str, torch.Tensor]:
    """Predictions of every error kind of the module docstring."""
    g = torch.Generator().manual_seed(0)
    n, t_out = truth.shape[-1], truth.shape[1]
    size = truth.norm(dim=(-2, -1), keepdim=True)

    def scaled(d, amp):
        return truth + amp * size * d / d.norm(dim=(-2, -1), keepdim=True)

    shift = torch.roll(truth, 1, -1) - truth
    noise = resample(torch.randn(*truth.shape[:2], 16, 16, generator=g, dtype=F64), n)
    signs = torch.tensor([(-1.0) ** j for j in range(t_out)], dtype=F64)[:, None, None]
    out = {}
    for amp in (0.01, 0.03, 0.1):
        out[f"smooth {amp:g}"] = scaled(shift, amp)
        out[f"noise {amp:g}"] = scaled(noise, amp)
        out[f"alternating {amp:g}"] = scaled(shift * signs, amp)
    s = torch.rand(truth.shape[:2], generator=g, dtype=F64)[..., None, None] - 0.5
    after = full[:, start + t_in + 1 : start + t_in + t_out + 1]
    before = full[:, start + t_in - 1 : start + t_in + t_out - 1]
    out["jittered"] = truth + torch.where(s > 0, s * (after - truth), -s * (before - truth))
    out["lagged"] = before
    times = [problem.dt * (j + 1) for j in range(t_out)]
    for label, nu in (("coarse solver", problem.viscosity), ("at 2 nu", 2 * problem.viscosity)):
        eq = dataclasses.replace(problem, viscosity=nu, closure=None).equation(n, dtype=F64)
        out[label] = simulate(eq, w_in[:, -1], times, courant=0.5)
    out["truth refined"] = refined
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", nargs="+", required=True, help="DNS files (stored below the DNS)")
    p.add_argument("--closure", type=closure_spec, nargs="*", default=[], metavar="SPEC")
    p.add_argument("--oracle", action="store_true", help="also the stored exact τ")
    p.add_argument("--t-in", type=int, default=10)
    p.add_argument("--t-out", type=int, default=10)
    p.add_argument("--windows", type=int, default=2, help="windows per trajectory")
    p.add_argument("--limit", type=int, default=4, help="trajectories per file")
    p.add_argument("--evals", type=int, default=150, help="refinement evaluations")
    p.add_argument(
        "--refined-evals",
        type=int,
        default=20,
        help="evaluations refining each prediction of the mix (0: no after-refinement rows)",
    )
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    print(f"threads 1; {machine_state()}")
    for path in args.data:
        flow = read_flow(path)
        full = flow.frames[: args.limit].to(F64)
        try:
            tau = torch.from_numpy(read_subgrid(path, slice(0, args.limit))).to(F64)
        except SpectralRefinerError:  # a file without subgrid/tau: no oracle
            tau = None
        problem, n = flow.problem, flow.resolution
        span = args.t_in + args.t_out
        starts = [k * span for k in range(args.windows) if (k + 1) * span + 1 <= full.shape[1]]
        print(
            f"\n{path}: {flow.preset.sim_resolution}^2 DNS stored at {n}^2, frames {flow.dt:g} "
            f"apart, {full.shape[0]} trajectories x {len(starts)} windows, t_in {args.t_in}, "
            f"t_out {args.t_out}"
        )
        oracle = [{"name": "oracle"}] if args.oracle and tau is not None else []
        specs = [{"name": "none"}, *args.closure, *oracle]
        for spec in specs:
            rows = _measure(problem, n, spec, full, tau, starts, args)
            print(f"closure {spec}:")
            for line in rows:
                print(f"  {line}")


def _measure(problem, n, spec, full, tau, starts, args) -> list[str]:
    t_in, t_out = args.t_in, args.t_out
    own = spec["name"] not in ("none", "oracle")
    plain = dataclasses.replace(problem, closure=spec if own else None)
    residual = plain.residual(n, dtype=F64)
    keys = ("eta", "floor", "ratio", "moved", "free", "eff", "err", "est", "etas", "wide")
    stats: dict[str, list] = {k: [] for k in (*keys, "reff", "rerr", "rest")}
    by_kind: dict[str, list] = {}
    by_kind_after: dict[str, list] = {}
    sweep: dict[float, list] = {}
    for start in starts:
        w_in = full[:, start : start + t_in]
        truth = full[:, start + t_in : start + t_in + t_out]
        r_in = r_pred = residual
        if spec["name"] == "oracle":
            r_in = _oracle(residual, tau[:, start : start + t_in])
            r_pred = _oracle(residual, tau[:, start + t_in - 1 : start + t_in + t_out])
        with torch.no_grad():
            true_cols = columns(r_in, r_pred, w_in, truth)
            shift = torch.roll(truth, 1, -1) - truth
            wrong = truth + 0.03 * _unit(shift) * truth.norm(dim=(-2, -1), keepdim=True)
            ratio = columns(r_in, r_pred, w_in, wrong)["estimate"] / true_cols["estimate"]
        floor = true_cols["floor"]
        if spec["name"] == "oracle":  # the rest is time quadrature: it grows as dt^4
            wide = Residual(residual.equation, 2 * residual.dt, residual.alpha)
            wide = _oracle(wide, tau[:, start : start + t_in : 2])
            stats["wide"].append(resolution_floor(wide, w_in[:, ::2]) / floor)
        refined = refine_frames(r_pred, w_in, truth, floor, args.evals, stop=True)
        stats["moved"].append(relative_error(refined, truth, residual.grid))
        free = refine_frames(r_pred, w_in, truth, floor, args.evals, stop=False)
        stats["free"].append(relative_error(free, truth, residual.grid))
        stats["eta"].append(true_cols["eta"])
        stats["floor"].append(floor)
        stats["ratio"].append(ratio)
        mix = error_mix(plain, w_in, truth, full, start, t_in, free)
        for kind, pred in mix.items():
            with torch.no_grad():
                c = columns(r_in, r_pred, w_in, pred)
                err = relative_error(pred, truth, residual.grid)
            stats["eff"].append(c["error_estimate"] / err)
            by_kind.setdefault(kind, []).append(c["error_estimate"] / err)
            stats["err"].append(err)
            stats["est"].append(c["error_estimate"])
            stats["etas"].append(c["eta"])
            if args.refined_evals and kind != "truth refined":
                after = refine_frames(r_pred, w_in, pred, floor, args.refined_evals, stop=True)
                with torch.no_grad():
                    c_after = columns(r_in, r_pred, w_in, after)
                    moved = moved_distance(after, pred)
                    own = c_after["error_estimate"]
                    bounded = refined_error(c, own, moved)
                    err_after = relative_error(after, truth, residual.grid)
                for c_try in FRACTIONS:
                    sweep.setdefault(c_try, []).append(
                        refined_error(c, own, moved, c_try) / err_after
                    )
                stats["reff"].append(bounded / err_after)
                stats["rerr"].append(err_after)
                stats["rest"].append(bounded)
                by_kind_after.setdefault(kind, []).append(bounded / err_after)
    cat = {k: torch.cat(v).numpy() for k, v in stats.items() if v}
    eff = cat["eff"]
    lines = [
        f"eta(truth) median {np.median(cat['eta']):.3g}, floor {np.median(cat['floor']):.3g}",
        f"estimate(3% error) / estimate(truth): median {np.median(cat['ratio']):.3g}",
        f"refinement from the truth stopped at the floor moves it {np.median(cat['moved']):.3g} "
        f"(median, max {cat['moved'].max():.3g})",
    ]
    lines.append(
        f"... not stopped ({args.evals} evaluations): {np.median(cat['free']):.3g} (median)"
    )
    if "wide" in cat:
        lines.append(f"floor at frames 2 dt apart / at dt: median {np.median(cat['wide']):.3g}")
    lines += [
        f"effectivity (error estimate / true error) over {eff.size} predictions of "
        f"{len(stats['eff']) // len(starts)} kinds: within [1/3, 3] "
        f"{np.mean((eff >= 1 / 3) & (eff <= 3)):.0%}, median {np.median(eff):.3g}, "
        f"10-90% {np.percentile(eff, 10):.3g}-{np.percentile(eff, 90):.3g}",
        f"Spearman(error estimate, error) {spearman(cat['est'], cat['err']):.3f}; "
        f"Spearman(eta, error) {spearman(cat['etas'], cat['err']):.3f}",
        "median effectivity by kind: "
        + ", ".join(f"{k} {float(torch.cat(v).median()):.3g}" for k, v in by_kind.items()),
    ]
    if "reff" in cat:
        eff = cat["reff"]
        est, err = (
            np.concatenate((cat["est"], cat["rest"])),
            np.concatenate((cat["err"], cat["rerr"])),
        )
        lines += [
            f"after refinement stopped at the floor ({args.refined_evals} evaluations) of "
            f"{eff.size} predictions: error {np.median(cat['rerr']):.3g} (median; before "
            f"{np.median(cat['err']):.3g}), effectivity within [1/3, 3] "
            f"{np.mean((eff >= 1 / 3) & (eff <= 3)):.0%}, median {np.median(eff):.3g}; "
            f"Spearman before and after pooled {spearman(est, err):.3f}",
            "after refinement, within [1/3, 3] with c = "
            + ", ".join(f"{c:g}: {_within(torch.cat(v)):.0%}" for c, v in sweep.items()),
            "after refinement, median effectivity by kind: "
            + ", ".join(
                f"{k} {float(torch.cat(v).median()):.3g}" for k, v in by_kind_after.items()
            ),
        ]
    return lines


def _within(eff: torch.Tensor) -> float:
    return float(((eff >= 1 / 3) & (eff <= 3)).double().mean())


def _unit(d: torch.Tensor) -> torch.Tensor:
    return d / d.norm(dim=(-2, -1), keepdim=True)


if __name__ == "__main__":
    main()
