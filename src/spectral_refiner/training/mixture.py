"""Several datasets in one run (``data.files``): windows of every file's trajectories, mixed,
with the equation's parameters given to the model as constant input channels.

File ``f`` with Problem ``P_f`` contributes windows of its own training trajectories (split by
trajectory within the file, :func:`~spectral_refiner.data.split_trajectories` with the run's
seed). The input of a window is its ``t_in`` frames followed by one constant channel per name
of ``data.parameters``, of value

.. math::

    c_\\text{viscosity} = \\log_{10} ν, \\quad c_\\text{drag} = μ, \\quad
    c_\\text{forcing\\_amplitude} = A, \\quad c_\\text{forcing\\_wavenumber} = k_f

(log ν: the viscosities of a mixture differ by decades), so the model is built with
``t_in + len(data.parameters)`` input channels; any model takes them. Epoch ``e``'s windows are
each file's :func:`~spectral_refiner.data.random_windows` keyed by ``(seed + f, e)``, shuffled
together by a generator keyed by ``(seed, e)``: resume and ``torchrun`` identities hold as for
one file. The files must share the stored resolution unless ``data.resolution`` resamples them.
The run's Problem is the first file's (its grid gives the norms); η is reported as NaN (the
files solve different equations) and the physics loss is refused.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data import (
    Flow,
    check_windows,
    eval_windows,
    random_windows,
    read_flow,
    split_trajectories,
    window_span,
)
from ..errors import SpectralRefinerError
from ..problem import Problem
from .run import RunDir
from .settings import TrainConfig
from .sources import Batch, deal, epoch_steps, first_trajectories

__all__ = ["PARAMETERS", "MixtureWindows", "parameter_channels"]

#: The equation parameters a mixture can give the model, and the channel value of each.
PARAMETERS = {
    "viscosity": lambda p: math.log10(p.viscosity),
    "drag": lambda p: p.drag,
    "forcing_amplitude": lambda p: p.forcing_amplitude if p.forcing != "none" else 0.0,
    "forcing_wavenumber": lambda p: float(p.forcing_wavenumber) if p.forcing != "none" else 0.0,
}


def parameter_channels(problem: Problem, names: Sequence[str]) -> torch.Tensor:
    """The channel values ``(P,)`` of ``problem``'s parameters ``names`` (module docstring)."""
    unknown = [n for n in names if n not in PARAMETERS]
    if unknown:
        raise SpectralRefinerError(
            f"data.parameters: unknown parameter {unknown[0]!r}; choose from "
            f"{', '.join(PARAMETERS)}"
        )
    if "viscosity" in names and not problem.viscosity > 0:
        raise SpectralRefinerError("data.parameters: viscosity needs ν > 0 in every file")
    return torch.tensor([PARAMETERS[n](problem) for n in names], dtype=torch.float32)


class _MixtureDataset(Dataset):
    """Windows ``(f, trajectory, start)`` of the files' frames, the input followed by the
    file's parameter channels."""

    def __init__(
        self,
        frames: Sequence[torch.Tensor],
        channels: Sequence[torch.Tensor],
        items: Sequence[tuple[int, int, int]],
        t_in: int,
        t_out: int,
        stride: int,
    ) -> None:
        self.frames, self.channels, self.items = frames, channels, list(items)
        self.t_in, self.span, self.stride = t_in, window_span(t_in, t_out, stride), stride

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        f, traj, start = self.items[k]
        w = self.frames[f][traj, start : start + self.span : self.stride]
        c = self.channels[f][:, None, None].expand(-1, *w.shape[-2:])
        return torch.cat((w[: self.t_in], c)), w[self.t_in :]


class MixtureWindows:
    """Windows of several files with their parameter channels (module docstring); the
    :class:`~.sources.DataSource` of ``data.files``."""

    #: η needs one equation; the files of a mixture solve several.
    estimates = False

    def __init__(
        self, config: TrainConfig, run: RunDir, resume: bool, rank: int, world: int, pin: bool
    ) -> None:
        d = self.data = config.data
        self.flows: list[Flow] = [read_flow(path, d.resolution) for path in d.files]
        sizes = {flow.resolution for flow in self.flows}
        if len(sizes) > 1:
            listed = ", ".join(map(str, sorted(sizes)))
            raise SpectralRefinerError(
                f"data.files hold frames of different resolutions ({listed}): set "
                "data.resolution=N to resample them all to N"
            )
        record = run.read_split()["files"] if resume else None
        self.splits: list[dict[str, list[int]]] = []
        for f, flow in enumerate(self.flows):
            if record is not None:
                if record[f]["fingerprint"] != flow.fingerprint:
                    raise SpectralRefinerError(
                        f"{flow.source} is not the data this run was trained on (fingerprint "
                        "differs): resume with the original files"
                    )
                self.splits.append({k: record[f][k] for k in ("train", "val", "test")})
            else:
                split = split_trajectories(
                    flow.frames.shape[0], d.val_split, d.test_split, config.seed
                )
                split["train"] = first_trajectories(
                    split["train"], d.train_trajectories, flow.source
                )
                self.splits.append(split)
        self.n_starts = [
            check_windows(flow.frames.shape[1], d.t_in, d.t_out, d.frame_stride, flow.source)
            for flow in self.flows
        ]
        self.channels = [parameter_channels(flow.problem, d.parameters) for flow in self.flows]
        self.problem = self.flows[0].problem
        self.seed, self.rank, self.world, self.pin = config.seed, rank, world, pin
        windows = sum(len(s["train"]) for s in self.splits) * d.samples_per_trajectory
        self.steps_per_epoch = epoch_steps(windows, d.batch_size, world)

    def _dataset(self, items: Sequence[tuple[int, int, int]]) -> _MixtureDataset:
        d = self.data
        frames = [flow.frames for flow in self.flows]
        return _MixtureDataset(frames, self.channels, items, d.t_in, d.t_out, d.frame_stride)

    def batches(self, epoch: int, skip: int) -> Iterator[Batch]:
        d = self.data
        items = [
            (f, t, s)
            for f, split in enumerate(self.splits)
            for t, s in random_windows(
                split["train"], self.n_starts[f], d.samples_per_trajectory, self.seed + f, epoch
            )
        ]
        order = np.random.default_rng([self.seed, epoch, 0x313]).permutation(len(items))
        items = [items[k] for k in order]
        for (w_in, w_out), n_global in deal(self, self._dataset(items), skip):
            yield w_in, w_out, n_global

    def eval_set(self, name: str, rank: int, world: int) -> Dataset:
        items = [
            (f, t, s)
            for f, split in enumerate(self.splits)
            for t, s in eval_windows(split[name], self.n_starts[f], self.data.eval_windows)
        ]
        return self._dataset(items[rank::world])

    def normalization(self) -> tuple[float, float]:
        """Mean and std of every file's training frames together."""
        frames = torch.cat(
            [
                flow.frames[s["train"]].flatten()
                for flow, s in zip(self.flows, self.splits, strict=True)
            ]
        )
        return float(frames.mean()), float(frames.std())

    def record(self) -> dict[str, Any]:
        files = []
        for flow, split in zip(self.flows, self.splits, strict=True):
            keys = {} if flow.keys is None else {n: flow.keys[split[n]].tolist() for n in split}
            files.append(
                {
                    "source": flow.source,
                    "fingerprint": flow.fingerprint,
                    **split,
                    "family": flow.family,
                    "keys": keys,
                    "problem": flow.problem.to_dict(),
                }
            )
        return {
            "source": " + ".join(flow.source for flow in self.flows),
            "parameters": list(self.data.parameters),
            "files": files,
        }

    def rates(self, device: torch.device) -> dict[str, float]:
        return {}
