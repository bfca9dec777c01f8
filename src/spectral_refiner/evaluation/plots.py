"""The report's figures, each a function that writes one PNG and, beside it, the numbers drawn.

Every figure plots numbers computed elsewhere (:mod:`.evaluate`, :mod:`.compare`, the run's
metrics log) and computes nothing itself, so what is plotted is what was measured; every
line drawn is also written to ``FIGURE.json`` (``{panel title: {line label: y values}}``),
so a test (or a referee) can check the figure against the results. Axes are labelled
everywhere; in the snapshot grid each panel has its own colour scale and colour bar.

A *series* is one method on one test set: a dict with ``label``, ``colour``, ``style`` and
the arrays drawn (per-frame median and 10th/90th percentiles over trajectories, energy,
enstrophy, spectra, η and window errors).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..atomic import atomic_write_text

__all__ = [
    "last_full_shell",
    "plot_energy",
    "plot_errors",
    "plot_eta",
    "plot_pareto",
    "plot_snapshots",
    "plot_spectra",
    "plot_training",
    "reference_slopes",
    "save_figure",
]

Series = dict[str, Any]


class _Pyplot:
    """``matplotlib.pyplot`` (Agg backend, the report's font sizes), imported on first use.

    Importing matplotlib costs about a second of CPU; every ``spectral-refiner`` command imports
    this module, and only the commands that draw need it.
    """

    _module: ModuleType | None = None

    def __getattr__(self, name: str) -> Any:
        if _Pyplot._module is None:
            importlib.import_module("matplotlib").use("Agg")
            module = importlib.import_module("matplotlib.pyplot")
            module.rcParams.update({"font.size": 10, "axes.titlesize": 11, "figure.dpi": 110})
            _Pyplot._module = module
        return getattr(_Pyplot._module, name)


plt = _Pyplot()


def save_figure(fig, path: Path) -> Path:
    """Write the figure as PNG and the data of every labelled line as ``path.json``."""
    drawn: dict[str, dict[str, list[float]]] = {}
    for ax in fig.axes:
        lines = {
            line.get_label(): np.asarray(line.get_ydata(), dtype=float).tolist()
            for line in ax.get_lines()
            if not line.get_label().startswith("_")
        }
        if lines:
            drawn[ax.get_title() or f"panel {len(drawn)}"] = lines
    fig.savefig(path, dpi=110)
    plt.close(fig)
    atomic_write_text(path.with_suffix(".json"), json.dumps(drawn))
    return path


def _pair():
    """Two panels side by side with fixed margins (a layout engine costs seconds a figure)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    fig.subplots_adjust(left=0.08, right=0.985, bottom=0.12, top=0.92, wspace=0.26)
    return fig, axes


def _legend_below(fig, ax) -> None:
    """One legend for the figure under its panels (it never hides a curve)."""
    handles, labels = ax.get_legend_handles_labels()
    columns = min(4, len(labels))
    rows = -(-len(labels) // columns)
    fig.legend(handles, labels, loc="lower center", ncol=columns, fontsize=8, frameon=False)
    fig.subplots_adjust(bottom=0.12 + 0.05 * rows)
    fig.set_figheight(fig.get_figheight() + 0.22 * rows)


def _single(width: float, height: float):
    fig, ax = plt.subplots(figsize=(width, height))
    fig.subplots_adjust(left=0.13, right=0.96, bottom=0.11, top=0.93)
    return fig, ax


def last_full_shell(resolution: int) -> int:
    """The last spectral shell ``j`` whose ring ``j - ½ <= |m| < j + ½`` lies wholly inside
    the modes ``|m_x|, |m_y| < n/2`` a stored ``n``² frame carries."""
    return resolution // 2 - 1


def reference_slopes(ax, k: np.ndarray, spectrum: np.ndarray) -> None:
    """Grey k^-3 and k^-5/3 lines from 3x the spectrum's first shell (above the curve), and
    the y range cut 2 decades below the spectrum's smallest value."""
    top = 3 * spectrum[0]
    ax.loglog(k, top * (k / k[0]) ** -3.0, color="gray", ls=(0, (4, 2)), lw=1, label="k^-3")
    ax.loglog(k, top * (k / k[0]) ** (-5 / 3), color="gray", ls=":", lw=1, label="k^-5/3")
    ax.set_ylim(bottom=max(float(spectrum.min()) * 1e-2, 1e-300))


def plot_snapshots(
    times: np.ndarray, truth: np.ndarray, predictions: list[tuple[str, np.ndarray]], path: Path
) -> Path:
    """Vorticity of the first test trajectory at several times ``(rows, n, n)``: truth and
    each prediction on the truth's colour scale (one colour bar per row), then each
    prediction's error, every error panel on its own colour scale and colour bar (errors
    differ by orders of magnitude)."""
    columns = ["truth", *[label for label, _ in predictions]]
    columns += [f"{label} − truth" for label, _ in predictions]
    fig, axes = plt.subplots(
        len(times),
        len(columns),
        figsize=(2.3 * len(columns) + 0.8, 2.2 * len(times) + 0.6),
        squeeze=False,
    )
    top = 1 - 0.45 / fig.get_figheight()  # room for the two-line column titles
    fig.subplots_adjust(left=0.05, right=0.97, bottom=0.02, top=top, wspace=0.35, hspace=0.1)
    for i, t in enumerate(times):
        fields = [truth[i]] + [p[i] for _, p in predictions]
        errors = [p[i] - truth[i] for _, p in predictions]
        vmax = float(np.abs(truth[i]).max()) or 1.0
        for j, field in enumerate(fields + errors):
            is_error = j >= len(fields)
            limit = (float(np.abs(field).max()) or 1.0) if is_error else vmax
            ax = axes[i, j]
            image = ax.imshow(
                field.T, origin="lower", cmap="PuOr_r" if is_error else "RdBu_r",
                vmin=-limit, vmax=limit, interpolation="nearest",
            )  # fmt: skip
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(columns[j].replace(" ", "\n", 1), fontsize=9)
            if j == 0:
                ax.set_ylabel(f"t = {t:.3g}\ny ↑, x →")
            if is_error or j == len(fields) - 1:
                fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03, format="%.2g")
    return save_figure(fig, path)


def _band(ax, x, s: Series, key: str, log: bool) -> None:
    median = np.asarray(s[f"median_per_frame_{key}"])
    (ax.semilogy if log else ax.plot)(
        x, median, color=s["colour"], ls=s["style"], marker="o", ms=3, label=s["label"]
    )
    ax.fill_between(
        x, s[f"p10_per_frame_{key}"], s[f"p90_per_frame_{key}"], color=s["colour"], alpha=0.15,
        lw=0,
    )  # fmt: skip


def plot_errors(times: np.ndarray, series: list[Series], path: Path) -> Path:
    """Relative L2 error and vorticity correlation per predicted frame: median over the
    test trajectories, shaded between their 10th and 90th percentiles."""
    fig, axes = _pair()
    for s in series:
        _band(axes[0], times, s, "rel_l2", log=True)
        _band(axes[1], times, s, "correlation", log=False)
    for level in (0.95, 0.8):
        axes[1].axhline(level, color="gray", ls=":", lw=1)
    axes[0].set_title("relative L2 error (median, 10–90% band)")
    axes[1].set_title("vorticity correlation (median, 10–90% band; dotted 0.95, 0.8)")
    for ax, label in zip(axes, ("relative L2 error", "correlation with the truth"), strict=True):
        ax.set_xlabel("time t")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    _legend_below(fig, axes[1])
    return save_figure(fig, path)


def plot_spectra(
    k: np.ndarray, truth: np.ndarray, series: list[Series], resolution: int, path: Path
) -> Path:
    """Energy spectra E(k) of truth and each series, at the last frame and averaged over the
    frames, up to the last full shell, with k^-3 and k^-5/3 reference slopes."""
    shells = slice(1, last_full_shell(resolution) + 1)
    kk = k[shells]
    fig, axes = _pair()
    for ax, (title, last) in zip(
        axes, (("last predicted frame", True), ("mean over predicted frames", False)), strict=True
    ):

        def draw(spec, ax=ax, last=last, **kw):
            spectrum = spec[-1] if last else spec.mean(0)
            ax.loglog(kk, np.maximum(spectrum[shells], 1e-300), **kw)
            return spectrum[shells]

        ref = draw(truth, color="black", lw=2, label="truth")
        for s in series:
            draw(s["spectrum"], color=s["colour"], ls=s["style"], lw=1.3, label=s["label"])
        reference_slopes(ax, kk, ref)
        ax.set_xlabel("wavenumber |k| = 2π|m|/L")
        ax.set_ylabel("shell energy E(k)")
        ax.set_title(f"energy spectrum, {title}")
        ax.grid(True, which="both", alpha=0.3)
    _legend_below(fig, axes[1])
    return save_figure(fig, path)


def plot_energy(
    times: np.ndarray, truth: dict[str, list[float]], series: list[Series], path: Path
) -> Path:
    """Mean kinetic energy and enstrophy over time of truth and each series."""
    fig, axes = _pair()
    for ax, key in zip(axes, ("energy", "enstrophy"), strict=True):
        ax.plot(times, truth[key], color="black", lw=2, marker="o", ms=3, label="truth")
        for s in series:
            ax.plot(
                times, s[key], color=s["colour"], ls=s["style"], marker="o", ms=3,
                label=s["label"],
            )  # fmt: skip
        ax.set_xlabel("time t")
        ax.grid(True, alpha=0.3)
    axes[0].set_title("kinetic energy (mean over trajectories)")
    axes[0].set_ylabel("E = ½⟨|u|²⟩")
    axes[1].set_title("enstrophy (mean over trajectories)")
    axes[1].set_ylabel("Z = ½⟨ω²⟩")
    _legend_below(fig, axes[1])
    return save_figure(fig, path)


def plot_eta(series: list[Series], path: Path) -> Path:
    """The estimate η against the true relative L2 error, one point per trajectory and
    window."""
    fig, ax = _single(6, 5.2)
    values = []
    for s in series:
        eta, err = np.ravel(s["eta"]), np.ravel(s["window_error"])
        marker = "^" if s["side"] == "refined" else "o"
        ax.loglog(err, eta, marker, color=s["colour"], label=s["label"], ms=5, alpha=0.8)
        values += [eta, err]
    positive = [v[v > 0] for v in values if np.any(v > 0)]
    lo = max(min(float(v.min()) for v in positive), 1e-12) if positive else 1e-6
    hi = max(float(v.max()) for v in positive) if positive else 1.0
    ax.loglog([lo, hi], [lo, hi], color="gray", ls=":", lw=1, label="η = error")
    ax.set_xlabel("true relative L2 error of the window")
    ax.set_ylabel("estimate η")
    ax.set_title("error estimate against the true error")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_pareto(points: list[dict[str, Any]], front: list[str], title: str, path: Path) -> Path:
    """Seconds per trajectory against the median error of every method (solver squares,
    surrogates circles), the Pareto front joined."""
    fig, ax = _single(8, 5.2)
    fig.subplots_adjust(right=0.75)  # room for the labels of the rightmost points
    for p in points:
        solver = p["method"].startswith("solver")
        ax.loglog(
            [p["seconds"]], [max(p["rel_l2"], 1e-12)], "s" if solver else "o", ms=8,
            color="tab:gray" if solver else ("tab:red" if "refine" in p["method"] else "tab:blue"),
            label=p["method"],
        )  # fmt: skip
        ax.annotate(
            p["method"], (p["seconds"], max(p["rel_l2"], 1e-12)), textcoords="offset points",
            xytext=(6, 4), fontsize=8,
        )  # fmt: skip
    on_front = sorted((p for p in points if p["method"] in front), key=lambda p: p["seconds"])
    ax.loglog(
        [p["seconds"] for p in on_front],
        [max(p["rel_l2"], 1e-12) for p in on_front],
        color="black", lw=1, ls="--", label="Pareto front",
    )  # fmt: skip
    ax.set_xlabel("wall time per trajectory [s]")
    ax.set_ylabel("median relative L2 error")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.margins(x=0.15, y=0.3)
    return save_figure(fig, path)


def plot_training(runs: list[tuple[str, list[dict], list[dict]]], path: Path) -> Path:
    """Training loss per step and validation relative L2 per epoch of each run."""
    fig, axes = _pair()
    for name, steps, epochs in runs:
        axes[0].semilogy([r["step"] for r in steps], [r["loss"] for r in steps], lw=1, label=name)
        values = [r.get("val_rel_l2") for r in epochs]
        if any(v is not None and np.isfinite(v) for v in values):
            axes[1].semilogy([r["epoch"] for r in epochs], values, marker="o", label=name)
    axes[0].set_xlabel("optimiser step")
    axes[0].set_ylabel("training loss")
    axes[0].set_title("training loss")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("validation relative L2 error")
    axes[1].set_title("validation error")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, path)
