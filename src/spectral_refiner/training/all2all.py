"""all2all training (Poseidon): every ordered pair of frames of a training trajectory within a
maximum lead is a sample for a lead-time-conditioned model (``data.sampling: all2all``).

A sample is ``(w_i, w_j)`` with the lead time ``τ = (j - i) Δt`` passed to the model as
``model(w_i, lead_time=τ)``; the model learns the solution operator ``S(τ)`` of the autonomous
equation (a semigroup: ``w(t + τ) = S(τ) w(t)``) for every ``0 < τ <= data.max_lead``.
Epoch ``e``'s pairs are ``data.samples_per_trajectory`` per training trajectory, drawn over
all2all's pairs as ``data.lead_sampling`` says (uniform over ``pairs``, the default; uniform
over ``leads``; ``log``, uniform in log lead; or ``power``, ``P(d) ∝ d^-data.lead_power``)
from a generator keyed by ``(seed, e)``
(:func:`~spectral_refiner.data.random_pairs`), so resume and ``torchrun`` identities hold as for
windows. Validation and test pairs are fixed: for every lead time of ``data.eval_leads`` (by
default every frame lead up to the maximum), ``data.eval_windows`` evenly spaced start frames
of each trajectory. η is not defined on a pair (its residual needs consecutive frames): the
evaluation reports it as NaN.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

from ..data import PairDataset, max_lead_frames, random_pairs
from ..errors import SpectralRefinerError
from ..models import MODELS
from .run import RunDir
from .settings import TrainConfig
from .sources import Batch, FileWindows, deal

__all__ = ["All2AllPairs", "eval_pairs", "lead_frames", "lead_time_kwargs"]


def lead_frames(leads: Sequence[float], dt: float, max_lead: int) -> list[int]:
    """Lead times ``leads`` as whole frame counts ``d`` (``τ = d Δt``), each in
    ``1 .. max_lead``; an error naming the fix for a lead that is not a positive multiple of the
    frame interval or beyond the maximum."""
    frames = []
    for lead in leads:
        d = round(lead / dt)
        if not (lead > 0 and math.isclose(d * dt, lead, rel_tol=1e-6)):
            raise SpectralRefinerError(
                f"data.eval_leads: {lead} is not a positive multiple of the frame interval {dt}"
            )
        if d > max_lead:
            raise SpectralRefinerError(
                f"data.eval_leads: {lead} is beyond the maximum lead {max_lead * dt:g} "
                "(data.max_lead): lower it or raise data.max_lead"
            )
        frames.append(d)
    return frames


def eval_pairs(
    trajectories: Sequence[int], n_frames: int, leads: Sequence[int], k: int
) -> list[tuple[int, int, int]]:
    """For each lead ``d`` (frames) and trajectory, ``k`` pairs ``(trajectory, i, i + d)`` at
    evenly spaced start frames ``i`` from 0 to ``n_frames - 1 - d``."""
    out = []
    for d in leads:
        last = n_frames - 1 - d
        m = min(k, last + 1)
        starts = [0] if m == 1 else [round(s * last / (m - 1)) for s in range(m)]
        out += [(int(t), i, i + d) for t in trajectories for i in starts]
    return out


def lead_time_kwargs(name: str, kwargs: dict[str, Any], max_lead_time: float) -> dict[str, Any]:
    """The constructor arguments of an all2all model: ``condition_max`` is the trained maximum
    lead time unless the config sets it; an error naming the fix for a model that is not
    conditioned on the lead time."""
    params = inspect.signature(MODELS[name]).parameters if name in MODELS else {}
    condition_on = kwargs.get("condition_on", getattr(params.get("condition_on"), "default", None))
    if condition_on != "lead_time" or "condition_max" not in params:
        raise SpectralRefinerError(
            f"data.sampling=all2all needs a model conditioned on the lead time: set "
            f"model.condition_on=lead_time (a model that takes it: fno2d, unet, scot; "
            f"{name} has {condition_on if 'condition_max' in params else 'none'})"
        )
    return {"condition_max": max_lead_time, **kwargs}


class _Conditioned(Dataset):
    """:class:`~spectral_refiner.data.PairDataset`'s samples as ``(w_i, w_j, {"lead_time": τ})``,
    the evaluation form of a conditioned sample."""

    def __init__(self, pairs: PairDataset) -> None:
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        w_i, w_j, lead = self.pairs[k]
        return w_i, w_j, {"lead_time": lead}


class All2AllPairs(FileWindows):
    """all2all pairs of a file's trajectories (module docstring); the split, normalisation and
    record are :class:`~.sources.FileWindows`'s."""

    def __init__(
        self, config: TrainConfig, run: RunDir, resume: bool, rank: int, world: int, pin: bool
    ) -> None:
        super().__init__(config, run, resume, rank, world, pin)
        d = config.data
        dt, n_frames = self.problem.dt, self.flow.frames.shape[1]
        self.max_lead = min(
            max_lead_frames(d.max_lead, dt) if d.max_lead is not None else n_frames - 1,
            n_frames - 1,
        )
        #: The largest lead time trained (the model's ``condition_max``).
        self.max_lead_time = self.max_lead * dt
        leads = (
            lead_frames(d.eval_leads, dt, self.max_lead)
            if d.eval_leads
            else list(range(1, self.max_lead + 1))
        )
        self.eval_leads = leads
        self.pairs = {
            name: eval_pairs(self.split[name], n_frames, leads, d.eval_windows)
            for name in ("val", "test")
        }

    def batches(self, epoch: int, skip: int) -> Iterator[Batch]:
        d = self.data
        pairs = random_pairs(
            self.split["train"],
            self.flow.frames.shape[1],
            self.max_lead,
            d.samples_per_trajectory,
            self.seed,
            epoch,
            d.lead_sampling,
            d.lead_power,
        )
        dataset = PairDataset(self.flow.frames, pairs, self.problem.dt)
        for (w_in, w_out, lead), n_global in deal(self, dataset, skip):
            yield w_in, w_out, n_global, {"lead_time": lead}

    def eval_set(self, name: str, rank: int, world: int) -> Dataset:
        shard = self.pairs[name][rank::world]
        return _Conditioned(PairDataset(self.flow.frames, shard, self.problem.dt))

    def record(self) -> dict[str, Any]:
        return super().record() | {
            "sampling": "all2all",
            "max_lead_time": self.max_lead_time,
            "eval_lead_times": [d * self.problem.dt for d in self.eval_leads],
        }
