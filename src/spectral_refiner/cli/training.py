"""The training commands: ``configs``, ``train`` and ``train-closure``."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..arguments import integer
from ..config import apply_config_overrides, load_config, shipped_configs
from ..data import check_dataset, get_preset, rank_and_world
from ..errors import SpectralRefinerError
from ..hybrid import CLOSURE_INPUTS, TYINGS
from ..metrics import WINDOW_METRICS
from ..training import CLOSURE_MODELS, FREEZE, RunDir, train, train_closure
from .options import (
    add_data,
    add_out,
    add_overwrite,
    add_quiet,
    add_set,
    add_show,
    add_threads,
    one_of,
)
from .output import LABELS, interrupted

__all__ = ["add_training_commands"]


def _cmd_configs(args: argparse.Namespace) -> int:
    configs = shipped_configs()
    name = one_of(args, "show", "name", "NAME")
    if name:
        if name not in configs:
            raise SpectralRefinerError(
                f"no shipped config {name!r}: choose one of {', '.join(sorted(configs))}"
            )
        print(configs[name].read_text(), end="")
        return 0
    width = max(len(name) for name in configs)
    for name in sorted(configs):
        first = configs[name].read_text().splitlines()[0].lstrip("# ")
        print(f"{name:{width}s}  {first}")
    return 0


def _train_config(args: argparse.Namespace):
    """The config of ``train``: a new run's from --config/--set/--data/--online, or the
    resumed run's own."""
    if args.resume:
        given = [
            flag
            for flag, value in (
                ("--config", args.config),
                ("--set", args.set),
                ("--online", args.online),
                ("--out", args.out),
                ("--init-from", args.init_from),
                ("--freeze", args.freeze),
                ("--trunk-lr", args.trunk_lr is not None),
            )
            if value
        ]
        if given:
            raise SpectralRefinerError(
                f"--resume continues a run exactly as it was configured, so {given[0]} does not "
                "apply: start a new run with --out to change its settings"
            )
        config = load_config(RunDir.existing(args.resume).config)
        if args.data:  # the same data, moved: the trainer checks its fingerprint
            config.data = dataclasses.replace(config.data, file=str(Path(args.data).resolve()))
        return config, args.resume
    if not args.config:
        raise SpectralRefinerError(
            "give --config CONFIG.yaml (or a shipped config: see `spectral-refiner configs`), "
            "or --resume RUN_DIR"
        )
    if args.data and args.online:
        raise SpectralRefinerError("give --data FILE.h5 or --online PRESET, not both")
    config = apply_config_overrides(load_config(args.config), args.set or [])
    if args.data:
        config.data = dataclasses.replace(
            config.data, file=str(Path(args.data).resolve()), online=None
        )
    elif args.online:
        config.data = dataclasses.replace(config.data, file=None, online=args.online)
    elif config.data.file:
        config.data = dataclasses.replace(config.data, file=str(Path(config.data.file).resolve()))
    files = [str(Path(f).resolve()) for f in config.data.files]  # a mixture's, for --resume
    config.data = dataclasses.replace(config.data, files=files)
    if args.init_from:  # a pretrained run or checkpoint (training/init_from.py)
        config.init_from = str(Path(args.init_from).resolve())
    if args.freeze:
        config.freeze = args.freeze
    if args.trunk_lr is not None:
        config.trunk_lr = args.trunk_lr
    out = args.out or str(Path("runs") / Path(args.config).stem)
    return config.validate(), out


def _print_summary(summary: dict, out: str) -> None:
    print(f"{'':12s}" + "".join(f"{LABELS[k]:>12s}" for k in WINDOW_METRICS))
    for split in ("val", "test"):
        row = summary[split]
        label = "validation" if split == "val" else "test"
        print(
            f"{label:12s}"
            + "".join(f"{row[k]:12.4g}" for k in WINDOW_METRICS)
            + f"   ({row['windows']} windows)"
        )
    print(
        f"{summary['model']} ({summary['parameters']} parameters): best epoch "
        f"{summary['best_epoch']} of {summary['epochs']}, {summary['train_samples_per_s']:.1f} "
        f"training samples/s; run in {out}"
    )


def _check_training_input(config) -> None:
    """The training data is usable and fine enough for the model's Fourier modes."""
    d = config.data
    n = d.resolution
    if d.file is not None:
        info = check_dataset(d.file)
        n = n or info.resolution
    elif d.online is not None:
        n = n or get_preset(d.online).resolution
    modes = config.model.get("modes")
    if n and isinstance(modes, int) and 2 * modes + 1 > n:
        raise SpectralRefinerError(
            f"a {n}² grid carries Fourier modes up to {(n - 1) // 2}, but model.modes is "
            f"{modes}: lower model.modes or raise data.resolution to {2 * modes + 2} or more"
        )


def _cmd_train(args: argparse.Namespace) -> int:
    config, out = _train_config(args)
    _check_training_input(config)
    try:
        summary = train(
            config,
            out,
            resume=bool(args.resume),
            overwrite=args.overwrite,
            progress=not args.quiet,
        )
    except KeyboardInterrupt:
        return interrupted(
            f"the run is saved in {out}; continue it with `spectral-refiner train --resume {out}`"
        )
    if rank_and_world()[0] == 0:
        _print_summary(summary, out)
    return 0


def _cmd_train_closure(args: argparse.Namespace) -> int:
    result = train_closure(
        args.data,
        args.out,
        held_out=args.held_out,
        model=args.model,
        inputs=args.inputs,
        tying=args.tying,
        lags=tuple(args.lags),
        memory=args.memory,
        substeps=args.substeps,
        frame_stride=args.frame_stride,
        steps=args.steps,
        progress=not args.quiet,
    )
    print(
        f"wrote {result['out']}: held-out correlation with the exact τ "
        f"{result['correlation']:.3f}, relative L2 error {result['relative_error']:.3f} "
        f"(training frames {result['train_correlation']:.3f})"
    )
    return 0


def add_training_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``configs``, ``train`` and ``train-closure`` to the subcommands ``sub``."""
    p = sub.add_parser("configs", help="list the shipped training configs, or print one")
    add_show(p, "config's YAML")
    p.set_defaults(func=_cmd_configs)

    p = sub.add_parser(
        "train",
        help="train a neural operator (offline from a file or online from the solver)",
        description="Train a neural operator into a run directory; interrupt with Ctrl-C and "
        "continue with --resume. Under torchrun, trains data-parallel.",
    )
    p.add_argument("--config", help="YAML config, or a shipped config's name (see `configs`)")
    add_set(p, "config", "optim.lr=3e-4 --set model.width=32")
    source = p.add_mutually_exclusive_group()
    add_data(source, "train on this dataset file")
    source.add_argument(
        "--online", metavar="PRESET", help="train on trajectories the solver makes as it goes"
    )
    add_out(p, "RUN_DIR", "run directory (default runs/CONFIG_NAME)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    p.add_argument(
        "--init-from",
        metavar="RUN_OR_CHECKPOINT",
        help="start from a pretrained model of the same family (layers whose channels differ "
        "are re-initialised, with a message)",
    )
    p.add_argument(
        "--freeze",
        choices=FREEZE,
        help="with --init-from: train only the input/output layers (trunk) or everything "
        "(none, the default)",
    )
    p.add_argument(
        "--trunk-lr",
        type=float,
        metavar="F",
        help="with --init-from: train the pretrained trunk at F times the learning rate of the "
        "re-initialised layers (0 freezes it, 1 is plain fine-tuning, the default)",
    )
    add_overwrite(p, "the contents of an existing --out")
    add_threads(p)
    add_quiet(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "train-closure",
        help="train a learned a-priori subgrid closure on a DNS file that stores subgrid/tau",
        description="Fit a closure model to the exact subgrid term of a DNS file and write "
        "it atomically; the shell model is fitted in closed form in one pass, the cnn by Adam "
        "(--steps, early-stopped on the held-out correlation). Validate on --held-out "
        "trajectories (another seed of the same preset) or on a quarter of the file's. "
        "Per DNS preset (kolmogorov-dns256, kolmogorov-dns512, mcwilliams-dns256): "
        "`generate --preset P --out train.h5`, `generate --preset P --seed 1 --out test.h5`, "
        "`train-closure --data train.h5 --held-out test.h5 --out P.closure.pt`.",
    )
    add_data(p, "DNS file storing the exact subgrid term (a *-dns* preset)", required=True)
    p.add_argument(
        "--held-out",
        metavar="FILE",
        help="validate on every trajectory of this DNS file (same preset, another --seed)",
    )
    add_out(p, "CLOSURE.pt", "the closure file to write", required=True)
    p.add_argument(
        "--model",
        choices=CLOSURE_MODELS,
        default="shell",
        help="shell: gains on the resolved transfer terms' coefficients, least squares "
        "(default); cnn: a periodic CNN trained by Adam",
    )
    p.add_argument(
        "--tying",
        choices=TYINGS,
        default="shell",
        help="shell: one gain per shell (default), per mode and its rotations/reflections "
        "(dihedral: more parameters, for large files), or per mode and its reflections",
    )
    p.add_argument(
        "--inputs",
        choices=tuple(CLOSURE_INPUTS),
        help="the model's input channels (default transfer for shell, vorticity for cnn)",
    )
    p.add_argument(
        "--lags",
        type=integer(1),
        nargs="+",
        default=(),
        metavar="K",
        help="shell: also map the resolved transfer of the frames K earlier (a window-aware "
        "closure: it closes the residual of windows longer than its lags), e.g. 1 2 4 8",
    )
    for flag, least, default, metavar, text in (
        (
            "--memory",
            0,
            0,
            "H",
            "shell: also map the back-transfer of the unresolved ring integrated over the "
            "window's last H frames (default 0: none)",
        ),
        (
            "--substeps",
            1,
            4,
            "S",
            "with --memory: steps of the ring per frame interval (default 4; its cost grows "
            "in proportion)",
        ),
        (
            "--frame-stride",
            1,
            1,
            "S",
            "fit on every S-th stored frame (default 1): a window closure for a model "
            "trained with data.frame_stride S",
        ),
    ):
        p.add_argument(flag, type=integer(least), default=default, metavar=metavar, help=text)
    p.add_argument("--steps", type=integer(1), default=2000, help="cnn: Adam steps (default 2000)")
    add_threads(p)
    add_quiet(p)
    p.set_defaults(func=_cmd_train_closure)
