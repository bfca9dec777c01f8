"""The report's figures, each a function of the evaluation's arrays that writes one PNG.

Every figure plots numbers computed elsewhere (:mod:`.evaluate`, :mod:`.compare`, the run's
metrics log) and computes nothing itself, so what is plotted is what was measured. Colour
scales are shared along each row of the snapshot grid (fields with fields, errors with
errors), so panels are comparable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

__all__ = [
    "plot_energy",
    "plot_errors",
    "plot_eta",
    "plot_pareto",
    "plot_snapshots",
    "plot_spectra",
    "plot_training",
]

COLOURS = {"truth": "black", "prediction": "tab:blue", "refined": "tab:red"}
LABELS = {"truth": "truth", "prediction": "prediction", "refined": "refined"}
plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "figure.dpi": 110})


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _sides(arrays: dict[str, np.ndarray], prefix: str) -> list[str]:
    return [s for s in ("prediction", "refined") if f"{prefix}_{s}" in arrays]


def plot_snapshots(arrays: dict[str, np.ndarray], path: Path) -> Path:
    """Vorticity of the first trajectory at several times: truth, prediction(s), and each
    prediction's error; one shared colour scale per row for fields and one for errors."""
    sides = _sides(arrays, "snapshot")
    times = arrays["times"][arrays["snapshot_frames"]]
    truth = arrays["snapshot_truth"]
    columns = ["truth", *sides, *[f"{s} − truth" for s in sides]]
    rows = len(times)
    fig, axes = plt.subplots(
        rows,
        len(columns),
        figsize=(2.3 * len(columns) + 1.2, 2.3 * rows),
        squeeze=False,
        constrained_layout=True,
    )
    for i, t in enumerate(times):
        fields = [truth[i]] + [arrays[f"snapshot_{s}"][i] for s in sides]
        errors = [arrays[f"snapshot_{s}"][i] - truth[i] for s in sides]
        vmax = float(np.abs(truth[i]).max())
        emax = max(float(np.abs(e).max()) for e in errors) or 1.0
        for j, field in enumerate(fields + errors):
            ax = axes[i, j]
            is_error = j >= len(fields)
            image = ax.imshow(
                field.T,
                origin="lower",
                cmap="PuOr_r" if is_error else "RdBu_r",
                vmin=-(emax if is_error else vmax),
                vmax=emax if is_error else vmax,
            )
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(columns[j])
            if j == 0:
                ax.set_ylabel(f"t = {t:.3g}")
            if j == len(fields) - 1 or j == len(fields) + len(errors) - 1:
                fig.colorbar(
                    image, ax=axes[i, j], shrink=0.85, label="error" if is_error else "vorticity"
                )
    return _save(fig, path)


def plot_spectra(arrays: dict[str, np.ndarray], path: Path) -> Path:
    """Energy spectra E(k) of truth and prediction(s): at the last frame, and time-averaged."""
    k = arrays["wavenumber"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, (title, pick) in zip(
        axes,
        (("last frame", lambda s: s[-1]), ("mean over the frames", lambda s: s.mean(0))),
        strict=True,
    ):
        for name in ("truth", *_sides(arrays, "spectrum")):
            spectrum = pick(arrays[f"spectrum_{name}"])
            ax.loglog(
                k[1:],
                np.maximum(spectrum[1:], 1e-30),
                color=COLOURS[name],
                label=LABELS[name],
                lw=1.5,
                ls="--" if name == "refined" else "-",
            )
        ax.set_xlabel("wavenumber |k|")
        ax.set_ylabel("E(k)")
        ax.set_title(f"energy spectrum, {title}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    return _save(fig, path)


def plot_errors(arrays: dict[str, np.ndarray], path: Path) -> Path:
    """Relative L2 error and vorticity correlation per predicted frame (instance means)."""
    t = arrays["times"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for name in _sides(arrays, "rel_l2"):
        axes[0].semilogy(
            t, arrays[f"rel_l2_{name}"], color=COLOURS[name], marker="o", ms=3, label=LABELS[name]
        )
        axes[1].plot(
            t,
            arrays[f"correlation_{name}"],
            color=COLOURS[name],
            marker="o",
            ms=3,
            label=LABELS[name],
        )
    for level in (0.95, 0.8):
        axes[1].axhline(level, color="gray", ls=":", lw=1)
        axes[1].text(t[0], level, f" {level}", va="bottom", color="gray")
    axes[0].set_title("relative L2 error per frame")
    axes[1].set_title("vorticity correlation with the truth")
    for ax, label in zip(axes, ("relative L2 error", "correlation"), strict=True):
        ax.set_xlabel("time")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend()
    return _save(fig, path)


def plot_energy(results: dict[str, Any], path: Path) -> Path:
    """Energy and enstrophy over time of truth and prediction(s)."""
    t = np.asarray(results["times"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for name in ("truth", "prediction", "refined"):
        if name not in results:
            continue
        for ax, key in zip(axes, ("energy", "enstrophy"), strict=True):
            ax.plot(
                t,
                results[name][key],
                color=COLOURS[name],
                label=LABELS[name],
                ls="--" if name == "refined" else "-",
                marker="o",
                ms=3,
            )
    for ax, key in zip(axes, ("kinetic energy ½⟨|u|²⟩", "enstrophy ½⟨ω²⟩"), strict=True):
        ax.set_title(key)
        ax.set_xlabel("time")
        ax.grid(True, alpha=0.3)
        ax.legend()
    return _save(fig, path)


def plot_eta(arrays: dict[str, np.ndarray], path: Path) -> Path:
    """The estimate η against the true relative L2 error, per instance and window."""
    fig, ax = plt.subplots(figsize=(5.5, 5), constrained_layout=True)
    values = []
    for name in _sides(arrays, "eta"):
        eta, err = arrays[f"eta_{name}"].ravel(), arrays[f"window_error_{name}"].ravel()
        ax.loglog(err, eta, "o", color=COLOURS[name], label=LABELS[name], ms=4, alpha=0.8)
        values += [eta, err]
    lo = max(min(float(v[v > 0].min()) for v in values), 1e-12)
    hi = max(float(v.max()) for v in values)
    ax.loglog([lo, hi], [lo, hi], color="gray", ls=":", lw=1, label="η = error")
    ax.set_xlabel("true relative L2 error of the window")
    ax.set_ylabel("estimate η")
    ax.set_title("error estimate against the true error")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_pareto(compare: dict[str, Any], path: Path) -> Path:
    """Seconds per trajectory against error for every method, the Pareto front joined."""
    fig, ax = plt.subplots(figsize=(7, 5), constrained_layout=True)
    points = compare["points"]
    for p in points:
        solver = p["method"].startswith("solver")
        ax.loglog(
            p["seconds"],
            max(p["rel_l2"], 1e-12),
            "s" if solver else "o",
            ms=8,
            color="tab:gray" if solver else ("tab:red" if "refine" in p["method"] else "tab:blue"),
        )
        ax.annotate(
            p["method"],
            (p["seconds"], max(p["rel_l2"], 1e-12)),
            textcoords="offset points",
            xytext=(6, 4),
            fontsize=9,
        )
    front = [p for p in points if p["method"] in compare["front"]]
    front.sort(key=lambda p: p["seconds"])
    ax.loglog(
        [p["seconds"] for p in front],
        [max(p["rel_l2"], 1e-12) for p in front],
        color="black",
        lw=1,
        ls="--",
        label="Pareto front",
    )
    ax.set_xlabel("wall time per trajectory [s]")
    ax.set_ylabel("median relative L2 error")
    ax.set_title(
        f"cost against accuracy ({compare['instances']} trajectories, "
        f"horizon {compare['horizon']:.3g})"
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.margins(x=0.3, y=0.3)
    return _save(fig, path)


def plot_training(steps: list[dict], epochs: list[dict], path: Path) -> Path:
    """Training loss per step and validation errors per epoch."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    axes[0].semilogy([r["step"] for r in steps], [r["loss"] for r in steps], lw=1)
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("training loss")
    axes[0].set_title("training loss")
    for key, label in (("val_rel_l2", "validation rel. L2"), ("val_eta", "validation η")):
        values = [r.get(key) for r in epochs]
        if any(v is not None and np.isfinite(v) for v in values):
            axes[1].semilogy([r["epoch"] for r in epochs], values, marker="o", label=label)
    axes[1].set_xlabel("epoch")
    axes[1].set_title("validation")
    axes[1].legend()
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
    return _save(fig, path)
