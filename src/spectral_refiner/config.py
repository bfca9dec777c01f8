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

Every field has a default (the dataclasses of :mod:`spectral_refiner.training.settings`);
an unknown key or a value of the wrong type is an error naming the key. Model arguments are
checked against the model's own constructor. The trainer writes the resolved config (every
default filled in) into the run directory, so a run is repeated exactly by
``spectral-refiner train --config RUN_DIR/config.yaml``. The package ships configs for the
benchmarks (:func:`shipped_configs`), addressed by name or by path.
"""

from __future__ import annotations

import inspect
import typing
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .coerce import coerce
from .errors import SpectralRefinerError
from .models import MODELS
from .training.settings import DataConfig, LossConfig, OnlineConfig, OptimConfig, TrainConfig

__all__ = [
    "DataConfig",
    "LossConfig",
    "OnlineConfig",
    "OptimConfig",
    "TrainConfig",
    "apply_config_overrides",
    "config_from_dict",
    "load_config",
    "shipped_configs",
]

_SECTIONS = {
    "data": DataConfig,
    "online": OnlineConfig,
    "loss": LossConfig,
    "optim": OptimConfig,
}
_TOP = {
    "seed": int,
    "device": str,
    "dtype": str,
    "init_from": str | None,
    "freeze": str,
    "trunk_lr": float,
}


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
    if not path.is_file():
        raise SpectralRefinerError(f"{path} is not a file: give a YAML config file")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except UnicodeDecodeError:
        raise SpectralRefinerError(
            f"{path} is not a text file: give a YAML config file (see `spectral-refiner configs`)"
        ) from None
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" at line {line + 1}" if line is not None else ""
        raise SpectralRefinerError(f"{path} is not valid YAML{where}: fix its syntax") from None
    return config_from_dict(raw)
