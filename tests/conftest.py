import os
import socket
import sys
from pathlib import Path

# Thread policy of the suite, set before torch starts: every test's work is small, where one
# thread is fastest (the library calls made here directly read OMP_NUM_THREADS, the command
# line SPECTRAL_REFINER_THREADS), and idle OpenMP threads sleep instead of spinning on a shared
# machine. Subprocesses (the CLI, torchrun workers) inherit all three.
for _name, _value in (
    ("OMP_NUM_THREADS", "1"),
    ("SPECTRAL_REFINER_THREADS", "1"),
    ("OMP_WAIT_POLICY", "PASSIVE"),
):
    os.environ.setdefault(_name, _value)

# The benchmarks package (peer wrappers) lives beside the tests, outside the installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def free_port() -> int:
    """A TCP port free on this machine now, for a torchrun rendezvous (``--master_port``): a
    fixed port collides when two test runs on one machine reach the same test at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _rank(rank: int, config, out: str, port: int) -> None:
    """One of two gloo ranks, forked from the test process (no second import of torch)."""
    from spectral_refiner.training import train

    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", LOCAL_WORLD_SIZE="2",
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
    )  # fmt: skip
    status = 1
    try:
        train(config, out, progress=False)
        status = 0
    finally:
        import torch.distributed

        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        os._exit(status)


def two_gloo_ranks(config, out: str) -> list[int]:
    """``train(config, out)`` on two real gloo ranks forked from this process (a torchrun
    launch without its seconds of imports per rank); their exit codes."""
    import multiprocessing

    context, port = multiprocessing.get_context("fork"), free_port()
    ranks = [context.Process(target=_rank, args=(r, config, out, port)) for r in range(2)]
    for p in ranks:
        p.start()
    for p in ranks:
        p.join(timeout=300)
    return [p.exitcode for p in ranks]


SMALL_MODELS = {
    "sfno": ({"name": "sfno", "width": 6, "modes": 4, "time_modes": 1, "n_layers": 1}, 5),
    "fno2d": ({"name": "fno2d", "width": 6, "modes": 4, "n_layers": 1}, 1),
}


def train_small_run(data_file, folder, model: str = "sfno") -> Path:
    """A few-second training run (windows 5 -> t_out) on ``data_file`` in ``folder/run``."""
    import json

    from spectral_refiner.cli import main

    spec, t_out = SMALL_MODELS[model]
    config = Path(folder) / f"{model}.yaml"
    config.write_text(
        json.dumps(
            {
                "model": spec,
                "data": {
                    "t_in": 5,
                    "t_out": t_out,
                    "val_split": 1,
                    "test_split": 1,
                    "samples_per_trajectory": 4,
                    "batch_size": 4,
                },
                "optim": {"epochs": 2},
                "device": "cpu",
            }
        )
    )
    run = Path(folder) / f"run-{model}"
    assert (
        main(
            [
                "train",
                "--config",
                str(config),
                "--data",
                str(data_file),
                "--out",
                str(run),
                "--quiet",
            ]
        )
        == 0
    )
    return run


def pytest_configure(config) -> None:
    """Keep the file order below under pytest-xdist, which by default hands out files by
    their number of tests instead."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items) -> None:
    """Run the files that hold slow tests first, each file's tests in their own order.

    With two workers each taking a whole file at a time (``-n 2 --dist loadfile``), the long
    files then start at once and the short ones fill in behind them, instead of one long
    file finishing the run alone.
    """
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)  # stable: the order within is kept
