"""Spectral-Refiner: the widened head changes nothing before a step, frozen parameters stay
frozen, η and the true error fall, a solver trajectory is left (nearly) alone, each instance's
head reproduces its refined prediction, instances are independent of their batch, the batched
L-BFGS, and the refine/predict commands end to end."""

from __future__ import annotations

import copy

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
    read_info,
)
from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.evaluation import Selection, predict_file
from spectral_refiner.evaluation import predict as predict_module
from spectral_refiner.models import build_model
from spectral_refiner.physics import Residual, prediction_estimate, resample
from spectral_refiner.refine import refine
from spectral_refiner.refine.lbfgs import minimize
from spectral_refiner.refine.refiner import _instance_heads
from spectral_refiner.training import relative_error

F64 = torch.float64
# A resolved, smooth forced flow (FNO type, ν = 1e-3): 32² frames of a 64² run, 0.25 apart.
DATA = ["n_trajectories=6", "n_frames=12", "frame_interval=0.25", "batch_size=6"]


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    path = tmp_path_factory.mktemp("refine") / "flow.h5"
    return read_flow(generate(apply_overrides(get_preset("tiny"), DATA), path, progress=False))


def sfno(seed: int = 0):
    torch.manual_seed(seed)
    return build_model("sfno", t_in=5, t_out=5, width=6, modes=4, time_modes=1, n_layers=1)


def windows(flow, dtype=F64):
    w = flow.frames[:, :10].to(dtype)
    return w[:, :5], w[:, 5:]


def test_widened_head_reproduces_the_prediction_and_frozen_parameters_stay(flow):
    model = sfno().double()
    before = copy.deepcopy(model.state_dict())
    w_in, _ = windows(flow)
    eq = flow.equation(dtype=F64)
    result = refine(model, w_in, Residual(eq, flow.dt), max_evals=0)
    with torch.no_grad():
        plain = model(w_in)
    torch.testing.assert_close(result.initial, plain, rtol=0, atol=1e-13)
    assert torch.equal(result.prediction, result.initial)  # no step taken
    refine(model, w_in, Residual(eq, flow.dt), max_evals=20)
    after = model.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], before[k]) for k in before)
    assert model.head.modes == (1, 4, 4)  # the model's own head is not widened
    single = sfno()  # float32: refined in float64 on a copy, itself unchanged
    refine(single, w_in, Residual(eq, flow.dt), max_evals=2)
    assert all(p.dtype == torch.float32 for p in single.parameters())
    assert all(not p.requires_grad or p.grad is None for p in model.parameters())


def test_refinement_lowers_eta_and_the_true_error(flow):
    model = sfno().double()
    w_in, w_out = windows(flow)
    eq = flow.equation(dtype=F64)
    result = refine(model, w_in, Residual(eq, flow.dt), max_evals=60)
    before = relative_error(result.initial, w_out, eq.grid)
    after = relative_error(result.prediction, w_out, eq.grid)
    assert (result.eta_after < 0.1 * result.eta_before).all(), (result.eta_before, result.eta_after)
    assert (after < 0.2 * before).all(), (before, after)
    torch.testing.assert_close(
        result.eta_after, prediction_estimate(w_in, result.prediction, eq, flow.dt)
    )


def test_each_instance_head_reproduces_its_refined_prediction(flow):
    model = sfno().double()
    w_in, _ = windows(flow)
    eq = flow.equation(dtype=F64)
    result = refine(model, w_in, Residual(eq, flow.dt), max_evals=15, return_heads=True)
    assert result.head_weights.shape[0] == w_in.shape[0]
    for b in range(w_in.shape[0]):
        own = copy.deepcopy(model)
        own.widen_head(own.full_head_modes(32))
        own.head.weight = torch.nn.Parameter(result.head_weights[b])
        with torch.no_grad():
            mine = own(w_in[b : b + 1])
        torch.testing.assert_close(mine, result.prediction[b : b + 1], rtol=1e-9, atol=1e-9)


def test_a_solver_trajectory_is_left_nearly_unchanged(flow):
    """A head made to predict the true frames (the widened head spans every window) is
    hardly moved by refinement, while the same refinement moves a 3%-wrong prediction by
    about its error."""
    model = sfno(1).double()
    w_in, w_out = windows(flow)
    eq = flow.equation(dtype=F64)
    grid_modes = model.full_head_modes(32)

    def made_to_predict(target: torch.Tensor):
        own = copy.deepcopy(model).widen_head(grid_modes)
        head = own.head
        with torch.no_grad():
            h_in = own.head_input(own.latent(w_in[:1]))
            sigma = own.normalise(w_in[:1])[1]
            sizes = (own.t_out + own.head_padding, 32, 32)
            spectrum = head.spectrum(h_in, head.kept_modes(h_in.shape[-3:], sizes))
            # δy whose synthesis, cropped to the window, is (target - p0) / σ: least squares
            # over the head's output coefficients, solved by L-BFGS on the exact quadratic.
            p0 = own(w_in[:1])
        goal = (target - p0) / sigma

        def misfit(z):
            delta = torch.view_as_complex(z).permute(1, 2, 3, 0).unsqueeze(-1)
            out = head.synthesize(delta, sizes)[:, 0, : own.t_out]
            return (out - goal).square().flatten(1).sum(1)

        z, _ = minimize(misfit, torch.zeros(1, *spectrum.shape[:3], 2, dtype=F64), max_evals=400)
        delta = torch.view_as_complex(z).permute(1, 2, 3, 0).unsqueeze(-1)
        head.weight = torch.nn.Parameter(_instance_heads(head, spectrum, delta)[0])
        return own

    exact = made_to_predict(w_out[:1])
    with torch.no_grad():
        assert float(relative_error(exact(w_in[:1]), w_out[:1], eq.grid)) < 1e-6
    kept = refine(exact, w_in[:1], Residual(eq, flow.dt), max_evals=40)
    moved_exact = float(relative_error(kept.prediction, kept.initial, eq.grid))
    g = torch.Generator().manual_seed(0)
    noise = resample(torch.randn(1, 1, 8, 8, generator=g, dtype=F64), 32)
    wrong_target = w_out[:1] + 0.03 * noise / noise.std() * w_out[:1].std()
    wrong = refine(made_to_predict(wrong_target), w_in[:1], Residual(eq, flow.dt), max_evals=40)
    moved_wrong = float(relative_error(wrong.prediction, wrong.initial, eq.grid))
    assert moved_exact < 0.05 * moved_wrong, (moved_exact, moved_wrong)
    assert float(kept.eta_before) < 0.1 * float(wrong.eta_before)


def test_instances_do_not_depend_on_their_batch(flow):
    model = sfno().double()
    w_in, _ = windows(flow)
    eq = flow.equation(dtype=F64)
    together = refine(model, w_in[:3], Residual(eq, flow.dt), max_evals=25)
    alone = refine(model, w_in[1:2], Residual(eq, flow.dt), max_evals=25)
    torch.testing.assert_close(alone.prediction, together.prediction[1:2], rtol=1e-7, atol=1e-9)


def test_zero_shot_refinement_on_a_finer_grid(flow):
    model = sfno().double()
    w_in, _ = windows(flow)
    eq64 = flow.equation(dtype=F64).on_grid(64)
    result = refine(model, w_in[:2], Residual(eq64, flow.dt), max_evals=20)
    assert result.prediction.shape == (2, 5, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(
            result.initial, model(resample(w_in[:2], 64)), rtol=0, atol=1e-12
        )
    assert (result.eta_after < result.eta_before).all()


def test_refinement_needs_an_sfno(flow):
    w_in, _ = windows(flow)
    model = build_model("fno2d", t_in=5, t_out=5, width=6, modes=4, n_layers=1).double()
    with pytest.raises(SpectralRefinerError, match="needs an SFNO"):
        refine(model, w_in, Residual(flow.equation(dtype=F64), flow.dt))


def test_batched_lbfgs_solves_independent_problems():
    """Rosenbrock valleys of different scales, batched: each converges, and its path does
    not depend on the others (the same result alone)."""
    scales = torch.tensor([1.0, 10.0, 100.0], dtype=F64)

    def rosenbrock(x):
        s = scales[: x.shape[0]] if x.shape[0] > 1 else scales[1:2]
        return (1 - x[:, 0]) ** 2 + s * (x[:, 1] - x[:, 0] ** 2) ** 2

    x0 = torch.tensor([[-1.2, 1.0]] * 3, dtype=F64)
    x, evals = minimize(rosenbrock, x0, max_evals=400, history=10)
    torch.testing.assert_close(x, torch.ones_like(x), rtol=0, atol=1e-5)
    alone, _ = minimize(rosenbrock, x0[1:2], max_evals=400, history=10)
    torch.testing.assert_close(alone, x[1:2], rtol=0, atol=1e-12)
    _, used = minimize(rosenbrock, x0, max_evals=400, done=lambda x, _: torch.ones(3, dtype=bool))
    assert used < evals  # done() freezes every instance at the first check


# ---------------------------------------------------------------------------- commands


@pytest.fixture(scope="module")
def sfno_run(flow, tmp_path_factory):
    run = train_small_run(flow.source, tmp_path_factory.mktemp("run"))
    return run


def test_refine_command_writes_refined_predictions_with_estimates(flow, sfno_run, tmp_path, capsys):
    out = tmp_path / "refined.h5"
    code = main(
        [
            "refine",
            "--run",
            str(sfno_run),
            "--data",
            flow.source,
            "--out",
            str(out),
            "--steps",
            "40",
            "--allow-training-data",
            "--quiet",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "refinement improved" in printed and "s per instance" in printed
    info = read_info(out)
    assert info.shape == (6, 5, 32, 32) and info.attrs["refined"]
    np.testing.assert_array_equal(info.keys, read_info(flow.source).keys)  # what it predicts
    assert info.problem == flow.problem  # same equation, spacing 0.25, 32², no window
    np.testing.assert_allclose(info.times, flow.times[5:10])
    est = read_estimates(out)
    assert (est["eta"] < est["eta_unrefined"]).all()
    assert np.median(est["rel_l2"]) < np.median(est["rel_l2_unrefined"])
    with h5py.File(out) as f:  # the file's frames are the refined prediction, on its grid
        assert f["t0_fields/vorticity"].shape == (6, 5, 32, 32)


def test_predict_command_gives_every_model_an_estimate(flow, sfno_run, tmp_path, capsys):
    only_inputs = tmp_path / "inputs.h5"
    from spectral_refiner.data import write_dataset

    write_dataset(
        only_inputs,
        flow.frames[:, :5].numpy(),
        flow.times[:5],
        flow.preset.fields(),
        {"fingerprint": "inputs"},
    )
    out = tmp_path / "pred.h5"
    command = ["predict", "--run", str(sfno_run), "--input", str(only_inputs), "--out", str(out)]
    assert main([*command, "--quiet"]) == 0
    est = read_estimates(out)
    assert set(est) == {"eta", "floor", "estimate", "floor_error", "error_estimate"}
    assert est["eta"].shape == (6,) and (est["eta"] > 0).all()
    capsys.readouterr()
    written = out.stat().st_mtime_ns
    assert main([*command, "--quiet"]) == 0  # the same job, finished: reported, not redone
    assert out.stat().st_mtime_ns == written
    assert main([*command, "--resolution", "64", "--quiet"]) == 2
    assert "exists" in capsys.readouterr().err


def test_prediction_resumes_after_an_interrupt(flow, sfno_run, tmp_path, monkeypatch):
    select = Selection(allow_training_data=True)
    options = dict(refine=True, steps=10, batch=2, progress=False, select=select)
    predict_file(sfno_run, flow.source, tmp_path / "ref.h5", **options)
    calls = {"n": 0}
    original = predict_module._predict_chunk

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    out = tmp_path / "resumed.h5"
    monkeypatch.setattr(predict_module, "_predict_chunk", flaky)
    with pytest.raises(KeyboardInterrupt):
        predict_file(sfno_run, flow.source, out, **options)
    assert not out.exists() and len(list((tmp_path / "resumed.h5.parts").glob("part_*"))) == 2
    predict_file(sfno_run, flow.source, out, **options)
    assert calls["n"] == 4  # the saved chunk was not recomputed
    with h5py.File(out) as a, h5py.File(tmp_path / "ref.h5") as b:
        np.testing.assert_array_equal(a["t0_fields/vorticity"][()], b["t0_fields/vorticity"][()])
    assert not (tmp_path / "resumed.h5.parts").exists()


def test_refine_and_predict_refuse_bad_input(flow, sfno_run, tmp_path, capsys):
    from spectral_refiner.data import write_dataset

    coarse_time = tmp_path / "every-other.h5"
    write_dataset(
        coarse_time,
        flow.frames[:, ::2].numpy(),
        flow.times[::2],
        flow.preset.fields(),
        {"fingerprint": "x"},
    )
    fno_run = train_small_run(flow.source, tmp_path, "fno2d")
    capsys.readouterr()
    cases = [
        (["refine", "--run", str(sfno_run), "--data", str(coarse_time)], "trained on windows"),
        (["refine", "--run", str(fno_run), "--data", flow.source], "needs an SFNO run"),
        (["refine", "--run", str(tmp_path), "--data", flow.source], "holds no training run"),
        (["predict", "--run", str(sfno_run), "--input", str(tmp_path / "none.h5")], "no such file"),
        (["refine", "--run", str(sfno_run), "--data", flow.source, "--start", "9"], "need 14"),
        (
            ["refine", "--run", str(sfno_run), "--data", flow.source, "--resolution", "33"],
            "even integer",
        ),
    ]
    cases = [  # the held-out trajectories: the run's training file is otherwise refused
        ([*args, "--split", "test"] if flow.source in args else args, message)
        for args, message in cases
    ]
    for args, message in cases:
        code = main([*args, "--out", str(tmp_path / "o.h5"), "--quiet"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and message in err and len(err.splitlines()) == 1, (args, err)
    assert not (tmp_path / "o.h5").exists()
