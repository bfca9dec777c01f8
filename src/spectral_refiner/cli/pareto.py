"""The ``compare-rollouts`` command: correlation time against cost over long rollouts, several
runs (with and without refinement) and the solver at several grids, on one held-out file."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..arguments import even_resolution, integer
from ..atomic import check_folder
from ..evaluation import compare_rollouts, format_rollout_table, write_rollout_pareto
from .evaluation import _add_comparison_options, _check_run_and_data
from .options import add_data, add_out, add_run, selection

__all__ = ["add_pareto_command"]


def _cmd_compare_rollouts(args: argparse.Namespace) -> int:
    for run in args.run:
        _check_run_and_data(argparse.Namespace(run=run, data=args.data))
    check_folder(args.out)
    results = compare_rollouts(
        args.run,
        args.data,
        resolutions=args.resolutions,
        frames=args.rollout,
        limit=args.limit,
        steps=args.steps,
        repeats=args.repeats,
        refine=not args.no_refine,
        device=args.device,
        **selection(args),
        progress=not args.quiet,
    )
    print(format_rollout_table(results))
    for path in write_rollout_pareto(results, Path(args.out)):
        print(f"wrote {path}")
    return 0


def add_pareto_command(sub: argparse._SubParsersAction) -> None:
    """Add ``compare-rollouts`` to the subcommands."""
    p = sub.add_parser(
        "compare-rollouts",
        help="correlation time against cost: several runs (± refinement) and the solver",
        description="From one anchor frame of held-out trajectories, every run's chained "
        "rollout (and its refined rollout, for SFNO runs) and the solver at several grids: "
        "the lead times the correlation stays above 0.95 and 0.8, the wall time per unit "
        "simulated time, the Pareto fronts and who wins; a table, a plot and the numbers in "
        "--out, the numbers also in RUN_DIR/evaluation/pareto-*.json of every run.",
    )
    add_run(p, repeatable=True)
    add_data(p, "held-out reference trajectories", required=True)
    add_out(p, "FOLDER", "folder for pareto.md, pareto.png and results.json", required=True)
    p.add_argument(
        "--resolutions",
        type=even_resolution,
        nargs="+",
        help="solver grids (default: half, equal to and twice the runs' one)",
    )
    p.add_argument(
        "--rollout",
        type=integer(1),
        metavar="FRAMES",
        help="horizon in window frames (default: every frame after the anchor)",
    )
    p.add_argument(
        "--steps", type=integer(1), default=100, help="refinement evaluations per window"
    )
    p.add_argument("--no-refine", action="store_true", help="skip the refined rollouts")
    _add_comparison_options(p)
    p.set_defaults(func=_cmd_compare_rollouts)
