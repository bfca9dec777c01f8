"""Nothing lost, nothing corrupted: prediction pieces keyed by trajectory (a rerun with
another batch size continues the same rows), checkpoints consistent whatever write a kill
interrupts, ``--overwrite`` next to user data, leftovers of killed writers removed, fsync
before the rename, and Ctrl-C exiting 130 with one line on every long command."""

from __future__ import annotations

import importlib
import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import robust_support
from robust_support import tree
from spectral_refiner import atomic
from spectral_refiner.cli import main
from spectral_refiner.data import Parts, read_estimates
from spectral_refiner.evaluation import predict_file
from spectral_refiner.training import run as run_module
from spectral_refiner.training.checkpoint import load_checkpoint

tiny = robust_support.tiny  # session fixture
DEAD_PID = 9_999_999  # above any pid_max: no such process


class Killed(BaseException):
    """A simulated SIGKILL: nothing in the code under test catches it."""


def _frames(path: Path) -> np.ndarray:
    with h5py.File(path) as f:
        return f["t0_fields/vorticity"][()]


# ---------------------------------------------------------------------------- predictions


def _refine(tiny, out: Path, batch: int) -> dict:
    return predict_file(
        tiny["run"], tiny["data"], out, refine=True, steps=4, batch=batch, progress=False
    )


def test_a_rerun_with_another_batch_gives_the_rows_of_an_uninterrupted_run(
    tiny, tmp_path, monkeypatch
):
    clean = _refine(tiny, tmp_path / "clean.h5", batch=2)
    real_save = Parts.save
    for rerun_batch in (3, 1):
        out = tmp_path / f"resumed-{rerun_batch}.h5"
        saves: list[int] = []

        def save(self, i, saves=saves, **arrays):
            if len(saves) == 3:  # killed after 3 trajectories: in the second chunk of 2
                raise Killed
            saves.append(i)
            real_save(self, i, **arrays)

        monkeypatch.setattr(Parts, "save", save)
        with pytest.raises(Killed):
            _refine(tiny, out, batch=2)
        monkeypatch.setattr(Parts, "save", real_save)
        assert saves == [0, 1, 2] and not out.exists()
        summary = _refine(tiny, out, batch=rerun_batch)
        assert summary["instances"] == clean["instances"] == 4
        # Row i is trajectory i's, whatever chunk computed it (the refiner treats each
        # instance alone: other batch compositions agree to rounding).
        a, b = _frames(out), _frames(tmp_path / "clean.h5")
        assert a.shape == b.shape == (4, 5, 32, 32)
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * np.abs(b).max())
        np.testing.assert_array_equal(a[:2], b[:2])  # the pieces kept from the first run
        est, ref = read_estimates(out), read_estimates(tmp_path / "clean.h5")
        assert est.keys() == ref.keys()
        for key in ref:
            np.testing.assert_allclose(est[key], ref[key], rtol=1e-4, err_msg=key)
        assert not out.with_name(out.name + ".parts").exists()


def test_a_kill_after_the_final_rename_and_stale_temp_files_are_cleaned(
    tiny, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "p.h5"
    argv = ["predict", "--run", str(tiny["run"]), "--input", str(tiny["data"])]
    argv += ["--out", str(out), "--quiet"]
    stale_out = tmp_path / f".p.h5.tmp-{DEAD_PID}"
    stale_out.write_bytes(b"half a file")
    live_out = tmp_path / f".p.h5.tmp-{os.getppid()}"  # a live writer's: kept
    live_out.write_bytes(b"being written")
    real_remove = Parts.remove

    def killed_remove(self):
        raise Killed

    monkeypatch.setattr(Parts, "remove", killed_remove)
    with pytest.raises(Killed):
        main(argv)
    monkeypatch.setattr(Parts, "remove", real_remove)
    parts = tmp_path / "p.h5.parts"
    assert out.exists() and parts.is_dir()
    (parts / f".part_000001.npz.tmp-{DEAD_PID}").write_bytes(b"torn")
    written = out.stat().st_mtime_ns
    capsys.readouterr()
    assert main(argv) == 0  # the finished job: its leftovers go, its file stays
    assert "median over 4 instances" in capsys.readouterr().out
    assert not parts.exists() and not stale_out.exists() and live_out.exists()
    assert out.stat().st_mtime_ns == written


def test_generate_rerun_after_a_kill_after_the_final_rename_cleans_up(tiny, tmp_path, capsys):
    out = tmp_path / "data.h5"
    shutil.copy(tiny["data"], out)
    parts = tmp_path / "data.h5.parts"
    parts.mkdir()
    (parts / "part_000000.npz").write_bytes(b"a finished trajectory")
    overrides = [x for item in robust_support.DATA for x in ("--set", item)]
    argv = ["generate", "--preset", "tiny", "--out", str(out), *overrides, "--seed", "1"]
    assert main([*argv, "--quiet"]) == 0
    assert not parts.exists() and tree(tmp_path) == {"data.h5": tree(tiny["root"])["data.h5"]}


def test_atomic_writes_fsync_the_file_and_its_folder(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    atomic.atomic_write_text(tmp_path / "a.txt", "x")
    assert Path(synced[0]).name.startswith(".a.txt.tmp-") and synced[1] == str(tmp_path)
    assert (tmp_path / "a.txt").read_text() == "x" and len(list(tmp_path.iterdir())) == 1


# ---------------------------------------------------------------------------- checkpoints


CONFIG = {
    "model": {"name": "fno2d", "width": 6, "modes": 4, "n_layers": 1},
    "data": {
        "t_in": 5,
        "t_out": 1,
        "val_split": 1,
        "test_split": 1,
        "samples_per_trajectory": 2,
        "batch_size": 2,
        "eval_windows": 1,
    },
    "optim": {"epochs": 2, "lr": 1e-3, "keep_checkpoints": [1, 2]},
    "device": "cpu",
}
# Wall-clock times, and the count of resumes (it keys fresh online trajectories).
TIMING = ("train_time", "train_time_s", "train_samples_per_s", "samples_per_s", "segment")


def _train(tiny, out: Path, *extra: str) -> int:
    config = out.parent / "config-fno.json"
    config.write_text(json.dumps(CONFIG))
    args = ["train", "--config", str(config), "--data", str(tiny["data"]), "--out", str(out)]
    return main([*args, "--quiet", *extra])


def _state(run: Path) -> dict:
    """Everything a run's files say, but wall-clock times: the weights and progress of each
    checkpoint, the summary, and the step losses."""
    state = {}
    for path in sorted((run / "checkpoints").iterdir()):
        payload = load_checkpoint(path)
        progress = {k: v for k, v in payload["progress"].items() if k not in TIMING}
        state[path.name] = (payload["model"]["state_dict"], progress)
    summary = json.loads((run / "summary.json").read_text())
    state["summary"] = {k: v for k, v in summary.items() if k not in TIMING}
    lines = (run / "metrics.jsonl").read_text().splitlines()
    state["losses"] = [r.get("loss") for r in map(json.loads, lines)]
    return state


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if key.endswith(".pt"):
            (wa, pa), (wb, pb) = a[key], b[key]
            assert pa == pb, key
            assert all(torch.equal(wa[k], wb[k]) for k in wa), key
        else:
            assert a[key] == b[key], key


@pytest.fixture(scope="module")
def whole(tiny, tmp_path_factory):
    """An uninterrupted run, and the checkpoint files written at its last epoch's end."""
    run = tmp_path_factory.mktemp("whole") / "run"
    writes = []
    real = run_module.save_checkpoint

    def record(path, payload):
        writes.append(Path(path).name)
        real(path, payload)

    run_module.save_checkpoint = record
    try:
        assert _train(tiny, run) == 0
    finally:
        run_module.save_checkpoint = real
    state = _state(run)
    assert state["latest.pt"][1]["best_epoch"] == 2, "the test needs an improving 2nd epoch"
    return run, state, writes


def test_checkpoint_writes_put_the_record_of_progress_last(whole):
    _, _, writes = whole
    assert writes == ["epoch-1.pt", "best.pt", "latest.pt", "epoch-2.pt", "best.pt", "latest.pt"]


# Before the first latest.pt (none yet: the resume starts over), and before each write at
# the last epoch's end: epoch-2.pt, best.pt, latest.pt.
@pytest.mark.parametrize("kill_at", [2, 3, 4, 5])
def test_a_kill_between_checkpoint_writes_resumes_to_the_uninterrupted_run(
    whole, tiny, tmp_path, monkeypatch, kill_at
):
    _, state, _ = whole
    run = tmp_path / "run"
    real, calls = run_module.save_checkpoint, []

    def save(path, payload):
        if len(calls) == kill_at:
            Path(path).with_name(f".{Path(path).name}.tmp-{DEAD_PID}").write_bytes(b"torn")
            raise Killed
        calls.append(path)
        real(path, payload)

    monkeypatch.setattr(run_module, "save_checkpoint", save)
    with pytest.raises(Killed):
        _train(tiny, run)
    monkeypatch.setattr(run_module, "save_checkpoint", real)
    # Whatever was written, latest.pt (if any yet) says epoch 1.
    latest = run / "checkpoints" / "latest.pt"
    assert kill_at == 2 or load_checkpoint(latest)["progress"]["epoch"] == 1
    assert latest.exists() == (kill_at > 2)
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    _assert_same(_state(run), state)
    assert not list((run / "checkpoints").glob(".*.tmp-*"))


def test_a_stale_best_is_refused_then_repaired_on_resume(whole, tiny, tmp_path, capsys):
    """The state the old write order (latest, best, epoch-N) left when killed before best.pt
    of the last epoch: latest.pt at epoch 2 (best 2), best.pt of epoch 1, no epoch-2.pt, no
    summary."""
    source, state, _ = whole
    run = tmp_path / "run"
    shutil.copytree(source, run)
    shutil.copy(run / "checkpoints" / "epoch-1.pt", run / "checkpoints" / "best.pt")
    (run / "checkpoints" / "epoch-2.pt").unlink()
    (run / "summary.json").unlink()
    predict = ["predict", "--run", str(run), "--input", str(tiny["data"]), "--split", "test"]
    before = tree(run)
    capsys.readouterr()
    assert main([*predict, "--out", str(tmp_path / "p.h5"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "older than the best epoch 2" in err and f"train --resume {run}" in err
    assert tree(run) == before and not (tmp_path / "p.h5").exists()
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    _assert_same(_state(run), state)


# ---------------------------------------------------------------------------- --overwrite


def test_overwrite_replaces_a_run_directory_and_nothing_else(whole, tiny, tmp_path, capsys):
    source, state, _ = whole
    mixed = tmp_path / "mixed"
    shutil.copytree(source, mixed)
    (mixed / "notes.txt").write_text("mine\n")
    before = tree(mixed)
    assert _train(tiny, mixed, "--overwrite") == 2
    assert "holds notes.txt, which no command made" in capsys.readouterr().err
    assert tree(mixed) == before
    # A run directory with what commands write in it (predictions, an evaluation) is replaced.
    run = tmp_path / "run"
    shutil.copytree(source, run)
    (run / "predictions-x.h5").write_bytes(b"old predictions")
    (run / "evaluation").mkdir()
    (run / "checkpoints" / "epoch-7.pt").write_bytes(b"an old epoch")
    assert _train(tiny, run, "--overwrite") == 0
    assert not (run / "predictions-x.h5").exists() and not (run / "evaluation").exists()
    _assert_same(_state(run), state)


# ---------------------------------------------------------------------------- Ctrl-C


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


CTRL_C = [
    ("generate --preset tiny --out {tmp}/g.h5 --quiet", "data.generate.simulate", "g.h5.parts"),
    (
        "train --config {config} --data {data} --out {tmp}/r --quiet",
        "training.trainer.Trainer._step",
        "--resume",
    ),
    (
        "refine --run {run} --data {data} --out {tmp}/r.h5 --quiet",
        "evaluation.predict._predict_chunk",
        "r.h5.parts",
    ),
    (
        "predict --run {run} --input {data} --out {tmp}/p.h5 --quiet",
        "evaluation.predict._predict_chunk",
        "p.h5.parts",
    ),
    (
        "evaluate --run {run} --data {data} --quiet",
        "evaluation.evaluate.rollout_estimates",
        "evaluate stopped",
    ),
    (
        "compare-solver --run {run} --data {data} --quiet",
        "evaluation.compare.simulate",
        "compare-solver stopped",
    ),
    ("demo --out {tmp}/demo --quiet", "demo.generate", "keeps its finished steps"),
]


@pytest.mark.parametrize(
    ("command", "target", "fragment"), CTRL_C, ids=[c[0].split()[0] for c in CTRL_C]
)
def test_ctrl_c_exits_130_with_one_line(
    command, target, fragment, tiny, tmp_path, monkeypatch, capsys
):
    module, _, name = f"spectral_refiner.{target}".rpartition(".")
    if name == "_step":  # a method: patch it on the class
        module, _, cls = module.rpartition(".")
        owner = getattr(importlib.import_module(module), cls)
    else:
        owner = importlib.import_module(module)
    monkeypatch.setattr(owner, name, _interrupt)
    paths = {k: str(v) for k, v in tiny.items()} | {"tmp": str(tmp_path)}
    capsys.readouterr()
    assert main(command.format(**paths).split()) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err and "Traceback" not in err, err
