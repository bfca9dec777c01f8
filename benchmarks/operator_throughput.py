"""Neural-operator speed and memory beside neuraloperator 2.0.0, at matched configurations.

Cases (64^2 grid, float32, 1 and 2 CPU threads by default, ``--threads``):

* ``fno2d``: our :class:`~spectral_refiner.models.FNO2d` (10 -> 1 frames, width 32, ``modes=6``
  i.e. 13 x 7 coefficients, 4 layers) against ``neuralop.models.FNO(n_modes=(12, 12),
  hidden_channels=32, n_layers=4, in_channels=10, out_channels=1, use_channel_mlp=False)``
  (12 x 7 coefficients). The same architecture on both sides: pointwise lifting MLP (hidden
  64), Fourier layers "spectral convolution + linear skip, GELU", projection MLP (hidden 64);
  the peer's default per-layer channel MLP is switched off because ours has none in this
  configuration. Batch 16.
* ``fno3d``: our :class:`~spectral_refiner.models.FNO3d` (10 -> 40 frames, width 20,
  ``modes=6, time_modes=5``: 13 x 7 x 11 coefficients, time padded by 6) against the peer's
  3-D ``FNO(n_modes=(12, 12, 12), hidden_channels=20, in_channels=10, out_channels=1,
  use_channel_mlp=False, domain_padding=[0, 0, 0.15])`` on ``(B, 10, 64, 64, 40)`` (the
  frames repeated along time, as in the FNO paper): 12 x 12 x 7 coefficients. Batch 4.
* ``sfno``: an **architecture comparison**, not an implementation one: our
  :class:`~spectral_refiner.models.SFNO` (10 -> 40 frames, ``modes=6, time_modes=4``, width
  chosen so that its parameter count is within 10% of the peer's), which convolves over the
  10 input frames in time, against the same peer 3-D FNO, which convolves over the 40 output
  frames (46 with its padding). Its ratio says what the SFNO architecture costs against an
  FNO-3D of equal size, not how fast our code is. Batch 4.

Parameter counts are printed for both sides counting real numbers (a complex weight counts
twice; neuraloperator's own count counts it once).

Measured: a training step (forward, mean-squared loss, backward, Adam step) and inference
(forward under ``no_grad``) in samples per second. The two sides alternate within each
repeat; the table gives medians over repeats and the ratio ours / peer. Peak memory of a
training step is the peak of the bytes torch's CPU allocator holds during the step above
what it held before (from the profiler's memory events; the resident set size of the
process was tried first and varied by +-30% between identical runs).

Targets (issue 3): training >= 2x (fno2d) and >= 1.5x (fno3d, sfno); inference >= 2x
(fno2d); memory no worse (ratio <= 1).

Run from the repository root (neuraloperator 2.0.0 installed with ``--no-deps`` plus
``tensorly tensorly-torch opt-einsum requests``)::

    python -m benchmarks.operator_throughput [--case fno2d fno3d sfno] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import torch

from benchmarks.machine import machine_state
from spectral_refiner.models import SFNO, FNO2d, FNO3d
from spectral_refiner.threads import pin_threads

CASES = ("fno2d", "fno3d", "sfno")
BATCH = {"fno2d": 16, "fno3d": 4, "sfno": 4}


def _real_count(module: torch.nn.Module) -> int:
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in module.parameters())


def _peer(case: str) -> torch.nn.Module:
    from neuralop.models import FNO

    if case == "fno2d":
        return FNO(
            n_modes=(12, 12),
            in_channels=10,
            out_channels=1,
            hidden_channels=32,
            n_layers=4,
            use_channel_mlp=False,
        )
    return FNO(
        n_modes=(12, 12, 12),
        in_channels=10,
        out_channels=1,
        hidden_channels=20,
        n_layers=4,
        use_channel_mlp=False,
        domain_padding=[0, 0, 0.15],
    )


def _sfno_width(target: int) -> int:
    """The SFNO width whose parameter count is closest to ``target``."""
    widths = range(8, 64)
    counts = {
        w: SFNO(t_in=10, t_out=40, width=w, modes=6, time_modes=4).n_parameters() for w in widths
    }
    return min(widths, key=lambda w: abs(counts[w] - target))


def build(case: str, side: str) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """Model, input and target of one side of a case (seeded)."""
    torch.manual_seed(0)
    b = BATCH[case]
    if side == "peer":
        model = _peer(case)
        if case == "fno2d":
            x, y = torch.randn(b, 10, 64, 64), torch.randn(b, 1, 64, 64)
        else:
            x, y = torch.randn(b, 10, 64, 64, 40), torch.randn(b, 1, 64, 64, 40)
        return model, x, y
    if case == "fno2d":
        model = FNO2d(t_in=10, t_out=1, width=32, modes=6, n_layers=4)
        return model, torch.randn(b, 10, 64, 64), torch.randn(b, 1, 64, 64)
    if case == "fno3d":
        model = FNO3d(t_in=10, t_out=40, width=20, modes=6, time_modes=5, time_padding=6)
    else:
        width = _sfno_width(_real_count(_peer("sfno")))
        model = SFNO(t_in=10, t_out=40, width=width, modes=6, time_modes=4)
    return model, torch.randn(b, 10, 64, 64), torch.randn(b, 40, 64, 64)


def _stepper(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor):
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def train() -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()

    def infer() -> None:
        with torch.no_grad():
            model(x)

    return train, infer


def peak_step_memory(train) -> float:
    """Peak of the bytes held by torch's CPU allocator during one training step, above what
    it held before the step (MiB): the allocator's running total in the profiler's memory
    events (``profile_memory=True``). Deterministic, unlike the process's resident size."""
    from torch.profiler import ProfilerActivity, profile

    train()  # optimiser state exists before the measured step
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        train()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trace.json")
        prof.export_chrome_trace(path)
        with open(path) as f:
            events = json.load(f)["traceEvents"]
    totals = [e["args"]["Total Allocated"] for e in events if e.get("name") == "[memory]"]
    return (max(totals) - totals[0]) / 2**20


def _mean_time(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def run_case(case: str, repeats: int, calls: int) -> dict:
    sides = {s: build(case, s) for s in ("ours", "peer")}
    fns = {s: _stepper(*sides[s]) for s in sides}
    for train, infer in fns.values():  # warm-up
        train()
        infer()
    times: dict[tuple[str, str], list[float]] = {}
    for r in range(repeats):
        order = ("ours", "peer") if r % 2 == 0 else ("peer", "ours")
        for kind, idx in (("train", 0), ("infer", 1)):
            for s in order:
                times.setdefault((kind, s), []).append(_mean_time(fns[s][idx], calls))
    b = BATCH[case]
    result = {
        "case": case,
        "params": {s: _real_count(sides[s][0]) for s in sides},
        "batch": b,
    }
    for kind in ("train", "infer"):
        med = {s: statistics.median(times[(kind, s)]) for s in sides}
        result[kind] = {s: b / med[s] for s in sides} | {"ratio": med["peer"] / med["ours"]}
    mem = {s: peak_step_memory(fns[s][0]) for s in sides}
    result["memory_mib"] = mem | {"ratio": mem["ours"] / mem["peer"]}
    return result


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--case", nargs="+", choices=CASES, default=list(CASES))
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--calls", type=int, default=3, help="steps per timing sample")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = p.parse_args(argv)
    print(
        f"torch {torch.__version__}, float32, 64^2; medians of {args.repeats} interleaved "
        f"repeats; {machine_state()}; sfno vs the peer's FNO-3D compares architectures"
    )
    for threads in args.threads:
        pin_threads(threads)
        _table(args)
    print(
        "train/infer in samples/s (ratio ours/peer speed-up); memory ratio ours/peer "
        "(below 1: ours uses less)"
    )


def _table(args) -> None:
    """One table of every case at the current thread count."""
    header = (
        f"{'threads':>7} {'case':6} {'params ours/peer':>19} {'train ours':>11} {'peer':>7} "
        f"{'ratio':>6}"
        f" {'infer ours':>11} {'peer':>7} {'ratio':>6} {'mem MiB ours':>13} {'peer':>7}"
        f" {'ratio':>6}"
    )
    print(header)
    for case in args.case:
        r = run_case(case, args.repeats, args.calls)
        pr, tr, inf, mem = r["params"], r["train"], r["infer"], r["memory_mib"]
        print(
            f"{torch.get_num_threads():>7} {case:6} {pr['ours']:>9,}/{pr['peer']:<9,}"
            f" {tr['ours']:>11.1f} {tr['peer']:>7.1f}"
            f" {tr['ratio']:>5.2f}x {inf['ours']:>11.1f} {inf['peer']:>7.1f} {inf['ratio']:>5.2f}x"
            f" {mem['ours']:>13.0f} {mem['peer']:>7.0f} {mem['ratio']:>5.2f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
