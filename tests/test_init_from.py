"""``train --init-from``: the trunk restored bit for bit, the layers whose channels differ
re-initialised with a message, ``--freeze trunk`` leaving the trunk untouched by training, and
one-line refusals of a checkpoint of another family or other trunk settings."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from spectral_refiner.cli import main
from spectral_refiner.config import config_from_dict
from spectral_refiner.data import get_preset, seed_keys, write_dataset
from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.models import build_model
from spectral_refiner.training import init_from, interface_layers, load_checkpoint, train

FNO = {"name": "fno2d", "width": 6, "modes": 3, "n_layers": 2}


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    recipe = get_preset("tiny")
    frames = np.random.default_rng(0).standard_normal((6, 6, 16, 16)).astype(np.float32)
    path = tmp_path_factory.mktemp("init") / "d.h5"
    write_dataset(path, frames, recipe.times()[:6], recipe.fields(), {}, keys=seed_keys(0, 6))
    return path


def run_train(folder, data_file, name: str, t_in: int, *extra: str, model=None) -> int:
    config = folder / f"{name}.yaml"
    config.write_text(
        json.dumps(
            {
                "model": model or FNO,
                "data": {"t_in": t_in, "t_out": 1, "val_split": 1, "test_split": 1},
                "optim": {"epochs": 1, "lr": 1e-2},
                "device": "cpu",
            }
        )
    )
    args = ["train", "--config", str(config), "--data", str(data_file), "--quiet"]
    return main([*args, "--out", str(folder / name), *extra])


def assert_resumes_bit_identically(raw: dict, tmp_path) -> None:
    """Train ``raw`` whole, and stopped at once then resumed: the same weights and steps."""
    whole = train(config_from_dict(raw), str(tmp_path / "whole"), progress=False)
    stopped = config_from_dict({**raw, "optim": {**raw["optim"], "max_time": 1e-9}})
    train(stopped, str(tmp_path / "run"), progress=False)
    resumed = train(config_from_dict(raw), str(tmp_path / "run"), resume=True, progress=False)
    a = load_checkpoint(tmp_path / "whole/checkpoints/latest.pt")["model"]["state_dict"]
    b = load_checkpoint(tmp_path / "run/checkpoints/latest.pt")["model"]["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a) and resumed["steps"] == whole["steps"]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, data_file):
    folder = tmp_path_factory.mktemp("pre")
    assert run_train(folder, data_file, "pre", 3) == 0
    return folder / "pre"


def test_interface_is_the_layers_that_touch_the_channels():
    assert interface_layers(build_model("fno2d", t_in=2, t_out=1)) == {
        "lifting.fc1",
        "projection.fc2",
    }
    assert interface_layers(build_model("scot", t_in=2, t_out=1)) == {"patch", "out"}
    assert interface_layers(build_model("unet", t_in=2, t_out=1)) == {"stem", "out"}


def test_trunk_is_restored_bit_for_bit_and_other_channels_reinitialised(pretrained, capsys):
    saved = load_checkpoint(pretrained / "checkpoints/best.pt")["model"]["state_dict"]
    torch.manual_seed(5)
    model = build_model("fno2d", **{k: v for k, v in FNO.items() if k != "name"}, t_in=4, t_out=1)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    messages = []
    init_from(model, str(pretrained), say=messages.append)
    state = model.state_dict()
    interface = {"lifting.fc1.weight"}  # its input width is t_in + 4
    for key, value in state.items():
        if key in interface or key.startswith("data_"):
            assert torch.equal(value, fresh[key]), key
        else:
            assert torch.equal(value, saved[key]), key
    (message,) = messages
    assert "re-initialised lifting.fc1" in message and "t_in 3 -> 4" in message


def test_frozen_trunk_fine_tuning_end_to_end(pretrained, data_file, tmp_path, capsys):
    code = run_train(
        tmp_path, data_file, "tuned", 4, "--init-from", str(pretrained), "--freeze", "trunk"
    )
    assert code == 0
    assert "re-initialised lifting.fc1" in capsys.readouterr().out
    saved = load_checkpoint(pretrained / "checkpoints/best.pt")["model"]["state_dict"]
    tuned = load_checkpoint(tmp_path / "tuned/checkpoints/latest.pt")
    assert tuned["config"]["freeze"] == "trunk"
    state = tuned["model"]["state_dict"]
    trunk = [k for k in state if not k.startswith(("lifting.fc1", "projection.fc2", "data_"))]
    assert trunk and all(torch.equal(state[k], saved[k]) for k in trunk)
    assert not torch.equal(state["projection.fc2.weight"], saved["projection.fc2.weight"])


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"name": "cnn"}, "holds a 'fno2d' model, the run trains 'cnn'"),
        ({**FNO, "width": 8}, "set model.width"),
    ],
)
def test_other_family_or_trunk_is_one_line_exit_2(
    pretrained, data_file, tmp_path, capsys, model, message
):
    code = run_train(tmp_path, data_file, "bad", 3, "--init-from", str(pretrained), model=model)
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()
    with pytest.raises(SpectralRefinerError, match="no checkpoint"):
        init_from(build_model("fno2d"), str(tmp_path / "missing.pt"))


def test_fine_tuning_stopped_and_resumed_is_bit_identical(pretrained, data_file, tmp_path):
    """A resumed fine-tuning run takes its weights from its own checkpoint (not the pretrained
    run again) and keeps its frozen trunk: it ends where the uninterrupted run ends."""
    raw = {
        "model": FNO,
        "data": {"file": str(data_file), "t_in": 4, "t_out": 1, "val_split": 1, "test_split": 1},
        "optim": {"epochs": 2, "lr": 1e-2},
        "device": "cpu",
        "init_from": str(pretrained),
        "freeze": "trunk",
    }
    assert_resumes_bit_identically(raw, tmp_path)
