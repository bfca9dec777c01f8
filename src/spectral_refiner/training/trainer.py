"""Training of neural operators on windows of trajectories: from a file, or online from the
solver; on one process or many under ``torchrun``.

One step on a batch of windows ``(w_in, y)`` minimises the :class:`~.losses.Objective`
(relative ``H^s`` error of ``p = G(w_in)`` against ``y`` and/or the scaled Navier–Stokes
residual of ``w_in ⊕ p``) with Adam or AdamW, a OneCycle, cosine or constant learning-rate
schedule stepped every batch, and optional gradient-norm clipping; mixed precision on CUDA
(the spectral transforms stay in float32, see :class:`~spectral_refiner.models.SpectralConv`).

Determinism and resume. The model is initialised from ``seed``; epoch ``e``'s training
windows are drawn from a generator keyed by ``(seed, e)`` and every window is read from
the data, so nothing random is carried from step to step except the optimiser's and the
schedule's states, which checkpoints hold with the weights and the torch RNG states. A run
resumed from any checkpoint (an epoch end, every ``checkpoint_every`` steps, or the step an
interrupt stopped at) therefore continues exactly as the uninterrupted run would have, bit
for bit at equal thread counts on the CPU.

Many processes. Under ``torchrun`` the model is wrapped in
:class:`~torch.nn.parallel.DistributedDataParallel` (gloo on the CPU, NCCL on CUDA).
``data.batch_size`` is the global batch: every global batch of the epoch's window order is
dealt out to the ranks (rank ``r`` takes the windows ``r, r + W, ...``), so the ranks see
disjoint shards and together the same windows as one process. Each rank's mean loss is
weighted by its share of the global batch before DDP averages the gradients, so the step
equals the single-process step with the same global batch also when the batch does not
divide evenly. Only rank 0 writes checkpoints, logs and summaries.
"""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..data import (
    Flow,
    OnlineStream,
    WindowDataset,
    all_reduce,
    apply_overrides,
    barrier,
    build_equation,
    check_windows,
    eval_windows,
    get_preset,
    init_from_env,
    local_device,
    parse_dtype,
    random_windows,
    rank_and_world,
    read_flow,
    simulate_preset,
    split_trajectories,
)
from ..errors import SpectralRefinerError
from ..models import NeuralOperator, build_model, model_payload
from ..physics import prediction_estimate
from .checkpoint import (
    capture_rng,
    load_checkpoint,
    model_from_checkpoint,
    restore_rng,
)
from .losses import ORDERS, Objective, relative_error
from .run import MetricsLog, RunDir
from .settings import TrainConfig

__all__ = ["Trainer", "evaluate_windows", "train"]

METRICS = ("rel_l2", "rel_h1", "rel_h-1", "eta")


def train(
    config: TrainConfig,
    out: str,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train as ``config`` says into the run directory ``out`` (or continue the run there).

    Returns the summary (also written to ``out/summary.json``): validation and test errors
    of the best checkpoint, epochs, steps and throughput.
    """
    init_from_env(local_device(config.device))
    reads = (config.data.file,) if config.data.file else ()
    run = RunDir.existing(out) if resume else RunDir.check_new(out, overwrite, reads)
    if resume and rank_and_world()[0] == 0:
        run.repair()  # a kill between checkpoint writes: make them agree before loading
    barrier()
    return Trainer(config, run, resume=resume, overwrite=overwrite, progress=progress).fit()


@dataclasses.dataclass
class Progress:
    """Where a run stands; saved in every checkpoint."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimiser steps taken
    epoch_step: int = 0  # steps taken in the current epoch
    best: float = math.inf  # best validation relative L2 error
    best_epoch: int = 0
    segment: int = 0  # resumes so far (keys the online stream's fresh trajectories)
    train_time: float = 0.0  # wall-clock seconds of the training loop (data waits included)


class Trainer:
    """One training run; see the module docstring (:func:`train` is the usual entry).

    The run directory is created (or, with ``overwrite``, emptied) only once the data,
    the config and the model have all been checked, so a run that cannot start leaves
    nothing behind."""

    def __init__(
        self,
        config: TrainConfig,
        run: RunDir,
        resume: bool = False,
        overwrite: bool = False,
        progress: bool = True,
    ) -> None:
        self.config = config.validate()
        self.run, self.show = run, progress
        self.rank, self.world = rank_and_world()
        self.device = local_device(config.device)
        self.dtype = parse_dtype(config.dtype)
        d = config.data
        if d.batch_size % self.world:
            raise SpectralRefinerError(
                f"data.batch_size ({d.batch_size}) is the global batch and must be divisible by "
                f"the {self.world} processes"
            )
        self.batch = d.batch_size // self.world
        self.progress = Progress()
        checkpoint = load_checkpoint(run.latest) if resume and run.latest.is_file() else None
        if checkpoint is not None:
            self.progress = Progress(**checkpoint["progress"])
            self.progress.segment += 1
        self._setup_data(resume)
        self.equation = self.flow.equation(self.device, self.dtype)
        self.dt = self.flow.dt * d.frame_stride
        self.objective = Objective(self.equation, self.dt, **dataclasses.asdict(config.loss))
        if config.loss.physics_weight and d.t_in < 3:
            raise SpectralRefinerError(
                "the physics loss needs data.t_in >= 3 (the residual's time scale comes from "
                "the input frames): raise data.t_in or set loss.physics_weight=0"
            )
        torch.manual_seed(config.seed)
        self.model = build_model(config.model["name"], **config.model_kwargs())
        self.model.to(device=self.device, dtype=self.dtype)
        if self.model.data_normalization:
            # Scalar statistics of the training trajectories (online: of the fixed trajectories
            # simulated at the start, the only ones known before training).
            frames = self.flow.frames[self.split["train"] if self.online is None else slice(None)]
            self.model.set_normalization(float(frames.mean()), float(frames.std()))
        self.ddp = (
            DistributedDataParallel(
                self.model, device_ids=[self.device] if self.device.type == "cuda" else None
            )
            if self.world > 1
            else self.model
        )
        self._setup_optimiser()
        if checkpoint is not None:
            self._restore(checkpoint)
        elif self.rank == 0:  # everything checked: only now is the run directory written
            if not resume:
                run.create(overwrite)
            run.write_config(config)
            run.write_json(run.split, {"source": self.flow.source, **self.split_record})
        barrier()

    # ------------------------------------------------------------------ setup
    def _setup_data(self, resume: bool) -> None:
        d, c = self.config.data, self.config
        if (d.file is None) == (d.online is None):
            raise SpectralRefinerError(
                "give the training data: --data FILE.h5 or --online PRESET (data.file or "
                "data.online), not both"
            )
        self.online: OnlineStream | None = None
        if d.file is not None:
            self.flow = read_flow(d.file, d.resolution)
            self.n_starts = check_windows(
                self.flow.frames.shape[1], d.t_in, d.t_out, d.frame_stride, d.file
            )
            if resume:
                record = self.run.read_split()
                if record.get("fingerprint") != self.flow.fingerprint:
                    raise SpectralRefinerError(
                        f"{d.file} is not the data this run was trained on (fingerprint "
                        "differs): resume with the original file"
                    )
                self.split = {k: record[k] for k in ("train", "val", "test")}
            else:
                self.split = split_trajectories(
                    self.flow.frames.shape[0], d.val_split, d.test_split, c.seed
                )
            self.split_record = {"fingerprint": self.flow.fingerprint, **self.split}
            # Every global batch of the epoch, the last one only if each rank gets a window.
            windows = len(self.split["train"]) * d.samples_per_trajectory
            full, rest = divmod(windows, d.batch_size)
            self.steps_per_epoch = full + (rest >= self.world)
            if self.steps_per_epoch == 0:
                raise SpectralRefinerError(
                    f"{windows} training windows cannot feed {self.world} processes: use more "
                    "trajectories or raise data.samples_per_trajectory"
                )
        else:
            if d.resolution is not None:
                raise SpectralRefinerError(
                    "data.resolution does not apply to online training: set the preset's "
                    "resolution with online.preset_overrides=[resolution=N]"
                )
            preset = apply_overrides(get_preset(d.online), c.online.preset_overrides).validate()
            self.n_starts = check_windows(
                preset.n_frames, d.t_in, d.t_out, d.frame_stride, f"preset {preset.name}"
            )
            n_eval = c.online.val_trajectories
            # The fixed validation and test trajectories, simulated once (indices below the
            # streams' first index), at the stored resolution of the preset.
            equation = build_equation(preset, self.device)
            with torch.no_grad():
                frames = simulate_preset(preset, equation, c.seed, list(range(2 * n_eval)))
            self.flow = Flow(
                frames.float().cpu(), preset.times(), preset, f"online:{preset.name}", ""
            )
            self.split = {
                "train": [],
                "val": list(range(n_eval)),
                "test": list(range(n_eval, 2 * n_eval)),
            }
            self.split_record = {"preset": preset.fields(), "seed": c.seed, **self.split}
            if c.online.watermark < self.batch:
                raise SpectralRefinerError(
                    f"online.watermark ({c.online.watermark}) must be at least the per-process "
                    f"batch ({self.batch})"
                )
            self.online = OnlineStream(
                preset,
                c.seed,
                first_index=2 * n_eval + self.progress.segment * 2**40,
                t_in=d.t_in,
                t_out=d.t_out,
                stride=d.frame_stride,
                batch_size=self.batch,
                buffer_size=c.online.buffer_size,
                watermark=c.online.watermark,
                solver_batch=c.online.solver_batch,
                solver_threads=c.online.solver_threads,
                rank=self.rank,
                world=self.world,
                device=str(self.device),
            )
            self.steps_per_epoch = c.online.steps_per_epoch
            if self.device.type == "cpu":
                torch.set_num_threads(_training_threads(c.online))
        k = d.eval_windows
        self.val_windows = eval_windows(self.split["val"], self.n_starts, k)
        self.test_windows = eval_windows(self.split["test"], self.n_starts, k)

    def _setup_optimiser(self) -> None:
        o = self.config.optim
        cls = torch.optim.AdamW if o.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = cls(self.model.parameters(), lr=o.lr, weight_decay=o.weight_decay)
        total = o.epochs * self.steps_per_epoch
        if o.schedule == "onecycle":
            self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
                self.optimizer, max_lr=o.lr, total_steps=total, pct_start=o.warmup_fraction
            )
        else:
            warm = max(1, round(o.warmup_fraction * total))

            def factor(step: int) -> float:
                if o.schedule == "constant":
                    return 1.0
                if step < warm:
                    return (step + 1) / warm
                return 0.5 * (
                    1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm)))
                )

            self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)
        self.amp = o.amp and self.device.type == "cuda"
        if o.amp and not self.amp and self.rank == 0:
            print("note: optim.amp is CUDA-only; training in full precision", file=sys.stderr)
        self.amp_dtype = (
            torch.bfloat16 if self.amp and torch.cuda.is_bf16_supported() else torch.float16
        )
        self.scaler = torch.amp.GradScaler(
            self.device.type, enabled=self.amp and self.amp_dtype == torch.float16
        )

    def _restore(self, checkpoint: dict[str, Any]) -> None:
        payload = checkpoint["model"]
        if payload.get("name") != self.model.name or payload.get("config") != self.model.config:
            raise SpectralRefinerError(
                f"{self.run.latest} holds a {payload.get('name')!r} model with other arguments "
                f"than the run's config ({self.model.name!r}): the checkpoint is from another "
                "run; start a new run with --out"
            )
        self.model.load_state_dict(payload["state_dict"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.scaler.load_state_dict(checkpoint["scaler"])
        restore_rng(checkpoint["rng"])

    # ------------------------------------------------------------------ data
    def _file_batches(self, epoch: int, skip: int) -> Iterator[tuple[torch.Tensor, ...]]:
        """This rank's batches of epoch ``epoch`` after the first ``skip``, with the size of
        the global batch each belongs to."""
        d = self.config.data
        windows = random_windows(
            self.split["train"], self.n_starts, d.samples_per_trajectory, self.config.seed, epoch
        )
        chunks = [
            list(range(i, min(i + d.batch_size, len(windows))))
            for i in range(0, len(windows), d.batch_size)
        ][: self.steps_per_epoch]
        shares = [chunk[self.rank :: self.world] for chunk in chunks[skip:]]
        dataset = WindowDataset(self.flow.frames, windows, d.t_in, d.t_out, d.frame_stride)
        loader = DataLoader(
            dataset,
            batch_sampler=shares,
            num_workers=d.workers,
            worker_init_fn=_ignore_interrupts,
            pin_memory=self.device.type == "cuda",
        )
        for (w_in, w_out), chunk in zip(loader, chunks[skip:], strict=True):
            yield w_in, w_out, len(chunk)

    def _online_batches(self, steps: int) -> Iterator[tuple[torch.Tensor, ...]]:
        if self._stream is None:
            loader = DataLoader(
                self.online,
                batch_size=None,
                num_workers=self.config.online.workers,
                worker_init_fn=_ignore_interrupts,
            )
            self._stream = iter(loader)
            self._stream_start = time.perf_counter()
        for _ in range(steps):
            w_in, w_out, stats = next(self._stream)
            self._stream_stats[stats["stream"]] = stats
            self._stream_consumed += w_in.shape[0]
            yield w_in, w_out, self.config.data.batch_size

    # ------------------------------------------------------------------ steps
    def _step(self, w_in: torch.Tensor, w_out: torch.Tensor, n_global: int) -> torch.Tensor:
        """One optimiser step; returns ``[Σ loss, Σ data, Σ physics, n, grad norm]`` of this
        rank's samples (to be summed over the ranks)."""
        w_in = w_in.to(self.device, self.dtype, non_blocking=True)
        w_out = w_out.to(self.device, self.dtype, non_blocking=True)
        self.model.train()
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp):
            pred = self.ddp(w_in)
        loss, parts = self.objective(w_in, pred, w_out)
        n = w_in.shape[0]
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss * (n * self.world / n_global)).backward()
        clip = self.config.optim.grad_clip
        self.scaler.unscale_(self.optimizer)
        norm = torch.nn.utils.clip_grad_norm_(
            self.model.parameters(), clip if clip is not None else math.inf
        )
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        zero = loss.new_zeros(())
        return torch.stack(
            [
                loss.detach() * n,
                parts.get("data", zero) * n,
                parts.get("physics", zero) * n,
                loss.new_tensor(float(n)),
                norm.to(loss.dtype) / self.world,
            ]
        )

    def evaluate(self, windows: list[tuple[int, int]], model: NeuralOperator | None = None) -> dict:
        """Mean relative L2, H1, H^-1 errors and estimate η over ``windows`` (sharded over the
        ranks, reduced); η needs windows of at least 4 frames."""
        model = model or self.model
        d = self.config.data
        shard = windows[self.rank :: self.world]
        dataset = WindowDataset(self.flow.frames, shard, d.t_in, d.t_out, d.frame_stride)
        sums = torch.zeros(len(METRICS) + 1, dtype=torch.float64)
        for w_in, w_out in DataLoader(dataset, batch_size=max(self.batch, 8)):
            values = evaluate_windows(
                model,
                w_in.to(self.device, self.dtype),
                w_out.to(self.device, self.dtype),
                self.equation,
                self.dt,
                self.config.loss.alpha,
            )
            sums[:-1] += torch.stack([values[m].sum() for m in METRICS]).cpu().double()
            sums[-1] += w_in.shape[0]
        sums = all_reduce(sums.to(self.device)).cpu()
        count = float(sums[-1])
        means = {m: float(sums[i]) / count if count else math.nan for i, m in enumerate(METRICS)}
        return means | {"windows": int(count)}

    # ------------------------------------------------------------------ loop
    def _payload(self) -> dict[str, Any]:
        return {
            "model": model_payload(self.model),
            "normalization": {
                "mean": float(self.model.data_mean),
                "std": float(self.model.data_std),
            },
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": capture_rng(),
            "progress": dataclasses.asdict(self.progress),
            "config": self.config.to_dict(),
            "split": self.split,
            "data": self.data_record(),
        }

    def data_record(self) -> dict[str, Any]:
        """What inference needs to know of the training data: the grid the model was trained
        at, the windows' shape and frame spacing, and the flow's recipe."""
        d = self.config.data
        return {
            "source": self.flow.source,
            "resolution": self.flow.resolution,
            "dt": self.dt,
            "frame_stride": d.frame_stride,
            "t_in": d.t_in,
            "t_out": d.t_out,
            "preset": self.flow.preset.fields(),
        }

    def _save(self, best: bool = False, keep: bool = False) -> None:
        if self.rank == 0:
            self.run.save(self._payload(), best=best, keep=keep)

    def fit(self) -> dict[str, Any]:
        """Train to ``optim.epochs`` epochs (from where the run stands), then evaluate the best
        checkpoint on the validation and test windows and write the summary."""
        cfg, prog = self.config, self.progress
        epochs, steps = cfg.optim.epochs, self.steps_per_epoch
        self._stream, self._stream_stats, self._stream_consumed = None, {}, 0
        self._time_up = False
        log = MetricsLog(self.run, resume_step=prog.step) if self.rank == 0 else None
        per_epoch = steps * cfg.data.batch_size
        bar = tqdm(
            total=epochs * per_epoch,
            initial=min(prog.step * cfg.data.batch_size, epochs * per_epoch),
            unit="sample",
            desc=f"train {cfg.model['name']}",
            disable=not self.show or self.rank != 0,
            dynamic_ncols=True,
        )
        try:
            with bar, _StopOnSignal() as stop:
                while prog.epoch < epochs and not self._out_of_time():
                    self._epoch(prog.epoch, bar, log, stop)
        finally:
            if log is not None:
                log.close()
        summary = self._summary()
        if self.rank == 0:
            self.run.write_json(self.run.summary, summary)
        barrier()
        return summary

    def _epoch(self, epoch: int, bar: tqdm, log: MetricsLog | None, stop: _StopOnSignal) -> None:
        cfg, prog = self.config, self.progress
        skip = prog.epoch_step
        if self.online is None:
            batches = self._file_batches(epoch, skip)
        else:
            batches = self._online_batches(self.steps_per_epoch - skip)
        totals = torch.zeros(5, dtype=torch.float64)
        consumed, started = 0, time.perf_counter()
        clock = started
        for w_in, w_out, n_global in batches:
            sums = self._step(w_in, w_out, n_global)
            now = time.perf_counter()
            prog.train_time += now - clock
            clock = now
            # Stop requests and the time budget are decided jointly, so all ranks stop at the
            # same step.
            flags = sums.new_tensor([float(stop.requested), float(self._out_of_time())])
            sums = all_reduce(torch.cat((sums, flags))).cpu().double()
            prog.step += 1
            prog.epoch_step += 1
            consumed += n_global
            totals += sums[:5]
            rate = consumed / max(time.perf_counter() - started, 1e-9)
            loss = float(sums[0] / sums[3])
            record = {
                "kind": "step",
                "step": prog.step,
                "epoch": epoch + prog.epoch_step / self.steps_per_epoch,
                "loss": loss,
                "lr": self.scheduler.get_last_lr()[0],
                "grad_norm": float(sums[4]),
                "samples_per_s": rate,
            }
            if cfg.loss.data_weight:
                record["data_loss"] = float(sums[1] / sums[3])
            if cfg.loss.physics_weight:
                record["physics_loss"] = float(sums[2] / sums[3])
            if log is not None:
                log.log(record)
            bar.update(n_global)
            bar.set_postfix(
                epoch=f"{epoch + 1}/{cfg.optim.epochs}", loss=f"{loss:.4g}", refresh=False
            )
            if sums[5] > 0:  # some rank was asked to stop: all stop at this step
                self._save()
                raise KeyboardInterrupt
            if sums[6] > 0:  # the time budget is spent: this epoch ends here
                self._time_up = True
                break
            if cfg.optim.checkpoint_every and prog.step % cfg.optim.checkpoint_every == 0:
                self._save()
        val = self.evaluate(self.val_windows)
        if not self._time_up:
            prog.epoch += 1
            prog.epoch_step = 0
        improved = not self.val_windows or val["rel_l2"] < prog.best
        if improved:
            prog.best, prog.best_epoch = val["rel_l2"], prog.epoch
        self._save(best=improved, keep=prog.epoch in cfg.optim.keep_checkpoints)
        epoch_time = time.perf_counter() - started
        record = {
            "kind": "epoch",
            "step": prog.step,
            "epoch": prog.epoch,
            "train_loss": float(totals[0] / max(float(totals[3]), 1.0)),
            **{f"val_{k}": v for k, v in val.items() if k != "windows"},
            "samples_per_s": consumed / max(epoch_time, 1e-9),
            **self._stream_rates(),
        }
        if log is not None:
            log.log(record)
            bar.write(
                f"epoch {prog.epoch}/{cfg.optim.epochs}: train loss {record['train_loss']:.4g}, "
                f"val rel L2 {val['rel_l2']:.4g}, η {val['eta']:.3g}"
                + (" (best)" if improved else "")
            )

    def _out_of_time(self) -> bool:
        budget = self.config.optim.max_time
        return self._time_up or (budget is not None and self.progress.train_time >= budget)

    def _stream_rates(self) -> dict[str, float]:
        """Online training: windows generated and consumed per second since the stream began."""
        if self.online is None or self._stream is None:
            return {}
        elapsed = max(time.perf_counter() - self._stream_start, 1e-9)
        local = torch.tensor(
            [
                sum(s["windows"] for s in self._stream_stats.values()),
                sum(s["trajectories"] for s in self._stream_stats.values()),
                self._stream_consumed,
            ],
            dtype=torch.float64,
        )
        total = all_reduce(local.to(self.device)).cpu()
        return {
            "online_generated_per_s": float(total[0]) / elapsed,
            "online_trajectories": float(total[1]),
            "online_consumed_per_s": float(total[2]) / elapsed,
        }

    def _summary(self) -> dict[str, Any]:
        prog = self.progress
        best = self.model
        if self.run.best.is_file():
            best = model_from_checkpoint(load_checkpoint(self.run.best)).to(self.device)
        steps = max(prog.step, 1)
        return {
            "model": self.config.model["name"],
            "parameters": self.model.n_parameters(),
            "data": self.flow.source,
            "epochs": prog.epoch,
            "steps": prog.step,
            "best_epoch": prog.best_epoch,
            "train_time_s": prog.train_time,
            "train_samples_per_s": steps * self.config.data.batch_size / max(prog.train_time, 1e-9),
            "val": self.evaluate(self.val_windows, best),
            "test": self.evaluate(self.test_windows, best),
            **({"online": self._stream_rates()} if self.online is not None else {}),
        }


@torch.no_grad()
def evaluate_windows(
    model: NeuralOperator,
    w_in: torch.Tensor,
    w_out: torch.Tensor,
    equation,
    dt: float,
    alpha: float = 1.0,
) -> dict[str, torch.Tensor]:
    """Per-window relative L2 / H1 / H^-1 errors of ``model(w_in)`` against ``w_out``, and the
    estimate η of the prediction (:func:`~spectral_refiner.physics.prediction_estimate`);
    each of shape ``(B,)``."""
    model.eval()
    pred = model(w_in)
    grid = equation.grid
    out = {
        name: relative_error(pred, w_out, grid, ORDERS[name], alpha)
        for name in ("rel_l2", "rel_h1", "rel_h-1")
    }
    out["eta"] = prediction_estimate(w_in, pred, equation, dt, alpha)
    return out


def _training_threads(online) -> int:
    """``online.training_threads``, or the CPU cores of this process's share of the machine
    (``LOCAL_WORLD_SIZE`` processes) left after its solver workers' threads."""
    if online.training_threads is not None:
        return online.training_threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    share = max(1, (cores or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(1, share - online.workers * online.solver_threads)


def _ignore_interrupts(_worker: int) -> None:
    """DataLoader workers leave Ctrl-C to the main process, which stops at a step boundary."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _StopOnSignal:
    """Turns the first SIGINT/SIGTERM into a request to stop after the current step (the
    trainer then checkpoints and raises KeyboardInterrupt); a second SIGINT interrupts at
    once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> _StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
