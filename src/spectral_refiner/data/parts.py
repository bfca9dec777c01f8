"""The finished pieces of a long job that writes one file, kept so that a rerun resumes.

Pieces are keyed by trajectory index (never by the position of a chunk, so a rerun that
groups trajectories differently, e.g. with another batch size, finds exactly the pieces it
needs): one ``.npz`` file each in ``OUT.parts/``, each written atomically, beside a
``manifest.json`` holding the job's fingerprint. A rerun with the same fingerprint skips the
saved pieces; one with another fingerprint is refused unless told to discard them. Once every
piece is there the job assembles ``OUT`` (atomically) and removes the folder, so ``OUT``
never exists incomplete. Temporary files of killed writers are removed when the folder is
opened again (:func:`~spectral_refiner.atomic.remove_stale_temps`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..atomic import atomic_write, atomic_write_text, remove_stale_temps
from ..errors import SpectralRefinerError

__all__ = ["Parts"]


class Parts:
    """The ``OUT.parts/`` folder of a job with identity ``fingerprint``.

    Parameters
    ----------
    out : path
        The file the job writes.
    fingerprint : str
        What identifies the job's result (parameters, inputs, version).
    """

    def __init__(self, out: Path, fingerprint: str) -> None:
        self.out = out
        self.folder = out.with_name(out.name + ".parts")
        self.fingerprint = fingerprint
        self.manifest = self.folder / "manifest.json"

    def stale(self) -> bool:
        """Whether the folder holds pieces of a job with another fingerprint."""
        if not self.folder.exists():
            return False
        try:
            return json.loads(self.manifest.read_text()).get("fingerprint") != self.fingerprint
        except (OSError, json.JSONDecodeError):
            return True

    def check(self, overwrite: bool, marker: str = "fingerprint") -> None:
        """Refuse stale pieces unless ``overwrite``, and replacing an existing ``OUT`` that
        this kind of job did not write (an HDF5 file with the attribute ``marker``): call on
        every rank before :meth:`open`."""
        if self.stale() and not overwrite:
            raise SpectralRefinerError(
                f"{self.folder} holds a partial run made with other parameters: rerun with the "
                "same parameters to finish it, or pass --overwrite to discard it"
            )
        if overwrite and self.out.exists() and self._attribute(marker) is None:
            raise SpectralRefinerError(
                f"--overwrite replaces only a file this command wrote, and {self.out} is not "
                "one: choose another --out"
            )

    def open(self, record: dict[str, Any]) -> None:
        """Create the folder (discarding stale pieces) and write the manifest (one process)."""
        if self.stale():
            shutil.rmtree(self.folder)
        self.folder.mkdir(exist_ok=True)
        remove_stale_temps(self.folder)
        remove_stale_temps(self.folder.parent, self.out.name)
        atomic_write_text(self.manifest, json.dumps({"fingerprint": self.fingerprint, **record}))

    def finished(self) -> bool:
        """Whether ``OUT`` is this job's finished file (an HDF5 attribute ``fingerprint``
        equal to this job's); if so, leftover pieces of it (a kill after the final rename)
        are removed."""
        done = self._attribute("fingerprint") == self.fingerprint
        if done:
            self.remove()
        return done

    def _attribute(self, name: str) -> Any:
        """The HDF5 attribute ``name`` of ``OUT`` (``None`` if absent or not HDF5)."""
        try:
            with h5py.File(self.out, "r") as f:
                return f.attrs.get(name)
        except OSError:
            return None

    def path(self, i: int) -> Path:
        """The piece of trajectory ``i``."""
        return self.folder / f"part_{i:06d}.npz"

    def has(self, i: int) -> bool:
        return self.path(i).exists()

    def save(self, i: int, **arrays: np.ndarray) -> None:
        """Save piece ``i`` atomically."""
        with atomic_write(self.path(i)) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    def load(self, i: int) -> dict[str, np.ndarray]:
        with np.load(self.path(i)) as data:
            return {key: data[key] for key in data.files}

    def saved(self) -> list[Path]:
        """The pieces saved so far."""
        return sorted(self.folder.glob("part_*.npz"))

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Wrap the job's work: an error (not an interrupt) before any piece is saved removes
        the folder, so a job that cannot run leaves nothing behind."""
        try:
            yield
        except Exception:
            if not self.saved():
                self.remove()
            raise

    def remove(self) -> None:
        """Delete the folder (and temporary files of ``OUT`` that killed writers left) once
        the job's file is written."""
        shutil.rmtree(self.folder, ignore_errors=True)
        remove_stale_temps(self.out.parent, self.out.name)
