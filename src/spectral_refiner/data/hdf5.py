"""HDF5 datasets in The Well's schema: atomic writer, validating reader, summary.

Layout (one file; The Well reads a *directory* of such files):

* root attributes: ``dataset_name``, ``grid_type = "cartesian"``, ``n_spatial_dims = 2``,
  ``n_trajectories``, ``simulation_parameters`` and one attribute per parameter, plus
  provenance (``preset``, ``preset_fields`` as JSON, ``seed``, ``scheme``, ``dt_policy``,
  ``box_length``, ``package_version``, ``fingerprint``);
* ``dimensions``: ``time`` (T,), ``x`` (n,), ``y`` (n,), attribute ``spatial_dims = [x, y]``;
* ``boundary_conditions/{x,y}_periodic``: ``bc_type = "PERIODIC"``, a mask true at both ends;
* ``scalars``: one 0-d float32 dataset per physical parameter;
* ``t0_fields/vorticity``: float32 ``(n_trajectories, T, n, n)``, ``[b, t, i, j] = ω(t, x_i, y_j)``;
  ``t1_fields`` and ``t2_fields`` empty;
* for predictions, ``estimates``: per-trajectory ``(n_trajectories,)`` datasets (η, errors).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..atomic import atomic_write
from ..errors import SpectralRefinerError

__all__ = ["DatasetInfo", "read_estimates", "read_info", "read_vorticity", "write_dataset"]

_STR = h5py.string_dtype()
SCALARS = ("viscosity", "drag", "box_length", "forcing_amplitude", "forcing_wavenumber")


def _strings(values) -> np.ndarray:
    return np.array(list(values), dtype=_STR)


def write_dataset(
    path: str | os.PathLike,
    vorticity: Sequence[np.ndarray],
    times: np.ndarray,
    fields: dict[str, Any],
    attrs: dict[str, Any],
    estimates: dict[str, np.ndarray] | None = None,
) -> None:
    """Write a dataset atomically: to a temporary sibling, then renamed onto ``path``.

    Parameters
    ----------
    vorticity : array or sequence of arrays
        ``(n_trajectories, T, n, n)``, or a sequence of ``(T, n, n)`` trajectories (read one
        at a time); stored as float32.
    times : ndarray
        ``(T,)`` snapshot times.
    fields : dict
        The preset's fields (box length, viscosity, ... ; all become provenance).
    attrs : dict
        Further provenance attributes (seed, scheme, dt policy, version, fingerprint).
    estimates : dict, optional
        Per-trajectory numbers ``(n_trajectories,)`` (the estimate η of a prediction, its
        true errors), stored as datasets of a group ``estimates``, which The Well ignores.
    """
    path = Path(path)
    n_traj = len(vorticity)
    n_t, nx, ny = np.shape(vorticity[0])
    with atomic_write(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["dataset_name"] = f"spectral_refiner_{fields['name']}"
        f.attrs["grid_type"] = "cartesian"
        f.attrs["n_spatial_dims"] = 2
        f.attrs["n_trajectories"] = n_traj
        f.attrs["simulation_parameters"] = _strings(SCALARS)
        for key in SCALARS:
            f.attrs[key] = fields[key]
        f.attrs["preset"] = fields["name"]
        f.attrs["preset_fields"] = json.dumps(fields, sort_keys=True)
        for key, value in attrs.items():
            f.attrs[key] = value

        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = _strings(["x", "y"])
        d = dims.create_dataset("time", data=np.asarray(times, dtype=np.float32))
        d.attrs["sample_varying"] = False
        d.attrs["time_varying"] = True
        coords = np.arange(nx, dtype=np.float64) * fields["box_length"] / nx
        for name in ("x", "y"):
            d = dims.create_dataset(name, data=coords.astype(np.float32))
            d.attrs["sample_varying"] = False
            d.attrs["time_varying"] = False

        bcs = f.create_group("boundary_conditions")
        for name, size in (("x", nx), ("y", ny)):
            g = bcs.create_group(f"{name}_periodic")
            g.attrs["associated_dims"] = _strings([name])
            g.attrs["associated_fields"] = _strings([])
            g.attrs["bc_type"] = "PERIODIC"
            g.attrs["sample_varying"] = False
            g.attrs["time_varying"] = False
            mask = np.zeros(size, dtype=bool)
            mask[[0, -1]] = True
            g.create_dataset("mask", data=mask)

        scalars = f.create_group("scalars")
        scalars.attrs["field_names"] = _strings(SCALARS)
        for key in SCALARS:
            d = scalars.create_dataset(key, data=np.float32(fields[key]))
            d.attrs["sample_varying"] = False
            d.attrs["time_varying"] = False

        t0 = f.create_group("t0_fields")
        t0.attrs["field_names"] = _strings(["vorticity"])
        d = t0.create_dataset(
            "vorticity",
            shape=(n_traj, n_t, nx, ny),
            dtype=np.float32,
            chunks=(1, n_t, nx, ny),
        )
        for i in range(n_traj):
            d[i] = np.asarray(vorticity[i], dtype=np.float32)
        d.attrs["dim_varying"] = np.array([True, True])
        d.attrs["sample_varying"] = True
        d.attrs["time_varying"] = True
        for group in ("t1_fields", "t2_fields"):
            f.create_group(group).attrs["field_names"] = _strings([])
        if estimates:
            group = f.create_group("estimates")
            for key, values in estimates.items():
                group.create_dataset(key, data=np.asarray(values, dtype=np.float64))


@dataclass
class DatasetInfo:
    """What a valid dataset file holds (without its arrays)."""

    path: Path
    n_trajectories: int
    times: np.ndarray
    resolution: int
    attrs: dict[str, Any]
    preset_fields: dict[str, Any]

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.n_trajectories, len(self.times), self.resolution, self.resolution)


def _invalid(path: Path, why: str) -> SpectralRefinerError:
    return SpectralRefinerError(
        f"{path} is not a valid spectral-refiner dataset: {why} "
        "(make one with `spectral-refiner generate`)"
    )


def read_info(path: str | os.PathLike) -> DatasetInfo:
    """Open and validate a dataset file; raise a one-line error saying what is wrong."""
    path = Path(path)
    if not path.exists():
        raise SpectralRefinerError(f"no such file: {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise _invalid(path, f"cannot be opened as HDF5 ({str(exc).splitlines()[0]})") from None
    with f:
        for group in ("dimensions", "t0_fields", "boundary_conditions", "scalars"):
            if group not in f:
                raise _invalid(path, f"missing group {group!r}")
        if "vorticity" not in f["t0_fields"]:
            raise _invalid(path, "missing dataset 't0_fields/vorticity'")
        if "time" not in f["dimensions"]:
            raise _invalid(path, "missing dataset 'dimensions/time'")
        w = f["t0_fields/vorticity"]
        times = np.asarray(f["dimensions/time"][()], dtype=np.float64)
        if w.ndim != 4 or w.shape[2] != w.shape[3]:
            raise _invalid(
                path, f"vorticity has shape {w.shape}, expected (trajectories, time, n, n)"
            )
        if w.shape[1] != len(times):
            raise _invalid(
                path, f"vorticity has {w.shape[1]} frames but dimensions/time has {len(times)}"
            )
        if int(f.attrs.get("n_trajectories", -1)) != w.shape[0]:
            raise _invalid(path, "attribute n_trajectories disagrees with the vorticity array")
        attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
        try:
            fields = json.loads(attrs.get("preset_fields", "{}"))
        except json.JSONDecodeError:
            raise _invalid(path, "attribute preset_fields is not valid JSON") from None
        return DatasetInfo(path, int(w.shape[0]), times, int(w.shape[2]), attrs, fields)


def read_estimates(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The ``estimates`` group of a prediction file (empty for a dataset)."""
    read_info(path)
    with h5py.File(path, "r") as f:
        group = f.get("estimates")
        return {} if group is None else {k: group[k][()] for k in group}


def read_vorticity(
    path: str | os.PathLike, trajectories: slice | np.ndarray | None = None
) -> np.ndarray:
    """The vorticity array ``(n_trajectories, T, n, n)`` (or a selection of trajectories)."""
    read_info(path)
    with h5py.File(path, "r") as f:
        w = f["t0_fields/vorticity"]
        return w[()] if trajectories is None else w[trajectories]
