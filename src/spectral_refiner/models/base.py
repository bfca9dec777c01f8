"""Model base class and registry: every model records its constructor arguments, so a checkpoint
rebuilds it by name from the file alone."""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import SpectralRefinerError

__all__ = [
    "MODELS",
    "NeuralOperator",
    "build_model",
    "model_from_payload",
    "model_payload",
    "register",
]

MODELS: dict[str, type[NeuralOperator]] = {}


def register(name: str):
    """Class decorator: make a :class:`NeuralOperator` buildable as ``build_model(name, ...)``."""

    def deco(cls: type[NeuralOperator]) -> type[NeuralOperator]:
        cls.name = name
        MODELS[name] = cls
        return cls

    return deco


class NeuralOperator(nn.Module):
    """A map from a window of vorticity frames to the next ones.

    Call: ``model(w_in)`` with ``w_in`` of shape ``(B, T_in, X, Y)`` returns ``(B, T_out, X, Y)``.
    Subclasses are registered with :func:`register`; the arguments their ``__init__`` was
    called with (defaults filled in) are kept in :attr:`config`, which with :attr:`name` and
    the state dict is all a checkpoint needs.
    """

    name: ClassVar[str] = ""
    t_in: int
    t_out: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__init__
        signature = inspect.signature(init)

        def recording_init(self: NeuralOperator, *args: Any, **kw: Any) -> None:
            if not hasattr(self, "config"):
                bound = signature.bind(self, *args, **kw)
                bound.apply_defaults()
                config = dict(bound.arguments)
                config.pop("self")
                object.__setattr__(self, "config", _plain(config))
            init(self, *args, **kw)

        recording_init.__signature__ = signature  # type: ignore[attr-defined]
        recording_init.__doc__ = init.__doc__
        cls.__init__ = recording_init  # type: ignore[method-assign]

    config: dict[str, Any]

    def n_parameters(self) -> int:
        """Number of real parameters (a complex weight counts twice: its real and imaginary
        parts are stored as two reals)."""
        return sum(p.numel() for p in self.parameters())

    def check_input(self, w_in: torch.Tensor) -> None:
        """Raise :class:`SpectralRefinerError` unless ``w_in`` is ``(B, T_in, X, Y)``."""
        if w_in.dim() != 4 or w_in.shape[1] != self.t_in:
            raise SpectralRefinerError(
                f"{self.name} expects input frames (B, {self.t_in}, X, Y), got {tuple(w_in.shape)}"
            )


def _plain(value: Any) -> Any:
    """Config values as plain Python (tuples to lists) so they survive YAML and torch.load."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def build_model(name: str, **config: Any) -> NeuralOperator:
    """Construct a registered model by name."""
    if name not in MODELS:
        raise SpectralRefinerError(
            f"unknown model {name!r}; choose one of {', '.join(sorted(MODELS))}"
        )
    return MODELS[name](**config)


def model_payload(model: NeuralOperator) -> dict[str, Any]:
    """What a checkpoint stores of a model: name, constructor arguments, weights."""
    return {"name": model.name, "config": dict(model.config), "state_dict": model.state_dict()}


def model_from_payload(payload: dict[str, Any]) -> NeuralOperator:
    """Rebuild the model of :func:`model_payload` with its weights, dtype and shapes."""
    model = build_model(payload["name"], **payload["config"])
    state = payload["state_dict"]
    dtypes = {p.dtype for p in state.values() if p.is_floating_point()}
    if len(dtypes) == 1:
        model.to(dtypes.pop())
    model.load_state_dict(state)
    return model
