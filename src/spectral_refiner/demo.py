"""The whole pipeline on built-in defaults, in a few minutes on a laptop CPU.

1. simulate the ``tiny`` preset (FNO-type forced flow, 32² frames of a 64² run) for training,
   and held-out trajectories with another seed for testing;
2. train the ``tiny`` SFNO config;
3. evaluate a rollout of the test trajectories, unrefined and refined without labels;
4. compare the surrogate with the solver at three resolutions (cost against accuracy);
5. write the HTML report.

Every step reuses what an earlier run of the demo in the same folder finished (the dataset
files, the trained run, and the results of steps 3-5 of a finished demo, kept in
``demo.json`` and reused while the trained run is unchanged), so an interrupted demo
continues where it stopped and a finished one prints its results again at once.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from .atomic import atomic_write_text
from .config import load_config
from .data import apply_overrides, generate, get_preset
from .evaluation import compare_solver, evaluate_run, write_report
from .training import train

__all__ = ["run_demo"]

TEST_TRAJECTORIES = 4  # enough to show the refinement and the comparison, in a minute
ROLLOUT = 15  # three windows of 5 frames after the 5 input frames: t = 2.5 .. 9.5


def run_demo(out: str | os.PathLike = "demo-out", progress: bool = True) -> dict[str, Any]:
    """Run the demo into ``out``; returns the evaluation, the comparison and the report path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    preset = get_preset("tiny")
    train_file = generate(preset, out / "tiny-train.h5", progress=progress)
    test_file = generate(
        apply_overrides(preset, [f"n_trajectories={TEST_TRAJECTORIES}"]),
        out / f"tiny-test-{TEST_TRAJECTORIES}.h5",  # a folder from an older demo stays usable
        seed=1,
        progress=progress,
    )
    config = load_config("tiny")
    config.data = dataclasses.replace(config.data, file=str(train_file.resolve()))
    run = out / "run"
    if not (run / "summary.json").is_file():
        resume = (run / "config.yaml").is_file()
        train(config, str(run), resume=resume, progress=progress)
    finished = out / "demo.json"
    if finished.is_file() and finished.stat().st_mtime >= (run / "summary.json").stat().st_mtime:
        result = json.loads(finished.read_text())
        if Path(result["report"]).is_file():
            return result
    evaluation = evaluate_run(run, test_file, refine=True, frames=ROLLOUT, progress=progress)
    comparison = compare_solver(run, test_file, progress=progress)
    result = {"evaluation": evaluation, "comparison": comparison, "report": str(write_report(run))}
    atomic_write_text(finished, json.dumps(result))
    return result
