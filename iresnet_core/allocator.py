"""Keep freed memory in the process instead of handing it back to the system after every use.

glibc's malloc serves a block of more than 128 KB with ``mmap`` (at first; the threshold moves
only after some frees) and returns it to the system when it is freed, so the next tensor of that
size starts again from fresh pages that the kernel zeroes one fault at a time. A 200 x 200 density
grid allocates a few hundred such blocks (chunks of 4096 points times 128 units) and spent more
time in those page faults than in its matrix products: 670-720 ms on two threads, 257-265 ms with
freed blocks kept (this machine, issue 6; the training step gained 5-15%). The same two settings
as the environment's ``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_``, applied from inside.

Example:
    >>> keep_freed_memory() in (True, False)  # False where the C library is not glibc
    True
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["keep_freed_memory", "MMAP_THRESHOLD", "TRIM_THRESHOLD"]

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
#: blocks up to this size come from the heap, not from mmap (glibc's own dynamic maximum)
MMAP_THRESHOLD = 32 * 2**20
#: free memory at the top of the heap kept for reuse before any is returned to the system
TRIM_THRESHOLD = 128 * 2**20


def keep_freed_memory(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD) -> bool:
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
    return bool(mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)))
