"""Process-group helpers shared by dataset generation and training under ``torchrun``."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

__all__ = ["barrier", "init_from_env", "rank_and_world"]


def init_from_env(device: torch.device | str = "cpu") -> None:
    """Join the process group ``torchrun`` describes (``WORLD_SIZE > 1``), once.

    Backend: NCCL for CUDA devices, gloo otherwise.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def barrier() -> None:
    """Wait for every rank (no-op outside a process group)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
