"""Peers this project measures itself against, behind one small interface each.

torch-cfd 0.2.6 (the PyTorch port of jax-cfd): every internal tensor takes torch's *default*
dtype, so runs happen with the default dtype set to the requested one and put back
afterwards. Its state is ``rfft2`` of the vorticity with the default ("backward") norm;
``w[..., i, j]`` is at ``(i L / n, j L / n)`` as in this project.

Used by the cross-check tests and the benchmarks only; never imported by the package.
"""

from __future__ import annotations

import contextlib

import torch
import torch.fft as fft


def torch_cfd_available() -> bool:
    try:
        import torch_cfd.spectral  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def default_dtype(dtype):
    """Run torch-cfd with ``dtype`` as torch's default dtype (it reads it everywhere)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def build_torch_cfd(
    n,
    L,
    viscosity,
    drag,
    forcing="none",
    kolmogorov_k=4,
    kolmogorov_amp=1.0,
    forcing_field=None,
    low_storage=True,
):
    from torch_cfd.forcings import ForcingFn, KolmogorovForcing, SinCosForcing
    from torch_cfd.grids import Grid

    """torch-cfd's ``NavierStokes2DSpectral`` with its RK4 Crank–Nicolson stepper.

    Build and run it under the default dtype wanted (see :func:`default_dtype`).
    """
    from torch_cfd.spectral import NavierStokes2DSpectral, RK4CrankNicolsonStepper

    grid = Grid(shape=(n, n), domain=((0.0, L), (0.0, L)))
    if forcing == "none":
        forcing_fn = None
    elif forcing == "kolmogorov":
        forcing_fn = KolmogorovForcing(
            grid=grid, scale=kolmogorov_amp, wave_number=kolmogorov_k, diam=L, swap_xy=False
        )
    elif forcing == "fno":
        forcing_fn = SinCosForcing(grid=grid, scale=0.1, diam=L, wave_number=1, vorticity=True)
    elif forcing == "field":
        if forcing_field is None:
            raise ValueError("forcing='field' needs forcing_field (n, n)")

        class FixedVorticityForcing(ForcingFn):
            """Time-independent vorticity forcing given as an (n, n) physical field."""

            def __init__(self, grid, field):
                super().__init__(grid=grid, vorticity=True)
                self.field = field

            def vorticity_eval(self, grid=None, vorticity=None, time=None):
                return self.field

        forcing_fn = FixedVorticityForcing(grid, forcing_field.to(torch.get_default_dtype()))
    else:
        raise ValueError(f"unknown forcing {forcing!r}")
    return NavierStokes2DSpectral(
        viscosity=viscosity,
        grid=grid,
        drag=drag,
        smooth=True,
        forcing_fn=forcing_fn,
        step_fn=RK4CrankNicolsonStepper(low_storage=low_storage),
    )


def run_torch_cfd(
    w0: torch.Tensor,
    L: float,
    viscosity: float,
    drag: float,
    forcing: str,
    dt: float,
    n_steps: int,
    kolmogorov_k=4,
    kolmogorov_amp=1.0,
    forcing_field=None,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Advance physical vorticity w0 (B, n, n) by n_steps RK4-CN steps of size dt."""
    if w0.ndim == 2:
        w0 = w0[None]
    _, n, m = w0.shape
    assert n == m and n % 2 == 0, "square even grid expected"
    with default_dtype(dtype), torch.no_grad():
        ns2d = build_torch_cfd(
            n, L, viscosity, drag, forcing, kolmogorov_k, kolmogorov_amp, forcing_field
        )
        w_hat = fft.rfft2(w0.to(dtype))  # default 'backward' norm
        if n_steps > 0:
            w_hat, _ = ns2d(w_hat, dt, steps=n_steps)
        return fft.irfft2(w_hat, s=(n, n))
