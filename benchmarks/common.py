"""What every benchmark shares: the machine and versions, thread settings, interleaved timing.

The machine is shared and noisy, so a comparison is never two separate runs: the contenders run
in alternating blocks inside one loop (:func:`interleaved`), the order rotating every round, and
each figure is the median over rounds. A ratio is the median of per-round ratios.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

import iresnet_core as ic
from dashboard.runtime import keep_freed_memory

__all__ = [
    "THREADS",
    "setup_torch",
    "machine_info",
    "reference_speed",
    "interleaved",
    "median",
    "timed",
    "empty_compile_cache",
]

THREADS = 2


def setup_torch() -> None:
    """Two intra-op threads (the issue's setting), one inter-op thread, freed memory kept for reuse
    (``ic.keep_freed_memory``, as the Playground does; every model in the process gains alike)."""
    keep_freed_memory()
    torch.set_num_threads(THREADS)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set once in this process
        pass


@contextlib.contextmanager
def empty_compile_cache() -> Iterator[str]:
    """A first compile on a new machine: inductor's cache on disk empty (a temporary one, for this
    process and the children it starts meanwhile) and nothing compiled in this process. Leave it
    only once a background compile started inside is over: its child reads the variable."""
    import torch._dynamo

    from iresnet_core.kernels import compiled_nll

    old = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="inductor-cold-") as cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
        compiled_nll.reset_compiled()
        torch._dynamo.reset()
        try:
            yield cache
        finally:
            if old is None:
                os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
            else:
                os.environ["TORCHINDUCTOR_CACHE_DIR"] = old


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


def reference_speed(blocks: int = 5, steps: int = 5) -> dict[str, Any]:
    """Milliseconds per training step of our default flow (``ic.FlowConfig()``, batch 500, from
    scratch) on one thread: the median over ``blocks`` blocks of ``steps`` steps, in that thread's
    CPU time (what a core of this machine does with the step) and in wall time (what it got).

    Taken at the start of every section. ``make bench --only`` keeps sections of earlier runs, and
    those may have run on another machine of the same description (a session's machine is drawn
    anew, and their speeds differ by up to 2x): this figure, the same workload everywhere, says
    whether two sections' absolute numbers are comparable. Ratios measured inside one section are.
    """
    data = ic.datasets.sample("8gaussians", 4000, seed=0)
    with ic.torch_threads(1):
        trainer = ic.Trainer(ic.build_flow(ic.FlowConfig()), data, batch_size=500, seed=0)
        trainer.step(3)  # ActNorm initialisation and warm-up
        trainer.flow.train()
        cpu, wall = [], []
        for _ in range(blocks):
            c0, t0 = time.thread_time(), time.perf_counter()
            for _ in range(steps):
                # the optimiser steps only, as the throughput's one-thread table
                trainer._one_step()
            cpu.append((time.thread_time() - c0) / steps)
            wall.append((time.perf_counter() - t0) / steps)
    return {
        "step_cpu_ms": 1e3 * median(cpu),
        "step_wall_ms": 1e3 * median(wall),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }


def median(xs: list[float]) -> float:
    xs = [x for x in xs if x == x]
    return float(statistics.median(xs)) if xs else float("nan")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def interleaved(contenders: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run every contender once per round, rotating the order; each call returns its own figure
    (steps/s or seconds). Returns the per-round figures of each contender."""
    names = list(contenders)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            out[n].append(float(contenders[n]()))
    return out


def one_thread(
    run: Callable[[bool, Callable], dict[str, Any]], quick: bool, log: Callable
) -> dict[str, Any]:
    """``run(quick, log)`` with one torch thread, the previous setting restored afterwards."""
    with ic.torch_threads(1):
        return run(quick, log)
