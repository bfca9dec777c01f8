"""A trained run and a data file, checked against each other: the windows the model reads.

The model was trained on windows of ``t_in`` frames taken every ``frame_stride``-th stored
frame, ``dt`` apart, at one resolution. A file's frames must have that spacing (else every
prediction would be of the wrong time step); inputs are brought to the training resolution
by spectral resampling, and predictions are made on the output grid (zero-shot
super-resolution when it is finer, the inputs spectrally up-sampled).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import torch

from ..data import Flow, build_equation, read_flow, window_span
from ..errors import SpectralRefinerError
from ..models import NeuralOperator
from ..physics import NavierStokes2D, resample
from ..training import RunDir

__all__ = ["RunData", "open_run_data"]


@dataclass
class RunData:
    """A run's model with the trajectories of a file, in the run's window convention."""

    run: RunDir
    model: NeuralOperator
    trained: dict[str, Any]
    flow: Flow
    source: str

    @property
    def stride(self) -> int:
        return int(self.trained["frame_stride"])

    @property
    def dt(self) -> float:
        """Time between the frames of a window."""
        return float(self.trained["dt"])

    @property
    def trained_resolution(self) -> int:
        return int(self.trained["resolution"])

    def frames(self) -> int:
        """Window frames the file holds from its first (every ``stride``-th stored frame)."""
        return (self.flow.frames.shape[1] - 1) // self.stride + 1

    def equation(
        self, n: int, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
    ) -> NavierStokes2D:
        """The file's equation on an ``n``² grid."""
        return build_equation(self.flow.preset, device, dtype, resolution=n)

    def window(self, start: int, count: int, n: int, dtype=torch.float32) -> torch.Tensor:
        """Window frames ``start .. start + count - 1`` of every trajectory on an ``n``² grid,
        ``(N, count, n, n)`` (window frame ``j`` is stored frame ``j · stride``)."""
        frames = self.flow.frames[:, start * self.stride : (start + count - 1) * self.stride + 1]
        return resample(frames[:, :: self.stride].to(dtype), n)

    def inputs(self, start: int, n: int | None = None, dtype=torch.float32) -> torch.Tensor:
        """The model's input window from window frame ``start``, at the training resolution
        and then on the ``n``² grid (default: the training one)."""
        w = self.window(start, self.model.t_in, self.trained_resolution, dtype)
        return resample(w, n or self.trained_resolution)

    def has_truth(self, start: int, count: int, n: int) -> bool:
        """Whether the file holds ``count`` window frames from ``start`` at resolution >= n."""
        return start + count <= self.frames() and self.flow.resolution >= n


def open_run_data(run_dir: str | os.PathLike, data_file: str | os.PathLike) -> RunData:
    """The run's best model and the file's trajectories; an error naming the fix if the
    file's frame interval is not the training windows' or its frames cannot feed the model."""
    run = RunDir.existing(run_dir)
    model, trained = run.load_model()
    flow = read_flow(data_file)
    data = RunData(run, model, trained, flow, str(data_file))
    if not math.isclose(flow.dt * data.stride, data.dt, rel_tol=1e-5):
        raise SpectralRefinerError(
            f"{data_file} has frames {flow.dt:g} apart, so windows at stride {data.stride} are "
            f"{flow.dt * data.stride:g} apart, but {run.path} was trained on windows "
            f"{data.dt:g} apart: use a file with the training frame interval"
        )
    if flow.frames.shape[1] < window_span(model.t_in, 0, data.stride):
        raise SpectralRefinerError(
            f"{data_file} holds {flow.frames.shape[1]} frames; the model's input needs "
            f"{window_span(model.t_in, 0, data.stride)}"
        )
    return data
