"""Every bad input of every command: one line on stderr, exit status 2, nothing written or
changed (the whole folder of inputs and outputs is hashed before and after each case).

Each case is ``(command line, expected fragment of the one-line message)``; ``{name}`` in a
command line is a path of the session's tiny files (:mod:`robust_support`): ``data`` a valid
dataset, ``nan``/``inf``/``ints``/``empty`` broken copies of it, ``run`` a trained SFNO run,
``config`` its config, ``broken`` invalid YAML, ``text`` a user's notes, ``folder`` a folder
of a user's files, ``readonly`` a folder nobody may write in, ``missing`` a folder that does
not exist.
"""

from __future__ import annotations

import pytest

import robust_support
from robust_support import tree
from spectral_refiner.cli import main

tiny, read_only = robust_support.tiny, robust_support.read_only  # session fixtures

GEN = "generate --preset tiny --out {root}/new.h5 --set n_trajectories=1 --seed 3 --quiet"
TRAIN = "train --config {config} --data {data} --out {root}/new-run --quiet"
REFINE = "refine --run {run} --data {data} --out {root}/refined.h5 --steps 2 --quiet"
PREDICT = "predict --run {run} --input {data} --out {root}/pred.h5 --quiet"
EVALUATE = "evaluate --run {run} --data {data} --steps 2"
COMPARE = "compare-solver --run {run} --data {data} --steps 2 --limit 1 --repeats 1"

CASES = [
    # the command line itself
    ("", "required: command"),
    ("bogus", "invalid choice: 'bogus'"),
    ("generate --preset tiny", "required: --out"),
    # presets, configs, info
    ("presets --show nope", "unknown preset 'nope'"),
    ("configs --show nope", "no shipped config 'nope'"),
    ("info {root}/none.h5", "no such file"),
    ("info {text}", "cannot be opened as HDF5"),
    ("info {data} --plot --out {missing}/x.png", "does not exist"),
    ("info {data} --plot --out {data}", "this command's input"),
    ("info {folder}", "cannot be opened as HDF5"),
    # generate
    (f"{GEN} --seed -1", "--seed: must be >= 0, got -1"),
    (f"{GEN} --seed x", "--seed: expected an integer"),
    (f"{GEN} --device bogus", "unknown device 'bogus'"),
    (f"{GEN} --device cuda", "no CUDA device"),
    (f"{GEN} --device cuda:7", "no CUDA device"),
    (f"{GEN} --n-trajectories 0", "--n-trajectories: must be >= 1"),
    (f"{GEN} --batch-size 0", "--batch-size: must be >= 1"),
    (f"{GEN} --set courant=none --set dt=1", "exceeds the stability bound"),
    (f"{GEN} --set viscosity=thick", "viscosity"),
    (f"{GEN} --set nosuchkey=1", "unknown key"),
    (f"{GEN} --dtype float16", "invalid choice: 'float16'"),
    ("generate --preset nope --out {root}/new.h5", "unknown preset 'nope'"),
    ("generate --preset tiny --out {missing}/new.h5", "does not exist"),
    ("generate --preset tiny --out {readonly}/new.h5", "is not writable"),
    ("generate --preset tiny --out {folder}", "is a folder"),
    # train
    ("train --data {data} --out {root}/new-run", "give --config"),
    ("train --config {folder} --data {data} --out {root}/new-run", "is not a file"),
    ("train --config {data} --data {data} --out {root}/new-run", "is not a text file"),
    ("train --config {broken} --data {data} --out {root}/new-run", "is not valid YAML"),
    (f"{TRAIN} --set model.width=0", "model.width must be positive"),
    (f"{TRAIN} --set model.lifting_ratio=0", "model.lifting_ratio must be positive"),
    (f"{TRAIN} --set model.modes=-2", "model.modes must be >= 0"),
    (f"{TRAIN} --set optim.epochs=0", "optim.epochs must be >= 1"),
    (f"{TRAIN} --set data.t_in=0", "data.t_in must be >= 1"),
    (f"{TRAIN} --set device=cuda", "no CUDA device"),
    (f"{TRAIN} --set device=bogus", "unknown device 'bogus'"),
    (f"{TRAIN} --set data.resolution=6", "model.modes is 4"),
    (f"{TRAIN} --set data.resolution=5", "even integer >= 4"),
    ("train --config {config} --data {nan} --out {root}/new-run", "non-finite vorticity"),
    ("train --config {config} --data {inf} --out {root}/new-run", "non-finite vorticity"),
    ("train --config {config} --data {ints} --out {root}/new-run", "not floating point"),
    ("train --config {config} --data {empty} --out {root}/new-run", "holds no data"),
    (f"{TRAIN} --set model.name=scot", "needs a grid divisible by 64"),
    ("train --config {config} --data {data} --out {readonly}/run", "is not writable"),
    ("train --config {config} --data {data} --out {text}", "is a file"),
    ("train --config {config} --data {data} --out {folder}", "--overwrite"),
    ("train --config {config} --data {data} --out {folder} --overwrite", "is not one"),
    ("train --config {config} --data {data} --out {root} --overwrite", "which this run reads"),
    ("train --config {config} --data {data} --online tiny", "not allowed with"),
    ("train --resume {run} --set optim.lr=1", "--resume continues a run"),
    ("train --resume {folder}", "holds no training run"),
    # refine
    (f"{REFINE} --steps -5", "--steps: must be >= 1, got -5"),
    (f"{REFINE} --resolution 0", "--resolution: must be >= 4"),
    (f"{REFINE} --resolution 33", "even integer >= 4, got 33"),
    (f"{REFINE} --batch 0", "--batch: must be >= 1"),
    (f"{REFINE} --tol -1", "--tol: must be a finite number >= 0"),
    (f"{REFINE} --tol nan", "--tol: must be a finite number >= 0"),
    (f"{REFINE} --start -1", "--start: must be >= 0"),
    (f"{REFINE} --start 9", "need 14"),
    (f"{REFINE} --device cuda", "no CUDA device"),
    ("refine --run {run} --data {nan} --out {root}/refined.h5", "non-finite vorticity"),
    ("refine --run {run} --data {inf} --out {root}/refined.h5", "non-finite vorticity"),
    ("refine --run {run} --data {data} --out {missing}/r.h5", "does not exist"),
    ("refine --run {run} --data {data} --out {readonly}/r.h5", "is not writable"),
    ("refine --run {run} --data {data} --out {folder} --overwrite", "is a folder"),
    ("refine --run {run} --data {data} --out {data} --overwrite", "this command's input"),
    ("refine --run {folder} --data {data} --out {root}/r.h5", "holds no training run"),
    # predict
    ("predict --run {run} --input {empty} --out {root}/p.h5", "holds no data"),
    ("predict --run {half} --input {data} --out {root}/p.h5", "no checkpoint at"),
    ("predict --run {run} --input {ints} --out {root}/p.h5", "not floating point"),
    ("predict --run {run} --input {root}/none.h5 --out {root}/p.h5", "no such file"),
    (f"{PREDICT} --batch -1", "--batch: must be >= 1, got -1"),
    (f"{PREDICT} --device bogus", "unknown device 'bogus'"),
    ("predict --run {run} --input {data} --out {data} --overwrite", "this command's input"),
    ("predict --run {run} --input {data} --out {readonly}/p.h5", "is not writable"),
    ("predict --run {run} --input {data} --out {text} --overwrite", "not one"),
    ("predict --run {run} --input {data} --out {nan} --overwrite", "not one"),
    ("generate --preset tiny --out {text} --overwrite", "not one"),
    # evaluate
    (f"{EVALUATE} --rollout -3", "--rollout: must be >= 1, got -3"),
    (f"{EVALUATE} --limit 0", "--limit: must be >= 1, got 0"),
    (f"{EVALUATE} --limit -1", "--limit: must be >= 1, got -1"),
    (f"{EVALUATE} --steps 0", "--steps: must be >= 1"),
    (f"{EVALUATE} --device cuda:7", "no CUDA device"),
    ("evaluate --run {run} --data {nan}", "non-finite vorticity"),
    ("evaluate --run {run} --data {empty}", "holds no data"),
    ("evaluate --run {folder} --data {data}", "holds no training run"),
    # compare-solver
    (f"{COMPARE} --repeats 0", "--repeats: must be >= 1, got 0"),
    (f"{COMPARE} --limit 0", "--limit: must be >= 1, got 0"),
    (f"{COMPARE} --resolutions 16 7", "even integer >= 4, got 7"),
    (f"{COMPARE} --device bogus", "unknown device 'bogus'"),
    ("compare-solver --run {run} --data {inf}", "non-finite vorticity"),
    # compare-hybrid
    ("compare-hybrid --data {data}", "give the hybrid run to compare"),
    ("compare-hybrid --run {run} --data {data}", "is a sfno run, not a hybrid"),
    ("compare-hybrid --run {run} --data {data} --frames 0", "--frames: must be >= 1, got 0"),
    ("compare-hybrid --run {run} --data {data} --multiples 0", "--multiples: must be >= 1"),
    ("compare-hybrid --run {run} --data {data} --closures bogus", "invalid choice: 'bogus'"),
    ("compare-hybrid --run {run} --data {data} --tune-data {text}", "cannot be opened as HDF5"),
    # report, demo
    ("report {folder}", "holds no training run"),
    ("report {run}", "has no evaluation yet"),
    ("report {run} --out {text}", "is a file"),
    ("demo --out {text}", "is a file"),
    ("demo --out {readonly}/demo", "is not writable"),
]


def test_there_are_at_least_60_distinct_cases():
    assert len({command for command, _ in CASES}) == len(CASES) >= 60


@pytest.mark.parametrize(("command", "fragment"), CASES, ids=[c for c, _ in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    command, fragment, tiny, read_only, capsys, monkeypatch
):
    monkeypatch.chdir(tiny["root"])  # default outputs (runs/..., demo-out) land in the tree
    argv = command.format(**{k: str(v) for k, v in tiny.items()}).split()
    before = tree(tiny["root"])
    capsys.readouterr()
    code = main(argv)
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2, (argv, captured.out[-500:], err[-2000:])
    assert len(err.splitlines()) == 1 and fragment in err, err
    assert tree(tiny["root"]) == before, "a file was written or changed"
