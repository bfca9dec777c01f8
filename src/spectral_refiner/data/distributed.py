"""Process-group helpers shared by dataset generation and training under ``torchrun``."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from ..errors import SpectralRefinerError

__all__ = ["all_reduce", "barrier", "init_from_env", "local_device", "rank_and_world"]


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


def all_reduce(values: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """``values`` reduced over every rank (``sum`` or ``max``), in place; unchanged outside a
    process group. gloo reduces CPU tensors, NCCL CUDA ones: pass them on the right device."""
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(values, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)
    return values


def local_device(device: str) -> torch.device:
    """``auto``: the CUDA device of this rank (``LOCAL_RANK``) if CUDA is available, else the
    CPU; any other value as given (``cuda`` becomes this rank's CUDA device). The one place a
    ``--device`` is resolved: a device that does not exist here is a one-line error."""
    given = device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise SpectralRefinerError(
            f"unknown device {given!r}: use cpu, cuda, cuda:N, mps or auto"
        ) from None
    if resolved.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise SpectralRefinerError(
                f"device {given!r}: this machine (or this PyTorch build) has no CUDA device; "
                "use cpu"
            )
        if (resolved.index or 0) >= count:
            raise SpectralRefinerError(
                f"device {given!r}: there are {count} CUDA devices (cuda:0..cuda:{count - 1})"
            )
    elif resolved.type == "mps" and not torch.backends.mps.is_available():
        raise SpectralRefinerError(f"device {given!r}: MPS is not available here; use cpu")
    elif resolved.type not in ("cpu", "cuda", "mps"):
        raise SpectralRefinerError(f"device {given!r} is not supported: use cpu, cuda or mps")
    return resolved
