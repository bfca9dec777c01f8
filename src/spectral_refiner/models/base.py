"""Model base class and registry: every model records its constructor arguments, so a checkpoint
rebuilds it by name from the file alone."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import SpectralRefinerError
from .conditioning import conditioning_values

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

    Call: ``model(w_in)`` with ``w_in`` of shape ``(B, T_in, X, Y)`` returns ``(B, T_out, X, Y)``;
    a conditioned model also takes ``model(w_in, lead_time=...)`` (or ``noise_level``, ``step``:
    the keywords in :attr:`conditioning`, see :meth:`forward`).
    Subclasses are registered with :func:`register` and implement :meth:`operator`; the
    arguments their ``__init__`` was called with (defaults filled in) are kept in
    :attr:`config`, which with :attr:`name` and the state dict is all a checkpoint needs.

    Data normalisation. A model whose class sets ``data_normalization = True`` maps

    ``w_out = σ G((w_in - μ) / σ) + μ``

    with scalar statistics ``μ, σ`` of the training data, set by
    :meth:`set_normalization` and held as buffers (``data_mean``, ``data_std``), so they are
    part of the state dict: every checkpoint carries them and every prediction applies them.
    Scalars, not per-point fields, keep the model resolution-invariant.

    Residual form. A model with :attr:`residual` set predicts an increment of its last input
    frame, ``w_out = w_in[-1] + σ G((w_in - μ) / σ)`` (every output frame; ``w_in[-1] + G(w_in)``
    without data normalisation): a zero ``G`` is the identity bit for bit, so a short lead
    needs only a small correction. With :attr:`residual_lead` as well, the increment is
    scaled by the call's lead time, ``w_out = w_in[-1] + τ σ G(z, τ)``: ``G`` then learns the
    mean rate of change ``(w(t + τ) - w(t)) / τ``, which tends to ``∂w/∂t`` as ``τ -> 0`` (a
    call without ``lead_time``, the fixed-window one, leaves the increment unscaled).

    Refinement. A class whose head is linear in its weights and can be widened sets
    ``refinable = True``; Spectral-Refiner, ``predict --refine``, ``evaluate --refine`` and
    ``compare-solver`` ask this, not the model's name.
    """

    name: ClassVar[str] = ""
    data_normalization: ClassVar[bool] = True
    refinable: ClassVar[bool] = False
    #: The conditioning keywords the model's call takes (see :meth:`forward`); a model with
    #: optional conditioning sets it per instance from its constructor arguments.
    conditioning: frozenset[str] = frozenset()
    #: The largest conditioning value the model was trained for (``None``: unchecked).
    condition_max: float | None = None
    #: Predict the increment of the last input frame (see the class docstring); a model with
    #: the option sets it per instance from its constructor arguments.
    residual: bool = False
    #: In the residual form, scale the increment by the lead time (see the class docstring).
    residual_lead: bool = False
    #: Constructor arguments that set how the model runs (the equation it corrects, its step,
    #: its cadence, its scales), not what its parameters are: ``train --init-from`` copies a
    #: checkpoint's weights when only these differ and keeps the run's values.
    run_settings: ClassVar[frozenset[str]] = frozenset()
    t_in: int
    t_out: int

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("data_mean", torch.zeros(()))
        self.register_buffer("data_std", torch.ones(()))

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__init__
        signature = inspect.signature(init)

        @functools.wraps(init)  # keeps the signature, annotations and docstring
        def recording_init(self: NeuralOperator, *args: Any, **kw: Any) -> None:
            if not hasattr(self, "config"):
                bound = signature.bind(self, *args, **kw)
                bound.apply_defaults()
                config = dict(bound.arguments)
                config.pop("self")
                object.__setattr__(self, "config", _plain(config))
            init(self, *args, **kw)

        cls.__init__ = recording_init  # type: ignore[method-assign]

    config: dict[str, Any]

    def n_parameters(self) -> int:
        """Number of real parameters (a complex weight counts twice: its real and imaginary
        parts are stored as two reals)."""
        return sum(p.numel() for p in self.parameters())

    @torch.no_grad()
    def set_normalization(self, mean: float, std: float) -> None:
        """Use the data statistics ``μ = mean``, ``σ = std`` (see the class docstring)."""
        if not (std > 0 and torch.isfinite(torch.tensor([mean, std])).all()):
            raise SpectralRefinerError(
                f"normalisation needs a finite mean and a positive std, got {mean}, {std}"
            )
        self.data_mean.fill_(mean)
        self.data_std.fill_(std)

    def forward(self, w_in: torch.Tensor, **conditioning: float | torch.Tensor) -> torch.Tensor:
        """``(B, T_in, X, Y) -> (B, T_out, X, Y)``, normalised as the class docstring says.

        Conditioning. Keywords (``lead_time``, ``noise_level``, ``step``; see
        :mod:`~.conditioning`) are one scalar per instance, a number or a ``(B,)`` tensor.
        A model declares the keywords it takes in :attr:`conditioning`; the ones given are
        checked (also against :attr:`condition_max`), converted to ``(B,)`` tensors of the
        input's dtype and device and passed to :meth:`operator` as keywords (not normalised:
        they are not vorticity). Without a keyword the call is the plain fixed-window one, so
        ``operator(z)`` of a model without conditioning never sees a keyword.
        """
        self.check_input(w_in)
        values = conditioning_values(
            self.name, self.conditioning, conditioning, w_in, self.condition_max
        )
        if not self.residual:
            return self.normalised(self.operator, w_in, **values)
        last = w_in[:, -1:].expand(-1, self.t_out, -1, -1)
        scale = torch.ones((), dtype=w_in.dtype, device=w_in.device)
        if self.data_normalization:
            mean, std = self.data_mean.to(w_in.dtype), self.data_std.to(w_in.dtype)
            w_in, scale = (w_in - mean) / std, std
        if self.residual_lead and "lead_time" in values:
            scale = scale * values["lead_time"].view(-1, 1, 1, 1)
        return torch.addcmul(last, self.operator(w_in, **values), scale)

    def normalised(
        self, fn: Callable[..., torch.Tensor], w_in: torch.Tensor, *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        """``σ fn((w_in - μ) / σ, ...) + μ`` (``fn(w_in, ...)`` without data normalisation):
        the wrapper of :meth:`forward`, for other maps of normalised frames (sampling)."""
        if not self.data_normalization:
            return fn(w_in, *args, **kwargs)
        mean, std = self.data_mean.to(w_in.dtype), self.data_std.to(w_in.dtype)
        return torch.addcmul(mean, fn((w_in - mean) / std, *args, **kwargs), std)

    def operator(self, z: torch.Tensor, **conditioning: torch.Tensor) -> torch.Tensor:
        """The map on (normalised) input frames; implemented by every model. Receives the
        conditioning keywords of the call as ``(B,)`` tensors (only those of
        :attr:`conditioning`, only when given)."""
        raise NotImplementedError

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
