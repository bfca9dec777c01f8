"""Evaluation: a perfect prediction scores zero error and correlation 1, rollouts chain
windows, every plotted quantity equals its computed value, the Pareto front and verdict, bad
input, and the one-command demo end to end with every figure in its report."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import train_small_run
from spectral_refiner.cli import main
from spectral_refiner.data import apply_overrides, generate, get_preset, read_flow
from spectral_refiner.evaluation import (
    band_errors,
    compare_solver,
    evaluate_run,
    flow_statistics,
    frame_metrics,
    high_correlation_time,
    pareto_front,
    rollout,
    verdict,
    write_report,
)
from spectral_refiner.models import NeuralOperator
from spectral_refiner.physics import kinetic_energy, prediction_estimate

DATA = ["n_trajectories=6", "n_frames=16", "frame_interval=0.5", "batch_size=6"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("evaluation")
    preset = apply_overrides(get_preset("tiny"), DATA)
    train_file = generate(preset, folder / "train.h5", progress=False)
    test_file = generate(
        apply_overrides(preset, ["n_trajectories=3"]), folder / "test.h5", seed=1, progress=False
    )
    run = train_small_run(train_file, folder)
    return run, train_file, test_file


def test_a_perfect_prediction_has_zero_error_and_correlation_one(files):
    flow = read_flow(files[2])
    grid = flow.equation(dtype=torch.float64).grid
    truth = flow.frames[:, 5:10].double()
    metrics = frame_metrics(truth, truth, grid)
    for key in ("rel_l2", "rel_h1", "rel_h-1"):
        assert float(metrics[key].abs().max()) == 0.0
    torch.testing.assert_close(metrics["correlation"], torch.ones_like(metrics["correlation"]))
    spectrum = flow_statistics(truth, grid)["spectrum"][0, -1].numpy()
    assert band_errors(spectrum, spectrum) == [0.0] * len(band_errors(spectrum, spectrum))
    times = np.arange(5.0)
    assert high_correlation_time(np.ones(5), times, 0.95) == math.inf
    assert high_correlation_time(np.array([1.0, 0.97, 0.9, 0.7, 0.5]), times, 0.95) == 2.0
    wrong = frame_metrics(truth * 1.1, truth, grid)["rel_l2"]
    torch.testing.assert_close(wrong, torch.full_like(wrong, 0.1))


class Persistence(NeuralOperator):
    """Predicts the last input frame for every output frame (a test double)."""

    name = "persistence"
    data_normalization = False

    def __init__(self, t_in: int = 5, t_out: int = 5) -> None:
        super().__init__()
        self.t_in, self.t_out = t_in, t_out

    def operator(self, w_in: torch.Tensor) -> torch.Tensor:
        return w_in[:, -1:].expand(-1, self.t_out, -1, -1)


def test_rollout_chains_windows_and_estimates_each(files):
    flow = read_flow(files[2])
    eq = flow.equation()
    model = Persistence(4, 3)
    w_in = flow.frames[:, :4]
    pred, eta = rollout(model, w_in, 7, eq, flow.dt)
    assert pred.shape == (3, 7, 32, 32) and eta.shape == (3, 3)  # windows of 3: 3 + 3 + 1
    assert torch.equal(pred, w_in[:, -1:].expand(-1, 7, -1, -1))
    torch.testing.assert_close(eta[:, 0], prediction_estimate(w_in, pred[:, :3], eq, flow.dt))


def test_every_plotted_quantity_is_the_computed_one(files, tmp_path):
    run, _, test_file = files
    results = evaluate_run(run, test_file, refine=True, frames=10, steps=10)
    with np.load(run / "evaluation" / "evaluation.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    saved = json.loads((run / "evaluation" / "evaluation.json").read_text())
    assert saved["prediction"]["mean_rel_l2"] == pytest.approx(results["prediction"]["mean_rel_l2"])
    flow = read_flow(test_file)
    grid = flow.equation().grid
    truth = flow.frames[:, 5:15]
    # the spectrum's sum is the energy, for the plotted truth and for the prediction
    energy = kinetic_energy(truth, grid).double().mean(0).numpy()
    np.testing.assert_allclose(arrays["spectrum_truth"].sum(-1), energy, rtol=1e-5)
    np.testing.assert_allclose(results["truth"]["energy"], energy, rtol=1e-5)
    for side in ("prediction", "refined"):
        np.testing.assert_allclose(
            arrays[f"spectrum_{side}"].sum(-1), results[side]["energy"], rtol=1e-5
        )
        np.testing.assert_allclose(arrays[f"rel_l2_{side}"], results[side]["per_frame_rel_l2"])
        assert arrays[f"eta_{side}"].mean() == pytest.approx(results[side]["mean_eta"])
        np.testing.assert_allclose(
            arrays[f"window_error_{side}"].mean(),
            np.mean(results[side]["per_frame_rel_l2"]),
            rtol=1e-6,
        )
    # snapshots are the stored truth at the stated times
    frames = arrays["snapshot_frames"]
    np.testing.assert_array_equal(arrays["snapshot_truth"], truth[0, frames].numpy())
    np.testing.assert_allclose(arrays["times"][frames], flow.times[5 + frames])
    assert results["refined"]["mean_rel_l2"] < results["prediction"]["mean_rel_l2"]
    compare = compare_solver(run, test_file, limit=2, steps=5, repeats=2, max_repeats=3)
    assert 2 <= compare["rounds"] <= 3
    assert max(len(p["timings"]) for p in compare["points"]) == compare["rounds"]
    assert min(len(p["timings"]) for p in compare["points"]) >= 2
    assert compare["verdict"][-1].startswith(f"timing: up to {compare['rounds']} interleaved")
    solver = {p["method"]: p for p in compare["points"]}["solver 32²"]
    assert solver["rel_l2"] < 1e-3  # our own solver from the stored frame, at its resolution
    report = write_report(run)
    page = report.read_text()
    assert page.count('<img src="data:image/png;base64,') == 7
    for name in ("snapshots", "errors", "spectra", "energy", "eta", "pareto", "training"):
        assert (report.parent / f"{name}.png").stat().st_size > 10_000


def test_long_commands_show_progress(files, capsys):
    run, _, test_file = files
    assert main(["evaluate", "--run", str(run), "--data", str(test_file), "--rollout", "7"]) == 0
    err = capsys.readouterr().err
    assert "evaluate: 100%" in err and "7/7" in err
    args = ["compare-solver", "--run", str(run), "--data", str(test_file), "--limit", "1"]
    assert main([*args, "--repeats", "1", "--resolutions", "16"]) == 0
    assert "timing round 1" in capsys.readouterr().err


def test_pareto_front_and_verdict():
    points = [
        {"method": "fast rough", "seconds": 1.0, "rel_l2": 0.1},
        {"method": "slow exact", "seconds": 10.0, "rel_l2": 0.001},
        {"method": "slow rough", "seconds": 20.0, "rel_l2": 0.05},
        {"method": "middle", "seconds": 5.0, "rel_l2": 0.01},
    ]
    assert [p["method"] for p in pareto_front(points)] == ["fast rough", "middle", "slow exact"]
    lines = verdict(points)
    assert any(line.startswith("slow rough is dominated: slow exact") for line in lines)
    assert lines[0].startswith("fast rough is the fastest at errors from 0.1 up")


def test_evaluation_commands_refuse_bad_input(files, tmp_path, capsys):
    run, train_file, test_file = files
    fresh = train_small_run(train_file, tmp_path, "fno2d")
    capsys.readouterr()
    cases = [
        (["report", str(fresh)], "no evaluation yet"),
        (
            ["evaluate", "--run", str(run), "--data", str(test_file), "--rollout", "40"],
            "use --rollout 11",
        ),
        (
            ["evaluate", "--run", str(fresh), "--data", str(test_file), "--refine"],
            "needs an SFNO run",
        ),
        (
            ["compare-solver", "--run", str(tmp_path), "--data", str(test_file)],
            "holds no training run",
        ),
    ]
    for args, message in cases:
        code = main(args)
        err = capsys.readouterr().err.strip()
        assert code == 2 and message in err and len(err.splitlines()) == 1, (args, err)


@pytest.mark.slow
def test_the_demo_runs_end_to_end_and_its_report_holds_every_figure(tmp_path):
    out = tmp_path / "demo"
    result = subprocess.run(
        ["spectral-refiner", "demo", "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "== spectral-refiner demo ==" in result.stdout
    assert re.search(r"rel L2 \(rollout mean\)\s+[\d.e-]+\s+[\d.e-]+", result.stdout)
    report = out / "run" / "report" / "report.html"
    assert f"report: {report}" in result.stdout.replace(str(tmp_path) + "/", str(tmp_path) + "/")
    page = report.read_text()
    assert page.count("data:image/png;base64,") == 7
    for name in ("snapshots", "errors", "spectra", "energy", "eta", "pareto", "training"):
        assert (report.parent / f"{name}.png").is_file()
    evaluation = json.loads((out / "run" / "evaluation" / "evaluation.json").read_text())
    assert evaluation["refined"]["mean_rel_l2"] < evaluation["prediction"]["mean_rel_l2"]
    steps = (out / "run" / "metrics.jsonl").read_text()
    again = subprocess.run(
        [sys.executable, "-m", "spectral_refiner.cli", "demo", "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0
    assert (out / "run" / "metrics.jsonl").read_text() == steps  # the trained run is reused
