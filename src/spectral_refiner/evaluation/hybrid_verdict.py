"""Who wins the hybrid comparison: dominance on (cost, correlation time, error), a verdict, the
target ratios of issue 13 and a text table of the results.

A point of :func:`~.hybrid_compare.compare_hybrid` holds ``seconds`` (wall time per
trajectory per unit of simulated time, the median of interleaved rounds) with its ``timings``,
``t_0.95`` (the first time the mean vorticity correlation with the DNS drops below 0.95;
``None``: not within the horizon) and ``rel_l2`` (median over trajectories of the mean
relative L2 error over the frames). ``q`` *dominates* ``p`` when ``q`` is at least as fast
(faster beyond timing noise, or tied: :func:`~.compare.faster`, :func:`~.compare.tied`), keeps
the correlation at least as long and is at least as accurate, and is strictly better in one of
the three. Of the two solver variants at one resolution (2/3 rule; every stored mode, on a
3/2-times finer grid), the *baseline* is the one that dominates the other, else the one more
accurate per second: the longer correlation time per second of wall time, or, with equal
correlation times, the smaller product of error and wall time. Each hybrid is also set against
*the plain solver it corrects* (:func:`own_solver`: the solver at its resolution on its grid,
``3n/2`` for the ``all-modes`` base) where that is not already the baseline at its resolution,
and its spectrum error is compared with that solver's.
"""

from __future__ import annotations

import math
from typing import Any

from .compare import faster, tied

__all__ = [
    "baselines",
    "dominates",
    "format_hybrid_comparison",
    "hybrid_verdict",
    "own_solver",
    "target_ratios",
]


def _t95(p: dict[str, Any]) -> float:
    value = p.get("t_0.95")
    return math.inf if value is None else float(value)


def dominates(q: dict[str, Any], p: dict[str, Any]) -> bool:
    """``q`` dominates ``p`` (module docstring)."""
    if q is p or not (faster(q, p) or tied(q, p)):
        return False
    if _t95(q) < _t95(p) or q["rel_l2"] > p["rel_l2"]:
        return False
    return faster(q, p) or _t95(q) > _t95(p) or q["rel_l2"] < p["rel_l2"]


def _stronger(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    if dominates(a, b):
        return a
    if dominates(b, a):
        return b
    if _t95(a) != _t95(b):
        return max((a, b), key=lambda p: _t95(p) / p["seconds"])
    return min((a, b), key=lambda p: p["rel_l2"] * p["seconds"])


def baselines(points: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The stronger solver variant at each resolution (``"solver 128²"``: the point), and the
    closure with the longest correlation time (then lowest error) as ``"best closure"``."""
    out: dict[str, dict[str, Any]] = {}
    for p in points:
        if p["kind"] == "solver":
            label = f"solver {p['resolution']}²"
            out[label] = _stronger(out[label], p) if label in out else p
    closures = [p for p in points if p["kind"] == "closure"]
    if closures:
        out["best closure"] = min(closures, key=lambda p: (-_t95(p), p["rel_l2"]))
    return out


def own_solver(h: dict[str, Any], points: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The plain solver hybrid ``h`` corrects: the solver point at its resolution whose grid is
    the hybrid's (None when the comparison did not run it)."""
    return next(
        (
            p
            for p in points
            if p["kind"] == "solver"
            and p["resolution"] == h["resolution"]
            and p.get("grid", p["resolution"]) == h.get("grid", h["resolution"])
        ),
        None,
    )


def _against(h: dict[str, Any], points: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The baselines :func:`baselines` and, where it differs from the baseline at the
    hybrid's resolution, the plain solver it corrects (first)."""
    base = baselines(points)
    own = own_solver(h, points)
    if own is None or own is base.get(f"solver {h['resolution']}²"):
        return base
    return {"plain solver it corrects": own, **base}


def _fmt_t(p: dict[str, Any]) -> str:
    value = p.get("t_0.95")
    return "beyond the horizon" if value is None else f"{value:.3g}"


def hybrid_verdict(points: list[dict[str, Any]]) -> list[str]:
    """Plain sentences: for each hybrid and each baseline (:func:`baselines`), "Pareto-dominates",
    "loses to" or "trades with", with correlation times, errors and costs."""
    lines = []
    for h in (p for p in points if p["kind"] == "hybrid"):
        for label, b in _against(h, points).items():
            numbers = (
                f"(correlation >= 0.95 until {_fmt_t(h)} vs {_fmt_t(b)}, rel L2 "
                f"{h['rel_l2']:.4g} vs {b['rel_l2']:.4g}, {h['seconds']:.3g} vs "
                f"{b['seconds']:.3g} s per unit time"
                + (", tied within timing noise)" if tied(h, b) else ")")
            )
            named = label.startswith("solver ")
            what = f"the {label}" if named else f"the {label} ({b['method']})"
            if dominates(h, b):
                lines.append(f"{h['method']} Pareto-dominates {what} {numbers}")
            elif dominates(b, h):
                lines.append(f"{h['method']} loses to {what} {numbers}")
            else:
                lines.append(f"{h['method']} trades with {what} {numbers}")
    return lines


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0 or not (math.isfinite(a) and math.isfinite(b)):
        return None
    return a / b


def target_ratios(points: list[dict[str, Any]], n: int) -> dict[str, dict[str, Any]]:
    """Issue 13's target ratios for each hybrid: its correlation-0.95 time over the 2n and 4n
    solvers' (``>= 1`` wanted; ``None`` where a time is beyond the horizon) and whether it is
    at least theirs (a time beyond the horizon counting as infinite), its wall time over
    theirs (``<= 0.5`` and ``<= 0.2``), whether it ran the whole horizon, and its spectrum
    error per octave band against the plain solver's it corrects (:func:`own_solver`, else
    the baseline at n) and the best closure's, with the names of both."""
    base = baselines(points)
    out = {}
    for h in (p for p in points if p["kind"] == "hybrid"):
        row: dict[str, Any] = {"stable": h.get("blew_up_at") is None}
        for m in (2, 4):
            b = base.get(f"solver {m * n}²")
            if b is not None:
                row[f"t95_vs_{m}n"] = _ratio(h.get("t_0.95"), b.get("t_0.95"))
                row[f"t95_at_least_{m}n"] = _t95(h) >= _t95(b)
                row[f"cost_vs_{m}n"] = _ratio(h["seconds"], b["seconds"])
        row["band_errors"] = h["band_errors"]
        plain = own_solver(h, points) or base.get(f"solver {n}²")
        for key, b in (("plain", plain), ("closure", base.get("best closure"))):
            if b is not None:
                row[f"band_errors_{key}"] = b["band_errors"]
                row[f"{key}_method"] = b["method"]
        out[h["method"]] = row
    return out


def _beyond(value: float | None) -> str:
    return "beyond" if value is None else f"{value:.3g}"


def format_hybrid_comparison(results: dict[str, Any]) -> str:
    """The setup, the tuned coefficients and one line per method (cost per unit time,
    correlation times, error, spectrum error per octave band, blow-up) as text."""
    lines = [
        f"{results['instances']} trajectories from one {results['resolution']}^2 frame, horizon "
        f"{results['horizon']:g} ({results['frames']} frames), {results['device']}, "
        f"{results['threads']} threads, timing {results['rounds']} interleaved rounds"
    ]
    for name, t in results["tuning"].items():
        if isinstance(t, dict):
            lines.append(
                f"tuned {name}: C = {t['coefficient']:.4g} (mean rel L2 over "
                f"{results['tuning']['frames']} frames {t['error']:.4g}, "
                f"without {t['error_without']:.4g})"
            )
    lines.append(
        f"{'method':44s}{'s / unit time':>14s}{'corr<0.95 t':>12s}{'corr<0.8 t':>11s}"
        f"{'corr end':>9s}{'rel L2':>9s}  spectrum error per octave band"
    )
    for p in results["points"]:
        bands = " ".join(f"{b:.2g}" for b in p["band_errors"])
        blew = f"  blew up at t = {p['blew_up_at']:g}" if p["blew_up_at"] is not None else ""
        lines.append(
            f"{p['method']:44s}{p['seconds']:14.4g}{_beyond(p['t_0.95']):>12s}"
            f"{_beyond(p['t_0.8']):>11s}{p['correlation_final']:9.4f}{p['rel_l2']:9.3g}  "
            f"{bands}{blew}"
        )
    return "\n".join(lines)
