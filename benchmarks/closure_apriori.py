"""The learned a-priori closure against its yardsticks, on held-out DNS trajectories.

Candidates, each fitted on the training file's trajectories and scored on every trajectory of
the held-out file (another seed of the same preset):

* ``gradient model``: the nonlinear gradient (Clark) model
  (:func:`~spectral_refiner.physics.gradient_model_hat`), its one coefficient fitted by least
  squares; no training otherwise;
* ``eddy viscosity``: ``train-closure --model shell --inputs vorticity``, one gain per shell of
  the square band on ``ω̄`` (the spectral eddy viscosity of a sharp cutoff, with its cusp);
* ``transfer``: ``train-closure`` (the default): per-shell gains on ``(ω̄, F A, T_1, T_2)``;
* ``transfer/modes``: ``train-closure --tying dihedral``: one gain per mode and its images
  under the grid's rotations and reflections, same inputs;
* ``window``: with ``--lags``/``--memory``, ``train-closure --tying dihedral --lags ...
  --memory H``: the same gains also on the resolved transfer of earlier frames and on the
  back-transfer of the unresolved ring swept over the last ``H`` frames
  (:func:`~spectral_refiner.physics.window_transfer_hat`); then every row is scored on the
  frames that have their full history (each trajectory's first ``max(lags, H)`` frames left
  out), and the closed residual of the window closure uses, on those first frames, the
  history the trajectory has;
* ``cnn``: ``train-closure --model cnn`` (only with ``--cnn-steps N > 0``: expensive on a busy
  machine).

Columns: the pooled held-out correlation ``ρ`` with the exact ``τ``, the relative L2 error
``‖τ̂ - τ‖ / ‖τ‖``, and the closed residual ``‖R + Q[τ̂]‖ / ‖R‖`` in L2(H^-1) over windows of
4 held-out frames (``R`` the residual of the stored frames in the coarse equation, ``Q`` the
interval averages), beside the exact ``τ``'s own figure (what the time discretisation leaves).

Run from the repository root (single thread)::

    OMP_NUM_THREADS=1 python -m benchmarks.closure_apriori \\
        --train /work/data/kdns256-train.h5 --test /work/data/kdns256-test.h5
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from spectral_refiner.data import read_info, read_subgrid, read_vorticity
from spectral_refiner.hybrid import load_closure
from spectral_refiner.physics import (
    SpectralGrid,
    gradient_model_hat,
    ns_residual,
    sobolev_norm_hat,
)
from spectral_refiner.physics.residual import _interval_weights
from spectral_refiner.training import train_closure

WINDOW = 4


def _pooled(pred: torch.Tensor, tau: torch.Tensor) -> tuple[float, float]:
    p, t = pred.double().flatten(), tau.double().flatten()
    error = float((p - t).norm() / t.norm())
    p, t = p - p.mean(), t - t.mean()
    return float((p @ t) / (p.norm() * t.norm())), error


def _windows(x: torch.Tensor) -> torch.Tensor:
    """``(B, T, n, n)`` cut into disjoint windows ``(B * (T // 4), 4, n, n)``."""
    b, t = x.shape[:2]
    usable = t - t % WINDOW
    return x[:, :usable].reshape(b * (usable // WINDOW), WINDOW, *x.shape[2:])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", required=True, help="DNS file to fit on")
    p.add_argument("--test", required=True, help="DNS file of held-out trajectories")
    p.add_argument("--cnn-steps", type=int, default=0, help="train the cnn too (0: skip)")
    p.add_argument("--lags", type=int, nargs="*", default=[], help="window closure: lags")
    p.add_argument("--memory", type=int, default=0, help="window closure: ring memory H")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    info = read_info(args.test)
    grid = SpectralGrid(info.resolution, info.problem.box_length, torch.float64)
    frames = torch.from_numpy(read_vorticity(args.test)).double()
    tau = torch.from_numpy(read_subgrid(args.test)).double()
    equation = info.problem.equation(dtype=torch.float64)
    dt = info.problem.dt
    w_win = _windows(frames)
    residual = ns_residual(w_win, equation, dt)
    q = _interval_weights(WINDOW, grid.cdtype, grid.device)

    def closed(tau_fields: torch.Tensor) -> float:
        averaged = torch.einsum("jt,bt...->bj...", q, grid.rfft(_windows(tau_fields)))
        norm = lambda x: sobolev_norm_hat(x, grid, -1.0, 1.0).square().sum()  # noqa: E731
        return float((norm(residual + averaged) / norm(residual)).sqrt())

    print(
        f"a-priori closures: fit on {args.train}, held out {args.test} "
        f"({tuple(frames.shape)}); torch threads {torch.get_num_threads()}"
    )
    skip = max((*args.lags, args.memory), default=0)

    def _figures(pred: torch.Tensor, tau: torch.Tensor) -> tuple[float, float]:
        return _pooled(pred[:, skip:], tau[:, skip:])

    rows = [("exact tau", 1.0, 0.0, closed(tau), 0.0)]
    start = time.perf_counter()
    train_w = torch.from_numpy(read_vorticity(args.train)).double().flatten(0, 1)
    train_tau = torch.from_numpy(read_subgrid(args.train)).double().flatten(0, 1)
    ngm_train = grid.irfft(gradient_model_hat(grid.rfft(train_w), grid))
    coefficient = float((ngm_train * train_tau).sum() / ngm_train.square().sum())
    ngm = coefficient * grid.irfft(gradient_model_hat(grid.rfft(frames), grid))
    ngm = ngm.reshape(tau.shape)
    rows.append(("gradient model", *_figures(ngm, tau), closed(ngm), time.perf_counter() - start))
    candidates = [
        ("eddy viscosity", {"model": "shell", "inputs": "vorticity"}),
        ("transfer", {"model": "shell"}),
        ("transfer/modes", {"model": "shell", "tying": "dihedral"}),
    ]
    if skip:
        window = {"lags": tuple(args.lags), "memory": args.memory}
        candidates.append(("window", {"model": "shell", "tying": "dihedral", **window}))
    if args.cnn_steps > 0:
        candidates.append(("cnn", {"model": "cnn", "steps": args.cnn_steps}))
    with tempfile.TemporaryDirectory() as tmp:
        for name, options in candidates:
            start = time.perf_counter()
            out = Path(tmp) / f"{name.replace(' ', '-')}.pt"
            train_closure(args.train, out, held_out=args.test, **options)
            seconds = time.perf_counter() - start
            closure = load_closure(out)
            with torch.no_grad():
                if closure.history:
                    g = closure.stored_grid
                    pred = g.irfft(closure.window_tau_hat(g.rfft(frames.float())))
                else:
                    pred = torch.cat([closure.tau(f.float()) for f in frames]).reshape(tau.shape)
            rows.append((name, *_figures(pred, tau), closed(pred.double()), seconds))
    print(f"{'closure':<16}{'correlation':>13}{'rel. L2':>10}{'|R+Q[tau]|/|R|':>17}{'fit s':>8}")
    for name, rho, error, ratio, seconds in rows:
        print(f"{name:<16}{rho:>13.3f}{error:>10.3f}{ratio:>17.3f}{seconds:>8.1f}")
    print(f"(no closure: |R+Q[0]|/|R| = 1; gradient-model coefficient C = {coefficient:.4g})")


if __name__ == "__main__":
    main()
