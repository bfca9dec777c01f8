"""Training: losses (thin wrappers over the physics norms and residual), checkpoints, run
directories and the trainer (offline from files, online from the solver, DDP)."""

from .checkpoint import (
    capture_rng,
    load_checkpoint,
    model_from_checkpoint,
    restore_rng,
    save_checkpoint,
)
from .losses import ORDERS, Objective, physics_loss, relative_error
from .run import MetricsLog, RunDir
from .settings import DataConfig, LossConfig, OnlineConfig, OptimConfig, TrainConfig
from .trainer import METRICS, Trainer, evaluate_windows, train

__all__ = [
    "METRICS",
    "ORDERS",
    "DataConfig",
    "LossConfig",
    "MetricsLog",
    "Objective",
    "OnlineConfig",
    "OptimConfig",
    "RunDir",
    "TrainConfig",
    "Trainer",
    "capture_rng",
    "evaluate_windows",
    "load_checkpoint",
    "model_from_checkpoint",
    "physics_loss",
    "relative_error",
    "restore_rng",
    "save_checkpoint",
    "train",
]
