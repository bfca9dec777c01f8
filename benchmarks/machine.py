"""The state of the machine a benchmark ran on, printed beside its figures."""

from __future__ import annotations

import os


def machine_state() -> str:
    """``"1-min load L on C cores"``, read before the timing starts."""
    try:
        with open("/proc/loadavg") as f:
            load = f.read().split()[0]
    except OSError:
        load = "unknown"
    return f"1-min load {load} on {os.cpu_count()} cores"
