"""A training run assembled from its config: the parts the :class:`~.trainer.Trainer` receives.

:func:`train` builds the data source (:func:`~.sources.build_source`), the run's
:class:`~spectral_refiner.problem.Problem` (the data's, with the window and the α of
``loss.alpha``: the one α of the loss, the validation η and every later evaluation), the
model, the :class:`~.losses.Objective` on the Problem's residual, the optimiser and schedule
(:func:`~.optim.build_optimisation`) and the restored state of a resumed run, in the order
that keeps a resumed run bit-identical to an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

import torch

from ..data import barrier, init_from_env, local_device, parse_dtype, rank_and_world
from ..errors import SpectralRefinerError
from ..models import NeuralOperator, build_model
from .all2all import All2AllPairs, lead_time_kwargs
from .checkpoint import load_checkpoint, restore_rng
from .hybrid import HYBRID, hybrid_kwargs
from .init_from import freeze_trunk, init_from, parameter_groups
from .losses import Objective
from .mixture import MixtureWindows
from .optim import Optimisation, build_optimisation
from .own_loss import check_own_loss
from .run import RunDir
from .settings import TrainConfig
from .sources import build_source
from .trainer import Progress, Trainer

__all__ = ["train"]


def train(
    config: TrainConfig,
    out: str,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train as ``config`` says into the run directory ``out`` (or continue the run there).

    The run directory is created (or, with ``overwrite``, emptied) only once the data, the
    config and the model have all been checked, so a run that cannot start leaves nothing
    behind. Returns the summary (also written to ``out/summary.json``): validation and test
    errors of the best checkpoint, epochs, steps and throughput.
    """
    config = config.validate()
    device = local_device(config.device)
    init_from_env(device)
    reads = ((config.data.file,) if config.data.file else tuple(config.data.files)) + (
        (config.init_from,) if config.init_from else ()
    )
    run = RunDir.existing(out) if resume else RunDir.check_new(out, overwrite, reads)
    if resume and rank_and_world()[0] == 0:
        run.repair()  # a kill between checkpoint writes: make them agree before loading
    barrier()
    rank, world = rank_and_world()
    dtype = parse_dtype(config.dtype)
    d = config.data
    if d.batch_size % world:
        raise SpectralRefinerError(
            f"data.batch_size ({d.batch_size}) is the global batch and must be divisible by "
            f"the {world} processes"
        )
    state = Progress()
    checkpoint = load_checkpoint(run.latest) if resume and run.latest.is_file() else None
    if checkpoint is not None:
        state = Progress(**checkpoint["progress"])
        state.segment += 1
    if d.sampling == "all2all":
        source = All2AllPairs(config, run, resume, rank, world, pin=device.type == "cuda")
    elif d.files:
        source = MixtureWindows(config, run, resume, rank, world, pin=device.type == "cuda")
    else:
        source = build_source(
            config, run, resume=resume, segment=state.segment, rank=rank, world=world, device=device
        )
    problem = source.problem.with_window(d.t_in, d.t_out, d.frame_stride, config.loss.alpha)
    loss = config.loss
    objective = Objective(
        problem.residual(device=device, dtype=dtype),
        data=loss.data,
        data_weight=loss.data_weight,
        physics_weight=loss.physics_weight,
    )
    if loss.physics_weight and d.t_in < 3:
        raise SpectralRefinerError(
            "the physics loss needs data.t_in >= 3 (the residual's time scale comes from "
            "the input frames): raise data.t_in or set loss.physics_weight=0"
        )
    torch.manual_seed(config.seed)
    kwargs = config.model_kwargs()
    if config.model["name"] == HYBRID:  # the coarse equation is the data's
        flow = getattr(source, "flow", None)
        recipe, name = getattr(flow, "preset", None), str(getattr(flow, "source", ""))
        train = flow.frames[source.split["train"]] if flow is not None else None
        kwargs = hybrid_kwargs(kwargs, problem, recipe, name, train)
    if d.sampling == "all2all":
        kwargs = lead_time_kwargs(config.model["name"], kwargs, source.max_lead_time)
    if d.files:  # the parameter channels follow the frames
        kwargs["t_in"] += len(d.parameters)
    model = build_model(config.model["name"], **kwargs)
    check_own_loss(model, loss.physics_weight)
    if d.curriculum and not hasattr(model, "unroll"):
        raise SpectralRefinerError(
            f"data.curriculum needs a model that rolls out frames (hybrid), not "
            f"{config.model['name']!r}: remove data.curriculum"
        )
    model.to(device=device, dtype=dtype)
    if model.data_normalization:  # scalar statistics of the training data
        model.set_normalization(*source.normalization())
    if config.init_from and checkpoint is None:  # a resumed run has its own weights
        init_from(model, config.init_from, say=print if rank == 0 else lambda _: None)
    if config.freeze == "trunk":
        freeze_trunk(model)
    _check_forward(model, problem.resolution, device, dtype)
    optim = build_optimisation(
        parameter_groups(model, config.trunk_lr, config.optim.lr),
        config.optim,
        source.steps_per_epoch,
        device,
        verbose=rank == 0,
    )
    if checkpoint is not None:
        _restore(checkpoint, model, optim, run)
    elif rank == 0:  # everything checked: only now is the run directory written
        if not resume:
            run.create(overwrite)
        run.write_config(config)
        run.write_json(run.split, source.record())
    barrier()
    trainer = Trainer(
        model, source, objective, optim, run, config, problem, state=state, show=progress
    )
    return trainer.fit()


def _check_forward(model: NeuralOperator, n: int, device: torch.device, dtype: torch.dtype) -> None:
    """One forward pass on a zero window of the data's shape before anything is written, so
    that a model that cannot take the data (a grid its patches do not divide, ...) stops the
    run with its one-line error and no run directory; the random state is left as it was."""
    state = torch.get_rng_state()
    with torch.no_grad():
        model(torch.zeros(1, model.t_in, n, n, device=device, dtype=dtype))
    torch.set_rng_state(state)


def _restore(
    checkpoint: dict[str, Any], model: NeuralOperator, optim: Optimisation, run: RunDir
) -> None:
    """Weights, optimiser, schedule, scaler and RNG states of a resumed run."""
    payload = checkpoint["model"]
    if payload.get("name") != model.name or payload.get("config") != model.config:
        raise SpectralRefinerError(
            f"{run.latest} holds a {payload.get('name')!r} model with other arguments "
            f"than the run's config ({model.name!r}): the checkpoint is from another "
            "run; start a new run with --out"
        )
    model.load_state_dict(payload["state_dict"])
    optim.load_state_dict(checkpoint)
    restore_rng(checkpoint["rng"])
