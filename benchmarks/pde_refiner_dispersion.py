"""Why PDE-Refiner's samples are under-dispersed: one-step diagnostics of a trained run on
held-out windows (issue 17).

For windows of the held-out file (normalised frames ``z``, next frame ``u``), printed:

* the one-step relative L2 error of the plain prediction ``u⁰ = f(z, 0, 0)`` and of
  persistence;
* per refinement step ``k``, with ``σ_k = σ_min^{k/K}``: how much of the added noise the model
  finds, ``‖f(z, ũ, k) - ε‖ / ‖ε‖`` (1 = nothing found, the Bayes-optimal answer when the
  posterior of ``u`` given ``z`` is much wider than ``σ_k``) with ``ũ = u + σ_k ε`` (training
  input) and ``ũ = u⁰ + σ_k ε`` (inference input), and ``‖f‖ / ‖ε‖``;
* the refined prediction's error, the spread of 4 samples (relative to their mean) and how far
  refinement moved the prediction, ``‖u^K - u⁰‖ / ‖u‖``;
* the error of the mean of ``S`` refinements (``--ensemble``, seeds ``0..S-1``), the
  next frame of an ensemble-mean rollout (``model.ensemble = S``).

If the model finds none of the noise, each refinement step adds ``σ_k ε`` and removes nothing:
the sample spread is ``≈ σ_1`` whatever the true error.

Run from the repository root::

    OMP_NUM_THREADS=1 python -m benchmarks.pde_refiner_dispersion --run RUN \\
        --data /work/data/kdns256-long-test.h5
"""

from __future__ import annotations

import argparse
import os

import torch

from spectral_refiner.evaluation import open_run_data


def _ratio(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over instances of ``‖a‖ / ‖b‖`` (fields ``(..., n, n)``)."""
    return float((a.square().sum((-2, -1)) / b.square().sum((-2, -1))).sqrt().mean())


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over instances of ``‖a - b‖ / ‖b‖``."""
    return _ratio(a - b, b)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--ensemble", type=int, nargs="+", default=[2, 4, 8, 16], help="sizes S")
    p.add_argument("--starts", type=int, nargs="+", default=[0, 10, 20, 30], help="window frames")
    args = p.parse_args()
    torch.set_num_threads(1)
    print(f"threads: {torch.get_num_threads()}, load {os.getloadavg()[0]:.1f} on {os.cpu_count()}")
    data = open_run_data(args.run, args.data)
    model = data.model.double()
    w = torch.cat([data.window(s, model.t_in + 1, data.trained_resolution) for s in args.starts])
    w = w.double()
    mean, std = model.data_mean.double(), model.data_std.double()
    z, u = (w[:, : model.t_in] - mean) / std, (w[:, model.t_in :] - mean) / std
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        u0 = model.predict(z, torch.zeros_like(u), 0)
        print(f"{w.shape[0]} windows; σ_k = {[f'{s:.3g}' for s in model.sigmas().tolist()]}")
        persistence = _rel(z[:, -1:], u)
        print(f"one-step rel L2: prediction {_rel(u0, u):.4f}, persistence {persistence:.4f}")
        for k in range(1, model.steps + 1):
            sigma = float(model.sigmas()[k - 1])
            eps = torch.randn(u.shape, generator=generator, dtype=u.dtype)
            on_truth = model.predict(z, u + sigma * eps, k)
            on_pred = model.predict(z, u0 + sigma * eps, k)
            print(
                f"k = {k}, σ = {sigma:.3g}: ‖f - ε‖/‖ε‖ {_rel(on_truth, eps):.3f} (truth + noise), "
                f"{_rel(on_pred, eps):.3f} (prediction + noise); ‖f‖/‖ε‖ "
                f"{_ratio(on_pred, eps):.3f}"
            )
        samples = torch.stack([model.refine(z, [s] * z.shape[0]) for s in range(4)])
        centre = samples.mean(0)
        spread = _ratio((samples - centre).square().mean(0).sqrt(), centre)
        print(
            f"refined rel L2 {_rel(samples[0], u):.4f}; spread of 4 samples {spread:.3g}; "
            f"‖u^K - u⁰‖/‖u‖ {_ratio(samples[0] - u0, u):.3g}"
        )
        for size in args.ensemble:
            model.ensemble = size
            print(f"mean of {size} refinements: rel L2 {_rel(model.operator(z), u):.4f}")


if __name__ == "__main__":
    main()
