"""The report's uncertainty section: for every evaluation with sampled rollouts
(``evaluate --samples``, :mod:`.uncertainty`), the sample spread against the true error beside
the estimate η, and the decorrelation time estimated from sample agreement beside the true one.

:func:`uncertainty_sections` returns what :func:`~.report.write_report` lays out: a table of
the numbers and one figure per evaluation (PNG with the drawn lines in JSON,
:func:`~.plots.save_figure`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import plots
from .report_data import ReportRun

__all__ = ["UncertaintySection", "plot_uncertainty", "uncertainty_sections"]

HEADER = [
    "run",
    "evaluation",
    "samples",
    "Spearman(spread, error)",
    "Spearman(η, error)",
    "median est. decorrelation t",
    "median true decorrelation t",
]


@dataclass
class UncertaintySection:
    """The table rows of every sampled evaluation and a figure (path, caption) for each."""

    rows: list[list[Any]]
    figures: list[tuple[Path, str]]


def plot_uncertainty(arrays: dict[str, np.ndarray], threshold: float, path: Path) -> Path:
    """Left: spread and η against the true error of the sample mean, one point per trajectory
    and frame. Right: over time, medians over trajectories of the sample agreement and the
    true correlation, the threshold dotted and the median times marked."""
    fig, (left, right) = plots._pair()
    error = np.ravel(arrays["uncertainty_error"])
    for key, label, colour in (("spread", "sample spread", "tab:blue"), ("eta", "η", "tab:red")):
        left.loglog(error, np.ravel(arrays[f"uncertainty_{key}"]), "o", ms=3, alpha=0.6,
                    color=colour, label=label)  # fmt: skip
    left.set_xlabel("true relative L2 error of the sample mean")
    left.set_ylabel("spread (relative) / η")
    left.set_title("spread and η against the true error")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)
    times = arrays["times"]
    for key, label, colour in (
        ("agreement", "agreement of samples", "tab:blue"),
        ("correlation", "correlation with the truth", "black"),
    ):
        right.plot(times, np.median(arrays[f"uncertainty_{key}"], axis=0), color=colour,
                   label=label)  # fmt: skip
    right.axhline(threshold, color="gray", ls=":", lw=1)
    for key, colour in (("estimated_time", "tab:blue"), ("true_time", "black")):
        t = float(np.median(arrays[f"uncertainty_{key}"]))
        if np.isfinite(t):
            right.axvline(t, color=colour, ls="--", lw=1)
    right.set_xlabel("t")
    right.set_ylabel("vorticity correlation (median over trajectories)")
    right.set_title("estimated and true decorrelation")
    right.grid(True, alpha=0.3)
    right.legend(fontsize=8)
    return plots.save_figure(fig, path)


def uncertainty_sections(runs: list[ReportRun], folder: Path) -> UncertaintySection:
    """The rows and figures of every evaluation of ``runs`` with sampled rollouts."""
    section = UncertaintySection([], [])
    for run in runs:
        for evaluation in run.evaluations:
            u = evaluation.get("uncertainty")
            if not u:
                continue
            npz = run.run.path / "evaluation" / f"{evaluation['key']}.npz"
            with np.load(npz) as data:
                arrays = {k: data[k] for k in data.files}
            path = folder / f"uncertainty-{len(section.figures)}.png"
            plots_path = plot_uncertainty(arrays, u["threshold"], path)
            est, true = u["median_estimated_time"], u["median_true_time"]
            section.rows.append(
                [run.name, evaluation["key"], u["samples"], u["spearman_spread_error"],
                 u["spearman_eta_error"], "never" if est is None else est,
                 "never" if true is None else true]
            )  # fmt: skip
            section.figures.append(
                (
                    plots_path,
                    f"{run.name}, {evaluation['key']}: {u['samples']} sampled rollouts. Left: "
                    "the spread of the samples and η against the true error of their mean, one "
                    "point per trajectory and frame (Spearman in the table). Right: the median "
                    "correlation between samples (agreement) and with the truth; dashed: the "
                    f"median times they drop below {u['threshold']:g}.",
                )
            )
    return section
