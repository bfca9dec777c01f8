r"""Training a learned a-priori subgrid closure from a DNS file's stored pairs ``(ω̄, τ)``.

The model (the periodic ``cnn`` of :mod:`spectral_refiner.models`) is fitted by Adam to the
mean squared error of the normalised term, ``‖τ_G(ω̄) - τ‖² / s_τ²`` (see
:class:`~spectral_refiner.hybrid.AprioriClosure`), on random minibatches of frames of the
training trajectories; held-out trajectories (split by trajectory, so no held-out frame is a
neighbour of a training frame) give the a-priori figure, the pooled Pearson correlation

.. math::

    \rho = \frac{\langle \tau_G, \tau\rangle}{\|\tau_G\|\,\|\tau\|}
    \quad\text{(both centred over all held-out points)}.
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch

from ..atomic import check_writable
from ..data import read_info, read_subgrid, read_vorticity, split_trajectories
from ..errors import SpectralRefinerError
from ..hybrid import INPUTS, AprioriClosure, closure_inputs, save_closure
from ..models import build_model
from ..physics import SpectralGrid
from ..problem import EQUATION_FIELDS

__all__ = ["closure_correlation", "train_closure"]


def closure_correlation(
    closure: AprioriClosure, frames: torch.Tensor, tau: torch.Tensor, batch: int = 64
) -> float:
    """Pooled Pearson correlation of ``τ_G(frames)`` with ``tau`` (module docstring)."""
    with torch.no_grad():
        flat_w, flat_t = frames.flatten(0, -3), tau.flatten(0, -3).double()
        pred = torch.cat([closure.tau(flat_w[i : i + batch]) for i in range(0, len(flat_w), batch)])
        p, t = pred.double().flatten(), flat_t.flatten()
        p, t = p - p.mean(), t - t.mean()
        return float((p @ t) / (p.norm() * t.norm()))


def train_closure(
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    inputs: str = "vorticity",
    width: int = 32,
    n_layers: int = 5,
    kernel_size: int = 5,
    steps: int = 2000,
    batch_size: int = 16,
    lr: float = 2e-3,
    val_split: float = 0.25,
    seed: int = 0,
) -> dict[str, Any]:
    """Train a closure on the DNS file ``data`` and save it to ``out``.

    Parameters
    ----------
    data : path
        A DNS file with the stored subgrid term (a ``*-dns*`` preset; ``store_subgrid``).
    out : path
        The closure file to write (:func:`~spectral_refiner.hybrid.save_closure`).
    inputs : str
        ``"vorticity"`` or ``"vorticity-velocity"``.
    width, n_layers, kernel_size : int
        The ``cnn``'s hidden channels, convolutions and kernel side.
    steps, batch_size, lr : int, int, float
        Adam steps, frames per step, learning rate (cosine-decayed to 0).
    val_split : float
        Held-out trajectories (a fraction, or a count if >= 1).
    seed : int
        Split, initialisation and minibatch seed (the global RNG is left untouched).

    Returns
    -------
    dict
        ``correlation`` (held-out, pooled), ``train_correlation``, the ``train`` and
        ``held_out`` trajectory indices and ``out``.
    """
    if inputs not in INPUTS:
        raise SpectralRefinerError(
            f"unknown closure inputs {inputs!r}: choose one of {', '.join(INPUTS)}"
        )
    check_writable(out)
    info = read_info(data)
    if info.problem is None:
        raise SpectralRefinerError(f"{data} records no equation: regenerate it")
    tau = torch.from_numpy(read_subgrid(data))
    frames = torch.from_numpy(read_vorticity(data))
    split = split_trajectories(info.n_trajectories, val_split, 0, seed)
    train, held = split["train"], split["val"]
    grid = SpectralGrid(info.resolution, info.problem.box_length)
    channels = closure_inputs(grid, grid.rfft(frames[train].flatten(0, 1)), inputs)
    input_scale = channels.square().mean(dim=(0, 2, 3)).sqrt().clamp_min(1e-30).tolist()
    output_scale = float(tau[train].square().mean().sqrt().clamp_min(1e-30))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_model(
            "cnn",
            t_in=INPUTS[inputs],
            t_out=1,
            width=width,
            n_layers=n_layers,
            kernel_size=kernel_size,
        )
        record = {
            "dns_resolution": int(info.preset_fields.get("sim_resolution", 0)) or None,
            "equation": {k: getattr(info.problem, k) for k in EQUATION_FIELDS},
            "problem": info.problem.to_dict(),
            "trained_on": {"data": str(data), "train": train, "held_out": held},
        }
        closure = AprioriClosure(
            model, grid, info.resolution, inputs, input_scale, output_scale, record
        )
        _fit(closure, frames[train].flatten(0, 1), tau[train].flatten(0, 1), steps, batch_size, lr)
    model.eval()
    result = {
        "correlation": closure_correlation(closure, frames[held], tau[held]),
        "train_correlation": closure_correlation(closure, frames[train], tau[train]),
        "train": train,
        "held_out": held,
    }
    closure.record["figures"] = {k: result[k] for k in ("correlation", "train_correlation")}
    result["out"] = str(save_closure(closure, out))
    return result


def _fit(
    closure: AprioriClosure,
    frames: torch.Tensor,
    tau: torch.Tensor,
    steps: int,
    batch_size: int,
    lr: float,
) -> None:
    """Adam on the normalised mean squared error, minibatches drawn with the torch RNG."""
    model = closure.model.train()
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda k: 0.5 * (1 + math.cos(math.pi * k / max(steps, 1)))
    )
    grid = closure.stored_grid
    for _ in range(steps):
        pick = torch.randint(len(frames), (min(batch_size, len(frames)),))
        pred = grid.irfft(closure.tau_hat(grid.rfft(frames[pick])))
        loss = (pred - tau[pick]).square().mean() / closure.output_scale**2
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
