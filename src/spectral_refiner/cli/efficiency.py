"""The ``efficiency`` command: from-scratch against fine-tuned test errors over training-set
sizes, with the efficiency and accuracy gains (:mod:`spectral_refiner.evaluation.efficiency`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..arguments import integer
from ..config import apply_config_overrides, load_config
from ..data import check_dataset
from ..evaluation import SIZES, efficiency
from ..training import RunDir
from .options import add_data, add_out, add_quiet, add_set, add_threads

__all__ = ["add_efficiency_command"]


def _cmd_efficiency(args: argparse.Namespace) -> int:
    check_dataset(args.data)
    pretrained = Path(args.pretrained)
    if pretrained.is_dir():
        RunDir.existing(pretrained)  # one line if it is not a run directory
    config = apply_config_overrides(load_config(args.config), args.set or [])
    result = efficiency(
        config,
        str(Path(args.data).resolve()),
        str(pretrained.resolve()),
        args.out,
        sizes=args.sizes,
        reference=args.reference,
        progress=not args.quiet,
        trunk_lr=args.trunk_lr,
    )
    print("test error: median relative L1 over the held-out windows (Poseidon's)")
    print(f"{'N':>4s} {'scratch':>10s} {'pretrained':>11s}")
    for n in result["sizes"]:
        row = result["errors"][str(n)]
        print(f"{n:4d} {row['scratch']:10.4g} {row['pretrained']:11.4g}")
    if "gains" in result:
        g = result["gains"]
        measured = "none" if g["EG_measured"] is None else f"{g['EG_measured']:.3g}"
        print(
            f"at N = {g['reference']}: EG {g['EG']:.3g} (fit; measured {measured}), "
            f"AG {g['AG']:.3g}"
        )
    print(f"wrote {Path(args.out) / 'efficiency.json'}")
    return 0


def add_efficiency_command(sub: argparse._SubParsersAction) -> None:
    """Add ``efficiency`` to the subcommands ``sub``."""
    p = sub.add_parser(
        "efficiency",
        help="train from scratch and fine-tune a pretrained run on N trajectories of a file, "
        "for several N: test errors, efficiency gain EG and accuracy gain AG",
        description="A long job: every run is kept under --out; rerun the same command to "
        "resume it.",
    )
    p.add_argument("--config", required=True, help="training config of both sides")
    add_set(p, "config", "optim.epochs=20")
    add_data(p, "the downstream dataset (its trajectories are split as for train)", required=True)
    p.add_argument(
        "--pretrained", required=True, metavar="RUN_OR_CHECKPOINT", help="the pretrained model"
    )
    add_out(p, "DIR", "folder of the runs and efficiency.json", required=True)
    p.add_argument(
        "--sizes",
        type=integer(1),
        nargs="+",
        default=list(SIZES),
        metavar="N",
        help=f"training trajectories (default {' '.join(map(str, SIZES))})",
    )
    p.add_argument(
        "--reference",
        type=integer(1),
        help="the size N of EG and AG (default 8, or the largest size)",
    )
    p.add_argument(
        "--trunk-lr",
        type=float,
        default=1.0,
        metavar="F",
        help="fine-tune the pretrained trunk at F times the learning rate of the re-initialised "
        "layers (0 freezes it; default 1)",
    )
    add_threads(p)
    add_quiet(p)
    p.set_defaults(func=_cmd_efficiency)
