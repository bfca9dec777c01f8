"""What run directories hold: results keyed by what produced them, and a listing of runs.

Every result file of a run is named by what produced it, so two evaluations never overwrite
each other. The *data key* of a file is ``STEM-FPRINT``: the file's stem and the first 8
characters of its fingerprint (two files with one name but different trajectories get
different keys). An evaluation is ``RUN/evaluation/KEY.json`` (and ``.npz``) with

    KEY = DATAKEY-SPLIT-fFRAMES-nRESOLUTION[-refinedSTEPS][-closureLABEL]

(``LABEL`` names a use-time closure of the residual, :func:`closure_label`; without one the
key is as it always was), and a solver comparison
``RUN/evaluation/compare-DATAKEY-nRESOLUTION-iINSTANCES-solverGRIDS.json``
(``GRIDS`` the solver's resolutions, e.g. ``16-32-64``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..atomic import atomic_write, atomic_write_text
from ..errors import SpectralRefinerError
from ..training import RunDir

__all__ = [
    "closure_label",
    "comparison_key",
    "data_key",
    "evaluation_key",
    "format_runs",
    "list_runs",
    "read_comparisons",
    "read_evaluations",
    "write_results",
]

COMPARE_PREFIX = "compare-"


def data_key(path: str | os.PathLike, fingerprint: str) -> str:
    """``STEM-FPRINT`` of a data file (module docstring)."""
    return f"{Path(path).stem}-{(fingerprint or 'unknown')[:8]}"


def closure_label(spec: dict[str, Any] | None) -> str:
    """A short file-name label of a closure spec: ``smagorinsky``, ``smagorinsky0.1``,
    ``learned-STEM`` (the closure file's stem), ``none``; ``""`` for ``None``."""
    if spec is None:
        return ""
    values = [str(v) for k, v in sorted(spec.items()) if k not in ("name", "path")]
    if "path" in spec:
        values.append("-" + Path(str(spec["path"])).stem)
    return str(spec["name"]) + "".join(values)


def evaluation_key(
    data: str,
    *,
    split: str,
    frames: int,
    resolution: int,
    refine_steps: int | None,
    samples: int | None = None,
    closure: dict[str, Any] | None = None,
    ensemble: int | None = None,
) -> str:
    """The name of an evaluation's files (module docstring); ``refine_steps`` None: unrefined;
    ``samples``: the number of sampled rollouts of an uncertainty evaluation (None: none);
    ``closure`` None: the run's own residual; ``ensemble``: refinements averaged per frame
    (None: one)."""
    key = f"{data}-{split}-f{frames}-n{resolution}"
    key = key if refine_steps is None else f"{key}-refined{refine_steps}"
    key = key if closure is None else f"{key}-closure{closure_label(closure)}"
    key = key if ensemble is None else f"{key}-mean{ensemble}"
    return key if samples is None else f"{key}-samples{samples}"


def comparison_key(data: str, *, resolution: int, instances: int, solvers: list[int]) -> str:
    """The name of a solver comparison's file (module docstring)."""
    grids = "-".join(str(r) for r in sorted(solvers))
    return f"{COMPARE_PREFIX}{data}-n{resolution}-i{instances}-solver{grids}"


def write_results(
    folder: Path, name: str, results: dict[str, Any], arrays: dict[str, np.ndarray] | None = None
) -> Path:
    """Write ``folder/name.npz`` (with ``arrays``) and then ``folder/name.json`` atomically
    (a result counts once its JSON is there); returns the JSON file's path."""
    folder.mkdir(exist_ok=True)
    if arrays is not None:
        with atomic_write(folder / f"{name}.npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    path = folder / f"{name}.json"
    atomic_write_text(path, json.dumps(results, indent=1, default=float))
    return path


def _read_all(folder: Path, compare: bool) -> list[dict[str, Any]]:
    out = []
    for path in sorted(folder.glob("*.json")):
        if path.name.startswith(COMPARE_PREFIX) != compare:
            continue
        if not compare and not path.with_suffix(".npz").is_file():
            continue
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            raise SpectralRefinerError(
                f"{path} is unreadable: delete it and rerun the command that made it"
            ) from None
        if "data_key" in record:  # older evaluation.json / compare.json files lack their keys
            out.append(record)
    return sorted(out, key=lambda r: r.get("written", 0.0))


def read_evaluations(run: RunDir) -> list[dict[str, Any]]:
    """Every evaluation of the run (oldest first), each with its ``key``."""
    return _read_all(run.path / "evaluation", compare=False)


def read_comparisons(run: RunDir) -> list[dict[str, Any]]:
    """Every solver comparison of the run (oldest first), each with its ``key``."""
    return _read_all(run.path / "evaluation", compare=True)


def _run_row(run: RunDir) -> dict[str, Any]:
    summary = json.loads(run.summary.read_text()) if run.summary.is_file() else {}
    config = yaml.safe_load(run.config.read_text()) or {}
    data = config.get("data", {})
    source = data.get("file") or (f"online:{data['online']}" if data.get("online") else "?")
    row: dict[str, Any] = {
        "run": str(run.path),
        "model": summary.get("model") or config.get("model", {}).get("name", "?"),
        "data": Path(source).name,
        "parameters": summary.get("parameters"),
        "epochs": summary.get("epochs"),
        "test_rel_l2": summary.get("test", {}).get("rel_l2"),
        "evaluations": [],
    }
    for record in read_evaluations(run):
        for side in ("prediction", "refined", "persistence"):
            if side in record:
                row["evaluations"].append(
                    {
                        "key": record["key"],
                        "side": side,
                        "median_rel_l2": record[side].get("median_rel_l2"),
                    }
                )
    return row


def list_runs(root: str | os.PathLike) -> list[dict[str, Any]]:
    """Every training run at or below ``root`` (a folder with ``config.yaml`` and
    ``checkpoints/``), sorted by path, with its model, data, parameters, epochs, test error
    and the median relative L2 error of each evaluation."""
    root = Path(root)
    if not root.is_dir():
        raise SpectralRefinerError(f"{root} is not a directory: give a folder holding runs")
    runs = [
        RunDir(p.parent)
        for p in sorted(root.rglob("config.yaml"))
        if (p.parent / "checkpoints").is_dir()
    ]
    return [_run_row(run) for run in runs]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def format_runs(rows: list[dict[str, Any]]) -> str:
    """Aligned text table of :func:`list_runs`, one evaluation per indented line."""
    if not rows:
        return "no runs found"
    header = ("run", "model", "data", "parameters", "epochs", "test rel L2")
    table = [
        [r["run"], r["model"], r["data"], r["parameters"], r["epochs"], r["test_rel_l2"]]
        for r in rows
    ]
    cells = [list(header)] + [[_fmt(v) for v in row] for row in table]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for i, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            continue
        for e in rows[i - 1]["evaluations"]:
            lines.append(
                f"    {e['key']}  {e['side']:<11s} median rel L2 {_fmt(e['median_rel_l2'])}"
            )
    return "\n".join(lines)
