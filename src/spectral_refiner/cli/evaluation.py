"""The evaluation commands: ``evaluate``, ``compare-solver``, ``compare-hybrid``, ``report`` and
``runs``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..arguments import even_resolution, integer
from ..atomic import check_folder
from ..data import check_dataset
from ..errors import SpectralRefinerError
from ..evaluation import (
    CLOSURE_NAMES,
    compare_hybrid,
    compare_solver,
    evaluate_run,
    format_hybrid_comparison,
    format_runs,
    list_runs,
    write_report,
)
from ..metrics import ERRORS
from ..training import RunDir
from .options import (
    add_closure,
    add_data,
    add_device,
    add_out,
    add_quiet,
    add_run,
    add_selection,
    add_threads,
    selection,
)
from .output import LABELS

__all__ = ["add_evaluation_commands"]


def _fmt(value) -> str:
    return "never" if value is None else f"{value:.4g}"


def _wrote(results: dict) -> str:
    return f"wrote {Path(results['run']) / 'evaluation' / (results['key'] + '.json')}"


def _print_evaluation(results: dict) -> None:
    sides = [s for s in ("prediction", "refined") if s in results]
    print(
        f"{results['model']} on {results['instances']} trajectories, {results['frames']} "
        f"frames at {results['resolution']}^2 (t = {results['times'][0]:g} .. "
        f"{results['times'][-1]:g})"
    )
    keys = [(LABELS[k], f"mean_{k}") for k in (*ERRORS, "correlation", "eta")] + [
        ("corr < 0.95 at t", "time_below_0.95"),
        ("corr < 0.8 at t", "time_below_0.8"),
    ]
    print(f"{'mean over frames':20s}" + "".join(f"{s:>14s}" for s in sides))
    for label, key in keys:
        print(f"{label:20s}" + "".join(f"{_fmt(results[s][key]):>14s}" for s in sides))
    frames = results["prediction"]["per_frame_rel_l2"]
    print("rel L2 per frame    " + " ".join(f"{v:.3g}" for v in frames))
    if "refined" in results:
        print(
            "  refined           "
            + " ".join(f"{v:.3g}" for v in results["refined"]["per_frame_rel_l2"])
        )
    if "uncertainty" in results:
        u = results["uncertainty"]
        print(
            f"{u['samples']} samples: Spearman(spread, error) {u['spearman_spread_error']:.3g} "
            f"({u['spearman_spread_error_correlated']:.3g} over the {u['correlated_frames']} "
            "frames with correlation >= 0.2), "
            f"Spearman(η, error) {u['spearman_eta_error']:.3g}; median decorrelation time "
            f"(corr < {u['threshold']:g}) estimated {_fmt(u['median_estimated_time'])}, "
            f"true {_fmt(u['median_true_time'])}"
        )
    if "persistence" in results:
        print(
            f"persistence (last input frame held): mean rel L2 "
            f"{results['persistence']['mean_rel_l2']:.4g}"
        )
    print(_wrote(results))


def _check_run_and_data(args: argparse.Namespace) -> None:
    """The run exists, its results folder can be written, and its data file is usable."""
    run = RunDir.existing(args.run)
    check_folder(run.path / "evaluation")
    check_dataset(args.data)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    _check_run_and_data(args)
    results = evaluate_run(
        args.run,
        args.data,
        refine=args.refine,
        frames=args.rollout,
        steps=args.steps,
        limit=args.limit,
        device=args.device,
        **selection(args),
        samples=args.samples,
        ensemble=args.ensemble,
        progress=not args.quiet,
    )
    _print_evaluation(results)
    return 0


def _print_comparison(results: dict) -> None:
    print(
        f"{results['instances']} trajectories, horizon {results['horizon']:g} "
        f"({results['frames']} frames), {results['device']}, {results['threads']} threads"
    )
    print(f"{'method':32s}{'s / trajectory':>16s}{'median rel L2':>16s}")
    for p in results["points"]:
        print(f"{p['method']:32s}{p['seconds']:16.4g}{p['rel_l2']:16.4g}")
    for line in results["verdict"]:
        print(f"- {line}")
    print(_wrote(results))


def _cmd_compare(args: argparse.Namespace) -> int:
    _check_run_and_data(args)
    results = compare_solver(
        args.run,
        args.data,
        resolutions=args.resolutions,
        limit=args.limit,
        steps=args.steps,
        repeats=args.repeats,
        device=args.device,
        **selection(args),
        progress=not args.quiet,
    )
    _print_comparison(results)
    return 0


def _print_hybrid_comparison(results: dict) -> None:
    print(format_hybrid_comparison(results))
    for line in results["verdict"]:
        print(f"- {line}")
    print(_wrote({"run": results["runs"][0], "key": results["key"]}))


def _cmd_compare_hybrid(args: argparse.Namespace) -> int:
    if not args.run:
        raise SpectralRefinerError("give the hybrid run to compare: --run RUN_DIR (repeatable)")
    for run in args.run:
        _check_run_and_data(argparse.Namespace(run=run, data=args.data))
    if args.tune_data:
        check_dataset(args.tune_data)
    results = compare_hybrid(
        args.run,
        args.data,
        tune_data=args.tune_data,
        closures=tuple(args.closures),
        multiples=tuple(args.multiples),
        frames=args.frames,
        limit=args.limit,
        tune_frames=args.tune_frames,
        timing_frames=args.timing_frames,
        repeats=args.repeats,
        device=args.device,
        **selection(args),
        progress=not args.quiet,
    )
    _print_hybrid_comparison(results)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    if args.out:
        check_folder(args.out)
    print(f"wrote {write_report([*args.run_dir, *args.run], args.out)}")
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    print(format_runs(list_runs(args.dir)))
    return 0


def _add_comparison_options(p: argparse.ArgumentParser) -> None:
    """What ``compare-solver`` and ``compare-hybrid`` share: trajectories, timing rounds,
    device, threads, quiet and the selection of trajectories."""
    p.add_argument("--limit", type=integer(1), default=8, help="trajectories compared (default 8)")
    p.add_argument(
        "--repeats",
        type=integer(1),
        default=3,
        help="interleaved timing rounds at least (more, up to 10, until the methods are apart)",
    )
    add_device(p)
    add_threads(p)
    add_quiet(p)
    add_selection(p)


def add_evaluation_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``evaluate``, ``compare-solver``, ``compare-hybrid``, ``report`` and ``runs`` to the
    subcommands."""
    p = sub.add_parser("evaluate", help="errors, correlation, spectra and η of a run's rollouts")
    add_run(p)
    add_data(p, "trajectories with truth", required=True)
    p.add_argument("--refine", action="store_true", help="also evaluate the refined rollout")
    p.add_argument(
        "--rollout",
        type=integer(1),
        metavar="FRAMES",
        help="frames to predict by chaining windows (default: one window)",
    )
    p.add_argument(
        "--steps", type=integer(1), default=100, help="refinement evaluations per window"
    )
    p.add_argument("--limit", type=integer(1), help="evaluate only the first N trajectories")
    p.add_argument(
        "--samples",
        type=integer(2),
        metavar="S",
        help="also roll out S samples of a sampling model (pde_refiner): spread against error, "
        "estimated decorrelation time",
    )
    p.add_argument(
        "--ensemble",
        type=integer(2),
        metavar="S",
        help="roll out a pde_refiner with the mean of S refinement samples as each next frame "
        "(a posterior-mean estimate; not the paper's single-sample rollout)",
    )
    add_device(p)
    add_threads(p)
    add_quiet(p)
    add_selection(p)
    add_closure(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("compare-solver", help="cost against accuracy: surrogate vs the solver")
    add_run(p)
    add_data(p, "reference trajectories", required=True)
    p.add_argument(
        "--resolutions",
        type=even_resolution,
        nargs="+",
        help="solver grids (default: half, equal to and twice the training one)",
    )
    p.add_argument("--steps", type=integer(1), default=100, help="refinement evaluations")
    _add_comparison_options(p)
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser(
        "compare-hybrid",
        help="hybrids against the plain solver at n, 2n, 4n and tuned classical closures",
        description="From the first frame of held-out trajectories at the hybrids' resolution "
        "n: the plain solver at n, 2n, 4n (2/3 rule and every stored mode), Smagorinsky and "
        "Leith with coefficients tuned on the training data, dynamic Smagorinsky and each "
        "hybrid; errors, correlation times, spectrum errors, cost per unit time and a verdict "
        "in RUN_DIR/evaluation/hybrid-compare-*.json of every run.",
    )
    add_run(p, repeatable=True)
    add_data(p, "held-out filtered-DNS trajectories", required=True)
    p.add_argument(
        "--tune-data",
        metavar="FILE.h5",
        help="training file the closure coefficients are tuned on (default: the run's own)",
    )
    p.add_argument(
        "--closures",
        nargs="*",
        choices=CLOSURE_NAMES,
        default=list(CLOSURE_NAMES),
        help="classical closures compared (default all; none: give the flag alone)",
    )
    p.add_argument(
        "--multiples",
        type=integer(1),
        nargs="+",
        default=[1, 2, 4],
        metavar="M",
        help="plain solver grids as multiples of n (default 1 2 4)",
    )
    p.add_argument("--frames", type=integer(1), help="horizon in frames (default: all)")
    p.add_argument(
        "--tune-frames",
        type=integer(1),
        default=10,
        help="frames of each tuning rollout (default 10)",
    )
    p.add_argument(
        "--timing-frames",
        type=integer(1),
        default=5,
        help="frames advanced per timing round (default 5)",
    )
    _add_comparison_options(p)
    p.set_defaults(func=_cmd_compare_hybrid)

    p = sub.add_parser(
        "report",
        help="write one HTML page (and PNG figures) for one run, or comparing several runs",
        description="One run: RUN_DIR/report/report.html. Several runs: their evaluations on "
        "common test sets side by side, with the solver and the persistence baseline, in "
        "--out (default report-YYYY-MM-DD).",
    )
    p.add_argument("run_dir", nargs="*", metavar="RUN_DIR", help="training run directories")
    add_run(p, repeatable=True)
    add_out(p, "DIR", "folder for the page and figures (see the description)")
    add_threads(p)
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser(
        "runs", help="list the runs below a folder with model, data, size and headline errors"
    )
    p.add_argument("dir", nargs="?", default="runs", metavar="DIR", help="folder (default runs)")
    p.set_defaults(func=_cmd_runs)
