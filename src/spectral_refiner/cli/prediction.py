"""The prediction commands: ``predict`` and ``refine``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..arguments import even_resolution, integer, tolerance
from ..data import check_dataset, read_info
from ..errors import SpectralRefinerError
from ..evaluation import predict_file
from ..metrics import ERRORS
from ..physics import ESTIMATE_COLUMNS
from .options import (
    add_closure,
    add_data,
    add_device,
    add_out,
    add_overwrite,
    add_quiet,
    add_run,
    add_selection,
    add_threads,
    selection,
)
from .output import LABELS, interrupted

__all__ = ["add_prediction_commands"]


def _print_predictions(summary: dict) -> None:
    refined = summary["refined"]
    keys = [*ESTIMATE_COLUMNS, *ERRORS]
    rows = [(LABELS[key], key) for key in keys if f"median_{key}" in summary]
    heads = ("unrefined", "refined") if refined else ("prediction",)
    print(
        f"{'median over ' + str(summary['instances']) + ' instances':30s}"
        + "".join(f"{h:>12s}" for h in heads)
    )
    for label, key in rows:
        values = [summary.get(f"median_{key}_unrefined", summary[f"median_{key}"])] * refined
        values.append(summary[f"median_{key}"])
        print(f"{label:30s}" + "".join(f"{v:12.4g}" for v in values))
    if "improved_fraction" in summary:
        print(
            f"refinement improved {100 * summary['improved_fraction']:.0f}% of the instances, "
            f"median error ratio {summary['median_improvement']:.2f}x"
        )
    res = summary["resolution"]
    note = "" if res == summary["trained_resolution"] else " (zero-shot super-resolution)"
    print(
        f"{summary['seconds_per_instance']:.2f} s per instance at {res}^2{note}; "
        f"wrote {summary['file']}"
    )


def _explain_missing_errors(source: str, resolution: int) -> None:
    """One line on stderr: why a prediction summary has no error columns."""
    stored = read_info(source).resolution
    why = (
        f"{source} holds {stored}² frames, coarser than the {resolution}² output: give a truth "
        f"file at >= {resolution}² (generate with --set resolution={resolution})"
        if stored < resolution
        else f"{source} does not hold the frames that follow the input window"
    )
    print(f"note: no true errors: {why}", file=sys.stderr)


def _cmd_predict(args: argparse.Namespace, refine: bool) -> int:
    source = args.data
    if source is None:  # predict's --data (or --input) is in an optional group
        raise SpectralRefinerError("give the trajectories to predict: --data FILE.h5")
    check_dataset(source)
    stem = Path(source).stem + (f"-n{args.resolution}" if args.resolution else "")
    out = args.out or str(Path(args.run) / f"{'refined' if refine else 'predictions'}-{stem}.h5")
    try:
        summary = predict_file(
            args.run,
            source,
            out,
            refine=refine,
            resolution=args.resolution,
            start=args.start,
            steps=args.steps,
            tol=args.tol,
            batch=args.batch,
            device=args.device,
            overwrite=args.overwrite,
            progress=not args.quiet,
            **selection(args),
        )
    except KeyboardInterrupt:
        return interrupted(
            f"finished chunks are kept in {out}.parts; rerun the same command to resume"
        )
    _print_predictions(summary)
    if "median_rel_l2" not in summary:
        _explain_missing_errors(source, summary["resolution"])
    return 0


def _add_prediction_arguments(p: argparse.ArgumentParser) -> None:
    """The options ``predict`` and ``refine`` share (after their own ``--data``)."""
    add_selection(p)
    add_closure(p)
    add_run(p)
    add_out(p, "FILE.h5", "output file (default in RUN_DIR)")
    p.add_argument(
        "--resolution", type=even_resolution, help="output resolution (default: the training one)"
    )
    p.add_argument("--start", type=integer(0), default=0, help="first input frame (default 0)")
    p.add_argument(
        "--steps", type=integer(1), default=100, help="refinement evaluations (default 100)"
    )
    p.add_argument("--tol", type=tolerance, default=0.0, help="stop refining once η <= tol")
    p.add_argument("--batch", type=integer(1), default=8, help="instances processed at once")
    add_device(p)
    add_threads(p)
    add_overwrite(p, "an existing output file")
    add_quiet(p)


def add_prediction_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``refine`` and ``predict`` to the subcommands ``sub``."""
    p = sub.add_parser(
        "refine",
        help="refine a run's SFNO predictions without labels (Spectral-Refiner)",
        description="For every trajectory of FILE.h5: predict the window after its first "
        "t_in frames, refine it by the Navier-Stokes residual, and write the refined "
        "frames with η before and after (and the true errors when the file holds them).",
    )
    add_data(p, "trajectories to refine", required=True)
    _add_prediction_arguments(p)
    p.set_defaults(func=lambda a: _cmd_predict(a, True))

    p = sub.add_parser(
        "predict",
        help="predict every trajectory of a file with a trained run, each with its η",
        description="Predictions for every trajectory of FILE.h5 (its first t_in frames are "
        "the input), written in the dataset schema, each with its error estimate η.",
    )
    source = p.add_mutually_exclusive_group()
    add_data(source, "input trajectories")
    source.add_argument("--input", dest="data", help=argparse.SUPPRESS)  # the old name
    p.add_argument("--refine", action="store_true", help="refine the predictions (SFNO runs)")
    _add_prediction_arguments(p)
    p.set_defaults(func=lambda a: _cmd_predict(a, a.refine))
