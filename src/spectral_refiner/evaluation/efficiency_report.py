"""The sample-efficiency curve of ``spectral-refiner efficiency``: test error (Poseidon's median
relative L1) against training trajectories, from scratch and fine-tuned, with their power-law
fits, as a PNG (numbers in ``efficiency-curve.json`` beside it, :func:`.plots.save_figure`) and a
one-page HTML report with the figure embedded and the table of errors, EG and AG."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from ..atomic import atomic_write_text
from .plots import save_figure

__all__ = ["efficiency_body", "plot_efficiency", "write_efficiency_report"]


def plot_efficiency(result: dict[str, Any], path: Path) -> Path:
    """Log-log test error of both sides against ``N`` (markers), with their fits (lines)."""
    sizes = np.asarray(result["sizes"], dtype=float)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    fig.subplots_adjust(left=0.15, right=0.97, bottom=0.13, top=0.9)
    fits = result.get("gains", {})
    for side, colour in (("scratch", "C0"), ("pretrained", "C1")):
        errors = [result["errors"][str(int(n))][side] for n in sizes]
        ax.loglog(sizes, errors, "o", color=colour, label=f"{side} (test median rel L1)")
        if f"fit_{side}" in fits:
            c, a = fits[f"fit_{side}"]["C"], fits[f"fit_{side}"]["alpha"]
            ax.loglog(sizes, c * sizes**-a, "-", color=colour, lw=1, label=f"_{side} fit")
    ax.set_xlabel("training trajectories N")
    ax.set_ylabel("test error: median relative L1")
    title = "sample efficiency"
    if fits:
        measured = fits["EG_measured"]
        seen = "none" if measured is None else f"{measured:.3g}"
        title += f": EG {seen} measured ({fits['EG']:.3g} fitted), AG {fits['AG']:.2f} at N = "
        title += str(fits["reference"])
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def efficiency_body(result: dict[str, Any], figure: Path) -> str:
    """The HTML of one efficiency result: what was compared, the curve ``figure`` embedded,
    the table of errors per ``N`` (both metrics) and the gains at the reference size."""
    image = base64.b64encode(figure.read_bytes()).decode()
    l2 = result.get("errors_rel_l2", {})
    rows = "".join(
        f"<tr><td>{n}</td><td>{r['scratch']:.4g}</td><td>{r['pretrained']:.4g}</td>"
        f"<td>{r['scratch'] / r['pretrained']:.3g}</td>"
        + (
            f"<td>{l2[str(n)]['scratch']:.4g}</td><td>{l2[str(n)]['pretrained']:.4g}</td>"
            if str(n) in l2
            else "<td></td><td></td>"
        )
        + "</tr>"
        for n, r in ((n, result["errors"][str(n)]) for n in result["sizes"])
    )
    gains = "".join(
        f"<p>{label} at N = {g['reference']}: efficiency gain EG = {g['EG']:.3g} (fits; "
        f"measured {'none' if g['EG_measured'] is None else format(g['EG_measured'], '.3g')}),"
        f" accuracy gain AG = {g['AG']:.3g} (targets of issue 18: EG ≥ 4, AG ≥ 1.5).</p>"
        for label, g in (
            ("Median relative L1 (Poseidon's)", result.get("gains")),
            ("Mean relative L2 (the trainer's)", result.get("gains_rel_l2")),
        )
        if g
    )
    return (
        f"<p>Downstream data {html.escape(result['data'])}; pretrained model "
        f"{html.escape(result['pretrained'])}.</p>"
        f"<img src='data:image/png;base64,{image}' alt='efficiency' style='max-width:100%'>"
        "<table border='1' cellpadding='4' style='border-collapse: collapse'><tr><th>N</th>"
        "<th>scratch</th><th>fine-tuned</th><th>ratio</th><th>scratch rel L2</th>"
        f"<th>fine-tuned rel L2</th></tr>{rows}</table>{gains}"
    )


def write_efficiency_report(result: dict[str, Any], folder: Path) -> Path:
    """``folder/efficiency.html``: the curve and the table; returns its path."""
    body = efficiency_body(result, plot_efficiency(result, folder / "efficiency-curve.png"))
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>sample efficiency</title>"
        "</head><body style='font-family: system-ui, sans-serif; max-width: 900px; margin: 2em "
        f"auto'><h1>Sample efficiency</h1>{body}</body></html>"
    )
    path = folder / "efficiency.html"
    atomic_write_text(path, page)
    return path
