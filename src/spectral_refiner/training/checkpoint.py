"""Training checkpoints: written atomically, read back with a one-line error when unusable.

A checkpoint is one ``torch.save`` file holding plain data and tensors only (loadable with
``weights_only=True``):

* ``model``: :func:`~spectral_refiner.models.model_payload` (name, constructor arguments,
  weights, and the normalisation buffers ``data_mean``/``data_std``);
* ``normalization``: the same statistics, readable without building the model;
* ``optimizer``, ``scheduler``, ``scaler``: their state dicts;
* ``rng``: the torch CPU (and CUDA) generator states;
* ``progress``: epoch, step, batches done in the current epoch, best validation error;
* ``config``: the run's resolved config; ``split``: its trajectory split;
* ``extra``: anything else the trainer keeps (e.g. the online stream's next free index).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_write
from ..errors import SpectralRefinerError
from ..models import NeuralOperator, model_from_payload

__all__ = [
    "capture_rng",
    "load_checkpoint",
    "model_from_checkpoint",
    "restore_rng",
    "save_checkpoint",
]

FORMAT = 1


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Write ``payload`` (plus a format number) to ``path`` atomically."""
    with atomic_write(path) as tmp:
        torch.save({"format": FORMAT, **payload}, tmp)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint of :func:`save_checkpoint`; raise a one-line error if unusable."""
    path = Path(path)
    if not path.is_file():
        raise SpectralRefinerError(f"no checkpoint at {path}: train a model first")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # a truncated or foreign file: torch raises many types
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpectralRefinerError(f"{path} is not a readable checkpoint ({first[:120]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or "model" not in payload:
        raise SpectralRefinerError(f"{path} is not a spectral-refiner training checkpoint")
    return payload


def model_from_checkpoint(payload: dict, expected: str | None = None) -> NeuralOperator:
    """Rebuild the checkpoint's model; ``expected`` names the model the caller needs."""
    model = payload["model"]
    if expected is not None and model.get("name") != expected:
        raise SpectralRefinerError(
            f"the checkpoint holds a {model.get('name')!r} model but {expected!r} was expected: "
            "use the run that trained this model, or a config for its model"
        )
    try:
        return model_from_payload(model)
    except (RuntimeError, TypeError, KeyError) as exc:
        first = str(exc).splitlines()[0][:160]
        raise SpectralRefinerError(
            f"the checkpoint's weights do not fit its model ({first}): the file is from "
            "another version or was edited"
        ) from None


def capture_rng() -> dict[str, Any]:
    """The torch random generator states (CPU, and every CUDA device when available)."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Restore the states of :func:`capture_rng`."""
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
