"""Thread policy: the user's choice wins, small work gets one thread, large work the free cores,
idle OpenMP threads wait passively, and the timing verdict only ranks what the rounds separate."""

import os
import subprocess
import sys

import pytest
import torch

from spectral_refiner import threads
from spectral_refiner.cli import main
from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.evaluation import compare
from spectral_refiner.evaluation.compare import interleaved_timings, pareto_front, tied, verdict


@pytest.fixture
def machine(monkeypatch):
    """A fake machine: ``machine(cores, busy)``; no user choice in the environment."""
    monkeypatch.delenv(threads.ENV_VAR, raising=False)

    def set_state(cores: int, busy: float) -> None:
        monkeypatch.setattr(threads, "_usable_cores", lambda: cores)
        monkeypatch.setattr(threads, "_busy_cores", lambda: busy)

    return set_state


def test_threads_follow_the_work_size_and_the_free_cores(machine):
    machine(4, 0.2)
    assert threads.free_cores() == 4
    assert threads.choose_threads(threads.SMALL_WORK - 1) == 1
    assert threads.choose_threads(threads.SMALL_WORK) == 4
    assert threads.choose_threads() == 1  # unknown work: one thread
    machine(2, 1.6)  # one core's worth of other work, rounded up: one free core
    assert threads.choose_threads(10**9) == 1
    machine(2, 5.0)  # overloaded: still one thread, never zero
    assert threads.free_cores() == 1


def test_the_users_choice_wins_and_bad_counts_are_refused(machine, monkeypatch):
    machine(2, 0.0)
    assert threads.choose_threads(10**9, requested=1) == 1
    assert threads.choose_threads(16, requested=3) == 3
    monkeypatch.setenv(threads.ENV_VAR, "2")
    assert threads.choose_threads(16) == 2
    for bad in ("0", "-1", "two"):
        monkeypatch.setenv(threads.ENV_VAR, bad)
        with pytest.raises(SpectralRefinerError, match=threads.ENV_VAR):
            threads.choose_threads()


def test_work_threads_sets_then_restores_the_count(machine):
    machine(2, 0.0)
    before = torch.get_num_threads()
    with threads.work_threads(threads.SMALL_WORK * 4) as count:
        assert count == 2 == torch.get_num_threads()
    assert torch.get_num_threads() == before


def test_busy_cores_reads_the_load_and_the_runnable_tasks(monkeypatch, tmp_path):
    real_open = open
    loadavg = tmp_path / "loadavg"

    def fake_open(path, *args, **kwargs):
        return real_open(loadavg if path == "/proc/loadavg" else path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)
    loadavg.write_text("0.10 0.20 0.30 3/120 999\n")  # two others runnable right now
    assert threads._busy_cores() == 2.0
    loadavg.write_text("1.75 0.20 0.30 1/120 999\n")  # only us now, but busy for a minute
    assert threads._busy_cores() == 1.75


def test_the_command_line_option_sets_threads_and_refuses_zero(machine, monkeypatch, capsys):
    machine(2, 0.0)
    before = torch.get_num_threads()
    try:
        assert main(["--threads", "3", "presets"]) == 0
        assert torch.get_num_threads() == 3 and os.environ[threads.ENV_VAR] == "3"
        capsys.readouterr()
        assert main(["--threads", "0", "presets"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--threads: must be >= 1, got 0" in err[0]
    finally:
        monkeypatch.delenv(threads.ENV_VAR, raising=False)
        torch.set_num_threads(before)


def test_importing_the_package_asks_for_passive_waiting_unless_the_user_chose():
    code = "import os, spectral_refiner; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    for policy, expected in ((None, "PASSIVE"), ("ACTIVE", "ACTIVE")):
        if policy:
            env["OMP_WAIT_POLICY"] = policy
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == expected


def test_timing_rounds_continue_until_methods_are_apart(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(compare.time, "perf_counter", lambda: clock[0])

    def costing(seconds):
        def run():
            clock[0] += seconds
            return torch.zeros(())

        return run

    timings, _ = interleaved_timings({"a": costing(1.0), "b": costing(2.0)}, 3, 10)
    assert [len(t) for t in timings.values()] == [3, 3]  # apart after the minimum
    methods = {"a": costing(1.0), "b": costing(1.0), "slow": costing(5.0)}
    timings, _ = interleaved_timings(methods, 3, 7)
    # a and b never come apart: rerun up to the cap; the slow one, apart, is not rerun
    assert [len(t) for t in timings.values()] == [7, 7, 3]


def test_a_tie_in_time_is_named_and_decided_by_accuracy():
    points = [
        {"method": "solver", "seconds": 1.0, "timings": [0.9, 1.0, 1.2], "rel_l2": 0.01},
        {"method": "surrogate", "seconds": 1.05, "timings": [0.8, 1.05, 1.1], "rel_l2": 0.1},
        {"method": "slow", "seconds": 5.0, "timings": [4.0, 5.0, 6.0], "rel_l2": 0.001},
    ]
    assert tied(points[0], points[1]) and not tied(points[0], points[2])
    assert [p["method"] for p in pareto_front(points)] == ["solver", "slow"]
    lines = verdict(points, rounds=3)
    assert "surrogate is dominated: solver is as fast within timing noise" in lines[2]
    assert (
        lines[-1]
        == "timing: up to 3 interleaved rounds; tied within timing noise: solver and surrogate"
    )
    # the same medians with rounds far apart: the surrogate is faster, not dominated
    points[1]["timings"] = [0.1, 0.1, 0.1]
    points[1]["seconds"] = 0.1
    assert [p["method"] for p in pareto_front(points)] == ["surrogate", "solver", "slow"]
