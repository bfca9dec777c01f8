"""A trained run and a data file, checked against each other: the windows the model reads.

The model was trained on windows of ``t_in`` frames taken every ``frame_stride``-th stored
frame, ``dt`` apart, at one resolution, under one equation: the run's
:class:`~spectral_refiner.problem.Problem`. The file's Problem must agree with it
(:func:`~spectral_refiner.problem.check_compatible`: box, frame spacing, closure, a resolution
at least the run's; ν, drag and forcing unless ``physics_from_file``, which then uses the
file's equation and prints a note). Inputs are brought to the training resolution by
spectral resampling, and predictions are made on the output grid (zero-shot
super-resolution when it is finer, the inputs spectrally up-sampled).

Closure of the residual. ``Selection.closure`` (``--closure``) replaces the run's closure in
the residual, the estimate and the refiner only (:func:`residual_problem`); the file and the
run are still compared with their own closures, since the model reads the data it was
trained on. It is refused in one line for frames at the resolution of their simulation
(nothing truncated, nothing to close) and when it does not build for the run's equation and
resolution (a learned closure trained at another resolution or for another equation).

Held-out data. Every trajectory carries its key ``(seed, index)``; the run's ``split.json``
records the keys it trained and validated on. A file holding any of them is refused (one
line naming how many and which file), unless ``allow_training_data`` (then a warning);
``split="test"`` selects exactly the run's held-out test trajectories of its own training file,
``split="val"`` its validation trajectories (not trained on, but they chose the checkpoint: for
fitting a calibration, not for reporting a test figure).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..data import Flow, read_flow, window_span
from ..errors import SpectralRefinerError
from ..hybrid import HybridModel
from ..models import NeuralOperator
from ..physics import NavierStokes2D, Residual, resample
from ..problem import PHYSICS_FIELDS, Problem, check_compatible
from ..training import (
    RunDir,
    file_record,
    load_checkpoint,
    model_from_checkpoint,
    use_on_file,
)

__all__ = [
    "HELD_OUT",
    "SPLITS",
    "RunData",
    "Selection",
    "check_closure",
    "open_run_data",
    "residual_problem",
    "trained_on",
]

SPLITS = ("test", "val")


@dataclass(frozen=True)
class Selection:
    """Which trajectories of a file a run meets, and what it may meet (module docstring):
    ``split`` (``"test"``: the run's held-out test trajectories of its training file,
    ``"val"``: its validation ones),
    ``allow_training_data`` (warn instead of refusing trajectories the run trained or
    validated on), ``physics_from_file`` (use the file's ν, drag and forcing, with a note),
    ``closure`` (a closure spec for the residual, the estimate and the refiner, overriding the
    run's; ``None``: the run's own, ``{"name": "none"}``: none; see :func:`residual_problem`)."""

    split: str | None = None
    allow_training_data: bool = False
    physics_from_file: bool = False
    closure: dict[str, Any] | None = None


HELD_OUT = Selection()
"""The default: every trajectory of the file, refused if the run trained on any."""


@dataclass
class RunData:
    """A run's model with the selected trajectories of a file, in the run's window convention.

    ``problem`` is the run's Problem (with the file's physics under ``physics_from_file``);
    ``flow`` holds the selected trajectories only, ``trajectories`` their indices in the file;
    ``closure`` the use-time closure spec of the residual (``None``: the run's).
    """

    run: RunDir
    model: NeuralOperator
    problem: Problem
    flow: Flow
    source: str
    trajectories: list[int]
    closure: dict[str, Any] | None = None

    @property
    def stride(self) -> int:
        return int(self.problem.stride or 1)

    @property
    def dt(self) -> float:
        """Time between the frames of a window."""
        return self.problem.dt

    @property
    def trained_resolution(self) -> int:
        return self.problem.resolution

    @property
    def keys(self) -> list[list[int]] | None:
        """The selected trajectories' keys ``(seed, index)`` (``None`` if the file has none)."""
        return None if self.flow.keys is None else self.flow.keys.tolist()

    def frames(self) -> int:
        """Window frames the file holds from its first (every ``stride``-th stored frame)."""
        return (self.flow.frames.shape[1] - 1) // self.stride + 1

    def equation(
        self, n: int, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
    ) -> NavierStokes2D:
        """The equation on an ``n``² grid."""
        return self.problem.equation(n, device, dtype)

    def residual(
        self, n: int, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
    ) -> Residual:
        """The residual (equation, window ``dt`` and the run's ``α``) on an ``n``² grid, with
        the use-time closure when one was chosen (:func:`residual_problem`)."""
        return residual_problem(self.problem, self.closure).residual(n, device, dtype)

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


def trained_on(record: dict[str, Any], flow: Flow) -> list[int]:
    """Indices of the file's trajectories the run trained or validated on, from its split
    record: by index in the very file it trained on, else by key within the same family
    (an online run trained on every stream index from ``stream.first_index`` of its seed)."""
    if flow.fingerprint and record.get("fingerprint") == flow.fingerprint:
        return sorted({*record.get("train", []), *record.get("val", [])})
    keys = record.get("keys")
    if flow.keys is None or keys is None or record.get("family") != flow.family:
        return []
    seen = {tuple(k) for part in ("train", "val") for k in keys.get(part, [])}
    stream = record.get("stream")
    return [
        i
        for i, (seed, index) in enumerate(flow.keys.tolist())
        if (seed, index) in seen
        or (stream is not None and seed == stream["seed"] and index >= stream["first_index"])
    ]


def _select(run: RunDir, flow: Flow, source: str, select: Selection) -> list[int]:
    """The indices of the file's trajectories to use (module docstring)."""
    split = select.split
    record = file_record(run.read_split(), flow)
    everything = list(range(flow.frames.shape[0]))
    if split is not None:
        if split not in SPLITS:
            raise SpectralRefinerError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
        if "stream" in record:
            raise SpectralRefinerError(
                f"--split {split} needs the run's training file, and {run.path} trained online "
                "(its test trajectories are in no file): drop --split and give held-out data"
            )
        if record.get("fingerprint") != flow.fingerprint or not flow.fingerprint:
            trained = record.get("source", "its training file")
            raise SpectralRefinerError(
                f"--split {split} selects the run's held-out trajectories of {trained}, and "
                f"{source} is not that file: give --data {trained}, or drop --split"
            )
        return list(record[split])
    overlap = trained_on(record, flow)
    if overlap:
        what = (
            f"{source} holds {len(overlap)} trajectories {run.path} trained or validated on "
            f"({len(overlap)} of its {len(everything)}, e.g. trajectory {overlap[0]})"
        )
        if not select.allow_training_data:
            raise SpectralRefinerError(
                f"{what}: use --split test for the run's held-out ones, a file generated with "
                "another --seed, or --allow-training-data"
            )
        print(f"warning: {what}; its numbers are not a test", file=sys.stderr)
    elif flow.keys is None:
        print(
            f"note: {source} records no trajectory keys, so it cannot be checked against "
            "the run's training data",
            file=sys.stderr,
        )
    return everything


def residual_problem(problem: Problem, closure: dict[str, Any] | None) -> Problem:
    """The Problem whose equation the residual, the estimate and the refiner use.

    The rule of a use-time closure (``--closure``): it replaces the run's closure in the
    residual only. The model still reads windows of the problem it was trained on, so the file
    and the run are compared as before (:func:`~spectral_refiner.problem.check_compatible`:
    their closures must agree); ``closure=None`` keeps the run's, ``{"name": "none"}`` drops it.
    """
    if closure is None:
        return problem
    return dataclasses.replace(problem, closure=None if closure["name"] == "none" else closure)


def check_closure(flow: Flow, problem: Problem, closure: dict[str, Any], source: str) -> None:
    """One-line errors for a use-time closure the data cannot take: frames at the full
    resolution of their simulation (no truncation, nothing to close), or a closure that does
    not build for the run's equation and resolution (a learned closure of another
    resolution or equation)."""
    if closure["name"] == "none":
        return
    simulated = flow.preset.sim_resolution
    if problem.resolution >= simulated:
        raise SpectralRefinerError(
            f"{source} was simulated at {simulated}^2 and the residual works at "
            f"{problem.resolution}^2: no scales are truncated, so there is nothing to close; "
            "drop --closure"
        )
    residual_problem(problem, closure).equation()


def open_run_data(
    run_dir: str | os.PathLike, data_file: str | os.PathLike, select: Selection = HELD_OUT
) -> RunData:
    """The run's best model and the file's trajectories (the split, or all of them unless
    the run trained on some; :class:`Selection`); one-line errors naming the fix if the
    file's Problem does not fit the run's or its frames cannot feed the model (module
    docstring)."""
    run = RunDir.existing(run_dir)
    checkpoint = run.checkpoint_path()
    payload = load_checkpoint(checkpoint)
    split = payload.get("split", {})
    flow = read_flow(data_file)
    problem = Problem.from_checkpoint(payload, str(checkpoint))
    model, problem, mixed = use_on_file(model_from_checkpoint(payload), split, problem, flow)
    note = check_compatible(
        flow.problem,
        problem,
        source=str(data_file),
        allow_physics=select.physics_from_file or mixed,  # a mixture reads it as channels
    )
    if note and isinstance(model, HybridModel):
        raise SpectralRefinerError(
            f"{data_file} is of another equation than the hybrid run "
            f"({problem.physics_note(flow.problem)}), whose coarse solver is its own: use "
            "data of the run's problem"
        )
    if note:
        print(note, file=sys.stderr)
        problem = dataclasses.replace(
            problem, **{k: getattr(flow.problem, k) for k in PHYSICS_FIELDS}
        )
    if flow.frames.shape[1] < window_span(model.t_in, 0, problem.stride or 1):
        raise SpectralRefinerError(
            f"{data_file} holds {flow.frames.shape[1]} frames; the model's input needs "
            f"{window_span(model.t_in, 0, problem.stride or 1)}"
        )
    if select.closure is not None:
        check_closure(flow, problem, select.closure, str(data_file))
    chosen = _select(run, flow, str(data_file), select)
    if chosen != list(range(flow.frames.shape[0])):
        flow = dataclasses.replace(
            flow,
            frames=flow.frames[chosen],
            keys=None if flow.keys is None else flow.keys[np.asarray(chosen, dtype=np.int64)],
        )
    return RunData(run, model, problem, flow, str(data_file), chosen, select.closure)
