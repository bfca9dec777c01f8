"""A look at a dataset file in one figure (``spectral-refiner info --plot``).

Top row: the vorticity of the first trajectory at four stored times, on one colour scale.
Bottom row: the shell energy spectrum E(k) at the first and last stored frame (mean over the
trajectories shown, up to the last full shell, with k^-3 and k^-5/3 slopes), and the kinetic
energy ``E = ½⟨|u|²⟩`` and enstrophy ``Z = ½⟨ω²⟩`` over time (median over the trajectories,
shaded between their 10th and 90th percentiles).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..data import build_equation, read_info, read_vorticity, recorded_preset
from .metrics import flow_statistics
from .plots import last_full_shell, plt, reference_slopes, save_figure

__all__ = ["plot_dataset"]

MAX_TRAJECTORIES = 32


def plot_dataset(path: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write the figure of the module docstring for the file's first (at most 32)
    trajectories to ``out`` (PNG, the numbers drawn beside it as JSON); returns ``out``."""
    info = read_info(path)
    preset = recorded_preset(info)
    count = min(info.n_trajectories, MAX_TRAJECTORIES)
    w = torch.from_numpy(read_vorticity(info.path, slice(0, count))).double()
    n, times = info.resolution, info.times
    grid = build_equation(preset, "cpu", torch.float64, resolution=n).grid
    stats = {k: v.numpy() for k, v in flow_statistics(w, grid).items()}

    fig = plt.figure(figsize=(13, 7.6))
    top = fig.add_gridspec(1, 4, left=0.05, right=0.93, top=0.93, bottom=0.56, wspace=0.08)
    bottom = fig.add_gridspec(1, 3, left=0.06, right=0.98, top=0.45, bottom=0.08, wspace=0.3)
    picks = np.unique(np.linspace(0, len(times) - 1, 4).round().astype(int))
    vmax = float(w[0, picks].abs().max()) or 1.0
    image = None
    for j, t in enumerate(picks):
        ax = fig.add_subplot(top[0, j])
        image = ax.imshow(
            w[0, t].numpy().T, origin="lower", cmap="RdBu_r", vmin=-vmax, vmax=vmax,
            extent=(0, preset.box_length, 0, preset.box_length),
        )  # fmt: skip
        ax.set_title(f"trajectory 0, t = {times[t]:.4g}")
        ax.set_xticks([0, preset.box_length / 2, preset.box_length])
        ax.set_xlabel("x")
        if j == 0:
            ax.set_ylabel("y")
        else:
            ax.set_yticklabels([])
    fig.colorbar(image, ax=fig.axes[:4], fraction=0.02, pad=0.01, label="vorticity ω")

    ax = fig.add_subplot(bottom[0, 0])
    shells = slice(1, last_full_shell(n) + 1)
    k = stats["wavenumber"][shells]
    for frame, style in ((0, "-"), (len(times) - 1, "--")):
        spectrum = stats["spectrum"][:, frame, shells].mean(0)
        ax.loglog(k, spectrum, ls=style, color="black", label=f"t = {times[frame]:.4g}")
    reference_slopes(ax, k, stats["spectrum"][:, -1, shells].mean(0))
    ax.set_xlabel("wavenumber |k| = 2π|m|/L")
    ax.set_ylabel("shell energy E(k)")
    ax.set_title(f"energy spectrum (mean of {count} trajectories)")
    ax.legend(fontsize=8)
    for column, (key, label) in enumerate(
        (("energy", "kinetic energy E = ½⟨|u|²⟩"), ("enstrophy", "enstrophy Z = ½⟨ω²⟩")), start=1
    ):
        ax = fig.add_subplot(bottom[0, column])
        p10, p50, p90 = np.percentile(stats[key], (10, 50, 90), axis=0)
        ax.plot(times, p50, color="tab:blue", label="median")
        ax.fill_between(times, p10, p90, color="tab:blue", alpha=0.2, lw=0, label="10–90%")
        ax.set_xlabel("time t")
        ax.set_ylabel(label)
        ax.set_title(f"{key} over time ({count} trajectories)")
        ax.legend(fontsize=8)
    for ax in fig.axes[5:]:
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"{info.path.name}: {preset.name}, {n}² frames", fontsize=12)
    return save_figure(fig, Path(out))
