"""Trajectories with their physics, split by trajectory and cut into input/output windows.

A window of ``t_in`` input and ``t_out`` output frames taken every ``stride``-th stored frame
from start frame ``s`` covers the frames ``s, s + stride, ..., s + (t_in + t_out - 1) stride``
of one trajectory (its *span* is ``(t_in + t_out - 1) stride + 1`` stored frames), spaced
``stride · Δt`` in time. Training windows start at random frames, drawn afresh every epoch
from a generator keyed by ``(seed, epoch)``, so epoch ``e`` sees the same windows in any run
and after any resume; evaluation windows start at fixed, evenly spaced frames.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import SpectralRefinerError
from ..physics import NavierStokes2D, resample
from ..problem import Problem
from .describe import recorded_preset
from .hdf5 import key_family, read_info, read_vorticity
from .presets import Preset

__all__ = [
    "Flow",
    "WindowDataset",
    "check_windows",
    "eval_windows",
    "random_windows",
    "read_flow",
    "split_trajectories",
    "window_span",
]


@dataclass
class Flow:
    """Vorticity trajectories and the equation they solve.

    Attributes
    ----------
    frames : Tensor
        ``(N, T, n, n)`` float32 on the CPU.
    times : ndarray
        ``(T,)`` snapshot times, equally spaced.
    preset : Preset
        The recipe the trajectories were made with (viscosity, drag, forcing, box).
    source : str
        The file, or ``online:PRESET``.
    fingerprint : str
        Identity of the data (the file's fingerprint attribute).
    problem : Problem
        The equation, frame spacing and resolution of the frames (as loaded).
    keys : ndarray or None
        ``(N, 2)`` key ``(seed, index)`` of every trajectory; ``None`` if unknown.
    """

    frames: torch.Tensor
    times: np.ndarray
    preset: Preset
    source: str
    fingerprint: str
    problem: Problem
    keys: np.ndarray | None = None

    @property
    def family(self) -> str:
        """What the keys are relative to (:func:`~.hdf5.key_family`)."""
        return key_family(self.preset.fields())

    @property
    def resolution(self) -> int:
        return int(self.frames.shape[-1])

    @property
    def dt(self) -> float:
        """Time between consecutive stored frames."""
        return float(self.times[1] - self.times[0]) if len(self.times) > 1 else 1.0

    def equation(
        self, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
    ) -> NavierStokes2D:
        """The equation on the grid of the frames (for residuals and norms)."""
        return self.problem.equation(self.resolution, device, dtype)


def read_flow(path: str | os.PathLike, resolution: int | None = None) -> Flow:
    """Load a dataset file into memory, spectrally resampled to ``resolution`` if given.

    Raises :class:`SpectralRefinerError` for a file that is not a valid dataset, that lacks
    the parameters of the equation (``preset_fields``), or whose frames are unevenly spaced.
    """
    info = read_info(path)
    preset = recorded_preset(info)
    times = info.times
    if len(times) > 2 and not np.allclose(np.diff(times), times[1] - times[0], rtol=1e-4):
        raise SpectralRefinerError(
            f"{info.path} has unevenly spaced frames: windows need a constant frame interval"
        )
    frames = torch.from_numpy(read_vorticity(path)).float()
    if resolution is not None and resolution != frames.shape[-1]:
        frames = resample(frames, resolution)
    problem = dataclasses.replace(info.problem, resolution=int(frames.shape[-1]))
    fingerprint = str(info.attrs.get("fingerprint", ""))
    return Flow(frames, times, preset, str(info.path), fingerprint, problem, info.keys)


def window_span(t_in: int, t_out: int, stride: int = 1) -> int:
    """Stored frames covered by one window."""
    return (t_in + t_out - 1) * stride + 1


def check_windows(n_frames: int, t_in: int, t_out: int, stride: int, source: str) -> int:
    """The number of start frames a trajectory offers; an error naming the fix if none."""
    span = window_span(t_in, t_out, stride)
    if span > n_frames:
        raise SpectralRefinerError(
            f"windows of {t_in} + {t_out} frames at stride {stride} span {span} frames, but "
            f"the trajectories of {source} hold {n_frames}: lower data.t_in, data.t_out or "
            "data.frame_stride, or use longer trajectories"
        )
    return n_frames - span + 1


def split_trajectories(
    n: int, val_split: float, test_split: float, seed: int
) -> dict[str, list[int]]:
    """Disjoint train / validation / test trajectory indices, shuffled by ``seed``.

    A split below 1 is a fraction of ``n`` (rounded, at least one trajectory when the
    fraction is positive), a split of 1 or more a count.
    """

    def count(split: float) -> int:
        if split >= 1:
            return int(split)
        return max(1, round(split * n)) if split > 0 else 0

    n_val, n_test = count(val_split), count(test_split)
    if n_val + n_test >= n:
        raise SpectralRefinerError(
            f"{n} trajectories cannot be split into {n_val} validation, {n_test} test and at "
            "least one training trajectory: lower data.val_split / data.test_split or use "
            "more trajectories"
        )
    order = np.random.default_rng([seed, 0x5EED]).permutation(n).tolist()
    return {
        "train": sorted(order[n_val + n_test :]),
        "val": sorted(order[:n_val]),
        "test": sorted(order[n_val : n_val + n_test]),
    }


def random_windows(
    trajectories: Sequence[int], n_starts: int, per_trajectory: int, seed: int, epoch: int
) -> list[tuple[int, int]]:
    """Epoch ``epoch``'s training windows ``(trajectory, start)`` in their order of use:
    ``per_trajectory`` uniform random starts in ``[0, n_starts)`` per trajectory, shuffled;
    keyed by ``(seed, epoch)``."""
    rng = np.random.default_rng([seed, epoch, 0x7A1])
    items = [
        (int(t), int(s)) for t in trajectories for s in rng.integers(0, n_starts, per_trajectory)
    ]
    return [items[i] for i in rng.permutation(len(items))]


def eval_windows(trajectories: Sequence[int], n_starts: int, k: int) -> list[tuple[int, int]]:
    """``k`` windows per trajectory at evenly spaced starts from 0 to ``n_starts - 1``."""
    k = min(k, n_starts)
    starts = [0] if k == 1 else [round(j * (n_starts - 1) / (k - 1)) for j in range(k)]
    return [(int(t), s) for t in trajectories for s in starts]


class WindowDataset(Dataset):
    """Input/output windows ``(w_in (t_in, n, n), w_out (t_out, n, n))`` of trajectories.

    Parameters
    ----------
    frames : Tensor
        ``(N, T, n, n)`` trajectories.
    windows : sequence of (trajectory, start)
        The windows, in order.
    t_in, t_out, stride : int
        Window shape (see the module docstring).
    """

    def __init__(
        self,
        frames: torch.Tensor,
        windows: Sequence[tuple[int, int]],
        t_in: int,
        t_out: int,
        stride: int = 1,
    ) -> None:
        self.frames = frames
        self.windows = list(windows)
        self.t_in, self.t_out, self.stride = t_in, t_out, stride
        check_windows(frames.shape[1], t_in, t_out, stride, "the data")

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        traj, start = self.windows[i]
        stop = start + window_span(self.t_in, self.t_out, self.stride)
        w = self.frames[traj, start : stop : self.stride]
        return w[: self.t_in], w[self.t_in :]
