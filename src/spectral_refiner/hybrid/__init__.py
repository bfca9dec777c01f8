"""Hybrid solvers: the coarse spectral solver with a learned correction, either as a term of
the equation (:class:`LearnedClosure`) or as a correction of the state after each step
(:class:`SolverInTheLoop`), rolled out and trained through the solver
(:func:`rollout`, :func:`unrolled_loss`), and as a model the trainer optimises
(:class:`HybridModel`, registered as ``hybrid``); and the learned a-priori subgrid closure
(:class:`AprioriClosure`, a ``cnn`` or the linear :class:`ShellGains`, per shell or per
mode, on the resolved transfer terms, closure spec ``{"name": "learned", "path": FILE}``,
registered on import). Imports physics and models."""

from .apriori import (
    CLOSURE_INPUTS,
    AprioriClosure,
    ClosureWindow,
    closure_inputs,
    closure_inputs_hat,
    window_inputs_hat,
)
from .closure_file import load_closure, save_closure
from .corrector import INPUTS, Corrector
from .model import BASES, FORMS, HybridModel
from .shells import TYINGS, ShellGains
from .solvers import LearnedClosure, SolverInTheLoop
from .unroll import rollout, unrolled_loss

__all__ = [
    "BASES",
    "CLOSURE_INPUTS",
    "FORMS",
    "INPUTS",
    "TYINGS",
    "AprioriClosure",
    "ClosureWindow",
    "Corrector",
    "HybridModel",
    "LearnedClosure",
    "ShellGains",
    "SolverInTheLoop",
    "closure_inputs",
    "closure_inputs_hat",
    "load_closure",
    "rollout",
    "save_closure",
    "unrolled_loss",
    "window_inputs_hat",
]
