"""Named dataset recipes: every parameter of a generated dataset, overridable with ``key=value``."""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass

import numpy as np

from ..coerce import coerce
from ..errors import SpectralRefinerError
from ..physics import FORCINGS, INITIAL_CONDITIONS, SCHEMES

__all__ = ["PRESETS", "Preset", "apply_overrides", "get_preset"]


@dataclass(frozen=True)
class Preset:
    """A dataset recipe.

    The stored frames are at ``t_j = warmup_time + j * frame_interval``, ``j = 0..n_frames-1``,
    simulated at ``sim_resolution`` and spectrally truncated to ``resolution``. With
    ``store_subgrid``, the exact subgrid term ``τ`` of every stored frame (from the fine field,
    :func:`~spectral_refiner.physics.subgrid_term`) is stored beside it (``subgrid/tau``).
    """

    name: str
    description: str
    box_length: float
    viscosity: float
    initial_condition: str
    drag: float = 0.0
    forcing: str = "none"
    forcing_wavenumber: int = 4
    forcing_amplitude: float = 1.0
    sim_resolution: int = 256
    resolution: int = 64
    warmup_time: float = 0.0
    frame_interval: float = 1.0
    n_frames: int = 11
    scheme: str = "rk4-cn"
    dt: float | None = None
    courant: float | None = 0.5
    n_trajectories: int = 100
    batch_size: int = 8
    store_subgrid: bool = False

    def times(self) -> np.ndarray:
        """Snapshot times, float64, shape ``(n_frames,)``."""
        return self.warmup_time + self.frame_interval * np.arange(self.n_frames, dtype=np.float64)

    def fields(self) -> dict[str, typing.Any]:
        """All fields as a plain dict (the provenance written into every file)."""
        return dataclasses.asdict(self)

    def validate(self) -> Preset:
        """Check every field; raise :class:`SpectralRefinerError` naming the first bad one."""

        def bad(key: str, why: str) -> SpectralRefinerError:
            return SpectralRefinerError(f"preset {self.name!r}: {key} {why}")

        for key in ("box_length", "frame_interval"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value > 0):
                raise bad(key, f"must be positive, got {value}")
        for key in ("viscosity", "drag", "warmup_time", "forcing_amplitude"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value >= 0):
                raise bad(key, f"must be >= 0, got {value}")
        for key in ("sim_resolution", "resolution"):
            value = getattr(self, key)
            if value < 8 or value % 2:
                raise bad(key, f"must be an even integer >= 8, got {value}")
        if self.resolution > self.sim_resolution:
            raise bad(
                "resolution",
                f"({self.resolution}) must not exceed sim_resolution ({self.sim_resolution}): "
                "stored data are spectral truncations of the simulation",
            )
        for key in ("n_frames", "n_trajectories", "batch_size"):
            if getattr(self, key) < 1:
                raise bad(key, f"must be >= 1, got {getattr(self, key)}")
        if self.forcing not in FORCINGS:
            raise bad("forcing", f"must be one of {', '.join(FORCINGS)}, got {self.forcing!r}")
        if self.initial_condition not in INITIAL_CONDITIONS:
            raise bad(
                "initial_condition",
                f"must be one of {', '.join(INITIAL_CONDITIONS)}, got {self.initial_condition!r}",
            )
        if self.scheme not in SCHEMES:
            raise bad("scheme", f"must be one of {', '.join(SCHEMES)}, got {self.scheme!r}")
        if (self.dt is None) == (self.courant is None):
            raise bad("dt", "and courant: set exactly one (the other to none)")
        if self.dt is not None and not self.dt > 0:
            raise bad("dt", f"must be positive, got {self.dt}")
        if self.store_subgrid and 2 * self.sim_resolution < 3 * self.resolution:
            raise bad(
                "store_subgrid",
                f"needs sim_resolution >= 3/2 resolution ({self.sim_resolution} < 3/2 "
                f"{self.resolution}): lower resolution or set store_subgrid=false",
            )
        bound = SCHEMES[self.scheme].max_courant
        if self.courant is not None and not 0 < self.courant <= bound:
            raise bad("courant", f"must be in (0, {bound}] for scheme {self.scheme}")
        return self


_FNO_COMMON = dict(
    box_length=1.0,
    initial_condition="fno-grf",
    forcing="fno",
    forcing_amplitude=0.1,
    sim_resolution=256,
    resolution=64,
    warmup_time=0.0,
    frame_interval=1.0,
    n_trajectories=1200,
    batch_size=20,
)

# Kolmogorov flow of Kochkov et al. (2021), past the transient, stored at 64^2.
_KOLMOGOROV = dict(
    box_length=2 * math.pi,
    viscosity=1e-3,
    drag=0.1,
    forcing="kolmogorov",
    forcing_wavenumber=4,
    forcing_amplitude=1.0,
    initial_condition="mcwilliams",
    resolution=64,
    warmup_time=30.0,
    batch_size=8,
)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="fno-nu1e-3",
            description="FNO benchmark (Li et al. 2020), nu=1e-3: frames t=0..50",
            viscosity=1e-3,
            n_frames=51,
            **_FNO_COMMON,
        ),
        Preset(
            name="fno-nu1e-4",
            description="FNO benchmark (Li et al. 2020), nu=1e-4: frames t=0..30",
            viscosity=1e-4,
            n_frames=31,
            **_FNO_COMMON,
        ),
        Preset(
            name="fno-nu1e-5",
            description="FNO benchmark (Li et al. 2020), nu=1e-5: frames t=0..20",
            viscosity=1e-5,
            n_frames=21,
            **_FNO_COMMON,
        ),
        Preset(
            name="mcwilliams-re1000",
            description="McWilliams decaying turbulence, 2pi box, nu=1e-3: frames t=4.5..10, "
            "0.05 apart",
            box_length=2 * math.pi,
            viscosity=1e-3,
            initial_condition="mcwilliams",
            sim_resolution=256,
            resolution=64,
            warmup_time=4.5,
            # 0.05, not 0.1: the residual's interval averages need it (η of the true
            # trajectories 0.034 at 0.05 against 0.078 at 0.1, README "Refinement")
            frame_interval=0.05,
            n_frames=111,
            n_trajectories=1152,
            batch_size=8,
        ),
        Preset(
            name="kolmogorov-re1000",
            description="Kolmogorov flow (Kochkov et al. 2021), 2pi box, nu=1e-3, k=4, drag 0.1",
            sim_resolution=256,
            frame_interval=0.25,
            n_frames=41,
            n_trajectories=256,
            **_KOLMOGOROV,
        ),
        # Filtered-DNS data for hybrid solvers and closures: frames a few coarse solver steps
        # apart, so that a training sample is a coarse frame plus the next K truncated frames.
        # 0.02 and not 0.04: the residual of the truncated frames with the exact subgrid term
        # is 0.03-0.05 of the residual without it at 0.02, 0.35-0.49 at 0.04 (the interval
        # averages' quadrature error), 0.002-0.004 at 0.01 (256^2 -> 64^2 Kolmogorov, t = 2;
        # python -m benchmarks.subgrid_apriori --fine 256 --coarse 64 --frame-dt 0.01 0.02 0.04).
        *(
            Preset(
                name=f"kolmogorov-dns{n}",
                description=(
                    f"Kolmogorov flow, 2pi box, nu=1e-3, k=4, drag 0.1: DNS {n}^2 stored at 64^2, "
                    "frames t=30..34 every 0.02 = 2 steps of 0.01, the 64^2 solver's CFL step "
                    "at Courant 0.5 (max|u|+|v| 4.5-4.9 at t=30-40, measured on two 128^2 runs)"
                ),
                sim_resolution=n,
                frame_interval=0.02,
                n_frames=201,
                n_trajectories=trajectories,
                store_subgrid=True,
                **_KOLMOGOROV,
            )
            for n, trajectories in ((256, 64), (512, 16))
        ),
        Preset(
            name="mcwilliams-dns256",
            description=(
                "McWilliams decaying turbulence, 2pi box, nu=1e-3: DNS 256^2 stored at 64^2, "
                "frames t=4.5..10 every 0.02 = 2 steps of 0.01 (the 64^2 solver's CFL step "
                "at Courant 0.5 is 0.011-0.016 over t=4.5-10: max|u|+|v| 3.1-4.3 on two 128^2 runs)"
            ),
            box_length=2 * math.pi,
            viscosity=1e-3,
            initial_condition="mcwilliams",
            sim_resolution=256,
            resolution=64,
            warmup_time=4.5,
            frame_interval=0.02,
            n_frames=276,
            n_trajectories=64,
            batch_size=8,
            store_subgrid=True,
        ),
        # Two more families of the same equation for pretraining mixtures (issue 18): unforced,
        # 2π box, ν = 1e-3, the McWilliams preset's resolutions.
        Preset(
            name="shear-layer-re1000",
            description="Perturbed double shear layer (random thickness and interface "
            "perturbation), 2pi box, nu=1e-3, unforced: frames t=0..5, 0.1 apart",
            box_length=2 * math.pi,
            viscosity=1e-3,
            initial_condition="shear-layer",
            frame_interval=0.1,
            n_frames=51,
            n_trajectories=256,
            batch_size=8,
        ),
        Preset(
            name="vortices-re1000",
            description="Random Gaussian vortices (4-12, random signs and radii), 2pi box, "
            "nu=1e-3, unforced: frames t=0..5, 0.1 apart",
            box_length=2 * math.pi,
            viscosity=1e-3,
            initial_condition="vortices",
            frame_interval=0.1,
            n_frames=51,
            n_trajectories=256,
            batch_size=8,
        ),
        Preset(
            name="tiny",
            description="FNO-type forced flow at 64^2 stored at 32^2: seconds on a laptop",
            viscosity=1e-3,
            n_frames=21,
            **{
                **_FNO_COMMON,
                "sim_resolution": 64,
                "resolution": 32,
                "frame_interval": 0.5,
                "n_trajectories": 16,
                "batch_size": 16,
            },
        ),
    )
}


def get_preset(name: str) -> Preset:
    """Look up a preset by name."""
    try:
        return PRESETS[name]
    except KeyError:
        raise SpectralRefinerError(
            f"unknown preset {name!r}: choose one of {', '.join(PRESETS)} "
            "(see `spectral-refiner presets`)"
        ) from None


def apply_overrides(obj, overrides: typing.Iterable[str]):
    """Return a copy of a dataclass with ``key=value`` strings applied, typed by its fields.

    Unknown keys and values of the wrong type raise :class:`SpectralRefinerError`.
    """
    hints = typing.get_type_hints(type(obj))
    changes: dict[str, typing.Any] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise SpectralRefinerError(f"--set expects key=value, got {item!r}")
        if key not in hints or key == "name":
            valid = ", ".join(k for k in hints if k != "name")
            raise SpectralRefinerError(f"unknown key {key!r}: valid keys are {valid}")
        changes[key] = coerce(text.strip(), hints[key], key)
    return dataclasses.replace(obj, **changes)
