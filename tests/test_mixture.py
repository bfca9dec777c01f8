"""Several files in one run: each window holds its own file's frames and that file's parameter
channels, the split is by trajectory within each file, resume is bit-identical, and files of
different resolutions without a resolution setting are refused in one line."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from spectral_refiner.cli import main
from spectral_refiner.config import apply_config_overrides
from spectral_refiner.data import get_preset, preset_problem, seed_keys, write_dataset
from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.evaluation import open_run_data
from spectral_refiner.training import (
    MixtureWindows,
    RunDir,
    TrainConfig,
    load_checkpoint,
    parameter_channels,
    train,
)

TRAJ, FRAMES = 6, 6


def labelled_file(path, preset: str, file_id: int, n: int = 16, **changes):
    """A file whose frame ``(trajectory t, frame j)`` is the constant ``100 f + 10 t + j``, so a
    window shows which frames it holds, with the equation of ``preset`` (and ``changes``)."""
    recipe = dataclasses.replace(
        get_preset(preset), resolution=n, sim_resolution=n, n_frames=FRAMES, **changes
    )
    values = 100 * file_id + 10 * np.arange(TRAJ)[:, None] + np.arange(FRAMES)[None, :]
    frames = np.broadcast_to(values[..., None, None], (TRAJ, FRAMES, n, n)).astype(np.float32)
    write_dataset(path, frames, recipe.times(), recipe.fields(), {}, keys=seed_keys(file_id, TRAJ))
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mixture")
    return [
        labelled_file(folder / "a.h5", "fno-nu1e-3", 1),
        labelled_file(folder / "b.h5", "fno-nu1e-4", 2),
        labelled_file(folder / "c.h5", "mcwilliams-re1000", 3),
    ]


def mixture_config(files, *changes: str) -> TrainConfig:
    config = TrainConfig(
        model={"name": "fno2d", "width": 6, "modes": 4, "n_layers": 1}, device="cpu"
    )
    config.data.files = list(files)
    return apply_config_overrides(
        config,
        [
            "data.t_in=2",
            "data.t_out=1",
            "data.val_split=1",
            "data.test_split=1",
            "data.samples_per_trajectory=2",
            "data.batch_size=4",
            *changes,
        ],
    )


def test_windows_hold_their_files_frames_and_parameters(files, tmp_path):
    config = mixture_config(files).validate()
    source = MixtureWindows(config, RunDir(tmp_path), False, 0, 1, False)
    expected = {
        1: [math.log10(1e-3), 0.0, 0.1],
        2: [math.log10(1e-4), 0.0, 0.1],
        3: [math.log10(1e-3), 0.0, 0.0],  # McWilliams: unforced
    }
    seen = set()
    for w_in, w_out, _ in source.batches(epoch=0, skip=0):
        assert w_in.shape[1:] == (2 + 3, 16, 16) and w_out.shape[1:] == (1, 16, 16)
        for x, y in zip(w_in, w_out, strict=True):
            f, t, j = int(x[0, 0, 0]) // 100, int(x[0, 0, 0]) // 10 % 10, int(x[0, 0, 0]) % 10
            assert x[:2, 0, 0].tolist() == [100 * f + 10 * t + j, 100 * f + 10 * t + j + 1]
            assert y[0, 0, 0] == 100 * f + 10 * t + j + 2
            torch.testing.assert_close(
                x[2:], torch.tensor(expected[f])[:, None, None].expand(3, 16, 16)
            )
            seen.add((f, t))
    splits = source.record()["files"]
    for f, split in enumerate(splits, start=1):
        parts = [set(split[k]) for k in ("train", "val", "test")]
        assert set().union(*parts) == set(range(TRAJ)) and sum(map(len, parts)) == TRAJ
        assert {t for g, t in seen if g == f} <= parts[0]  # training windows: training trajectories
    assert source.steps_per_epoch == 3 * 4 * 2 // 4


def test_parameter_channels_are_the_documented_values():
    problem = preset_problem(get_preset("kolmogorov-re1000"))
    c = parameter_channels(
        problem, ["viscosity", "drag", "forcing_amplitude", "forcing_wavenumber"]
    )
    assert c.tolist() == pytest.approx([-3.0, 0.1, 1.0, 4.0])
    with pytest.raises(SpectralRefinerError, match="unknown parameter 'reynolds'"):
        parameter_channels(problem, ["reynolds"])


def test_mixture_run_trains_on_every_file_and_resumes_bit_identically(files, tmp_path):
    whole = train(mixture_config(files, "optim.epochs=2"), str(tmp_path / "whole"), progress=False)
    assert whole["steps"] == 2 * 6 and math.isnan(whole["test"]["eta"])
    assert whole["test"]["windows"] == 3  # one test trajectory per file
    saved = load_checkpoint(tmp_path / "whole/checkpoints/latest.pt")
    assert saved["model"]["config"]["t_in"] == 2 + 3
    assert [f["source"] for f in saved["split"]["files"]] == files
    stopped = mixture_config(files, "optim.epochs=2", "optim.max_time=1e-9")
    train(stopped, str(tmp_path / "run"), progress=False)
    train(
        mixture_config(files, "optim.epochs=2"), str(tmp_path / "run"), resume=True, progress=False
    )
    a = saved["model"]["state_dict"]
    b = load_checkpoint(tmp_path / "run/checkpoints/latest.pt")["model"]["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_files_of_different_resolutions_need_a_resolution_setting(files, tmp_path, capsys):
    coarse = labelled_file(tmp_path / "coarse.h5", "kolmogorov-re1000", 4, n=8)
    mixed = [files[0], coarse]
    with pytest.raises(SpectralRefinerError, match=r"set data\.resolution=N") as err:
        train(mixture_config(mixed), str(tmp_path / "run"), progress=False)
    assert "\n" not in str(err.value) and not (tmp_path / "run").exists()
    config = mixture_config(mixed, "data.resolution=8", "optim.epochs=1")
    assert train(config, str(tmp_path / "ok"), progress=False)["steps"] == 4
    yaml = tmp_path / "mix.yaml"
    yaml.write_text(
        "model: {name: fno2d, width: 6, modes: 2, n_layers: 1}\n"
        f"data: {{files: [{files[0]}, {coarse}], t_in: 2, t_out: 1, val_split: 1, "
        "test_split: 1}\ndevice: cpu\n"
    )
    assert main(["train", "--config", str(yaml), "--out", str(tmp_path / "cli"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "different resolutions" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "cli").exists()


def test_a_mixture_run_serves_each_of_its_files_with_that_files_channels(files, tmp_path):
    """Used on a file, a mixture run reads the file's frames followed by the file's own
    parameter channels (no --physics-from-file needed for an equation it trained on), the
    trajectories it trained on are refused per file, and compare-solver takes it like every
    surrogate."""
    train(mixture_config(files, "optim.epochs=1"), str(tmp_path / "run"), progress=False)
    held_out = labelled_file(tmp_path / "b-held-out.h5", "fno-nu1e-4", 9)
    data = open_run_data(tmp_path / "run", held_out)
    names = RunDir(tmp_path / "run").read_split()["parameters"]
    assert data.problem.viscosity == 1e-4 and data.model.t_in == 2
    w = data.inputs(0)

    def inner(preset: str) -> torch.Tensor:
        c = parameter_channels(preset_problem(get_preset(preset)), names)
        with torch.no_grad():
            return data.model.inner(
                torch.cat((w, c[None, :, None, None].expand(len(w), -1, *w.shape[-2:])), 1)
            )

    with torch.no_grad():
        assert torch.equal(data.model(w), inner("fno-nu1e-4"))
        assert not torch.equal(data.model(w), inner("fno-nu1e-3"))
    with pytest.raises(SpectralRefinerError, match="trained or validated on"):
        open_run_data(tmp_path / "run", files[1])
    # a file of another box than the run's first file: compared with its own entry's equation
    mcw = open_run_data(tmp_path / "run", labelled_file(tmp_path / "c2.h5", "mcwilliams-re1000", 8))
    assert mcw.problem.box_length == pytest.approx(2 * math.pi) != data.problem.box_length
    args = ["compare-solver", "--run", str(tmp_path / "run"), "--data", held_out, "--quiet"]
    assert main(args) == 0
