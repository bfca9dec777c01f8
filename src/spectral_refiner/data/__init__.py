"""Datasets: presets, the resumable generator, and Well-schema HDF5 files."""

from .distributed import barrier, init_from_env, rank_and_world
from .generate import build_equation, generate, parse_dtype
from .hdf5 import DatasetInfo, read_info, read_vorticity, write_dataset
from .presets import PRESETS, Preset, apply_overrides, get_preset

__all__ = [
    "PRESETS",
    "DatasetInfo",
    "Preset",
    "apply_overrides",
    "barrier",
    "build_equation",
    "generate",
    "get_preset",
    "init_from_env",
    "parse_dtype",
    "rank_and_world",
    "read_info",
    "read_vorticity",
    "write_dataset",
]
