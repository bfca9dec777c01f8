import os
import subprocess
import sys

import pytest

from spectral_refiner.allocator import keep_freed_memory

# MiB of a new 16 MiB tensor that glibc serves by mmap (mallinfo2's hblkhd), in a fresh process.
MAPPED = """
import ctypes, spectral_refiner, torch
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
info = ctypes.CDLL(None).mallinfo2
info.restype = Info
before = info().hblkhd
x = torch.ones(4 * 1024**2)
print(round((info().hblkhd - before) / 2**20))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt, mallinfo2")
def test_large_tensors_come_from_the_heap_unless_the_user_chose():
    """Under the package's policy a 16 MiB tensor is carved from the heap (reused warm after
    it is freed), not mapped afresh as glibc's default does; a threshold the user set in the
    environment is left alone."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    mapped = {}
    for name, extra in (("policy", {}), ("user", {"MALLOC_MMAP_THRESHOLD_": "131072"})):
        out = subprocess.run(
            [sys.executable, "-c", MAPPED],
            env={**env, **extra},
            capture_output=True,
            text=True,
            check=True,
        )
        mapped[name] = int(out.stdout.strip())
    assert mapped == {"policy": 0, "user": 16}


def test_a_user_threshold_in_the_environment_wins(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "0")
    assert keep_freed_memory() is False
