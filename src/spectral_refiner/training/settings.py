"""Typed settings of a training run: five sections and six top-level keys (``init_from``, a
pretrained run or checkpoint to start from, ``freeze``, ``none`` or ``trunk``, and
``trunk_lr``, the pretrained trunk's learning rate as a multiple of the re-initialised layers':
see :mod:`~.init_from`).

Every field has a default; :meth:`TrainConfig.validate` checks what the types alone do not.
YAML in and out, ``--set`` overrides and the shipped configs are :mod:`spectral_refiner.config`'s
business; the trainer takes these objects.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from ..data.all2all import LEAD_SAMPLINGS
from ..errors import SpectralRefinerError
from ..metrics import ERRORS

__all__ = [
    "OPTIMIZERS",
    "SAMPLINGS",
    "SCHEDULES",
    "DataConfig",
    "LossConfig",
    "OnlineConfig",
    "OptimConfig",
    "TrainConfig",
]

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("onecycle", "cosine", "constant")
SAMPLINGS = ("windows", "all2all")


@dataclass
class DataConfig:
    """Where the trajectories come from and how they are cut into windows.

    A window is ``t_in`` input and ``t_out`` output frames, consecutive at every
    ``frame_stride``-th stored frame. Training windows start at random times (a fresh draw
    every epoch, ``samples_per_trajectory`` per trajectory); validation and test windows at
    ``eval_windows`` fixed, evenly spaced times (the first at the trajectory's start).
    ``val_split`` / ``test_split``: a fraction of the trajectories if below 1, else a count.

    ``sampling``: ``windows`` (the above) or ``all2all`` (:mod:`~.all2all`: pairs of frames
    at most ``max_lead`` apart in time, the whole trajectory if none, for a model conditioned
    on the lead time; validation and test at the lead times ``eval_leads``, every frame lead
    up to ``max_lead`` if empty; needs ``t_in = t_out = frame_stride = 1``), its training
    pairs drawn uniformly over the ``pairs`` or the ``leads``, uniformly in ``log`` lead, or
    with ``P(d) ∝ d^-lead_power`` (``power``) (``lead_sampling``,
    :mod:`spectral_refiner.data.all2all`).

    ``train_trajectories``: train on only the first so many of the (shuffled) training
    trajectories of each file, the validation and test trajectories unchanged (sample-efficiency
    curves: every size is tested on the same trajectories).

    ``files``: several files mixed in one run (:mod:`~.mixture`, instead of ``file``), the
    equation's ``parameters`` given to the model as constant input channels.

    ``curriculum``: ``[[epochs, K], ...]`` for models that roll out (``hybrid``): the first
    ``epochs`` epochs train on the first ``K`` target frames of each window, the next entry's
    epochs on its ``K``, and so on, then ``t_out``; validation and test always use all
    ``t_out`` frames (see :meth:`unroll`).
    """

    file: str | None = None
    online: str | None = None
    t_in: int = 10
    t_out: int = 10
    frame_stride: int = 1
    resolution: int | None = None
    val_split: float = 0.1
    test_split: float = 0.1
    samples_per_trajectory: int = 1
    eval_windows: int = 1
    batch_size: int = 8
    workers: int = 0
    sampling: str = "windows"
    max_lead: float | None = None
    lead_sampling: str = "pairs"
    lead_power: float = 2.0
    eval_leads: list[float] = field(default_factory=list)
    train_trajectories: int | None = None
    files: list[str] = field(default_factory=list)
    parameters: list[str] = field(
        default_factory=lambda: ["viscosity", "drag", "forcing_amplitude"]
    )
    curriculum: list[list[int]] = field(default_factory=list)

    def unroll(self, epoch: int) -> int:
        """The target frames trained on in epoch ``epoch`` (from 0) under :attr:`curriculum`."""
        end = 0
        for epochs, frames in self.curriculum:
            end += epochs
            if epoch < end:
                return frames
        return self.t_out


@dataclass
class OnlineConfig:
    """Solver-in-the-loop training (``data.online = PRESET``).

    ``workers`` DataLoader worker processes each run the solver on batches of
    ``solver_batch`` trajectories and keep a reservoir of at most ``buffer_size`` windows, from
    which training batches are drawn (a window can be drawn more than once) as soon as it
    holds ``watermark`` windows. An epoch is ``steps_per_epoch`` steps; the validation set is
    ``val_trajectories`` trajectories simulated once at the start (and as many for the
    test). ``preset_overrides`` are ``key=value`` changes of the preset (as
    ``generate --set``). ``training_threads``: torch threads of the training process when it
    trains on the CPU; by default the cores left to it after the solver workers' threads
    (oversubscribed cores make every thread spin).
    """

    preset_overrides: list[str] = field(default_factory=list)
    buffer_size: int = 512
    watermark: int = 32
    workers: int = 1
    solver_batch: int = 4
    solver_threads: int = 1
    steps_per_epoch: int = 50
    val_trajectories: int = 8
    training_threads: int | None = None


@dataclass
class LossConfig:
    """``data_weight · data loss + physics_weight · PDE residual`` (label-free if
    ``data_weight = 0``). ``data`` is the relative error in L2, H1 or H^-1 (shift ``alpha``)."""

    data: str = "rel_l2"
    data_weight: float = 1.0
    physics_weight: float = 0.0
    alpha: float = 1.0


@dataclass
class OptimConfig:
    """Optimiser, schedule and step control (``grad_clip``: max gradient norm, or none;
    ``amp``: mixed precision on CUDA, ignored on the CPU; ``checkpoint_every``: also write
    the latest checkpoint every so many steps, 0 for once per epoch; ``max_time``: stop
    after this many wall-clock seconds of training, data waits included, evaluation not;
    ``keep_checkpoints``: epochs after which a copy is kept as ``checkpoints/epoch-N.pt``,
    e.g. to compare models of different quality)."""

    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = "onecycle"
    warmup_fraction: float = 0.1
    epochs: int = 10
    grad_clip: float | None = 1.0
    amp: bool = False
    checkpoint_every: int = 0
    max_time: float | None = None
    keep_checkpoints: list[int] = field(default_factory=list)


@dataclass
class TrainConfig:
    """A whole training run; see the module docstring."""

    model: dict[str, Any] = field(default_factory=lambda: {"name": "sfno"})
    data: DataConfig = field(default_factory=DataConfig)
    online: OnlineConfig = field(default_factory=OnlineConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    seed: int = 0
    device: str = "auto"
    dtype: str = "float32"
    init_from: str | None = None
    freeze: str = "none"
    trunk_lr: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def model_kwargs(self) -> dict[str, Any]:
        """Constructor arguments of the model, with ``t_in``/``t_out`` from the data."""
        kwargs = {k: v for k, v in self.model.items() if k != "name"}
        return {**kwargs, "t_in": self.data.t_in, "t_out": self.data.t_out}

    def validate(self) -> TrainConfig:
        """Check the values that the types alone do not; raise naming the first bad one."""

        def bad(key: str, why: str) -> SpectralRefinerError:
            return SpectralRefinerError(f"config: {key} {why}")

        d, o, loss, opt = self.data, self.online, self.loss, self.optim
        for key, value in (
            ("data.t_in", d.t_in),
            ("data.t_out", d.t_out),
            ("data.frame_stride", d.frame_stride),
            ("data.samples_per_trajectory", d.samples_per_trajectory),
            ("data.eval_windows", d.eval_windows),
            ("data.batch_size", d.batch_size),
            ("online.buffer_size", o.buffer_size),
            ("online.watermark", o.watermark),
            ("online.solver_batch", o.solver_batch),
            ("online.solver_threads", o.solver_threads),
            ("online.steps_per_epoch", o.steps_per_epoch),
            ("online.val_trajectories", o.val_trajectories),
            ("optim.epochs", opt.epochs),
        ):
            if value < 1:
                raise bad(key, f"must be >= 1, got {value}")
        for entry in d.curriculum:
            if len(entry) != 2 or entry[0] < 1 or not 1 <= entry[1] <= d.t_out:
                raise bad(
                    "data.curriculum",
                    f"entries are [epochs >= 1, K in 1..t_out={d.t_out}], got {entry}",
                )
        if d.workers < 0 or o.workers < 0:
            raise bad("data.workers / online.workers", "must be >= 0")
        if o.watermark > o.buffer_size:
            raise bad("online.watermark", f"({o.watermark}) must not exceed online.buffer_size")
        if d.resolution is not None and (d.resolution < 4 or d.resolution % 2):
            raise bad("data.resolution", f"must be an even integer >= 4, got {d.resolution}")
        for key, value in (("data.val_split", d.val_split), ("data.test_split", d.test_split)):
            if value < 0 or (value >= 1 and value != int(value)):
                raise bad(key, f"must be a fraction in [0, 1) or a whole count, got {value}")
        if loss.data not in ERRORS:
            raise bad("loss.data", f"must be one of {', '.join(ERRORS)}, got {loss.data!r}")
        if loss.data_weight < 0 or loss.physics_weight < 0:
            raise bad("loss.data_weight / loss.physics_weight", "must be >= 0")
        if loss.data_weight == 0 and loss.physics_weight == 0:
            raise bad("loss", "has no term: set data_weight or physics_weight above 0")
        if not loss.alpha > 0:
            raise bad("loss.alpha", f"must be positive, got {loss.alpha}")
        if opt.optimizer not in OPTIMIZERS:
            raise bad("optim.optimizer", f"must be one of {', '.join(OPTIMIZERS)}")
        if opt.schedule not in SCHEDULES:
            raise bad("optim.schedule", f"must be one of {', '.join(SCHEDULES)}")
        if not opt.lr > 0:
            raise bad("optim.lr", f"must be positive, got {opt.lr}")
        if not 0 < opt.warmup_fraction < 1:
            raise bad("optim.warmup_fraction", "must be in (0, 1)")
        if opt.grad_clip is not None and not opt.grad_clip > 0:
            raise bad("optim.grad_clip", "must be positive or none")
        if opt.max_time is not None and not opt.max_time > 0:
            raise bad("optim.max_time", f"must be positive or none, got {opt.max_time}")
        if opt.weight_decay < 0 or opt.checkpoint_every < 0:
            raise bad("optim.weight_decay / optim.checkpoint_every", "must be >= 0")
        for key, value in self.model.items():  # sizes and ratios of the model
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            positive = key == "width" or (key.endswith("_ratio") and key != "mlp_ratio")
            if value < 0 or (positive and value <= 0):
                need = "positive" if positive else ">= 0"
                raise bad(f"model.{key}", f"must be {need}, got {value}")
        if d.sampling not in SAMPLINGS:
            raise bad("data.sampling", f"must be one of {', '.join(SAMPLINGS)}, got {d.sampling!r}")
        if d.sampling == "all2all":
            if d.online is not None:
                raise bad("data.sampling", "all2all trains on a file's trajectories: give --data")
            if (d.t_in, d.t_out, d.frame_stride) != (1, 1, 1):
                raise bad(
                    "data.sampling",
                    "all2all maps one frame to one later frame: set data.t_in=1, "
                    "data.t_out=1 and data.frame_stride=1",
                )
            if loss.physics_weight:
                raise bad("loss.physics_weight", "must be 0 with all2all (pairs are not windows)")
        if d.lead_sampling not in LEAD_SAMPLINGS:
            raise bad(
                "data.lead_sampling",
                f"must be one of {', '.join(LEAD_SAMPLINGS)}, got {d.lead_sampling!r}",
            )
        if not (math.isfinite(d.lead_power) and d.lead_power >= 0):
            raise bad("data.lead_power", f"must be a finite number >= 0, got {d.lead_power}")
        if d.files:
            if d.file is not None or d.online is not None:
                raise bad(
                    "data.files", "mixes files by itself: leave data.file and data.online unset"
                )
            if d.sampling != "windows" or loss.physics_weight:
                raise bad(
                    "data.files",
                    "mixes windows of several equations: set data.sampling=windows and "
                    "loss.physics_weight=0",
                )
        if d.train_trajectories is not None and d.train_trajectories < 1:
            raise bad(
                "data.train_trajectories", f"must be >= 1 or none, got {d.train_trajectories}"
            )
        if d.max_lead is not None and not d.max_lead > 0:
            raise bad("data.max_lead", f"must be positive or none, got {d.max_lead}")
        if self.freeze not in ("none", "trunk"):
            raise bad("freeze", f"must be none or trunk, got {self.freeze!r}")
        if not math.isfinite(self.trunk_lr) or self.trunk_lr < 0:
            raise bad("trunk_lr", f"must be a finite number >= 0, got {self.trunk_lr}")
        if self.trunk_lr != 1 and not self.init_from:
            raise bad("trunk_lr", "scales a pretrained trunk: give --init-from or set trunk_lr=1")
        if self.trunk_lr != 1 and self.freeze == "trunk":
            raise bad("trunk_lr", "with --freeze trunk the trunk does not train: drop one of them")
        if self.dtype not in ("float32", "float64"):
            raise bad("dtype", f"must be float32 or float64, got {self.dtype!r}")
        return self
