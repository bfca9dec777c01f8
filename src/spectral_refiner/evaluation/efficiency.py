"""Sample efficiency of a pretrained model (``spectral-refiner efficiency``): train from scratch
and fine-tune from the pretrained run on ``N`` trajectories of a downstream file, for every
``N`` of a list, with equal settings and epochs, and compare their test errors.

As Herde et al. (2024, "Poseidon", arXiv 2405.19101, §3 *evaluation metrics* and Table 1)
define them, with the model trained from scratch as the baseline (theirs is an FNO trained
from scratch; here the same architecture, which for the shipped FNO2d config is theirs):

* the **test error** ``E(N)`` is the **median over test samples of the relative L1 error**
  (their ``scOT/metrics.py``: ``Σ|u_pred - u| / Σ|u|`` over the grid and channels, then the
  median over samples; they quote it in percent, here as a fraction); here a sample is a
  test window (its ``t_out`` predicted frames), every start of every held-out trajectory
  (:func:`median_relative_l1`). The trainer's mean relative L2 over its test windows is kept
  beside it (``errors_rel_l2``, ``gains_rel_l2``);
* the errors of each side are fitted by a power law ``E(N) ≈ C N^{-α}`` (least squares in
  ``log E`` against ``log N``);
* the **efficiency gain** is how many times fewer trajectories the pretrained model needs to
  reach the baseline's error at the reference size ``N_r``, the **accuracy gain** the ratio
  of the errors at ``N_r``:

.. math::

    \\mathrm{EG} = N_r / N^*, \\qquad
    \\mathrm{AG} = E_\\text{scratch}(N_r) / E_\\text{pre}(N_r),

where ``N*`` solves ``E_pre(N*) = E_scratch(N_r)`` on the fine-tuned fit,
``N* = (C_pre / E_scratch(N_r))^{1/α_pre}``, and the errors at ``N_r`` are the measured ones.
(The paper quotes ``N_r`` = 1024 trajectories; this CPU-sized study uses 8.)
EG ≥ 4 says the pretrained model reaches the from-scratch error of ``N_r`` trajectories with a
quarter of them. A flat fine-tuned curve (small ``α_pre``) makes the fitted ``N*`` an
extrapolation below the measured sizes, so the measured counterpart is reported too:
``EG_measured = N_r / N'`` with ``N'`` the smallest measured size whose fine-tuned error is at
most ``E_scratch(N_r)`` (a lower bound when ``N'`` is the smallest size measured; none if no size
reaches it). Every run of a size goes into ``OUT/N-<N>/scratch``
and ``OUT/N-<N>/pretrained``; ``OUT/efficiency.json`` is rewritten atomically after each run, and
a rerun of the same command skips finished runs and resumes an interrupted one. The curve goes
to ``OUT/efficiency-curve.png`` and ``OUT/efficiency.html`` (:mod:`.efficiency_report`); with a
pretrained run directory, a copy of the result goes to its ``evaluation/`` folder, so
``report PRETRAINED`` shows the curve (:mod:`.report_efficiency`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..atomic import atomic_write_text, check_folder
from ..data import (
    WindowDataset,
    check_windows,
    eval_windows,
    read_flow,
    read_info,
    split_trajectories,
)
from ..errors import SpectralRefinerError
from ..problem import Problem
from ..training import (
    RunDir,
    TrainConfig,
    file_record,
    load_checkpoint,
    model_from_checkpoint,
    train,
    use_on_file,
)
from .efficiency_report import write_efficiency_report
from .runs import data_key, write_results

__all__ = ["SIZES", "efficiency", "efficiency_gains", "median_relative_l1", "power_law"]

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


def _side_config(
    config: TrainConfig, data: str, n: int, pretrained: str | None, trunk_lr: float
) -> TrainConfig:
    """``config`` on ``n`` trajectories of ``data`` (as a one-file mixture if ``config`` mixes
    files: the pretrained model's parameter channels), from scratch or from ``pretrained``
    (its trunk at ``trunk_lr`` times the learning rate)."""
    d = config.data
    files = [data] if d.files else []
    data_config = dataclasses.replace(
        d, file=None if files else data, files=files, online=None, train_trajectories=n
    )
    freeze = config.freeze if pretrained else "none"
    return dataclasses.replace(
        config,
        data=data_config,
        init_from=pretrained,
        freeze=freeze,
        trunk_lr=trunk_lr if pretrained else 1.0,
    ).validate()


@torch.no_grad()
def median_relative_l1(run_dir: str | Path, data: str, resolution: int | None = None) -> float:
    """Poseidon's test error of the run in ``run_dir`` on its held-out trajectories of
    ``data``: the median over every window (each start) of those trajectories of
    ``Σ|w_pred - w| / Σ|w|`` over the window's predicted frames (module docstring). A mixture
    or all2all run is used as on any file (:func:`~spectral_refiner.training.use_on_file`)."""
    payload = load_checkpoint(RunDir(run_dir).checkpoint_path())
    problem = Problem.from_checkpoint(payload)
    flow = read_flow(data, resolution)
    split = payload["split"]
    model, problem, _ = use_on_file(model_from_checkpoint(payload), split, problem, flow)
    t_in, t_out, stride = problem.t_in, problem.t_out, problem.stride or 1
    starts = check_windows(flow.frames.shape[1], t_in, t_out, stride, data)
    windows = eval_windows(file_record(payload["split"], flow)["test"], starts, starts)
    pairs = WindowDataset(flow.frames, windows, t_in, t_out, stride)
    w_in, truth = (torch.stack(side) for side in zip(*pairs, strict=True))
    dtype = next(model.parameters()).dtype
    error = (model(w_in.to(dtype)) - truth).abs().sum((1, 2, 3)) / truth.abs().sum((1, 2, 3))
    return float(np.median(error.double().cpu().numpy()))  # of an even count: the midpoint


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
    trunk_lr: float = 1.0,
) -> dict[str, Any]:
    """Train from scratch and fine-tune from ``pretrained`` (a run directory or checkpoint) on
        ``N`` trajectories of ``data`` for each ``N`` of ``sizes`` with ``config``'s settings; the
        test errors and EG/AG at ``reference`` (8 if measured, else the largest size). Written to
        ``out/efficiency.json`` (module docstring). ``trunk_lr``: the fine-tuned side's trunk
    learning rate as a multiple of the run's (:mod:`~spectral_refiner.training.init_from`)."""
    sizes = sorted(set(sizes))
    if not sizes or sizes[0] < 1:
        raise SpectralRefinerError("efficiency: --sizes must be positive trajectory counts")
    reference = reference or (8 if 8 in sizes else sizes[-1])
    if reference not in sizes:
        raise SpectralRefinerError(f"efficiency: the reference size {reference} is not measured")
    d = config.data
    info = read_info(data)
    n_traj, fingerprint = info.n_trajectories, str(info.attrs.get("fingerprint", ""))
    available = len(split_trajectories(n_traj, d.val_split, d.test_split, config.seed)["train"])
    if sizes[-1] > available:
        raise SpectralRefinerError(
            f"efficiency: --sizes up to {sizes[-1]}, but {data} leaves {available} training "
            "trajectories after the validation and test split: use a larger file or lower --sizes"
        )
    configs = {  # every config checked before anything is written
        (n, side): _side_config(
            config, data, n, pretrained if side == "pretrained" else None, trunk_lr
        )
        for n in sizes
        for side in SIDES
    }
    folder = check_folder(out)
    rows: dict[int, dict[str, float]] = {}
    rows_l2: dict[int, dict[str, float]] = {}
    result: dict[str, Any] = {
        "data": data,
        "pretrained": pretrained,
        "sizes": sizes,
        "trunk_lr": trunk_lr,
    }
    with tqdm(total=len(configs), desc="efficiency", unit="run", disable=not progress) as bar:
        for (n, side), side_config in configs.items():
            bar.set_postfix(N=n, side=side, refresh=True)
            summary = _run(side_config, folder / f"N-{n}" / side)  # makes the folders
            run = folder / f"N-{n}" / side
            rows.setdefault(n, {})[side] = median_relative_l1(run, data, d.resolution)
            rows_l2.setdefault(n, {})[side] = summary["test"]["rel_l2"]
            result["errors"] = {str(k): v for k, v in rows.items()}
            result["errors_rel_l2"] = {str(k): v for k, v in rows_l2.items()}
            atomic_write_text(folder / "efficiency.json", json.dumps(result, indent=1) + "\n")
            bar.update()
    if len(sizes) >= 2:
        for key, table in (("gains", rows), ("gains_rel_l2", rows_l2)):
            result[key] = efficiency_gains(
                sizes,
                [table[n]["scratch"] for n in sizes],
                [table[n]["pretrained"] for n in sizes],
                reference,
            )
    atomic_write_text(folder / "efficiency.json", json.dumps(result, indent=1) + "\n")
    write_efficiency_report(result, folder)
    if Path(pretrained).is_dir():  # a copy for ``report PRETRAINED`` (:mod:`.report_efficiency`)
        sized = "-".join(map(str, sizes))
        key = f"efficiency-{data_key(data, fingerprint)}-N{sized}-e{config.optim.epochs}"
        key += f"-lr{trunk_lr:g}" if trunk_lr != 1 else ""
        write_results(Path(pretrained) / "evaluation", key, result)
    return result
