"""The report's hybrid section: every ``compare-hybrid`` result of the runs, as a table, the
Pareto plot (correlation time and error against the cost per unit of simulated time) and the
verdict sentences (:mod:`.hybrid_verdict`).

A result written into several runs (one comparison of several hybrids) is shown once; of two
results with one key, the newest.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from . import plots
from .hybrid_compare import read_hybrid_comparisons
from .report import _figure, _never, _table

__all__ = ["hybrid_sections", "plot_hybrid_pareto"]

_MARKERS = {"solver": "s", "closure": "D", "hybrid": "o"}


def plot_hybrid_pareto(
    points: list[dict[str, Any]], horizon: float, title: str, path: Path
) -> Path:
    """Two panels against the wall time per trajectory per unit of simulated time: the time the
    correlation stays >= 0.95 (a method that keeps it over the whole horizon is drawn at the
    horizon, as a triangle) and the mean relative L2 error."""
    fig, axes = plots._pair()
    colours = plt.get_cmap("tab20").colors
    for i, p in enumerate(points):
        t95 = p["t_0.95"]
        style = {"color": colours[i % len(colours)], "ms": 8, "ls": "none", "label": p["method"]}
        marker = _MARKERS[p["kind"]]
        axes[0].semilogx([p["seconds"]], [horizon if t95 is None else t95],
                         "^" if t95 is None else marker, **style)  # fmt: skip
        axes[1].loglog([p["seconds"]], [p["rel_l2"]], marker, **style)
    axes[0].set_ylabel("time with correlation >= 0.95")
    axes[0].set_title("correlation time (higher is better)")
    axes[1].set_ylabel("mean relative L2 error over the horizon")
    axes[1].set_title("error (lower is better)")
    for ax in axes:
        ax.set_xlabel("wall time per trajectory per unit time [s]")
        ax.grid(True, which="both", alpha=0.3)
        ax.margins(x=0.2, y=0.15)
    fig.suptitle(title, fontsize=10)
    plots._legend_below(fig, axes[1])
    return plots.save_figure(fig, path)


def _comparisons(runs: list[Any]) -> list[dict[str, Any]]:
    newest: dict[str, dict[str, Any]] = {}
    for run in runs:
        for result in read_hybrid_comparisons(run.run.path):
            newest[result["key"]] = result  # oldest first: the newest wins
    return sorted(newest.values(), key=lambda r: r["written"])


def hybrid_sections(runs: list[Any], folder: Path) -> list[str]:
    """HTML parts of the hybrid comparisons of ``runs`` (:class:`~.report_data.ReportRun`),
    their figures written into ``folder``; no parts when there are none."""
    parts: list[str] = []
    for i, r in enumerate(_comparisons(runs)):
        tuned = "; ".join(
            f"{name} C = {t['coefficient']:.3g}"
            for name, t in r["tuning"].items()
            if isinstance(t, dict)
        )
        parts.append(
            f"<h2>Hybrid against solver and closures: {html.escape(r['data_key'])}, "
            f"{r['resolution']}²</h2>"
            f"<p>From the first frame of {r['instances']} held-out trajectories at "
            f"{r['resolution']}², horizon {r['horizon']:.3g} ({r['frames']} frames); the "
            "plain solver at n, 2n, 4n with the 2/3 rule and keeping every stored mode (a "
            "3/2-times finer grid), classical closures at n"
            + (
                f" (tuned a posteriori on {html.escape(r['tuning']['data'])}: {tuned})"
                * bool(tuned)
            )
            + f", and the hybrids. Wall times: {r['device']}, {r['threads']} threads, medians of "
            f"{r['rounds']} interleaved rounds on a shared machine.</p>"
        )
        parts.append(
            _table(
                [
                    "method",
                    "s / unit time",
                    "corr ≥ 0.95 until",
                    "corr ≥ 0.8 until",
                    "corr at the horizon",
                    "mean rel L2",
                    "spectrum error per octave band",
                    "blew up at",
                ],
                [
                    [
                        p["method"],
                        p["seconds"],
                        _never(p["t_0.95"]),
                        _never(p["t_0.8"]),
                        p["correlation_final"],
                        p["rel_l2"],
                        " ".join(f"{b:.2g}" for b in p["band_errors"]),
                        p["blew_up_at"],
                    ]
                    for p in r["points"]
                ],
            )
        )
        _figure(
            parts,
            f"Pareto: hybrid against solver and closures ({r['data_key']})",
            plot_hybrid_pareto(
                r["points"],
                r["horizon"],
                f"{r['instances']} trajectories, {r['resolution']}², horizon {r['horizon']:.3g}",
                folder / f"hybrid-pareto{'-' + str(i) if i else ''}.png",
            ),
            "Left: higher and further left is better (triangles kept the correlation over the "
            "whole horizon); right: lower and further left is better. Squares: plain solver; "
            "diamonds: classical closures; circles: hybrids; one colour per method (legend).",
        )
        parts.append("<p><b>Verdict.</b></p><ul>")
        parts += [f"<li>{html.escape(line)}</li>" for line in r["verdict"]]
        parts.append("</ul>")
    return parts
