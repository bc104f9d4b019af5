"""Shared test set-up: two torch threads (the target machine has two cores), freed memory kept for
reuse as the app keeps it (``ic.keep_freed_memory``), the Playground's compiled step off by default
(``IRESNET_COMPILE=0``: a page test follows the uncompiled step's numbers and does not start a
compile beside every session; the compiled step's own tests switch it on), the ``browser``
marker."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

torch.set_num_threads(2)
os.environ["IRESNET_COMPILE"] = "0"  # before the dashboard is imported: its defaults read it

from dashboard.runtime import keep_freed_memory  # noqa: E402  (after the path is set)

keep_freed_memory()  # as the app does


@pytest.fixture(autouse=True)
def _no_compile_failure_carries_over():
    """A test that makes the compiler fail (on purpose) leaves every later test's compiled loss
    eager: each test starts and ends with no failure recorded."""
    from iresnet_core.kernels import compiled_nll

    compiled_nll._FAILURE.clear()
    yield
    compiled_nll._FAILURE.clear()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "browser: drives a real headless Chromium through Playwright (slow; needs "
        "/usr/bin/chromium)",
    )
