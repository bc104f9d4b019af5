"""What every benchmark shares: the machine and versions, thread settings, interleaved timing.

The machine is shared and noisy, so a comparison is never two separate runs: the contenders run
in alternating blocks inside one loop (:func:`interleaved`), the order rotating every round, and
each figure is the median over rounds. A ratio is the median of per-round ratios.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import iresnet_core as ic
from dashboard.runtime import keep_freed_memory
from iresnet_core.training.threads import torch_threads

__all__ = [
    "THREADS",
    "MAX_LOAD_PER_CORE",
    "setup_torch",
    "machine_info",
    "reference_speed",
    "interleaved",
    "median",
    "timed",
    "for_seconds",
    "ratios",
    "load_avg",
]

THREADS = 2
#: Above this 1-minute load average per core the machine is oversubscribed: a parallel torch
#: operation then waits at its barrier for a descheduled thread, so wall-clock passes on two torch
#: threads give way to CPU-time ones on one (``benchmarks.throughput``, ``benchmarks.fit``).
MAX_LOAD_PER_CORE = 2.0


def setup_torch() -> None:
    """Two intra-op threads (the issue's setting), one inter-op thread, freed memory kept for reuse
    (``dashboard.runtime.keep_freed_memory``, as the Playground does; every model in the process
    gains alike)."""
    keep_freed_memory()
    torch.set_num_threads(THREADS)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set once in this process
        pass


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(name: str) -> str:
    import importlib.metadata as md

    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, Any]:
    """Cores, CPU model, load at the start, and the versions that matter."""
    try:
        load = os.getloadavg()
    except OSError:  # pragma: no cover
        load = (float("nan"),) * 3
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_avg_at_start": [round(x, 2) for x in load],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "normflows": _version("normflows"),
        "streamlit": _version("streamlit"),
        "plotly": _version("plotly"),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def load_avg() -> list[float]:
    """The machine's load average over 1, 5 and 15 minutes (runnable processes; 2 means both cores
    busy), rounded."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return [float("nan")] * 3


def reference_speed(blocks: int = 5, steps: int = 5) -> dict[str, Any]:
    """Milliseconds per training step of a fixed workload on one thread: our default flow
    (``ic.FlowConfig()``, batch 500, from scratch) through the torch path (``native=False``, lr
    1e-3), the median over ``blocks`` blocks of ``steps`` steps, in the process's CPU time (what a
    core of this machine does with the step) and in wall time (what it got).

    Taken at the start of every section. ``--only`` keeps sections of earlier runs, and those may
    have run on another machine of the same description (a session's machine is drawn anew, and
    their speeds differ by up to 2x): this figure, the same workload everywhere, says whether two
    sections' absolute numbers are comparable. Ratios measured inside one section are.
    """
    data = ic.datasets.sample("8gaussians", 4000, seed=0)
    with torch_threads(1):
        trainer = ic.Trainer(ic.build_flow(ic.FlowConfig()), data, lr=1e-3, native=False)
        trainer.step(3)  # ActNorm initialisation and warm-up
        cpu, wall = [], []
        for _ in range(blocks):
            c0, t0 = time.process_time(), time.perf_counter()
            trainer.step(steps)
            cpu.append((time.process_time() - c0) / steps)
            wall.append((time.perf_counter() - t0) / steps)
    return {
        "step_cpu_ms": 1e3 * median(cpu),
        "step_wall_ms": 1e3 * median(wall),
        "load_avg": load_avg(),
    }


def median(xs: list[float]) -> float:
    """The median of the figures that are not NaN (NaN when none is)."""
    xs = [x for x in xs if x == x]
    return float(statistics.median(xs)) if xs else float("nan")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """``(wall seconds, result)`` of ``fn()``."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def for_seconds(
    call: Callable[[], Any],
    steps_per_call: int,
    seconds: float,
    clock: Callable[[], float] = time.perf_counter,
) -> Callable[[], float]:
    """A contender for :func:`interleaved`: one untimed ``call()``, then ``call()``
    (``steps_per_call`` training steps) again and again until ``seconds`` have passed on
    ``clock``, at least once; returns steps per second of that clock.

    A block of fixed length in time, not in steps, gives every contender the same budget per round
    whatever its speed, and a section the same length whatever the machine's load. Everything a
    timed call does counts, a trainer's own periodic work included; the untimed call takes what
    came due while the other contenders ran (our trainer's evaluation, due once a second of wall
    time), so that inside the block that work falls as often as in a loop of its own.

    Example:
        >>> rate = for_seconds(lambda: time.sleep(0.01), steps_per_call=1, seconds=0.05)
        >>> 0 < rate() <= 100
        True
    """

    def rate() -> float:
        call()
        done, t0 = 0, clock()
        while True:
            call()
            done += steps_per_call
            elapsed = clock() - t0
            if elapsed >= seconds:
                return done / elapsed

    return rate


def interleaved(contenders: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run every contender once per round, rotating the order; each call returns its own figure
    (steps/s or seconds). Returns the per-round figures of each contender.

    Example:
        >>> calls = []
        >>> def contender(name, figure):
        ...     return lambda: calls.append(name) or figure
        >>> out = interleaved({"a": contender("a", 1.0), "b": contender("b", 2.0)}, rounds=2)
        >>> calls, out
        (['a', 'b', 'b', 'a'], {'a': [1.0, 1.0], 'b': [2.0, 2.0]})
    """
    names = list(contenders)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            out[n].append(float(contenders[n]()))
    return out


def ratios(a: list[float], b: list[float]) -> dict[str, float]:
    """The per-round ratios ``a / b`` of two contenders of the same rounds: their median, fastest
    and slowest (the figure a comparison reports, and its spread).

    Example:
        >>> ratios([2.0, 3.0, 4.0], [1.0, 1.0, 2.0])
        {'ratio': 2.0, 'ratio_min': 2.0, 'ratio_max': 3.0}
    """
    rs = [x / y for x, y in zip(a, b)]
    return {"ratio": median(rs), "ratio_min": min(rs), "ratio_max": max(rs)}
