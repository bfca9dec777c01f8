r"""Classical eddy-viscosity closures as explicit terms of the vorticity equation.

Every closure here models the subgrid stress of the filtered momentum equation by an eddy
viscosity, ``τ_ij^d = -2 ν_t S̄_ij``, and adds its curl to the vorticity equation:

.. math::

    C(\bar\omega) = \nabla\times\nabla\cdot(2\nu_t\bar S)
    = (\partial_x^2 - \partial_y^2)(2\nu_t \bar S_{12})
      - 2\,\partial_x\partial_y(2\nu_t \bar S_{11}),

    \hat C = -(k_x^2 - k_y^2)\,\widehat{2\nu_t \bar S_{12}}
      + 2 k_x k_y\,\widehat{2\nu_t \bar S_{11}},

with ``S̄_11 = -S̄_22 = ∂x ū = ∂x∂y ψ̄``, ``S̄_12 = ½(∂y ū + ∂x v̄) = ½(∂y² - ∂x²) ψ̄`` and
``|S̄| = (2 S̄_ij S̄_ij)^{1/2} = 2 (S̄_11² + S̄_12²)^{1/2}``. Why this form and not the
vorticity diffusion ``∇·(ν_t ∇ω̄)``: it is the curl of the standard LES momentum closure, so
the coefficients keep their usual meaning (``C_s ≈ 0.17``), the dynamic procedure's Germano
identity is the usual one for the momentum stress, and the closure removes kinetic energy
for every ``ν_t >= 0``:

.. math::

    \frac{dE}{dt}\Big|_C = \langle \bar u\cdot\nabla\cdot(2\nu_t\bar S)\rangle
    = -\langle 2\nu_t \bar S_{ij}\bar S_{ij}\rangle = -\langle \nu_t |\bar S|^2\rangle \le 0,

which holds exactly on the grid too (spectral derivatives of band-limited fields and the
discrete Parseval identity make the summation by parts exact).

Filter width and dealiasing. ``Δ`` is the grid spacing ``L / n`` of the grid the closure is
built for (:func:`make_closure`); :meth:`on_grid` moves the closure to another grid with the
same ``Δ`` (the residual evaluates the equation on a padded grid: the model must not change
there). The velocity gradients come from ``ω̄`` restricted to the 2/3-rule band of the grid
the term is evaluated on; ``ν_t`` and the products ``2ν_t S̄`` are formed on that grid, and the
term is restricted to the same band, as the advection is. ``ν_t`` is not a polynomial of the
field, so its products alias onto the band whatever the padding; the error decays with the
Fourier coefficients of ``ν_t S̄`` (for a single mode ``ω̄ = A cos(k·x)``, ``ν_t ∝ |cos|`` and
the error of the energy rate falls as ``(n/m)^{-4}``; with Leith's ``|sin|`` as
``(n/m)^{-2}``).

Closures (``ν_t >= 0`` always):

* Smagorinsky: ``ν_t = (C_s Δ)² |S̄|``;
* Leith (2-D): ``ν_t = (C_L Δ)³ |∇ω̄|``;
* dynamic Smagorinsky: ``ν_t = c Δ² |S̄|`` with ``c`` from the Germano identity and Lilly's
  least squares, one value per field (the periodic box is homogeneous), clipped at 0; see
  :class:`DynamicSmagorinsky`.

A closure's :meth:`~EddyViscosityClosure.term_hat` returns ``Ĉ`` in the layout of
:meth:`NavierStokes2D.explicit_terms <.navier_stokes.NavierStokes2D.explicit_terms>`
(shape ``(..., n, n // 2 + 1)``, stored m_y-major), which adds it to the advection and
forcing, so every stepper, :func:`~.simulate.simulate` and the residual use it unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import torch

from ..errors import SpectralRefinerError
from .grid import SpectralGrid
from .navier_stokes import _ky_major

__all__ = [
    "CLOSURES",
    "Closure",
    "DynamicSmagorinsky",
    "EddyViscosityClosure",
    "Leith",
    "Smagorinsky",
    "make_closure",
    "register_closure",
]


class Closure(Protocol):
    """What :class:`~.navier_stokes.NavierStokes2D` needs of a closure (classical or learned).

    A closure that also sees a window's earlier frames has ``history > 0`` (frames back) and
    ``window_term_hat(ŵ (B, T, n, n // 2 + 1), dt)``, which the residual calls instead of
    :meth:`term_hat` (:mod:`.residual`)."""

    def term_hat(self, w_hat: torch.Tensor) -> torch.Tensor:
        """The term's coefficients, shape ``w_hat.shape`` (any memory layout)."""
        ...

    def on_grid(self, n: int) -> Closure:
        """The same closure evaluated on ``n`` points."""
        ...


class EddyViscosityClosure:
    """Base of the eddy-viscosity closures: the term ``Ĉ`` of the module docstring.

    Parameters
    ----------
    grid : SpectralGrid
        The grid the term is evaluated on.
    width : float, optional
        Filter width ``Δ``; defaults to the grid spacing ``L / n``.
    """

    name = ""

    def __init__(self, grid: SpectralGrid, width: float | None = None) -> None:
        self.grid = grid
        self.width = float(grid.length / grid.n if width is None else width)
        if not (math.isfinite(self.width) and self.width > 0):
            raise SpectralRefinerError(f"closure filter width must be positive, got {width}")
        g = grid
        self._mask = g.dealias
        kx, ky = g.kx, g.ky
        # ψ̂-to-gradient multipliers on the band: S11 = -kx ky ψ̂, S12 = ½(kx² - ky²) ψ̂.
        self._strain = torch.stack((-kx * ky, 0.5 * (kx**2 - ky**2))) * g.inv_k2 * self._mask
        self._curl = torch.stack((2 * kx * ky, -(kx**2 - ky**2))) * self._mask

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={self.grid.n}, width={self.width:g}, {self.spec()})"

    def spec(self) -> dict[str, Any]:
        """The plain spec :func:`make_closure` rebuilds this closure from."""
        raise NotImplementedError

    def on_grid(self, n: int) -> EddyViscosityClosure:
        """The same closure (same spec and filter width ``Δ``) evaluated on ``n`` points."""
        if n == self.grid.n:
            return self
        return make_closure(self.spec(), self.grid.with_resolution(n), width=self.width)

    # ------------------------------------------------------------------ pieces
    def strain(self, w_hat: torch.Tensor) -> torch.Tensor:
        """``(S̄_11, S̄_12)`` on the grid from the band of ``ω̂``, shape ``(..., 2, n, n)``."""
        return self.grid.irfft(w_hat.unsqueeze(-3) * self._strain)

    def eddy_viscosity(self, w_hat: torch.Tensor, strain: torch.Tensor) -> torch.Tensor:
        """``ν_t`` on the grid, shape ``(..., n, n)``."""
        raise NotImplementedError

    def stress_term(self, stress: torch.Tensor) -> torch.Tensor:
        """``Ĉ`` from ``(2ν_t S̄_11, 2ν_t S̄_12)`` on the grid, restricted to the band."""
        spec = torch.fft.rfft2(stress, norm="forward") * self._curl
        return spec.sum(dim=-3)

    def term_hat(self, w_hat: torch.Tensor) -> torch.Tensor:
        """``Ĉ(ω̂)``, shape ``w_hat.shape``, stored m_y-major (the solver's layout)."""
        strain = self.strain(w_hat)
        nu_t = self.eddy_viscosity(w_hat, strain)
        return _ky_major(self.stress_term(2 * nu_t.unsqueeze(-3) * strain))

    def energy_rate(self, w_hat: torch.Tensor) -> torch.Tensor:
        """``dE/dt|_C = -⟨ν_t |S̄|²⟩`` on the grid, per field (for diagnostics and tests)."""
        strain = self.strain(w_hat)
        nu_t = self.eddy_viscosity(w_hat, strain)
        return -(nu_t * _strain_rate(strain).square()).mean(dim=(-2, -1))


def _magnitude(pair: torch.Tensor) -> torch.Tensor:
    """``(a² + b²)^{1/2}`` of ``(..., 2, n, n)``, shape ``(..., n, n)``.

    The sum of squares is clamped below at the dtype's smallest normal number before the
    root, so the gradient is 0 (not NaN) where ``a = b = 0`` (a value ~1e-19 in float32,
    1e-154 in float64, instead of 0). A norm over the axis -3 gives the same but runs
    ~20x slower on CPU (measured).
    """
    a, b = pair.unbind(-3)
    return torch.addcmul(a * a, b, b).clamp_min(torch.finfo(pair.dtype).tiny).sqrt()


def _strain_rate(strain: torch.Tensor) -> torch.Tensor:
    """``|S̄| = 2 (S̄_11² + S̄_12²)^{1/2}`` from ``(..., 2, n, n)``."""
    return 2 * _magnitude(strain)


def _coefficient(value: Any, closure: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise SpectralRefinerError(
            f"closure {closure!r}: coefficient must be a number, got {value!r}"
        ) from None
    if not (math.isfinite(value) and value >= 0):
        raise SpectralRefinerError(
            f"closure {closure!r}: coefficient must be a finite number >= 0, got {value}"
        )
    return value


class _ConstantCoefficient(EddyViscosityClosure):
    """A closure with one constant coefficient ``>= 0`` (:attr:`coefficient`)."""

    default = 0.0

    def __init__(
        self, grid: SpectralGrid, coefficient: float | None = None, width: float | None = None
    ) -> None:
        super().__init__(grid, width)
        self.coefficient = _coefficient(
            self.default if coefficient is None else coefficient, self.name
        )

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "coefficient": self.coefficient}


class Smagorinsky(_ConstantCoefficient):
    """Smagorinsky: ``ν_t = (C_s Δ)² |S̄|``, ``C_s`` :attr:`coefficient` (default 0.17)."""

    name = "smagorinsky"
    default = 0.17

    def eddy_viscosity(self, w_hat: torch.Tensor, strain: torch.Tensor) -> torch.Tensor:
        return (self.coefficient * self.width) ** 2 * _strain_rate(strain)


class Leith(_ConstantCoefficient):
    """Leith (2-D): ``ν_t = (C_L Δ)³ |∇ω̄|``, ``C_L`` :attr:`coefficient` (default 0.3)."""

    name = "leith"
    default = 0.3

    def eddy_viscosity(self, w_hat: torch.Tensor, strain: torch.Tensor) -> torch.Tensor:
        gradient = torch.stack(torch.broadcast_tensors(self.grid.ikx, self.grid.iky))
        grad = self.grid.irfft(w_hat.unsqueeze(-3) * (gradient * self._mask))
        return (self.coefficient * self.width) ** 3 * _magnitude(grad)


class DynamicSmagorinsky(EddyViscosityClosure):
    r"""Dynamic Smagorinsky (Germano et al. 1991, Lilly 1992): ``ν_t = c Δ² |S̄|``.

    Test filter: the spectral cutoff keeping ``max(|m_x|, |m_y|) <= L / (2 r Δ)`` (width
    ``r Δ``, ``r`` = :attr:`test_ratio`, default 2; ``n / 4`` modes on the closure's own grid).
    With ``^`` that filter, the Germano identity for the model ``τ^d = -2cΔ²|S̄|S̄`` at both
    levels reads ``L_ij = c M_ij`` with

    .. math::

        L_{ij} = \widehat{\bar u_i\bar u_j} - \hat{\bar u}_i\hat{\bar u}_j,\qquad
        M_{ij} = 2\Delta^2\big(\widehat{|\bar S|\bar S_{ij}}
          - r^2|\hat{\bar S}|\hat{\bar S}_{ij}\big),

    solved by least squares over the box (Lilly), ``c = max(0, ⟨L_ij M_ij⟩ / ⟨M_ij M_ij⟩)``,
    one value per field; ``M`` is traceless, so only the deviatoric part of ``L`` counts:
    ``L:M = (L_11 - L_22) M_11 + 2 L_12 M_12``, ``M:M = 2 (M_11² + M_12²)``. The velocity
    products of ``L`` are formed on the closure's grid from the 2/3-band velocity, which
    aliases only onto modes beyond ``n / 3``, outside the test band: ``L`` is exact.
    """

    name = "dynamic-smagorinsky"

    def __init__(
        self, grid: SpectralGrid, test_ratio: float = 2.0, width: float | None = None
    ) -> None:
        super().__init__(grid, width)
        ratio = _coefficient(test_ratio, self.name + " test_ratio")
        if not ratio > 1:
            raise SpectralRefinerError(
                f"closure {self.name!r}: test_ratio must be > 1, got {ratio}; use e.g. 2"
            )
        self.test_ratio = ratio
        cut = grid.length / (2 * ratio * self.width)
        keep = (grid.mx.abs() <= cut) & (grid.my <= cut)
        self._test = keep.to(grid.dtype) * self._mask
        psi = grid.inv_k2 * self._mask
        velocity = torch.stack((grid.iky * psi, -grid.ikx * psi))
        self._fields = torch.cat((velocity, velocity * self._test, self._strain * self._test))

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "test_ratio": self.test_ratio}

    def coefficient(self, w_hat: torch.Tensor, strain: torch.Tensor | None = None) -> torch.Tensor:
        """``c = C_s²`` per field, shape ``w_hat.shape[:-2]``, ``>= 0``."""
        strain = self.strain(w_hat) if strain is None else strain
        # ū, v̄ and the test-filtered û, v̂, Ŝ_11, Ŝ_12 straight from ω̂ (one transform) ...
        fields = self.grid.irfft(w_hat.unsqueeze(-3) * self._fields)
        u, v, ut, vt = fields[..., :4, :, :].unbind(-3)
        strain_t = fields[..., 4:, :, :]
        # ... and the test filter of the products (one transform each way).
        velocity = torch.stack((u * u - v * v, u * v), dim=-3)
        products = torch.cat((velocity, _strain_rate(strain).unsqueeze(-3) * strain), dim=-3)
        filtered = self.grid.irfft(torch.fft.rfft2(products, norm="forward") * self._test)
        leonard = filtered[..., :2, :, :] - torch.stack((ut * ut - vt * vt, ut * vt), dim=-3)
        model = filtered[..., 2:, :, :]
        model = model - self.test_ratio**2 * _strain_rate(strain_t).unsqueeze(-3) * strain_t
        model = 2 * self.width**2 * model
        # (L11 - L22) M11 + 2 L12 M12 = leonard[0] M11 + 2 leonard[1] M12.
        num = (leonard[..., 0, :, :] * model[..., 0, :, :]).mean(dim=(-2, -1)) + 2 * (
            leonard[..., 1, :, :] * model[..., 1, :, :]
        ).mean(dim=(-2, -1))
        den = 2 * model.square().sum(dim=-3).mean(dim=(-2, -1))
        return torch.where(den > 0, num / torch.where(den > 0, den, 1), 0).clamp_min(0)

    def eddy_viscosity(self, w_hat: torch.Tensor, strain: torch.Tensor) -> torch.Tensor:
        c = self.coefficient(w_hat, strain)[..., None, None]
        return c * self.width**2 * _strain_rate(strain)


#: Closures defined above physics (a learned closure needs models): ``name -> factory``,
#: called as ``factory(spec, grid, width, equation)`` (see :func:`register_closure`).
ClosureFactory = Callable[[dict[str, Any], SpectralGrid, float, dict[str, Any] | None], Closure]
_REGISTERED: dict[str, ClosureFactory] = {}


def register_closure(name: str, factory: ClosureFactory) -> None:
    """Make ``{"name": name, ...}`` specs build closures with ``factory``.

    For closures that physics may not import (a learned closure lives with the models):
    the wing that defines one registers it on import. ``factory(spec, grid, width, equation)``
    receives the whole spec, the grid to evaluate on, the filter width ``Δ`` (the stored
    grid's spacing) and the equation's fields (``None`` when unknown), and returns an object
    of the :class:`Closure` protocol (or raises :class:`SpectralRefinerError`).
    """
    if name in CLOSURES or name == "none":
        raise SpectralRefinerError(f"closure name {name!r} is taken by a built-in closure")
    _REGISTERED[name] = factory


CLOSURES: dict[str, type[EddyViscosityClosure]] = {
    c.name: c for c in (Smagorinsky, Leith, DynamicSmagorinsky)
}

_PARAMETERS = {
    "smagorinsky": "coefficient",
    "leith": "coefficient",
    "dynamic-smagorinsky": "test_ratio",
}


def make_closure(
    spec: dict[str, Any] | None,
    grid: SpectralGrid,
    width: float | None = None,
    equation: dict[str, Any] | None = None,
) -> Closure | None:
    """Build a closure from a plain spec, e.g. ``{"name": "smagorinsky", "coefficient": 0.17}``.

    ``name`` is one of :data:`CLOSURES`; ``coefficient`` (``C_s`` or ``C_L``, ``>= 0``) for
    ``smagorinsky`` and ``leith``, ``test_ratio`` (``> 1``) for ``dynamic-smagorinsky``,
    each optional; or a name given to :func:`register_closure` (``learned``, registered by
    :mod:`spectral_refiner.hybrid`). ``None`` or ``{"name": "none"}`` gives ``None`` (no
    closure). ``width`` is the filter width ``Δ`` (default ``L / n`` of ``grid``);
    ``equation`` the equation's fields, which registered closures check against theirs.
    """
    if spec is None:
        return None
    if not isinstance(spec, dict) or "name" not in spec:
        raise SpectralRefinerError(
            f"a closure spec must be a mapping with a 'name', got {spec!r}; "
            'e.g. {"name": "smagorinsky", "coefficient": 0.17}'
        )
    name = str(spec["name"])
    if name == "none":
        return None
    if name in _REGISTERED:
        return _REGISTERED[name](
            spec, grid, grid.length / grid.n if width is None else width, equation
        )
    if name not in CLOSURES:
        raise SpectralRefinerError(
            f"unknown closure {name!r}: choose one of none, {', '.join([*CLOSURES, *_REGISTERED])}"
            + ("" if _REGISTERED else " (learned closures: import spectral_refiner.hybrid)")
        )
    extra = set(spec) - {"name", _PARAMETERS[name]}
    if extra:
        raise SpectralRefinerError(
            f"closure {name!r}: unknown key(s) {', '.join(sorted(extra))}; "
            f"it takes only {_PARAMETERS[name]!r}"
        )
    kwargs = {k: v for k, v in spec.items() if k != "name"}
    return CLOSURES[name](grid, width=width, **kwargs)
