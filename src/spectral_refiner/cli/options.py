"""The options every command shares, each defined once.

``--run``, ``--data``, ``--out``, ``--device``, ``--threads``, ``--quiet``, ``--overwrite``,
``--set`` and ``--show`` mean the same in every command that takes them; a command adds one
with the builder below, passing only what differs (whether it is required, the metavar and
the help's subject).
"""

from __future__ import annotations

import argparse

from ..arguments import closure_spec, device, integer
from ..errors import SpectralRefinerError
from ..evaluation import SPLITS, Selection
from ..threads import ENV_VAR

_count = integer(1)  # one parser object, so --threads is the same option everywhere

__all__ = [
    "add_closure",
    "add_data",
    "add_device",
    "add_out",
    "add_overwrite",
    "add_quiet",
    "add_run",
    "add_selection",
    "add_set",
    "add_show",
    "add_threads",
    "one_of",
    "selection",
]


def add_run(p: argparse.ArgumentParser, *, repeatable: bool = False) -> None:
    """``--run RUN_DIR``: a training run directory (``repeatable``: one or more)."""
    if repeatable:
        p.add_argument(
            "--run",
            action="append",
            default=[],
            metavar="RUN_DIR",
            help="a training run directory (repeatable)",
        )
    else:
        p.add_argument("--run", required=True, metavar="RUN_DIR", help="a training run directory")


def add_data(
    p: argparse.ArgumentParser | argparse._MutuallyExclusiveGroup,
    help: str,
    *,
    required: bool = False,
) -> None:
    """``--data FILE.h5``: the dataset file a command reads."""
    p.add_argument("--data", required=required, metavar="FILE.h5", help=help)


def add_out(
    p: argparse.ArgumentParser, metavar: str, help: str, *, required: bool = False, **kwargs
) -> None:
    """``--out``: where a command writes (a file or folder, named by ``metavar``)."""
    p.add_argument("--out", required=required, metavar=metavar, help=help, **kwargs)


def add_device(p: argparse.ArgumentParser) -> None:
    """``--device``: the torch device a command computes on."""
    p.add_argument(
        "--device",
        type=device,
        default="cpu",
        help="torch device, e.g. cpu or cuda:0 (default cpu)",
    )


def add_threads(p: argparse.ArgumentParser, *, top: bool = False) -> None:
    """``--threads N``: intra-op threads, before or after the command's name.

    On a subcommand its default is suppressed, so it never overrides the value given before the
    command's name (``spectral-refiner --threads 2 train ...``)."""
    p.add_argument(
        "--threads",
        type=_count,
        metavar="N",
        default=None if top else argparse.SUPPRESS,
        help=f"intra-op threads (default: 1 for small fields, else the free cores; or ${ENV_VAR})",
    )


def add_quiet(p: argparse.ArgumentParser) -> None:
    """``--quiet``: no progress bars."""
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def add_overwrite(p: argparse.ArgumentParser, what: str) -> None:
    """``--overwrite``: replace what ``--out`` names (``what`` says what that is)."""
    p.add_argument("--overwrite", action="store_true", help=f"replace {what}")


def add_set(p: argparse.ArgumentParser, what: str, example: str) -> None:
    """``--set KEY=VALUE`` (repeatable): override a field of a preset or config."""
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help=f"override a {what} field (repeatable), e.g. --set {example}",
    )


def add_show(p: argparse.ArgumentParser, what: str) -> None:
    """``NAME`` or ``--show NAME``: show one item of a listing instead of the list."""
    p.add_argument("name", nargs="?", metavar="NAME", help=f"print this {what} (as --show)")
    p.add_argument("--show", metavar="NAME", help=f"print this {what}")


def one_of(args: argparse.Namespace, flag: str, positional: str, label: str) -> str | None:
    """The value given by ``--flag`` or by the positional form ``label`` (not two different
    ones)."""
    a, b = getattr(args, flag), getattr(args, positional)
    if a is not None and b is not None and a != b:
        raise SpectralRefinerError(f"give {label} or --{flag}, not both")
    return a if a is not None else b


def add_selection(p: argparse.ArgumentParser) -> None:
    """Which trajectories of the file a run meets, and what it may meet (run vs file)."""
    p.add_argument(
        "--split",
        choices=SPLITS,
        help="use exactly the run's held-out test (or validation) trajectories of its own "
        "training file",
    )
    p.add_argument(
        "--allow-training-data",
        action="store_true",
        help="use trajectories the run trained or validated on (warns; the numbers are no test)",
    )
    p.add_argument(
        "--physics-from-file",
        action="store_true",
        help="use the file's viscosity, drag and forcing where they differ from the run's",
    )


def add_closure(p: argparse.ArgumentParser) -> None:
    """``--closure SPEC``: the use-time closure of the residual, estimate and refiner."""
    p.add_argument(
        "--closure",
        type=closure_spec,
        metavar="SPEC",
        help="subgrid closure of the residual, estimate and refiner (default: the run's): "
        "none, smagorinsky[:C], leith[:C], dynamic[:RATIO], learned:CLOSURE.pt",
    )


def selection(args: argparse.Namespace) -> dict:
    """The ``select`` argument of :func:`add_selection`'s flags (and :func:`add_closure`'s)."""
    return {
        "select": Selection(
            args.split,
            args.allow_training_data,
            args.physics_from_file,
            getattr(args, "closure", None),
        )
    }
