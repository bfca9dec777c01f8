"""The honest estimate (issue 14): the resolution floor, the error-transport estimate, refinement
that stops at the floor, and ``--closure`` on predict/refine/evaluate (bit for bit unchanged
without it, one-line refusals of closures the data cannot take)."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from conftest import train_small_run
from spectral_refiner.arguments import closure_spec
from spectral_refiner.cli import main
from spectral_refiner.data import (
    apply_overrides,
    build_equation,
    generate,
    get_preset,
    read_estimates,
)
from spectral_refiner.evaluation.report_estimate import estimate_rows
from spectral_refiner.metrics import relative_error
from spectral_refiner.models import build_model
from spectral_refiner.physics import (
    REFINED_FRACTION,
    excess_error,
    floor_error,
    honest_estimate,
    make_initial_condition,
    moved_distance,
    prediction_trajectory,
    refined_error,
    refined_estimate,
    resample,
    resolution_floor,
    simulate,
    transported_error,
)
from spectral_refiner.problem import Problem
from spectral_refiner.refine import refine
from spectral_refiner.refine.lbfgs import minimize

F64 = torch.float64
WINDOW_COLUMNS = ("floor", "estimate", "error_estimate", "rel_l2")


def _simulated(preset_name: str, overrides: list[str], seeds: list[int]):
    """Frames at the simulation's resolution (float64) and the preset."""
    preset = apply_overrides(get_preset(preset_name), overrides)
    equation = build_equation(preset, dtype=F64)
    w0 = make_initial_condition(preset.initial_condition, equation.grid, 3, seeds)
    return simulate(equation, w0, preset.times(), courant=preset.courant), preset


def _residual(preset, n: int, closure=None):
    problem = Problem.from_fields(preset.fields(), preset.frame_interval, n)
    if closure is not None:
        problem = Problem(**{**problem.to_dict(), "closure": closure})
    return problem.residual(dtype=F64)


@pytest.fixture(scope="module")
def resolved():
    """The FNO-type forced flow simulated at 48², frames 0.1 apart (a resolved DNS)."""
    return _simulated("tiny", ["sim_resolution=48", "frame_interval=0.1", "n_frames=10"], [0, 1])


def _perturbed(truth: torch.Tensor, kind: str, size: float) -> torch.Tensor:
    """The truth plus an error of relative L2 size ``size`` per frame: a shift (smooth in
    time), band-limited noise, or a shift alternating in sign from frame to frame."""
    shift = torch.roll(truth, 1, -1) - truth
    if kind == "noise":
        g = torch.Generator().manual_seed(0)
        shift = resample(torch.randn(truth.shape, generator=g, dtype=truth.dtype), truth.shape[-1])
    if kind == "alternating":
        signs = torch.tensor([(-1.0) ** j for j in range(truth.shape[1])], dtype=truth.dtype)
        shift = shift * signs[:, None, None]
    scale = truth.norm(dim=(-2, -1), keepdim=True) / shift.norm(dim=(-2, -1), keepdim=True)
    return truth + size * scale * shift


def test_the_floor_of_a_resolved_dns_is_negligible_and_the_estimate_is_eta(resolved):
    """At the simulation's own resolution the floor is far below the η of any 1% error (the
    quadrature error and the modes above the solver's 2/3 band that it did not advect), and
    the estimate is η itself, bit for bit."""
    frames, preset = resolved
    residual = _residual(preset, 48)
    w_in, truth = frames[:, :5], frames[:, 5:10]
    for kind in ("smooth", "noise", "alternating"):
        columns = honest_estimate(residual, w_in, _perturbed(truth, kind, 0.01))
        assert (columns["floor"] < 0.1 * columns["eta"]).all(), (kind, columns)
        assert torch.equal(columns["estimate"], columns["eta"])
        assert torch.equal(
            columns["eta"], residual.of_prediction(w_in, _perturbed(truth, kind, 0.01))
        )


def test_the_floor_grows_as_the_stored_resolution_falls(resolved):
    frames, preset = resolved
    floors = [
        resolution_floor(_residual(preset, n), resample(frames[:, :5], n)) for n in (32, 24, 16)
    ]
    assert (floors[0] > 0).all()
    assert (floors[1] > 1.5 * floors[0]).all() and (floors[2] > 1.5 * floors[1]).all(), floors
    short = resolution_floor(_residual(preset, 16), resample(frames[:, :3], 16))
    assert torch.isnan(short).all()  # three frames carry no residual


def test_the_error_estimate_matches_the_true_error_of_every_kind(resolved):
    """Error transport inverts the time difference: smooth, noisy and alternating errors of
    1% and 5% get error estimates within 15% of the true relative L2 error (η differs ~4x
    between them)."""
    frames, preset = resolved
    residual = _residual(preset, 48)
    w_in, truth = frames[:, :5], frames[:, 5:10]
    etas = []
    for kind in ("smooth", "noise", "alternating"):
        for size in (0.01, 0.05):
            pred = _perturbed(truth, kind, size)
            columns = honest_estimate(residual, w_in, pred)
            effectivity = columns["error_estimate"] / relative_error(pred, truth, residual.grid)
            assert ((effectivity > 0.85) & (effectivity < 1.15)).all(), (kind, size, effectivity)
            etas.append(columns["eta"])
    assert float(etas[4].min()) > 2 * float(etas[0].max())  # η itself depends on the kind
    # the floor's error is negligible here: the estimate is the transport itself
    traj = prediction_trajectory(w_in, pred)
    transported = transported_error(residual, traj, pred.shape[1])
    assert (columns["floor_error"] < 0.05 * transported).all()
    torch.testing.assert_close(columns["error_estimate"], transported, rtol=1e-3, atol=0)


@pytest.fixture(scope="module")
def turbulent():
    """Kolmogorov flow simulated at 64² (t = 1..1.18, frames 0.02 apart), stored at 16²: a
    truncated turbulent DNS, floor ~0.1."""
    frames, preset = _simulated(
        "kolmogorov-dns256",
        ["sim_resolution=64", "warmup_time=1", "n_frames=10", "store_subgrid=false"],
        [0, 1],
    )
    return resample(frames, 16), preset


def test_errors_near_the_floor_are_estimated_by_the_excess(turbulent):
    """On a truncated DNS (floor's error F ≈ 10%), a known error of 3%, 10% or 30% of every
    kind gets an error estimate within a factor 3 of the true error; transporting the whole
    residual (the truth's share included) overstates the 3% errors more than 3x."""
    frames, preset = turbulent
    residual = _residual(preset, 16)
    w_in, truth = frames[:, :5], frames[:, 5:10]
    for kind in ("smooth", "noise", "alternating"):
        for size in (0.03, 0.1, 0.3):
            pred = _perturbed(truth, kind, size)
            columns = honest_estimate(residual, w_in, pred)
            error = relative_error(pred, truth, residual.grid)
            effectivity = columns["error_estimate"] / error
            assert ((effectivity > 1 / 3) & (effectivity < 3)).all(), (kind, size, effectivity)
            assert (columns["floor_error"] > 0.08).all()
            whole = transported_error(residual, prediction_trajectory(w_in, pred), 5)
            if size == 0.03:
                assert (whole > 3 * error).all(), (kind, whole / error)
    floor_err = floor_error(residual, w_in)
    assert torch.allclose(columns["floor_error"], 5 / 4 * floor_err)  # scaled to 5 intervals
    assert torch.allclose(excess_error(3 * floor_err, floor_err), (8 + 1 / 16) ** 0.5 * floor_err)


def test_refinement_stops_at_the_floor(turbulent):
    """Refinement that may not stop drives η far below the floor; stopped at the floor it
    ends near it, in fewer evaluations. An instance at its floor from the start never moves."""
    frames, preset = turbulent
    residual = _residual(preset, 16)
    torch.manual_seed(0)
    model = build_model("sfno", t_in=5, t_out=5, width=6, modes=4, time_modes=1, n_layers=1)
    model = model.double()
    w_in = frames[:, :5]
    free = refine(model, w_in, residual, max_evals=80, stop_at_floor=False)
    stopped = refine(model, w_in, residual, max_evals=80)
    floor = stopped.floor
    assert (free.eta_after < 0.7 * floor).all(), (free.eta_after, floor)
    assert (stopped.eta_after > 0.7 * floor).all(), (stopped.eta_after, floor)
    assert stopped.evaluations < free.evaluations
    # refinement drives the residual's excess to ~0, not the error: the refined estimate keeps
    # what Pythagoras leaves of the unrefined one, and stays within 3x of the error
    truth = frames[:, 5:10]
    before = honest_estimate(residual, w_in, stopped.initial)
    after = refined_estimate(residual, w_in, stopped.prediction, before, stopped.initial)
    unbounded = honest_estimate(residual, w_in, stopped.prediction)["error_estimate"]
    error = relative_error(stopped.prediction, truth, residual.grid)
    assert (unbounded < error / 3).all(), (unbounded, error)
    moved = moved_distance(stopped.prediction, stopped.initial)
    own = honest_estimate(residual, w_in, stopped.prediction)["error_estimate"]
    assert torch.equal(after["error_estimate"], refined_error(before, own, moved))
    effectivity = after["error_estimate"] / error
    assert ((effectivity > 1 / 3) & (effectivity < 3)).all(), effectivity
    x0 = torch.randn(2, 3, dtype=F64)
    x, evaluations = minimize(
        lambda x: x.square().sum(1), x0, max_evals=50, done=lambda x, _: torch.ones(2, dtype=bool)
    )
    assert torch.equal(x, x0) and evaluations == 1


def _documented(e0: float, e1: float, floor: float, d: float, c: float) -> float:
    """``E_refined`` of :mod:`spectral_refiner.physics.error_estimate`, in plain floats."""
    u = 0.25 * floor
    if d**2 > e0**2 + u**2:  # the guard
        return max(e1, min(e0, floor))
    r = max(u - d, c * floor)
    left = min(floor, (max(e0**2 - u**2 - d**2, 0) + r**2) ** 0.5)
    return max((max(e1**2 - u**2, 0) + r**2) ** 0.5, left)


def test_the_refined_error_is_pythagoras_below_the_floor_with_its_guard():
    """The documented equation: Pythagoras on the resolved excess, the unresolved part shrunk
    by the move down to ``c F``, capped at ``F``; the guard where ``d² > E_0² + (F/4)²``; a
    ``nan`` floor counts as 0 in ``r`` and ``∞`` in the caps."""
    cases = [  # E_0, E_1, F, d
        (0.02, 0.016, 0.06, 0.01),  # Pythagoras below the floor
        (0.02, 0.016, 0.06, 0.03),  # guard
        (0.2, 0.05, 0.06, 0.1),  # capped at F
        (0.2, 0.09, 0.06, 0.1),  # the refined excess above the floor
        (0.02, 0.02, 0.06, 0.0),  # not moved
        (0.02, 0.005, 0.0, 0.01),  # resolved flow: Pythagoras capped at F = 0
    ]
    e0, e1, floor, d = (torch.tensor(v, dtype=F64) for v in zip(*cases, strict=True))
    got = refined_error({"error_estimate": e0, "floor_error": floor}, e1, d)
    expected = [_documented(*case, REFINED_FRACTION) for case in cases]
    torch.testing.assert_close(got, torch.tensor(expected, dtype=F64), rtol=1e-12, atol=0)
    assert expected[1] == 0.02 and expected[2] == 0.06 and expected[5] == 0.005
    assert expected[0] == pytest.approx((0.02**2 - 0.015**2 - 0.01**2 + 0.006**2) ** 0.5)
    assert expected[3] == pytest.approx((0.09**2 - 0.015**2 + 0.006**2) ** 0.5)
    unknown = {"error_estimate": e0[:2], "floor_error": torch.full((2,), float("nan"), dtype=F64)}
    got = refined_error(unknown, torch.tensor([0.005, 0.005], dtype=F64), d[:2])
    torch.testing.assert_close(got, torch.tensor([3**0.5 * 0.01, 0.02], dtype=F64))


def test_an_unmoved_prediction_keeps_its_estimate_bit_for_bit(turbulent):
    """Refinement that does not move a prediction (``d = 0``) leaves every column as it was,
    for errors below the floor's (``E_0 < F``) and above it."""
    frames, preset = turbulent
    residual = _residual(preset, 16)
    w_in, truth = frames[:, :5], frames[:, 5:10]
    for size in (0.01, 0.3):
        pred = _perturbed(truth, "smooth", size)
        before = honest_estimate(residual, w_in, pred)
        after = refined_estimate(residual, w_in, pred.clone(), before, pred)
        assert before.keys() == after.keys()
        for key, value in before.items():
            assert torch.equal(after[key], value), (size, key)
    assert (before["error_estimate"] > before["floor_error"]).all()


def test_on_a_resolved_flow_the_refined_estimate_is_its_own_transport(resolved):
    """With ``F ≈ 0`` the Pythagoras term is at most ``F``: a prediction refined from a 5% error
    to a 2% one gets the error estimate of the 2% prediction itself (to ``(F/E_1)²/32``, within
    15% of the error), not the unrefined one."""
    frames, preset = resolved
    residual = _residual(preset, 48)
    w_in, truth = frames[:, :5], frames[:, 5:10]
    initial, refined = (_perturbed(truth, "smooth", s) for s in (0.05, 0.02))
    before = honest_estimate(residual, w_in, initial)
    after = refined_estimate(residual, w_in, refined, before, initial)
    own = honest_estimate(residual, w_in, refined)
    assert (before["floor_error"] < 0.1 * own["error_estimate"]).all()  # differ by ~(F/E_1)²/32
    torch.testing.assert_close(after["error_estimate"], own["error_estimate"], rtol=1e-3, atol=0)
    effectivity = after["error_estimate"] / relative_error(refined, truth, residual.grid)
    assert ((effectivity > 0.85) & (effectivity < 1.15)).all(), effectivity
    moved = moved_distance(refined, initial)
    torch.testing.assert_close(moved, torch.full_like(moved, 0.03), rtol=0.05, atol=0)


class _Counted:
    """A closure that counts its evaluations (shared by its copies on other grids)."""

    def __init__(self, inner, calls: list[int]) -> None:
        self.inner, self.calls = inner, calls

    def term_hat(self, w_hat: torch.Tensor) -> torch.Tensor:
        self.calls[0] += 1
        return self.inner.term_hat(w_hat)

    def on_grid(self, n: int) -> _Counted:
        return _Counted(self.inner.on_grid(n), self.calls)


def test_refinement_evaluates_the_closure_once_per_evaluation(turbulent):
    """η rides along with each residual evaluation, so stopping at the floor costs no extra
    closure evaluation: the floor, the start, one per L-BFGS evaluation, the final η."""
    frames, preset = turbulent
    residual = _residual(preset, 16, {"name": "smagorinsky"})
    calls = [0]
    residual.equation.closure = _Counted(residual.equation.closure, calls)
    torch.manual_seed(0)
    model = build_model("sfno", t_in=5, t_out=5, width=6, modes=4, time_modes=1, n_layers=1)
    result = refine(model.double(), frames[:, :5], residual, max_evals=12)
    assert result.evaluations > 3
    assert calls[0] == result.evaluations + 3, (calls, result.evaluations)


def test_a_closure_spec_from_the_command_line():
    assert closure_spec("none") == {"name": "none"}
    assert closure_spec("smagorinsky:0.1") == {"name": "smagorinsky", "coefficient": 0.1}
    assert closure_spec("leith") == {"name": "leith"}
    assert closure_spec("dynamic") == {"name": "dynamic-smagorinsky"}
    assert closure_spec("learned:k.pt") == {"name": "learned", "path": "k.pt"}
    spec = {"name": "smagorinsky", "coefficient": 0.2}
    assert closure_spec(json.dumps(spec)) == spec
    for bad in ("smag", "learned", "smagorinsky:x", "leith:-1", "none:1", "{oops"):
        with pytest.raises(argparse.ArgumentTypeError):
            closure_spec(bad)


# ---------------------------------------------------------------------------- commands


@pytest.fixture(scope="module")
def run_and_data(tmp_path_factory):
    """A small SFNO run on the tiny flow (64² stored at 32²) and a file at full resolution."""
    root = tmp_path_factory.mktemp("estimate")
    data = ["n_trajectories=6", "n_frames=12", "frame_interval=0.25", "batch_size=6"]
    source = generate(apply_overrides(get_preset("tiny"), data), root / "flow.h5", progress=False)
    full = apply_overrides(get_preset("tiny"), [*data, "sim_resolution=32"])
    resolved_file = generate(full, root / "full.h5", seed=1, progress=False)
    return train_small_run(source, root), source, resolved_file, root


def _predict(run, source, out, *extra):
    command = ["predict", "--run", str(run), "--data", str(source), "--out", str(out)]
    return main([*command, "--allow-training-data", "--quiet", *extra])


@pytest.mark.slow
def test_predict_reports_the_estimate_and_closure_none_changes_nothing(run_and_data, tmp_path):
    run, source, _, _ = run_and_data
    assert _predict(run, source, tmp_path / "plain.h5") == 0
    assert _predict(run, source, tmp_path / "none.h5", "--closure", "none") == 0
    assert _predict(run, source, tmp_path / "smag.h5", "--closure", "smagorinsky:0.3") == 0
    plain, none, smag = (read_estimates(tmp_path / f) for f in ("plain.h5", "none.h5", "smag.h5"))
    assert {"eta", "floor", "estimate", "error_estimate", "rel_l2"} <= set(plain)
    for key in plain:  # the run has no closure: none is the run's own residual, bit for bit
        np.testing.assert_array_equal(plain[key], none[key])
    assert not np.array_equal(plain["eta"], smag["eta"])
    np.testing.assert_array_equal(plain["estimate"], np.maximum(plain["eta"], plain["floor"]))


@pytest.mark.slow
def test_evaluate_reports_floor_estimate_and_error_per_window(run_and_data, capsys):
    run, source, _, _ = run_and_data
    command = ["evaluate", "--run", str(run), "--data", str(source), "--allow-training-data"]
    assert main([*command, "--rollout", "6", "--limit", "2", "--quiet"]) == 0
    assert main([*command, "--limit", "2", "--closure", "leith", "--quiet"]) == 0
    capsys.readouterr()
    results = {p.name: json.loads(p.read_text()) for p in (run / "evaluation").glob("*.json")}
    closed = [r for name, r in results.items() if name.endswith("closureleith.json")]
    plain = [r for r in results.values() if r["frames"] == 6]
    assert len(closed) == 1 and len(plain) == 1 and closed[0]["closure"] == {"name": "leith"}
    side = plain[0]["prediction"]
    assert len(side["per_window_floor"]) == 2 == len(side["per_window_rel_l2"])
    assert side["per_window_floor"][0] == side["per_window_floor"][1]  # the data's floor
    assert all(
        e >= f for e, f in zip(side["per_window_estimate"], side["per_window_floor"], strict=True)
    )
    assert 0 <= side["effectivity_within_3"] <= 1 and side["median_effectivity"] > 0
    rows = estimate_rows([{**side, "label": "sfno"}, plain[0]["persistence"]])
    assert len(rows) == 2 and rows[0][:2] == ["sfno", 1] and rows[1][:2] == ["", 2]
    assert rows[0][2:6] == [side[f"per_window_{k}"][0] for k in WINDOW_COLUMNS]


def test_a_closure_the_data_cannot_take_is_refused(run_and_data, tmp_path, capsys):
    """One line, exit 2, nothing written: a closure for frames at their simulation's
    resolution, a learned closure of another resolution, an unknown closure."""
    from spectral_refiner.hybrid import AprioriClosure, save_closure
    from spectral_refiner.physics import SpectralGrid

    run, source, resolved_file, _ = run_and_data
    torch.manual_seed(0)
    cnn = build_model("cnn", t_in=1, t_out=1, width=4, n_layers=2)
    other = AprioriClosure(
        cnn, SpectralGrid(16, 1.0), 16, "vorticity", [1.0], 1.0, {"dns_resolution": 64}
    )
    save_closure(other, tmp_path / "c16.pt")
    capsys.readouterr()
    cases = [  # the run reads 32² frames, which a 32² simulation holds unabridged
        (run, resolved_file, "smagorinsky", "nothing to close"),
        (run, source, f"learned:{tmp_path / 'c16.pt'}", "trained at resolution 16"),
        (run, source, "smag", "unknown closure"),
    ]
    for run_dir, data, spec, message in cases:
        code = _predict(run_dir, data, tmp_path / "o.h5", "--closure", spec)
        err = capsys.readouterr().err.strip()
        assert code == 2 and message in err and len(err.splitlines()) == 1, (spec, err)
    assert not (tmp_path / "o.h5").exists()
