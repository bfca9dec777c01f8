"""Optimiser, learning-rate schedule and mixed-precision scaler of a run, built from its
``optim`` settings and saved/restored together.

Adam or AdamW (parameter groups may carry their own ``lr``: each group's rate follows the
schedule scaled by its own peak); a schedule stepped every batch over
``epochs · steps_per_epoch`` steps: OneCycle (warm-up fraction ``warmup_fraction``), cosine
``lr(s) = lr · ½(1 + cos(π min(1, (s - w) / (S - w))))`` after a linear warm-up of
``w = max(1, round(warmup_fraction · S))`` steps, or constant; mixed precision on CUDA only
(bfloat16 where supported, else float16 with a gradient scaler).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

import torch

from .settings import OptimConfig

__all__ = ["Optimisation", "build_optimisation"]


@dataclass
class Optimisation:
    """The optimiser, its schedule and the gradient scaler, with the autocast settings."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    amp: bool
    amp_dtype: torch.dtype

    def state_dict(self) -> dict[str, Any]:
        """The three states, as a checkpoint holds them."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])


def build_optimisation(
    parameters, o: OptimConfig, steps_per_epoch: int, device: torch.device, verbose: bool = True
) -> Optimisation:
    """The :class:`Optimisation` of the module docstring for ``parameters``; ``verbose``
    prints the note that ``optim.amp`` is CUDA-only."""
    cls = torch.optim.AdamW if o.optimizer == "adamw" else torch.optim.Adam
    optimizer = cls(parameters, lr=o.lr, weight_decay=o.weight_decay)
    total = o.epochs * steps_per_epoch
    if o.schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=[g["lr"] for g in optimizer.param_groups],
            total_steps=total,
            pct_start=o.warmup_fraction,
        )
    else:
        warm = max(1, round(o.warmup_fraction * total))

        def factor(step: int) -> float:
            if o.schedule == "constant":
                return 1.0
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    amp = o.amp and device.type == "cuda"
    if o.amp and not amp and verbose:
        print("note: optim.amp is CUDA-only; training in full precision", file=sys.stderr)
    amp_dtype = torch.bfloat16 if amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler(device.type, enabled=amp and amp_dtype == torch.float16)
    return Optimisation(optimizer, scheduler, scaler, amp, amp_dtype)
