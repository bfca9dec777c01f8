"""The report's table of the honest estimate: floor, estimate, error estimate and true error
per window of every rollout (columns of :mod:`spectral_refiner.physics.error_estimate`).

Each evaluated side (prediction, refined) records per window the means over trajectories of
``floor`` (η of the given input frames), ``estimate`` (``max(η, floor)``), ``error_estimate``
(the relative L2 error the residual's excess over the floor implies, by error transport) and
the true relative L2 error of the window, and over all windows and trajectories the
effectivity (error estimate over true error): its median and the fraction within [1/3, 3].
Evaluations written before these columns existed have none and give no rows.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ESTIMATE_CAPTION", "ESTIMATE_HEADER", "estimate_rows"]

ESTIMATE_HEADER = [
    "model",
    "window",
    "floor",
    "estimate",
    "error estimate",
    "true rel L2",
    "median effectivity",
    "effectivity in [1/3, 3]",
]

ESTIMATE_CAPTION = (
    "Per window, means over trajectories. Floor: η of the given input frames (what the stored "
    "band cannot remove: the unresolved scales less what the closure models, and the residual's "
    "time-quadrature error; the same for every window of a rollout). Estimate: max(η, floor). "
    "Error estimate: the relative L2 error implied by the residual propagated through the "
    "equation's linear part over the window, less the floor's share (the input frames' own "
    "residual propagated the same way), never below a quarter of it; after refinement never "
    "below the unrefined prediction's or the floor's error, whichever is smaller. Effectivity: "
    "error estimate over true error of each trajectory and window (1 is exact)."
)


def estimate_rows(series: list[dict[str, Any]]) -> list[list[Any]]:
    """Table rows (:data:`ESTIMATE_HEADER`) of the model series that carry the columns; the
    effectivity figures on each series' first row."""
    rows = []
    for s in series:
        if "per_window_floor" not in s:
            continue
        columns = zip(
            s["per_window_floor"],
            s["per_window_estimate"],
            s["per_window_error_estimate"],
            s["per_window_rel_l2"],
            strict=True,
        )
        for j, values in enumerate(columns):
            overall = [s["median_effectivity"], s["effectivity_within_3"]] if j == 0 else ["", ""]
            rows.append([s["label"] if j == 0 else "", j + 1, *values, *overall])
    return rows
