"""Evaluation: a perfect prediction scores zero error and correlation 1, rollouts chain
windows, every plotted quantity equals its computed value, the Pareto front and verdict, bad
input, and the one-command demo end to end with every figure in its report."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from conftest import train_small_run
from spectral_refiner.cli import main
from spectral_refiner.data import (
    apply_overrides,
    generate,
    get_preset,
    read_estimates,
    read_flow,
)
from spectral_refiner.evaluation import (
    band_errors,
    compare_solver,
    comparison_key,
    data_key,
    evaluate_run,
    evaluation_key,
    flow_statistics,
    frame_metrics,
    high_correlation_time,
    pareto_front,
    rollout,
    verdict,
)
from spectral_refiner.models import NeuralOperator
from spectral_refiner.physics import Residual, kinetic_energy, prediction_estimate

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
    pred, eta = rollout(model, w_in, 7, Residual(eq, flow.dt))
    assert pred.shape == (3, 7, 32, 32) and eta.shape == (3, 3)  # windows of 3: 3 + 3 + 1
    assert torch.equal(pred, w_in[:, -1:].expand(-1, 7, -1, -1))
    torch.testing.assert_close(eta[:, 0], prediction_estimate(w_in, pred[:, :3], eq, flow.dt))


@pytest.fixture(scope="module")
def evaluated(files):
    """The SFNO run evaluated (refined, 10 frames) and compared with the solver."""
    run, _, test_file = files
    results = evaluate_run(run, test_file, refine=True, frames=10, steps=10)
    compare = compare_solver(run, test_file, limit=2, steps=5, repeats=2, max_repeats=3)
    return results, compare


def test_every_plotted_quantity_is_the_computed_one(files, evaluated):
    run, _, test_file = files
    results, compare = evaluated
    with np.load(run / "evaluation" / f"{results['key']}.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    saved = json.loads((run / "evaluation" / f"{results['key']}.json").read_text())
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
    # persistence: the last input frame held, scored like the model
    held = flow.frames[:, 4:5].expand(-1, 10, -1, -1)
    persistence = frame_metrics(held, truth, grid)["rel_l2"].double()
    np.testing.assert_allclose(
        results["persistence"]["per_frame_rel_l2"], persistence.mean(0).numpy(), rtol=1e-6
    )
    assert results["persistence"]["median_rel_l2"] == pytest.approx(
        float(persistence.mean(1).median()), rel=1e-6
    )
    assert 2 <= compare["rounds"] <= 3
    assert max(len(p["timings"]) for p in compare["points"]) == compare["rounds"]
    assert min(len(p["timings"]) for p in compare["points"]) >= 2
    assert compare["verdict"][-1].startswith(f"timing: up to {compare['rounds']} interleaved")
    solver = {p["method"]: p for p in compare["points"]}["solver 32²"]
    assert solver["rel_l2"] < 1e-3  # our own solver from the stored frame, at its resolution


def _drawn(figure) -> dict:
    return json.loads(figure.with_suffix(".json").read_text())


@pytest.fixture(scope="module")
def two_runs(files, evaluated, tmp_path_factory):
    """An FNO2d run beside the SFNO one, both evaluated on the test file (the SFNO twice)
    and compared with the solver, and the report of both."""
    run, train_file, test_file = files
    other = train_small_run(train_file, run.parent, "fno2d")
    assert main(["evaluate", "--run", str(other), "--data", str(test_file), "--rollout", "10"]) == 0
    fno2d = json.loads(next((other / "evaluation").glob("test-*-f10-n32.json")).read_text())
    compare_solver(other, test_file, limit=2, repeats=1)
    short = evaluate_run(run, test_file, frames=5)  # a second evaluation: other flags
    out = tmp_path_factory.mktemp("report") / "both"
    assert main(["report", str(run), str(other), "--out", str(out)]) == 0
    return other, fno2d, short, out / "report.html"


def test_a_report_of_two_runs_shows_both_the_solver_and_persistence_as_computed(
    files, evaluated, two_runs, capsys
):
    run, _, _ = files
    results, compare = evaluated
    other, fno2d, short, report = two_runs
    assert short["key"] != results["key"]
    assert {results["key"], short["key"]} <= {p.stem for p in (run / "evaluation").glob("*.json")}
    page = report.read_text()
    assert "report: run-sfno vs run-fno2d" in page
    for text in (results["key"], short["key"], fno2d["key"], "solver 32²", "persistence"):
        assert text in page, text
    # every image embedded, nothing fetched from elsewhere
    assert page.count("<img ") == page.count('<img src="data:image/png;base64,') >= 10
    assert "http://" not in page and "https://" not in page  # base64 may spell "http" by chance
    # the plotted lines are the evaluations' numbers
    errors = _drawn(report.parent / "errors.png")
    rel_l2 = errors["relative L2 error (median, 10–90% band)"]
    np.testing.assert_allclose(
        rel_l2["run-sfno (sfno) refined"], results["refined"]["median_per_frame_rel_l2"]
    )
    np.testing.assert_allclose(
        rel_l2["run-fno2d (fno2d) prediction"], fno2d["prediction"]["median_per_frame_rel_l2"]
    )
    np.testing.assert_allclose(
        rel_l2["persistence (last input frame)"], results["persistence"]["median_per_frame_rel_l2"]
    )
    energy = _drawn(report.parent / "energy.png")["kinetic energy (mean over trajectories)"]
    np.testing.assert_allclose(energy["truth"], results["truth"]["energy"])
    np.testing.assert_allclose(
        energy["run-sfno (sfno) prediction"], results["prediction"]["energy"]
    )
    with np.load(run / "evaluation" / f"{results['key']}.npz") as npz:
        spectrum = npz["spectrum_refined"][-1]
    lines = _drawn(report.parent / "spectra.png")["energy spectrum, last predicted frame"]
    np.testing.assert_allclose(lines["run-sfno (sfno) refined"], spectrum[1:16])  # to n/2 - 1
    panels = {k: v for f in report.parent.glob("pareto*.png") for k, v in _drawn(f).items()}
    assert len(panels) == 2  # one per horizon: the SFNO's window (5 frames), the FNO2d's (1)
    points = {p["method"]: p["rel_l2"] for p in compare["points"]}
    drawn = next(v for k, v in panels.items() if f"horizon {compare['horizon']:.3g})" in k)
    assert drawn["solver 32²"] == [pytest.approx(points["solver 32²"])]
    assert drawn["run-sfno: sfno + refinement 32²"] == [
        pytest.approx(points["sfno + refinement 32²"])
    ]
    # the SFNO's two evaluations are two test sets: both shown (one run alone: the demo test)
    assert page.count("<h2>Test set") == 2
    # and `runs` lists both runs with their evaluations
    capsys.readouterr()
    assert main(["runs", str(run.parent)]) == 0
    listing = capsys.readouterr().out
    assert str(other) in listing and fno2d["key"] in listing
    assert results["key"] in listing and short["key"] in listing


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="no headless browser installed (Debian: apt-get install chromium); "
    "the report's rendering is not checked",
)
def test_the_report_renders_in_a_headless_browser_with_every_image(two_runs, tmp_path):
    report = two_runs[-1]
    probe = tmp_path / "probe.html"  # the page, plus a script that counts decoded images
    probe.write_text(
        report.read_text()
        + "<script>window.addEventListener('load', () => { const i = [...document.images]; "
        "document.body.setAttribute('data-images', i.length + '/' + "
        "i.filter(x => x.complete && x.naturalWidth > 0).length); });</script>"
    )
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    flags += ["--disable-component-update", "--disable-sync", "--no-first-run"]
    result = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", probe.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    match = re.search(r'data-images="(\d+)/(\d+)"', result.stdout)
    assert match, result.stderr[-2000:]
    total, decoded = map(int, match.groups())
    assert total == decoded == report.read_text().count("<img ") >= 10


def test_info_describes_plots_and_refuses_non_finite_files(files, tmp_path, capsys):
    run, _, test_file = files
    assert main(["info", str(test_file), "--plot", "--out", str(tmp_path / "look.png")]) == 0
    lines = capsys.readouterr().out.splitlines()
    column = lines[0].index(str(test_file))  # every value starts in one column
    assert all(line[column - 2 : column] == "  " for line in lines[:-1] if len(line) > column)
    assert "  viscosity" in "\n".join(lines) and lines[-1] == f"wrote {tmp_path / 'look.png'}"
    flow = read_flow(test_file)
    energy = kinetic_energy(flow.frames.double(), flow.equation(dtype=torch.float64).grid)
    drawn = _drawn(tmp_path / "look.png")["energy over time (3 trajectories)"]["median"]
    np.testing.assert_allclose(drawn, energy.median(0).values.numpy(), rtol=1e-10)
    broken = tmp_path / "broken.h5"
    shutil.copy(test_file, broken)
    with h5py.File(broken, "r+") as f:
        f["t0_fields/vorticity"][1, 3, 0, 0] = np.nan
    assert main(["info", str(broken), "--plot"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "trajectory 1, frame 3" in err and len(err.splitlines()) == 1
    assert not broken.with_suffix(".png").exists()
    # refine at another resolution: its own default name, and why the errors are missing
    for resolution in ("32", "64"):
        args = ["refine", "--run", str(run), "--data", str(test_file), "--steps", "2"]
        assert main([*args, "--resolution", resolution, "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "wrote " + str(run / "refined-test-n64.h5") in out
    assert err.strip().splitlines()[-1].startswith("note: no true errors: ")
    assert "32² frames, coarser than the 64² output" in err
    assert main(["info", str(run / "refined-test-n64.h5")]) == 0
    eta = np.median(read_estimates(run / "refined-test-n64.h5")["eta"])
    assert re.search(rf"\n  eta +{eta:.4g}  ", capsys.readouterr().out)


def test_result_keys_name_everything_that_produced_the_result():
    a, b = data_key("/x/test.h5", "0123456789abcdef"), data_key("/y/test.h5", "fedcba9876543210")
    assert (a, b) == ("test-01234567", "test-fedcba98")  # one name, other trajectories
    keys = {
        evaluation_key(d, split=split, frames=f, resolution=n, refine_steps=r)
        for d in (a, b)
        for split in ("all", "first2")
        for f in (5, 10)
        for n in (32, 64)
        for r in (None, 10, 100)
    }
    assert len(keys) == 2 * 2 * 2 * 2 * 3
    solvers = {
        comparison_key(a, resolution=32, instances=i, solvers=s)
        for i in (2, 8)
        for s in ([16, 32], [32, 64, 16])
    }
    assert len(solvers) == 4 and "compare-test-01234567-n32-i8-solver16-32-64" in solvers


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
def test_the_demo_runs_end_to_end_and_its_report_holds_every_figure(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quiet"]) == 0  # in this process: no imports
    stdout = capsys.readouterr().out
    assert "== spectral-refiner demo ==" in stdout
    assert re.search(r"rel L2 \(rollout mean\)\s+[\d.e-]+\s+[\d.e-]+", stdout)
    report = out / "run" / "report" / "report.html"
    assert f"report: {report}" in stdout
    page = report.read_text()
    assert page.count("data:image/png;base64,") == 7
    for name in ("snapshots", "errors", "spectra", "energy", "eta", "pareto", "training"):
        assert (report.parent / f"{name}.png").is_file()
        assert (report.parent / f"{name}.json").is_file()
    (path,) = (out / "run" / "evaluation").glob("tiny-test-*-refined100.json")
    evaluation = json.loads(path.read_text())
    assert evaluation["refined"]["mean_rel_l2"] < evaluation["prediction"]["mean_rel_l2"]
    steps = (out / "run" / "metrics.jsonl").read_text()
    assert main(["demo", "--out", str(out), "--quiet"]) == 0
    assert (out / "run" / "metrics.jsonl").read_text() == steps  # the trained run is reused


def test_a_run_on_its_own_training_file_is_refused_unless_held_out(files, capsys):
    run, train_file, test_file = files
    command = ["evaluate", "--run", str(run), "--data", str(train_file), "--quiet"]
    assert main(command) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{train_file} holds 5 trajectories {run} trained or validated on" in err
    assert "(5 of its 6, e.g. trajectory 0)" in err and "--split test" in err

    assert main([*command, "--split", "test", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    split = json.loads((run / "split.json").read_text())
    results = json.loads(Path(out.splitlines()[-1].removeprefix("wrote ")).read_text())
    assert results["trajectories"] == split["test"] and results["split"] == "test"
    assert results["keys"] == split["keys"]["test"] == [[0, i] for i in split["test"]]
    assert results["instances"] == 1
    assert main([*command, "--split", "val", "--quiet"]) == 0  # for fitting a calibration
    results = json.loads(Path(capsys.readouterr().out.splitlines()[-1][6:]).read_text())
    assert results["trajectories"] == split["val"] and results["split"] == "val"

    assert main([*command, "--allow-training-data", "--limit", "1", "--quiet"]) == 0
    assert capsys.readouterr().err.startswith(f"warning: {train_file} holds 5 trajectories")
    other = ["evaluate", "--run", str(run), "--data", str(test_file), "--split", "test"]
    assert main(other) == 2
    assert f"{test_file} is not that file" in capsys.readouterr().err


def test_a_file_of_another_problem_is_one_line_and_exit_2(files, tmp_path, capsys):
    from spectral_refiner.data import seed_keys, write_dataset
    from spectral_refiner.physics import resample

    run, _, test_file = files
    flow = read_flow(test_file)
    fields = flow.preset.fields()

    def variant(name, frames=flow.frames, times=flow.times, **changes):
        path = tmp_path / f"{name}.h5"
        keys = seed_keys(7, frames.shape[0])
        write_dataset(path, frames.numpy(), times, {**fields, **changes}, {}, keys=keys)
        return path

    cases = [
        (variant("nu", viscosity=1e-4), "has viscosity 0.0001 but the run was trained with 0.001"),
        (variant("forcing", forcing="kolmogorov"), "has forcing kolmogorov but the run"),
        (variant("box", box_length=2.0), "has box_length 2.0 but the run was trained with 1.0"),
        (variant("dt", frames=flow.frames[:, ::2], times=flow.times[::2]), "trained on windows"),
        (variant("coarse", frames=resample(flow.frames, 16)), "has resolution 16 but the run"),
    ]
    for path, message in cases:
        code = main(["evaluate", "--run", str(run), "--data", str(path), "--limit", "1", "--quiet"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and message in err and len(err.splitlines()) == 1, (path, err)
    nu = cases[0][0]
    physics = ["--physics-from-file", "--quiet"]
    assert main(["evaluate", "--run", str(run), "--data", str(nu), *physics]) == 0
    err = capsys.readouterr().err.strip()
    assert err == f"note: using {nu}'s equation, not the run's (viscosity 0.001 -> 0.0001)"
