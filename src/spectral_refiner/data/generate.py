"""Dataset generation: solver runs into a Well-schema HDF5 file, resumable and rank-parallel.

Trajectory ``i`` is simulated from the initial field keyed by ``(seed, i)`` with its own
time steps (see :func:`spectral_refiner.physics.simulate`), so it is the same in any batch,
on any rank and after any resume. Finished trajectories are kept in ``OUT.parts/``
(:class:`~.parts.Parts`, one file each, written atomically); when all are there, they are
assembled into a temporary file that is renamed onto ``OUT``. A killed run therefore loses
at most the batches in flight, rerunning the same command finishes the file, and ``OUT``
never exists unless it is complete.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import __version__
from ..atomic import check_writable
from ..errors import SpectralRefinerError
from ..physics import NavierStokes2D, make_initial_condition, simulate, subgrid_term
from ..problem import Problem
from .distributed import barrier, init_from_env, rank_and_world
from .hdf5 import read_info, seed_keys, write_dataset
from .parts import Parts
from .presets import Preset

__all__ = ["build_equation", "generate", "parse_dtype", "preset_problem", "simulate_preset"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def parse_dtype(name: str) -> torch.dtype:
    """``float32`` or ``float64`` to a torch dtype."""
    try:
        return _DTYPES[name]
    except KeyError:
        raise SpectralRefinerError(f"dtype must be float32 or float64, got {name!r}") from None


def preset_problem(preset: Preset) -> Problem:
    """The Problem of the files a preset makes: its equation, frame interval and stored
    resolution."""
    return Problem.from_fields(preset.fields(), preset.frame_interval, preset.resolution)


def build_equation(
    preset: Preset,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    resolution: int | None = None,
) -> NavierStokes2D:
    """The preset's equation on its simulation grid (or on a grid of ``resolution``)."""
    return preset_problem(preset).equation(resolution or preset.sim_resolution, device, dtype)


def simulate_preset(
    preset: Preset,
    equation: NavierStokes2D,
    seed: int,
    indices: list[int],
    progress: Callable[[float], None] | None = None,
    subgrid: list[torch.Tensor] | None = None,
) -> torch.Tensor:
    """Trajectories ``indices`` of the preset, ``(len(indices), n_frames, n, n)`` at the stored
    resolution: each from the initial field keyed by ``(seed, index)``, simulated with the
    preset's scheme and time-step policy on ``equation`` (see :func:`build_equation`).

    If ``subgrid`` is a list, the exact subgrid term ``τ`` of every stored frame (from the
    simulated field, :func:`~spectral_refiner.physics.subgrid_term`), ``(len(indices), n, n)``
    per frame, is appended to it.
    """
    w0 = make_initial_condition(preset.initial_condition, equation.grid, seed, indices)

    def observe(w_fine: torch.Tensor) -> None:
        subgrid.append(subgrid_term(w_fine, preset.resolution, preset.box_length))

    return simulate(
        equation,
        w0,
        preset.times(),
        scheme=preset.scheme,
        dt=preset.dt,
        courant=preset.courant,
        resolution=preset.resolution,
        progress=progress,
        observe=None if subgrid is None else observe,
    )


def _fingerprint(preset: Preset, seed: int, dtype: str) -> str:
    # The batch size does not change any trajectory, so it is not part of the identity.
    fields = {k: v for k, v in preset.fields().items() if k != "batch_size"}
    blob = json.dumps(
        {"preset": fields, "seed": seed, "dtype": dtype, "version": __version__}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def generate(
    preset: Preset,
    out: str | os.PathLike,
    *,
    seed: int = 0,
    dtype: str = "float32",
    device: str = "cpu",
    overwrite: bool = False,
    progress: bool = True,
    on_batch: Callable[[list[int]], None] | None = None,
) -> Path:
    """Simulate ``preset.n_trajectories`` trajectories and write them to ``out``.

    Under ``torchrun`` every rank simulates trajectories ``rank, rank + world, ...`` and
    rank 0 assembles the one file.

    Parameters
    ----------
    preset : Preset
        The recipe (with any overrides applied).
    out : path
        The ``.h5`` file to write.
    seed : int
        Dataset seed; trajectory ``i`` starts from the field keyed by ``(seed, i)``.
    dtype, device : str
        Simulation precision (``float32``/``float64``) and device; files store float32.
    overwrite : bool
        Replace an existing file (or partial run) made with other parameters.
    progress : bool
        Show a progress bar (trajectories per second, ETA) on rank 0.
    on_batch : callable, optional
        Called with the indices of every batch once it is saved (used by tests).

    Returns
    -------
    Path
        ``out``.
    """
    preset = preset.validate()
    torch_dtype = parse_dtype(dtype)
    out = Path(out)
    check_writable(out)
    fingerprint = _fingerprint(preset, seed, dtype)
    parts = Parts(out, fingerprint)
    if out.exists() and not overwrite:
        if parts.finished():  # the same file (leftovers of a kill after its rename removed)
            return out
        raise SpectralRefinerError(
            f"{out} exists and was made with other parameters: choose another --out or pass "
            "--overwrite"
        )
    equation = build_equation(preset, device, torch_dtype)
    parts.check(overwrite)  # every rank sees stale pieces, so every rank stops
    _warn_same_seed(preset, seed, out)
    init_from_env(device)
    rank, world = rank_and_world()
    if rank == 0:
        parts.open({"preset": preset.fields(), "seed": seed, "dtype": dtype})
    barrier()
    todo = [i for i in range(rank, preset.n_trajectories, world) if not parts.has(i)]
    times = preset.times()
    bar = tqdm(
        total=len(todo),
        unit="traj",
        desc=f"generate {preset.name}",
        disable=not progress or rank != 0,
        dynamic_ncols=True,
    )
    done = 0
    with parts.guard(), bar:
        for start in range(0, len(todo), preset.batch_size):
            batch = todo[start : start + preset.batch_size]

            def tick(t: float, size: int = len(batch), base: int = done) -> None:
                bar.n = base + size * min(t / max(times[-1], 1e-30), 1.0)
                bar.refresh()

            taus: list[torch.Tensor] | None = [] if preset.store_subgrid else None
            frames = simulate_preset(preset, equation, seed, batch, progress=tick, subgrid=taus)
            frames = frames.to(torch.float32).cpu().numpy()
            tau = _stack_frames(taus)
            for k, (i, traj) in enumerate(zip(batch, frames, strict=True)):
                parts.save(i, vorticity=traj, **({} if tau is None else {"subgrid": tau[k]}))
            done += len(batch)
            bar.n = done
            bar.refresh()
            if on_batch is not None:
                on_batch(batch)
    barrier()
    if rank == 0:
        missing = [i for i in range(preset.n_trajectories) if not parts.has(i)]
        if missing:
            raise SpectralRefinerError(
                f"{len(missing)} trajectories are missing from {parts.folder}: rerun the same "
                "command"
            )
        policy = (
            f"fixed dt={preset.dt}"
            if preset.dt is not None
            else (f"adaptive, courant={preset.courant}")
        )
        write_dataset(
            out,
            _Trajectories(parts, preset.n_trajectories),
            times,
            preset.fields(),
            {
                "seed": seed,
                "scheme": preset.scheme,
                "dt_policy": policy,
                "simulation_dtype": dtype,
                "package_version": __version__,
                "fingerprint": fingerprint,
            },
            keys=seed_keys(seed, preset.n_trajectories),
            problem=preset_problem(preset),
            subgrid=(
                _Trajectories(parts, preset.n_trajectories, "subgrid")
                if preset.store_subgrid
                else None
            ),
        )
        parts.remove()
    barrier()
    return out


def _warn_same_seed(preset: Preset, seed: int, out: Path) -> None:
    """One line on stderr when a file beside ``out`` records this preset and seed: its
    trajectories start from the same initial fields (a "test" file made so is training data)."""
    for other in sorted(out.parent.glob("*.h5")):
        if other.resolve() == out.resolve():
            continue
        try:
            attrs = read_info(other).attrs
        except SpectralRefinerError:
            continue
        if attrs.get("preset") == preset.name and attrs.get("seed") == seed:
            print(
                f"warning: {other} records preset {preset.name} with seed {seed}: its "
                f"trajectories are the ones {out} will hold; for held-out data pass another "
                "--seed",
                file=sys.stderr,
            )
            return


@dataclasses.dataclass
class _Trajectories:
    """The saved trajectories (array ``name`` of every piece) as a lazily loaded sequence of
    ``(T, n, n)`` arrays."""

    parts: Parts
    count: int
    name: str = "vorticity"

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> np.ndarray:
        return self.parts.load(i)[self.name]


def _stack_frames(frames: list[torch.Tensor] | None) -> np.ndarray | None:
    """Per-snapshot ``(B, n, n)`` fields as float32 ``(B, T, n, n)`` (``None`` stays)."""
    if frames is None:
        return None
    return torch.stack(frames, dim=1).to(torch.float32).cpu().numpy()
