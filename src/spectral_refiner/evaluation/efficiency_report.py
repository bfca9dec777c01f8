"""The sample-efficiency curve of ``spectral-refiner efficiency``: test error against training
trajectories, from scratch and fine-tuned, with their power-law fits, as a PNG (numbers in
``efficiency-curve.json`` beside it, :func:`.plots.save_figure`) and a one-page HTML report with the
figure embedded and the table of errors, EG and AG."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from ..atomic import atomic_write_text
from .plots import save_figure

__all__ = ["plot_efficiency", "write_efficiency_report"]


def plot_efficiency(result: dict[str, Any], path: Path) -> Path:
    """Log-log test error of both sides against ``N`` (markers), with their fits (lines)."""
    sizes = np.asarray(result["sizes"], dtype=float)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    fig.subplots_adjust(left=0.13, right=0.97, bottom=0.13, top=0.9)
    fits = result.get("gains", {})
    for side, colour in (("scratch", "C0"), ("pretrained", "C1")):
        errors = [result["errors"][str(int(n))][side] for n in sizes]
        ax.loglog(sizes, errors, "o", color=colour, label=f"{side} (test rel L2)")
        if f"fit_{side}" in fits:
            c, a = fits[f"fit_{side}"]["C"], fits[f"fit_{side}"]["alpha"]
            ax.loglog(sizes, c * sizes**-a, "-", color=colour, lw=1, label=f"_{side} fit")
    ax.set_xlabel("training trajectories N")
    ax.set_ylabel("test relative L2 error")
    title = "sample efficiency"
    if fits:
        title += f": EG {fits['EG']:.2f}, AG {fits['AG']:.2f} at N = {fits['reference']}"
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def write_efficiency_report(result: dict[str, Any], folder: Path) -> Path:
    """``folder/efficiency.html``: the curve and the table; returns its path."""
    figure = plot_efficiency(result, folder / "efficiency-curve.png")
    image = base64.b64encode(figure.read_bytes()).decode()
    rows = "".join(
        f"<tr><td>{n}</td><td>{r['scratch']:.4g}</td><td>{r['pretrained']:.4g}</td>"
        f"<td>{r['scratch'] / r['pretrained']:.3g}</td></tr>"
        for n, r in ((n, result["errors"][str(n)]) for n in result["sizes"])
    )
    g = result.get("gains")
    gains = (
        f"<p>At N = {g['reference']}: efficiency gain EG = {g['EG']:.3g}, accuracy gain "
        f"AG = {g['AG']:.3g} (targets of issue 18: EG ≥ 4, AG ≥ 1.5).</p>"
        if g
        else ""
    )
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>sample efficiency</title>"
        "</head><body style='font-family: system-ui, sans-serif; max-width: 900px; margin: 2em "
        "auto'><h1>Sample efficiency</h1>"
        f"<p>Downstream data {html.escape(result['data'])}; pretrained model "
        f"{html.escape(result['pretrained'])}.</p>"
        f"<img src='data:image/png;base64,{image}' alt='efficiency' style='max-width:100%'>"
        "<table border='1' cellpadding='4' style='border-collapse: collapse'><tr><th>N</th>"
        "<th>scratch</th><th>fine-tuned</th><th>ratio</th></tr>"
        f"{rows}</table>{gains}</body></html>"
    )
    path = folder / "efficiency.html"
    atomic_write_text(path, page)
    return path
