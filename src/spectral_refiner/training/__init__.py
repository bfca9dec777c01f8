"""Training: data sources (file windows, online stream), losses, optimiser building, signal
handling, checkpoints, run directories and the trainer (offline or online, DDP), assembled
from a config by :func:`train`."""

from ..metrics import relative_error  # re-exported: the error the losses use
from .all2all import All2AllPairs, eval_pairs, lead_frames, lead_time_kwargs
from .build import train
from .checkpoint import (
    capture_rng,
    load_checkpoint,
    model_from_checkpoint,
    restore_rng,
    save_checkpoint,
)
from .closure import CLOSURE_MODELS, train_closure
from .closure_figures import closure_correlation, closure_figures
from .fixed_window import FixedWindow, file_record, use_on_file
from .hybrid import HYBRID, hybrid_kwargs
from .init_from import FREEZE, freeze_trunk, init_from, interface_layers, parameter_groups
from .losses import Objective, physics_loss
from .mixture import PARAMETERS, MixtureWindows, parameter_channels
from .optim import Optimisation, build_optimisation
from .own_loss import has_own_loss, sample_seeds
from .run import MetricsLog, RunDir
from .settings import DataConfig, LossConfig, OnlineConfig, OptimConfig, TrainConfig
from .signals import StopOnSignal, ignore_interrupts
from .sources import DataSource, FileWindows, OnlineWindows, build_source
from .trainer import Progress, Trainer

__all__ = [
    "CLOSURE_MODELS",
    "FREEZE",
    "HYBRID",
    "PARAMETERS",
    "All2AllPairs",
    "DataConfig",
    "DataSource",
    "FileWindows",
    "FixedWindow",
    "LossConfig",
    "MetricsLog",
    "MixtureWindows",
    "Objective",
    "OnlineConfig",
    "OnlineWindows",
    "OptimConfig",
    "Optimisation",
    "Progress",
    "RunDir",
    "StopOnSignal",
    "TrainConfig",
    "Trainer",
    "build_optimisation",
    "build_source",
    "capture_rng",
    "closure_correlation",
    "closure_figures",
    "eval_pairs",
    "file_record",
    "freeze_trunk",
    "has_own_loss",
    "hybrid_kwargs",
    "ignore_interrupts",
    "init_from",
    "interface_layers",
    "lead_frames",
    "lead_time_kwargs",
    "load_checkpoint",
    "model_from_checkpoint",
    "parameter_channels",
    "parameter_groups",
    "physics_loss",
    "relative_error",
    "restore_rng",
    "sample_seeds",
    "save_checkpoint",
    "train",
    "train_closure",
    "use_on_file",
]
