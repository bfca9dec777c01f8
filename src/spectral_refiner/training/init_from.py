"""Start a run from a pretrained model (``train --init-from RUN_OR_CHECKPOINT``), and freeze
its trunk (``--freeze trunk``) or train it at a fraction of the learning rate (``--trunk-lr F``).

The *interface* of a model is the layers whose parameter shapes depend on its input and output
channels: the embedding of the input frames (and parameter channels) and the recovery of the
output frames (found by building the model with other ``t_in``/``t_out``, so every registered
model has one without declaring it). The *trunk* is every other parameter. Initialising from a
checkpoint of the same model family with the same trunk settings copies every tensor whose
shape agrees, bit for bit, and keeps the fresh initialisation of the interface tensors whose
channels differ (saying which). The run's own data statistics replace the checkpoint's
(``data_mean``, ``data_std``), and so do the model's run settings
(:attr:`~spectral_refiner.models.NeuralOperator.run_settings`: a hybrid's equation, step,
correction cadence and scales may differ from the checkpoint's; the run says which).
``--freeze trunk`` trains only the interface layers.

Discriminative fine-tuning (``--trunk-lr F``): the optimiser gets two parameter groups, the
interface layers at the run's learning rate ``η(s)`` and the trunk at ``F·η(s)`` (the schedule
scales both alike). ``F = 1`` is one group, plain fine-tuning; ``F = 0`` freezes the trunk.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import SpectralRefinerError
from ..models import NeuralOperator, build_model
from .checkpoint import load_checkpoint
from .run import RunDir

__all__ = ["FREEZE", "freeze_trunk", "init_from", "interface_layers", "parameter_groups"]

FREEZE = ("none", "trunk")
_CHANNEL_ARGS = ("t_in", "t_out", "condition_max")  # may differ from the checkpoint's
_STATISTICS = ("data_mean", "data_std")


def interface_layers(model: NeuralOperator) -> set[str]:
    """Names of the modules whose parameter shapes change with ``t_in``/``t_out``."""
    config = dict(model.config)
    other = {**config, "t_in": config["t_in"] + 1, "t_out": config["t_out"] + 1}
    state = torch.get_rng_state()  # the probe's initialisation leaves the run's draws alone
    probe = build_model(model.name, **other)
    torch.set_rng_state(state)
    shapes = {k: v.shape for k, v in probe.named_parameters()}
    return {k.rpartition(".")[0] for k, v in model.named_parameters() if shapes[k] != v.shape}


def _checkpoint_file(path: str) -> Path:
    """A run directory's chosen checkpoint (the best, refused if stale), or the file itself."""
    p = Path(path)
    return RunDir(p).checkpoint_path(best=True) if p.is_dir() else p


def init_from(model: NeuralOperator, path: str, say: Callable[[str], None] = print) -> None:
    """Copy the pretrained weights of ``path`` (a run directory or a checkpoint) into ``model``
    (module docstring); ``say`` receives the one-line message of re-initialised layers.

    Raises
    ------
    SpectralRefinerError
        For a checkpoint of another model family, or of the same family with other trunk
        settings (width, modes, ...).
    """
    file = _checkpoint_file(path)
    payload = load_checkpoint(file)["model"]
    if payload.get("name") != model.name:
        raise SpectralRefinerError(
            f"--init-from {file} holds a {payload.get('name')!r} model, the run trains "
            f"{model.name!r}: initialise from a {model.name} checkpoint or set model.name="
            f"{payload.get('name')}"
        )
    theirs, ours = payload["config"], dict(model.config)
    changed = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
    settings = [k for k in changed if k in model.run_settings]
    differ = [k for k in changed if k not in _CHANNEL_ARGS and k not in model.run_settings]
    if differ:
        k = differ[0]
        raise SpectralRefinerError(
            f"--init-from {file}: its {model.name} has {k}={theirs.get(k)!r}, the run's config "
            f"{k}={ours.get(k)!r}: set model.{k} to the pretrained model's value"
        )
    source, target = payload["state_dict"], model.state_dict()
    fresh = sorted(k for k in target if k not in _STATISTICS and source[k].shape != target[k].shape)
    with torch.no_grad():
        for key, value in target.items():
            if key not in _STATISTICS and key not in fresh:
                value.copy_(source[key])
    if settings:
        say(
            f"init-from {file}: weights copied; the run keeps its own run settings where "
            f"they differ from the checkpoint's: {', '.join(settings)}"
        )
    if fresh:
        layers = sorted({k.rpartition(".")[0] for k in fresh})
        say(
            f"init-from {file}: re-initialised {', '.join(layers)} (channels differ: "
            f"t_in {theirs['t_in']} -> {ours['t_in']}, t_out {theirs['t_out']} -> "
            f"{ours['t_out']}); every other tensor restored"
        )


def parameter_groups(
    model: NeuralOperator, trunk_lr: float, lr: float
) -> list[torch.nn.Parameter] | list[dict[str, Any]]:
    """The parameters handed to the optimiser for a trunk learning rate ``trunk_lr · lr``
    (module docstring): all of them in one group for ``trunk_lr = 1`` (as without the option)
    and for ``trunk_lr = 0``, which first freezes the trunk (:func:`freeze_trunk`); else the
    interface at ``lr`` and the trunk at ``trunk_lr · lr``."""
    if trunk_lr == 0:
        freeze_trunk(model)
    if trunk_lr in (0, 1):
        return list(model.parameters())
    interface = interface_layers(model)
    if not interface:
        raise SpectralRefinerError(
            f"{model.name} has no channel-dependent layers to train apart: set trunk_lr=1"
        )
    named = list(model.named_parameters())
    outer = [p for n, p in named if n.rpartition(".")[0] in interface]
    trunk = [p for n, p in named if n.rpartition(".")[0] not in interface]
    return [{"params": outer, "lr": lr}, {"params": trunk, "lr": trunk_lr * lr}]


def freeze_trunk(model: NeuralOperator) -> int:
    """Stop the gradients of every parameter outside :func:`interface_layers`; returns the
    number of parameters left to train."""
    interface = interface_layers(model)
    if not interface:
        raise SpectralRefinerError(
            f"{model.name} has no channel-dependent layers to fine-tune alone: use --freeze none"
        )
    trainable = 0
    for name, p in model.named_parameters():
        p.requires_grad_(name.rpartition(".")[0] in interface)
        trainable += p.numel() if p.requires_grad else 0
    return trainable
