"""Shorter garbage-collection pauses in the app's process: its long-lived heap frozen once.

The dashboard's process holds about 250,000 long-lived objects (torch, plotly, Streamlit, the
pre-trained models) that every full collection of Python's cyclic garbage collector walks again:
such a collection paused a slider move on an analysis page by 70-140 ms, half of the page's
300 ms budget. Once the first page has run, :func:`freeze_long_lived_heap` collects what is
garbage and moves the survivors out of the collector's sight (``gc.freeze``); full collections
then take 6-22 ms (``benchmarks/latency.py``, the analysis pages' rows). Frozen objects are still
freed when their reference count drops to zero; only cycles among them stay, once, bounded by
the first run.
"""

from __future__ import annotations

import gc
import threading

__all__ = ["freeze_long_lived_heap"]

_lock = threading.Lock()
_frozen = False


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
