"""all2all pairs (Poseidon, Herde et al. 2024): every ordered pair of frames of a trajectory is a
training sample for a lead-time-conditioned model.

The solution operator of an autonomous equation is a semigroup, so frame ``j`` is a function of
frame ``i`` and the lead time ``t_j - t_i`` alone: a trajectory of ``T`` frames gives every pair
``(i, j)``, ``0 <= i < j < T``, with ``j - i <= D`` (the maximum lead in frames), i.e.

.. math::

    N(T, D) = \\sum_{d=1}^{\\min(D, T-1)} (T - d)

pairs, against ``T - 1`` one-step windows. Training pairs are drawn afresh every epoch, from a
generator keyed by ``(seed, epoch)`` (as the windows of :func:`~.windows.random_windows`), so
epoch ``e`` sees the same pairs in any run and after any resume, with probabilities set by the
lead sampling (:func:`lead_weights`): ``pairs``, uniform over the pairs, so lead ``d`` has
probability ``(T - d) / N(T, D)``; ``leads``, uniform over the leads, ``P(d) = 1 / D``;
``log``, uniform in the logarithm of the lead, ``P(d) = d^{-1} / Σ_{e=1}^{D} e^{-1}``; ``power``,
``P(d) = d^{-p} / Σ_{e=1}^{D} e^{-p}`` (``p = 0``: ``leads``, ``p = 1``: ``log``); within a
lead, uniform over its ``T - d`` start frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import SpectralRefinerError

__all__ = [
    "LEAD_SAMPLINGS",
    "PairDataset",
    "all2all_pairs",
    "lead_weights",
    "max_lead_frames",
    "random_pairs",
]

LEAD_SAMPLINGS = ("pairs", "leads", "log", "power")


def max_lead_frames(max_lead_time: float, dt: float) -> int:
    """The largest lead in frames ``D`` with ``D dt <= max_lead_time`` (frames ``dt`` apart)."""
    if not (max_lead_time > 0 and dt > 0 and math.isfinite(max_lead_time / dt)):
        raise SpectralRefinerError(
            f"all2all: the maximum lead time ({max_lead_time}) and the frame interval ({dt}) "
            "must be positive"
        )
    frames = math.floor(max_lead_time / dt * (1 + 1e-9))
    if frames < 1:
        raise SpectralRefinerError(
            f"all2all: a maximum lead time of {max_lead_time} is shorter than one frame interval "
            f"({dt}): raise it"
        )
    return frames


def all2all_pairs(n_frames: int, max_lead: int) -> list[tuple[int, int]]:
    """Every pair ``(i, j)``, ``0 <= i < j < n_frames``, ``j - i <= max_lead``, ordered by
    lead, then by ``i``."""
    if n_frames < 2 or max_lead < 1:
        raise SpectralRefinerError(
            f"all2all needs trajectories of at least 2 frames and a maximum lead of at least 1 "
            f"frame, got {n_frames} frames and {max_lead}"
        )
    return [
        (i, i + d) for d in range(1, min(max_lead, n_frames - 1) + 1) for i in range(n_frames - d)
    ]


def lead_weights(pairs: Sequence[tuple[int, int]], sampling: str, power: float = 2.0) -> np.ndarray:
    """The probability of each pair ``(i, j)`` of ``pairs`` (:func:`all2all_pairs`) under the
    lead sampling ``sampling`` (module docstring; ``power``: the exponent ``p`` of ``power``):
    ``P(d) / n_d`` for a pair of lead ``d``, ``n_d`` the number of pairs of that lead."""
    if sampling not in LEAD_SAMPLINGS:
        raise SpectralRefinerError(
            f"data.lead_sampling must be one of {', '.join(LEAD_SAMPLINGS)}, got {sampling!r}"
        )
    leads = np.array([j - i for i, j in pairs])
    counts = np.bincount(leads)[leads]
    exponent = {"leads": 0.0, "log": 1.0, "power": power}
    per_lead = counts.astype(float) if sampling == "pairs" else leads ** -exponent[sampling]
    weight = per_lead / counts
    return weight / weight.sum()


def random_pairs(
    trajectories: Sequence[int],
    n_frames: int,
    max_lead: int,
    per_trajectory: int | None,
    seed: int,
    epoch: int,
    sampling: str = "pairs",
    power: float = 2.0,
) -> list[tuple[int, int, int]]:
    """Epoch ``epoch``'s training pairs ``(trajectory, i, j)`` in their order of use, keyed by
    ``(seed, epoch)``: ``per_trajectory`` pairs per trajectory drawn (with replacement) from
    :func:`all2all_pairs` with the probabilities of the lead sampling ``sampling``
    (:func:`lead_weights`, ``power`` its exponent), or, with ``per_trajectory=None``, every
    pair of every trajectory once (``sampling="pairs"`` only); shuffled."""
    pairs = all2all_pairs(n_frames, max_lead)
    weights = lead_weights(pairs, sampling, power)
    rng = np.random.default_rng([seed, epoch, 0xA2A])
    if per_trajectory is None:
        if sampling != "pairs":
            raise SpectralRefinerError(
                f"data.lead_sampling={sampling} draws pairs: set data.samples_per_trajectory"
            )
        items = [(int(t), i, j) for t in trajectories for i, j in pairs]
    else:
        items = []
        for t in trajectories:
            drawn = (
                rng.integers(0, len(pairs), per_trajectory)  # as before the option, bit for bit
                if sampling == "pairs"
                else rng.choice(len(pairs), per_trajectory, p=weights)
            )
            items += [(int(t), *pairs[p]) for p in drawn]
    return [items[k] for k in rng.permutation(len(items))]


class PairDataset(Dataset):
    """all2all samples ``(w_i (1, n, n), w_j (1, n, n), lead_time ())`` of trajectories.

    Parameters
    ----------
    frames : Tensor
        ``(N, T, n, n)`` trajectories.
    pairs : sequence of (trajectory, i, j)
        The samples, in order (:func:`random_pairs`).
    dt : float
        Time between stored frames: the lead time is ``(j - i) dt`` (``dt = 1``: in frames).
    """

    def __init__(
        self, frames: torch.Tensor, pairs: Sequence[tuple[int, int, int]], dt: float = 1.0
    ) -> None:
        n, t = frames.shape[:2]
        bad = [p for p in pairs if not (0 <= p[0] < n and 0 <= p[1] < p[2] < t)]
        if bad:
            raise SpectralRefinerError(
                f"all2all: pair {bad[0]} is not (trajectory, i < j) of {n} trajectories of "
                f"{t} frames"
            )
        self.frames, self.pairs, self.dt = frames, list(pairs), dt

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        traj, i, j = self.pairs[k]
        lead = torch.tensor((j - i) * self.dt, dtype=self.frames.dtype)
        return self.frames[traj, i : i + 1], self.frames[traj, j : j + 1], lead
