"""The joint Pareto comparison of correlation time against cost: fronts and verdicts of known
points, agreement of its rollouts with ``evaluate``'s, the solver from the true frame tracking
the truth, the command's files and the report's section (:func:`pareto_sections`)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from conftest import train_small_run
from spectral_refiner.cli import main
from spectral_refiner.data import apply_overrides, generate, get_preset
from spectral_refiner.evaluation import (
    compare_rollouts,
    evaluate_run,
    pareto_sections,
    read_rollout_comparisons,
    rollout_front,
    rollout_verdict,
)
from spectral_refiner.training import RunDir


@dataclass
class _Run:  # what the report's sections read of a ReportRun
    run: RunDir


def _point(method, kind, seconds, t95, t8):
    return {"method": method, "kind": kind, "seconds": seconds, "t_0.95": t95, "t_0.8": t8}


def test_front_and_verdict_of_known_points():
    cheap = _point("solver 16²", "solver", 1.0, 0.5, 1.0)
    fine = _point("solver 64²", "solver", 10.0, 4.0, None)  # never below 0.8: the longest
    fast = _point("net", "surrogate", 0.1, 1.0, 2.0)  # beats the cheap solver on both
    slow = _point("net + refinement", "refined", 20.0, 0.2, 0.5)  # beaten by everything
    points = [cheap, fine, fast, slow]
    assert [p["method"] for p in rollout_front(points, 0.8)] == ["net", "solver 64²"]
    verdict = rollout_verdict(points, 0.8)
    assert "net (τ 2, 0.1 s) on the Pareto front beside the solver (solver 64² (never" in verdict
    assert "solver wins" not in verdict
    # a surrogate slower and shorter-lived than a solver grid: the solver wins
    points = [cheap, fine, _point("net", "surrogate", 2.0, 0.4, 0.9), slow]
    assert [p["method"] for p in rollout_front(points, 0.95)] == ["solver 16²", "solver 64²"]
    assert rollout_verdict(points, 0.95).startswith(
        "correlation time to 0.95 against cost: the solver wins"
    )
    # times are compared beyond timing noise: overlapping rounds tie, and the longer wins
    tied_a = {**_point("a", "surrogate", 1.0, 1.0, 1.0), "timings": [0.9, 1.2]}
    tied_b = {**_point("b", "solver", 1.1, 2.0, 2.0), "timings": [1.0, 1.3]}
    assert [p["method"] for p in rollout_front([tied_a, tied_b], 0.8)] == ["b"]


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pareto")
    preset = apply_overrides(
        get_preset("tiny"), ["n_trajectories=3", "n_frames=10", "frame_interval=0.5"]
    )
    train_file = generate(preset, folder / "train.h5", progress=False)
    test_file = generate(
        apply_overrides(preset, ["n_trajectories=2"]), folder / "test.h5", seed=1, progress=False
    )
    runs = [train_small_run(train_file, folder), train_small_run(train_file, folder, "fno2d")]
    results = compare_rollouts(
        runs, test_file, resolutions=[16, 64], limit=2, steps=2, repeats=2, max_repeats=2
    )
    return runs, test_file, results


@pytest.mark.slow
def test_rollouts_agree_with_evaluate_and_the_solver_tracks_the_truth(compared):
    runs, test_file, results = compared
    points = {p["method"]: p for p in results["points"]}
    assert set(points) == {
        "run-sfno",
        "run-sfno + refinement",
        "run-fno2d",
        "solver 16²",
        "solver 64²",
    }
    assert results["frames"] == 10 - 5 and results["anchor_time"] == pytest.approx(2.0)
    for run in runs:  # both read 5 frames: the anchor is evaluate's, so are the rollouts
        evaluated = evaluate_run(run, test_file, frames=results["frames"], limit=2)
        np.testing.assert_allclose(
            points[run.name]["correlation"],
            evaluated["prediction"]["per_frame_correlation"],
            rtol=1e-6,
        )
        anchor = evaluated["times"][0] - 0.5  # evaluate's times are absolute, ours lead times
        assert anchor == pytest.approx(results["anchor_time"])
        for c in (0.95, 0.8):
            absolute = evaluated["prediction"][f"time_below_{c}"]
            lead = points[run.name][f"t_{c}"]
            assert lead is absolute is None or lead == pytest.approx(absolute - anchor)
    # the solver at the data's own simulation grid, from the true frame, stays on the truth
    assert min(points["solver 64²"]["correlation"]) > 0.999
    assert points["solver 64²"]["t_0.95"] is None
    assert points["solver 64²"]["rel_l2"] < points["solver 16²"]["rel_l2"]
    for p in results["points"]:
        assert p["seconds"] == pytest.approx(float(np.median(p["timings"])))
        assert len(p["timings"]) == 2
    # written into both runs, read back once
    report_runs = [_Run(RunDir.existing(r)) for r in runs]
    assert [r["key"] for r in read_rollout_comparisons(report_runs)] == [results["key"]]


@pytest.mark.slow
def test_the_command_writes_table_plot_and_numbers_and_the_report_shows_them(
    compared, tmp_path, capsys
):
    runs, test_file, _ = compared
    out = tmp_path / "pareto"
    args = ["compare-rollouts", "--data", str(test_file), "--out", str(out), "--quiet"]
    args += ["--run", str(runs[1]), "--resolutions", "16", "--limit", "1", "--repeats", "1"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    numbers = json.loads((out / "results.json").read_text())
    assert [p["method"] for p in numbers["points"]] == ["run-fno2d", "solver 16²"]
    assert numbers["verdict"][1] in printed and "| run-fno2d |" in printed
    assert (out / "pareto.md").read_text().count("\n| ") == 3  # header and two methods
    drawn = json.loads((out / "pareto.json").read_text())
    assert any("0.8" in title for title in drawn)
    assert (out / "pareto.png").stat().st_size > 10_000
    # a horizon longer than the file: one line, exit 2, nothing written
    bad = tmp_path / "bad"
    assert main([*args[:4], str(bad), *args[5:], "--rollout", "99"]) == 2
    assert "--rollout 5 or fewer" in capsys.readouterr().err and not bad.exists()
    page = "".join(pareto_sections([_Run(RunDir.existing(runs[1]))], tmp_path))
    assert "Correlation time against cost" in page and "Joint Pareto plot" in page
    assert page.count("<h2>") == 2  # the fixture's comparison and the command's, oldest first
    assert page.count("<tr>") == (1 + 5) + (1 + 2) and page.index("<p>2 held-out") < page.index(
        "<p>1 held-out"
    )
