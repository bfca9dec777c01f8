"""Atomic file writes: write to a temporary sibling, then rename it onto the target.

A reader never sees a half-written file, and an interrupted write leaves the old file (or
none) in place. Every file the project writes goes through :func:`atomic_write`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write", "atomic_write_text"]


def atomic_path(path: Path) -> Path:
    """The temporary sibling of ``path`` that :func:`atomic_write` renames onto it."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed onto ``path``, on any
    exception (interrupts included) it is removed and ``path`` is left untouched."""
    path = Path(path)
    tmp = atomic_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_write(path) as tmp:
        tmp.write_text(text)
