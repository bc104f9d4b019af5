"""``keep_freed_memory``: freed tensor memory is reused, not faulted in again page by page.

Counted, not timed: the minor page faults of a loop that allocates six 4 MB tensors and frees them
together (as a density grid does per chunk), in a fresh interpreter each (the setting is
process-wide). Without it glibc hands the memory back to the system and each round faults its
~6000 pages in again.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dashboard.runtime import keep_freed_memory
from tests.support import ROOT

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="glibc's malloc (Linux)"
)

_LOOP = """
import resource, sys, torch
from dashboard.runtime import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
torch.set_num_threads(1)
def chunk():  # a few 4 MB tensors alive together, then freed together: one chunk of a grid
    return [torch.empty(1024, 1024).fill_(1.0) for _ in range(6)]
for _ in range(3):
    chunk()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    chunk()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    # glibc's starting threshold, fixed: its dynamic rule sometimes keeps such blocks anyway (about
    # one fresh interpreter in six here), which would make the comparison a matter of chance
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(128 * 1024))
    out = subprocess.run(
        [sys.executable, "-c", _LOOP, mode],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=ROOT,
    )
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_freed_blocks_are_reused_instead_of_faulted_in_again():
    kept, default = _faults("keep"), _faults("default")
    # 20 rounds of 6 x 1024 pages: reused, at most one round's worth faulted in again (a busy
    # machine has shown 2048, two tensors' once), against every round's without the setting
    assert kept < 6 * 1024
    assert default > 20 * 6 * 1000  # glibc's default returns them and faults them in again


def test_it_is_idempotent_and_says_whether_it_applied():
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True
