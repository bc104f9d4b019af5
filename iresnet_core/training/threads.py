"""Torch's intra-op thread count for a block of work, restored afterwards.

Every parallel torch operation meets its OpenMP team at a barrier, so with two threads on two
cores a single step waits whenever another process (a browser rendering the charts) has taken one
of the cores. A training step of many small operations meets that barrier hundreds of times, so
the trainer runs the C engine's step (whose threads are its own) and the Playground its bursts on
one torch thread (see docs/benchmarks.md).

Example:
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["torch_threads"]


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the previous count."""
    if n < 1:
        raise ValueError(f"need at least one thread, got {n}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
