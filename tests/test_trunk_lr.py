"""Discriminative fine-tuning, ``train --init-from RUN --trunk-lr F``: the trunk trains at F
times the learning rate of the re-initialised layers. F = 0 leaves the trunk bit for bit as
pretrained (as ``--freeze trunk``), F = 1 is plain fine-tuning bit for bit, an intermediate F
scales the trunk's Adam steps by exactly F under every schedule, resume stays bit-identical,
and a bad F is one line with exit status 2."""

from __future__ import annotations

import pytest
import torch

from spectral_refiner.config import config_from_dict
from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.evaluation import efficiency
from spectral_refiner.models import build_model
from spectral_refiner.training import (
    OptimConfig,
    build_optimisation,
    interface_layers,
    load_checkpoint,
    parameter_groups,
)
from test_init_from import (  # noqa: F401 (fixtures)
    FNO,
    assert_resumes_bit_identically,
    data_file,
    pretrained,
    run_train,
)

KWARGS = {k: v for k, v in FNO.items() if k != "name"}


def tuned_state(folder, data_file, pretrained, name, *extra):  # noqa: F811
    code = run_train(folder, data_file, name, 4, "--init-from", str(pretrained), *extra)
    assert code == 0
    return load_checkpoint(folder / name / "checkpoints/latest.pt")["model"]["state_dict"]


def is_trunk(key: str) -> bool:
    return not key.startswith(("lifting.fc1", "projection.fc2", "data_"))


def test_trunk_lr_0_keeps_the_trunk_and_equals_freeze(pretrained, data_file, tmp_path):  # noqa: F811
    saved = load_checkpoint(pretrained / "checkpoints/best.pt")["model"]["state_dict"]
    zero = tuned_state(tmp_path, data_file, pretrained, "zero", "--trunk-lr", "0")
    frozen = tuned_state(tmp_path, data_file, pretrained, "frozen", "--freeze", "trunk")
    trunk = [k for k in zero if is_trunk(k)]
    assert trunk and all(torch.equal(zero[k], saved[k]) for k in trunk)
    assert not torch.equal(zero["projection.fc2.weight"], saved["projection.fc2.weight"])
    assert all(torch.equal(zero[k], frozen[k]) for k in zero)


def test_trunk_lr_1_is_plain_fine_tuning_bit_for_bit(pretrained, data_file, tmp_path):  # noqa: F811
    saved = load_checkpoint(pretrained / "checkpoints/best.pt")["model"]["state_dict"]
    one = tuned_state(tmp_path, data_file, pretrained, "one", "--trunk-lr", "1")
    plain = tuned_state(tmp_path, data_file, pretrained, "plain")
    assert all(torch.equal(one[k], plain[k]) for k in one)
    assert any(not torch.equal(one[k], saved[k]) for k in one if is_trunk(k))  # it trained


def one_step(factor: float, schedule: str) -> tuple[dict[str, torch.Tensor], list[float]]:
    """The parameter changes of one AdamW step on a fixed loss, and the group learning rates
    after 5 more schedule steps."""
    torch.manual_seed(0)
    model = build_model("fno2d", **KWARGS, t_in=2, t_out=1).double()
    before = {k: v.clone() for k, v in model.named_parameters()}
    o = OptimConfig(lr=1e-2, schedule=schedule, epochs=4)
    optim = build_optimisation(
        parameter_groups(model, factor, o.lr), o, 3, torch.device("cpu"), verbose=False
    )
    x = torch.randn(2, 2, 16, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    model(x).square().mean().backward()
    optim.optimizer.step()
    optim.scheduler.step()
    delta = {k: v.detach() - before[k] for k, v in model.named_parameters()}
    for _ in range(5):
        optim.scheduler.step()
    return delta, [g["lr"] for g in optim.optimizer.param_groups]


@pytest.mark.parametrize("schedule", ["onecycle", "cosine", "constant"])
def test_trunk_steps_scale_by_exactly_the_factor(schedule):
    model = build_model("fno2d", **KWARGS, t_in=2, t_out=1)
    interface = interface_layers(model)
    full, (lr,) = one_step(1.0, schedule)
    part, (outer_lr, trunk_lr) = one_step(0.25, schedule)
    assert trunk_lr == pytest.approx(0.25 * outer_lr, rel=1e-12) and outer_lr == lr
    for key, step in full.items():
        expected = step if key.rpartition(".")[0] in interface else 0.25 * step
        assert torch.allclose(part[key], expected, rtol=1e-9, atol=1e-15), key
        assert step.abs().max() > 0, key


def test_discriminative_fine_tuning_resumes_bit_identically(pretrained, data_file, tmp_path):  # noqa: F811
    raw = {
        "model": FNO,
        "data": {"file": str(data_file), "t_in": 4, "t_out": 1, "val_split": 1, "test_split": 1},
        "optim": {"epochs": 2, "lr": 1e-2},
        "device": "cpu",
        "init_from": str(pretrained),
        "trunk_lr": 0.3,
    }
    assert_resumes_bit_identically(raw, tmp_path)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--trunk-lr", "-0.5"], "trunk_lr must be a finite number >= 0, got -0.5"),
        (["--trunk-lr", "nan"], "trunk_lr must be a finite number >= 0, got nan"),
        (["--trunk-lr", "0.1", "--freeze", "trunk"], "drop one of them"),
        (["--trunk-lr", "0.1", "--init-from", ""], "give --init-from or set trunk_lr=1"),
    ],
)
def test_bad_trunk_lr_is_one_line_exit_2(
    pretrained,  # noqa: F811
    data_file,  # noqa: F811
    tmp_path,
    capsys,
    extra,
    message,
):
    init = [] if "--init-from" in extra else ["--init-from", str(pretrained)]
    code = run_train(tmp_path, data_file, "bad", 4, *init, *extra)
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "bad").exists()


def test_efficiency_refuses_a_bad_trunk_lr_before_writing(pretrained, data_file, tmp_path):  # noqa: F811
    config = config_from_dict(
        {"model": FNO, "data": {"t_in": 4, "t_out": 1, "val_split": 1, "test_split": 1}}
    )
    with pytest.raises(SpectralRefinerError, match="trunk_lr must be a finite number"):
        efficiency(config, str(data_file), str(pretrained), str(tmp_path / "e"), [2], trunk_lr=-1)
    assert not (tmp_path / "e").exists()
