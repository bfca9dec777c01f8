"""The sample-efficiency section of the multi-run report (``report RUN...``).

``spectral-refiner efficiency`` keeps a copy of its result in the pretrained run directory,
``PRETRAINED/evaluation/efficiency-DATAKEY-N<sizes>-e<epochs>.json`` (:mod:`.efficiency`). For
every run of a report that holds one, this section shows the curve (test error against
training trajectories, from scratch and fine-tuned, with the power-law fits), the table of
errors and the efficiency and accuracy gains (EG, AG), as the standalone ``efficiency.html``
does (:func:`.efficiency_report.efficiency_body`).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from ..errors import SpectralRefinerError
from .efficiency_report import efficiency_body, plot_efficiency
from .report_data import ReportRun

__all__ = ["EFFICIENCY_PREFIX", "efficiency_sections"]

EFFICIENCY_PREFIX = "efficiency-"


def efficiency_sections(runs: list[ReportRun], folder: Path) -> list[str]:
    """The HTML parts of every efficiency result the ``runs`` hold (none: no section); each
    curve is drawn to ``folder/efficiency-K.png``."""
    parts: list[str] = []
    for run in runs:
        for path in sorted((run.run.path / "evaluation").glob(f"{EFFICIENCY_PREFIX}*.json")):
            try:
                result = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                raise SpectralRefinerError(
                    f"{path} is unreadable: delete it and rerun spectral-refiner efficiency"
                ) from None
            figure = plot_efficiency(result, folder / f"efficiency-{len(parts) // 2}.png")
            title = f"{run.name}: {path.stem.removeprefix(EFFICIENCY_PREFIX)}"
            parts += [f"<h3>{html.escape(title)}</h3>", efficiency_body(result, figure)]
    if not parts:
        return []
    caption = (
        "<p class='caption'>Test error (median relative L1 over the held-out windows, as "
        "Poseidon defines it) of the model trained from scratch and fine-tuned from the "
        "pretrained run, against the training trajectories N; EG: how many times fewer "
        "trajectories the fine-tuned model needs for the from-scratch error at the reference "
        "N; AG: the ratio of the two errors there.</p>"
    )
    return ["<h2>Sample efficiency of pretraining</h2>", caption, *parts]
