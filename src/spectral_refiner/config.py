"""Typed training configuration: YAML in, YAML out, ``--set section.key=value`` overrides.

A config has five sections and three top-level keys::

    model:  {name: sfno, width: 20, ...}   # the model's constructor arguments (t_in/t_out: data)
    data:   {file, online, t_in, t_out, frame_stride, resolution, val_split, ...}
    online: {buffer_size, watermark, workers, ...}   # solver-in-the-loop training
    loss:   {data, data_weight, physics_weight, alpha}
    optim:  {optimizer, lr, weight_decay, schedule, epochs, grad_clip, amp}
    seed: 0
    device: auto
    dtype: float32

Every field has a default; an unknown key or a value of the wrong type is an error naming
the key. Model arguments are checked against the model's own constructor. The resolved
config (every default filled in) is written into the run directory, so a run is repeated
exactly by ``spectral-refiner train --config RUN_DIR/config.yaml``. The package ships
configs for the benchmarks (:func:`shipped_configs`), addressed by name or by path.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .atomic import atomic_write_text
from .coerce import coerce
from .errors import SpectralRefinerError
from .models import MODELS

__all__ = [
    "DataConfig",
    "LossConfig",
    "OnlineConfig",
    "OptimConfig",
    "TrainConfig",
    "apply_config_overrides",
    "config_from_dict",
    "load_config",
    "save_config",
    "shipped_configs",
]

LOSSES = ("rel_l2", "rel_h1", "rel_h-1")
OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("onecycle", "cosine", "constant")


@dataclass
class DataConfig:
    """Where the trajectories come from and how they are cut into windows.

    A window is ``t_in`` input and ``t_out`` output frames, consecutive at every
    ``frame_stride``-th stored frame. Training windows start at random times (a fresh draw
    every epoch, ``samples_per_trajectory`` per trajectory); validation and test windows at
    ``eval_windows`` fixed, evenly spaced times (the first at the trajectory's start).
    ``val_split`` / ``test_split``: a fraction of the trajectories if below 1, else a count.
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
    after this many wall-clock seconds of training, data waits included, evaluation not)."""

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
        if d.workers < 0 or o.workers < 0:
            raise bad("data.workers / online.workers", "must be >= 0")
        if o.watermark > o.buffer_size:
            raise bad("online.watermark", f"({o.watermark}) must not exceed online.buffer_size")
        if d.resolution is not None and (d.resolution < 4 or d.resolution % 2):
            raise bad("data.resolution", f"must be an even integer >= 4, got {d.resolution}")
        for key, value in (("data.val_split", d.val_split), ("data.test_split", d.test_split)):
            if value < 0 or (value >= 1 and value != int(value)):
                raise bad(key, f"must be a fraction in [0, 1) or a whole count, got {value}")
        if loss.data not in LOSSES:
            raise bad("loss.data", f"must be one of {', '.join(LOSSES)}, got {loss.data!r}")
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
        if self.dtype not in ("float32", "float64"):
            raise bad("dtype", f"must be float32 or float64, got {self.dtype!r}")
        return self


_SECTIONS = {
    "data": DataConfig,
    "online": OnlineConfig,
    "loss": LossConfig,
    "optim": OptimConfig,
}
_TOP = {"seed": int, "device": str, "dtype": str}


def _model_section(raw: Any) -> dict[str, Any]:
    """The model section checked against the constructor of the model it names."""
    if not isinstance(raw, dict):
        raise SpectralRefinerError("config: model must be a mapping with a 'name' key")
    name = raw.get("name", "sfno")
    if name not in MODELS:
        raise SpectralRefinerError(
            f"config: model.name {name!r} is unknown; choose one of {', '.join(sorted(MODELS))}"
        )
    init = MODELS[name].__init__
    params = inspect.signature(init).parameters
    hints = typing.get_type_hints(init)
    out: dict[str, Any] = {"name": name}
    for key, value in raw.items():
        if key == "name":
            continue
        if key in ("t_in", "t_out"):
            raise SpectralRefinerError(
                f"config: model.{key} is set by data.{key}; move it to the data section"
            )
        if key not in params or key == "self":
            valid = ", ".join(p for p in params if p not in ("self", "t_in", "t_out"))
            raise SpectralRefinerError(
                f"config: unknown key model.{key} for {name}; valid keys are {valid}"
            )
        out[key] = coerce(value, hints.get(key, Any), f"model.{key}")
    return out


def _section(cls: type, raw: Any, prefix: str) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise SpectralRefinerError(f"config: {prefix} must be a mapping of keys to values")
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in raw.items():
        if key not in hints:
            raise SpectralRefinerError(
                f"config: unknown key {prefix}.{key}; valid keys are {', '.join(hints)}"
            )
        values[key] = coerce(value, hints[key], f"{prefix}.{key}")
    return cls(**values)


def config_from_dict(raw: dict[str, Any]) -> TrainConfig:
    """Build and validate a :class:`TrainConfig` from plain data (e.g. parsed YAML)."""
    if not isinstance(raw, dict):
        raise SpectralRefinerError("config: expected a mapping of sections at the top level")
    known = {"model", *_SECTIONS, *_TOP}
    for key in raw:
        if key not in known:
            raise SpectralRefinerError(
                f"config: unknown key {key!r}; valid keys are {', '.join(sorted(known))}"
            )
    kwargs: dict[str, Any] = {"model": _model_section(raw.get("model", {"name": "sfno"}))}
    for key, cls in _SECTIONS.items():
        kwargs[key] = _section(cls, raw.get(key), key)
    for key, annotation in _TOP.items():
        if key in raw:
            kwargs[key] = coerce(raw[key], annotation, key)
    return TrainConfig(**kwargs).validate()


def apply_config_overrides(config: TrainConfig, overrides: typing.Iterable[str]) -> TrainConfig:
    """``section.key=value`` (or ``seed=1``) strings applied to a copy of ``config``."""
    raw = config.to_dict()
    for item in overrides:
        path, sep, text = item.partition("=")
        if not sep:
            raise SpectralRefinerError(f"--set expects section.key=value, got {item!r}")
        keys = [k.strip().replace("-", "_") for k in path.split(".")]
        if len(keys) == 1 and keys[0] in _TOP:
            raw[keys[0]] = text.strip()
            continue
        if len(keys) != 2 or keys[0] not in raw or not isinstance(raw[keys[0]], dict):
            raise SpectralRefinerError(
                f"--set {item!r}: give section.key=value with a section among model, "
                f"{', '.join(_SECTIONS)} (or one of {', '.join(_TOP)}=value)"
            )
        section, key = keys
        if section == "model" and key == "name" and text.strip() != raw["model"]["name"]:
            raw["model"] = {"name": text.strip()}  # another model: its own defaults
        else:
            raw[section][key] = text.strip()
    return config_from_dict(raw)


def shipped_configs() -> dict[str, Path]:
    """The configs that come with the package, by name (file stem)."""
    folder = resources.files("spectral_refiner") / "configs"
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".yaml")}


def load_config(name_or_path: str | Path) -> TrainConfig:
    """Read a config from a YAML file, or a shipped one by name."""
    path = Path(name_or_path)
    shipped = shipped_configs()
    if not path.exists():
        if str(name_or_path) in shipped:
            path = shipped[str(name_or_path)]
        else:
            raise SpectralRefinerError(
                f"no config file {name_or_path}: give a YAML path or a shipped config "
                f"({', '.join(sorted(shipped))})"
            )
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" at line {line + 1}" if line is not None else ""
        raise SpectralRefinerError(f"{path} is not valid YAML{where}: fix its syntax") from None
    return config_from_dict(raw)


def save_config(config: TrainConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically)."""
    atomic_write_text(Path(path), yaml.safe_dump(config.to_dict(), sort_keys=False))
