"""The run directory of a training run, and its metrics log.

Layout of ``RUN_DIR``::

    config.yaml           the resolved config (every default filled in)
    split.json            the data source, its fingerprint and the trajectory split
    checkpoints/latest.pt the last state (resume from it)
    checkpoints/best.pt   the state with the lowest validation error
    checkpoints/epoch-N.pt the state after epoch N, for each N of optim.keep_checkpoints
    metrics.jsonl         one JSON record per logged step and per epoch
    tensorboard/          event files, when tensorboard is installed
    summary.json          final validation and test errors

Nothing in an existing run directory is replaced unless the run is resumed or the caller
asks to overwrite it.
"""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path
from typing import Any

import yaml

from ..atomic import atomic_write_text
from ..errors import SpectralRefinerError
from ..models import NeuralOperator
from .checkpoint import load_checkpoint, model_from_checkpoint
from .settings import TrainConfig

__all__ = ["MetricsLog", "RunDir"]


class RunDir:
    """Paths of a run directory (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.config = self.path / "config.yaml"
        self.split = self.path / "split.json"
        self.checkpoints = self.path / "checkpoints"
        self.latest = self.checkpoints / "latest.pt"
        self.best = self.checkpoints / "best.pt"
        self.metrics = self.path / "metrics.jsonl"
        self.tensorboard = self.path / "tensorboard"
        self.summary = self.path / "summary.json"

    @classmethod
    def check_new(cls, path: str | Path, overwrite: bool = False) -> RunDir:
        """The run directory for a new run at ``path``, if one may be made there: ``path`` is
        new, empty, or (with ``overwrite``) a directory whose contents may be replaced."""
        run = cls(path)
        if run.path.exists() and not run.path.is_dir():
            raise SpectralRefinerError(f"{run.path} exists and is not a directory: choose --out")
        if run.path.is_dir() and any(run.path.iterdir()) and not overwrite:
            raise SpectralRefinerError(
                f"{run.path} already holds files: continue that run with --resume "
                f"{run.path}, replace it with --overwrite, or choose another --out"
            )
        for parent in run.path.parents:
            if parent.exists() and not parent.is_dir():
                raise SpectralRefinerError(f"cannot create {run.path}: {parent} is a file")
        return run

    def create(self, overwrite: bool = False) -> None:
        """Make the directory (emptied first with ``overwrite``); see :meth:`check_new`."""
        if overwrite and self.path.is_dir():
            shutil.rmtree(self.path)
        self.checkpoints.mkdir(parents=True, exist_ok=True)

    @classmethod
    def existing(cls, path: str | Path) -> RunDir:
        """A run directory that holds a run (its ``config.yaml``)."""
        run = cls(path)
        if not run.config.is_file():
            raise SpectralRefinerError(
                f"{run.path} holds no training run (no config.yaml): give the directory a "
                "`train --out` wrote, or start a new run"
            )
        run.checkpoints.mkdir(exist_ok=True)
        return run

    def epoch(self, n: int) -> Path:
        """The checkpoint kept after epoch ``n`` (``optim.keep_checkpoints``)."""
        return self.checkpoints / f"epoch-{n}.pt"

    def read_split(self) -> dict[str, Any]:
        try:
            return json.loads(self.split.read_text())
        except (OSError, json.JSONDecodeError):
            raise SpectralRefinerError(
                f"{self.split} is missing or unreadable: the run directory is incomplete; "
                "start a new run with --overwrite"
            ) from None

    def write_json(self, path: Path, record: dict[str, Any]) -> None:
        atomic_write_text(path, json.dumps(record, indent=1, default=_plain) + "\n")

    def write_config(self, config: TrainConfig) -> None:
        """The resolved config as YAML (``train --config RUN_DIR/config.yaml`` repeats it)."""
        atomic_write_text(self.config, yaml.safe_dump(config.to_dict(), sort_keys=False))

    def checkpoint_path(self, best: bool = True) -> Path:
        """The best checkpoint if there is one (and ``best``), else the latest."""
        return self.best if best and self.best.is_file() else self.latest

    def load_model(
        self, best: bool = True, path: Path | None = None
    ) -> tuple[NeuralOperator, dict[str, Any]]:
        """The trained model (the best checkpoint, else the latest, or the one at ``path``)
        in evaluation mode, and the checkpoint's record of its training data (see
        ``Trainer.data_record``)."""
        payload = load_checkpoint(path or self.checkpoint_path(best))
        if "data" not in payload:
            raise SpectralRefinerError(f"{path} does not record its training data: retrain")
        return model_from_checkpoint(payload).eval(), payload["data"]


class MetricsLog:
    """Appends JSON records to ``metrics.jsonl`` (and scalars to TensorBoard when installed).

    Only the process that writes (rank 0) should create one. On resume from step ``s`` the
    records of later steps, left by the interrupted run, are dropped first.
    """

    def __init__(self, run: RunDir, resume_step: int | None = None) -> None:
        self.path = run.metrics
        if resume_step is not None and self.path.exists():
            kept = [
                line
                for line in self.path.read_text().splitlines()
                if line.strip() and _step_of(line) <= resume_step
            ]
            atomic_write_text(self.path, "".join(f"{line}\n" for line in kept))
        self.file = open(self.path, "a", buffering=1)  # noqa: SIM115 (held for the run)
        self.writer = None
        if importlib.util.find_spec("tensorboard") is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run.tensorboard), purge_step=resume_step)

    def log(self, record: dict[str, Any]) -> None:
        """Write one record; its numeric fields go to TensorBoard under ``kind/name``."""
        self.file.write(json.dumps(record, default=_plain) + "\n")
        if self.writer is not None:
            step = int(record.get("step", 0))
            for key, value in record.items():
                numeric = isinstance(value, (int, float)) and math.isfinite(value)
                if key not in ("step", "kind") and numeric:
                    self.writer.add_scalar(f"{record.get('kind', 'misc')}/{key}", value, step)

    def close(self) -> None:
        self.file.close()
        if self.writer is not None:
            self.writer.close()


def _step_of(line: str) -> float:
    try:
        return float(json.loads(line).get("step", 0))
    except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
        return math.inf  # a torn last line of a killed run: dropped


def _plain(value: Any) -> Any:
    """JSON fallback for numpy and torch scalars."""
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
