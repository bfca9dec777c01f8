"""The parser of the ``spectral-refiner`` command and its entry point.

Errors a user can cause print one line and exit with status 2, having written nothing
(arguments are checked where they are parsed, see :mod:`spectral_refiner.arguments`, and
every data file a command reads by :func:`~spectral_refiner.data.check_dataset`); an
interrupted command says how to resume in one line and exits with status 130.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..arguments import OneLineParser, exit_status
from ..errors import SpectralRefinerError
from ..threads import pin_threads
from .data import add_data_commands
from .demo import add_demo_command
from .efficiency import add_efficiency_command
from .evaluation import add_evaluation_commands
from .options import add_threads
from .output import interrupted
from .pareto import add_pareto_command
from .prediction import add_prediction_commands
from .training import add_training_commands

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``spectral-refiner`` command."""
    parser = OneLineParser(
        prog="spectral-refiner",
        description="Simulate 2-D turbulence, build datasets, train and refine neural operators.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_threads(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True)
    add_data_commands(sub)
    add_training_commands(sub)
    add_prediction_commands(sub)
    add_evaluation_commands(sub)
    add_pareto_command(sub)
    add_efficiency_command(sub)
    add_demo_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 done, 2 a user error, 130 interrupted)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad argument (one line printed)
        return exit_status(exc)
    try:
        pin_threads(args.threads)  # worker processes (torchrun's) inherit it
        return args.func(args)
    except SpectralRefinerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # commands that keep nothing partial: rerunning redoes them
        return interrupted(f"{args.command} stopped; rerun the same command to do it again")
    except BrokenPipeError:  # output piped into e.g. `head`
        sys.stderr.close()
        return 0
    except OSError as exc:  # the file system refused what the user asked for (a last guard)
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}: check the paths given", file=sys.stderr)
        return 2
