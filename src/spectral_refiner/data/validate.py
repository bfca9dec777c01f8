"""The check every command makes of a dataset file it reads, once, before any work.

A file must be a dataset (:func:`~.hdf5.read_info`), hold at least one trajectory of at
least one frame, store its vorticity as floating-point numbers, and hold only finite values:
a NaN or an infinity would otherwise train a model of NaN weights or give NaN predictions
and medians without a word. The finiteness check streams one trajectory at a time.
"""

from __future__ import annotations

import os

import h5py
import numpy as np

from ..errors import SpectralRefinerError
from .hdf5 import DatasetInfo, read_info

__all__ = ["check_dataset"]


def check_dataset(path: str | os.PathLike) -> DatasetInfo:
    """The file's :class:`~.hdf5.DatasetInfo` if it is usable input; else a one-line error."""
    info = read_info(path)
    with h5py.File(info.path, "r") as f:
        w = f["t0_fields/vorticity"]
        if not np.issubdtype(w.dtype, np.floating):
            raise SpectralRefinerError(
                f"{info.path} stores vorticity as {w.dtype}, not floating point: "
                "regenerate it with `spectral-refiner generate`"
            )
        if 0 in w.shape:
            raise SpectralRefinerError(
                f"{info.path} holds no data (vorticity shape {w.shape}): give a file with "
                "at least one trajectory"
            )
        if not np.isfinite(info.times).all():
            raise SpectralRefinerError(f"{info.path} has non-finite times: regenerate it")
        for i in range(w.shape[0]):
            if not np.isfinite(w[i]).all():
                raise SpectralRefinerError(
                    f"{info.path} holds non-finite vorticity (NaN or inf) in trajectory {i}: "
                    "regenerate it"
                )
    return info
