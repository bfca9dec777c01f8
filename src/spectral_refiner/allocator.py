"""Allocator policy: keep freed large blocks in the process's heap instead of unmapping them.

Why. torch's CPU tensors come from ``malloc``. glibc serves a block of more than
``M_MMAP_THRESHOLD`` bytes (128 KiB at start, raised up to 32 MiB as such blocks are freed)
by a fresh ``mmap`` and returns it to the system on ``free``, and trims the heap's top
beyond ``M_TRIM_THRESHOLD``; either way the next block of that size is new memory, whose
pages the kernel faults in and zeroes one by one on first touch. A training step of the
FNO2d benchmark (batch 16, 64², width 32) allocates and frees tensors of 8-16 MiB dozens of
times: with the thresholds below it took under 500 minor page faults per step instead of
31,000-33,000 and 1.35-1.6x less CPU time (GELU and its backward on the 16 MiB activations
had run 10x slower than on warm memory).

:func:`keep_freed_memory` sets ``M_MMAP_THRESHOLD`` to its maximum, 32 MiB (larger blocks
are still mapped and unmapped), and ``M_TRIM_THRESHOLD`` to 1 GiB, unless the user set
either through glibc's environment variables ``MALLOC_MMAP_THRESHOLD_`` /
``MALLOC_TRIM_THRESHOLD_``. The cost: freed memory stays with the process (up to the trim
threshold above its peak need) rather than going back to the system. Elsewhere than glibc
it does nothing.
"""

from __future__ import annotations

import ctypes
import os

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_freed_memory"]

#: Blocks up to this size come from the heap (glibc's maximum for the threshold on 64 bits).
MMAP_THRESHOLD = 32 * 1024**2
#: Free memory at the top of the heap kept before it is given back to the system.
TRIM_THRESHOLD = 1024**3
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, <malloc.h>
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds (see the module docstring); True if both were set.

    False, changing nothing, where the user chose a threshold in the environment or the C
    library has no ``mallopt`` (not glibc).
    """
    if any(name in os.environ for name in _USER_SETTINGS):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):  # TypeError: CDLL(None) on Windows
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and bool(
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    )
