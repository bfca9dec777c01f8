"""Time-independent forcings, returned as the vorticity forcing field ``f = curl F``."""

from __future__ import annotations

import math

import torch

from ..errors import SpectralRefinerError
from .grid import SpectralGrid

__all__ = ["FORCINGS", "fno_forcing", "kolmogorov_forcing", "make_forcing"]


def kolmogorov_forcing(
    grid: SpectralGrid, wavenumber: int = 4, amplitude: float = 1.0
) -> torch.Tensor:
    """Kolmogorov forcing ``F = (A sin(k y), 0)`` with ``k = 2π m / L``, as vorticity.

    ``f = ∂x F_y - ∂y F_x = -A k cos(k y)``; on the 2π box with ``m = 4`` this is the
    setting of Kochkov et al. (2021), used there with linear drag 0.1 and ν = 1e-3.
    """
    if int(wavenumber) != wavenumber or wavenumber < 1:
        raise SpectralRefinerError(
            f"forcing wavenumber must be a positive integer, got {wavenumber}"
        )
    if wavenumber > grid.n // 3:
        raise SpectralRefinerError(
            f"resolution {grid.n} is too small for forcing wavenumber {wavenumber}: "
            f"use a resolution of at least {3 * int(wavenumber) + 3} (it must exceed 3x the "
            "wavenumber)"
        )
    k = 2 * math.pi * wavenumber / grid.length
    _, Y = grid.mesh()
    return -amplitude * k * torch.cos(k * Y)


def fno_forcing(grid: SpectralGrid, amplitude: float = 0.1) -> torch.Tensor:
    """The FNO benchmark forcing ``f = A (sin 2π(x+y)/L + cos 2π(x+y)/L)``, A = 0.1.

    On the unit box this is ``0.1 (sin 2π(x+y) + cos 2π(x+y))`` (Li et al. 2020).
    """
    if grid.n < 6:
        raise SpectralRefinerError(
            f"resolution {grid.n} is too small for the FNO forcing: use at least 6"
        )
    X, Y = grid.mesh()
    phase = 2 * math.pi * (X + Y) / grid.length
    return amplitude * (torch.sin(phase) + torch.cos(phase))


FORCINGS = ("none", "kolmogorov", "fno")


def make_forcing(
    name: str, grid: SpectralGrid, wavenumber: int = 4, amplitude: float | None = None
) -> torch.Tensor | None:
    """Forcing field by name (``none``, ``kolmogorov``, ``fno``); ``None`` for no forcing."""
    if name == "none":
        return None
    if name == "kolmogorov":
        return kolmogorov_forcing(grid, wavenumber, 1.0 if amplitude is None else amplitude)
    if name == "fno":
        return fno_forcing(grid, 0.1 if amplitude is None else amplitude)
    raise SpectralRefinerError(f"unknown forcing {name!r}: choose one of {', '.join(FORCINGS)}")
