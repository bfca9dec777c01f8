r"""A hybrid solver as a trainable model: ``model(w_in)`` rolls the corrected coarse solver out.

:class:`HybridModel` is a :class:`~spectral_refiner.models.NeuralOperator` (registered as
``hybrid``) so the trainer, its checkpoints and DDP take it as any other model. A window
``(w_0)`` of one frame maps to the next ``K = t_out`` frames

.. math::

    \omega_k = \Phi^{s}_{\Delta t}(\omega_{k-1}),\qquad k = 1..K,

``Φ`` one step of the hybrid (``form = "closure"``: :class:`~.solvers.LearnedClosure`, the
learned term in every stage; ``form = "state"``: :class:`~.solvers.SolverInTheLoop`, the
state corrected after each step), ``s = steps_per_frame`` steps of size ``dt`` between frames
(``s Δt`` = the frames' spacing). The coarse solver advances the stored ``n``² band either on the
``n``² grid with its 2/3 rule (``base = "two-thirds"``, which carries the modes beyond
``n/3`` but never advects them) or on a ``3n/2``² grid (``base = "all-modes"``), whose 2/3
rule dealiases every stored mode ``|m| < n/2``: the frame is zero-padded to it, the
correction acts on the state truncated to ``n`` and is zero-padded back, and the frames are
truncated to ``n`` (:meth:`HybridModel.advance`). The relative error of this rollout
against the stored frames is :func:`~.unroll.unrolled_loss`. The equation comes from the run's
:class:`~spectral_refiner.problem.Problem` (a constructor argument, so a checkpoint rebuilds
the hybrid from its payload alone) and follows the model's dtype and device (``model.to``).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..errors import SpectralRefinerError
from ..models import NeuralOperator, build_model, register
from ..physics import resample
from ..problem import Problem
from .corrector import INPUTS, Corrector
from .solvers import LearnedClosure, SolverInTheLoop
from .unroll import rollout

__all__ = ["BASES", "FORMS", "HybridModel"]

#: The hybrid's class by form name.
FORMS = {"closure": LearnedClosure, "state": SolverInTheLoop}
#: The coarse solver's grid per stored resolution ``n``, by base name (module docstring).
BASES = {"two-thirds": lambda n: n, "all-modes": lambda n: 3 * n // 2}


@register("hybrid")
class HybridModel(NeuralOperator):
    """The corrected coarse solver rolled out ``t_out`` frames from one (module docstring).

    Parameters
    ----------
    t_in, t_out : int
        ``t_in`` must be 1 (the initial frame); ``t_out`` frames are rolled out.
    problem : dict
        :meth:`Problem.to_dict <spectral_refiner.problem.Problem.to_dict>` of the coarse
        equation (its ``resolution`` is the coarse grid, its ``dt`` the frames' spacing).
    form : str
        ``closure`` or ``state``.
    inputs : str
        The corrector's inputs, ``vorticity`` or ``vorticity-velocity``.
    corrector : dict
        ``{"name": ..., **arguments}`` of a registered model (``t_in``/``t_out`` set here).
    steps_per_frame : int
        Coarse steps between frames.
    dt : float
        Coarse step; ``steps_per_frame · dt`` must equal the frames' spacing.
    checkpoint : bool
        Gradient checkpointing per frame (same gradient, less memory).
    correct_every : int
        State form only: the state is corrected after every ``m``-th coarse step
        (:class:`~.solvers.SolverInTheLoop`; 1: every step); ``m`` divides
        ``steps_per_frame`` or is a multiple of it (a correction every ``m / s`` frames).
    base : str
        ``two-thirds`` (the coarse solver on the ``n``² grid) or ``all-modes`` (on the
        ``3n/2``² grid, every stored mode dealiased; module docstring).
    input_scale : list of float, optional
        The corrector's input scales ``s_x``, one per channel (default 1; a run takes
        the training frames' root mean squares, :func:`~spectral_refiner.training.hybrid_kwargs`).
    output_scale : float, optional
        The correction's scale ``s_c`` (default 1; a run takes ``σ²`` for a closure term, a
        rate, and ``σ`` for a state correction, ``σ`` the training vorticity's root mean square).
    """

    data_normalization = False  # the solver advances physical vorticity
    run_settings = frozenset(
        {"problem", "steps_per_frame", "dt", "checkpoint", "correct_every"}
        | {"input_scale", "output_scale"}
    )

    def __init__(
        self,
        t_in: int = 1,
        t_out: int = 1,
        problem: dict[str, Any] | None = None,
        form: str = "closure",
        inputs: str = "vorticity",
        corrector: dict[str, Any] | None = None,
        steps_per_frame: int = 2,
        dt: float = 0.01,
        checkpoint: bool = False,
        correct_every: int = 1,
        base: str = "two-thirds",
        input_scale: list[float] | None = None,
        output_scale: float | None = None,
    ) -> None:
        super().__init__()
        if problem is None:
            raise SpectralRefinerError(
                "hybrid: the model needs the data's Problem; train it with --data FILE"
            )
        if t_in != 1:
            raise SpectralRefinerError(
                f"hybrid: a sample starts from one frame, got data.t_in={t_in}: set data.t_in=1"
            )
        if form not in FORMS:
            raise SpectralRefinerError(
                f"hybrid: unknown form {form!r}: choose one of {', '.join(FORMS)}"
            )
        if inputs not in INPUTS:
            raise SpectralRefinerError(
                f"hybrid: unknown inputs {inputs!r}: choose one of {', '.join(INPUTS)}"
            )
        if base not in BASES:
            raise SpectralRefinerError(
                f"hybrid: unknown base {base!r}: choose one of {', '.join(BASES)}"
            )
        spacing = Problem.from_dict(problem).dt
        if int(steps_per_frame) != steps_per_frame or steps_per_frame < 1 or not dt > 0:
            raise SpectralRefinerError(
                f"hybrid: steps_per_frame must be a positive integer and dt positive, got "
                f"{steps_per_frame} and {dt}"
            )
        if not math.isclose(steps_per_frame * dt, spacing, rel_tol=1e-9):
            raise SpectralRefinerError(
                f"hybrid: steps_per_frame x dt = {steps_per_frame} x {dt:g} must equal the "
                f"frames' spacing {spacing:g}: set model.steps_per_frame={spacing / dt:g} "
                "or a dt that divides it"
            )
        if (
            int(correct_every) != correct_every
            or correct_every < 1
            or (steps_per_frame % correct_every and correct_every % steps_per_frame)
            or (form == "closure" and correct_every != 1)
        ):
            raise SpectralRefinerError(
                f"hybrid: correct_every={correct_every} must be a positive divisor or multiple "
                f"of steps_per_frame={steps_per_frame}, and 1 in the closure form (its term acts "
                "in every stage): set model.correct_every accordingly"
            )
        spec = dict(corrector or {"name": "cnn"})
        self.config["corrector"] = dict(spec)  # the default, made explicit
        name = spec.pop("name", None)
        self.t_in, self.t_out = 1, t_out
        self.form, self.inputs, self.problem = form, inputs, dict(problem)
        self.steps_per_frame, self.dt, self.checkpoint = int(steps_per_frame), dt, checkpoint
        self.correct_every, self.base = int(correct_every), base
        self.input_scale = list(input_scale or [1.0])
        self.output_scale = 1.0 if output_scale is None else float(output_scale)
        self.unroll: int | None = None  # frames of a training rollout (curriculum), else t_out
        self.net = build_model(name, t_in=INPUTS[inputs], t_out=1, **spec)
        self.gain = torch.nn.Parameter(torch.zeros(()))
        self._build(torch.float32, torch.device("cpu"))

    def _build(self, dtype: torch.dtype, device: torch.device) -> None:
        """The hybrid on a grid of ``dtype`` and ``device``, sharing the net and the gain."""
        problem = Problem.from_dict(self.problem)
        n = problem.resolution
        equation = problem.equation(BASES[self.base](n), device=device, dtype=dtype)
        corrector = Corrector(
            self.net,
            equation.grid.with_resolution(n),
            self.inputs,
            0.0,
            self.input_scale,
            self.output_scale,
        )
        corrector.gain = self.gain
        # Not a submodule: its parameters are the net and the gain, registered here once.
        every = {"every": self.correct_every} if self.form == "state" else {}
        object.__setattr__(self, "hybrid", FORMS[self.form](equation, corrector, **every))

    def _apply(self, fn: Any, recurse: bool = True) -> HybridModel:
        # ``model.to(...)`` moves the parameters; the grid (not a module) follows them.
        super()._apply(fn, recurse)
        grid = self.hybrid.grid
        if (grid.dtype, grid.device) != (self.gain.dtype, self.gain.device):
            self._build(self.gain.dtype, self.gain.device)
        return self

    @property
    def resolution(self) -> int:
        """The stored resolution ``n`` the hybrid takes and returns frames at."""
        return self.hybrid.corrector.grid.n

    def advance(self, w0: torch.Tensor, frames: int) -> torch.Tensor:
        """``(B, n, n) -> (B, frames, n, n)``: the hybrid's rollout from ``w0`` at the stored
        resolution (zero-padded to the solver's grid and truncated back, module docstring),
        with the driver's blow-up guard."""
        n, g = self.resolution, self.hybrid.grid.n
        out = rollout(
            self.hybrid,
            resample(w0, g),
            frames,
            self.steps_per_frame,
            self.dt,
            checkpoint=self.checkpoint,
        )
        return resample(out, n)

    def operator(self, z: torch.Tensor, **conditioning: torch.Tensor) -> torch.Tensor:
        """``(B, 1, n, n) -> (B, K, n, n)``: the rollout of the module docstring, ``K`` =
        :attr:`unroll` frames in training mode when set (the trainer's curriculum), else
        ``t_out``."""
        n = self.resolution
        if z.shape[-2:] != (n, n):
            raise SpectralRefinerError(
                f"a hybrid run advances its coarse {n}^2 grid only, got frames of "
                f"{z.shape[-2]}x{z.shape[-1]}: use it at resolution {n} (no --resolution)"
            )
        frames = self.unroll if self.training and self.unroll else self.t_out
        return self.advance(z[:, 0], frames).to(z.dtype)
