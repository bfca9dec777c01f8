"""Atomic file writes: write to a temporary sibling, flush it to disk, rename it onto the target.

A reader never sees a half-written file, and an interrupted write leaves the old file (or
none) in place. The temporary file is fsync'ed before the rename and the folder after it,
so a power cut cannot leave a renamed but empty file. A process killed mid-write leaves its
temporary sibling ``.NAME.tmp-PID``; :func:`remove_stale_temps` deletes those of processes
that are gone. Every file the project writes goes through :func:`atomic_write`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import SpectralRefinerError

__all__ = [
    "atomic_path",
    "atomic_write",
    "atomic_write_text",
    "check_folder",
    "check_writable",
    "remove_stale_temps",
]


def atomic_path(path: Path) -> Path:
    """The temporary sibling of ``path`` that :func:`atomic_write` renames onto it."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _fsync(path: Path) -> None:
    """Flush ``path`` (a file or a folder) to disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on folders
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is flushed to disk and renamed onto
    ``path``, on any exception (interrupts included) it is removed and ``path`` is left
    untouched."""
    path = Path(path)
    tmp = atomic_path(path)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_write(path) as tmp:
        tmp.write_text(text)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike, name: str = "*") -> list[Path]:
    """Delete the temporary files ``.NAME.tmp-PID`` in ``folder`` (of targets matching the
    glob ``name``) left by processes that no longer run; return the paths removed."""
    removed = []
    for tmp in Path(folder).glob(f".{name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)) and tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def check_writable(out: str | os.PathLike, reads: tuple[str | os.PathLike, ...] = ()) -> Path:
    """``out`` as a path, if a file may be written there: its folder exists and is writable,
    it is not a folder, and it is none of the files ``reads`` the command reads (which
    ``--overwrite`` would otherwise replace). Raise a one-line error otherwise."""
    out = Path(out)
    parent = out.parent
    if not parent.is_dir():
        raise SpectralRefinerError(f"cannot write {out}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise SpectralRefinerError(f"cannot write {out}: folder {parent} is not writable")
    if out.is_dir():
        raise SpectralRefinerError(f"cannot write {out}: it is a folder; give a file name")
    for path in reads:
        if out.resolve() == Path(path).resolve():
            raise SpectralRefinerError(
                f"cannot write {out}: it is this command's input; choose another --out"
            )
    return out


def check_folder(folder: str | os.PathLike) -> Path:
    """``folder`` as a path, if it is a folder or one may be made there (its nearest existing
    ancestor is a writable folder); else a one-line error."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise SpectralRefinerError(f"{folder} exists and is a file: give a folder")
    existing = next(p for p in (folder, *folder.parents) if p.exists() or p == Path(p.anchor))
    if not existing.is_dir():
        raise SpectralRefinerError(f"cannot create {folder}: {existing} is a file")
    if not os.access(existing, os.W_OK):
        raise SpectralRefinerError(f"cannot write in {folder}: {existing} is not writable")
    return folder
