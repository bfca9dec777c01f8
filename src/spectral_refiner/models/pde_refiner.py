"""PDE-Refiner (Lippe et al. 2023, arXiv 2308.05732): a one-step prediction refined by a few
denoising steps, so that the low-amplitude high-frequency part of the next frame is learned.

On normalised frames ``z`` (the model's data normalisation) the next frame ``u`` is predicted
from the ``t_in`` previous ones by a backbone ``f(z, ũ, k)`` that also sees the current
estimate ``ũ`` (one more input channel) and is conditioned on the refinement step ``k``:

.. math::

    u^0 = f(z, 0, 0), \\qquad
    \\tilde u^k = u^{k-1} + \\sigma_k \\varepsilon_k, \\qquad
    u^k = \\tilde u^k - \\sigma_k f(z, \\tilde u^k, k), \\qquad k = 1..K,

with ``ε_k ~ N(0, I)`` and the noise schedule ``σ_k = σ_min^{k/K}`` (exponentially decreasing to
``σ_min`` at ``k = K``). Training draws one ``k ∈ {0..K}`` per sample, uniformly: ``k = 0``
is the plain one-step MSE ``|f(z, 0, 0) - u|²``, ``k ≥ 1`` predicts the noise,
``|f(z, u + σ_k ε, k) - ε|²``.

``σ_min`` is in units of the normalised frames (scalar mean and standard deviation, so the
field has unit variance over points, and on average over Fourier modes with the orthonormal
transform). The default ``K = 3``, ``σ_min = 0.1`` (``σ_k = 0.46, 0.22, 0.10``) spans this
data's own range: ``σ_1`` near the one-step error of a small backbone (relative L2 0.2–0.35
on Kolmogorov 64², frames 0.2 apart), ``σ_K`` just below the amplitude of the weakest
resolved shell (per-mode standard deviation ≈ 0.15 at |k| = 31). The paper's ``σ_min = 2e-7``
belongs to Kuramoto–Sivashinsky fields of O(1) amplitude, not normalised per mode, whose
spectrum falls by many decades; the official pdearena code even uses ``σ_min^{k/K}`` as the
noise *variance* (DDPM betas), i.e. standard deviations ``σ_min^{k/2K}`` = 0.086, 7.4e-3,
6.3e-4 at its ``4e-7``. On our fields, whose per-mode amplitude spans one decade, a noise
of 2e-7 lies under every mode: predicting zero is then the best denoiser and refinement is
a no-op (``python -m benchmarks.pde_refiner_dispersion``).

With ``K = 0`` there is no refinement, so no estimate channel and no step conditioning: the
backbone is then exactly the plain model ``build_model(name, t_in=t_in, t_out=1, ...)``
trained with MSE on normalised frames.

Noise is keyed per instance: instance ``i`` of a call with seed ``s`` draws its ``ε_k`` from a
generator seeded with ``s`` (or with ``seeds[i]``), so its refinement does not depend on what
else is in the batch; ``S`` samples with seeds ``0..S-1`` give the spread used as an
uncertainty estimate.

Rolling out with the ensemble mean (``model.ensemble = S``, ``evaluate --ensemble S``) makes
the next frame the mean of ``S`` refinements with seeds ``0..S-1``,
``ū = (1/S) Σ_s u^K(ε^s)``, a Monte-Carlo estimate of the posterior mean: the noise a single
sample keeps (the part the denoiser cannot find) averages out. This is *not* the paper's
rollout, which chains one sample per step; ``S = 1`` (the default) is that rollout.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch

from ..errors import SpectralRefinerError
from .base import MODELS, NeuralOperator, build_model, register

__all__ = ["PDERefiner"]

_SET_BY_WRAPPER = ("t_in", "t_out", "condition_on", "condition_max")


@register("pde_refiner")
class PDERefiner(NeuralOperator):
    """PDE-Refiner around a backbone of this package (the module docstring has the equations).

    Call: ``model(w_in)`` with ``w_in (B, t_in, X, Y)`` is the full refinement with noise seed
    0, ``(B, 1, X, Y)``; :meth:`sample` takes other seeds; :meth:`training_loss` is the
    training objective (the trainer's hook for a model with its own objective).

    Parameters
    ----------
    t_in : int
        Previous frames the next one is predicted from.
    t_out : int
        Must be 1 (a one-step model; present so that a training config's ``data.t_out``
        reaches the check).
    backbone : dict, optional
        ``{"name": ..., **arguments}`` of a registered model that takes a ``condition_on``
        argument (``unet``, ``fno2d``, ``scot``); the wrapper sets its ``t_in``, ``t_out``,
        ``condition_on`` (``step``) and ``condition_max`` (``K``). Default
        ``{"name": "unet", "width": 32, "levels": 3}``.
    refinement_steps : int
        ``K >= 0``.
    sigma_min : float
        ``σ_min`` in ``(0, 1)``, the noise level of the last refinement step (in units of
        the normalised data; the module docstring says why 0.1 and not the paper's 2e-7).
    """

    def __init__(
        self,
        t_in: int = 1,
        t_out: int = 1,
        backbone: dict[str, Any] | None = None,
        refinement_steps: int = 3,
        sigma_min: float = 0.1,
    ) -> None:
        super().__init__()
        if t_out != 1:
            raise SpectralRefinerError(
                f"pde_refiner predicts one frame per step, got t_out={t_out}: set data.t_out=1"
            )
        if refinement_steps < 0:
            raise SpectralRefinerError(
                f"pde_refiner: refinement_steps must be >= 0, got {refinement_steps}"
            )
        if not 0 < sigma_min < 1:
            raise SpectralRefinerError(f"pde_refiner: sigma_min must be in (0, 1), got {sigma_min}")
        spec = dict(backbone or {"name": "unet", "width": 32, "levels": 3})
        name = spec.pop("name", None)
        if name not in MODELS:
            raise SpectralRefinerError(
                f"pde_refiner: backbone name {name!r} is unknown; choose one of "
                f"{', '.join(sorted(MODELS))}"
            )
        if any(key in spec for key in _SET_BY_WRAPPER):
            raise SpectralRefinerError(
                f"pde_refiner sets the backbone's {', '.join(_SET_BY_WRAPPER)} itself: remove "
                "them from backbone"
            )
        self.config["backbone"] = {"name": name, **spec}  # the default, made explicit
        self.t_in, self.t_out = t_in, 1
        self.steps, self.sigma_min = refinement_steps, sigma_min
        self.ensemble = 1  # refinements averaged per call (module docstring); not a weight
        if refinement_steps:
            if "condition_on" not in inspect.signature(MODELS[name].__init__).parameters:
                takes = sorted(
                    n
                    for n, c in MODELS.items()
                    if "condition_on" in inspect.signature(c).parameters
                )
                raise SpectralRefinerError(
                    f"model {name} takes no step conditioning: choose a PDE-Refiner backbone "
                    f"among {', '.join(takes)}"
                )
            spec.update(t_in=t_in + 1, condition_on="step", condition_max=float(refinement_steps))
        else:
            spec.update(t_in=t_in)
        self.backbone = build_model(name, t_out=1, **spec)

    def sigmas(self) -> torch.Tensor:
        """``(σ_1, ..., σ_K)``, ``σ_k = σ_min^{k/K}`` (float64)."""
        k = torch.arange(1, self.steps + 1, dtype=torch.float64)
        return torch.tensor(self.sigma_min, dtype=torch.float64) ** (k / self.steps)

    def predict(self, z: torch.Tensor, estimate: torch.Tensor | None, k: int) -> torch.Tensor:
        """The backbone's output ``f(z, ũ, k)`` on normalised frames (``ũ`` unused if K = 0)."""
        if not self.steps:
            return self.backbone(z)
        return self.backbone(torch.cat((z, estimate), dim=1), step=float(k))

    def refine_step(
        self, z: torch.Tensor, estimate: torch.Tensor, k: int, noise: torch.Tensor
    ) -> torch.Tensor:
        """``ũ - σ_k f(z, ũ, k)`` with ``ũ = estimate + σ_k noise`` (step ``k ≥ 1``)."""
        sigma = float(self.sigmas()[k - 1])
        noisy = estimate + sigma * noise
        return noisy - sigma * self.predict(z, noisy, k)

    def refine(self, z: torch.Tensor, seeds: Sequence[int]) -> torch.Tensor:
        """``u^K`` from normalised frames ``z``, instance ``i``'s noise drawn from ``seeds[i]``."""
        u = self.predict(z, torch.zeros_like(z[:, :1]), 0)
        if not self.steps:
            return u
        noises = []
        for seed in seeds:  # one generator per instance: its noise ignores the rest of the batch
            gen = torch.Generator(z.device).manual_seed(int(seed))
            noises.append(
                torch.randn(
                    (self.steps, *u.shape[1:]), generator=gen, device=z.device, dtype=z.dtype
                )
            )
        noise = torch.stack(noises, dim=1)  # (K, B, 1, X, Y)
        for k in range(1, self.steps + 1):
            u = self.refine_step(z, u, k, noise[k - 1])
        return u

    def operator(self, z: torch.Tensor) -> torch.Tensor:
        """``u^K`` with seed 0, or with ``ensemble = S > 1`` the mean ``(1/S) Σ_s u^K`` of the
        refinements with seeds ``0..S-1`` (every instance the same seed)."""
        if self.ensemble < 1:
            raise SpectralRefinerError(
                f"pde_refiner: ensemble must be >= 1 refinements, got {self.ensemble}"
            )
        b = z.shape[0]
        if self.ensemble == 1 or not self.steps:  # one sample, or a deterministic model
            return self.refine(z, [0] * b)
        return torch.stack([self.refine(z, [s] * b) for s in range(self.ensemble)]).mean(0)

    def sample(self, w_in: torch.Tensor, seed: int | Sequence[int]) -> torch.Tensor:
        """The refinement of ``w_in`` with noise seed ``seed`` (one for every instance, or one
        per instance), ``(B, 1, X, Y)``; samples with different seeds spread where the model is
        uncertain."""
        self.check_input(w_in)
        seeds = [seed] * w_in.shape[0] if isinstance(seed, int) else list(seed)
        if len(seeds) != w_in.shape[0]:
            raise SpectralRefinerError(
                f"pde_refiner.sample: {len(seeds)} seeds for a batch of {w_in.shape[0]}"
            )
        return self.normalised(self.refine, w_in, seeds)

    def training_loss(
        self, w_in: torch.Tensor, target: torch.Tensor, seeds: Sequence[int]
    ) -> torch.Tensor:
        """The mean over the batch of ``|f(z, 0, 0) - u|²`` (``k = 0``) or ``|f(z, u + σ_k ε, k)
        - ε|²`` (``k ≥ 1``), one ``k`` per sample drawn uniformly from ``{0..K}``, on
        normalised frames; ``target`` is the next frame ``(B, 1, X, Y)``.

        Sample ``i`` draws its ``k`` and then its ``ε`` from a generator seeded with
        ``seeds[i]`` (on the device of ``w_in``), so its term does not depend on the rest of
        the batch: the trainer keys the seeds by (run seed, step, place in the global batch),
        which makes a resumed run and a run over several processes draw what one
        uninterrupted process draws. This is the model's training objective: the trainer
        minimises it instead of its :class:`~spectral_refiner.training.Objective`."""
        self.check_input(w_in)
        if target.shape != (w_in.shape[0], 1, *w_in.shape[2:]):
            raise SpectralRefinerError(
                f"pde_refiner: the target must be (B, 1, X, Y) = "
                f"{(w_in.shape[0], 1, *w_in.shape[2:])}, got {tuple(target.shape)}"
            )
        if len(seeds) != w_in.shape[0]:
            raise SpectralRefinerError(
                f"pde_refiner.training_loss: {len(seeds)} seeds for a batch of {w_in.shape[0]}"
            )
        mean, std = self.data_mean.to(w_in.dtype), self.data_std.to(w_in.dtype)
        z, u = (w_in - mean) / std, (target - mean) / std
        if not self.steps:
            return (self.predict(z, None, 0) - u).square().mean()
        b = z.shape[0]
        ks, noises = [], []
        for seed in seeds:  # one generator per sample: k first, then ε
            gen = torch.Generator(z.device).manual_seed(int(seed))
            ks.append(torch.randint(0, self.steps + 1, (1,), generator=gen, device=z.device))
            noises.append(torch.randn(u.shape[1:], generator=gen, device=z.device, dtype=z.dtype))
        k, eps = torch.cat(ks), torch.stack(noises)
        sigma = torch.cat((self.sigmas().new_zeros(1), self.sigmas())).to(z)[k].view(b, 1, 1, 1)
        denoise = (k > 0).view(b, 1, 1, 1)
        estimate = torch.where(denoise, u + sigma * eps, torch.zeros_like(u))
        wanted = torch.where(denoise, eps, u)
        pred = self.backbone(torch.cat((z, estimate), dim=1), step=k.to(z.dtype))
        return (pred - wanted).square().mean()
