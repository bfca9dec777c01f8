"""One self-contained HTML page (images embedded) and its PNG figures for one or more runs.

Reads each run directory's ``config.yaml``, ``metrics.jsonl``, ``summary.json`` and
``evaluation/`` (``evaluate``, ``compare-solver``, ``compare-hybrid``, ``compare-rollouts``).
Per test set (:mod:`.report_data`): the dataset's physics, medians with 10th–90th percentiles
over the trajectories, error and correlation over time, spectra, energy and enstrophy, η against
the true error, floor, estimate and true error per window (:mod:`.report_estimate`), the solver
comparison with its Pareto plot, and snapshots; then :mod:`.hybrid_report`, sample efficiency
(:mod:`.report_efficiency`), correlation time against cost (:mod:`.report_pareto`), sample spread
beside η (:mod:`.report_uncertainty`), training curves and configs. Each figure is a PNG beside
the page, its numbers in a JSON file (:func:`.plots.save_figure`). One run:
``RUN_DIR/report/report.html``; several: ``OUT/``."""

from __future__ import annotations

import base64
import datetime
import html
import os
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from ..errors import SpectralRefinerError
from . import plots
from .compare import pareto_front
from .report_data import ReportRun, TestSet, gather
from .report_efficiency import efficiency_sections
from .report_estimate import ESTIMATE_CAPTION, ESTIMATE_HEADER, estimate_rows
from .report_pareto import pareto_sections
from .report_uncertainty import HEADER, uncertainty_sections

__all__ = ["default_report_folder", "write_report"]

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1180px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 2px solid #ccc; }
h3 { font-size: 1.1em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
td, th { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; height: auto; display: block; margin: 0.5em 0; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.caption { color: #444; font-size: 0.92em; margin-bottom: 1.4em; }
.spread { color: #777; font-size: 0.85em; }
"""
PHYSICS = [
    ("box side L", "box_length"),
    ("viscosity ν", "viscosity"),
    ("linear drag μ", "drag"),
    ("forcing", "forcing"),
    ("forcing amplitude", "forcing_amplitude"),
    ("forcing wavenumber", "forcing_wavenumber"),
    ("initial condition", "initial_condition"),
    ("simulated resolution", "sim_resolution"),
    ("stored resolution", "stored_resolution"),
    ("solver scheme", "scheme"),
    ("solver Δt", "dt"),
    ("Courant number", "courant"),
    ("warm-up time", "warmup_time"),
    ("stored frames Δt apart", "frame_interval"),
    ("window frames Δt apart", "window_dt"),
]
METRICS = [
    ("rel L2", "rel_l2"),
    ("rel H1", "rel_h1"),
    ("rel H^-1", "rel_h-1"),
    ("correlation", "correlation"),
]


def default_report_folder() -> Path:
    """``report-YYYY-MM-DD`` in the working directory (several runs' report)."""
    return Path(f"report-{datetime.date.today().isoformat()}")


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(path.stem)}">'


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
    body = "".join(
        "<tr>" + "".join(f"<td>{v if _raw(v) else _fmt(v)}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return f"<table>{head if header else ''}{body}</table>"


def _never(value: float | None) -> Any:
    """A high-correlation time: None means the correlation never dropped that low."""
    return "never" if value is None else value


class Raw(str):
    """HTML that a table shows as is."""


def _raw(value: Any) -> bool:
    return isinstance(value, Raw)


def _spread(s: dict[str, Any], key: str) -> Raw:
    return Raw(
        f"{s[f'median_{key}']:.4g} <span class='spread'>[{s[f'p10_{key}']:.3g}, "
        f"{s[f'p90_{key}']:.3g}]</span>"
    )


def _figure(parts: list[str], title: str, path: Path, caption: str) -> None:
    parts += [
        f"<h3>{html.escape(title)}</h3>",
        _image(path),
        f'<div class="caption">{html.escape(caption)}</div>',
    ]


def _results_table(test: TestSet) -> str:
    rows = []
    for s in test.series:
        rows.append(
            [s["label"]]
            + [_spread(s, key) for _, key in METRICS]
            + [
                s.get("mean_eta", "-"),
                s["time_below_0.95"],
                s["time_below_0.8"],
                s["high_band_ratio"],
            ]
        )
    return _table(
        [
            "method",
            *[f"{label} [p10, p90]" for label, _ in METRICS],
            "mean η",
            "corr < 0.95 at t",
            "corr < 0.8 at t",
            "high-band E / truth",
        ],
        rows,
    )


def _pareto_points(
    comparisons: list[tuple[ReportRun, dict[str, Any]]], labelled: bool
) -> list[dict[str, Any]]:
    """The solver's points (from the first comparison) and every run's surrogate points."""
    first = comparisons[0][1]
    points = [dict(p) for p in first["points"] if p["method"].startswith("solver")]
    for run, compare in comparisons:
        for p in compare["points"]:
            if not p["method"].startswith("solver"):
                method = f"{run.name}: {p['method']}" if labelled else p["method"]
                points.append({**p, "method": method})
    return points


def _solver_sections(
    parts: list[str], test: TestSet, folder: Path, tag: str, labelled: bool
) -> None:
    """One table and Pareto plot per horizon (comparisons of models with different windows
    are not comparable)."""
    horizons: dict[float, list[tuple[ReportRun, dict[str, Any]]]] = {}
    for run, compare in test.comparisons:
        horizons.setdefault(round(compare["horizon"], 9), []).append((run, compare))
    for h, (horizon, comparisons) in enumerate(sorted(horizons.items())):
        first = comparisons[0][1]
        points = _pareto_points(comparisons, labelled)
        front = [p["method"] for p in pareto_front(points)]
        parts.append(
            f"<h3>Solver against surrogates, horizon {horizon:.3g}</h3>"
            f"<p>The solver (RK4-CN, adaptive Δt, Courant {first['courant']:g}) from the "
            f"surrogates' last input frame, over one window ({first['frames']} frames, "
            f"{first['instances']} trajectories, {first['device']}, {first['threads']} "
            "threads; wall times on a shared machine, medians of interleaved rounds).</p>"
        )
        parts.append(
            _table(
                ["method", "s / trajectory", "median rel L2", "on the Pareto front"],
                [[p["method"], p["seconds"], p["rel_l2"], p["method"] in front] for p in points],
            )
        )
        best = min(points, key=lambda p: p["rel_l2"])
        _figure(
            parts,
            f"Cost against accuracy, horizon {horizon:.3g}",
            plots.plot_pareto(
                points,
                front,
                f"cost against accuracy ({first['instances']} trajectories, horizon {horizon:.3g})",
                folder / f"pareto{tag}{'-' + str(h) if h else ''}.png",
            ),
            "Lower left is better; the dashed line joins the undominated methods. The most "
            f"accurate is {best['method']} ({best['rel_l2']:.3g} in {best['seconds']:.3g} s).",
        )


def _test_section(parts: list[str], test: TestSet, folder: Path, tag: str, labelled: bool) -> None:
    evaluation, arrays = test.first
    data_key, split, frames, n = test.key
    physics = evaluation.get("physics", {})
    parts.append(
        f"<h2>Test set {html.escape(data_key)}: {html.escape(split)} trajectories, {frames} "
        f"predicted frames at {n}²</h2>"
        f"<p>File <code>{html.escape(evaluation['data'])}</code>, "
        f"{evaluation['instances']} trajectories, t = {evaluation['times'][0]:.4g} .. "
        f"{evaluation['times'][-1]:.4g}.</p>"
    )
    if physics:
        cells = [Raw(f"<b>{html.escape(k)}</b>") for k, _ in PHYSICS]
        values = [physics.get(v) for _, v in PHYSICS]
        values[PHYSICS.index(("solver Δt", "dt"))] = physics.get("dt") or "adaptive"
        pairs = [x for pair in zip(cells, values, strict=True) for x in pair]
        rows = [pairs[i : i + 6] for i in range(0, len(pairs), 6)]
        parts.append("<p><b>Dataset physics</b> (from the file's recorded preset)</p>")
        parts.append(_table([], rows))
    parts.append(_results_table(test))
    parts.append(
        "<p class='caption'>Errors and correlation: median over the trajectories of each "
        "trajectory's mean over the predicted frames, [10th, 90th percentile]. η: mean "
        "estimate of the windows. High-band E / truth: energy in the shells n/4 ≤ |m| ≤ n/2 − 1 "
        "at the last frame over the truth's (above 1: spurious grid-scale structure).</p>"
    )
    series, times = test.series, arrays["times"]
    models = [s for s in series if s["side"] != "persistence"]
    persistence = [s for s in series if s["side"] == "persistence"]
    worst = [
        s["label"]
        for s in models
        if persistence and s["median_rel_l2"] >= persistence[0]["median_rel_l2"]
    ]
    _figure(
        parts,
        "Error and correlation over time",
        plots.plot_errors(times, series, folder / f"errors{tag}.png"),
        "Lines: median over trajectories; bands: 10th–90th percentile; dotted: correlation "
        "0.95 and 0.8. "
        + (
            f"Not better than persistence: {', '.join(worst)}."
            if worst
            else "Every model beats persistence."
        ),
    )
    grid_scale = [
        f"{s['label']} {s['high_band_ratio']:.2g}×" for s in models if s["high_band_ratio"] > 1.5
    ]
    ratios = ", ".join(f"{s['label']} {s['high_band_ratio']:.3g}" for s in models)
    _figure(
        parts,
        "Energy spectra",
        plots.plot_spectra(
            arrays["wavenumber"], arrays["spectrum_truth"], series, n, folder / f"spectra{tag}.png"
        ),
        f"Shells |m| = 1 .. {plots.last_full_shell(n)} (the last full shell of {n}² frames), "
        f"mean over trajectories; grey: k^-3 (enstrophy cascade) and k^-5/3 slopes. High-band "
        f"energy over the truth's at the last frame: {ratios}. "
        + (
            f"Grid-scale structure (excess high-band energy): {'; '.join(grid_scale)}."
            if grid_scale
            else "No spurious grid-scale energy (all high-band ratios ≤ 1.5)."
        ),
    )
    _figure(
        parts,
        "Energy and enstrophy",
        plots.plot_energy(times, evaluation["truth"], series, folder / f"energy{tag}.png"),
        "Kinetic energy and enstrophy, mean over trajectories: a model that gains or loses "
        "enstrophy smooths or roughens the flow.",
    )
    with_eta = [s for s in models if s.get("eta") is not None]
    if with_eta:
        _figure(
            parts,
            "Estimate η against the true error",
            plots.plot_eta(with_eta, folder / f"eta{tag}.png"),
            "One point per trajectory and window; points along the dotted line η = error mean "
            "the label-free estimate tracks the true error.",
        )
    if rows := estimate_rows(models):
        parts.append("<h3>Floor, estimate and true error per window</h3>")
        parts.append(_table(ESTIMATE_HEADER, rows) + f"<p class='caption'>{ESTIMATE_CAPTION}</p>")
    _solver_sections(parts, test, folder, tag, labelled)
    predictions = [
        (s["label"], test.evaluations[s["evaluation"]][2][f"snapshot_{s['side']}"]) for s in models
    ]
    _figure(
        parts,
        "Vorticity snapshots",
        plots.plot_snapshots(
            times[arrays["snapshot_frames"]],
            arrays["snapshot_truth"],
            predictions,
            folder / f"snapshots{tag}.png",
        ),
        "First test trajectory. Fields share the truth's colour scale (bar at the row's last "
        "field); each error panel has its own colour scale: read the errors by their bars.",
    )


def _evaluations_table(runs: list[ReportRun]) -> str:
    rows = []
    for run in runs:
        for e in run.evaluations:
            rows.append(
                [
                    run.name,
                    e["key"],
                    e["model"],
                    e["frames"],
                    e["resolution"],
                    e.get("refine_steps") or "-",
                ]
                + [
                    e[s]["median_rel_l2"] if s in e and "median_rel_l2" in e[s] else None
                    for s in ("prediction", "refined", "persistence")
                ]
            )
    return _table(
        ["run", "evaluation", "model", "frames", "n", "refine steps", "prediction", "refined",
         "persistence"],
        rows,
    )  # fmt: skip


def write_report(
    runs: list[str | os.PathLike] | str | os.PathLike, out: str | os.PathLike | None = None
) -> Path:
    """Write the report of one or several runs (module docstring); returns the HTML file."""
    paths = [runs] if isinstance(runs, (str, os.PathLike)) else list(runs)
    if not paths:
        raise SpectralRefinerError("give at least one run directory")
    report_runs, tests = gather(paths)
    single = report_runs[0].run.path / "report" if len(paths) == 1 else None
    folder = Path(out) if out else single or default_report_folder()
    if folder.exists() and not folder.is_dir():
        raise SpectralRefinerError(f"{folder} exists and is not a directory: choose --out")
    folder.mkdir(parents=True, exist_ok=True)
    labelled = len(report_runs) > 1
    names = " vs ".join(r.name for r in report_runs)
    parts = [
        f"<h1>spectral-refiner report: {html.escape(names)}</h1>",
        "<p>"
        + "; ".join(
            f"<b>{html.escape(r.name)}</b>: {html.escape(r.evaluations[-1]['model'])}"
            + (
                f", {r.summary['parameters']} parameters, {r.summary['epochs']} epochs"
                if r.summary
                else ""
            )
            for r in report_runs
        )
        + ".</p>",
        "<h2>Every evaluation</h2>",
        _evaluations_table(report_runs),
        "<p class='caption'>Median relative L2 error over the trajectories of each evaluation "
        "(persistence: the last input frame held).</p>",
    ]
    for i, test in enumerate(tests):
        _test_section(parts, test, folder, f"-{i}" if i else "", labelled)
    from .hybrid_report import hybrid_sections  # built on this module's helpers

    parts += hybrid_sections(report_runs, folder) + efficiency_sections(report_runs, folder)
    parts += pareto_sections(report_runs, folder)
    sampled = uncertainty_sections(report_runs, folder)
    if sampled.rows:  # evaluate --samples: spread and η against the error
        parts += ["<h2>Uncertainty of sampled rollouts</h2>", _table(HEADER, sampled.rows)]
        for path, caption in sampled.figures:
            _figure(parts, "Sample spread, η and decorrelation", path, caption)
    trained = [(r.name, r.steps, r.epochs) for r in report_runs if r.steps]
    if trained:
        parts.append("<h2>Training</h2>")
        _figure(
            parts,
            "Training curves",
            plots.plot_training(trained, folder / "training.png"),
            "Training loss per optimiser step and validation error per epoch of each run.",
        )
    for r in report_runs:
        parts.append(f"<h2>Configuration of {html.escape(r.name)}</h2>")
        parts.append("<pre>" + html.escape(r.run.config.read_text()) + "</pre>")
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(names)}"
        f" report</title><style>{STYLE}</style></head><body>" + "\n".join(parts) + "</body></html>"
    )
    path = folder / "report.html"
    atomic_write_text(path, page)
    return path
