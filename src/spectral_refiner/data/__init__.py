"""Datasets: presets, the resumable generator, Well-schema HDF5 files, trajectory windows and
the online (solver-in-the-loop) stream, all2all frame pairs."""

from .all2all import (
    LEAD_SAMPLINGS,
    PairDataset,
    all2all_pairs,
    lead_weights,
    max_lead_frames,
    random_pairs,
)
from .describe import describe, format_description, recorded_preset
from .distributed import all_reduce, barrier, init_from_env, local_device, rank_and_world
from .generate import build_equation, generate, parse_dtype, preset_problem, simulate_preset
from .hdf5 import (
    DatasetInfo,
    key_family,
    keys_fingerprint,
    read_estimates,
    read_info,
    read_subgrid,
    read_vorticity,
    seed_keys,
    write_dataset,
)
from .online import OnlineStream, Reservoir
from .parts import Parts
from .presets import PRESETS, Preset, apply_overrides, get_preset
from .validate import check_dataset
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
    "LEAD_SAMPLINGS",
    "PRESETS",
    "DatasetInfo",
    "Flow",
    "OnlineStream",
    "PairDataset",
    "Parts",
    "Preset",
    "Reservoir",
    "WindowDataset",
    "all2all_pairs",
    "all_reduce",
    "apply_overrides",
    "barrier",
    "build_equation",
    "check_dataset",
    "check_windows",
    "describe",
    "eval_windows",
    "format_description",
    "generate",
    "get_preset",
    "init_from_env",
    "key_family",
    "keys_fingerprint",
    "lead_weights",
    "local_device",
    "max_lead_frames",
    "parse_dtype",
    "preset_problem",
    "random_pairs",
    "random_windows",
    "rank_and_world",
    "read_estimates",
    "read_flow",
    "read_info",
    "read_subgrid",
    "read_vorticity",
    "recorded_preset",
    "seed_keys",
    "simulate_preset",
    "split_trajectories",
    "window_span",
    "write_dataset",
]
