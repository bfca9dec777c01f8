"""Shared pieces of the bad-input and data-loss tests: one tiny dataset, broken copies of it
and one trained SFNO run, made once per session; a digest of a folder tree; a read-only
folder that stays read-only for root too."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import train_small_run
from spectral_refiner.data import apply_overrides, generate, get_preset

# 4 trajectories of 12 frames (32²), 0.25 apart: windows 5 -> 5 fit, splits of 1 / 1 / 2.
DATA = ["n_trajectories=4", "n_frames=12", "frame_interval=0.25", "batch_size=4"]


def tree(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` with the hash of its bytes (folders: "dir")."""
    out = {}
    for path in sorted(Path(folder).rglob("*")):
        key = str(path.relative_to(folder))
        out[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return out


def _edit_copy(source: Path, target: Path, edit) -> Path:
    shutil.copy(source, target)
    with h5py.File(target, "r+") as f:
        edit(f)
    return target


def _replace_vorticity(f: h5py.File, array: np.ndarray) -> None:
    group = f["t0_fields"]
    attrs = dict(group["vorticity"].attrs)
    del group["vorticity"]
    group.create_dataset("vorticity", data=array)
    group["vorticity"].attrs.update(attrs)
    f.attrs["n_trajectories"] = array.shape[0]
    if "keys" in f:  # the trajectories' keys follow the trajectories
        keys = f["keys"][: array.shape[0]]
        del f["keys"]
        f.create_dataset("keys", data=keys)


def _set_value(value: float):
    def edit(f: h5py.File) -> None:
        f["t0_fields/vorticity"][1, 3, 2, 2] = value

    return edit


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """The dataset, its broken copies and a trained SFNO run, in one folder ``root``."""
    root = tmp_path_factory.mktemp("tiny")
    preset = apply_overrides(get_preset("tiny"), DATA)
    run = train_small_run(generate(preset, root / "train.h5", progress=False), root, "sfno")
    # Held-out trajectories (another seed): what predict, refine and evaluate may be given.
    data = generate(preset, root / "data.h5", seed=1, progress=False)
    with h5py.File(data) as f:
        w = f["t0_fields/vorticity"][()]
    files = {
        "root": root,
        "data": data,
        "run": run,
        "nan": _edit_copy(data, root / "nan.h5", _set_value(np.nan)),
        "inf": _edit_copy(data, root / "inf.h5", _set_value(np.inf)),
        "ints": _edit_copy(
            data, root / "ints.h5", lambda f: _replace_vorticity(f, w.astype(np.int32))
        ),
        "empty": _edit_copy(data, root / "empty.h5", lambda f: _replace_vorticity(f, w[:0])),
    }
    (root / "config.yaml").write_text((run / "config.yaml").read_text())
    files["config"] = root / "config.yaml"
    (root / "broken.yaml").write_text("model: [sfno\n")
    files["broken"] = root / "broken.yaml"
    (root / "notes.txt").write_text("a user's notes\n")
    files["text"] = root / "notes.txt"
    (root / "folder").mkdir()
    (root / "folder" / "keep.txt").write_text("keep\n")
    files["folder"] = root / "folder"
    (root / "half-run").mkdir()  # a run directory without checkpoints
    shutil.copy(run / "config.yaml", root / "half-run" / "config.yaml")
    files["half"] = root / "half-run"
    (root / "readonly").mkdir()
    files["readonly"] = root / "readonly"
    files["missing"] = root / "no-such-folder"
    return files


@pytest.fixture
def read_only(tiny, monkeypatch):
    """Make ``tiny["readonly"]`` unwritable: mode 0o555, and ``os.access`` answering as it
    would for a user who is not root (root may write anywhere)."""
    folder = tiny["readonly"].resolve()
    folder.chmod(0o555)
    real = os.access

    def access(path, mode, *args, **kwargs):
        resolved = Path(path).resolve()
        if mode & os.W_OK and (resolved == folder or folder in resolved.parents):
            return False
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    yield folder
    folder.chmod(0o755)
