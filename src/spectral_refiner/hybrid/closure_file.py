"""The closure file: save and load an :class:`~spectral_refiner.hybrid.apriori.AprioriClosure`,
and the ``{"name": "learned", "path": FILE}`` closure spec, registered on import, that refuses
a closure trained at another resolution, box or equation, or given frames at the full DNS
resolution (nothing to close)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_write
from ..errors import SpectralRefinerError
from ..models import model_from_payload
from ..physics import SpectralGrid, register_closure
from .apriori import FORMAT, AprioriClosure, ClosureWindow
from .shells import ShellGains

__all__ = ["load_closure", "save_closure"]


def save_closure(closure: AprioriClosure, path: str | os.PathLike) -> Path:
    """Write the closure file atomically (one ``torch.save`` of plain data and tensors)."""
    path = Path(path)
    with atomic_write(path) as tmp:
        torch.save(closure.payload(), tmp)
    return path


def load_closure(path: str | os.PathLike, grid: SpectralGrid | None = None) -> AprioriClosure:
    """Read a closure file; evaluate it on ``grid`` (default: its stored grid, float32, CPU)."""
    path = Path(path)
    if not path.is_file():
        raise SpectralRefinerError(
            f"no such closure file: {path} (make one with `spectral-refiner train-closure`)"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise SpectralRefinerError(
            f"{path} is not a closure file ({str(exc).splitlines()[0][:80]})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise SpectralRefinerError(
            f"{path} is not a closure file (expected format {FORMAT}): make one with "
            "`spectral-refiner train-closure`"
        )
    n, length = int(payload["resolution"]), float(payload["box_length"])
    grid = SpectralGrid(n, length) if grid is None else grid
    if not math.isclose(grid.length, length, rel_tol=1e-9):
        raise SpectralRefinerError(
            f"closure {path} was trained for box {length:g}, the data have box {grid.length:g}: "
            "train a closure on data of this problem"
        )
    saved = payload["model"]
    build = ShellGains.from_payload if saved["name"] == ShellGains.name else model_from_payload
    model = build(saved).to(grid.device).eval()
    keys = ("format", "model", "resolution", "box_length", "inputs", "input_scale", "output_scale")
    record = {k: v for k, v in payload.items() if k not in (*keys, "window")}
    saved_window = payload.get("window") or {}
    window = ClosureWindow(**{**saved_window, "lags": tuple(saved_window.get("lags", ()))})
    return AprioriClosure(
        model,
        grid,
        n,
        payload["inputs"],
        [float(s) for s in payload["input_scale"]],
        float(payload["output_scale"]),
        record,
        window,
    )


def _from_spec(
    spec: dict[str, Any], grid: SpectralGrid, width: float, equation: dict[str, Any] | None
) -> AprioriClosure:
    """The factory of ``{"name": "learned", "path": FILE}`` specs (module docstring)."""
    extra = set(spec) - {"name", "path"}
    if "path" not in spec or extra:
        raise SpectralRefinerError(
            f"closure 'learned' takes exactly one key 'path' (a closure file), got {spec!r}"
        )
    path = spec["path"]
    closure = load_closure(path, grid)
    stored = round(grid.length / width)
    dns = closure.record.get("dns_resolution")
    if stored == dns:
        raise SpectralRefinerError(
            f"closure {path} models what {dns}^2 DNS frames lose when stored at "
            f"{closure.resolution}^2, but these frames are at the full DNS resolution {dns}^2: "
            "they need no closure (drop it)"
        )
    if stored != closure.resolution:
        raise SpectralRefinerError(
            f"closure {path} was trained at resolution {closure.resolution} but the data are "
            f"stored at {stored}: train a closure at {stored} (spectral-refiner train-closure)"
        )
    for key, value in (closure.record.get("equation") or {}).items():
        if equation is not None and key in equation and not _same(equation[key], value):
            raise SpectralRefinerError(
                f"closure {path} was trained for {key} {value} but the equation has "
                f"{equation[key]}: train a closure on data of this equation"
            )
    return closure


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
    return a == b


register_closure("learned", _from_spec)
