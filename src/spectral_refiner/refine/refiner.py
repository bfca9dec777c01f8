r"""Spectral-Refiner: label-free refinement of SFNO predictions by their Navier–Stokes residual.

For one input window ``w_in`` (``t_in`` frames) a trained :class:`~spectral_refiner.models.SFNO`
predicts

.. math::

    p = \omega_{in}(t_{in}) + \sigma\, \mathcal{S}[\,y\,],\qquad
    y(m) = \sum_c W_c(m)\, \hat h_c(m),

with ``ĥ`` the space-time spectrum of the (time-padded) latent entering the head, ``W`` the
head's weights and ``S`` the head's synthesis (inverse transform on the padded time grid,
cropped to the ``t_out`` output frames). Refinement:

1. freezes the model and computes ``ĥ`` once;
2. widens the head to every mode the target grid carries (trained modes kept, new ones
   zero, so the prediction is unchanged), at the input's resolution or at a finer one
   (zero-shot super-resolution: the input frames are spectrally up-sampled);
3. fits the head, per instance, to minimise the residual of the predicted trajectory (last
   input frame followed by the prediction, :func:`~spectral_refiner.physics.prediction_trajectory`)
   in ``L2(0, T; H^-1)`` — no ground truth, only the input frames, the equation's parameters
   and the forcing;
4. stops each instance once its estimate ``η`` reaches its resolution floor (the η of its
   input frames, :func:`~spectral_refiner.physics.resolution_floor`: the residual the data
   themselves carry, which no prediction on the stored band can remove; lowering η below it
   moves the prediction away from the truth) or ``tol``, whichever is larger, or after
   ``max_evals`` evaluations of the residual and its gradient. An instance already at its
   floor is left as predicted. η comes with every evaluation of the residual (one evaluation
   of the equation's terms, a closure's included, gives ``‖R‖`` and η), so the stopping
   test costs none.

Parameterisation. The prediction depends on the head only through its output ``y``, and any
output change ``δy`` is made by the weight change ``δW_c = conj(ĥ_c) δy / Σ_c |ĥ_c|^2``
(then ``Σ_c δW_c ĥ_c = δy`` exactly). So the head is fitted in the coordinates ``δy``, one
complex number per space-time mode instead of one per mode and channel, and the weights of
each instance's head are formed from it at the end (:attr:`Refinement.head_weights`).

Optimiser. The residual is quadratic in ``y`` (advection), the objective quartic; each
instance's objective relative to its start is minimised by L-BFGS, the instances batched but
independent (:func:`~.lbfgs.minimize`: own history, own step lengths). What makes it fast
is the diagonal scaling of ``δy`` per spatial wavenumber ``k`` by ``1 / (σ sqrt(H_k))``, the
inverse square root of the diagonal of the residual's Gauss–Newton matrix estimated term by
term,

.. math::

    H_k = \frac{2/\Delta t^2 + U^2 |k|^2 + (\nu |k|^2 + \mu)^2}{\alpha + |k|^2},

(time difference, advection at the velocity scale ``U^2 = 2E`` of the last input frame,
viscosity and drag, in the ``H^{-1}`` weight): the curvature varies over two orders of
magnitude across ``k``, which plain gradient steps and unscaled L-BFGS spend most of their
evaluations discovering.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch

from ..errors import SpectralRefinerError
from ..models import NeuralOperator
from ..physics import (
    NavierStokes2D,
    Residual,
    kinetic_energy,
    prediction_trajectory,
    resample,
    resolution_floor,
)
from .lbfgs import minimize

__all__ = ["Refinement", "check_refinable", "refine"]


@dataclass
class Refinement:
    """Refined predictions of a batch of input windows.

    Attributes
    ----------
    prediction : Tensor
        Refined frames ``(B, t_out, n, n)`` on the target grid.
    initial : Tensor
        The unrefined prediction on the same grid.
    eta_before, eta_after : Tensor
        The estimate η of each instance before and after, ``(B,)``.
    floor : Tensor
        Each instance's resolution floor (η of its input frames; ``nan`` for fewer than 4),
        ``(B,)``.
    evaluations : int
        Evaluations of the residual and its gradient (for the whole batch).
    seconds : float
        Wall-clock time of the refinement.
    head_weights : Tensor or None
        Each instance's widened head, ``(B, *head.weight.shape)`` (with ``return_heads``).
    """

    prediction: torch.Tensor
    initial: torch.Tensor
    eta_before: torch.Tensor
    eta_after: torch.Tensor
    floor: torch.Tensor
    evaluations: int
    seconds: float
    head_weights: torch.Tensor | None = None


def _curvature_scale(
    equation: NavierStokes2D, anchor: torch.Tensor, dt: float, alpha: float, keep: tuple
) -> torch.Tensor:
    """``1 / sqrt(H_k)`` of the module docstring, per instance, in the head's mode-major
    layout ``(K_y + 1, 1, 2K_x + 1, B, 1)`` (constant along time)."""
    grid = equation.grid
    _, kx, ky = keep
    fac = 2 * torch.pi / grid.length
    mx = torch.arange(-kx, kx + 1, dtype=torch.float64, device=grid.device)
    my = torch.arange(ky + 1, dtype=torch.float64, device=grid.device)
    k2 = fac**2 * (my[:, None] ** 2 + mx[None, :] ** 2)  # (K_y + 1, 2K_x + 1)
    u2 = 2 * kinetic_energy(anchor, grid).to(torch.float64)  # (B,)
    damping = (equation.viscosity * k2 + equation.drag) ** 2
    h = (2 / dt**2 + u2[None, None, :] * k2[..., None] + damping[..., None]) / (
        alpha + k2[..., None]
    )
    return h.rsqrt().to(grid.dtype)[:, None, :, :, None]


def check_refinable(model: NeuralOperator, where: str = "") -> None:
    """The one capability check of refinement: the model's class says its head is refinable
    (:attr:`~spectral_refiner.models.NeuralOperator.refinable`); else a one-line error."""
    if not getattr(model, "refinable", False):
        name = getattr(model, "name", "") or type(model).__name__
        held = f"{where} holds" if where else "got"
        raise SpectralRefinerError(
            f"refinement needs an SFNO run (a model whose head is linear in its weights), "
            f"{held} a {name!r} model: predict without refinement, or train an SFNO"
        )


def refine(
    model: NeuralOperator,
    w_in: torch.Tensor,
    residual: Residual,
    *,
    max_evals: int = 100,
    tol: float = 0.0,
    history: int = 10,
    return_heads: bool = False,
    stop_at_floor: bool = True,
) -> Refinement:
    """Refine the model's predictions for the input windows ``w_in``; see the module docstring.

    Parameters
    ----------
    model : NeuralOperator
        The trained operator, refinable (an SFNO; left unchanged: its head is widened in a
        copy).
    w_in : Tensor
        Input windows ``(B, t_in, n0, n0)``; up-sampled spectrally when the equation's grid
        is finer (zero-shot super-resolution).
    residual : Residual
        The equation on the target grid (its resolution is the output's), the time between
        frames and the shift ``α`` of the ``H^-1`` weight ``(α + |k|^2)^-1``; e.g.
        ``problem.residual(n)`` of the run's :class:`~spectral_refiner.problem.Problem`.
    max_evals : int
        Budget of residual-and-gradient evaluations.
    tol : float
        Stop an instance once its η is at most this (or at most its floor, when higher).
    stop_at_floor : bool
        Stop an instance once its η reaches its resolution floor (module docstring).
    history : int
        L-BFGS memory.
    return_heads : bool
        Also form each instance's widened head weights.
    """
    check_refinable(model)
    started = time.perf_counter()
    equation, dt, alpha = residual.equation, residual.dt, residual.alpha
    grid = equation.grid
    n = grid.n
    if w_in.dim() != 4 or w_in.shape[-1] != w_in.shape[-2] or w_in.shape[-1] > n:
        raise SpectralRefinerError(
            f"input windows have shape {tuple(w_in.shape)}; expected (B, t_in, n0, n0) with "
            f"n0 <= {n}, the target resolution"
        )
    w_in = resample(w_in.to(device=grid.device, dtype=grid.dtype), n)
    weight = model.head.weight
    if weight.dtype != grid.dtype or weight.device != grid.device:  # never convert the caller's
        model = copy.deepcopy(model).to(device=grid.device, dtype=grid.dtype)
    model.eval()
    head = copy.deepcopy(model.head)
    head.widen(model.full_head_modes(n))
    with torch.no_grad():
        h_in = model.head_input(model.latent(w_in))
        sigma = model.normalise(w_in)[1]
        sizes_out = (model.t_out + model.head_padding, n, n)
        keep = head.kept_modes(h_in.shape[-3:], sizes_out)
        spectrum = head.spectrum(h_in, keep)
        y0 = head.contract(spectrum)
        initial = model.decode(w_in, head.synthesize(y0, sizes_out), sigma)
        scale = _curvature_scale(equation, w_in[:, -1], dt, alpha, keep)
        scale = scale / sigma.reshape(1, 1, 1, -1, 1)

    def predict(z: torch.Tensor) -> torch.Tensor:
        # z: (B, K_y+1, 2K_t+1, 2K_x+1, 2), batch first; δy in the head's mode-major layout.
        y = y0 + torch.view_as_complex(z).permute(1, 2, 3, 0).unsqueeze(-1) * scale
        return model.decode(w_in, head.synthesize(y, sizes_out), sigma)

    def norm_and_eta(pred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # ‖R‖ and η from one evaluation of the equation (and of its closure, if any)
        _, norm, eta = residual.with_estimate(prediction_trajectory(w_in, pred))
        return norm, eta

    with torch.no_grad():
        floor = resolution_floor(residual, w_in)
        target = torch.full_like(floor, tol)
        if stop_at_floor:
            target = torch.where(torch.isnan(floor), target, torch.maximum(target, floor))
        start, eta_before = norm_and_eta(initial)
        start = (start**2).clamp_min(torch.finfo(grid.dtype).tiny)

    def objective(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        norm, eta = norm_and_eta(predict(z))
        return norm**2 / start, eta

    def converged(z: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
        return eta <= target

    z0 = torch.zeros(w_in.shape[0], *y0.shape[:3], 2, dtype=grid.dtype, device=grid.device)
    z, evaluations = minimize(
        objective,
        z0,
        max_evals=max_evals,
        history=history,
        done=converged if bool((target > 0).any()) else None,
        check_every=1 if stop_at_floor else 10,  # stop at the floor, not 10 steps past it
    )
    with torch.no_grad():
        delta = torch.view_as_complex(z).permute(1, 2, 3, 0).unsqueeze(-1) * scale  # δy
        weights = _instance_heads(head, spectrum, delta) if return_heads else None
        refined = predict(z)
        eta_after = residual.of_prediction(w_in, refined)
    return Refinement(
        prediction=refined,
        initial=initial,
        eta_before=eta_before,
        eta_after=eta_after,
        floor=floor,
        evaluations=evaluations,
        seconds=time.perf_counter() - started,
        head_weights=weights,
    )


def _instance_heads(head, spectrum: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Each instance's head weights ``W + δW_b``, ``δW_{b,c} = conj(ĥ_{b,c}) δy_b / Σ|ĥ_b|^2``,
    as ``(B, *head.weight.shape)`` real views (the widened head's modes equal the kept ones)."""
    power = spectrum.abs().square().sum(-1, keepdim=True)
    step = spectrum.conj() * delta / power.clamp_min(torch.finfo(power.dtype).tiny)
    base = torch.view_as_complex(head.weight.detach())[..., 0]  # (K_y+1, 2K_t+1, 2K_x+1, C)
    per_instance = base.unsqueeze(-2) + step  # (..., B, C)
    return torch.view_as_real(per_instance.movedim(-2, 0).unsqueeze(-1)).contiguous()
