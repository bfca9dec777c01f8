"""A dataset file described in words: metadata, the preset field by field, statistics of the
vorticity and, for a prediction file, a summary of its per-trajectory estimates.

The statistics are computed one trajectory at a time (files can be large): minimum, maximum,
mean ``ω̄ = Σω / N`` and standard deviation ``sqrt(Σω² / N - ω̄²)`` over every stored value.
A file holding a NaN or an infinity is refused before anything is described.
"""

from __future__ import annotations

import os

import h5py
import numpy as np

from ..errors import SpectralRefinerError
from .hdf5 import DatasetInfo, read_estimates, read_info
from .presets import Preset

__all__ = ["describe", "format_description", "recorded_preset"]

PROVENANCE = ("preset", "seed", "scheme", "dt_policy", "simulation_dtype", "package_version")


def recorded_preset(info: DatasetInfo) -> Preset:
    """The preset a file records (attribute ``preset_fields``): the parameters of its
    equation; an error naming the fix when the file does not record them."""
    try:
        if info.problem is None:
            raise TypeError
        return Preset(**info.preset_fields)
    except TypeError:
        raise SpectralRefinerError(
            f"{info.path} does not record the parameters of its equation (attribute "
            "preset_fields): regenerate it with `spectral-refiner generate`"
        ) from None


def _statistics(path) -> dict[str, float]:
    total = sq = count = 0.0
    lo, hi = np.inf, -np.inf
    with h5py.File(path, "r") as f:
        w = f["t0_fields/vorticity"]
        for i in range(w.shape[0]):
            a = w[i].astype(np.float64)
            bad = ~np.isfinite(a)
            if bad.any():
                t = int(np.nonzero(bad.any(axis=(1, 2)))[0][0])
                raise SpectralRefinerError(
                    f"{path} holds non-finite vorticity (trajectory {i}, frame {t}): "
                    "regenerate it (a blown-up simulation: smaller dt or courant)"
                )
            total += a.sum()
            sq += np.square(a).sum()
            count += a.size
            lo, hi = min(lo, float(a.min())), max(hi, float(a.max()))
    mean = total / count
    return {"min": lo, "max": hi, "mean": mean, "std": float(np.sqrt(max(sq / count - mean**2, 0)))}


def describe(path: str | os.PathLike) -> list[tuple[str, str]]:
    """``(label, value)`` rows describing the file (module docstring); indented labels are
    the fields of a group. Raises :class:`SpectralRefinerError` for an invalid file or one
    with non-finite values, before anything is returned."""
    info = read_info(path)
    stats = _statistics(info.path)
    n_t = len(info.times)
    rows = [
        ("file", str(info.path)),
        ("dataset", str(info.attrs.get("dataset_name"))),
        ("vorticity", f"{info.shape} (trajectories, time, x, y) float32"),
        ("time", f"{info.times[0]:g} .. {info.times[-1]:g} ({n_t} frames)"),
    ]
    if n_t > 1:
        rows.append(("frame interval", f"{info.times[1] - info.times[0]:g}"))
    rows += [(key, str(info.attrs[key])) for key in PROVENANCE if key in info.attrs]
    if info.preset_fields:
        rows.append(("preset fields", ""))
        rows += [(f"  {k}", str(v)) for k, v in sorted(info.preset_fields.items())]
    rows.append(
        (
            "vorticity stats",
            "  ".join(f"{k} {v:.4g}" for k, v in stats.items()),
        )
    )
    estimates = read_estimates(info.path)
    if estimates:
        rows.append(("estimates", f"per trajectory ({info.n_trajectories}): median, mean"))
        for key, values in sorted(estimates.items()):
            v = np.asarray(values, dtype=np.float64)
            rows.append((f"  {key}", f"{np.median(v):.4g}  {np.mean(v):.4g}"))
    return rows


def format_description(rows: list[tuple[str, str]]) -> str:
    """The rows as aligned text: labels padded to the longest."""
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:{width}s}  {value}".rstrip() for label, value in rows)
