import dataclasses
import hashlib
import math
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from conftest import free_port
from spectral_refiner.cli import main
from spectral_refiner.data import (
    apply_overrides,
    build_equation,
    generate,
    get_preset,
    read_info,
    read_vorticity,
)
from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.physics import make_initial_condition, resample, simulate

SMALL = [
    "n_trajectories=5",
    "n_frames=5",
    "sim_resolution=32",
    "resolution=16",
    "frame_interval=0.5",
    "batch_size=2",
]


def small(**changes):
    return dataclasses.replace(apply_overrides(get_preset("tiny"), SMALL), **changes)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def reference_file(tmp_path_factory):
    return generate(small(), tmp_path_factory.mktemp("ref") / "ref.h5", seed=3, progress=False)


def test_file_holds_the_spectrally_truncated_simulation(reference_file):
    info = read_info(reference_file)
    assert info.shape == (5, 5, 16, 16)
    np.testing.assert_array_equal(info.times, [0.0, 0.5, 1.0, 1.5, 2.0])
    w = read_vorticity(reference_file)
    preset = small()
    eq = build_equation(preset)
    w0 = make_initial_condition(preset.initial_condition, eq.grid, 3, [0, 1, 2, 3, 4])
    full = simulate(eq, w0, preset.times(), courant=preset.courant)
    np.testing.assert_allclose(w, resample(full, 16).numpy(), atol=1e-5, rtol=0)
    assert info.attrs["seed"] == 3 and info.attrs["scheme"] == "rk4-cn"
    assert info.preset_fields["viscosity"] == 1e-3
    assert "adaptive" in info.attrs["dt_policy"]


def test_the_well_reads_the_file(reference_file, tmp_path):
    pytest.importorskip("the_well")
    from the_well.data import WellDataset

    folder = tmp_path / "train"
    folder.mkdir()
    os.symlink(reference_file, folder / "data.h5")
    ds = WellDataset(path=str(folder), n_steps_input=2, n_steps_output=1, use_normalization=False)
    w = read_vorticity(reference_file)
    windows = 5 - 3 + 1
    assert len(ds) == 5 * windows
    for index in (0, 4, len(ds) - 1):
        traj, t0 = divmod(index, windows)
        item = ds[index]
        np.testing.assert_array_equal(item["input_fields"][..., 0].numpy(), w[traj, t0 : t0 + 2])
        np.testing.assert_array_equal(
            item["output_fields"][..., 0].numpy(), w[traj, t0 + 2 : t0 + 3]
        )
        assert item["boundary_conditions"].tolist() == [[2, 2], [2, 2]]  # periodic
        torch.testing.assert_close(item["constant_scalars"][0], torch.tensor(1e-3))
    x = item["space_grid"][..., 0]
    assert float(x[1, 0]) == pytest.approx(1 / 16)


def test_batch_size_and_resume_do_not_change_any_trajectory(reference_file, tmp_path):
    out = tmp_path / "resumed.h5"
    batches = []

    def kill_after_first(batch):
        batches.append(batch)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(small(batch_size=3), out, seed=3, progress=False, on_batch=kill_after_first)
    assert not out.exists()  # never looks complete
    assert len(list((tmp_path / "resumed.h5.parts").glob("part_*.npz"))) == 3
    generate(small(batch_size=1), out, seed=3, progress=False, on_batch=batches.append)
    assert batches == [[0, 1, 2], [3], [4]]  # the second run did only what was missing
    np.testing.assert_array_equal(read_vorticity(out), read_vorticity(reference_file))
    assert not (tmp_path / "resumed.h5.parts").exists()


def test_rerun_of_a_complete_file_is_a_no_op_and_other_parameters_are_refused(
    reference_file, tmp_path
):
    before = digest(reference_file)
    generate(small(), reference_file, seed=3, progress=False)
    assert digest(reference_file) == before
    with pytest.raises(SpectralRefinerError, match=r"other parameters.*--overwrite"):
        generate(small(viscosity=2e-3), reference_file, seed=3, progress=False)
    assert digest(reference_file) == before


def run_cli(*args):
    return main([str(a) for a in args])


def test_cli_generate_and_info(tmp_path, capsys):
    out = tmp_path / "cli.h5"
    args = ["generate", "--preset", "tiny", "--out", out, "--seed", "3", "--quiet"]
    for item in SMALL:
        args += ["--set", item]
    assert run_cli(*args) == 0
    assert run_cli("info", out) == 0
    text = capsys.readouterr().out
    assert "(5, 5, 16, 16)" in text and "vorticity stats" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "viscosity=-1"], "viscosity must be >= 0"),
        (
            ["--set", "forcing=kolmogorov", "--set", "sim_resolution=8", "--set", "resolution=8"],
            "too small for forcing wavenumber",
        ),
        (["--set", "visc=1"], "unknown key 'visc'"),
        (["--set", "n_frames=two"], "not a valid int"),
        (["--preset", "nope"], "unknown preset 'nope'"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2_and_no_file(tmp_path, capsys, args, message):
    out = tmp_path / "bad.h5"
    base = ["generate", "--preset", "tiny", "--out", out, "--quiet"]
    assert run_cli(*base, *args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_unwritable_and_existing_paths(reference_file, tmp_path, capsys):
    assert run_cli("generate", "--preset", "tiny", "--out", tmp_path / "no" / "x.h5") == 2
    assert "does not exist" in capsys.readouterr().err
    before = digest(reference_file)
    assert run_cli("generate", "--preset", "tiny", "--out", reference_file, "--quiet") == 2
    assert "made with other parameters" in capsys.readouterr().err
    assert digest(reference_file) == before


def test_info_says_what_is_wrong_with_a_bad_file(tmp_path, capsys):
    junk = tmp_path / "junk.h5"
    junk.write_text("not hdf5")
    assert run_cli("info", junk) == 2
    assert "cannot be opened as HDF5" in capsys.readouterr().err
    partial = tmp_path / "partial.h5"
    with h5py.File(partial, "w") as f:
        f.create_group("dimensions").create_dataset("time", data=np.arange(3.0))
    assert run_cli("info", partial) == 2
    assert "missing group 't0_fields'" in capsys.readouterr().err
    assert run_cli("info", tmp_path / "absent.h5") == 2
    assert "no such file" in capsys.readouterr().err


def test_presets_cover_the_benchmarks():
    for name, viscosity, frames, box in [
        ("fno-nu1e-3", 1e-3, 51, 1.0),
        ("fno-nu1e-4", 1e-4, 31, 1.0),
        ("fno-nu1e-5", 1e-5, 21, 1.0),
        ("mcwilliams-re1000", 1e-3, 111, 2 * math.pi),
        ("kolmogorov-re1000", 1e-3, 41, 2 * math.pi),
    ]:
        p = get_preset(name).validate()
        assert (p.viscosity, p.n_frames, p.box_length) == (viscosity, frames, box)
        assert (p.sim_resolution, p.resolution) == (256, 64)
    assert get_preset("mcwilliams-re1000").times()[[0, -1]].tolist() == [4.5, 10.0]
    assert get_preset("fno-nu1e-3").times()[-1] == 50.0


@pytest.mark.slow
def test_torchrun_ranks_split_the_work_into_one_identical_file(reference_file, tmp_path):
    out = tmp_path / "ddp.h5"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={free_port()}",
        "-m",
        "spectral_refiner.cli",
        "generate",
        "--preset",
        "tiny",
        "--out",
        str(out),
        "--seed",
        "3",
        "--quiet",
    ]
    for item in SMALL:
        cmd += ["--set", item]
    # Bitwise identity holds at equal thread counts (the FFT library's multi-threaded paths
    # round differently), so the ranks use as many threads as the process that made the
    # reference.
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    np.testing.assert_array_equal(read_vorticity(out), read_vorticity(reference_file))


@pytest.mark.slow
def test_console_script_end_to_end(tmp_path):
    out = tmp_path / "e2e.h5"

    def command(*sets):
        cmd = ["spectral-refiner", "generate", "--preset", "tiny", "--out", str(out)]
        for item in sets:
            cmd += ["--set", item]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300)

    result = command("n_trajectories=2")
    assert result.returncode == 0, result.stderr
    assert "traj/s" in result.stderr  # the progress bar shows a rate
    assert read_info(out).shape == (2, 21, 32, 32)
    bad = command("viscosity=-1")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("error: ")


def test_partial_run_with_other_parameters_is_refused(tmp_path):
    out = tmp_path / "p.h5"

    def kill(batch):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(small(), out, seed=3, progress=False, on_batch=kill)
    with pytest.raises(SpectralRefinerError, match="partial run made with other parameters"):
        generate(small(), out, seed=4, progress=False)
    generate(small(), out, seed=4, progress=False, overwrite=True)
    assert read_info(out).attrs["seed"] == 4


@pytest.mark.parametrize("name", ["kolmogorov-dns256", "kolmogorov-dns512", "mcwilliams-dns256"])
def test_filtered_dns_presets_run_reduced(tmp_path, name):
    """DNS presets: the stored grid is an integer fraction (>= 4x) of the DNS grid and the
    frames are 2 coarse solver steps of 0.01 apart; a reduced copy generates."""
    p = get_preset(name).validate()
    assert p.resolution == 64 and p.sim_resolution in (256, 512)
    assert p.frame_interval == 0.02 and p.box_length == 2 * math.pi and p.viscosity == 1e-3
    if name.startswith("kolmogorov"):
        assert (p.drag, p.forcing, p.forcing_wavenumber, p.warmup_time) == (
            0.1,
            "kolmogorov",
            4,
            30.0,
        )
    out = tmp_path / "dns.h5"
    reduced = ["n_trajectories=2", "n_frames=3", "sim_resolution=32", "resolution=16"]
    args = ["generate", "--preset", name, "--out", out, "--quiet", "--set", "warmup_time=0.1"]
    for item in reduced:
        args += ["--set", item]
    assert run_cli(*args) == 0
    info = read_info(out)
    assert info.shape == (2, 3, 16, 16)
    np.testing.assert_allclose(info.times, [0.1, 0.12, 0.14], rtol=1e-6)  # stored float32
