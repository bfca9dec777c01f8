"""Thread policy: how many intra-op threads torch uses, chosen from the work and the free cores.

Why. On a machine whose cores are busy, OpenMP threads that wait actively spin on a core
another process needs: with two threads on a busy 2-core machine the solver ran 8-20x slower
than with one. Two measures keep the project fast there:

* **Passive waiting.** :func:`prefer_passive_wait` sets ``OMP_WAIT_POLICY=PASSIVE`` unless
  the user chose a policy. The OpenMP runtime reads it once, when torch loads it, so it must
  run before the first ``import torch``: the package ``__init__`` calls it, which covers the
  ``spectral-refiner`` command and every ``import spectral_refiner...`` made before torch.
  A program that imports torch first keeps the active default; set the variable yourself
  there (``OMP_WAIT_POLICY=PASSIVE python ...``).
* **Threads from the work and the free cores** (:func:`choose_threads`): one thread for
  fields up to :data:`SMALL_WORK` grid points per operation and for work of unknown size,
  where splitting an operation costs more than it saves; for larger work, as many threads as
  there are free cores (:func:`free_cores`). Measured on an idle 2-core machine with passive
  waiting (``benchmarks/thread_crossover.py``, ``benchmarks/README.md``): two threads ran
  0.29-0.71x as fast as one at 64^2-256^2 and 0.97-1.02x at 512^2 x 1-4 fields.

The user overrides the choice with ``--threads N`` on the command line or the environment
variable :data:`ENV_VAR` (the command line sets the variable, so that worker processes it
starts inherit it).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import SpectralRefinerError

__all__ = [
    "ENV_VAR",
    "SMALL_WORK",
    "choose_threads",
    "free_cores",
    "pin_threads",
    "prefer_passive_wait",
    "requested_threads",
    "use_threads",
    "work_threads",
]

ENV_VAR = "SPECTRAL_REFINER_THREADS"
# Grid points per operation (batch x n^2) below which one thread is faster than two: twice
# the size where two threads first broke even with benchmarks/thread_crossover.py (idle,
# passive wait: 512^2 x 4 = 2**20 points, 1.02x; every smaller size 0.29-0.99x).
SMALL_WORK = 2**21


def prefer_passive_wait() -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless the user set a policy; True if it was set here.

    Only effective before the OpenMP runtime starts, i.e. before the first ``import torch``.
    """
    if "OMP_WAIT_POLICY" in os.environ:
        return False
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True


def _usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup v2 CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.floor(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def _busy_cores() -> float:
    """Cores other processes keep busy: the larger of the 1-minute load average and the
    number of tasks runnable right now other than this one (both from ``/proc/loadavg``).

    The load average is smooth but trails a new competitor by about a minute; the runnable
    count sees it at once but flickers with every short-lived task. Taking the larger errs
    toward fewer threads, whose worst case (one idle core left unused) costs far less than
    oversubscription (threads waiting for a core another process holds).
    """
    try:
        with open("/proc/loadavg") as f:
            fields = f.read().split()
        return max(float(fields[0]), float(int(fields[3].split("/")[0]) - 1))
    except (OSError, ValueError, IndexError):
        try:
            return os.getloadavg()[0]
        except (AttributeError, OSError):
            return 0.0


def free_cores() -> int:
    """Usable cores not kept busy by other processes, rounded to nearest, at least 1."""
    return max(1, math.floor(_usable_cores() - _busy_cores() + 0.5))


def requested_threads(value: int | str | None = None) -> int | None:
    """The thread count the user asked for: ``value`` (``--threads``), else :data:`ENV_VAR`.

    Returns None when neither is set; raises :class:`SpectralRefinerError` for a count that
    is not a positive integer.
    """
    source = "--threads"
    if value is None:
        value, source = os.environ.get(ENV_VAR) or None, ENV_VAR
    if value is None:
        return None
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise SpectralRefinerError(
            f"{source} must be a positive integer, got {value!r}; e.g. {source}=1"
        )
    return count


def choose_threads(points: int | None = None, requested: int | None = None) -> int:
    """Intra-op threads for work of ``points`` grid points per operation (batch x n^2).

    ``requested`` (or :data:`ENV_VAR`) wins; otherwise :func:`free_cores` from
    :data:`SMALL_WORK` points up, and 1 below it or when ``points`` is unknown.
    """
    requested = requested_threads(requested)
    if requested is not None:
        return requested
    if points is None or points < SMALL_WORK:
        return 1
    return free_cores()


def use_threads(points: int | None = None, requested: int | None = None) -> int:
    """Set torch's intra-op threads by :func:`choose_threads`; returns the count set."""
    import torch

    count = choose_threads(points, requested)
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count


def pin_threads(count: int | None = None) -> int:
    """Use ``count`` threads from here on when given (validated), in this process and in the
    processes it starts: it goes into :data:`ENV_VAR`, which :func:`work_threads` also obeys.
    Then set torch's count by :func:`use_threads` for work of unknown size; returns it."""
    if count is not None:
        os.environ[ENV_VAR] = str(requested_threads(count))
    return use_threads()


@contextmanager
def work_threads(points: int) -> Iterator[int]:
    """Run a block with :func:`choose_threads` ``(points)`` threads, then restore the count."""
    import torch

    before = torch.get_num_threads()
    try:
        yield use_threads(points)
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
