"""The app process's own tuning: torch's thread count in Streamlit's threads, the long-lived heap
frozen out of the garbage collector's full passes, and freed memory kept for reuse. Each choice
rests on a measurement in docs/benchmarks.md (the latency section).

**Threads.** Streamlit runs every script and fragment run in a thread of its own, and each thread
that starts parallel torch work gets its own OpenMP team. Once the teams hold more threads than
there are cores, libgomp stops spinning between parallel regions and puts its workers to sleep
(``GOMP_SPINCOUNT``), so every small parallel operation pays a wake-up, and the browser drawing
the charts shares the same cores. So the app's threads run torch on :data:`APP_THREADS`
(:func:`use_app_threads`), the Playground's training bursts on one, and the redraws of Play's
timed ticks on :data:`PLAY_THREADS`.

**Heap.** The process holds a few hundred thousand long-lived objects (torch, plotly, Streamlit,
the pre-trained models) that every full collection of Python's cyclic garbage collector walks
again, pausing a slider move. Once the first page has run, :func:`freeze_long_lived_heap` collects
what is garbage and moves the survivors out of the collector's sight (``gc.freeze``). Frozen
objects are still freed when their reference count drops to zero; only cycles among them stay,
once, bounded by the first run. Modules imported after that (in the background, after the first
page: dashboard/warm_up.py) are frozen by :func:`freeze_later_imports` once imported: a full
collection walking them paused every run again (docs/benchmarks.md, "Time to first chart").

**Memory.** glibc's malloc serves a block of more than 128 KB with ``mmap`` at first and returns
it to the system when it is freed, so the next tensor of that size starts again from fresh pages
that the kernel zeroes one fault at a time; a density grid allocates hundreds of such blocks.
:func:`keep_freed_memory` applies the two settings of the environment's
``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_`` from inside the process.

Example:
    >>> use_app_threads(1)
    >>> import torch; torch.get_num_threads()
    1
    >>> keep_freed_memory() in (True, False)  # False where the C library is not glibc
    True
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
    "freeze_later_imports",
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


def freeze_later_imports() -> None:
    """Freeze what was imported since :func:`freeze_long_lived_heap`: the young generations are
    collected first (import-time garbage), the survivors leave the full passes too. A full
    collection here would stop every thread for as long as the one it saves."""
    with _lock:
        gc.collect(1)
        gc.freeze()


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
