"""Online training data: the solver streams fresh trajectories into a bounded reservoir.

:class:`OnlineStream` is an iterable dataset. In each DataLoader worker process (or in the
main process with no workers) a producer thread runs the solver on batches of new
trajectories and adds every window of them to a :class:`Reservoir` of bounded size; the
iterator yields training batches drawn uniformly from the reservoir, at whatever rate
training consumes them, once it holds ``watermark`` windows. A window can be drawn more than
once (when training outpaces the solver) or never (when it is evicted first): the
Melissa-style trade of reuse for freshness, with no dataset on disk.

Seeds. Worker ``w`` of rank ``r`` is stream ``g = r · workers + w`` of ``G = world · workers``;
its ``c``-th solver batch holds the trajectories
``first_index + (c G + g) b + j``, ``j < b`` (``b`` trajectories per batch), each keyed by
``(seed, index)`` like a file's trajectories, so no two streams ever simulate the same one;
the indices below ``first_index`` are the fixed validation and test trajectories.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from .generate import build_equation, simulate_preset
from .presets import Preset
from .windows import check_windows, window_span

__all__ = ["OnlineStream", "Reservoir"]


class Reservoir:
    """A bounded buffer of samples: once full, a new sample replaces a uniformly chosen one.

    Draws take the samples never drawn before first (oldest first), then fill the batch
    uniformly from the whole buffer. Uniform draws alone would over-expose the first
    samples of a growing buffer (drawn from the start) and under-expose the last; this way
    every sample is used as soon as a batch has room for it, and reuse covers the times the
    producer is slower than the consumer. Thread-safe: :meth:`add` (the producer) and
    :meth:`draw` (the consumer) take a lock.
    """

    def __init__(self, capacity: int, rng: np.random.Generator) -> None:
        self.capacity = capacity
        self.items: list[torch.Tensor] = []
        self.unseen: collections.deque[int] = collections.deque()  # slots never drawn
        self.rng = rng
        self.lock = threading.Condition()

    def __len__(self) -> int:
        return len(self.items)

    def add(self, sample: torch.Tensor) -> None:
        with self.lock:
            if len(self.items) < self.capacity:
                self.items.append(sample)
                self.unseen.append(len(self.items) - 1)
            else:
                slot = int(self.rng.integers(self.capacity))
                self.items[slot] = sample
                if slot in self.unseen:  # an undrawn sample evicted: its slot keeps its place
                    self.unseen.remove(slot)
                self.unseen.append(slot)
            self.lock.notify_all()

    def draw(self, k: int) -> list[torch.Tensor]:
        """``k`` samples: the undrawn ones first, then uniform draws without repeats when
        the buffer holds enough."""
        with self.lock:
            fresh = [self.unseen.popleft() for _ in range(min(k, len(self.unseen)))]
            n, rest = len(self.items), k - len(fresh)
            pool = np.setdiff1d(np.arange(n), fresh) if n - len(fresh) >= rest else np.arange(n)
            index = [*fresh, *self.rng.choice(pool, size=rest, replace=len(pool) < rest)]
            return [self.items[int(i)] for i in index]

    def wait_for(self, size: int, timeout: float) -> bool:
        """Block until the buffer holds ``size`` samples (or ``timeout`` seconds pass)."""
        with self.lock:
            return self.lock.wait_for(lambda: len(self.items) >= size, timeout)


@dataclass
class StreamStats:
    """What one stream has done: trajectories simulated, windows produced and drawn."""

    stream: int
    trajectories: int = 0
    windows: int = 0
    drawn: int = 0
    batches: int = 0


class OnlineStream(IterableDataset):
    """Endless training batches ``(w_in (B, t_in, n, n), w_out (B, t_out, n, n), stats)``.

    Parameters
    ----------
    preset : Preset
        The flow to simulate (its stored resolution, frames and time-step policy).
    seed : int
        Dataset seed of the trajectory keys.
    first_index : int
        First trajectory index the streams may use (see the module docstring).
    t_in, t_out, stride : int
        Window shape.
    batch_size : int
        Windows per yielded batch.
    buffer_size, watermark : int
        Reservoir capacity, and the fill at which batches start.
    solver_batch : int
        Trajectories per solver call.
    solver_threads : int
        Torch threads of each worker process.
    rank, world : int
        This process's place among the training processes.
    device : str
        Where the solver runs when there are no worker processes (workers use the CPU).
    """

    def __init__(
        self,
        preset: Preset,
        seed: int,
        first_index: int,
        t_in: int,
        t_out: int,
        stride: int,
        batch_size: int,
        buffer_size: int,
        watermark: int,
        solver_batch: int,
        solver_threads: int = 1,
        rank: int = 0,
        world: int = 1,
        device: str = "cpu",
    ) -> None:
        super().__init__()
        self.preset, self.seed, self.first_index = preset, seed, first_index
        self.t_in, self.t_out, self.stride = t_in, t_out, stride
        self.batch_size, self.buffer_size, self.watermark = batch_size, buffer_size, watermark
        self.solver_batch, self.solver_threads = solver_batch, solver_threads
        self.rank, self.world, self.device = rank, world, device
        self.n_starts = check_windows(preset.n_frames, t_in, t_out, stride, f"preset {preset.name}")

    def trajectory_indices(self, stream: int, n_streams: int, c: int) -> list[int]:
        """The trajectories of solver batch ``c`` of stream ``stream``."""
        base = self.first_index + (c * n_streams + stream) * self.solver_batch
        return list(range(base, base + self.solver_batch))

    def __iter__(self):
        info = get_worker_info()
        workers, worker = (1, 0) if info is None else (info.num_workers, info.id)
        device = self.device if info is None else "cpu"
        if info is not None:
            torch.set_num_threads(self.solver_threads)
        stream, n_streams = self.rank * workers + worker, self.world * workers
        reservoir = Reservoir(self.buffer_size, np.random.default_rng([self.seed, stream, 0xB0F]))
        stats = StreamStats(stream)
        stop = threading.Event()
        failure: list[BaseException] = []
        span = window_span(self.t_in, self.t_out, self.stride)

        def produce() -> None:
            equation = build_equation(self.preset, device)
            c = 0
            try:
                while not stop.is_set():
                    indices = self.trajectory_indices(stream, n_streams, c)
                    with torch.no_grad():
                        frames = simulate_preset(self.preset, equation, self.seed, indices)
                    frames = frames.to(torch.float32).cpu()
                    for traj in frames:
                        for start in range(self.n_starts):
                            reservoir.add(traj[start : start + span : self.stride].clone())
                            stats.windows += 1
                        stats.trajectories += 1
                    c += 1
            except BaseException as exc:  # handed to the consumer, which raises it
                failure.append(exc)
                with reservoir.lock:
                    reservoir.lock.notify_all()

        producer = threading.Thread(target=produce, name=f"online-solver-{stream}", daemon=True)
        producer.start()
        try:
            while True:
                while not reservoir.wait_for(self.watermark, timeout=0.5) or failure:
                    if failure:
                        raise failure[0]
                windows = torch.stack(reservoir.draw(self.batch_size))
                stats.drawn += self.batch_size
                stats.batches += 1
                yield windows[:, : self.t_in], windows[:, self.t_in :], dict(vars(stats))
        finally:
            stop.set()
