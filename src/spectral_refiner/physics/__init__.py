"""Physics core: spectral grid, 2-D Navier–Stokes, IMEX time stepping, forcings,
initial conditions, closures, the subgrid term of a filtered field, diagnostics, Sobolev
norms, the PDE residual and the honest estimate (floor, error transport). Imports torch and
numpy only."""

from .closures import (
    CLOSURES,
    Closure,
    DynamicSmagorinsky,
    EddyViscosityClosure,
    Leith,
    Smagorinsky,
    make_closure,
    register_closure,
)
from .diagnostics import energy_spectrum, enstrophy, kinetic_energy, vorticity_correlation
from .error_estimate import (
    ESTIMATE_COLUMNS,
    excess_error,
    floor_error,
    honest_estimate,
    refined_estimate,
    refinement_bound,
    resolution_floor,
    transported_error,
)
from .forcings import FORCINGS, fno_forcing, kolmogorov_forcing, make_forcing
from .grid import SpectralGrid, resample
from .initial_conditions import (
    INITIAL_CONDITIONS,
    fno_gaussian_random_field,
    make_initial_condition,
    mcwilliams,
    perturbed_shear_layer,
    random_vortices,
    taylor_green,
    taylor_green_exact,
    trajectory_generator,
)
from .memory import ring_memory, unresolved_memory_hat, window_transfer_hat
from .navier_stokes import NavierStokes2D
from .norms import (
    bochner_norm,
    relative_bochner_error,
    relative_sobolev_error,
    sobolev_norm,
    sobolev_norm_hat,
)
from .residual import (
    Residual,
    band_forcing,
    estimate,
    ns_residual,
    prediction_estimate,
    prediction_trajectory,
    residual_and_estimate,
    residual_norm,
)
from .simulate import simulate
from .subgrid import (
    gradient_model_hat,
    resolved_transfer_hat,
    subgrid_term,
    subgrid_term_hat,
    transfer_fields,
    transfer_grid,
)
from .time_stepping import SCHEMES, IMEXScheme, get_scheme, imex_step

__all__ = [
    "CLOSURES",
    "ESTIMATE_COLUMNS",
    "FORCINGS",
    "INITIAL_CONDITIONS",
    "SCHEMES",
    "Closure",
    "DynamicSmagorinsky",
    "EddyViscosityClosure",
    "IMEXScheme",
    "Leith",
    "NavierStokes2D",
    "Residual",
    "Smagorinsky",
    "SpectralGrid",
    "band_forcing",
    "bochner_norm",
    "energy_spectrum",
    "enstrophy",
    "estimate",
    "excess_error",
    "floor_error",
    "fno_forcing",
    "fno_gaussian_random_field",
    "get_scheme",
    "gradient_model_hat",
    "honest_estimate",
    "imex_step",
    "kinetic_energy",
    "kolmogorov_forcing",
    "make_closure",
    "make_forcing",
    "make_initial_condition",
    "mcwilliams",
    "ns_residual",
    "perturbed_shear_layer",
    "prediction_estimate",
    "prediction_trajectory",
    "random_vortices",
    "refined_estimate",
    "refinement_bound",
    "register_closure",
    "relative_bochner_error",
    "relative_sobolev_error",
    "resample",
    "residual_and_estimate",
    "residual_norm",
    "resolution_floor",
    "resolved_transfer_hat",
    "ring_memory",
    "simulate",
    "sobolev_norm",
    "sobolev_norm_hat",
    "subgrid_term",
    "subgrid_term_hat",
    "taylor_green",
    "taylor_green_exact",
    "trajectory_generator",
    "transfer_fields",
    "transfer_grid",
    "transported_error",
    "unresolved_memory_hat",
    "vorticity_correlation",
    "window_transfer_hat",
]
