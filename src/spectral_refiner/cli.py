"""The ``spectral-refiner`` command.

Errors a user can cause print one line and exit with status 2, having written nothing
(arguments are checked where they are parsed, see :mod:`.arguments`, and every data file a
command reads by :func:`~spectral_refiner.data.check_dataset`); an interrupted command says
how to resume in one line and exits with status 130.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from . import __version__
from .arguments import OneLineParser, device, even_resolution, exit_status, integer, tolerance
from .atomic import check_folder
from .config import apply_config_overrides, load_config, shipped_configs
from .data import (
    PRESETS,
    apply_overrides,
    check_dataset,
    describe,
    format_description,
    generate,
    get_preset,
    read_info,
)
from .errors import SpectralRefinerError
from .evaluation import (
    SPLITS,
    Selection,
    compare_solver,
    evaluate_run,
    format_runs,
    list_runs,
    plot_dataset,
    predict_file,
    write_report,
)
from .metrics import ERRORS, WINDOW_METRICS
from .threads import ENV_VAR, pin_threads
from .training import RunDir, train, train_closure


def _cmd_presets(args: argparse.Namespace) -> int:
    if args.show:
        preset = get_preset(args.show)
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
        print(
            f"\ninterrupted: finished trajectories are kept in {out}.parts; rerun the same "
            "command to resume",
            file=sys.stderr,
        )
        return 130
    info = read_info(out)
    print(f"wrote {out}: vorticity {info.shape} float32, t = {info.times[0]:g}..{info.times[-1]:g}")
    return 0


def _cmd_train_closure(args: argparse.Namespace) -> int:
    result = train_closure(args.data, args.out, inputs=args.inputs, steps=args.steps)
    print(
        f"wrote {result['out']}: held-out correlation with the exact τ {result['correlation']:.3f}"
    )
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    text = format_description(describe(args.file))  # raises before anything is printed
    figure = (
        plot_dataset(args.file, args.out or Path(args.file).with_suffix(".png"))
        if args.plot
        else None
    )
    print(text)
    if figure is not None:
        print(f"wrote {figure}")
    return 0


def _cmd_configs(args: argparse.Namespace) -> int:
    configs = shipped_configs()
    if args.show:
        if args.show not in configs:
            raise SpectralRefinerError(
                f"no shipped config {args.show!r}: choose one of {', '.join(sorted(configs))}"
            )
        print(configs[args.show].read_text(), end="")
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
    out = args.out or str(Path("runs") / Path(args.config).stem)
    return config, out


LABELS = {
    "rel_l2": "rel L2",
    "rel_h1": "rel H1",
    "rel_h-1": "rel H^-1",
    "eta": "η",
    "correlation": "correlation",
}


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
        print(
            f"\ninterrupted: the run is saved in {out}; continue it with "
            f"`spectral-refiner train --resume {out}`",
            file=sys.stderr,
        )
        return 130
    from .data import rank_and_world

    if rank_and_world()[0] == 0:
        _print_summary(summary, out)
    return 0


def _print_predictions(summary: dict) -> None:
    refined = summary["refined"]
    rows = [("η", "eta")] + [(LABELS[key], key) for key in ERRORS if f"median_{key}" in summary]
    heads = ("unrefined", "refined") if refined else ("prediction",)
    print(
        f"{'median over ' + str(summary['instances']) + ' instances':30s}"
        + "".join(f"{h:>12s}" for h in heads)
    )
    for label, key in rows:
        values = (
            [summary[f"median_{key}_unrefined"], summary[f"median_{key}"]]
            if refined
            else [summary[f"median_{key}"]]
        )
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


def _cmd_predict(args: argparse.Namespace, refine: bool, source: str) -> int:
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
            **_selection(args),
        )
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: finished chunks are kept in {out}.parts; rerun the same command "
            "to resume",
            file=sys.stderr,
        )
        return 130
    _print_predictions(summary)
    if "median_rel_l2" not in summary:
        _explain_missing_errors(source, summary["resolution"])
    return 0


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


def _fmt(value) -> str:
    return "never" if value is None else f"{value:.4g}"


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
    if "persistence" in results:
        print(
            f"persistence (last input frame held): mean rel L2 "
            f"{results['persistence']['mean_rel_l2']:.4g}"
        )
    print(f"wrote {Path(results['run']) / 'evaluation' / (results['key'] + '.json')}")


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
        **_selection(args),
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
    print(f"wrote {Path(results['run']) / 'evaluation' / (results['key'] + '.json')}")


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
        **_selection(args),
        progress=not args.quiet,
    )
    _print_comparison(results)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    print(f"wrote {write_report(args.run_dir, args.out)}")
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    print(format_runs(list_runs(args.dir)))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    check_folder(args.out)
    try:
        result = run_demo(args.out, progress=not args.quiet)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: the demo keeps its finished steps in {args.out}; rerun the same "
            "command to continue",
            file=sys.stderr,
        )
        return 130
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


def _selection(args: argparse.Namespace) -> dict:
    """The ``select`` argument of :func:`_add_selection_arguments`'s flags."""
    return {"select": Selection(args.split, args.allow_training_data, args.physics_from_file)}


def _add_selection_arguments(p: argparse.ArgumentParser) -> None:
    """Which trajectories of the file a run meets, and what it may meet (run vs file)."""
    p.add_argument(
        "--split",
        choices=SPLITS,
        help="use exactly the run's held-out test trajectories of its own training file",
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


def _add_prediction_arguments(p: argparse.ArgumentParser) -> None:
    _add_selection_arguments(p)
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="a training run directory")
    p.add_argument("--out", metavar="FILE.h5", help="output file (default in RUN_DIR)")
    p.add_argument(
        "--resolution", type=even_resolution, help="output resolution (default: the training one)"
    )
    p.add_argument("--start", type=integer(0), default=0, help="first input frame (default 0)")
    p.add_argument(
        "--steps", type=integer(1), default=100, help="refinement evaluations (default 100)"
    )
    p.add_argument("--tol", type=tolerance, default=0.0, help="stop refining once η <= tol")
    p.add_argument("--batch", type=integer(1), default=8, help="instances processed at once")
    p.add_argument("--device", type=device, default="cpu", help="torch device")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``spectral-refiner`` command."""
    parser = OneLineParser(
        prog="spectral-refiner",
        description="Simulate 2-D turbulence, build datasets, train and refine neural operators.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--threads",
        type=integer(1),
        metavar="N",
        help=f"intra-op threads (default: 1 for small fields, else the free cores; or ${ENV_VAR})",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("presets", help="list the dataset presets, or show one's fields")
    p.add_argument("--show", metavar="NAME", help="print every field of this preset")
    p.set_defaults(func=_cmd_presets)

    p = sub.add_parser("generate", help="simulate a dataset into an HDF5 file (resumable)")
    p.add_argument("--preset", required=True, help="preset name (see `presets`)")
    p.add_argument("--out", required=True, help="output .h5 file")
    p.add_argument("--n-trajectories", type=integer(1), help="number of trajectories")
    p.add_argument("--seed", type=integer(0), default=0, help="dataset seed (default 0)")
    p.add_argument(
        "--dtype",
        default="float32",
        choices=["float32", "float64"],
        help="simulation precision (files store float32)",
    )
    p.add_argument("--device", type=device, default="cpu", help="torch device, e.g. cpu or cuda:0")
    p.add_argument("--batch-size", type=integer(1), help="trajectories simulated at once")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a preset field (repeatable), e.g. --set viscosity=1e-4",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing file or partial run made with other parameters",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser("train-closure", help="train a learned subgrid closure on a DNS file")
    p.add_argument("--data", required=True, metavar="FILE.h5", help="DNS file storing subgrid/tau")
    p.add_argument("--out", required=True, metavar="CLOSURE.pt", help="the closure file to write")
    p.add_argument("--inputs", choices=("vorticity", "vorticity-velocity"), default="vorticity")
    p.add_argument("--steps", type=integer(1), default=2000, help="Adam steps (default 2000)")
    p.set_defaults(func=_cmd_train_closure)

    p = sub.add_parser("info", help="print a dataset's metadata and statistics, or what is wrong")
    p.add_argument("file", metavar="FILE.h5", help="a dataset or prediction file")
    p.add_argument(
        "--plot",
        action="store_true",
        help="also draw snapshots, the spectrum and energy/enstrophy over time to a PNG",
    )
    p.add_argument("--out", metavar="PNG", help="the figure's file (default FILE.png)")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("configs", help="list the shipped training configs, or print one")
    p.add_argument("--show", metavar="NAME", help="print this config's YAML")
    p.set_defaults(func=_cmd_configs)

    p = sub.add_parser(
        "train",
        help="train a neural operator (offline from a file or online from the solver)",
        description="Train a neural operator into a run directory; interrupt with Ctrl-C and "
        "continue with --resume. Under torchrun, trains data-parallel.",
    )
    p.add_argument("--config", help="YAML config, or a shipped config's name (see `configs`)")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config field (repeatable), e.g. --set optim.lr=3e-4 --set model.width=32",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--data", metavar="FILE.h5", help="train on this dataset file")
    source.add_argument(
        "--online", metavar="PRESET", help="train on trajectories the solver makes as it goes"
    )
    p.add_argument("--out", metavar="RUN_DIR", help="run directory (default runs/CONFIG_NAME)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    p.add_argument(
        "--overwrite", action="store_true", help="replace the contents of an existing --out"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "refine",
        help="refine a run's SFNO predictions without labels (Spectral-Refiner)",
        description="For every trajectory of FILE.h5: predict the window after its first "
        "t_in frames, refine it by the Navier-Stokes residual, and write the refined "
        "frames with η before and after (and the true errors when the file holds them).",
    )
    p.add_argument("--data", required=True, metavar="FILE.h5", help="trajectories to refine")
    _add_prediction_arguments(p)
    p.set_defaults(func=lambda a: _cmd_predict(a, True, a.data))

    p = sub.add_parser(
        "predict",
        help="predict every trajectory of a file with a trained run, each with its η",
        description="Predictions for every trajectory of FILE.h5 (its first t_in frames are "
        "the input), written in the dataset schema, each with its error estimate η.",
    )
    p.add_argument("--input", required=True, metavar="FILE.h5", help="input trajectories")
    p.add_argument("--refine", action="store_true", help="refine the predictions (SFNO runs)")
    _add_prediction_arguments(p)
    p.set_defaults(func=lambda a: _cmd_predict(a, a.refine, a.input))

    p = sub.add_parser("evaluate", help="errors, correlation, spectra and η of a run's rollouts")
    p.add_argument("--run", required=True, metavar="RUN_DIR")
    p.add_argument("--data", required=True, metavar="FILE.h5", help="trajectories with truth")
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
    p.add_argument("--device", type=device, default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_selection_arguments(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("compare-solver", help="cost against accuracy: surrogate vs the solver")
    p.add_argument("--run", required=True, metavar="RUN_DIR")
    p.add_argument("--data", required=True, metavar="FILE.h5", help="reference trajectories")
    p.add_argument(
        "--resolutions",
        type=even_resolution,
        nargs="+",
        help="solver grids (default: half, equal to and twice the training one)",
    )
    p.add_argument("--limit", type=integer(1), default=8, help="trajectories compared (default 8)")
    p.add_argument("--steps", type=integer(1), default=100, help="refinement evaluations")
    p.add_argument(
        "--repeats",
        type=integer(1),
        default=3,
        help="interleaved timing rounds at least (more, up to 10, until the methods are apart)",
    )
    p.add_argument("--device", type=device, default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_selection_arguments(p)
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser(
        "report",
        help="write one HTML page (and PNG figures) for one run, or comparing several runs",
        description="One run: RUN_DIR/report/report.html. Several runs: their evaluations on "
        "common test sets side by side, with the solver and the persistence baseline, in "
        "--out (default report-YYYY-MM-DD).",
    )
    p.add_argument("run_dir", nargs="+", metavar="RUN_DIR", help="training run directories")
    p.add_argument(
        "--out", metavar="DIR", help="folder for the page and figures (see the description)"
    )
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser(
        "runs", help="list the runs below a folder with model, data, size and headline errors"
    )
    p.add_argument("dir", nargs="?", default="runs", metavar="DIR", help="folder (default runs)")
    p.set_defaults(func=_cmd_runs)

    p = sub.add_parser("demo", help="the whole pipeline on built-in defaults (a few minutes)")
    p.add_argument("--out", default="demo-out", help="folder for everything (default demo-out)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_demo)
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
        print(
            f"\ninterrupted: {args.command} stopped; rerun the same command to do it again",
            file=sys.stderr,
        )
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
