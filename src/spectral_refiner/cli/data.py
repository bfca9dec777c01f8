"""The data commands: ``presets``, ``generate`` and ``info``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..arguments import integer
from ..atomic import check_writable
from ..data import (
    PRESETS,
    apply_overrides,
    describe,
    format_description,
    generate,
    get_preset,
    read_info,
)
from ..errors import SpectralRefinerError
from ..evaluation import plot_dataset
from .options import (
    add_data,
    add_device,
    add_out,
    add_overwrite,
    add_quiet,
    add_set,
    add_show,
    add_threads,
    one_of,
)
from .output import interrupted

__all__ = ["add_data_commands"]


def _cmd_presets(args: argparse.Namespace) -> int:
    name = one_of(args, "show", "name", "NAME")
    if name:
        preset = get_preset(name)
        for key, value in preset.fields().items():
            print(f"{key:20s} {value}")
        return 0
    width = max(len(name) for name in PRESETS)
    for name, preset in PRESETS.items():
        print(f"{name:{width}s}  {preset.description}")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    preset = get_preset(args.preset)
    overrides = list(args.set or [])
    if args.n_trajectories is not None:
        overrides.append(f"n_trajectories={args.n_trajectories}")
    if args.batch_size is not None:
        overrides.append(f"batch_size={args.batch_size}")
    preset = apply_overrides(preset, overrides)
    out = Path(args.out)
    try:
        generate(
            preset,
            out,
            seed=args.seed,
            dtype=args.dtype,
            device=args.device,
            overwrite=args.overwrite,
            progress=not args.quiet,
        )
    except KeyboardInterrupt:
        return interrupted(
            f"finished trajectories are kept in {out}.parts; rerun the same command to resume"
        )
    info = read_info(out)
    print(f"wrote {out}: vorticity {info.shape} float32, t = {info.times[0]:g}..{info.times[-1]:g}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    file = one_of(args, "data", "file", "FILE.h5")
    if file is None:
        raise SpectralRefinerError("give the file to describe: info FILE.h5 (or --data FILE.h5)")
    text = format_description(describe(file))  # raises before anything is printed
    figure = None
    if args.plot:
        png = check_writable(args.out or Path(file).with_suffix(".png"), reads=(file,))
        figure = plot_dataset(file, png)
    print(text)
    if figure is not None:
        print(f"wrote {figure}")
    return 0


def add_data_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``presets``, ``generate`` and ``info`` to the subcommands ``sub``."""
    p = sub.add_parser("presets", help="list the dataset presets, or show one's fields")
    add_show(p, "preset's fields")
    p.set_defaults(func=_cmd_presets)

    p = sub.add_parser("generate", help="simulate a dataset into an HDF5 file (resumable)")
    p.add_argument("--preset", required=True, help="preset name (see `presets`)")
    add_out(p, "FILE.h5", "output dataset file", required=True)
    p.add_argument("--n-trajectories", type=integer(1), help="number of trajectories")
    p.add_argument("--seed", type=integer(0), default=0, help="dataset seed (default 0)")
    p.add_argument(
        "--dtype",
        default="float32",
        choices=["float32", "float64"],
        help="simulation precision (files store float32)",
    )
    add_device(p)
    add_threads(p)
    p.add_argument("--batch-size", type=integer(1), help="trajectories simulated at once")
    add_set(p, "preset", "viscosity=1e-4")
    add_overwrite(p, "an existing file or partial run made with other parameters")
    add_quiet(p)
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser("info", help="print a dataset's metadata and statistics, or what is wrong")
    p.add_argument("file", nargs="?", metavar="FILE.h5", help="a dataset or prediction file")
    add_data(p, "a dataset or prediction file (as the positional FILE.h5)")
    p.add_argument(
        "--plot",
        action="store_true",
        help="also draw snapshots, the spectrum and energy/enstrophy over time to a PNG",
    )
    add_out(p, "PNG", "the figure's file (default FILE.png)")
    add_threads(p)
    p.set_defaults(func=_cmd_info)
