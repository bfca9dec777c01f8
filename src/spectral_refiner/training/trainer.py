"""The training loop of neural operators on windows of trajectories: from a file, or online
from the solver; on one process or many under ``torchrun``.

The :class:`Trainer` receives built parts (model, data source, objective, optimiser, run
directory, the run's :class:`~spectral_refiner.problem.Problem`) and only runs the loop;
:func:`~.build.train` assembles them from a config.

One step on a batch of windows ``(w_in, y)`` minimises the objective (relative ``H^s`` error
of ``p = G(w_in)`` against ``y`` and/or the scaled Navier–Stokes residual of ``w_in ⊕ p``),
or, for a model with its own ``training_loss`` (PDE-Refiner), that loss with per-sample
seeds keyed by (seed, step, place in the global batch) (:mod:`~.own_loss`);
mixed precision on CUDA (the spectral transforms stay in float32, see
:class:`~spectral_refiner.models.SpectralConv`). Validation and test windows report the
metrics of :data:`~spectral_refiner.metrics.WINDOW_METRICS`, η with the Problem's α.

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
import time
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..data import all_reduce, barrier, rank_and_world
from ..metrics import WINDOW_METRICS, window_metrics
from ..models import NeuralOperator, model_payload
from ..problem import Problem
from .checkpoint import capture_rng, load_checkpoint, model_from_checkpoint
from .losses import Objective
from .optim import Optimisation
from .own_loss import OwnLoss, has_own_loss, sample_seeds
from .run import MetricsLog, RunDir
from .settings import TrainConfig
from .signals import StopOnSignal
from .sources import DataSource

__all__ = ["Progress", "Trainer"]


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
    """The training loop of one run, on built parts (module docstring; :func:`~.build.train` builds
    them from a config).

    Parameters
    ----------
    model : NeuralOperator
        On the training device and dtype (wrapped in DDP here under ``torchrun``).
    source : DataSource
        Training batches, evaluation windows and the record of the data
        (:mod:`~.sources`).
    objective : Objective
        The loss; its residual also gives η of the evaluation windows.
    optim : Optimisation
        Optimiser, schedule and scaler (:mod:`~.optim`).
    run : RunDir
        Where checkpoints, logs and the summary go (existing).
    config : TrainConfig
        The loop's settings: epochs, batch size, clipping, checkpoint cadence, time budget.
    problem : Problem
        The run's Problem, saved in every checkpoint.
    state : Progress, optional
        Where a resumed run stands.
    show : bool
        Progress bar (rank 0).
    """

    def __init__(
        self,
        model: NeuralOperator,
        source: DataSource,
        objective: Objective,
        optim: Optimisation,
        run: RunDir,
        config: TrainConfig,
        problem: Problem,
        *,
        state: Progress | None = None,
        show: bool = True,
    ) -> None:
        self.model, self.source, self.objective, self.optim = model, source, objective, optim
        self.run, self.config, self.problem, self.show = run, config, problem, show
        self.progress = state or Progress()
        self.rank, self.world = rank_and_world()
        param = next(model.parameters())
        self.device, self.dtype = param.device, param.dtype
        self.batch = config.data.batch_size // self.world
        self.steps_per_epoch = source.steps_per_epoch
        self.own_loss = has_own_loss(model)
        trained = OwnLoss(model) if self.own_loss else model
        # η of the evaluation windows, unless the source's windows solve several equations
        self.estimates = getattr(source, "estimates", True)
        self.ddp = (
            DistributedDataParallel(
                trained, device_ids=[self.device] if self.device.type == "cuda" else None
            )
            if self.world > 1
            else trained
        )

    # ------------------------------------------------------------------ steps
    def _conditioning(self, extra: list) -> dict[str, torch.Tensor]:
        """The conditioning keywords of a sample (a source's optional last item: lead times,
        ...) on the training device."""
        return {k: v.to(self.device, self.dtype) for k, v in (extra[0] if extra else {}).items()}

    def _step(
        self,
        w_in: torch.Tensor,
        w_out: torch.Tensor,
        n_global: int,
        conditioning: dict[str, torch.Tensor],
    ) -> torch.Tensor:
        """One optimiser step; returns ``[Σ loss, Σ data, Σ physics, n, grad norm]`` of this
        rank's samples (to be summed over the ranks)."""
        w_in = w_in.to(self.device, self.dtype, non_blocking=True)
        w_out = w_out.to(self.device, self.dtype, non_blocking=True)
        self.model.train()
        o = self.optim
        n = w_in.shape[0]
        if self.own_loss:  # the model's objective; sample j of this rank is r + j W globally
            positions = range(self.rank, self.rank + n * self.world, self.world)
            seeds = sample_seeds(self.config.seed, self.progress.step, positions)
            with torch.autocast(self.device.type, dtype=o.amp_dtype, enabled=o.amp):
                loss = self.ddp(w_in, w_out, seeds)
            parts = {"data": loss.detach()}
        else:
            with torch.autocast(self.device.type, dtype=o.amp_dtype, enabled=o.amp):
                pred = self.ddp(w_in, **conditioning)
            loss, parts = self.objective(w_in, pred, w_out[:, : pred.shape[1]])  # curriculum
        o.optimizer.zero_grad(set_to_none=True)
        o.scaler.scale(loss * (n * self.world / n_global)).backward()
        clip = self.config.optim.grad_clip
        o.scaler.unscale_(o.optimizer)
        norm = torch.nn.utils.clip_grad_norm_(
            self.model.parameters(), clip if clip is not None else math.inf
        )
        o.scaler.step(o.optimizer)
        o.scaler.update()
        o.scheduler.step()
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

    def evaluate(self, name: str, model: NeuralOperator | None = None) -> dict:
        """Means of :data:`~spectral_refiner.metrics.WINDOW_METRICS` (relative L2, H1, H^-1
        errors and η) over the source's ``name`` windows (``val`` or ``test``), sharded over
        the ranks and reduced; η needs windows of at least 4 frames, and is NaN for
        conditioned samples (pairs a lead time apart are not windows of consecutive frames)."""
        model = model or self.model
        dataset = self.source.eval_set(name, self.rank, self.world)
        sums = torch.zeros(len(WINDOW_METRICS) + 1, dtype=torch.float64)
        for w_in, w_out, *extra in DataLoader(dataset, batch_size=max(self.batch, 8)):
            w_in, w_out = w_in.to(self.device, self.dtype), w_out.to(self.device, self.dtype)
            conditioning = self._conditioning(extra)
            model.eval()
            with torch.no_grad():
                pred = model(w_in, **conditioning)
            values = window_metrics(
                w_in, pred, w_out, self.objective.residual, eta=self.estimates and not conditioning
            )
            sums[:-1] += torch.stack([values[m].sum() for m in WINDOW_METRICS]).cpu().double()
            sums[-1] += w_in.shape[0]
        sums = all_reduce(sums.to(self.device)).cpu()
        count = float(sums[-1])
        means = {
            m: float(sums[i]) / count if count else math.nan for i, m in enumerate(WINDOW_METRICS)
        }
        return means | {"windows": int(count)}

    # ------------------------------------------------------------------ loop
    def _payload(self) -> dict[str, Any]:
        p, record = self.problem, self.source.record()
        return {
            "model": model_payload(self.model),
            "normalization": {
                "mean": float(self.model.data_mean),
                "std": float(self.model.data_std),
            },
            **self.optim.state_dict(),
            "rng": capture_rng(),
            "progress": dataclasses.asdict(self.progress),
            "config": self.config.to_dict(),
            "split": record,
            "problem": p.to_dict(),
            # The window record of checkpoints before the Problem (readers of old runs).
            "data": {
                "source": record.get("source", ""),
                "resolution": p.resolution,
                "dt": p.dt,
                "frame_stride": p.stride,
                "t_in": p.t_in,
                "t_out": p.t_out,
            },
        }

    def _save(self, best: bool = False, keep: bool = False) -> None:
        if self.rank == 0:
            self.run.save(self._payload(), best=best, keep=keep)

    def fit(self) -> dict[str, Any]:
        """Train to ``optim.epochs`` epochs (from where the run stands), then evaluate the best
        checkpoint on the validation and test windows and write the summary."""
        cfg, prog = self.config, self.progress
        epochs, steps = cfg.optim.epochs, self.steps_per_epoch
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
            with bar, StopOnSignal() as stop:
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

    def _epoch(self, epoch: int, bar: tqdm, log: MetricsLog | None, stop: StopOnSignal) -> None:
        cfg, prog = self.config, self.progress
        if cfg.data.curriculum:  # the frames a rolling-out model trains on this epoch
            self.model.unroll = cfg.data.unroll(epoch)
        batches = self.source.batches(epoch, prog.epoch_step)
        totals = torch.zeros(5, dtype=torch.float64)
        consumed, started = 0, time.perf_counter()
        clock = started
        for w_in, w_out, n_global, *extra in batches:
            sums = self._step(w_in, w_out, n_global, self._conditioning(extra))
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
                "lr": self.optim.scheduler.get_last_lr()[0],
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
        val = self.evaluate("val")
        if not self._time_up:
            prog.epoch += 1
            prog.epoch_step = 0
        improved = not val["windows"] or val["rel_l2"] < prog.best
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
            **self.source.rates(self.device),
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

    def _summary(self) -> dict[str, Any]:
        prog = self.progress
        best = self.model
        if self.run.best.is_file():
            best = model_from_checkpoint(load_checkpoint(self.run.best)).to(self.device)
        steps = max(prog.step, 1)
        return {
            "model": self.config.model["name"],
            "parameters": self.model.n_parameters(),
            "data": self.source.record().get("source", ""),
            "epochs": prog.epoch,
            "steps": prog.step,
            "best_epoch": prog.best_epoch,
            "train_time_s": prog.train_time,
            "train_samples_per_s": steps * self.config.data.batch_size / max(prog.train_time, 1e-9),
            "val": self.evaluate("val", best),
            "test": self.evaluate("test", best),
        } | ({"online": rates} if (rates := self.source.rates(self.device)) else {})
