"""One self-contained HTML page (images embedded) and its PNG figures for a run.

Reads what the run directory holds: ``config.yaml``, ``metrics.jsonl``, ``summary.json`` and
``evaluation/`` (``evaluation.json``/``.npz`` from ``spectral-refiner evaluate``, and
``compare.json`` from ``spectral-refiner compare-solver`` when it was run), and writes
``RUN_DIR/report/report.html`` with the figures beside it as PNG files.
"""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write_text
from ..errors import SpectralRefinerError
from ..training import RunDir
from . import plots

__all__ = ["write_report"]

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1150px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8em 0; }
td, th { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; height: auto; display: block; margin: 0.5em 0; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.caption { color: #555; font-size: 0.92em; margin-bottom: 1.2em; }
"""


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(path.stem)}">'


def _fmt(value: Any) -> str:
    if value is None:
        return "never"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def write_report(run_dir: str | os.PathLike) -> Path:
    """Write the report of the run (module docstring); returns the HTML file's path."""
    run = RunDir.existing(run_dir)
    folder = run.path / "evaluation"
    results = _read_json(folder / "evaluation.json")
    if results is None or not (folder / "evaluation.npz").is_file():
        raise SpectralRefinerError(
            f"{run.path} has no evaluation yet: run `spectral-refiner evaluate --run "
            f"{run.path} --data FILE.h5` first"
        )
    with np.load(folder / "evaluation.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    compare = _read_json(folder / "compare.json")
    records = [json.loads(x) for x in run.metrics.read_text().splitlines() if x.strip()]
    out = run.path / "report"
    out.mkdir(exist_ok=True)

    figures = [
        (
            "Vorticity snapshots",
            plots.plot_snapshots(arrays, out / "snapshots.png"),
            "First test trajectory at several predicted times: truth, prediction(s) and each "
            "prediction's error. One colour scale per row for the fields, one for the errors.",
        ),
        (
            "Error and correlation over time",
            plots.plot_errors(arrays, out / "errors.png"),
            "Relative L2 error and vorticity correlation per predicted frame, mean over the test "
            "trajectories; dotted lines at correlation 0.95 and 0.8.",
        ),
        (
            "Energy spectra",
            plots.plot_spectra(arrays, out / "spectra.png"),
            "Shell energy spectra (their sums are the kinetic energy), mean over trajectories.",
        ),
        (
            "Energy and enstrophy",
            plots.plot_energy(results, out / "energy.png"),
            "Mean kinetic energy and enstrophy of truth and prediction(s) over time.",
        ),
        (
            "Estimate η against the true error",
            plots.plot_eta(arrays, out / "eta.png"),
            "Each point is one window of one test trajectory; the dotted line is η = error.",
        ),
    ]
    if compare is not None:
        figures.append(
            (
                "Cost against accuracy",
                plots.plot_pareto(compare, out / "pareto.png"),
                "Median error against wall time per trajectory on "
                f"{compare['device']} ({compare['threads']} threads), the solver at "
                "several resolutions from the same last input frame.",
            )
        )
    steps = [r for r in records if r.get("kind") == "step"]
    epochs = [r for r in records if r.get("kind") == "epoch"]
    if steps:
        figures.append(
            (
                "Training",
                plots.plot_training(steps, epochs, out / "training.png"),
                "Training loss per step and validation errors per epoch.",
            )
        )

    sides = [s for s in ("prediction", "refined") if s in results]
    rows = [
        [s]
        + [
            results[s][k]
            for k in (
                "mean_rel_l2",
                "mean_rel_h1",
                "mean_rel_h-1",
                "mean_correlation",
                "mean_eta",
                "time_below_0.95",
                "time_below_0.8",
            )
        ]
        for s in sides
    ]
    parts = [
        f"<h1>spectral-refiner report: {html.escape(run.path.name)}</h1>",
        f"<p>Model <b>{html.escape(results['model'])}</b> evaluated on "
        f"<code>{html.escape(results['data'])}</code>: {results['instances']} trajectories, "
        f"{results['frames']} predicted frames at {results['resolution']}².</p>",
        _table(
            [
                "",
                "rel L2",
                "rel H1",
                "rel H^-1",
                "correlation",
                "η",
                "corr < 0.95 at t",
                "corr < 0.8 at t",
            ],
            rows,
        ),
    ]
    if compare is not None:
        parts.append("<h2>Solver against surrogate</h2>")
        parts.append(
            _table(
                ["method", "s / trajectory", "median rel L2"],
                [[p["method"], p["seconds"], p["rel_l2"]] for p in compare["points"]],
            )
        )
        parts.append(
            "<ul>" + "".join(f"<li>{html.escape(v)}</li>" for v in compare["verdict"]) + "</ul>"
        )
    for title, path, caption in figures:
        parts += [
            f"<h2>{html.escape(title)}</h2>",
            _image(path),
            f'<div class="caption">{html.escape(caption)}</div>',
        ]
    summary = _read_json(run.summary)
    if summary is not None:
        parts.append(
            "<h2>Training summary</h2><pre>" + html.escape(json.dumps(summary, indent=1)) + "</pre>"
        )
    parts.append("<h2>Configuration</h2><pre>" + html.escape(run.config.read_text()) + "</pre>")
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(run.path.name)}"
        f" report</title><style>{STYLE}</style></head><body>" + "\n".join(parts) + "</body></html>"
    )
    path = out / "report.html"
    atomic_write_text(path, page)
    return path
