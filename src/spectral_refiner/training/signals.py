"""Signal handling of a training run: Ctrl-C or SIGTERM stop it at a step boundary.

The first SIGINT/SIGTERM becomes a request that the trainer reads after each step (it then
checkpoints that step and raises KeyboardInterrupt, all ranks at the same step); a second
SIGINT interrupts at once. DataLoader workers ignore SIGINT and leave it to the main process.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

__all__ = ["StopOnSignal", "ignore_interrupts"]


def ignore_interrupts(_worker: int) -> None:
    """DataLoader ``worker_init_fn``: workers leave Ctrl-C to the main process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class StopOnSignal:
    """Context manager turning the first SIGINT/SIGTERM into ``requested = True`` (module
    docstring); the previous handlers are restored on exit. Outside the main thread it
    installs nothing."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
