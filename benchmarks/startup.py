"""CPU cost of starting a ``spectral-refiner`` process, with and without matplotlib.

Every command imports the whole CLI (torch, h5py, the project); the report's plotting module
imports matplotlib only when a figure is drawn. One sample is one fresh process
(``python -c ...``) measured by the CPU seconds (user + system) it used, read from
``resource.getrusage(RUSAGE_CHILDREN)``, which a busy machine inflates far less than wall time:

* ``cli``: ``import spectral_refiner.cli.main`` — what ``spectral-refiner --help`` loads;
* ``cli+pyplot``: the same, then ``matplotlib.pyplot`` on the Agg backend — what every command
  paid before the import was deferred to the first figure.

The two alternate ``--repeats`` times; the table gives medians and their difference. The
processes run with one OpenMP thread. Run from the repository root::

    python -m benchmarks.startup [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys

from benchmarks.machine import machine_state

CODE = {
    "cli": "import spectral_refiner.cli.main",
    "cli+pyplot": (
        "import spectral_refiner.cli.main, matplotlib; matplotlib.use('Agg'); "
        "import matplotlib.pyplot"
    ),
}


def cpu_seconds(code: str) -> float:
    """CPU seconds (user + system) of one fresh ``python -c code``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"fresh processes, 1 OpenMP thread, {machine_state()}")
    samples: dict[str, list[float]] = {name: [] for name in CODE}
    for _ in range(args.repeats):
        for name, code in CODE.items():
            samples[name].append(cpu_seconds(code))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    for name, value in medians.items():
        print(f"{name:>11}: {value:.2f} CPU-s (median of {args.repeats})")
    saved = medians["cli+pyplot"] - medians["cli"]
    share = saved / medians["cli+pyplot"]
    print(f"deferring matplotlib saves {saved:.2f} CPU-s per process ({share:.0%})")


if __name__ == "__main__":
    main()
