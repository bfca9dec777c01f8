"""Thread policy on a busy machine: torch's defaults against the project's policy.

One sample is one fresh process that simulates ``--steps`` fixed steps (RK4-CN, float32) of a
``--resolution``² McWilliams batch of ``--batch`` and reports the seconds of the stepping alone:

* ``default``: torch imported first (OpenMP's active wait), one thread per core (torch's
  default count, forced through ``SPECTRAL_REFINER_THREADS``);
* ``policy``: ``spectral_refiner`` imported first (passive wait), threads from
  :func:`spectral_refiner.threads.choose_threads` for the work size and the free cores;
* ``one``: passive wait and one thread (``--threads 1``).

The three kinds of process alternate, in rotating order, ``--repeats`` times, while
``--busy`` background processes spin (``python -c "while True: pass"``, started here and
stopped by their process id afterwards); the table gives medians and each one's ratio to the
policy. Run from the repository root::

    python -m benchmarks.thread_policy [--busy 1] [--resolution 128] [--batch 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from benchmarks.machine import machine_state

CHILD = """
import json, math, os, sys, time
kind, n, batch, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
if kind == "default":
    import torch
import spectral_refiner
# what the OpenMP runtime read when torch loaded it
wait = "ACTIVE (default)" if kind == "default" else os.environ["OMP_WAIT_POLICY"]
import torch
from spectral_refiner.physics import NavierStokes2D, SpectralGrid, mcwilliams, simulate
grid = SpectralGrid(n, 2 * math.pi)
eq = NavierStokes2D(grid, 1e-3)
w0 = mcwilliams(grid, 0, range(batch))
dt = 1e-3
with torch.no_grad():
    simulate(eq, w0, [2 * dt], dt=dt)  # warm-up
    start = time.perf_counter()
    simulate(eq, w0, [steps * dt], dt=dt)
    seconds = time.perf_counter() - start
from spectral_refiner.threads import choose_threads
print(json.dumps({"seconds": seconds, "threads": choose_threads(batch * n * n), "wait": wait}))
"""


def _sample(kind: str, n: int, batch: int, steps: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env.pop("OMP_WAIT_POLICY", None)
    # simulate() applies the policy unless SPECTRAL_REFINER_THREADS says otherwise
    env.pop("SPECTRAL_REFINER_THREADS", None)
    if kind != "policy":
        env["SPECTRAL_REFINER_THREADS"] = str(os.cpu_count() if kind == "default" else 1)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, kind, str(n), str(batch), str(steps)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--busy", type=int, default=1, help="spinning background processes")
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    state = machine_state()
    spinners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)
    ]
    try:
        kinds = ["default", "policy", "one"]
        samples: dict[str, list[dict]] = {k: [] for k in kinds}
        for r in range(args.repeats):
            for kind in kinds[r % 3 :] + kinds[: r % 3]:
                samples[kind].append(_sample(kind, args.resolution, args.batch, args.steps))
    finally:
        for p in spinners:
            p.kill()
            p.wait()
    print(
        f"{args.steps} steps of a {args.resolution}² batch of {args.batch}, RK4-CN float32, "
        f"{args.busy} busy background process(es), before they started {state}; "
        f"medians of {args.repeats} interleaved processes"
    )
    policy = statistics.median(s["seconds"] for s in samples["policy"])
    print(f"{'kind':<9}{'threads':>8}  {'wait policy':<16}{'seconds':>9}{'/ policy':>10}")
    for kind in kinds:
        seconds = statistics.median(s["seconds"] for s in samples[kind])
        counts = sorted({s["threads"] for s in samples[kind]})
        print(
            f"{kind:<9}{','.join(map(str, counts)):>8}  {samples[kind][0]['wait']:<16}"
            f"{seconds:>9.3f}{seconds / policy:>10.2f}"
        )


if __name__ == "__main__":
    main()
