"""Hybrid runs in the trainer: the model is the plain solver untrained, its checkpoint rebuilds
it, a run trains from the CLI, bad inputs stop with one line."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import types

import numpy as np
import pytest
import torch

from conftest import two_gloo_ranks
from spectral_refiner.cli import main
from spectral_refiner.config import apply_config_overrides, load_config
from spectral_refiner.data import apply_overrides, generate, get_preset, read_flow
from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.hybrid import HybridModel
from spectral_refiner.models import model_from_payload, model_payload
from spectral_refiner.physics.time_stepping import imex_stepper
from spectral_refiner.training import hybrid_kwargs, init_from, load_checkpoint
from test_training import assert_same_weights, step_records, weights

DNS = ["sim_resolution=32", "resolution=16", "n_trajectories=5", "n_frames=6", "warmup_time=0.2"]
CONFIG = {
    "model": {
        "name": "hybrid",
        "form": "closure",
        "corrector": {"name": "cnn", "width": 4, "n_layers": 2},
        "steps_per_frame": 2,
        "dt": 0.01,
    },
    "data": {"t_in": 1, "t_out": 3, "val_split": 1, "test_split": 1, "batch_size": 3},
    "optim": {"lr": 1e-2, "epochs": 1},
    "device": "cpu",
}


@pytest.fixture(scope="module")
def dns_file(tmp_path_factory):
    preset = apply_overrides(get_preset("kolmogorov-dns256"), DNS)
    return generate(preset, tmp_path_factory.mktemp("dns") / "dns.h5", progress=False)


def hybrid(dns_file, **changes) -> HybridModel:
    flow = read_flow(dns_file)
    problem = flow.problem.with_window(1, 3)
    spec = {k: v for k, v in CONFIG["model"].items() if k != "name"} | changes
    return HybridModel(**hybrid_kwargs({"t_in": 1, "t_out": 3, **spec}, problem, flow.preset, ""))


@pytest.mark.parametrize("form", ["closure", "state"])
def test_untrained_hybrid_model_is_the_plain_coarse_solver(dns_file, form):
    """Gain 0: ``model(w0)`` equals the plain coarse equation's steps bit for bit, in
    float64 (the grid follows ``model.to``), 2 steps of 0.01 between frames."""
    model = hybrid(dns_file, form=form).to(torch.float64)
    w0 = read_flow(dns_file).frames[:2, :1].double()
    with torch.no_grad():
        pred = model(w0)
    equation = model.hybrid.equation
    assert equation.grid.dtype == torch.float64
    grid, step = equation.grid, imex_stepper(equation, 0.01)
    w_hat, plain = grid.rfft(w0[:, 0]), []
    for _ in range(3):
        w_hat = step(step(w_hat))
        plain.append(grid.irfft(w_hat))
    assert torch.equal(pred, torch.stack(plain, dim=1))


def test_checkpoint_payload_rebuilds_the_same_hybrid(dns_file):
    model = hybrid(dns_file, inputs="vorticity-velocity").to(torch.float64)
    with torch.no_grad():
        model.gain.fill_(0.3)
        for p in model.net.parameters():
            p.add_(0.01)
    clone = model_from_payload(model_payload(model))
    assert clone.hybrid.grid.dtype == torch.float64
    w0 = read_flow(dns_file).frames[:2, :1].double()
    with torch.no_grad():
        a, b = model(w0), clone(w0)
    assert torch.equal(a, b) and not torch.equal(a, hybrid(dns_file).double()(w0).detach())


def test_a_file_that_is_not_a_filtered_dns_is_refused():
    problem = types.SimpleNamespace(resolution=16)
    for fine in (16, 24, None):
        with pytest.raises(SpectralRefinerError, match="not a filtered DNS"):
            hybrid_kwargs({}, problem, types.SimpleNamespace(sim_resolution=fine), "f.h5")


def test_a_dt_that_does_not_divide_the_frame_spacing_is_refused(dns_file):
    with pytest.raises(SpectralRefinerError, match=r"frames' spacing 0\.02"):
        hybrid(dns_file, dt=0.015)


@pytest.mark.slow
def test_hybrid_cli_run_resumes_after_a_kill_and_two_ranks_equal_one(dns_file, tmp_path, capsys):
    """One CLI run (float64, 2 epochs of 3 x 4 windows in global batches of 4, a checkpoint
    every step, a curriculum of K = 1 frame in epoch 1 and K = 2 in epoch 2, validated on
    windows of 1 + 2 frames, too short for η) is the reference of: a run killed (SIGKILL)
    after its first steps and resumed, across the change of K, equal bit for bit (weights and
    losses); two gloo ranks, equal to 1e-9 relative; and a dt that does not divide the frame
    spacing, which exits 2 with one line and writes nothing."""
    cfg = tmp_path / "c.yaml"
    data = {"t_out": 2, "samples_per_trajectory": 4, "batch_size": 4, "curriculum": [[1, 1]]}
    changes = {"data": {**CONFIG["data"], **data}}
    changes["optim"] = {**CONFIG["optim"], "checkpoint_every": 1, "epochs": 2}
    cfg.write_text(json.dumps(CONFIG | changes | {"dtype": "float64"}))
    args = ["train", "--config", str(cfg), "--data", str(dns_file), "--quiet", "--out"]
    assert main([*args, str(tmp_path / "one")]) == 0  # in this process: no imports
    summary = json.loads((tmp_path / "one" / "summary.json").read_text())
    assert summary["model"] == "hybrid" and summary["steps"] == 6
    assert 0 < summary["val"]["rel_l2"] < 1 and math.isnan(summary["val"]["eta"])
    losses = [r["loss"] for r in step_records(tmp_path / "one")]

    run = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "spectral_refiner.cli", *args, str(run)]
    proc = subprocess.Popen(command, env=env)
    deadline = time.time() + 300
    while time.time() < deadline:
        if (run / "metrics.jsonl").exists() and len(step_records(run)) >= 3:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = load_checkpoint(run / "checkpoints" / "latest.pt")["progress"]["step"]
    assert 0 < step < 6, "the kill came too late to test a resume"
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert_same_weights(weights(run), weights(tmp_path / "one"))
    assert [r["loss"] for r in step_records(run)] == losses

    two = tmp_path / "two"
    config = apply_config_overrides(load_config(str(cfg)), [f"data.file={dns_file}"])
    assert two_gloo_ranks(config, str(two)) == [0, 0]
    np.testing.assert_allclose([r["loss"] for r in step_records(two)], losses, rtol=1e-9)
    a, b = weights(tmp_path / "one"), weights(two)
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-7, atol=1e-10)

    bad = json.loads(json.dumps(CONFIG))
    bad["model"]["dt"] = 0.015
    cfg.write_text(json.dumps(bad))
    capsys.readouterr()
    assert main([*args, str(tmp_path / "bad")]) == 2 and not (tmp_path / "bad").exists()
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "frames' spacing" in err

    # The trained hybrid on a file of another equation, even with --physics-from-file.
    other = apply_overrides(get_preset("kolmogorov-dns256"), [*DNS, "viscosity=2e-3"])
    other = generate(other, tmp_path / "other.h5", progress=False)
    before = sorted(p.name for p in (tmp_path / "one").iterdir())
    command = ["evaluate", "--run", str(tmp_path / "one"), "--data", str(other), "--quiet"]
    assert main([*command, "--physics-from-file"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "another equation than the hybrid run" in err
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == before


def test_init_from_a_hybrid_with_another_cadence_and_step(dns_file, tmp_path, capsys):
    """``train --init-from`` a state-form hybrid run into a run with another correction
    cadence, step and frame count: the corrector's weights are copied bit for bit, the run
    keeps its own settings and says which differ; another corrector is refused in one line."""
    state = {**CONFIG["model"], "form": "state"}
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps(CONFIG | {"model": state}))
    args = ["train", "--config", str(cfg), "--data", str(dns_file), "--out"]
    assert main([*args, str(tmp_path / "pre"), "--quiet"]) == 0
    capsys.readouterr()
    changes = ["model.correct_every=2", "model.steps_per_frame=4", "model.dt=0.005"]
    tuned = [*args, str(tmp_path / "tuned"), "--init-from", str(tmp_path / "pre")]
    for change in changes:
        tuned += ["--set", change]
    assert main(tuned) == 0
    out = capsys.readouterr().out
    assert "differ from the checkpoint's: correct_every, dt, steps_per_frame" in out
    pre = load_checkpoint(tmp_path / "pre/checkpoints/best.pt")["model"]
    model = model_from_payload(pre)
    fresh = hybrid(dns_file, form="state", correct_every=2, steps_per_frame=4, dt=0.005)
    messages = []
    init_from(fresh, str(tmp_path / "pre"), say=messages.append)
    assert fresh.config["correct_every"] == 2 and fresh.hybrid.steps_per_call == 2
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
    assert len(messages) == 1
    wider = hybrid(dns_file, form="state", corrector={"name": "cnn", "width": 6, "n_layers": 2})
    with pytest.raises(SpectralRefinerError, match=r"set model\.corrector"):
        init_from(wider, str(tmp_path / "pre"))
