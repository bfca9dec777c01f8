"""The subgrid term of a filtered DNS, a priori: what the residual misses, and what the
classical closures and the dynamic procedure make of it.

What is measured
----------------
A DNS (``--fine``² points, float64, RK4-CN at Courant 0.5) of Kolmogorov flow (2π box,
ν = 1e-3, k = 4, drag 0.1) or McWilliams decaying turbulence, from ``--seeds`` McWilliams
initial fields, past ``--warmup``; frames ``--frame-dt`` apart, truncated to ``--coarse``².

* ``residual ratio``: ``‖R + Q[τ]‖ / ‖R‖`` in L2(H^-1) over 4 frames, ``R`` the residual
  (:func:`~spectral_refiner.physics.ns_residual`) of the truncated trajectory in the coarse
  equation, ``Q[τ]`` the interval averages of the exact subgrid term
  (:func:`~spectral_refiner.physics.subgrid_term_hat`): how much of the residual of a true
  trajectory is the subgrid term (the rest is time discretisation).
* Closure coefficients fitted to ``-τ`` on the first frame, for ``C(ω̄) = c^p T(ω̄)``
  (``T`` the term at coefficient 1, ``p = 2`` Smagorinsky, 3 Leith): least squares in L2,
  and matching the energy transfer ``⟨ψ̄, ·⟩`` or the enstrophy transfer ``⟨ω̄, ·⟩``;
  reported as ``c`` (NaN when the fitted ``c^p`` is negative: backscatter).
* The dynamic Smagorinsky ``C_s = sqrt(c)`` (Germano-Lilly, test ratio 2) of the same frame.
* The coarse solver's CFL step at Courant 0.5 on the truncated frames,
  ``0.5 Δx / max(|u|+|v|)``.

Run from the repository root (single thread; on a shared machine the times vary)::

    OMP_NUM_THREADS=1 python -m benchmarks.subgrid_apriori --fine 128 --coarse 32
"""

from __future__ import annotations

import argparse
import math

import torch

from spectral_refiner.physics import (
    NavierStokes2D,
    SpectralGrid,
    kolmogorov_forcing,
    make_closure,
    mcwilliams,
    ns_residual,
    resample,
    simulate,
    sobolev_norm_hat,
    subgrid_term_hat,
)
from spectral_refiner.physics.residual import _interval_weights

F64 = torch.float64


def equation(flow: str, n: int) -> NavierStokes2D:
    grid = SpectralGrid(n, 2 * math.pi, F64)
    if flow == "kolmogorov":
        return NavierStokes2D(grid, 1e-3, drag=0.1, forcing=kolmogorov_forcing(grid, 4))
    return NavierStokes2D(grid, 1e-3)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--flow", choices=("kolmogorov", "mcwilliams"), default="kolmogorov")
    p.add_argument("--fine", type=int, default=128)
    p.add_argument("--coarse", type=int, default=32)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--frame-dt", type=float, nargs="+", default=[0.01, 0.02, 0.05])
    p.add_argument("--seeds", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    fine, coarse = equation(args.flow, args.fine), equation(args.flow, args.coarse)
    g = coarse.grid
    w0 = mcwilliams(fine.grid, 0, list(range(args.seeds)))
    start = simulate(fine, w0, [args.warmup], courant=0.5)[:, 0]
    print(
        f"{args.flow}: DNS {args.fine}^2 -> {args.coarse}^2, t = {args.warmup}, seeds {args.seeds}"
    )

    def norm(x: torch.Tensor) -> torch.Tensor:
        return sobolev_norm_hat(x, g, -1.0, 1.0).square().sum(-1).sqrt()

    for dt in args.frame_dt:
        traj = simulate(fine, start, [dt * j for j in range(4)], courant=0.5)
        residual = ns_residual(resample(traj, g.n), coarse, dt)
        q = _interval_weights(4, g.cdtype, g.device)
        tau = torch.einsum("jt,bt...->bj...", q, subgrid_term_hat(traj, g.n))
        ratio = norm(residual + tau) / norm(residual)
        print(f"frames {dt:g} apart: residual ratio |R + Q[tau]| / |R| = {ratio.tolist()}")

    w_bar = g.rfft(resample(start, g.n))
    minus_tau = -subgrid_term_hat(start, g.n)
    speed = coarse.max_speed(w_bar)
    print(f"coarse CFL step at Courant 0.5: {(0.5 * g.dx / speed).tolist()}")

    def transfer(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a.conj() * b * g.half_weight).real.sum(dim=(-2, -1))

    for name, power in (("smagorinsky", 2), ("leith", 3)):
        term = make_closure({"name": name, "coefficient": 1.0}, g).term_hat(w_bar)
        fits = {
            "L2 least squares": transfer(term, minus_tau) / transfer(term, term),
            "energy transfer": transfer(w_bar * g.inv_k2, minus_tau)
            / transfer(w_bar * g.inv_k2, term),
            "enstrophy transfer": transfer(w_bar, minus_tau) / transfer(w_bar, term),
        }
        for how, c in fits.items():
            coefficient = torch.where(c >= 0, c.clamp_min(0) ** (1 / power), math.nan)
            print(f"{name} coefficient by {how}: {coefficient.tolist()}")
    dynamic = make_closure({"name": "dynamic-smagorinsky"}, g).coefficient(w_bar).sqrt()
    print(f"dynamic Smagorinsky C_s: {dynamic.tolist()}")


if __name__ == "__main__":
    main()
