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
asks to overwrite it, and ``--overwrite`` empties only a folder recognised as a run directory
(its ``config.yaml`` and ``checkpoints/``, nothing else but what commands write there) that
does not hold the data being read.

Consistency under SIGKILL. :meth:`RunDir.save` writes ``epoch-N.pt``, then ``best.pt``, and
``latest.pt`` — the record of where the run stands — last, each atomically: whatever write a
kill interrupts, ``latest.pt`` describes a state whose other files all exist, and the
resumed run redoes the rest. :meth:`RunDir.repair` (on resume) rebuilds what a run
written in another order can lack (``best.pt`` older than the best epoch ``latest.pt``
records, a missing ``epoch-N.pt``) and removes temporary files of killed writes;
:meth:`RunDir.load_model` refuses a stale ``best.pt`` rather than use it.
"""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path
from typing import Any

import yaml

from ..atomic import atomic_write_text, check_folder, remove_stale_temps
from ..errors import SpectralRefinerError
from ..models import NeuralOperator
from .checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from .settings import TrainConfig

__all__ = ["MetricsLog", "RunDir"]

# What the project's commands write into a run directory; anything else is the user's.
RUN_ENTRIES = (
    "config.yaml",
    "split.json",
    "checkpoints",
    "metrics.jsonl",
    "tensorboard",
    "summary.json",
    "evaluation",
    "report",
    "report.html",
    "figures",
)
OUTPUT_PREFIXES = ("predictions-", "refined-", ".")


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
    def check_new(
        cls, path: str | Path, overwrite: bool = False, reads: tuple[str, ...] = ()
    ) -> RunDir:
        """The run directory for a new run at ``path``, if one may be made there: ``path`` is
        new, empty, or (with ``overwrite``) a run directory (see the module docstring) that
        holds none of the files ``reads`` the run reads."""
        run = cls(check_folder(path))
        if not run.path.is_dir() or not any(run.path.iterdir()):
            return run
        if not overwrite:
            raise SpectralRefinerError(
                f"{run.path} already holds files: continue that run with --resume "
                f"{run.path}, replace it with --overwrite, or choose another --out"
            )
        for path in reads:
            if run.path.resolve() in Path(path).resolve().parents:
                raise SpectralRefinerError(
                    f"--overwrite would delete {path}, which this run reads: choose another --out"
                )
        foreign = run.foreign()
        if foreign is not None:
            raise SpectralRefinerError(
                f"--overwrite replaces only a run directory, and {run.path} {foreign}: "
                "choose another --out"
            )
        return run

    def foreign(self) -> str | None:
        """Why the existing folder is not a run directory whose contents a new run may
        replace (``None`` if it is one)."""
        if not self.config.is_file() or not self.checkpoints.is_dir():
            return "is not one (no config.yaml and checkpoints/)"
        for entry in self.path.iterdir():
            if entry.name not in RUN_ENTRIES and not entry.name.startswith(OUTPUT_PREFIXES):
                return f"holds {entry.name}, which no command made"
        return None

    def create(self, overwrite: bool = False) -> None:
        """Make the directory (emptied first with ``overwrite``); see :meth:`check_new`."""
        if overwrite and self.path.is_dir() and any(self.path.iterdir()):
            if self.foreign() is not None:  # checked again: the folder may have changed
                raise SpectralRefinerError(f"{self.path} is not a run directory: not replaced")
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
        return run

    def epoch(self, n: int) -> Path:
        """The checkpoint kept after epoch ``n`` (``optim.keep_checkpoints``)."""
        return self.checkpoints / f"epoch-{n}.pt"

    def save(self, payload: dict[str, Any], best: bool = False, keep: bool = False) -> None:
        """Write the checkpoint ``payload``: as ``epoch-N.pt`` with ``keep`` (``N`` from its
        progress), as ``best.pt`` with ``best``, and as ``latest.pt`` last (see the module
        docstring: the record of where the run stands is written once the rest is on disk)."""
        if keep:
            save_checkpoint(self.epoch(payload["progress"]["epoch"]), payload)
        if best:
            save_checkpoint(self.best, payload)
        save_checkpoint(self.latest, payload)

    def repair(self) -> list[str]:
        """Make the checkpoints agree with ``latest.pt`` before a resume; return what was done.

        Temporary files of killed writes are removed; a ``best.pt`` that is missing or older
        than the best epoch ``latest.pt`` records is rebuilt from ``latest.pt`` (when it is
        that epoch's end) or from ``epoch-N.pt``; a kept ``epoch-N.pt`` missing for the epoch
        ``latest.pt`` ends is written from it. A best model that cannot be rebuilt is an error.
        """
        self.checkpoints.mkdir(exist_ok=True)
        done = [f"removed {p.name}" for p in remove_stale_temps(self.checkpoints)]
        done += [f"removed {p.name}" for p in remove_stale_temps(self.path)]
        if not self.latest.is_file():
            return done
        latest = load_checkpoint(self.latest)
        prog = latest["progress"]
        at_epoch_end = prog["epoch_step"] == 0 and prog["epoch"] > 0
        keep = latest.get("config", {}).get("optim", {}).get("keep_checkpoints", [])
        if at_epoch_end and prog["epoch"] in keep and not self.epoch(prog["epoch"]).is_file():
            save_checkpoint(self.epoch(prog["epoch"]), latest)
            done.append(f"wrote {self.epoch(prog['epoch']).name}")
        if self._best_epoch() != prog["best_epoch"] and prog["best_epoch"] > 0:
            sources = [self.epoch(prog["best_epoch"])]
            if at_epoch_end and prog["epoch"] == prog["best_epoch"]:
                sources.insert(0, self.latest)
            source = next((p for p in sources if _epoch_of(p) == prog["best_epoch"]), None)
            if source is None:
                raise SpectralRefinerError(
                    f"{self.best} is not the best epoch {prog['best_epoch']} that "
                    f"{self.latest} records, and no checkpoint of that epoch is left: "
                    "retrain with --overwrite"
                )
            payload = latest if source == self.latest else load_checkpoint(source)
            save_checkpoint(self.best, payload)
            done.append(f"rebuilt best.pt from {source.name}")
        return done

    def _best_epoch(self) -> int | None:
        return _epoch_of(self.best)

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
        """The best checkpoint if there is one (and ``best``), else the latest; a ``best.pt``
        older than the best epoch ``latest.pt`` records (a kill between the two writes) is
        refused, never used."""
        if not (best and self.best.is_file()):
            return self.latest
        if self.latest.is_file():
            recorded = load_checkpoint(self.latest)["progress"]["best_epoch"]
            if (self._best_epoch() or 0) < recorded:
                raise SpectralRefinerError(
                    f"{self.best} is older than the best epoch {recorded} that "
                    f"{self.latest} records (training was killed mid-save): repair it "
                    f"with `spectral-refiner train --resume {self.path}`"
                )
        return self.best

    def load_model(
        self, best: bool = True, path: Path | None = None
    ) -> tuple[NeuralOperator, dict[str, Any]]:
        """The trained model (:meth:`checkpoint_path`, or the one at ``path``) in evaluation
        mode, and the checkpoint's record of its training data (see
        ``Trainer.data_record``)."""
        path = path or self.checkpoint_path(best)
        payload = load_checkpoint(path)
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


def _epoch_of(path: Path) -> int | None:
    """The epoch of the checkpoint at ``path`` (``None`` if there is none)."""
    if not path.is_file():
        return None
    return int(load_checkpoint(path)["progress"]["epoch"])


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
