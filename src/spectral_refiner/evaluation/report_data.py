"""What a report shows, gathered from run directories: test sets, their series and solvers.

A *test set* is what makes evaluations comparable: the same data file (by its data key),
split, rollout length and resolution. For each test set and each run the newest evaluation
with the most sides (prediction, refined) is taken; each side becomes a *series*, and the
persistence baseline one more per input length ``t_in`` (it depends on nothing else).
Solver comparisons attach to the test sets of their data file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SpectralRefinerError
from ..training import RunDir
from .runs import closure_label, read_comparisons, read_evaluations

__all__ = ["ReportRun", "TestSet", "gather", "high_band_ratio"]

COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink"]
STYLES = {"prediction": "-", "refined": "--", "persistence": ":"}


@dataclass
class ReportRun:
    """A run with everything it holds that a report shows."""

    run: RunDir
    evaluations: list[dict[str, Any]]
    comparisons: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    epochs: list[dict[str, Any]]
    summary: dict[str, Any] | None

    @property
    def name(self) -> str:
        return self.run.path.name


@dataclass
class TestSet:
    """Comparable evaluations: one per run, their series, and the solver comparisons."""

    key: tuple[str, str, int, int]
    evaluations: list[tuple[ReportRun, dict[str, Any], dict[str, np.ndarray]]]
    series: list[dict[str, Any]] = field(default_factory=list)
    comparisons: list[tuple[ReportRun, dict[str, Any]]] = field(default_factory=list)

    @property
    def first(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return self.evaluations[0][1], self.evaluations[0][2]


def _load_run(path: str | Path) -> ReportRun:
    run = RunDir.existing(path)
    evaluations = read_evaluations(run)
    if not evaluations:
        raise SpectralRefinerError(
            f"{run.path} has no evaluation yet (or only ones older than results keyed by "
            f"their data): run `spectral-refiner evaluate --run {run.path} --data FILE.h5` first"
        )
    records = (
        [json.loads(x) for x in run.metrics.read_text().splitlines() if x.strip()]
        if run.metrics.is_file()
        else []
    )
    summary = json.loads(run.summary.read_text()) if run.summary.is_file() else None
    return ReportRun(
        run,
        evaluations,
        read_comparisons(run),
        [r for r in records if r.get("kind") == "step"],
        [r for r in records if r.get("kind") == "epoch"],
        summary,
    )


def _arrays(run: ReportRun, evaluation: dict[str, Any]) -> dict[str, np.ndarray]:
    with np.load(run.run.path / "evaluation" / f"{evaluation['key']}.npz") as npz:
        return {k: npz[k] for k in npz.files}


def high_band_ratio(spectrum: np.ndarray, truth: np.ndarray, resolution: int) -> float:
    """Energy in the shells ``n/4 <= j <= n/2 - 1`` of a spectrum's last frame over the
    truth's: above 1, the prediction carries spurious grid-scale structure."""
    band = slice(resolution // 4, resolution // 2)
    true = float(np.sum(truth[-1, band]))
    return float(np.sum(spectrum[-1, band])) / true if true > 0 else float("nan")


def _series(test: TestSet, labelled: bool) -> None:
    persistence: dict[int, dict[str, Any]] = {}
    for i, (run, evaluation, arrays) in enumerate(test.evaluations):
        prefix = f"{run.name} ({evaluation['model']})" if labelled else evaluation["model"]
        if evaluation.get("closure"):
            prefix += f" [closure {closure_label(evaluation['closure'])}]"
        for side in ("prediction", "refined"):
            if side in evaluation:
                test.series.append(_one(evaluation, arrays, side, f"{prefix} {side}", i))
        if "persistence" in evaluation:
            persistence.setdefault(
                evaluation["t_in"], _one(evaluation, arrays, "persistence", index=i)
            )
    for t_in, s in persistence.items():
        if len(persistence) > 1:
            s["label"] += f" (t_in = {t_in})"
        test.series.append(s)


def _one(
    evaluation: dict[str, Any], arrays: dict[str, np.ndarray], side: str, label: str = "",
    index: int = 0,
) -> dict[str, Any]:  # fmt: skip
    s = dict(evaluation[side])
    s.update(
        label=label or "persistence (last input frame)",
        side=side,
        colour="tab:gray" if side == "persistence" else COLOURS[index % len(COLOURS)],
        style=STYLES[side],
        times=np.asarray(evaluation["times"]),
        spectrum=arrays[f"spectrum_{side}"],
        eta=arrays.get(f"eta_{side}"),
        window_error=arrays.get(f"window_error_{side}"),
        evaluation=index,
        high_band_ratio=high_band_ratio(
            arrays[f"spectrum_{side}"], arrays["spectrum_truth"], evaluation["resolution"]
        ),
    )
    return s


def gather(paths: list[str | Path]) -> tuple[list[ReportRun], list[TestSet]]:
    """The runs and their test sets (those shared by the most runs first)."""
    runs = [_load_run(p) for p in paths]
    names = [r.name for r in runs]
    if len(set(names)) < len(names):
        raise SpectralRefinerError(
            f"two runs share the name {next(n for n in names if names.count(n) > 1)!r}: "
            "give runs with different folder names"
        )
    tests: dict[tuple, TestSet] = {}
    for run in runs:
        chosen: dict[tuple, dict[str, Any]] = {}
        for e in run.evaluations:  # oldest first: the newest with the most sides wins
            # one per use-time closure of the residual too (none: the run's own)
            key = (e["data_key"], e["split"], e["frames"], e["resolution"])
            which = (key, json.dumps(e.get("closure"), sort_keys=True))
            if which not in chosen or ("refined" in e) >= ("refined" in chosen[which]):
                chosen[which] = e
        for (key, _), e in chosen.items():
            tests.setdefault(key, TestSet(key, [])).evaluations.append((run, e, _arrays(run, e)))
    ordered = sorted(tests.values(), key=lambda t: -len(t.evaluations))
    for test in ordered:
        _series(test, labelled=len(runs) > 1)
        for run in runs:  # the newest comparison of each run on this file
            matching = [
                c
                for c in run.comparisons
                if c.get("data_key") == test.key[0] and c.get("resolution") == test.key[3]
            ]
            if matching:
                test.comparisons.append((run, matching[-1]))
    return runs, ordered
