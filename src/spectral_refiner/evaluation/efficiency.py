"""Sample efficiency of a pretrained model (``spectral-refiner efficiency``): train from scratch
and fine-tune from the pretrained run on ``N`` trajectories of a downstream file, for every
``N`` of a list, with equal settings and epochs, and compare their test errors.

Following Herde et al. (2024, "Poseidon", §4 *evaluation metrics*), with the model trained from
scratch in the place of their FNO baseline: the test errors ``E(N)`` of each side are fitted by
a power law ``E(N) ≈ C N^{-α}`` (least squares in ``log E`` against ``log N``), and at the
reference size ``N_r``

.. math::

    \\mathrm{EG} = N_r / N^*, \\qquad
    \\mathrm{AG} = E_\\text{scratch}(N_r) / E_\\text{pre}(N_r),

where ``N*`` solves ``E_pre(N*) = E_scratch(N_r)`` on the fine-tuned fit,
``N* = (C_pre / E_scratch(N_r))^{1/α_pre}``, and the errors at ``N_r`` are the measured ones.
EG ≥ 4 says the pretrained model reaches the from-scratch error of ``N_r`` trajectories with a
quarter of them. A flat fine-tuned curve (small ``α_pre``) makes the fitted ``N*`` an
extrapolation below the measured sizes, so the measured counterpart is reported too:
``EG_measured = N_r / N'`` with ``N'`` the smallest measured size whose fine-tuned error is at
most ``E_scratch(N_r)`` (a lower bound when ``N'`` is the smallest size measured; none if no size
reaches it). Every run of a size goes into ``OUT/N-<N>/scratch``
and ``OUT/N-<N>/pretrained``; ``OUT/efficiency.json`` is rewritten atomically after each run, and
a rerun of the same command skips finished runs and resumes an interrupted one. The curve goes
to ``OUT/efficiency-curve.png`` and ``OUT/efficiency.html`` (:mod:`.efficiency_report`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..atomic import atomic_write_text, check_folder
from ..data import read_info, split_trajectories
from ..errors import SpectralRefinerError
from ..training import RunDir, TrainConfig, train
from .efficiency_report import write_efficiency_report

__all__ = ["SIZES", "efficiency", "efficiency_gains", "power_law"]

SIZES = (2, 4, 8, 16, 32, 64)
SIDES = ("scratch", "pretrained")


def power_law(sizes: Sequence[float], errors: Sequence[float]) -> tuple[float, float]:
    """``(C, α)`` of the least-squares fit ``log E = log C - α log N``."""
    if len(sizes) < 2:
        raise SpectralRefinerError("a power-law fit needs errors at 2 or more sizes")
    slope, intercept = np.polyfit(np.log(sizes), np.log(errors), 1)
    return float(math.exp(intercept)), float(-slope)


def efficiency_gains(
    sizes: Sequence[int], scratch: Sequence[float], pretrained: Sequence[float], reference: int
) -> dict[str, float]:
    """EG and AG at ``reference`` (module docstring), with both fits."""
    r = list(sizes).index(reference)
    c_pre, a_pre = power_law(sizes, pretrained)
    c_scr, a_scr = power_law(sizes, scratch)
    target = scratch[r]
    needed = (c_pre / target) ** (1 / a_pre) if a_pre > 0 else math.nan
    reached = [n for n, e in zip(sizes, pretrained, strict=True) if e <= target]
    return {
        "reference": reference,
        "EG": reference / needed if needed > 0 else math.nan,
        "EG_measured": reference / min(reached) if reached else None,
        "AG": target / pretrained[r],
        "fit_scratch": {"C": c_scr, "alpha": a_scr},
        "fit_pretrained": {"C": c_pre, "alpha": a_pre},
    }


def _side_config(config: TrainConfig, data: str, n: int, pretrained: str | None) -> TrainConfig:
    """``config`` on ``n`` trajectories of ``data`` (as a one-file mixture if ``config`` mixes
    files: the pretrained model's parameter channels), from scratch or from ``pretrained``."""
    d = config.data
    files = [data] if d.files else []
    data_config = dataclasses.replace(
        d, file=None if files else data, files=files, online=None, train_trajectories=n
    )
    freeze = config.freeze if pretrained else "none"
    return dataclasses.replace(
        config, data=data_config, init_from=pretrained, freeze=freeze
    ).validate()


def _run(config: TrainConfig, folder: Path) -> dict[str, Any]:
    """The summary of the run in ``folder``: read if finished, else trained (or resumed)."""
    run = RunDir(folder)
    if run.summary.is_file():
        return json.loads(run.summary.read_text())
    resume = run.latest.is_file()
    return train(config, str(folder), resume=resume, overwrite=not resume, progress=False)


def efficiency(
    config: TrainConfig,
    data: str,
    pretrained: str,
    out: str,
    sizes: Sequence[int] = SIZES,
    reference: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train from scratch and fine-tune from ``pretrained`` (a run directory or checkpoint) on
    ``N`` trajectories of ``data`` for each ``N`` of ``sizes`` with ``config``'s settings; the
    test errors and EG/AG at ``reference`` (8 if measured, else the largest size). Written to
    ``out/efficiency.json`` (module docstring)."""
    sizes = sorted(set(sizes))
    if not sizes or sizes[0] < 1:
        raise SpectralRefinerError("efficiency: --sizes must be positive trajectory counts")
    reference = reference or (8 if 8 in sizes else sizes[-1])
    if reference not in sizes:
        raise SpectralRefinerError(f"efficiency: the reference size {reference} is not measured")
    d = config.data
    n_traj = read_info(data).n_trajectories
    available = len(split_trajectories(n_traj, d.val_split, d.test_split, config.seed)["train"])
    if sizes[-1] > available:
        raise SpectralRefinerError(
            f"efficiency: --sizes up to {sizes[-1]}, but {data} leaves {available} training "
            "trajectories after the validation and test split: use a larger file or lower --sizes"
        )
    folder = check_folder(out)
    configs = {
        (n, side): _side_config(config, data, n, pretrained if side == "pretrained" else None)
        for n in sizes
        for side in SIDES
    }
    rows: dict[int, dict[str, float]] = {}
    result: dict[str, Any] = {"data": data, "pretrained": pretrained, "sizes": sizes}
    with tqdm(total=len(configs), desc="efficiency", unit="run", disable=not progress) as bar:
        for (n, side), side_config in configs.items():
            bar.set_postfix(N=n, side=side, refresh=True)
            summary = _run(side_config, folder / f"N-{n}" / side)  # makes the folders
            rows.setdefault(n, {})[side] = summary["test"]["rel_l2"]
            result["errors"] = {str(k): v for k, v in rows.items()}
            atomic_write_text(folder / "efficiency.json", json.dumps(result, indent=1) + "\n")
            bar.update()
    if len(sizes) >= 2:
        result["gains"] = efficiency_gains(
            sizes,
            [rows[n]["scratch"] for n in sizes],
            [rows[n]["pretrained"] for n in sizes],
            reference,
        )
    atomic_write_text(folder / "efficiency.json", json.dumps(result, indent=1) + "\n")
    write_efficiency_report(result, folder)
    return result
