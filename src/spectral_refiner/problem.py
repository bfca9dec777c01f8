"""The task a file or a run is about, as one frozen record: everything downstream derives from it.

A :class:`Problem` holds the equation's fields (box length ``L``, viscosity ``ν``, drag ``μ``,
the forcing's name, wavenumber and amplitude, and a closure spec when there is one) of

    ∂tω + u·∇ω = νΔω - μω + f   on [0, L)^2,

the spacing ``dt`` of the frames, the stored resolution ``n``, and for a run the window
(``t_in`` input and ``t_out`` output frames at every ``stride``-th stored frame, so a run's
``dt`` is the stored spacing times ``stride``) and the shift ``α`` of the ``H^-1`` weight
``(α + |k|^2)^-1`` its residual and estimate use. A dataset file's Problem has no window.

Every dataset file (root attribute ``problem``) and every checkpoint (``"problem"``) holds one
as JSON; files and checkpoints written before it existed get theirs derived from their recipe
(:meth:`Problem.from_fields`). When a run meets a file, :func:`check_compatible` compares them.

Imports the physics only.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

import torch

from .errors import SpectralRefinerError
from .physics import NavierStokes2D, Residual, SpectralGrid, make_closure, make_forcing

__all__ = ["EQUATION_FIELDS", "PHYSICS_FIELDS", "Problem", "check_compatible"]

PHYSICS_FIELDS = ("viscosity", "drag", "forcing", "forcing_wavenumber", "forcing_amplitude")
"""Fields a run may meet under other values with an explicit flag (refining under another ν)."""
EQUATION_FIELDS = ("box_length", *PHYSICS_FIELDS)
"""The equation's scalar fields, as a dataset recipe (a preset) names them."""


@dataclass(frozen=True)
class Problem:
    """A task: the equation, the frames' spacing and resolution, and a run's window and α.

    Attributes
    ----------
    box_length, viscosity, drag : float
        ``L``, ``ν`` and ``μ`` of the module docstring.
    forcing : str
        Forcing name (``none``, ``kolmogorov``, ``fno``), with ``forcing_wavenumber`` and
        ``forcing_amplitude``.
    dt : float
        Time between frames (a run's: between the frames of a window).
    resolution : int
        Stored (a run's: trained) resolution ``n``.
    closure : dict or None
        A closure spec such as ``{"name": "smagorinsky", "coefficient": 0.17}``; ``None`` for
        the plain equation.
    t_in, t_out, stride : int or None
        A run's window; ``None`` for a dataset file.
    alpha : float
        Shift of the ``H^-1`` weight of the residual and the estimate.
    """

    box_length: float
    viscosity: float
    drag: float
    forcing: str
    forcing_wavenumber: int
    forcing_amplitude: float
    dt: float
    resolution: int
    closure: dict[str, Any] | None = None
    t_in: int | None = None
    t_out: int | None = None
    stride: int | None = None
    alpha: float = 1.0

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_fields(
        cls, fields: dict[str, Any], dt: float, resolution: int, **extra: Any
    ) -> Problem:
        """The Problem of a recipe's fields (a preset's, or a file's ``preset_fields``)."""
        try:
            equation = {key: fields[key] for key in EQUATION_FIELDS}
        except KeyError as exc:
            raise SpectralRefinerError(
                f"the recipe does not record the equation's {exc.args[0]}: regenerate the file "
                "with `spectral-refiner generate`"
            ) from None
        return cls(
            **equation,
            closure=fields.get("closure"),
            dt=float(dt),
            resolution=int(resolution),
            **extra,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able fields."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, record: dict[str, Any] | str) -> Problem:
        """Inverse of :meth:`to_dict` (or of :meth:`to_json`)."""
        if isinstance(record, str):
            record = json.loads(record)
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in names})

    @classmethod
    def from_checkpoint(cls, payload: dict[str, Any], where: str = "the checkpoint") -> Problem:
        """A checkpoint's Problem: its ``"problem"`` record, or for a checkpoint written before
        the Problem existed, derived from its ``"data"`` record and its config's α."""
        if "problem" in payload:
            return cls.from_dict(payload["problem"])
        data = payload.get("data")
        if data is None:
            raise SpectralRefinerError(f"{where} does not record its training data: retrain")
        alpha = payload.get("config", {}).get("loss", {}).get("alpha", 1.0)
        return cls.from_fields(
            data["preset"],
            data["dt"],
            data["resolution"],
            t_in=data["t_in"],
            t_out=data["t_out"],
            stride=data["frame_stride"],
            alpha=alpha,
        )

    def with_window(self, t_in: int, t_out: int, stride: int = 1, alpha: float = 1.0) -> Problem:
        """A run's Problem on this data: the window, and ``dt`` the windows' frame spacing."""
        return dataclasses.replace(
            self, t_in=t_in, t_out=t_out, stride=stride, dt=self.dt * stride, alpha=alpha
        )

    # ---------------------------------------------------------------- derived objects
    def equation(
        self,
        n: int | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> NavierStokes2D:
        """The equation on an ``n``² grid (default: the stored resolution)."""
        grid = SpectralGrid(n or self.resolution, self.box_length, dtype, device)
        forcing = make_forcing(self.forcing, grid, self.forcing_wavenumber, self.forcing_amplitude)
        # The closure's filter width is the stored grid's spacing, on whatever grid it is built.
        equation = {key: getattr(self, key) for key in EQUATION_FIELDS}
        closure = make_closure(
            self.closure, grid, width=self.box_length / self.resolution, equation=equation
        )
        return NavierStokes2D(grid, self.viscosity, self.drag, forcing, closure=closure)

    def residual(
        self,
        n: int | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> Residual:
        """The residual and estimate of this Problem's equation, ``dt`` and ``α`` on ``n``²."""
        return Residual(self.equation(n, device, dtype), self.dt, self.alpha)

    @property
    def span(self) -> int:
        """Stored frames one window covers, ``(t_in + t_out - 1) stride + 1``."""
        if self.t_in is None or self.t_out is None or self.stride is None:
            raise SpectralRefinerError("a dataset file's Problem has no window")
        return (self.t_in + self.t_out - 1) * self.stride + 1

    def physics_note(self, other: Problem) -> str:
        """``ν 0.001 -> 0.0001, ...``: the physics fields in which ``other`` differs."""
        return ", ".join(
            f"{key} {getattr(self, key)} -> {getattr(other, key)}"
            for key in PHYSICS_FIELDS
            if not _same(getattr(self, key), getattr(other, key))
        )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-12)
    return a == b


def check_compatible(
    file: Problem,
    run: Problem,
    *,
    source: str = "the file",
    allow_physics: bool = False,
) -> str | None:
    """Check that a file's frames can be read by a run; the one-line error names the field.

    Per field:

    * box, closure and the frame spacing (the file's ``dt`` times the run's ``stride`` against
      the run's ``dt``) must agree: a model reads windows of its training spacing and box, and
      of the equation (closure included) its training data solved. A closure chosen at use
      time for the residual, the estimate and the refiner (``--closure``,
      :func:`spectral_refiner.evaluation.residual_problem`) is not compared here: it changes
      how predictions are judged, never what the model was trained on;
    * ν, drag and forcing must agree unless ``allow_physics`` (the equation is then the
      file's); the difference is returned as a one-line note for the caller to print;
    * resolution: a file at the run's or a finer resolution is read spectrally truncated to
      the run's (as every stored frame is made; predictions can still be made on a finer
      grid, ``--resolution``); a coarser one lacks modes the model was trained with: error.

    Returns
    -------
    str or None
        The note on allowed physics differences, or ``None`` when there is none.
    """
    for key in ("box_length", "closure"):
        if not _same(getattr(file, key), getattr(run, key)):
            raise SpectralRefinerError(
                f"{source} has {key} {getattr(file, key)} but the run was trained with "
                f"{getattr(run, key)}: use data of the run's problem"
            )
    stride = run.stride or 1
    if not math.isclose(file.dt * stride, run.dt, rel_tol=1e-5):
        raise SpectralRefinerError(
            f"{source} has frames {file.dt:g} apart, so windows at stride {stride} are "
            f"{file.dt * stride:g} apart, but the run was trained on windows {run.dt:g} apart: "
            "use a file with the training frame interval"
        )
    if file.resolution < run.resolution:
        raise SpectralRefinerError(
            f"{source} has resolution {file.resolution} but the run was trained at "
            f"{run.resolution}: use a file at resolution >= {run.resolution}"
        )
    note = run.physics_note(file)
    if note and not allow_physics:
        first = next(k for k in PHYSICS_FIELDS if not _same(getattr(file, k), getattr(run, k)))
        raise SpectralRefinerError(
            f"{source} has {first} {getattr(file, first)} but the run was trained with "
            f"{getattr(run, first)}: use data of the run's problem, or pass "
            "--physics-from-file to use the file's equation"
        )
    return f"note: using {source}'s equation, not the run's ({note})" if note else None
