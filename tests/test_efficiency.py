"""``spectral-refiner efficiency``: EG and AG as defined on exact power laws, the runs of every
size on the same test trajectories, a rerun that redoes nothing, one-line bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from spectral_refiner.cli import main
from spectral_refiner.config import config_from_dict
from spectral_refiner.data import get_preset, read_flow, seed_keys, write_dataset
from spectral_refiner.evaluation import efficiency, efficiency_gains, power_law, write_report
from spectral_refiner.training import load_checkpoint, model_from_checkpoint, train

CONFIG = {
    "model": {"name": "fno2d", "width": 6, "modes": 3, "n_layers": 1},
    "data": {
        "t_in": 3,
        "t_out": 1,
        "val_split": 1,
        "test_split": 2,
        "samples_per_trajectory": 4,
        "batch_size": 4,
    },
    "optim": {"epochs": 1, "lr": 1e-2},
    "device": "cpu",
}


def random_file(path, seed: int, n_traj: int = 7):
    recipe = get_preset("tiny")
    frames = np.random.default_rng(seed).standard_normal((n_traj, 6, 16, 16)).astype(np.float32)
    write_dataset(path, frames, recipe.times()[:6], recipe.fields(), {}, keys=seed_keys(seed, 7))
    return str(path)


def test_gains_of_exact_power_laws():
    """E_scratch = 1/N, E_pre = 1/(4N): the fine-tuned model needs a quarter of the data
    (EG = 4) and is 4 times more accurate at equal N (AG = 4)."""
    sizes = [2, 4, 8, 16]
    scratch = [1 / n for n in sizes]
    pre = [1 / (4 * n) for n in sizes]
    assert power_law(sizes, scratch) == pytest.approx((1.0, 1.0))
    gains = efficiency_gains(sizes, scratch, pre, reference=8)
    assert gains["EG"] == pytest.approx(4.0) and gains["AG"] == pytest.approx(4.0)
    assert gains["EG_measured"] == 4.0  # 1/(4*2) <= 1/8: N' = 2
    # a steeper fine-tuned curve E = 1/N^2: reaches 1/8 at N* = sqrt(8)
    gains = efficiency_gains(sizes, scratch, [1 / n**2 for n in sizes], reference=8)
    assert gains["EG"] == pytest.approx(8 / np.sqrt(8)) and gains["AG"] == pytest.approx(8.0)
    assert gains["EG_measured"] == 2.0  # 1/16 <= 1/8 at N' = 4, not at 2
    assert efficiency_gains(sizes, scratch, [2 * e for e in scratch], 8)["EG_measured"] == 0.5
    assert efficiency_gains(sizes, scratch, [1.0] * 4, 8)["EG_measured"] is None


def test_efficiency_runs_both_sides_on_the_same_test_set_and_resumes(tmp_path, capsys):
    config = config_from_dict(CONFIG)
    pre_config = config_from_dict({**CONFIG, "data": {**CONFIG["data"], "file": None}})
    pre_config.data.file = random_file(tmp_path / "pre.h5", 1)
    train(pre_config, str(tmp_path / "pre"), progress=False)
    down = random_file(tmp_path / "down.h5", 2)
    result = efficiency(
        config, down, str(tmp_path / "pre"), str(tmp_path / "eff"), [1, 2], None, progress=False
    )
    saved = json.loads((tmp_path / "eff/efficiency.json").read_text())
    assert saved["sizes"] == [1, 2] and set(saved["errors"]) == {"1", "2"}
    assert saved["gains"]["reference"] == 2 and saved == json.loads(json.dumps(result))
    splits = [
        json.loads((tmp_path / f"eff/N-{n}/{side}/split.json").read_text())
        for n in (1, 2)
        for side in ("scratch", "pretrained")
    ]
    assert all(s["test"] == splits[0]["test"] for s in splits)
    assert [len(s["train"]) for s in splits] == [1, 1, 2, 2]
    assert splits[2]["train"][:1] == splits[0]["train"]  # nested training sets
    assert "re-initialised" not in capsys.readouterr().out  # same channels: all restored
    drawn = json.loads((tmp_path / "eff/efficiency.json").read_text())
    curve = json.loads((tmp_path / "eff/efficiency-curve.json").read_text())
    (panel,) = curve.values()
    assert panel["pretrained (test median rel L1)"] == [
        drawn["errors"][n]["pretrained"] for n in "12"
    ]
    assert "EG" in (tmp_path / "eff/efficiency.html").read_text()
    # Poseidon's error, recomputed window by window: median of Σ|pred - w| / Σ|w|
    run = tmp_path / "eff/N-2/pretrained"
    model = model_from_checkpoint(load_checkpoint(run / "checkpoints/best.pt")).eval()
    frames = read_flow(down).frames.numpy()
    errors = []
    for t in splits[3]["test"]:
        for start in range(6 - 3):
            with torch.no_grad():
                pred = model(torch.from_numpy(frames[None, t, start : start + 3]))[0].numpy()
            truth = frames[t, start + 3 : start + 4]
            errors.append(np.abs(pred - truth).sum() / np.abs(truth).sum())
    assert drawn["errors"]["2"]["pretrained"] == pytest.approx(np.median(errors), rel=1e-5)
    assert (
        drawn["errors_rel_l2"]["2"]["pretrained"]
        == json.loads((run / "summary.json").read_text())["test"]["rel_l2"]
    )
    stamp = (tmp_path / "eff/N-2/pretrained/summary.json").stat().st_mtime_ns
    again = efficiency(
        config, down, str(tmp_path / "pre"), str(tmp_path / "eff"), [1, 2], None, progress=False
    )
    assert again == result
    assert (tmp_path / "eff/N-2/pretrained/summary.json").stat().st_mtime_ns == stamp
    # the pretrained run keeps a copy: its report shows the curve beside its evaluations
    (copy,) = (tmp_path / "pre/evaluation").glob("efficiency-*.json")
    assert json.loads(copy.read_text()) == saved and copy.stem.endswith("-N1-2-e1")
    assert main(["evaluate", "--run", str(tmp_path / "pre"), "--data", down, "--quiet"]) == 0
    page = write_report([tmp_path / "pre"], tmp_path / "report").read_text()
    assert "Sample efficiency of pretraining" in page and "accuracy gain AG" in page
    (panel,) = json.loads((tmp_path / "report/efficiency-0.json").read_text()).values()
    assert panel["scratch (test median rel L1)"] == [saved["errors"][n]["scratch"] for n in "12"]


def test_bad_input_is_one_line_exit_2(tmp_path, capsys):
    down = random_file(tmp_path / "down.h5", 2)
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps(CONFIG))
    base = ["efficiency", "--config", str(config), "--data", down, "--quiet"]
    cases = [
        (["--pretrained", str(tmp_path), "--out", str(tmp_path / "o")], "config.yaml"),
        (
            ["--pretrained", down, "--out", str(tmp_path / "o"), "--sizes", "9"],
            "--sizes up to 9",
        ),
        (["--pretrained", down, "--out", str(tmp_path / "o"), "--sizes", "0"], "--sizes"),
    ]
    for extra, message in cases:
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "o").exists()
