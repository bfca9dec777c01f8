"""Time to a McWilliams trajectory of given accuracy: spectral-refiner against torch-cfd.

What is measured
----------------
Wall time to compute one ``mcwilliams-re1000`` trajectory (2π box, ν = 1e-3, no forcing,
McWilliams initial vorticity ``mcwilliams(grid, seed, [0])``, 2/3-dealiased, 256²) from
t = 0 to ``--t-end`` (10) whose relative L2 error at the final time is at most ``--tol``
(1e-5), by

* this project's solver: RK4-CN (Carpenter–Kennedy) with a CFL-adaptive step,
  ``simulate(..., courant=C)``, with the largest Courant number ``C`` whose error meets the
  tolerance; and
* torch-cfd 0.2.6, run the way its own dataset scripts run it: ``RK4CrankNicolsonStepper``
  at a fixed ``dt = 1e-3`` (``--peer-dt``), i.e. 10 000 steps to t = 10, whatever its error.

Issue target: at least 2.5x less wall time than torch-cfd at a ``--peer-dt`` where torch-cfd
reaches the tolerance too (the script says when it does not: then the comparison is not at
equal accuracy). The table also gives, for every ``C`` tried, the ratio and whether the error
is at most torch-cfd's own (equal accuracy).

How
---
* Reference: this project's solver at a small fixed step ``--ref-dt`` (6.25e-5) in float64.
  ``--check-reference`` also runs it at twice that step and prints the difference D of the
  two; the reference's own error is about D / 3 if the error is second order in dt (the
  Crank–Nicolson part; seen at small dt) and D / 15 if fourth order. Reference
  fields are cached under ``--cache-dir`` (keyed by every parameter; a longer horizon
  continues from the latest cached time) because they take many minutes.
* Errors: ``‖ω - ω_ref‖₂ / ‖ω_ref‖₂`` over the 256² grid at the final time, for both
  solvers, against the same reference.
* Both solvers run in ``--dtype`` (float64 by default; see ``--float32-check``).
* Choosing ``C``: the Courant numbers ``--courants`` are tried from the largest down, and
  the first whose error meets the tolerance is kept. If none does, up to ``--refine``
  further values are tried, each extrapolated from the last error by the scheme's fourth
  order, ``C·(0.85·tol/err)^(1/4)``.
* Timing: both solvers in this one process with ``--threads`` threads (default 1), after a
  short warm-up. Every run of ours in the scan is timed; the chosen C's run is the first
  timed run of ours, followed by torch-cfd, then ``--repeats - 1`` further interleaved
  pairs (ours, torch-cfd); medians are reported. Because a torch-cfd run to t = 10 takes
  minutes, ``--short-t-end`` adds ``--short-repeats`` interleaved pairs on a shorter
  horizon at the same C (errors there against the reference at that time). Wall times
  cover building the solver and the whole integration.

Run from the repository root, under the benchmark lock on a shared machine::

    flock /tmp/bench.lock python -m benchmarks.time_to_accuracy
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.machine import machine_state
from benchmarks.peers import run_torch_cfd, torch_cfd_available
from spectral_refiner.physics import NavierStokes2D, SpectralGrid, mcwilliams, simulate
from spectral_refiner.threads import pin_threads

DTYPES = {"float32": torch.float32, "float64": torch.float64}
L = 2 * math.pi


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.time_to_accuracy",
        description="Wall time to a McWilliams trajectory of given accuracy, against torch-cfd.",
    )
    p.add_argument("--n", type=int, default=256, help="resolution (default 256)")
    p.add_argument("--t-end", type=float, default=10.0, help="final time (default 10)")
    p.add_argument("--viscosity", type=float, default=1e-3, help="ν (default 1e-3)")
    p.add_argument("--seed", type=int, default=0, help="initial-condition seed (default 0)")
    p.add_argument("--tol", type=float, default=1e-5, help="error target (default 1e-5)")
    p.add_argument(
        "--courants",
        default="1.2,1.0,0.8,0.5",
        help="Courant numbers to try, comma separated (default 1.2,1.0,0.8,0.5)",
    )
    p.add_argument(
        "--refine",
        type=int,
        default=2,
        help="extrapolated Courant numbers to try if none listed meets tol (default 2)",
    )
    p.add_argument(
        "--scan-all", action="store_true", help="try every listed C, not only down to a pass"
    )
    p.add_argument("--peer-dt", type=float, default=1e-3, help="torch-cfd step (default 1e-3)")
    p.add_argument("--ref-dt", type=float, default=6.25e-5, help="reference step (default 6.25e-5)")
    p.add_argument(
        "--check-reference",
        action="store_true",
        help="also compute the reference at twice ref-dt and print the difference",
    )
    p.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    p.add_argument("--dtype", choices=DTYPES, default="float64", help="dtype of both solvers")
    p.add_argument(
        "--float32-check",
        action="store_true",
        help="also print our float32 error at the chosen C (roundoff growth; untimed)",
    )
    p.add_argument(
        "--repeats", type=int, default=1, help="timed full-horizon runs of each (default 1)"
    )
    p.add_argument(
        "--short-t-end",
        type=float,
        default=1.0,
        help="horizon of the extra interleaved repeats (default 1; 0 skips them)",
    )
    p.add_argument("--short-repeats", type=int, default=3, help="short-horizon repeats (default 3)")
    p.add_argument(
        "--cache-dir",
        default=os.path.join(tempfile.gettempdir(), "spectral-refiner-bench"),
        help="where reference fields are cached",
    )
    return p.parse_args(argv)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def rel_l2(w: torch.Tensor, ref: torch.Tensor) -> float:
    w, ref = w.to(torch.float64), ref.to(torch.float64)
    return float((w - ref).norm() / ref.norm())


class CountingNS(NavierStokes2D):
    """NavierStokes2D that counts explicit-term evaluations (5 per RK4-CN step)."""

    calls = 0

    def explicit_terms(self, w_hat):
        self.calls += 1
        return super().explicit_terms(w_hat)


def initial_field(n: int, seed: int) -> torch.Tensor:
    """McWilliams vorticity, 2/3-dealiased, float64, shape (1, n, n)."""
    g = SpectralGrid(n, L, dtype=torch.float64)
    w0 = mcwilliams(g, seed, [0])
    return g.irfft(g.rfft(w0) * g.dealias)


def reference_path(args, dt: float) -> Path:
    key = repr(("mcwilliams-ref", args.n, L, args.viscosity, args.seed, float(dt), 1))
    name = "mcw_ref_" + hashlib.sha1(key.encode()).hexdigest()[:16] + ".pt"
    return Path(args.cache_dir) / name


def reference(args, w0: torch.Tensor, times: list[float], dt: float) -> list[torch.Tensor]:
    """Float64 fixed-step RK4-CN fields ``(n, n)`` at ``times``; cached on disk.

    The cache maps times to fields. Missing times are computed by continuing from the
    latest cached time before them, one unit of time at a time, saving after each (so an
    interrupted computation resumes where it stopped).
    """
    path = reference_path(args, dt)
    cache = torch.load(path) if path.exists() else {0.0: w0[0]}
    wanted = {round(t, 9) for t in times}
    missing = sorted(wanted - set(cache))
    if not missing:
        log(f"reference dt={dt:g}: cached in {path}")
        return [cache[round(t, 9)] for t in times]
    start = max(t for t in cache if t <= missing[0])
    # checkpoints: the wanted times and every whole time unit in between
    stops = sorted(
        (wanted | set(range(math.floor(start) + 1, math.ceil(missing[-1]))))
        - {t for t in cache if t <= start}
    )
    stops = [t for t in stops if start < t <= missing[-1]]
    log(
        f"reference dt={dt:g}: computing t={start:g} -> {missing[-1]:g} (float64; "
        f"{round((missing[-1] - start) / dt)} steps, minutes) ..."
    )
    eq = NavierStokes2D(SpectralGrid(args.n, L, dtype=torch.float64), args.viscosity)
    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for stop in stops:
        cache[stop] = simulate(eq, cache[start], [stop], dt=dt, t0=start)[-1]
        start = stop
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save(cache, tmp)
        os.replace(tmp, path)
        log(f"reference dt={dt:g}: t={stop:g} after {time.perf_counter() - t0:.0f} s")
    return [cache[round(t, 9)] for t in times]


def run_ours(args, w0, t_end, courant, dtype, count=False):
    """(final field (n, n), wall seconds, RK4-CN steps or None)."""
    t0 = time.perf_counter()
    g = SpectralGrid(args.n, L, dtype=dtype)
    eq = (CountingNS if count else NavierStokes2D)(g, args.viscosity)
    w = simulate(eq, w0.to(dtype), [t_end], scheme="rk4-cn", courant=courant)[0, -1]
    wall = time.perf_counter() - t0
    return w, wall, (eq.calls // 5 if count else None)


def peer_steps(args, t_end: float) -> int:
    steps = round(t_end / args.peer_dt)
    if not math.isclose(steps * args.peer_dt, t_end, rel_tol=1e-9):
        raise SystemExit(f"t-end {t_end} is not a multiple of peer-dt {args.peer_dt}")
    return steps


def run_peer(args, w0, t_end, dtype):
    """(final field (n, n), wall seconds) of torch-cfd at fixed dt = peer-dt."""
    t0 = time.perf_counter()
    steps = peer_steps(args, t_end)
    w = run_torch_cfd(
        w0.to(dtype), L, args.viscosity, 0.0, "none", args.peer_dt, steps, dtype=dtype
    )[0]
    return w, time.perf_counter() - t0


def main(argv=None) -> int:
    args = parse_args(argv)
    pin_threads(args.threads)
    state = machine_state()
    if not torch_cfd_available():
        raise SystemExit("torch-cfd is not installed: pip install --no-deps torch-cfd==0.2.6")
    dtype = DTYPES[args.dtype]
    courants = sorted({float(c) for c in args.courants.split(",")}, reverse=True)
    short = args.short_t_end if 0 < args.short_t_end < args.t_end else None
    short = short if args.short_repeats > 0 else None
    peer_steps(args, args.t_end)
    if short:
        peer_steps(args, short)
    times = [short, args.t_end] if short else [args.t_end]
    w0 = initial_field(args.n, args.seed)

    # ---------------------------------------------------------------- reference
    refs = reference(args, w0, times, args.ref_dt)
    ref, ref_short = refs[-1], refs[0]
    ref_check = None
    if args.check_reference:
        coarse = reference(args, w0, times, 2 * args.ref_dt)
        ref_check = [rel_l2(c, r) for c, r in zip(coarse, refs, strict=True)]

    # warm-up (FFT plans, allocator) for both solvers
    run_ours(args, w0, 0.01, courants[0], dtype)
    run_torch_cfd(w0.to(dtype), L, args.viscosity, 0.0, "none", args.peer_dt, 5, dtype=dtype)

    # ---------------------------------------------------------------- choose C (timed)
    scan = []  # (C, steps, wall, error)
    chosen = None
    for c in courants:
        w, wall, steps = run_ours(args, w0, args.t_end, c, dtype, count=True)
        scan.append((c, steps, wall, rel_l2(w, ref)))
        log(f"ours C={c:g}: {steps} steps, {wall:.1f} s, error {scan[-1][3]:.3e}")
        if scan[-1][3] <= args.tol and chosen is None:
            chosen = c
            if not args.scan_all:
                break
    for _ in range(args.refine if chosen is None else 0):
        c_last, _, _, e_last = min(scan, key=lambda s: s[0])
        c = float(f"{c_last * (0.85 * args.tol / e_last) ** 0.25:.2g}")
        if c >= c_last:
            break
        w, wall, steps = run_ours(args, w0, args.t_end, c, dtype, count=True)
        scan.append((c, steps, wall, rel_l2(w, ref)))
        log(f"ours C={c:g} (extrapolated): {steps} steps, {wall:.1f} s, error {scan[-1][3]:.3e}")
        if scan[-1][3] <= args.tol:
            chosen = c
            break
    met_tol = chosen is not None
    if chosen is None:
        chosen = min(s[0] for s in scan)
        log(f"no Courant number met the tolerance; timing the smallest tried, C={chosen:g}")
    _, wall_chosen, err_ours = next(s[1:] for s in scan if s[0] == chosen)
    f32_err = None
    if args.float32_check and dtype != torch.float32:
        w, _, _ = run_ours(args, w0, args.t_end, chosen, torch.float32)
        f32_err = rel_l2(w, ref)

    # ---------------------------------------------------------------- timing
    full_ours, full_peer = [wall_chosen], []
    for r in range(max(args.repeats, 1)):
        if r > 0:
            _, wall, _ = run_ours(args, w0, args.t_end, chosen, dtype)
            full_ours.append(wall)
        w, wall = run_peer(args, w0, args.t_end, dtype)
        full_peer.append(wall)
        err_peer = rel_l2(w, ref)
        log(f"torch-cfd run {r + 1}: {wall:.1f} s, error {err_peer:.3e}")
    short_ours, short_peer = [], []
    if short:
        for r in range(args.short_repeats):
            w, wall, _ = run_ours(args, w0, short, chosen, dtype)
            short_ours.append(wall)
            serr_ours = rel_l2(w, ref_short)
            w, wall = run_peer(args, w0, short, dtype)
            short_peer.append(wall)
            serr_peer = rel_l2(w, ref_short)
            log(f"short run {r + 1}: ours {short_ours[-1]:.2f} s, torch-cfd {wall:.2f} s")

    # ---------------------------------------------------------------- report
    med = statistics.median
    t_peer = med(full_peer)
    print()
    print(
        f"Time to accuracy: mcwilliams-re1000, {args.n}^2, 2π box, ν={args.viscosity:g}, "
        f"seed {args.seed}, t = 0 -> {args.t_end:g}, target rel. L2 error <= {args.tol:g}"
    )
    print(
        f"dtype {args.dtype} for both solvers; {args.threads} thread(s); {state} (before the "
        f"timing); torch {torch.__version__}"
    )
    print(f"reference: ours, RK4-CN, fixed dt={args.ref_dt:g}, float64", end="")
    if ref_check is not None:
        txt = ", ".join(f"t={t:g}: {e:.2e}" for t, e in zip(times, ref_check, strict=True))
        print(
            f"; rel. L2 difference to dt={2 * args.ref_dt:g}: {txt} "
            f"(so the reference's own error is D/3 to D/15)"
        )
    else:
        print(" (convergence check: --check-reference)")
    print()
    print(
        f"Full horizon t = {args.t_end:g}; one timed run per C (the chosen C: median of "
        f"{len(full_ours)}), torch-cfd median of {len(full_peer)}"
    )
    head = f"{'solver':<40} {'steps':>6} {'mean dt':>9} {'wall s':>8} {'rel L2 error':>13}"
    print(head + f" {'speed-up':>9}  error<=tol  error<=torch-cfd's")
    for c, steps, wall, err in scan:
        wall = med(full_ours) if c == chosen else wall
        mark = " *" if c == chosen else ""
        print(
            f"{f'spectral-refiner RK4-CN courant={c:g}{mark}':<40} {steps:>6d} "
            f"{args.t_end / steps:>9.2e} {wall:>8.1f} "
            f"{err:>13.3e} {t_peer / wall:>8.2f}x  {'yes' if err <= args.tol else 'no':<10} "
            f"{'yes' if err <= err_peer else 'no'}"
        )
    n_peer = peer_steps(args, args.t_end)
    print(
        f"{f'torch-cfd 0.2.6 RK4-CN dt={args.peer_dt:g}':<40} {n_peer:>6d} "
        f"{args.peer_dt:>9.2e} {t_peer:>8.1f} "
        f"{err_peer:>13.3e} {1:>8.2f}x  {'yes' if err_peer <= args.tol else 'no':<10} -"
    )
    if len(full_peer) > 1 or len(full_ours) > 1:
        print(
            "  all runs s: ours "
            + " ".join(f"{x:.1f}" for x in full_ours)
            + "; torch-cfd "
            + " ".join(f"{x:.1f}" for x in full_peer)
        )
    ratio = t_peer / med(full_ours)
    print(
        f"* chosen C={chosen:g}: ratio torch-cfd / ours = {ratio:.2f}x; errors: ours "
        f"{err_ours:.3e}, torch-cfd {err_peer:.3e}"
    )
    peer_met = err_peer <= args.tol
    ok = met_tol and peer_met and ratio >= 2.5
    print(
        f"target (>= 2.5x less wall time, both errors <= {args.tol:g}): "
        + ("met" if ok else "NOT met")
        + ("" if met_tol else f" (no C tried reached {args.tol:g})")
        + (
            ""
            if peer_met
            else f" (torch-cfd at dt={args.peer_dt:g} misses {args.tol:g}: choose a smaller "
            "--peer-dt for a comparison at equal accuracy)"
        )
    )
    eq_acc = [s for s in scan if s[3] <= err_peer]
    if eq_acc:
        c, _, wall, err = max(eq_acc, key=lambda s: s[0])
        wall = med(full_ours) if c == chosen else wall
        print(
            f"at equal or better accuracy than torch-cfd ({err_peer:.3e}): largest C tried "
            f"= {c:g}, error {err:.3e}, ratio {t_peer / wall:.2f}x"
        )
    if f32_err is not None:
        print(f"float32 check: ours at C={chosen:g} in float32 has rel. L2 error {f32_err:.3e}")
    if short:
        print()
        print(
            f"Short horizon t = {short:g} at the same C, {args.short_repeats} interleaved "
            "repeats, median; errors against the reference at that time"
        )
        print(f"{'solver':<40} {'wall s':>8} {'rel L2 error':>13}  all runs s")
        print(
            f"{f'spectral-refiner RK4-CN courant={chosen:g}':<40} {med(short_ours):>8.2f} "
            f"{serr_ours:>13.3e}  " + " ".join(f"{x:.2f}" for x in short_ours)
        )
        print(
            f"{f'torch-cfd 0.2.6 RK4-CN dt={args.peer_dt:g}':<40} {med(short_peer):>8.2f} "
            f"{serr_peer:>13.3e}  " + " ".join(f"{x:.2f}" for x in short_peer)
        )
        print(
            f"ratio torch-cfd / ours = {med(short_peer) / med(short_ours):.2f}x (the adaptive "
            "step grows as the flow decays, so this differs from the full-horizon ratio)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
