"""The Problem record: round trips, the equation it builds, what old files and checkpoints
derive, the per-field compatibility check, and trajectory keys in generated files."""

from __future__ import annotations

import dataclasses
import json

import h5py
import numpy as np
import pytest
import torch

from spectral_refiner.data import (
    apply_overrides,
    build_equation,
    generate,
    get_preset,
    preset_problem,
    read_info,
    seed_keys,
    write_dataset,
)
from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.problem import Problem, check_compatible

KOLMOGOROV = get_preset("kolmogorov-re1000")


def test_problem_round_trips_and_builds_the_presets_equation():
    problem = preset_problem(KOLMOGOROV)
    assert Problem.from_dict(problem.to_dict()) == problem
    assert Problem.from_dict(problem.to_json()) == problem
    eq, ref = (
        problem.equation(32, dtype=torch.float64),
        build_equation(KOLMOGOROV, dtype=torch.float64, resolution=32),
    )
    assert (eq.viscosity, eq.drag, eq.grid.length) == (1e-3, 0.1, ref.grid.length)
    assert torch.equal(eq.forcing_hat, ref.forcing_hat) and eq.forcing_hat.abs().max() > 0
    run = problem.with_window(10, 5, stride=2, alpha=2.0)
    assert run.dt == 2 * KOLMOGOROV.frame_interval and run.span == 29
    residual = run.residual()
    assert (residual.dt, residual.alpha, residual.grid.n) == (0.5, 2.0, 64)
    with pytest.raises(SpectralRefinerError, match="has no window"):
        _ = problem.span


def test_a_closure_spec_gives_the_equation_its_closure_at_the_stored_filter_width():
    """The Problem's closure spec becomes a term of its equation on any grid, with the filter
    width of the stored grid; without a spec the equation has none."""
    problem = dataclasses.replace(
        preset_problem(KOLMOGOROV), closure={"name": "smagorinsky", "coefficient": 0.2}
    )
    stored = problem.equation(dtype=torch.float64).grid
    w_stored = stored.rfft(torch.randn(2, 64, 64, dtype=torch.float64))
    for n in (64, 96):
        eq = problem.equation(n, dtype=torch.float64)
        assert eq.closure.width == pytest.approx(KOLMOGOROV.box_length / 64)
        plain = preset_problem(KOLMOGOROV).equation(n, dtype=torch.float64)
        assert plain.closure is None
        w_hat = stored.resample_hat(w_stored, n)
        extra = eq.explicit_terms(w_hat) - plain.explicit_terms(w_hat)
        assert torch.allclose(extra, eq.closure.term_hat(w_hat))
        assert extra.abs().max() > 0


def test_check_compatible_decides_per_field():
    file = preset_problem(KOLMOGOROV)
    run = file.with_window(4, 4, stride=2)
    assert check_compatible(dataclasses.replace(file, resolution=128), run) is None  # finer
    for changes, message in [
        ({"box_length": 1.0}, "has box_length 1.0 but the run was trained with 6.28"),
        ({"closure": {"name": "smagorinsky"}}, "has closure {'name': 'smagorinsky'} but"),
        ({"dt": 0.5}, "windows at stride 2 are 1 apart"),
        ({"resolution": 32}, "has resolution 32 but the run was trained at 64"),
        ({"drag": 0.0}, "has drag 0.0 but the run was trained with 0.1"),
        ({"forcing_wavenumber": 2}, "has forcing_wavenumber 2 but"),
    ]:
        other = dataclasses.replace(file, **changes)
        with pytest.raises(SpectralRefinerError, match=message.replace("{", r"\{")):
            check_compatible(other, run, source="f.h5")
    other = dataclasses.replace(file, viscosity=1e-4, drag=0.0)
    note = check_compatible(other, run, source="f.h5", allow_physics=True)
    assert (
        note
        == "note: using f.h5's equation, not the run's (viscosity 0.001 -> 0.0001, drag 0.1 -> 0.0)"
    )


def test_old_files_and_checkpoints_derive_their_problem_and_keys(tmp_path):
    preset = apply_overrides(get_preset("tiny"), ["n_frames=5"])
    frames = np.zeros((3, 5, 32, 32), dtype=np.float32)
    path = tmp_path / "old.h5"
    write_dataset(path, frames, preset.times(), preset.fields(), {"seed": 4}, keys=seed_keys(4, 3))
    new = read_info(path)
    assert new.problem == preset_problem(preset) and new.preset_fields == preset.fields()
    with h5py.File(path, "a") as f:  # as written before the Problem and the keys existed
        del f["keys"], f.attrs["problem"]
        f.attrs["preset_fields"] = json.dumps(preset.fields())
    old = read_info(path)
    assert old.problem == new.problem and old.preset_fields == preset.fields()
    np.testing.assert_array_equal(old.keys, [[4, 0], [4, 1], [4, 2]])
    np.testing.assert_array_equal(new.keys, old.keys)

    run = new.problem.with_window(3, 2, stride=1, alpha=2.0)
    record = {"resolution": 32, "dt": 0.5, "frame_stride": 1, "t_in": 3, "t_out": 2}
    payload = {"data": {**record, "preset": preset.fields()}, "config": {"loss": {"alpha": 2.0}}}
    assert Problem.from_checkpoint(payload) == run
    assert Problem.from_checkpoint({"problem": run.to_dict()}) == run


def test_generated_files_carry_keys_and_generate_warns_of_a_seed_in_use(tmp_path, capsys):
    preset = apply_overrides(
        get_preset("tiny"), ["n_trajectories=2", "n_frames=2", "frame_interval=0.01"]
    )
    first = generate(preset, tmp_path / "train.h5", seed=3, progress=False)
    info = read_info(first)
    np.testing.assert_array_equal(info.keys, [[3, 0], [3, 1]])
    assert len(info.attrs["keys_fingerprint"]) == 16
    assert capsys.readouterr().err == ""
    generate(preset, tmp_path / "test.h5", seed=3, progress=False)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"warning: {first} records preset tiny with seed 3")
    generate(preset, tmp_path / "other.h5", seed=4, progress=False)
    assert capsys.readouterr().err == ""


def test_trained_on_finds_the_runs_trajectories_by_file_or_by_key():
    from types import SimpleNamespace

    from spectral_refiner.evaluation import trained_on

    record = {
        "fingerprint": "train-file",
        "train": [0, 2],
        "val": [1],
        "test": [3],
        "family": "F",
        "keys": {"train": [[0, 0], [0, 2]], "val": [[0, 1]], "test": [[0, 3]]},
    }

    def flow(fingerprint, keys, family="F"):
        keys = None if keys is None else np.asarray(keys)
        return SimpleNamespace(fingerprint=fingerprint, keys=keys, family=family)

    assert trained_on(record, flow("train-file", None)) == [0, 1, 2]  # the file itself
    same_seed = [[0, 3], [0, 1], [0, 2]]  # a "test" file made with the training seed
    assert trained_on(record, flow("other", same_seed)) == [1, 2]
    assert trained_on(record, flow("other", same_seed, family="G")) == []
    assert trained_on(record, flow("other", seed_keys(1, 4))) == []
    assert trained_on(record, flow("other", None)) == []  # unknown keys: cannot tell
    online = {"family": "F", "keys": {"val": [[5, 0]]}, "stream": {"seed": 5, "first_index": 2}}
    assert trained_on(online, flow("other", seed_keys(5, 4))) == [0, 2, 3]
