"""Where training windows come from: one small interface, a file source and an online source.

A :class:`DataSource` gives the trainer

* ``steps_per_epoch`` and :meth:`~DataSource.batches`: this rank's batches of epoch ``e``
  after the first ``skip`` steps, each ``(w_in, w_out, n_global)`` with the size of the
  global batch it belongs to (so a step equals the one-process step under ``torchrun``);
* :meth:`~DataSource.eval_set`: this rank's share of the validation or test windows;
* :meth:`~DataSource.normalization`: the scalar mean and std of the training data;
* :meth:`~DataSource.record`: what the run trained on, for ``split.json`` and checkpoints
  (trajectory indices, their keys ``(seed, index)`` and the family the keys belong to);
* a batch (and an evaluation sample) may carry a last item, a dict of conditioning tensors
  (``{"lead_time": (B,)}``) that the trainer passes to the model as keywords; a source whose
  windows solve several equations sets ``estimates = False`` (η is then NaN);
* ``problem``: the data's :class:`~spectral_refiner.problem.Problem` (no window); and
  :meth:`~DataSource.rates`, extra per-epoch numbers (the online stream's).

New kinds of sample (unrolled K-step targets, all-to-all pairs, noise levels) are new
sources of the same interface. :class:`FileWindows` cuts windows from a file's trajectories,
:class:`OnlineWindows` from trajectories the solver makes as training goes
(:class:`~spectral_refiner.data.OnlineStream`); :func:`build_source` makes the one a config
asks for.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import torch
from torch.utils.data import DataLoader, Dataset

from ..data import (
    Flow,
    OnlineStream,
    WindowDataset,
    all_reduce,
    apply_overrides,
    build_equation,
    check_windows,
    eval_windows,
    get_preset,
    key_family,
    preset_problem,
    random_windows,
    read_flow,
    seed_keys,
    simulate_preset,
    split_trajectories,
)
from ..errors import SpectralRefinerError
from ..problem import Problem
from .run import RunDir
from .settings import TrainConfig
from .signals import ignore_interrupts

__all__ = [
    "DataSource",
    "FileWindows",
    "OnlineWindows",
    "build_source",
    "deal",
    "epoch_steps",
    "first_trajectories",
]

Batch = (
    tuple[torch.Tensor, torch.Tensor, int]
    | tuple[torch.Tensor, torch.Tensor, int, dict[str, torch.Tensor]]
)


class DataSource(Protocol):
    """What the trainer reads (module docstring)."""

    problem: Problem
    steps_per_epoch: int

    def batches(self, epoch: int, skip: int) -> Iterator[Batch]: ...

    def eval_set(self, name: str, rank: int, world: int) -> Dataset: ...

    def normalization(self) -> tuple[float, float]: ...

    def record(self) -> dict[str, Any]: ...

    def rates(self, device: torch.device) -> dict[str, float]: ...


class _Trajectories:
    """The part of a source made of stored trajectories: a flow, its split and the fixed
    evaluation windows."""

    def __init__(self, flow: Flow, split: dict[str, list[int]], config: TrainConfig) -> None:
        d = config.data
        self.flow, self.split, self.data = flow, split, d
        self.problem = flow.problem
        self.n_starts = check_windows(
            flow.frames.shape[1], d.t_in, d.t_out, d.frame_stride, flow.source
        )
        self.windows = {
            name: eval_windows(split[name], self.n_starts, d.eval_windows) for name in split
        }

    def eval_set(self, name: str, rank: int, world: int) -> Dataset:
        d = self.data
        shard = self.windows[name][rank::world]
        return WindowDataset(self.flow.frames, shard, d.t_in, d.t_out, d.frame_stride)

    def _keys(self, names: Sequence[str]) -> dict[str, list[list[int]]]:
        keys = self.flow.keys
        return {} if keys is None else {n: keys[self.split[n]].tolist() for n in names}


class FileWindows(_Trajectories):
    """Windows of a file's training trajectories; epoch ``e``'s window order is keyed by
    ``(seed, e)`` (:func:`~spectral_refiner.data.random_windows`)."""

    def __init__(
        self, config: TrainConfig, run: RunDir, resume: bool, rank: int, world: int, pin: bool
    ) -> None:
        d = config.data
        flow = read_flow(d.file, d.resolution)
        if resume:
            record = run.read_split()
            if record.get("fingerprint") != flow.fingerprint:
                raise SpectralRefinerError(
                    f"{d.file} is not the data this run was trained on (fingerprint "
                    "differs): resume with the original file"
                )
            split = {k: record[k] for k in ("train", "val", "test")}
        else:
            split = split_trajectories(flow.frames.shape[0], d.val_split, d.test_split, config.seed)
            split["train"] = first_trajectories(split["train"], d.train_trajectories, flow.source)
        super().__init__(flow, split, config)
        self.seed, self.rank, self.world, self.pin = config.seed, rank, world, pin
        self.steps_per_epoch = epoch_steps(
            len(split["train"]) * d.samples_per_trajectory, d.batch_size, world
        )

    def batches(self, epoch: int, skip: int) -> Iterator[Batch]:
        d = self.data
        windows = random_windows(
            self.split["train"], self.n_starts, d.samples_per_trajectory, self.seed, epoch
        )
        dataset = WindowDataset(self.flow.frames, windows, d.t_in, d.t_out, d.frame_stride)
        for (w_in, w_out), n_global in deal(self, dataset, skip):
            yield w_in, w_out, n_global

    def normalization(self) -> tuple[float, float]:
        frames = self.flow.frames[self.split["train"]]
        return float(frames.mean()), float(frames.std())

    def record(self) -> dict[str, Any]:
        return {
            "source": self.flow.source,
            "fingerprint": self.flow.fingerprint,
            **self.split,
            "family": self.flow.family,
            "keys": self._keys(("train", "val", "test")),
        }

    def rates(self, device: torch.device) -> dict[str, float]:
        return {}


class OnlineWindows(_Trajectories):
    """Windows of trajectories the solver makes during training. The validation and test
    trajectories (indices ``0 .. 2k-1`` of the seed) are simulated once at the start; the
    stream's trajectories take indices from ``2k + segment · 2^40`` (a fresh range after
    every resume)."""

    def __init__(
        self,
        config: TrainConfig,
        segment: int,
        rank: int,
        world: int,
        device: torch.device,
        batch: int,
    ) -> None:
        d, c = config.data, config.online
        if d.resolution is not None:
            raise SpectralRefinerError(
                "data.resolution does not apply to online training: set the preset's "
                "resolution with online.preset_overrides=[resolution=N]"
            )
        preset = apply_overrides(get_preset(d.online), c.preset_overrides).validate()
        check_windows(preset.n_frames, d.t_in, d.t_out, d.frame_stride, f"preset {preset.name}")
        n_eval = c.val_trajectories
        # The fixed validation and test trajectories, simulated once (indices below the
        # streams' first index), at the stored resolution of the preset.
        equation = build_equation(preset, device)
        indices = list(range(2 * n_eval))
        with torch.no_grad():
            frames = simulate_preset(preset, equation, config.seed, indices)
        flow = Flow(
            frames.float().cpu(),
            preset.times(),
            preset,
            f"online:{preset.name}",
            "",
            preset_problem(preset),
            seed_keys(config.seed, len(indices)),
        )
        split = {"train": [], "val": indices[:n_eval], "test": indices[n_eval:]}
        super().__init__(flow, split, config)
        if c.watermark < batch:
            raise SpectralRefinerError(
                f"online.watermark ({c.watermark}) must be at least the per-process batch ({batch})"
            )
        self.preset, self.seed, self.global_batch = preset, config.seed, d.batch_size
        self.first_index = 2 * n_eval
        self.stream = OnlineStream(
            preset,
            config.seed,
            first_index=self.first_index + segment * 2**40,
            t_in=d.t_in,
            t_out=d.t_out,
            stride=d.frame_stride,
            batch_size=batch,
            buffer_size=c.buffer_size,
            watermark=c.watermark,
            solver_batch=c.solver_batch,
            solver_threads=c.solver_threads,
            rank=rank,
            world=world,
            device=str(device),
        )
        self.workers = c.workers
        self.steps_per_epoch = c.steps_per_epoch
        if device.type == "cpu":
            torch.set_num_threads(_training_threads(c))
        self._iter: Iterator | None = None
        self._stats: dict[Any, dict[str, Any]] = {}
        self._consumed = 0
        self._start = 0.0

    def batches(self, epoch: int, skip: int) -> Iterator[Batch]:
        if self._iter is None:
            loader = DataLoader(
                self.stream,
                batch_size=None,
                num_workers=self.workers,
                worker_init_fn=ignore_interrupts,
            )
            self._iter = iter(loader)
            self._start = time.perf_counter()
        for _ in range(self.steps_per_epoch - skip):
            w_in, w_out, stats = next(self._iter)
            self._stats[stats["stream"]] = stats
            self._consumed += w_in.shape[0]
            yield w_in, w_out, self.global_batch

    def normalization(self) -> tuple[float, float]:
        # Of the fixed trajectories simulated at the start, the only ones known before training.
        return float(self.flow.frames.mean()), float(self.flow.frames.std())

    def record(self) -> dict[str, Any]:
        return {
            "source": self.flow.source,
            "preset": self.preset.fields(),
            "seed": self.seed,
            **self.split,
            "family": key_family(self.preset.fields()),
            "keys": self._keys(("val", "test")),
            "stream": {"seed": self.seed, "first_index": self.first_index},
        }

    def rates(self, device: torch.device) -> dict[str, float]:
        """Windows generated and consumed per second since the stream began (all ranks)."""
        if self._iter is None:
            return {}
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        local = torch.tensor(
            [
                sum(s["windows"] for s in self._stats.values()),
                sum(s["trajectories"] for s in self._stats.values()),
                self._consumed,
            ],
            dtype=torch.float64,
        )
        total = all_reduce(local.to(device)).cpu()
        return {
            "online_generated_per_s": float(total[0]) / elapsed,
            "online_trajectories": float(total[1]),
            "online_consumed_per_s": float(total[2]) / elapsed,
        }


def first_trajectories(train: list[int], count: int | None, source: str) -> list[int]:
    """The first ``count`` training trajectories (all with ``None``); an error if there are
    fewer."""
    if count is None:
        return train
    if count > len(train):
        raise SpectralRefinerError(
            f"data.train_trajectories={count}, but {source} leaves {len(train)} training "
            "trajectories after the validation and test split: lower it or use a larger file"
        )
    return train[:count]


def epoch_steps(windows: int, batch_size: int, world: int) -> int:
    """Steps of an epoch of ``windows`` training samples: every global batch, the last one
    only if each of the ``world`` ranks gets a sample; an error if there is none."""
    full, rest = divmod(windows, batch_size)
    if full + (rest >= world) == 0:
        raise SpectralRefinerError(
            f"{windows} training windows cannot feed {world} processes: use more "
            "trajectories or raise data.samples_per_trajectory"
        )
    return full + (rest >= world)


def deal(source: Any, dataset: Dataset, skip: int) -> Iterator[tuple[Any, int]]:
    """The epoch's samples of ``dataset`` (in their order of use) as this rank's share of every
    global batch after the first ``skip``, each with the global batch's size: ``source``'s
    ``data.batch_size``, ``steps_per_epoch``, ``rank``, ``world`` and ``pin``."""
    d = source.data
    chunks = [
        list(range(i, min(i + d.batch_size, len(dataset))))
        for i in range(0, len(dataset), d.batch_size)
    ][: source.steps_per_epoch]
    shares = [chunk[source.rank :: source.world] for chunk in chunks[skip:]]
    loader = DataLoader(
        dataset,
        batch_sampler=shares,
        num_workers=d.workers,
        worker_init_fn=ignore_interrupts,
        pin_memory=source.pin,
    )
    yield from zip(loader, (len(chunk) for chunk in chunks[skip:]), strict=True)


def build_source(
    config: TrainConfig,
    run: RunDir,
    *,
    resume: bool,
    segment: int,
    rank: int,
    world: int,
    device: torch.device,
) -> DataSource:
    """The source ``config.data`` names: a file (``data.file``) or a preset streamed online
    (``data.online``)."""
    d = config.data
    if (d.file is None) == (d.online is None):
        raise SpectralRefinerError(
            "give the training data: --data FILE.h5 or --online PRESET (data.file or "
            "data.online), not both"
        )
    if d.file is not None:
        return FileWindows(config, run, resume, rank, world, pin=device.type == "cuda")
    return OnlineWindows(config, segment, rank, world, device, d.batch_size // world)


def _training_threads(online) -> int:
    """``online.training_threads``, or the CPU cores of this process's share of the machine
    (``LOCAL_WORLD_SIZE`` processes) left after its solver workers' threads."""
    if online.training_threads is not None:
        return online.training_threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    share = max(1, (cores or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(1, share - online.workers * online.solver_threads)
