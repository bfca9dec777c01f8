r"""Training a learned a-priori subgrid closure from a DNS file's stored pairs ``(ω̄, τ)``.

Two models (:class:`~spectral_refiner.hybrid.AprioriClosure`):

* ``shell`` (default): the linear map :class:`~spectral_refiner.hybrid.ShellGains` on the
  resolved transfer inputs ``(ω̄, F A, T_1, T_2)``
  (:func:`~spectral_refiner.physics.resolved_transfer_hat`), gains tied per shell
  (``tying="shell"``, default), per mode and its images under the grid's rotations and
  reflections (``"dihedral"``: 0.771 against 0.760 held out on 256² → 64² Kolmogorov flow,
  but it overfits small files) or per mode and its reflections (``"reflections"``), fitted in closed
  form by least squares on every frame of the training trajectories: seconds, no steps,
  exactly translation-equivariant and equivariant under the symmetries it ties.
  With ``lags``/``memory`` (``train-closure --lags 1 2 4 8 --memory 4``) the gains also act
  on the resolved transfer of earlier frames and on the back-transfer of the unresolved ring
  swept over the last frames (:func:`~spectral_refiner.physics.window_transfer_hat`): a
  window-aware closure, fitted on frames with their full history (held out 0.931 / 0.916).
* ``cnn``: the periodic ``cnn`` of :mod:`spectral_refiner.models`, fitted by Adam to the
  mean squared error of the normalised term ``‖τ_G(ω̄) - τ‖² / s_τ²`` on random minibatches,
  each frame under a random element ``g`` of the dihedral group of the grid (rotations by
  90°, the transpose): ``ω̄ ↦ det(g) ω̄∘g``, ``τ ↦ det(g) τ∘g`` (vorticity and ``τ`` are
  pseudo-scalars: a reflected flow has the reflected fields with the opposite sign),
  early-stopped on the held-out correlation.

Held-out frames are whole trajectories (of the training file, or of another file of the same
problem), so no held-out frame is a neighbour of a training frame; the a-priori figures are
those of :mod:`.closure_figures`.
"""

from __future__ import annotations

import copy
import math
import os
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..atomic import check_writable
from ..data import DatasetInfo, read_info, read_subgrid, read_vorticity, split_trajectories
from ..errors import SpectralRefinerError
from ..hybrid import (
    CLOSURE_INPUTS,
    TYINGS,
    AprioriClosure,
    ClosureWindow,
    ShellGains,
    closure_inputs,
    save_closure,
    window_inputs_hat,
)
from ..models import build_model
from ..physics import SpectralGrid
from ..problem import EQUATION_FIELDS
from .closure_figures import closure_correlation, closure_figures

__all__ = ["CLOSURE_MODELS", "dihedral", "train_closure"]

#: The closure models :func:`train_closure` fits (module docstring).
CLOSURE_MODELS = ("shell", "cnn")
#: Training frames (evenly spaced) the reported training correlation is measured on.
TRAIN_SAMPLE = 512


def _held_out_file(info: DatasetInfo, path: str | os.PathLike) -> DatasetInfo:
    """The held-out file's info, if it holds other trajectories of the same problem."""
    other = read_info(path)
    if other.resolution != info.resolution or other.problem is None:
        raise SpectralRefinerError(
            f"held-out file {path} is stored at {other.resolution}^2, the training file at "
            f"{info.resolution}^2: hold out trajectories of the same DNS preset"
        )
    for key in (*EQUATION_FIELDS, "box_length"):
        if getattr(other.problem, key) != getattr(info.problem, key):
            raise SpectralRefinerError(
                f"held-out file {path} has {key} {getattr(other.problem, key)}, the training "
                f"file {getattr(info.problem, key)}: hold out trajectories of the same problem"
            )
    if info.keys is not None and other.keys is not None and info.family == other.family:
        shared = {tuple(k) for k in info.keys.tolist()} & {tuple(k) for k in other.keys.tolist()}
        if shared:
            raise SpectralRefinerError(
                f"held-out file {path} shares {len(shared)} trajectories with the training "
                "file: generate it with another --seed"
            )
    return other


def train_closure(
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    held_out: str | os.PathLike | None = None,
    model: str = "shell",
    inputs: str | None = None,
    tying: str = "shell",
    lags: tuple[int, ...] = (),
    memory: int = 0,
    substeps: int = 4,
    frame_stride: int = 1,
    width: int = 32,
    n_layers: int = 5,
    kernel_size: int = 5,
    steps: int = 2000,
    batch_size: int = 16,
    lr: float = 2e-3,
    eval_every: int = 200,
    val_split: float = 0.25,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Train a closure on the DNS file ``data`` and save it to ``out``.

    Parameters
    ----------
    data : path
        A DNS file with the stored subgrid term (a ``*-dns*`` preset; ``store_subgrid``).
    out : path
        The closure file to write (:func:`~spectral_refiner.hybrid.save_closure`).
    held_out : path, optional
        Validate on every trajectory of this file (same problem, other keys) and train on
        every trajectory of ``data``; default: hold out ``val_split`` of ``data``'s.
    model : str
        ``"shell"`` or ``"cnn"`` (module docstring).
    inputs : str, optional
        ``"vorticity"``, ``"vorticity-velocity"`` or ``"transfer"``; default ``"transfer"``
        for ``shell``, ``"vorticity"`` for ``cnn``.
    tying : str
        ``shell``: how the gains are tied over modes (module docstring).
    lags, memory : tuple of int, int
        ``shell`` on ``transfer``: a window-aware closure that also maps the resolved
        transfer of the frames ``lags`` earlier and the ring's back-transfer over ``memory``
        frames (:func:`~spectral_refiner.physics.window_transfer_hat`); fitted on the frames
        with their full history. Default none: a closure of each frame alone.
    substeps : int
        With ``memory``: ETD2RK steps of the ring per frame interval (its cost grows in
        proportion; 2 instead of 4 halves it).
    frame_stride : int
        Fit on every ``frame_stride``-th stored frame (of ``data`` and ``held_out``): a window
        closure then closes the residual of frames ``frame_stride`` times the file's interval
        apart (a model trained with ``data.frame_stride``).
    width, n_layers, kernel_size : int
        The ``cnn``'s hidden channels, convolutions and kernel side.
    steps, batch_size, lr : int, int, float
        ``cnn``: Adam steps, frames per step, learning rate (cosine-decayed to 0).
    eval_every : int
        ``cnn``: steps between held-out evaluations; the best is kept.
    val_split : float
        Held-out trajectories of ``data`` without ``held_out`` (a fraction, or a count if >= 1).
    seed : int
        Split, initialisation, minibatch and augmentation seed (the global RNG is untouched).
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    dict
        ``correlation`` and ``relative_error`` (held-out, pooled), ``train_correlation``
        (on at most :data:`TRAIN_SAMPLE` evenly spaced training frames),
        the ``train`` and ``held_out`` trajectory indices, ``held_out_data`` and ``out``.
    """
    if model not in CLOSURE_MODELS:
        raise SpectralRefinerError(
            f"unknown closure model {model!r}: choose one of {', '.join(CLOSURE_MODELS)}"
        )
    inputs = inputs or ("transfer" if model == "shell" else "vorticity")
    if inputs not in CLOSURE_INPUTS:
        raise SpectralRefinerError(
            f"unknown closure inputs {inputs!r}: choose one of {', '.join(CLOSURE_INPUTS)}"
        )
    if tying not in TYINGS:
        raise SpectralRefinerError(
            f"unknown gain tying {tying!r}: choose one of {', '.join(TYINGS)}"
        )
    check_writable(out, (data,) if held_out is None else (data, held_out))
    info = read_info(data)
    if info.problem is None:
        raise SpectralRefinerError(f"{data} records no equation: regenerate it")
    problem = info.problem
    if frame_stride < 1:
        raise SpectralRefinerError(f"the frame stride must be >= 1, got {frame_stride}")
    frames_kept = len(info.times[::frame_stride])
    window = ClosureWindow(
        tuple(lags),
        int(memory),
        problem.dt * frame_stride,
        problem.viscosity,
        problem.drag or 0.0,
        substeps=int(substeps),
    )
    if window.history and (model != "shell" or inputs != "transfer"):
        raise SpectralRefinerError(
            f"--lags/--memory ({window.describe()}) need --model shell on the transfer inputs, "
            f"got --model {model} --inputs {inputs}"
        )
    if window.history >= frames_kept:
        raise SpectralRefinerError(
            f"{data} has {frames_kept} frames per trajectory at stride {frame_stride}, too few "
            f"for {window.describe()}: use shorter --lags/--memory"
        )
    tau = torch.from_numpy(read_subgrid(data))[:, ::frame_stride]
    frames = torch.from_numpy(read_vorticity(data))[:, ::frame_stride]
    if held_out is None:
        split = split_trajectories(info.n_trajectories, val_split, 0, seed)
        train, held = split["train"], split["val"]
        val_frames, val_tau = frames[held], tau[held]
    else:
        other = _held_out_file(info, held_out)
        train, held = list(range(info.n_trajectories)), list(range(other.n_trajectories))
        val_tau = torch.from_numpy(read_subgrid(held_out))[:, ::frame_stride]
        val_frames = torch.from_numpy(read_vorticity(held_out))[:, ::frame_stride]
    grid = SpectralGrid(info.resolution, info.problem.box_length)
    if window.history:
        train_frames, train_tau = frames[train], tau[train]
    else:
        train_frames, train_tau = frames[train].flatten(0, 1), tau[train].flatten(0, 1)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        bar = tqdm(
            desc=f"train-closure {model}",
            total=(
                len(train_frames) * (train_frames.shape[1] - window.history)
                if window.history
                else len(train_frames)
            )
            if model == "shell"
            else steps,
            unit="frame" if model == "shell" else "step",
            disable=not progress,
        )
        net = (
            ShellGains(CLOSURE_INPUTS[inputs] + window.channels, info.resolution, tying)
            if model == "shell"
            else build_model(
                "cnn",
                t_in=CLOSURE_INPUTS[inputs],
                t_out=1,
                width=width,
                n_layers=n_layers,
                kernel_size=kernel_size,
            )
        )
        input_scale, output_scale = _scan(
            grid,
            (train_frames, train_tau),
            (inputs, window),
            net if model == "shell" else None,
            bar,
        )
        record = {
            "dns_resolution": int(info.preset_fields.get("sim_resolution", 0)) or None,
            "equation": {k: getattr(info.problem, k) for k in EQUATION_FIELDS},
            "problem": info.problem.to_dict(),
            "trained_on": {
                "data": str(data),
                "train": train,
                "held_out": held,
                "held_out_data": str(held_out or data),
            },
        }
        closure = AprioriClosure(
            net, grid, info.resolution, inputs, input_scale, output_scale, record, window
        )
        if model == "cnn":
            fit = (steps, batch_size, lr, eval_every)
            _fit(closure, (train_frames, train_tau), (val_frames, val_tau), fit, bar)
        bar.close()
    net.eval()
    figures = closure_figures(closure, val_frames, val_tau)
    count = len(train_frames)
    sample = TRAIN_SAMPLE // train_frames.shape[1] if window.history else TRAIN_SAMPLE
    seen = torch.linspace(0, count - 1, max(1, min(count, sample))).long()
    result = {
        **figures,
        "train_correlation": closure_correlation(closure, train_frames[seen], train_tau[seen]),
        "train": train,
        "held_out": held,
        "held_out_data": str(held_out or data),
    }
    closure.record["figures"] = {
        k: result[k] for k in ("correlation", "relative_error", "train_correlation")
    }
    result["out"] = str(save_closure(closure, out))
    return result


def _scan(
    grid: SpectralGrid,
    train: tuple[torch.Tensor, torch.Tensor],
    inputs: tuple[str, ClosureWindow],
    shells: ShellGains | None,
    bar: tqdm,
    chunk: int = 32,
) -> tuple[list[float], float]:
    """One pass over the training frames in chunks: the input and output scales ``s_x``,
    ``s_τ`` (root mean squares) and, for a ``shell`` model, its least-squares gains (on the
    normalised data: the gains of the raw data times ``s_x / s_τ``). Memory: one chunk (one
    trajectory for a closure with a window, which sees frames with their full history
    only)."""
    (frames, tau), (names, window) = train, inputs
    h = window.history
    squares = torch.zeros(CLOSURE_INPUTS[names] + window.channels, dtype=torch.float64)
    gram = rhs = None
    pieces = (
        ((f, t[h:]) for f, t in zip(frames, tau, strict=True))
        if h
        else ((frames[i : i + chunk], tau[i : i + chunk]) for i in range(0, len(frames), chunk))
    )
    points = 0
    for w, t in pieces:
        if h:
            x = grid.irfft(window_inputs_hat(grid, grid.rfft(w[None]), window)[0, h:])
        else:
            x = closure_inputs(grid, grid.rfft(w), names)
        squares += x.double().square().sum(dim=(0, 2, 3))
        points += len(x) * grid.n**2
        if shells is not None:
            g, r = shells.normal_equations(x, t)
            gram, rhs = (g, r) if gram is None else (gram + g, rhs + r)
            bar.update(len(x))
    input_scale = (squares / points).sqrt().clamp_min(1e-30)
    used = tau[:, h:] if h else tau
    output_scale = float(used.double().square().mean().sqrt().clamp_min(1e-30))
    if shells is not None:
        shells.solve(gram, rhs)
        with torch.no_grad():
            shells.gains.mul_((input_scale.unsqueeze(1) / output_scale).to(shells.gains.dtype))
    return input_scale.tolist(), output_scale


def dihedral(w: torch.Tensor, tau: torch.Tensor, element: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Element ``0..7`` of the grid's dihedral group applied to a pair ``(ω̄, τ)``: a
    rotation by ``element % 4`` quarter turns, then, if ``element >= 4``, a transpose, which
    flips the sign of both (module docstring)."""
    w, tau = torch.rot90(w, element % 4, (-2, -1)), torch.rot90(tau, element % 4, (-2, -1))
    if element >= 4:
        return -w.transpose(-2, -1), -tau.transpose(-2, -1)
    return w, tau


def _fit(
    closure: AprioriClosure,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    fit: tuple[int, int, float, int],
    bar: tqdm,
) -> None:
    """Adam on the normalised mean squared error, minibatches and group elements drawn with
    the torch RNG; the state with the best held-out correlation is kept."""
    (frames, tau), (steps, batch_size, lr, eval_every) = train, fit
    model = closure.model.train()
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda k: 0.5 * (1 + math.cos(math.pi * k / max(steps, 1)))
    )
    grid = closure.stored_grid
    best, best_state = -math.inf, None
    for step in range(steps):
        pick = torch.randint(len(frames), (min(batch_size, len(frames)),))
        w, t = dihedral(frames[pick], tau[pick], int(torch.randint(8, ())))
        pred = grid.irfft(closure.tau_hat(grid.rfft(w)))
        loss = (pred - t).square().mean() / closure.output_scale**2
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        bar.update()
        if (step + 1) % eval_every == 0 or step + 1 == steps:
            model.eval()
            score = closure_correlation(closure, *val)
            model.train()
            bar.set_postfix(held_out=f"{score:.3f}", loss=f"{loss.item():.3f}")
            if np.isfinite(score) and score > best:
                best, best_state = score, copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
