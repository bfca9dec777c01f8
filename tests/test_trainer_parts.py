"""The Trainer on built parts, with fakes: a linear model and a source of a known linear map
(no solver, no files). The loss falls to the map, and a run stopped after one epoch and
resumed from its checkpoint ends bit-identical to one run straight through."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from spectral_refiner.models import MODELS, NeuralOperator, register
from spectral_refiner.problem import Problem
from spectral_refiner.training import (
    Objective,
    OptimConfig,
    Progress,
    RunDir,
    TrainConfig,
    Trainer,
    build_optimisation,
    load_checkpoint,
)
from spectral_refiner.training.build import _restore

N, T_IN, T_OUT = 8, 2, 2
MAP = torch.tensor([[0.5, 1.0], [-0.25, 0.75]], dtype=torch.float64)  # frames out = MAP · in
PROBLEM = Problem(1.0, 0.01, 0.0, "none", 4, 0.0, 0.1, N, t_in=T_IN, t_out=T_OUT, stride=1)


class FrameMix(NeuralOperator):
    """``p_o = Σ_i W_oi w_i``: a linear map of the input frames (a test double)."""

    data_normalization = False

    def __init__(self, t_in: int = T_IN, t_out: int = T_OUT) -> None:
        super().__init__()
        self.t_in, self.t_out = t_in, t_out
        self.weight = nn.Parameter(torch.zeros(t_out, t_in))

    def operator(self, w_in: torch.Tensor) -> torch.Tensor:
        return torch.einsum("oi,bixy->boxy", self.weight.to(w_in.dtype), w_in)


class LinearMapSource:
    """Windows ``(x, MAP x)`` of random fields; batch ``k`` of epoch ``e`` keyed by ``(e, k)``."""

    problem = PROBLEM
    steps_per_epoch = 5

    def __init__(self, batch: int = 4) -> None:
        self.batch = batch
        self.served = 0

    def _windows(self, key: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(count, T_IN, N, N, generator=torch.Generator().manual_seed(key))
        return x, torch.einsum("oi,bixy->boxy", MAP.float(), x)

    def batches(self, epoch: int, skip: int):
        for k in range(skip, self.steps_per_epoch):
            self.served += 1
            yield (*self._windows(1000 * epoch + k, self.batch), self.batch)

    def eval_set(self, name: str, rank: int, world: int):
        x, y = self._windows(-1 if name == "val" else -2, 6)
        return list(zip(x, y, strict=True))

    def normalization(self) -> tuple[float, float]:
        return 0.0, 1.0

    def record(self) -> dict:
        return {"source": "fake", "train": [], "val": [], "test": []}

    def rates(self, device: torch.device) -> dict:
        return {}


@pytest.fixture
def frame_mix():
    register("frame-mix")(FrameMix)
    yield FrameMix
    del MODELS["frame-mix"]


def _parts(epochs: int):
    config = TrainConfig(model={"name": "frame-mix"}, device="cpu")
    config.data.t_in, config.data.t_out, config.data.batch_size = T_IN, T_OUT, 4
    config.optim = OptimConfig(lr=0.05, schedule="constant", epochs=epochs, grad_clip=None)
    torch.manual_seed(0)
    model = FrameMix()
    source = LinearMapSource()
    optim = build_optimisation(
        model.parameters(), config.optim, source.steps_per_epoch, model.weight.device
    )
    objective = Objective(PROBLEM.residual(), data="rel_l2")
    return config, model, source, optim, objective


def _run(tmp_path, name: str) -> RunDir:
    run = RunDir(tmp_path / name)
    run.create()
    return run


def test_trainer_learns_a_linear_map_from_a_fake_source(frame_mix, tmp_path):
    config, model, source, optim, objective = _parts(epochs=4)
    run = _run(tmp_path, "run")
    summary = Trainer(model, source, objective, optim, run, config, PROBLEM, show=False).fit()
    epochs = [json.loads(r) for r in run.metrics.read_text().splitlines()]
    losses = [r["train_loss"] for r in epochs if r["kind"] == "epoch"]
    assert len(losses) == 4 and losses[-1] < 0.2 * losses[0]
    assert source.served == 4 * source.steps_per_epoch
    # the summary's errors are of the best checkpoint, with η of the run's residual
    assert summary["val"]["windows"] == 6 and summary["val"]["rel_l2"] < 0.2
    assert summary["val"]["eta"] > 0
    saved = load_checkpoint(run.best)
    assert Problem.from_checkpoint(saved) == PROBLEM and saved["split"]["source"] == "fake"


def test_trainer_resumed_from_a_checkpoint_is_bit_identical(frame_mix, tmp_path):
    config, model, source, optim, objective = _parts(epochs=3)
    straight = _run(tmp_path, "straight")
    Trainer(model, source, objective, optim, straight, config, PROBLEM, show=False).fit()

    config, model, source, optim, objective = _parts(epochs=1)
    resumed = _run(tmp_path, "resumed")
    Trainer(model, source, objective, optim, resumed, config, PROBLEM, show=False).fit()
    checkpoint = load_checkpoint(resumed.latest)
    config, model, source, optim, objective = _parts(epochs=3)
    torch.manual_seed(123)  # anything: the checkpoint's RNG state is restored
    _restore(checkpoint, model, optim, resumed)
    state = Progress(**checkpoint["progress"])
    Trainer(
        model, source, objective, optim, resumed, config, PROBLEM, state=state, show=False
    ).fit()
    assert source.served == 2 * source.steps_per_epoch  # only the remaining epochs
    a = load_checkpoint(straight.latest)["model"]["state_dict"]["weight"]
    b = load_checkpoint(resumed.latest)["model"]["state_dict"]["weight"]
    assert torch.equal(a, b) and not torch.equal(a, torch.zeros_like(a))
