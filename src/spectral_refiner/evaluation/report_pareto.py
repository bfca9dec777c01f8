"""The joint Pareto plot of correlation time against cost (:mod:`.rollout_pareto`): its figure,
its table as text, the files ``compare-rollouts`` writes, and the report's section.

A result written into several runs (one comparison of several runs) is shown once; of two
results with one key, the newest.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from . import plots
from .rollout_pareto import PARETO_PREFIX, THRESHOLDS, rollout_front

__all__ = [
    "format_rollout_table",
    "pareto_sections",
    "plot_rollout_pareto",
    "read_rollout_comparisons",
    "write_rollout_pareto",
]

_STYLE = {"solver": ("s", "tab:gray"), "surrogate": ("o", "tab:blue"), "refined": ("D", "tab:red")}
HEADER = ["method", "s / unit time", "corr ≥ 0.95 until", "corr ≥ 0.8 until", "mean rel L2"]


def plot_rollout_pareto(results: dict[str, Any], path: Path) -> Path:
    """Two panels, the lead time the mean correlation stays above 0.95 and above 0.8 against
    the wall seconds per trajectory per unit simulated time (log), the Pareto front of each
    joined by a dashed line; a method that never drops below is drawn at the horizon as a
    triangle. Squares: solver grids; circles: surrogates; diamonds: refined surrogates."""
    fig, axes = plots._pair()
    horizon = results["horizon"]
    points = results["points"]
    for ax, c in zip(axes, THRESHOLDS, strict=True):
        for p in points:
            t = p[f"t_{c}"]
            marker, colour = _STYLE[p["kind"]]
            ax.semilogx([p["seconds"]], [horizon if t is None else t],
                        "^" if t is None else marker, color=colour, ms=8, ls="none")  # fmt: skip
            ax.annotate(p["method"], (p["seconds"], horizon if t is None else t), fontsize=7,
                        textcoords="offset points", xytext=(5, 3))  # fmt: skip
        front = rollout_front(points, c)
        ax.semilogx(
            [p["seconds"] for p in front],
            [horizon if p[f"t_{c}"] is None else p[f"t_{c}"] for p in front],
            color="black", lw=1, ls="--", label=f"Pareto front at {c}",
        )  # fmt: skip
        ax.axhline(horizon, color="tab:gray", lw=0.8, ls=":")
        ax.set_title(f"time with correlation ≥ {c} (higher is better)")
        ax.set_xlabel("wall time per trajectory per unit simulated time [s]")
        ax.set_ylabel(f"lead time until correlation < {c}")
        ax.grid(True, which="both", alpha=0.3)
        ax.margins(x=0.25, y=0.12)
    fig.suptitle(
        f"{results['instances']} held-out trajectories, {results['resolution']}², horizon "
        f"{horizon:.3g} from t = {results['anchor_time']:.3g}",
        fontsize=10,
    )
    fig.subplots_adjust(top=0.84)  # room for the title above the panels' own
    return plots.save_figure(fig, path)


def _rows(results: dict[str, Any]) -> list[list[Any]]:
    return [
        [p["method"], p["seconds"], p["t_0.95"], p["t_0.8"], p["rel_l2"]] for p in results["points"]
    ]


def _cell(value: Any) -> str:
    if value is None:
        return "never"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def format_rollout_table(results: dict[str, Any]) -> str:
    """The table (Markdown) and the verdict lines of a result."""
    lines = [
        f"{results['instances']} held-out trajectories of {results['data']}, "
        f"{results['resolution']}², {results['frames']} frames {results['window_dt']:.3g} apart "
        f"from t = {results['anchor_time']:.3g} (horizon {results['horizon']:.3g}); "
        f"{results['device']}, {results['threads']} threads, medians of up to "
        f"{results['rounds']} interleaved timing rounds",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in _rows(results)]
    lines += ["", *(f"- {line}" for line in results["verdict"])]
    return "\n".join(lines)


def write_rollout_pareto(results: dict[str, Any], folder: Path) -> list[Path]:
    """``folder/pareto.md`` (the table), ``pareto.png`` (+ ``pareto.json``, the drawn lines)
    and ``results.json`` (every number); returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    table = folder / "pareto.md"
    atomic_write_text(table, format_rollout_table(results) + "\n")
    numbers = folder / "results.json"
    atomic_write_text(numbers, json.dumps(results, indent=1))
    return [table, plot_rollout_pareto(results, folder / "pareto.png"), numbers]


def read_rollout_comparisons(runs: list[Any]) -> list[dict[str, Any]]:
    """Every ``compare-rollouts`` result of ``runs`` (:class:`~.report_data.ReportRun`),
    once per key (the newest), oldest first."""
    newest: dict[str, dict[str, Any]] = {}
    for run in runs:
        for path in sorted((run.run.path / "evaluation").glob(f"{PARETO_PREFIX}*.json")):
            result = json.loads(path.read_text())
            if result["written"] >= newest.get(result["key"], {"written": -1.0})["written"]:
                newest[result["key"]] = result
    return sorted(newest.values(), key=lambda r: r["written"])


def pareto_sections(runs: list[Any], folder: Path) -> list[str]:
    """HTML parts of the runs' joint Pareto results, figures written into ``folder``; none
    when there are none."""
    from .report import _figure, _never, _table  # the report's helpers (it imports this)

    parts: list[str] = []
    for i, r in enumerate(read_rollout_comparisons(runs)):
        parts.append(
            f"<h2>Correlation time against cost: {html.escape(r['data_key'])}</h2>"
            f"<p>{html.escape(format_rollout_table(r).splitlines()[0])}.</p>"
        )
        rows = [[m, s, _never(a), _never(b), e] for m, s, a, b, e in _rows(r)]
        parts.append(_table(HEADER, rows))
        _figure(
            parts,
            "Joint Pareto plot",
            plot_rollout_pareto(r, folder / f"rollout-pareto{'-' + str(i) if i else ''}.png"),
            "Higher and further left is better; dashed: the Pareto front; triangles never "
            "dropped below the threshold within the horizon (dotted).",
        )
        parts += ["<ul>", *(f"<li>{html.escape(line)}</li>" for line in r["verdict"]), "</ul>"]
    return parts
