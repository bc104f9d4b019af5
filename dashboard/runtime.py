"""The app process's own tuning: torch's thread count in Streamlit's threads, the long-lived heap
frozen out of the garbage collector's full passes, and freed memory kept for reuse.

**Threads.** Streamlit runs every script and fragment run in a thread of its own, and each thread
that starts parallel torch work gets its own OpenMP team. Once the teams hold more threads than
there are cores, libgomp stops spinning between parallel regions and puts its workers to sleep
(``GOMP_SPINCOUNT``), so every small parallel operation pays a wake-up. Measured on the two-core
machine, from a thread other than the main one: a 100 x 100 density grid 123 ms on two torch
threads against 66 ms on one, 1000 samples through the inverse 142 against 73 ms; the Inverse page
redrawn after a move of c in the served app 158-219 ms against 118-141 ms. In the main thread two
threads win (43 and 66 ms), which is what ``benchmarks/latency.py`` measures; the app never gets
that, and its browser shares the cores. Served, with Chromium drawing on the same two cores, a
move of the Playground's c took 295-408 ms on two threads and 246-334 ms on one. So the app's
threads run torch on :data:`APP_THREADS` (:func:`use_app_threads`); the Playground's training
bursts had already moved to one thread for the same reason (``TRAIN_THREADS``). One exception,
measured: the redraws of Play's timed ticks, on :data:`PLAY_THREADS`; Play made 23.8-24.3 /
24.3-24.7 steps/s (8gaussians / checkerboard, two runs) with two there, 22.3-23.3 / 22.1-23.7
with one (runs differ by about 5 %).

**Heap.** The dashboard's process holds about 250,000 long-lived objects (torch, plotly, Streamlit,
the pre-trained models) that every full collection of Python's cyclic garbage collector walks
again: such a collection paused a slider move on an analysis page by 70-140 ms, half of the page's
300 ms budget. Once the first page has run, :func:`freeze_long_lived_heap` collects what is
garbage and moves the survivors out of the collector's sight (``gc.freeze``); full collections
then take 6-22 ms. Frozen objects are still freed when their reference count drops to zero; only
cycles among them stay, once, bounded by the first run.

**Memory.** glibc's malloc serves a block of more than 128 KB with ``mmap`` (at first; the
threshold moves only after some frees) and returns it to the system when it is freed, so the
next tensor of that size starts again from fresh pages that the kernel zeroes one fault at a time. A 200 x 200 density
grid allocates a few hundred such blocks (chunks of 4096 points times 128 units) and spent more
time in those page faults than in its matrix products: 670-720 ms on two threads, 257-265 ms with
freed blocks kept (this machine, issue 6; the training step gained 5-15%). The same two settings
as the environment's ``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_``, applied from
inside.
"""

from __future__ import annotations

import ctypes
import gc
import sys
import threading

import torch

__all__ = [
    "APP_THREADS",
    "PLAY_THREADS",
    "use_app_threads",
    "freeze_long_lived_heap",
    "keep_freed_memory",
]

#: torch intra-op threads in the app's own threads (script and fragment runs)
APP_THREADS = 1
#: torch threads for the redraws of Play's timed ticks (their training bursts run on one)
PLAY_THREADS = 2

_lock = threading.Lock()
_frozen = False


def use_app_threads(n: int = APP_THREADS) -> None:
    """Run the calling thread's torch work on ``n`` threads, :data:`APP_THREADS` unless told
    (OpenMP's thread count belongs to each thread: call it at the start of every run)."""
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def freeze_long_lived_heap() -> bool:
    """Collect, then freeze everything the collector tracks: the first call in the process only
    (True then; False after)."""
    global _frozen
    with _lock:
        if _frozen:
            return False
        gc.collect()
        gc.freeze()
        _frozen = True
        return True


_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
#: blocks up to this size come from the heap, not from mmap (glibc's own dynamic maximum)
MMAP_THRESHOLD = 32 * 2**20
#: free memory at the top of the heap kept for reuse before any is returned to the system
TRIM_THRESHOLD = 128 * 2**20


def keep_freed_memory(
    mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD
) -> bool:
    """Serve blocks up to ``mmap_threshold`` bytes from the heap and keep up to ``trim_threshold``
    bytes of freed memory for reuse. Process-wide and idempotent; ``True`` where applied (Linux
    with glibc), ``False`` elsewhere (nothing changes there)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(
        mallopt(_M_TRIM_THRESHOLD, int(trim_threshold))
    )
