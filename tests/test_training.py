"""Training: windows and splits, losses, normalisation in checkpoints, the trainer's learning,
resume identity after a kill and after Ctrl-C, torchrun against one process, online
training, and one-line errors for bad input."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import free_port
from spectral_refiner.cli import main
from spectral_refiner.config import config_from_dict
from spectral_refiner.data import (
    OnlineStream,
    Reservoir,
    WindowDataset,
    apply_overrides,
    build_equation,
    eval_windows,
    generate,
    get_preset,
    preset_problem,
    random_windows,
    read_flow,
    simulate_preset,
    split_trajectories,
)
from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.models import build_model
from spectral_refiner.physics import Residual
from spectral_refiner.training import (
    hybrid_kwargs,
    load_checkpoint,
    model_from_checkpoint,
    physics_loss,
    relative_error,
    train,
)

DATA = [
    "n_trajectories=8",
    "n_frames=12",
    "sim_resolution=32",
    "resolution=16",
    "frame_interval=0.25",
    "batch_size=8",
]
CONFIG = {
    "model": {"name": "sfno", "width": 6, "modes": 4, "time_modes": 1, "n_layers": 1},
    "data": {
        "t_in": 4,
        "t_out": 4,
        "val_split": 2,
        "test_split": 1,
        "samples_per_trajectory": 6,
        "batch_size": 4,
    },
    "optim": {"lr": 3e-3, "epochs": 2},
    "device": "cpu",
}


def small_preset():
    return apply_overrides(get_preset("tiny"), DATA)


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    return generate(small_preset(), tmp_path_factory.mktemp("data") / "small.h5", progress=False)


def write_config(path: Path, changes: dict | None = None) -> Path:
    raw = json.loads(json.dumps(CONFIG))
    for section, values in (changes or {}).items():
        if isinstance(values, dict):
            raw.setdefault(section, {}).update(values)
        else:
            raw[section] = values
    path.write_text(json.dumps(raw))  # JSON is YAML
    return path


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "checkpoints" / "latest.pt")["model"]["state_dict"]


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs"


def step_records(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == "step"]


# ---------------------------------------------------------------------------- windows, splits


def test_split_is_disjoint_deterministic_and_complete():
    split = split_trajectories(20, 0.1, 3, seed=5)
    assert (len(split["train"]), len(split["val"]), len(split["test"])) == (15, 2, 3)
    together = split["train"] + split["val"] + split["test"]
    assert sorted(together) == list(range(20))
    assert split == split_trajectories(20, 0.1, 3, seed=5)
    assert split != split_trajectories(20, 0.1, 3, seed=6)
    with pytest.raises(SpectralRefinerError, match="cannot be split"):
        split_trajectories(4, 2, 2, seed=0)


def test_windows_are_the_stored_frames(data_file):
    flow = read_flow(data_file)
    windows = random_windows([1, 3], n_starts=5, per_trajectory=3, seed=0, epoch=2)
    assert windows == random_windows([1, 3], 5, 3, 0, 2)
    assert windows != random_windows([1, 3], 5, 3, 0, 3)
    assert sorted({t for t, _ in windows}) == [1, 3] and all(0 <= s < 5 for _, s in windows)
    ds = WindowDataset(flow.frames, windows, t_in=3, t_out=2, stride=2)
    w_in, w_out = ds[0]
    traj, start = windows[0]
    expected = flow.frames[traj, start : start + 9 : 2]
    assert torch.equal(torch.cat((w_in, w_out)), expected)
    assert eval_windows([4], n_starts=7, k=3) == [(4, 0), (4, 3), (4, 6)]
    with pytest.raises(SpectralRefinerError, match="span 13 frames"):
        WindowDataset(flow.frames, windows, t_in=8, t_out=5)


# ---------------------------------------------------------------------------- losses


def test_relative_error_is_scale_exact_in_every_norm(data_file):
    flow = read_flow(data_file)
    grid = flow.equation().grid
    y = flow.frames[:2, :4]
    for s in (-1.0, 0.0, 1.0):
        err = relative_error(1.1 * y, y, grid, s)
        torch.testing.assert_close(err, torch.full((2,), 0.1), rtol=1e-5, atol=0)
    # H1 weighs a rough error more than L2 does, H^-1 less.
    rough = y + 0.01 * torch.randn_like(y)
    e = {s: relative_error(rough, y, grid, s).mean() for s in (-1.0, 0.0, 1.0)}
    assert e[-1.0] < e[0.0] < e[1.0]


def test_physics_loss_separates_solutions_from_perturbations(data_file):
    flow = read_flow(data_file)
    eq = flow.equation(dtype=torch.float64)
    traj = flow.frames[:3].double()
    w_in, w_out = traj[:, :6], traj[:, 6:]
    exact = physics_loss(w_in, w_out, Residual(eq, flow.dt))
    wrong = physics_loss(w_in, w_out * 1.05, Residual(eq, flow.dt))
    assert (wrong > 10 * exact).all()
    pred = (w_out * 1.05).requires_grad_()
    physics_loss(w_in, pred, Residual(eq, flow.dt)).sum().backward()
    assert pred.grad.abs().sum() > 0


# ---------------------------------------------------------------------------- normalisation


def test_normalisation_is_applied_and_saved_with_the_model(tmp_path):
    torch.manual_seed(0)
    model = build_model("fno2d", t_in=4, t_out=2, width=8, modes=3, n_layers=2).double()
    x = torch.randn(2, 4, 16, 16, dtype=torch.float64)
    with torch.no_grad():
        plain = model(x)
        model.set_normalization(3.0, 2.0)
        normed = model(x)
        model.set_normalization(0.0, 1.0)
        expected = 2.0 * model((x - 3.0) / 2.0) + 3.0
    torch.testing.assert_close(normed, expected)
    assert (normed - plain).abs().max() > 1e-3
    model.set_normalization(3.0, 2.0)
    from spectral_refiner.models import model_from_payload, model_payload

    torch.save(model_payload(model), tmp_path / "m.pt")
    rebuilt = model_from_payload(torch.load(tmp_path / "m.pt", weights_only=True))
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), normed, rtol=0, atol=0)
    with pytest.raises(SpectralRefinerError, match="positive std"):
        model.set_normalization(0.0, 0.0)


def test_training_learns_and_keeps_the_data_statistics(data_file, tmp_path):
    config = config_from_dict(
        {
            **CONFIG,
            "model": {"name": "fno2d", "width": 8, "modes": 4, "n_layers": 2},
            "data": {
                **CONFIG["data"],
                "file": str(data_file),
                "t_out": 2,
                "samples_per_trajectory": 10,
            },
            "optim": {"lr": 1e-2, "epochs": 6},
        }
    )
    summary = train(config, str(tmp_path / "run"), progress=False)
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert len(epochs) == 6 and epochs[-1]["val_rel_l2"] < 0.5 * epochs[0]["val_rel_l2"]
    assert summary["val"]["rel_l2"] == pytest.approx(min(r["val_rel_l2"] for r in epochs))
    assert set(summary["test"]) == {"rel_l2", "rel_h1", "rel_h-1", "eta", "windows"}
    ck = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")
    flow = read_flow(data_file)
    train_frames = flow.frames[ck["split"]["train"]]
    assert ck["normalization"]["mean"] == pytest.approx(float(train_frames.mean()), abs=1e-6)
    assert ck["normalization"]["std"] == pytest.approx(float(train_frames.std()), rel=1e-5)
    model = model_from_checkpoint(ck, expected="fno2d")
    assert float(model.data_std) == pytest.approx(ck["normalization"]["std"])
    with pytest.raises(SpectralRefinerError, match="holds a 'fno2d' model"):
        model_from_checkpoint(ck, expected="sfno")


def test_label_free_physics_training_lowers_the_residual_and_the_error(data_file, tmp_path):
    """With no data term, the residual alone drives the prediction towards the truth."""
    config = config_from_dict(
        {
            **CONFIG,
            "data": {**CONFIG["data"], "file": str(data_file), "samples_per_trajectory": 10},
            "loss": {"data_weight": 0.0, "physics_weight": 1.0},
            "optim": {"lr": 1e-2, "epochs": 4},
        }
    )
    summary = train(config, str(tmp_path / "run"), progress=False)
    steps = step_records(tmp_path / "run")
    assert "data_loss" not in steps[0] and "physics_loss" in steps[0]
    first, last = np.mean([r["loss"] for r in steps[:3]]), np.mean([r["loss"] for r in steps[-3:]])
    assert last < 0.75 * first
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    epochs = [r for r in map(json.loads, lines) if r["kind"] == "epoch"]
    assert summary["val"]["rel_l2"] < 0.8 * epochs[0]["val_rel_l2"]


def test_amp_on_the_cpu_degrades_to_full_precision(data_file, tmp_path, capsys):
    config = config_from_dict(
        {
            **CONFIG,
            "data": {**CONFIG["data"], "file": str(data_file)},
            "optim": {"epochs": 1, "amp": True},
        }
    )
    train(config, str(tmp_path / "run"), progress=False)
    assert "amp is CUDA-only" in capsys.readouterr().err


# ---------------------------------------------------------------------------- resume identity


@pytest.fixture(scope="module")
def uninterrupted(data_file, tmp_path_factory):
    """The config of the resume tests (2 epochs of 25 steps, a checkpoint every 3 steps), its
    ``train`` arguments, and the run trained with it in one go."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    cfg = write_config(
        folder / "c.yaml",
        {"data": {"samples_per_trajectory": 20}, "optim": {"epochs": 2, "checkpoint_every": 3}},
    )
    args = ["train", "--config", str(cfg), "--data", str(data_file), "--quiet"]
    assert main([*args, "--out", str(folder / "whole")]) == 0  # in this process: no imports
    return args, folder / "whole"


@pytest.mark.slow
def test_kill_and_resume_gives_identical_weights(uninterrupted, tmp_path):
    """Training 2 epochs in one go equals training, being killed (SIGKILL) in the second
    epoch, and resuming from the last checkpoint (mid-epoch: every 3 steps)."""
    args, whole = uninterrupted
    steps = len(step_records(whole))
    assert steps == 2 * 25  # 5 training trajectories x 20 windows, batches of 4

    run = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "spectral_refiner.cli", *args, "--out", str(run)], env=env
    )
    deadline = time.time() + 300
    while time.time() < deadline:
        if (run / "metrics.jsonl").exists() and len(step_records(run)) >= steps // 2 + 2:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    progress = load_checkpoint(run / "checkpoints" / "latest.pt")["progress"]
    assert 0 < progress["step"] < steps, "the kill came too late to test a resume"
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert_same_weights(weights(run), weights(whole))
    losses = [r["loss"] for r in step_records(run)]
    assert losses == [r["loss"] for r in step_records(whole)]


@pytest.mark.slow
def test_ctrl_c_checkpoints_the_step_and_resume_is_identical(data_file, uninterrupted, tmp_path):
    """Without periodic checkpoints, Ctrl-C checkpoints the step it stopped at, and the resumed
    run ends with the weights of the uninterrupted one (which checkpointed every 3 steps:
    checkpoints do not change the training)."""
    _, whole = uninterrupted
    cfg = write_config(tmp_path / "c.yaml", {"data": {"samples_per_trajectory": 20}})
    args = ["train", "--config", str(cfg), "--data", str(data_file), "--quiet"]
    run = tmp_path / "stopped"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "spectral_refiner.cli", *args, "--out", str(run)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    while not (run / "metrics.jsonl").exists() or len(step_records(run)) < 5:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"--resume {run}" in err and "Traceback" not in err
    stopped = load_checkpoint(run / "checkpoints" / "latest.pt")["progress"]
    assert stopped["step"] == len(step_records(run)) and stopped["epoch_step"] > 0
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert_same_weights(weights(run), weights(whole))


# ---------------------------------------------------------------------------- many processes


@pytest.mark.slow
def test_torchrun_matches_one_process_with_the_same_global_batch(data_file, tmp_path):
    """Two gloo ranks, each with half of every global batch of 4 (the epoch's last batch
    of 2 split 1 + 1), follow the single-process loss curve: float64, to 1e-9 relative."""
    cfg = write_config(
        tmp_path / "c.yaml", {"dtype": "float64", "data": {"samples_per_trajectory": 3}}
    )
    args = ["train", "--config", str(cfg), "--data", str(data_file), "--quiet", "--out"]
    assert main([*args, str(tmp_path / "one")]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            f"--master_port={free_port()}",
            "-m",
            "spectral_refiner.cli",
            *args,
            str(tmp_path / "two"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    one, two = step_records(tmp_path / "one"), step_records(tmp_path / "two")
    assert len(one) == len(two) == 2 * 4  # 15 windows: batches of 4, 4, 4, 3
    np.testing.assert_allclose([r["loss"] for r in two], [r["loss"] for r in one], rtol=1e-9)
    a, b = weights(tmp_path / "one"), weights(tmp_path / "two")
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-7, atol=1e-10)
    assert not list((tmp_path / "two").rglob(".*.tmp-*"))  # no temporary files left


# ---------------------------------------------------------------------------- online


def test_stream_indices_are_disjoint_across_workers_ranks_and_resumes():
    preset = small_preset()
    seen: set[int] = set()
    for segment in range(2):
        for rank in range(2):
            stream = OnlineStream(
                preset,
                0,
                first_index=10 + segment * 2**40,
                t_in=4,
                t_out=4,
                stride=1,
                batch_size=2,
                buffer_size=8,
                watermark=2,
                solver_batch=3,
                rank=rank,
                world=2,
            )
            for worker in range(3):
                for c in range(4):
                    indices = stream.trajectory_indices(rank * 3 + worker, 6, c)
                    assert min(indices) >= 10 and not seen.intersection(indices)
                    seen.update(indices)
    assert len(seen) == 2 * 2 * 3 * 4 * 3


def test_reservoir_is_bounded_and_draws_unseen_samples_first():
    res = Reservoir(4, np.random.default_rng(0))
    for i in range(3):
        res.add(torch.tensor(float(i)))
    assert [float(x) for x in res.draw(2)] == [0.0, 1.0]  # undrawn first, oldest first
    first = [float(x) for x in res.draw(3)]
    assert first[0] == 2.0 and len(set(first)) == 3  # then uniform, without repeats
    for i in range(3, 10):
        res.add(torch.tensor(float(i)))
    assert len(res) == 4
    held = {float(x) for x in res.items}
    assert {float(x) for x in res.draw(4)} == held  # undrawn ones, then the rest: no repeats
    assert len(res.draw(6)) == 6  # with replacement when asked for more than it holds


def test_stream_yields_windows_of_the_solver_trajectories_it_owns():
    preset = small_preset()
    stream = OnlineStream(
        preset,
        7,
        first_index=4,
        t_in=4,
        t_out=4,
        stride=1,
        batch_size=3,
        buffer_size=50,
        watermark=10,
        solver_batch=2,
    )
    w_in, w_out, stats = next(iter(stream))
    assert w_in.shape == (3, 4, 16, 16) and w_out.shape == (3, 4, 16, 16)
    assert stats["windows"] >= 10 and stats["drawn"] == 3
    frames = simulate_preset(preset, build_equation(preset), 7, [4, 5, 6, 7]).float()
    candidates = torch.cat([frames[:, s : s + 8] for s in range(12 - 8 + 1)])
    for window in torch.cat((w_in, w_out), dim=1):
        assert ((candidates - window).abs().amax(dim=(1, 2, 3)) < 1e-6).any()


@pytest.mark.slow
def test_online_training_end_to_end(tmp_path, capsys):
    cfg = write_config(
        tmp_path / "c.yaml",
        {
            "online": {
                "preset_overrides": DATA,
                "steps_per_epoch": 6,
                "val_trajectories": 2,
                "buffer_size": 16,
                "watermark": 8,
                "workers": 1,
            },
        },
    )
    command = ["train", "--config", str(cfg), "--online", "tiny", "--quiet"]
    assert main([*command, "--out", str(tmp_path / "run")]) == 0  # in this process: no imports
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    epochs = [r for r in map(json.loads, lines) if r["kind"] == "epoch"]
    assert len(epochs) == 2
    assert epochs[-1]["online_generated_per_s"] > 0 and epochs[-1]["online_consumed_per_s"] > 0
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    assert split["source"] == "online:tiny" and split["val"] == [0, 1] and split["test"] == [2, 3]
    stdout = capsys.readouterr().out
    assert "validation" in stdout and "test" in stdout


# ---------------------------------------------------------------------------- bad input


def _tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def finished_run(data_file, tmp_path_factory):
    folder = tmp_path_factory.mktemp("finished")
    cfg = write_config(folder / "c.yaml", {"optim": {"epochs": 1}})
    assert (
        main(
            [
                "train",
                "--config",
                str(cfg),
                "--data",
                str(data_file),
                "--quiet",
                "--out",
                str(folder / "run"),
            ]
        )
        == 0
    )
    return folder / "run", cfg


def test_bad_input_is_one_line_and_exit_2(data_file, finished_run, tmp_path, capsys):
    run, cfg = finished_run
    before = _tree_digest(run)
    bad_h5 = tmp_path / "bad.h5"
    bad_h5.write_bytes(b"not hdf5")
    import h5py

    wrong = tmp_path / "wrong.h5"
    with h5py.File(wrong, "w") as f:
        f.create_group("t0_fields").create_dataset("vorticity", data=np.zeros((2, 3, 4)))
    cases = [
        (["--config", str(cfg), "--data", str(bad_h5)], "cannot be opened as HDF5"),
        (["--config", str(cfg), "--data", str(wrong)], "missing group"),
        (
            ["--config", str(cfg), "--data", str(data_file), "--set", "data.t_in=10"],
            "span 14 frames",
        ),
        (
            ["--config", str(cfg), "--data", str(data_file), "--set", "optim.learning_rate=1"],
            "unknown key optim.learning_rate",
        ),
        (
            ["--config", str(cfg), "--data", str(data_file), "--set", "model.width=wide"],
            "bad value for model.width",
        ),
        (
            ["--config", str(cfg), "--data", str(data_file), "--set", "model.depth=3"],
            "unknown key model.depth for sfno",
        ),
        (["--config", str(tmp_path / "nope.yaml")], "no config file"),
        (["--resume", str(tmp_path)], "holds no training run"),
        (["--config", str(cfg), "--data", str(data_file), "--out", str(run)], "--overwrite"),
        (["--resume", str(run), "--set", "optim.lr=1"], "--resume continues a run"),
        (["--config", str(cfg), "--online", "no-such-preset"], "unknown preset"),
    ]
    for args, message in cases:
        if "--out" not in args and "--resume" not in args:
            args = [*args, "--out", str(tmp_path / "new")]
        code = main(["train", *args, "--quiet"])
        err = capsys.readouterr().err.strip()
        assert code == 2, (args, err)
        assert message in err and len(err.splitlines()) == 1, (args, err)
    assert _tree_digest(run) == before


def test_a_checkpoint_from_another_model_is_refused(finished_run, tmp_path, capsys):
    import shutil

    run, _ = finished_run
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    text = (copy / "config.yaml").read_text().replace("name: sfno", "name: fno2d")
    text = "\n".join(line for line in text.splitlines() if "time_modes" not in line)
    (copy / "config.yaml").write_text(text)
    assert main(["train", "--resume", str(copy), "--quiet"]) == 2
    assert "holds a 'sfno' model" in capsys.readouterr().err


def test_shipped_configs_load_and_resolve_round_trip(tmp_path):
    import yaml

    from spectral_refiner.config import load_config, shipped_configs

    names = set(shipped_configs())
    for data in ("fno-nu1e-3", "mcwilliams-re1000", "kolmogorov-re1000"):
        assert {f"{m}-{data}" for m in ("sfno", "fno3d", "fno2d")} <= names
    assert "tiny" in names
    for name in names:
        config = load_config(name)
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(config.to_dict()))
        assert load_config(tmp_path / "c.yaml") == config
        kwargs = config.model_kwargs()
        if config.model["name"] == "hybrid":  # the coarse equation comes from the data
            from spectral_refiner.data import PRESETS  # hybrid-PRESET[-variant]

            preset = get_preset(
                max((p for p in PRESETS if name.startswith(f"hybrid-{p}")), key=len)
            )
            problem = preset_problem(preset).with_window(1, config.data.t_out)
            kwargs = hybrid_kwargs(kwargs, problem, preset, preset.name)
        build_model(config.model["name"], **kwargs)
    assert {"hybrid-kolmogorov-dns256", "hybrid-mcwilliams-dns256"} <= names
    config = load_config("tiny")
    assert dataclasses.asdict(config)["optim"]["schedule"] == "onecycle"
