"""PDE-Refiner through the trainer: the model's own objective is what the trainer minimises,
a run killed mid-epoch and resumed equals the uninterrupted one bit for bit, two gloo ranks
follow one process, and a bad configuration is one line and exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import two_gloo_ranks
from spectral_refiner.cli import main
from spectral_refiner.config import config_from_dict
from spectral_refiner.data import apply_overrides, generate, get_preset
from spectral_refiner.evaluation import read_evaluations
from spectral_refiner.evaluation.report_data import ReportRun
from spectral_refiner.evaluation.report_uncertainty import uncertainty_sections
from spectral_refiner.training import RunDir, Trainer, load_checkpoint, sample_seeds, train

MODEL = {
    "name": "pde_refiner",
    "backbone": {"name": "unet", "width": 8, "levels": 2},
    "refinement_steps": 2,
    "sigma_min": 1e-2,
}
RAW = {
    "model": MODEL,
    "data": {
        "t_in": 3,
        "t_out": 1,
        "val_split": 2,
        "test_split": 1,
        "samples_per_trajectory": 4,
        "batch_size": 4,
    },
    "optim": {"lr": 3e-3, "epochs": 1, "checkpoint_every": 2, "schedule": "cosine"},
    "device": "cpu",
}


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    preset = apply_overrides(
        get_preset("tiny"),
        ["n_trajectories=8", "n_frames=8", "sim_resolution=32", "resolution=16"],
    )
    return generate(preset, tmp_path_factory.mktemp("data") / "small.h5", progress=False)


def _config(data_file, **changes):
    raw = json.loads(json.dumps(RAW))
    raw["data"]["file"] = str(data_file)
    for section, values in changes.items():
        raw[section].update(values)
    return config_from_dict(raw)


def _records(run) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == "step"]


def _weights(run) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "checkpoints" / "latest.pt")["model"]["state_dict"]


def test_seeds_are_keyed_by_seed_step_and_place():
    a = sample_seeds(0, 5, range(4))
    assert a == sample_seeds(0, 5, range(4)) and len(set(a)) == 4
    assert a[2:] == sample_seeds(0, 5, [2, 3])  # a sample's seed ignores the rest
    assert set(a).isdisjoint(sample_seeds(0, 6, range(4)) + sample_seeds(1, 5, range(4)))
    assert all(0 <= s < 2**63 for s in a)


@pytest.fixture(scope="module")
def whole(data_file, tmp_path_factory):
    """A finished run, and the loss of its first step recomputed from a copy of the model with
    the keyed seeds (watched by a wrapper around the trainer's step)."""
    seen, original = [], Trainer._step

    def spy(self, w_in, w_out, n_global, *conditioning):
        if self.progress.step == 0:
            model = type(self.model)(**self.model.config)
            model.load_state_dict(self.model.state_dict())
            with torch.no_grad():
                seeds = sample_seeds(0, 0, range(w_in.shape[0]))
                seen.append(float(model.training_loss(w_in, w_out, seeds)))
        return original(self, w_in, w_out, n_global, *conditioning)

    run = tmp_path_factory.mktemp("runs") / "whole"
    Trainer._step = spy
    try:
        train(_config(data_file), str(run), progress=False)
    finally:
        Trainer._step = original
    return run, seen[0]


def test_the_trainer_minimises_the_models_objective_and_resumes_bit_for_bit(
    data_file, whole, tmp_path, monkeypatch
):
    """Each step's logged loss is ``training_loss`` of its batch with the keyed seeds (checked
    on the first step by recomputation); a run that dies after its mid-epoch checkpoint of
    step 2 and is resumed ends with the same weights and loss curve as the uninterrupted run."""
    whole, first = whole
    curve = [r["loss"] for r in _records(whole)]
    assert len(curve) == 5  # 5 trajectories x 4 windows, batches of 4
    assert curve[0] == pytest.approx(first, rel=1e-5)
    original = Trainer._step

    def dies(self, w_in, w_out, n_global, *conditioning):
        if self.progress.step == 3:
            raise RuntimeError("killed")
        return original(self, w_in, w_out, n_global, *conditioning)

    monkeypatch.setattr(Trainer, "_step", dies)
    run = tmp_path / "killed"
    with pytest.raises(RuntimeError, match="killed"):
        train(_config(data_file), str(run), progress=False)
    assert load_checkpoint(run / "checkpoints" / "latest.pt")["progress"]["step"] == 2
    monkeypatch.setattr(Trainer, "_step", original)
    train(_config(data_file), str(run), resume=True, progress=False)
    a, b = _weights(run), _weights(whole)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [r["loss"] for r in _records(run)][-3:] == curve[-3:]


def test_two_gloo_ranks_follow_one_process(data_file, tmp_path):
    """Each rank draws the noise of its half of the global batch from the keyed seeds: the
    loss curve and weights of two ranks are the single process's (float64)."""
    config = _config(data_file)
    config.dtype = "float64"
    train(config, str(tmp_path / "one"), progress=False)
    assert two_gloo_ranks(config, str(tmp_path / "two")) == [0, 0]
    one, two = _records(tmp_path / "one"), _records(tmp_path / "two")
    assert len(one) == len(two) == 5
    np.testing.assert_allclose([r["loss"] for r in two], [r["loss"] for r in one], rtol=1e-9)
    a, b = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"refinement_steps": -1}, "model.refinement_steps must be >= 0, got -1"),
        ({"sigma_min": 0}, "sigma_min must be in (0, 1), got 0"),
        ({"sigma_min": 1.5}, "sigma_min must be in (0, 1), got 1.5"),
        ({"backbone": {"name": "sfno"}}, "model sfno takes no step conditioning: choose a"),
        ({"loss": 1}, "takes no physics loss: set loss.physics_weight=0"),
    ],
)
def test_bad_configuration_is_one_line_and_exit_2(data_file, tmp_path, capsys, change, message):
    raw = json.loads(json.dumps(RAW))
    if change.pop("loss", None):
        raw["loss"] = {"physics_weight": 1.0}
    raw["model"].update(change)
    (tmp_path / "c.yaml").write_text(json.dumps(raw))
    args = ["train", "--config", str(tmp_path / "c.yaml"), "--data", str(data_file)]
    code = main([*args, "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "run").exists()


def test_evaluate_rolls_out_samples_keyed_per_instance(data_file, whole, capsys):
    """``evaluate --rollout 5 --samples 3``: the chained rollout and the sample spread are
    written under their own key; a trajectory's samples do not depend on the batch."""
    run, _ = whole
    args = ["evaluate", "--run", str(run), "--data", str(data_file), "--rollout", "5"]
    code = main([*args, "--samples", "3", "--limit", "3", "--allow-training-data", "--quiet"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "3 samples: Spearman(spread, error)" in out.out
    (result,) = (run / "evaluation").glob("*first3*-samples3.json")
    u = json.loads(result.read_text())["uncertainty"]
    assert len(u["per_frame_spread"]) == 5 and min(u["per_frame_spread"]) > 0
    arrays = np.load(result.with_suffix(".npz"))
    assert arrays["uncertainty_spread"].shape == (3, 5)
    code = main([*args, "--samples", "3", "--limit", "1", "--allow-training-data", "--quiet"])
    assert code == 0
    (alone,) = (run / "evaluation").glob("*first1*-samples3.npz")
    for name in ("spread", "error", "agreement"):
        np.testing.assert_allclose(
            np.load(alone)[f"uncertainty_{name}"][0], arrays[f"uncertainty_{name}"][0], atol=1e-6
        )
    code = main([*args, "--samples", "1", "--quiet"])
    assert code == 2 and "--samples: must be >= 2" in capsys.readouterr().err
    sections = uncertainty_sections(
        [ReportRun(RunDir.existing(run), read_evaluations(RunDir.existing(run)), [], [], [], None)],
        run,
    )
    assert sorted(r[1] for r in sections.rows) == sorted([result.stem, alone.stem])
    drawn = json.loads(sections.figures[0][0].with_suffix(".json").read_text())
    lines = drawn["estimated and true decorrelation"]
    first = np.load(run / "evaluation" / f"{sections.rows[0][1]}.npz")
    np.testing.assert_allclose(
        lines["agreement of samples"], np.median(first["uncertainty_agreement"], axis=0)
    )


def test_evaluate_rolls_out_the_mean_of_an_ensemble(data_file, whole, capsys):
    """``evaluate --ensemble 2``: its own key, a rollout whose first frame is the mean of the
    samples with seeds 0 and 1 (not the single-sample one); ``--ensemble 1`` is refused."""
    run, _ = whole
    args = ["evaluate", "--run", str(run), "--data", str(data_file), "--rollout", "2"]
    common = ["--limit", "2", "--allow-training-data", "--quiet"]
    assert main([*args, *common]) == 0 and main([*args, "--ensemble", "2", *common]) == 0
    (mean,) = (run / "evaluation").glob("*first2-f2-*-mean2.npz")
    single = mean.with_name(mean.name.replace("-mean2", ""))
    m, s = np.load(mean)["rel_l2_prediction"], np.load(single)["rel_l2_prediction"]
    assert abs(m[0] - s[0]) > 1e-6
    assert main([*args, "--ensemble", "1", "--quiet"]) == 2
    assert "--ensemble: must be >= 2" in capsys.readouterr().err


@pytest.mark.parametrize("data", ["kolmogorov-re1000", "mcwilliams-re1000"])
def test_shipped_configs_pair_pde_refiner_with_its_mse_backbone(data):
    """The baseline is the same backbone, data and optimisation with K = 0: equal compute."""
    from spectral_refiner.config import load_config
    from spectral_refiner.data import preset_problem
    from spectral_refiner.models import build_model

    refiner, mse = load_config(f"pde_refiner-{data}"), load_config(f"pde_refiner_mse-{data}")
    a, b = refiner.to_dict(), mse.to_dict()
    assert a["model"].pop("refinement_steps") == 3 and b["model"].pop("refinement_steps") == 0
    assert a == b and a["model"]["sigma_min"] == 0.1 and a["data"]["t_out"] == 1
    models = [build_model("pde_refiner", **c.model_kwargs()) for c in (refiner, mse)]
    assert models[0].backbone.t_in == models[1].backbone.t_in + 1  # the estimate's channel
    preset = get_preset(data)
    assert preset.box_length == pytest.approx(2 * np.pi) and preset.viscosity == 1e-3
    assert preset_problem(preset).resolution == 64
