"""Spectral-Refiner: label-free refinement of SFNO predictions by their Navier–Stokes residual
in L2(0, T; H^-1), the same functional that estimates each prediction's error (η)."""

from .refiner import Refinement, check_refinable, refine

__all__ = ["Refinement", "check_refinable", "refine"]
