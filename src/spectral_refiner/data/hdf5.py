"""HDF5 datasets in The Well's schema: atomic writer, validating reader, summary.

Layout (one file; The Well reads a *directory* of such files):

* root attributes: ``problem`` (the :class:`~spectral_refiner.problem.Problem` as JSON: the
  one home of the equation's fields, the frame spacing and the resolution), the Well's
  ``dataset_name``, ``grid_type = "cartesian"``, ``n_spatial_dims = 2``, ``n_trajectories``,
  ``simulation_parameters`` and one attribute per parameter (copies written from the
  Problem, for The Well), plus provenance (``preset``, ``preset_fields``: the recipe's other
  fields as JSON, ``seed``, ``scheme``, ``dt_policy``, ``package_version``, ``fingerprint``,
  ``keys_fingerprint``);
* ``keys``: int64 ``(n_trajectories, 2)``, the key ``(seed, index)`` of every trajectory (its
  initial field; outside the Well's field groups);
* ``dimensions``: ``time`` (T,), ``x`` (n,), ``y`` (n,), attribute ``spatial_dims = [x, y]``;
* ``boundary_conditions/{x,y}_periodic``: ``bc_type = "PERIODIC"``, a mask true at both ends;
* ``scalars``: one 0-d float32 dataset per physical parameter (from the Problem);
* ``t0_fields/vorticity``: float32 ``(n_trajectories, T, n, n)``, ``[b, t, i, j] = ω(t, x_i, y_j)``;
  ``t1_fields`` and ``t2_fields`` empty;
* for DNS presets with ``store_subgrid``, ``subgrid/tau``: float32 ``(n_trajectories, T, n,
  n)``, the exact subgrid term of every stored frame (:mod:`spectral_refiner.physics.subgrid`;
  outside the Well's field groups);
* for predictions, ``estimates``: per-trajectory ``(n_trajectories,)`` datasets (η, errors).

Files written before the Problem and the keys existed keep working: their Problem is derived
from ``preset_fields``, their keys are ``(seed, i)`` from the ``seed`` attribute (unknown
without one).
"""

from __future__ import annotations

import hashlib
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
from ..problem import EQUATION_FIELDS, Problem

__all__ = [
    "DatasetInfo",
    "key_family",
    "keys_fingerprint",
    "read_estimates",
    "read_info",
    "read_subgrid",
    "read_vorticity",
    "seed_keys",
    "write_dataset",
]

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
    *,
    keys: np.ndarray | None = None,
    problem: Problem | None = None,
    subgrid: Sequence[np.ndarray] | None = None,
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
    keys : array, optional
        ``(n_trajectories, 2)`` keys ``(seed, index)`` of the trajectories.
    problem : Problem, optional
        Default: the Problem of ``fields`` with the frame spacing of ``times`` and the
        frames' resolution.
    subgrid : array or sequence of arrays, optional
        The exact subgrid term of every frame, shaped like ``vorticity``; stored as
        ``subgrid/tau`` (float32).
    """
    path = Path(path)
    n_traj = len(vorticity)
    n_t, nx, ny = np.shape(vorticity[0])
    if problem is None:
        dt = float(times[1] - times[0]) if len(times) > 1 else fields.get("frame_interval", 1.0)
        problem = Problem.from_fields(fields, dt, nx)
    recipe = {k: v for k, v in fields.items() if k not in (*EQUATION_FIELDS, "closure")}
    with atomic_write(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["dataset_name"] = f"spectral_refiner_{fields['name']}"
        f.attrs["grid_type"] = "cartesian"
        f.attrs["n_spatial_dims"] = 2
        f.attrs["n_trajectories"] = n_traj
        f.attrs["simulation_parameters"] = _strings(SCALARS)
        for key in SCALARS:
            f.attrs[key] = getattr(problem, key)
        f.attrs["problem"] = problem.to_json()
        f.attrs["preset"] = fields["name"]
        f.attrs["preset_fields"] = json.dumps(recipe, sort_keys=True)
        for key, value in attrs.items():
            f.attrs[key] = value
        if keys is not None:
            keys = np.asarray(keys, dtype=np.int64).reshape(n_traj, 2)
            f.create_dataset("keys", data=keys)
            f.attrs["keys_fingerprint"] = keys_fingerprint(key_family(fields), keys)

        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = _strings(["x", "y"])
        d = dims.create_dataset("time", data=np.asarray(times, dtype=np.float32))
        d.attrs["sample_varying"] = False
        d.attrs["time_varying"] = True
        coords = np.arange(nx, dtype=np.float64) * problem.box_length / nx
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
            d = scalars.create_dataset(key, data=np.float32(getattr(problem, key)))
            d.attrs["sample_varying"] = False
            d.attrs["time_varying"] = False

        t0 = f.create_group("t0_fields")
        t0.attrs["field_names"] = _strings(["vorticity"])
        d = _write_trajectories(t0, "vorticity", vorticity, (n_traj, n_t, nx, ny))
        d.attrs["dim_varying"] = np.array([True, True])
        d.attrs["sample_varying"] = True
        d.attrs["time_varying"] = True
        for group in ("t1_fields", "t2_fields"):
            f.create_group(group).attrs["field_names"] = _strings([])
        if subgrid is not None:
            _write_trajectories(f.create_group("subgrid"), "tau", subgrid, (n_traj, n_t, nx, ny))
        if estimates:
            group = f.create_group("estimates")
            for key, values in estimates.items():
                group.create_dataset(key, data=np.asarray(values, dtype=np.float64))


def _write_trajectories(
    group: h5py.Group, name: str, arrays: Sequence[np.ndarray], shape: tuple[int, ...]
) -> h5py.Dataset:
    """A float32 dataset ``shape``, one chunk per trajectory, filled one trajectory at a time."""
    d = group.create_dataset(name, shape=shape, dtype=np.float32, chunks=(1, *shape[1:]))
    for i in range(shape[0]):
        d[i] = np.asarray(arrays[i], dtype=np.float32)
    return d


def seed_keys(seed: int, count: int) -> np.ndarray:
    """The keys ``(seed, i)``, ``i = 0 .. count - 1``, int64 ``(count, 2)``."""
    return np.stack([np.full(count, seed), np.arange(count)], 1).astype(np.int64)


def key_family(recipe: dict[str, Any]) -> str:
    """What a trajectory key ``(seed, index)`` is relative to: the initial field is keyed by
    it on a given initial-condition kind, box and simulation grid, so two files share
    trajectories only if their keys and this family agree."""
    fields = {k: recipe.get(k) for k in ("initial_condition", "box_length", "sim_resolution")}
    return json.dumps(fields, sort_keys=True)


def keys_fingerprint(family: str, keys: np.ndarray) -> str:
    """Identity of a set of trajectory keys (order included) within their family."""
    blob = family.encode() + np.ascontiguousarray(keys, dtype=np.int64).tobytes()
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass
class DatasetInfo:
    """What a valid dataset file holds (without its arrays).

    ``preset_fields`` is the whole recipe (the stored recipe with the Problem's equation
    fields), ``problem`` the file's :class:`~spectral_refiner.problem.Problem` (``None`` if
    the file records no equation), ``keys`` the trajectories' ``(seed, index)`` (``None`` if
    unknown).
    """

    path: Path
    n_trajectories: int
    times: np.ndarray
    resolution: int
    attrs: dict[str, Any]
    preset_fields: dict[str, Any]
    problem: Problem | None = None
    keys: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.n_trajectories, len(self.times), self.resolution, self.resolution)

    @property
    def family(self) -> str:
        """The key family of the trajectories (:func:`key_family`)."""
        return key_family(self.preset_fields)


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
            problem = Problem.from_dict(attrs["problem"]) if "problem" in attrs else None
        except (json.JSONDecodeError, TypeError):
            raise _invalid(path, "attribute preset_fields or problem is not valid JSON") from None
        n = int(w.shape[2])
        dt = float(times[1] - times[0]) if len(times) > 1 else fields.get("frame_interval", 1.0)
        if problem is None and all(k in fields for k in EQUATION_FIELDS):
            problem = Problem.from_fields(fields, dt, n)  # a file from before the Problem
        if problem is not None:
            equation = {k: getattr(problem, k) for k in EQUATION_FIELDS}
            fields = {**fields, **equation}
            if problem.closure is not None:
                fields["closure"] = problem.closure
        if "keys" in f:
            keys = np.asarray(f["keys"][()], dtype=np.int64)
            if keys.shape != (w.shape[0], 2):
                raise _invalid(path, f"keys has shape {keys.shape}, expected ({w.shape[0]}, 2)")
        elif "seed" in attrs:  # a file from before the keys: trajectory i of its seed
            keys = seed_keys(int(attrs["seed"]), w.shape[0])
        else:
            keys = None
        return DatasetInfo(path, int(w.shape[0]), times, n, attrs, fields, problem, keys)


def read_estimates(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The ``estimates`` group of a prediction file (empty for a dataset)."""
    read_info(path)
    with h5py.File(path, "r") as f:
        group = f.get("estimates")
        return {} if group is None else {k: group[k][()] for k in group}


def read_subgrid(
    path: str | os.PathLike, trajectories: slice | np.ndarray | None = None
) -> np.ndarray:
    """The stored exact subgrid term ``τ`` ``(n_trajectories, T, n, n)`` of a DNS file (or a
    selection of trajectories), aligned with :func:`read_vorticity`."""
    info = read_info(path)
    with h5py.File(path, "r") as f:
        if "subgrid/tau" not in f:
            raise SpectralRefinerError(
                f"{path} stores no subgrid term: generate it with a preset that sets "
                "store_subgrid=true (the *-dns* presets)"
            )
        tau = f["subgrid/tau"]
        if tau.shape != info.shape:
            raise _invalid(Path(path), f"subgrid/tau has shape {tau.shape}, expected {info.shape}")
        return tau[()] if trajectories is None else tau[trajectories]


def read_vorticity(
    path: str | os.PathLike, trajectories: slice | np.ndarray | None = None
) -> np.ndarray:
    """The vorticity array ``(n_trajectories, T, n, n)`` (or a selection of trajectories)."""
    read_info(path)
    with h5py.File(path, "r") as f:
        w = f["t0_fields/vorticity"]
        return w[()] if trajectories is None else w[trajectories]
