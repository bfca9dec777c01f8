"""Flow diagnostics of vorticity fields ``(..., n, n)``, computed spectrally by Parseval.

With ``ŵ`` the forward-normalised coefficients (see :mod:`.grid`), box averages are sums
over the full spectrum; ``⟨·⟩`` below is the mean over the box.
"""

from __future__ import annotations

import torch

from .grid import SpectralGrid

__all__ = ["energy_spectrum", "enstrophy", "kinetic_energy", "vorticity_correlation"]


def _spectral_density(w: torch.Tensor, grid: SpectralGrid) -> torch.Tensor:
    """Full-spectrum weight of each stored mode of ``½|û|^2 = ½|ω̂|^2/|k|^2``."""
    w_hat = grid.rfft(w.to(device=grid.device, dtype=grid.dtype))
    return 0.5 * w_hat.abs().square() * grid.inv_k2 * grid.half_weight


def kinetic_energy(w: torch.Tensor, grid: SpectralGrid) -> torch.Tensor:
    """Mean kinetic energy ``E = ½⟨|u|^2⟩ = ½ Σ_k |ω̂_k|^2 / |k|^2`` per field."""
    return _spectral_density(w, grid).sum(dim=(-2, -1))


def enstrophy(w: torch.Tensor, grid: SpectralGrid) -> torch.Tensor:
    """Mean enstrophy ``Z = ½⟨ω^2⟩ = ½ Σ_k |ω̂_k|^2`` per field."""
    w_hat = grid.rfft(w.to(device=grid.device, dtype=grid.dtype))
    return 0.5 * (w_hat.abs().square() * grid.half_weight).sum(dim=(-2, -1))


def energy_spectrum(w: torch.Tensor, grid: SpectralGrid) -> tuple[torch.Tensor, torch.Tensor]:
    """Isotropic energy spectrum ``E(k)`` summed over shells of integer ``|m|``.

    Shell ``j`` holds the modes with ``round(|m|) = j`` (``k = 2π|m|/L``), so that
    ``Σ_j E_j = E`` exactly (the corner modes beyond ``n/2`` included).

    Returns
    -------
    k : Tensor
        Shell wavenumbers ``2π j / L``, shape ``(n_shells,)``.
    E : Tensor
        ``(..., n_shells)``.
    """
    dens = _spectral_density(w, grid)
    shell = torch.sqrt(grid.mx**2 + grid.my**2).round().to(torch.int64).expand(dens.shape[-2:])
    n_shells = int(shell.max()) + 1
    flat = dens.reshape(*dens.shape[:-2], -1)
    out = flat.new_zeros((*flat.shape[:-1], n_shells))
    out.index_add_(-1, shell.reshape(-1).to(flat.device), flat)
    k = 2 * torch.pi / grid.length * torch.arange(n_shells, dtype=grid.dtype, device=grid.device)
    return k, out


def vorticity_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of two vorticity fields over the box, per field.

    ``ρ = ⟨(a - ā)(b - b̄)⟩ / sqrt(⟨(a - ā)^2⟩ ⟨(b - b̄)^2⟩)``, the accuracy measure of
    Kochkov et al. (2021); 1 for identical fields.
    """
    a = a - a.mean(dim=(-2, -1), keepdim=True)
    b = b - b.mean(dim=(-2, -1), keepdim=True)
    num = (a * b).sum(dim=(-2, -1))
    den = torch.sqrt(a.square().sum(dim=(-2, -1)) * b.square().sum(dim=(-2, -1)))
    return num / den
