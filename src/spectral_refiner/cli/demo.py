"""The ``demo`` command: the whole pipeline on built-in defaults."""

from __future__ import annotations

import argparse

from ..atomic import check_folder
from .options import add_out, add_quiet, add_threads
from .output import interrupted

__all__ = ["add_demo_command"]


def _cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    check_folder(args.out)
    try:
        result = run_demo(args.out, progress=not args.quiet)
    except KeyboardInterrupt:
        return interrupted(
            f"the demo keeps its finished steps in {args.out}; rerun the same command to continue"
        )
    evaluation, comparison = result["evaluation"], result["comparison"]
    pred, ref = evaluation["prediction"], evaluation["refined"]
    print("\n== spectral-refiner demo ==")
    print(f"{'':28s}{'unrefined':>12s}{'refined':>12s}")
    for label, key in (
        ("rel L2 (rollout mean)", "mean_rel_l2"),
        ("rel H1", "mean_rel_h1"),
        ("η (error estimate)", "mean_eta"),
        ("correlation", "mean_correlation"),
    ):
        print(f"{label:28s}{pred[key]:12.4g}{ref[key]:12.4g}")
    n = evaluation["resolution"]
    solver = next(p for p in comparison["points"] if p["method"] == f"solver {n}²")
    for p in comparison["points"]:
        if not p["method"].startswith("solver"):
            print(
                f"{p['method']:28s}{p['seconds']:.3g} s/trajectory, error {p['rel_l2']:.3g}: "
                f"{solver['seconds'] / p['seconds']:.2g}x the solver's speed at {n}² "
                f"({solver['seconds']:.3g} s, error {solver['rel_l2']:.3g})"
            )
    for line in comparison["verdict"]:
        print(f"- {line}")
    print(f"report: {result['report']}")
    return 0


def add_demo_command(sub: argparse._SubParsersAction) -> None:
    """Add ``demo`` to the subcommands ``sub``."""
    p = sub.add_parser("demo", help="the whole pipeline on built-in defaults (a few minutes)")
    add_out(p, "DIR", "folder for everything (default demo-out)", default="demo-out")
    add_threads(p)
    add_quiet(p)
    p.set_defaults(func=_cmd_demo)
