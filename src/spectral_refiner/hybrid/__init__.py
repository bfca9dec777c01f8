"""Hybrid solvers: the coarse spectral solver with a learned correction, either as a term of
the equation (:class:`LearnedClosure`) or as a correction of the state after each step
(:class:`SolverInTheLoop`), rolled out and trained through the solver
(:func:`rollout`, :func:`unrolled_loss`), and as a model the trainer optimises
(:class:`HybridModel`, registered as ``hybrid``). Imports physics and models."""

from .corrector import INPUTS, Corrector
from .model import FORMS, HybridModel
from .solvers import LearnedClosure, SolverInTheLoop
from .unroll import rollout, unrolled_loss

__all__ = [
    "FORMS",
    "INPUTS",
    "Corrector",
    "HybridModel",
    "LearnedClosure",
    "SolverInTheLoop",
    "rollout",
    "unrolled_loss",
]
