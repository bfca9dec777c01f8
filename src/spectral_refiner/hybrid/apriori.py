r"""A learned a-priori subgrid closure: a small model regressing the exact subgrid term.

Trained on the pairs ``(ω̄, τ)`` a DNS file stores (``subgrid/tau``,
:mod:`spectral_refiner.physics.subgrid`), the model ``G`` predicts

.. math::

    \tau \approx \tau_G(\bar\omega) = s_\tau\, P\, G\big(x / s_x\big),\qquad
    x = (\bar\omega),\ (\bar\omega, \bar u, \bar v)\ \text{or}\
    (\bar\omega, F A, T_1, T_2),

(the last, ``transfer``, the resolved transfer terms of
:func:`~spectral_refiner.physics.resolved_transfer_hat`), with ``s_x`` (one per channel)
and ``s_τ`` the training data's standard deviations and ``P`` the stored band
``|m_x|, |m_y| < n/2`` without the mean (``τ`` is a divergence: zero mean).
``G`` is a ``cnn`` of :mod:`spectral_refiner.models` or the per-shell linear map
:class:`~spectral_refiner.hybrid.shells.ShellGains` (fitted in closed form).
The filtered equation reads ``∂tω̄ = N(ω̄) + Lω̄ - τ``, so the closure's term (the
:class:`~spectral_refiner.physics.Closure` protocol, added to the explicit terms) is
``Ĉ = -τ̂_G``. Evaluated on an ``m``-point grid (the solver's own ``m = n``, the residual's
padded ``m = 3n/2``), ``ω̂`` is truncated to the stored band, the model runs on the stored
``n`` grid it was trained on, and ``Ĉ`` is zero-padded to ``m`` and restricted to that grid's
2/3 band, as the advection is: on the solver's grid the modes it advects, on the residual's
padded grid the whole stored band.

A window-aware closure (:class:`ClosureWindow`: lags, the ring's memory) also maps inputs
of the window's earlier frames (:func:`window_inputs_hat`); the residual then calls
:meth:`AprioriClosure.window_term_hat` with the frames it holds (its closure protocol), and
the per-frame :meth:`AprioriClosure.term_hat` (a solver step) refuses it.

A closure file (:func:`save_closure`) holds the model payload, the scales, the stored and the
DNS resolution and the equation it was trained for; a spec
``{"name": "learned", "path": FILE}`` builds it wherever closures are built (registered with
:func:`~spectral_refiner.physics.register_closure` when this wing is imported), refusing
data of another resolution or equation, and data at the full DNS resolution (they need no
closure).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import nn

from ..errors import SpectralRefinerError
from ..models import model_payload
from ..physics import SpectralGrid, resolved_transfer_hat, window_transfer_hat
from .corrector import INPUTS
from .shells import ShellGains

__all__ = [
    "CLOSURE_INPUTS",
    "AprioriClosure",
    "ClosureWindow",
    "closure_inputs",
    "closure_inputs_hat",
]

#: Input channels of a closure's model, by name (module docstring).
CLOSURE_INPUTS = {**INPUTS, "transfer": 4}

FORMAT = "spectral-refiner-closure/1"


def _stride_hint(dt: float, interval: float) -> str:
    """How to fit a window closure at ``dt`` from the file it was fitted on, when ``dt`` is a
    whole multiple ``S`` of its ``interval`` (``train-closure --frame-stride S``)."""
    stride = round(dt / interval)
    if stride > 1 and math.isclose(dt, stride * interval, rel_tol=1e-4):
        return f" (`train-closure --frame-stride {stride}` on its file)"
    return ""


@dataclasses.dataclass(frozen=True)
class ClosureWindow:
    """What a window-aware closure sees besides the frame it closes
    (:func:`~spectral_refiner.physics.window_transfer_hat`): the resolved transfer of the
    frames ``lags`` earlier and the ring's back-transfer over ``memory`` frames, for frames
    ``frame_interval`` apart of the equation ``(viscosity, drag)``."""

    lags: tuple[int, ...] = ()
    memory: int = 0
    frame_interval: float = 0.0
    viscosity: float = 0.0
    drag: float = 0.0
    substeps: int = 4

    def __post_init__(self) -> None:
        lags = tuple(self.lags)
        if any(not isinstance(k, int) or k < 1 for k in lags) or len(set(lags)) != len(lags):
            raise SpectralRefinerError(
                f"closure lags must be distinct whole numbers of frames >= 1, got {list(lags)}"
            )
        if not isinstance(self.memory, int) or self.memory < 0:
            raise SpectralRefinerError(
                f"closure memory must be a whole number of frames >= 0, got {self.memory}"
            )
        if self.history and not self.frame_interval > 0:
            raise SpectralRefinerError("a window-aware closure needs its frames' interval > 0")
        object.__setattr__(self, "lags", tuple(sorted(lags)))

    @property
    def history(self) -> int:
        """Frames back the closure reaches: ``max(lags, memory)`` (0: a per-frame closure)."""
        return max((*self.lags, self.memory), default=0)

    @property
    def channels(self) -> int:
        """Input channels it adds to ``transfer``'s four."""
        return 3 * len(self.lags) + (self.memory > 0)

    def describe(self) -> str:
        return f"lags {list(self.lags)}, memory {self.memory}"


@dataclasses.dataclass(eq=False)
class AprioriClosure:
    """``τ_G`` of the module docstring and the closure term ``Ĉ = -τ̂_G`` on :attr:`grid`.

    Parameters
    ----------
    model : NeuralOperator or ShellGains
        ``t_in = CLOSURE_INPUTS[inputs]``, ``t_out = 1``; runs in its own dtype.
    grid : SpectralGrid
        The grid :meth:`term_hat` is evaluated on (``n`` points or more).
    resolution : int
        The stored resolution ``n`` the model was trained at.
    inputs : str
        ``"vorticity"``, ``"vorticity-velocity"`` or ``"transfer"``.
    input_scale : list of float
        ``s_x``, one per input channel.
    output_scale : float
        ``s_τ``.
    record : dict
        What the closure file records besides (equation, DNS resolution, training figures).
    window : ClosureWindow
        Earlier frames it sees (default none: a closure of each frame alone).
    """

    model: nn.Module
    grid: SpectralGrid
    resolution: int
    inputs: str
    input_scale: list[float]
    output_scale: float
    record: dict[str, Any] = dataclasses.field(default_factory=dict)
    window: ClosureWindow = ClosureWindow()

    def __post_init__(self) -> None:
        if self.inputs not in CLOSURE_INPUTS:
            raise SpectralRefinerError(
                f"unknown closure inputs {self.inputs!r}: choose one of {', '.join(CLOSURE_INPUTS)}"
            )
        if self.window.history and self.inputs != "transfer":
            raise SpectralRefinerError(
                f"a closure with {self.window.describe()} takes the transfer inputs, "
                f"not {self.inputs!r}"
            )
        if self.grid.n < self.resolution:
            raise SpectralRefinerError(
                f"a closure trained at {self.resolution}^2 cannot run on a {self.grid.n}^2 grid"
            )
        coarse = self.grid.with_resolution(self.resolution)
        band = (coarse.mx.abs() < self.resolution // 2) & (coarse.my < self.resolution // 2)
        band[0, 0] = False
        self._band = band.to(coarse.dtype)
        dtype = next(self.model.parameters()).dtype
        self._stored = coarse
        self._work = (
            coarse
            if dtype == coarse.dtype
            else SpectralGrid(self.resolution, coarse.length, dtype, coarse.device)
        )
        self._scale = torch.tensor(self.input_scale, dtype=dtype, device=coarse.device)

    @property
    def history(self) -> int:
        """Frames back the closure reaches (:attr:`ClosureWindow.history`; 0: per frame)."""
        return self.window.history

    @property
    def stored_grid(self) -> SpectralGrid:
        """The ``n``-point grid the model runs on (same box, dtype and device)."""
        return self._stored

    def tau_hat(self, w_hat: torch.Tensor) -> torch.Tensor:
        """``τ̂_G`` on the stored grid from stored-band coefficients ``(..., n, n // 2 + 1)``
        of single frames (a closure without a window).

        Its inputs are formed in the model's dtype (a float32 model: float32 transforms, also
        for a float64 grid) and a :class:`ShellGains` model maps their coefficients: no
        transform of its own."""
        self._per_frame()
        lead = w_hat.shape[:-2]
        flat = w_hat.reshape(-1, *w_hat.shape[-2:]).to(self._work.cdtype)
        out = self._map(closure_inputs_hat(self._work, flat, self.inputs))
        return out.reshape(*lead, *flat.shape[-2:])

    def window_tau_hat(self, w_hat: torch.Tensor) -> torch.Tensor:
        """``τ̂_G`` of every frame of windows ``(B, T, n, n // 2 + 1)`` on the stored grid,
        each frame with the window's earlier frames (:attr:`window`; lags and memory clamped
        at the window's first frame), ``T > history``; same shape."""
        batch, frames = w_hat.shape[:2]
        if frames <= self.history:
            raise SpectralRefinerError(
                f"this closure ({self.window.describe()}) needs windows of at least "
                f"{self.history + 1} frames, got {frames}: pass longer windows or train one "
                "with shorter --lags/--memory"
            )
        x_hat = window_inputs_hat(self._work, w_hat.to(self._work.cdtype), self.window)
        return self._map(x_hat.flatten(0, 1)).unflatten(0, (batch, frames))

    def _map(self, x_hat: torch.Tensor) -> torch.Tensor:
        """``s_τ P G(x / s_x)`` from unscaled input coefficients ``(N, C, n, n // 2 + 1)``."""
        work = self._work
        x_hat = x_hat / self._scale.reshape(-1, 1, 1)
        if isinstance(self.model, ShellGains):
            out = self.model.forward_hat(x_hat)[:, 0]
        else:
            out = work.rfft(self.model(work.irfft(x_hat))[:, 0])
        return out.to(self._stored.cdtype) * self.output_scale * self._band

    def _per_frame(self) -> None:
        if self.history:
            raise SpectralRefinerError(
                f"this closure ({self.window.describe()}) closes the residual of a window of "
                "frames, not a single frame or a solver step: train one without --lags and "
                "--memory for that"
            )

    def tau(self, w: torch.Tensor) -> torch.Tensor:
        """``τ_G`` as real fields ``(..., n, n)`` of stored frames ``(..., n, n)``."""
        coarse = self.stored_grid
        return coarse.irfft(self.tau_hat(coarse.rfft(w.to(coarse.dtype))))

    def term_hat(self, w_hat: torch.Tensor) -> torch.Tensor:
        """``Ĉ = -τ̂_G`` for coefficients on :attr:`grid`, same shape (module docstring)."""
        g, n = self.grid, self.resolution
        tau = self.tau_hat(w_hat if g.n == n else g.resample_hat(w_hat, n))
        tau = tau if g.n == n else self.stored_grid.resample_hat(tau, g.n)
        return -tau * g.dealias

    def window_term_hat(self, w_hat: torch.Tensor, dt: float) -> torch.Tensor:
        """``Ĉ = -τ̂_G`` of every frame of windows ``(B, T, m, m // 2 + 1)`` on :attr:`grid`
        whose frames are ``dt`` apart (the residual's closure protocol for a closure with
        :attr:`history`); same shape."""
        interval = self.window.frame_interval
        if not math.isclose(dt, interval, rel_tol=1e-4):
            raise SpectralRefinerError(
                f"this closure ({self.window.describe()}) was trained on frames {interval:g} "
                f"apart, the residual's are {dt:g} apart: train it on frames {dt:g} apart"
                + _stride_hint(dt, interval)
            )
        g, n = self.grid, self.resolution
        tau = self.window_tau_hat(w_hat if g.n == n else g.resample_hat(w_hat, n))
        tau = tau if g.n == n else self.stored_grid.resample_hat(tau, g.n)
        return -tau * g.dealias

    def on_grid(self, n: int) -> AprioriClosure:
        """The same closure evaluated on ``n`` points."""
        if n == self.grid.n:
            return self
        return dataclasses.replace(self, grid=self.grid.with_resolution(n))

    def payload(self) -> dict[str, Any]:
        """What :func:`save_closure` writes."""
        return {
            "format": FORMAT,
            "model": (
                self.model.payload()
                if isinstance(self.model, ShellGains)
                else model_payload(self.model)
            ),
            "resolution": self.resolution,
            "box_length": self.grid.length,
            "inputs": self.inputs,
            "input_scale": list(self.input_scale),
            "output_scale": float(self.output_scale),
            **({"window": dataclasses.asdict(self.window)} if self.window.history else {}),
            **self.record,
        }


def closure_inputs_hat(grid: SpectralGrid, w_hat: torch.Tensor, inputs: str) -> torch.Tensor:
    """Coefficients ``(B, C, n, n // 2 + 1)`` of the model's unscaled inputs ``ω``,
    ``(ω, u, v)`` or ``(ω, F A, T_1, T_2)`` from coefficients ``(B, n, n // 2 + 1)`` on
    ``grid``."""
    w_hat = w_hat.unsqueeze(1)
    if inputs == "vorticity":
        return w_hat
    if inputs == "transfer":
        return torch.cat((w_hat, resolved_transfer_hat(w_hat[:, 0], grid)), dim=1)
    psi = grid.stream_function(w_hat)
    return torch.cat((w_hat, psi * grid.iky, -psi * grid.ikx), dim=1)


def window_inputs_hat(
    grid: SpectralGrid, w_hat: torch.Tensor, window: ClosureWindow
) -> torch.Tensor:
    """``(ω̄, F A, T_1, T_2, ...)`` of every frame of windows ``(B, T, n, n // 2 + 1)``: the
    transfer inputs followed by the window's channels
    (:func:`~spectral_refiner.physics.window_transfer_hat`), ``(B, T, C, n, n // 2 + 1)``."""
    terms = window_transfer_hat(
        w_hat,
        grid,
        window.lags,
        window.memory,
        (window.viscosity, window.drag),
        window.frame_interval,
        window.substeps,
    )
    return torch.cat((w_hat.unsqueeze(2), terms), dim=2)


def closure_inputs(grid: SpectralGrid, w_hat: torch.Tensor, inputs: str) -> torch.Tensor:
    """The model's unscaled input fields ``(B, C, n, n)`` (:func:`closure_inputs_hat`)."""
    return grid.irfft(closure_inputs_hat(grid, w_hat, inputs))
