"""The trainer's hook for a model with its own training objective.

A model that defines ``training_loss(w_in, target, seeds) -> loss`` (a scalar, the mean over
the batch; PDE-Refiner's denoising objective) is trained on that loss instead of the run's
:class:`~.losses.Objective` (``loss.data`` and ``loss.data_weight`` do not apply; a physics
term is refused); every other model is trained exactly as before. ``seeds`` holds
one integer per sample for the sample's random draws, keyed by (run seed, optimiser step,
place of the sample in the global batch) (:func:`sample_seeds`): a run resumed at any step
and a run over several processes draw what one uninterrupted process draws.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ..errors import SpectralRefinerError
from ..models import NeuralOperator

__all__ = ["OwnLoss", "check_own_loss", "has_own_loss", "sample_seeds"]


def has_own_loss(model: NeuralOperator) -> bool:
    """Whether the model brings its training objective (a ``training_loss`` method)."""
    return callable(getattr(model, "training_loss", None))


def check_own_loss(model: NeuralOperator, physics_weight: float) -> None:
    """Refuse a physics term for a model trained on its own objective (it would be ignored)."""
    if has_own_loss(model) and physics_weight:
        raise SpectralRefinerError(
            f"model {model.name} trains on its own objective and takes no physics loss: set "
            "loss.physics_weight=0"
        )


def sample_seeds(seed: int, step: int, positions: Sequence[int]) -> list[int]:
    """One 63-bit seed per sample, keyed by ``(seed, step, position)`` (independent across
    keys: :class:`numpy.random.SeedSequence`)."""
    return [
        int(np.random.SeedSequence([int(seed), int(step), int(p)]).generate_state(1, np.uint64)[0])
        >> 1
        for p in positions
    ]


class OwnLoss(nn.Module):
    """``forward(w_in, target, seeds) = model.training_loss(w_in, target, seeds)``: the module
    a data-parallel wrapper runs, so that gradients are reduced as for a forward call."""

    def __init__(self, model: NeuralOperator) -> None:
        super().__init__()
        self.model = model

    def forward(self, w_in: torch.Tensor, target: torch.Tensor, seeds: list[int]) -> torch.Tensor:
        return self.model.training_loss(w_in, target, seeds)
