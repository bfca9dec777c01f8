"""Datasets: presets, the resumable generator, Well-schema HDF5 files, trajectory windows and
the online (solver-in-the-loop) stream."""

from .describe import describe, format_description, recorded_preset
from .distributed import all_reduce, barrier, init_from_env, local_device, rank_and_world
from .generate import build_equation, generate, parse_dtype, simulate_preset
from .hdf5 import DatasetInfo, read_estimates, read_info, read_vorticity, write_dataset
from .online import OnlineStream, Reservoir
from .parts import Parts
from .presets import PRESETS, Preset, apply_overrides, get_preset
from .windows import (
    Flow,
    WindowDataset,
    check_windows,
    eval_windows,
    random_windows,
    read_flow,
    split_trajectories,
    window_span,
)

__all__ = [
    "PRESETS",
    "DatasetInfo",
    "Flow",
    "OnlineStream",
    "Parts",
    "Preset",
    "Reservoir",
    "WindowDataset",
    "all_reduce",
    "apply_overrides",
    "barrier",
    "build_equation",
    "check_windows",
    "describe",
    "eval_windows",
    "format_description",
    "generate",
    "get_preset",
    "init_from_env",
    "local_device",
    "parse_dtype",
    "random_windows",
    "rank_and_world",
    "read_estimates",
    "read_flow",
    "read_info",
    "read_vorticity",
    "recorded_preset",
    "simulate_preset",
    "split_trajectories",
    "window_span",
    "write_dataset",
]
