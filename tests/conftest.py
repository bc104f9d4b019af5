"""Shared test set-up: two torch threads (the target machine has two cores), freed memory kept for
reuse as the app keeps it (``ic.keep_freed_memory``), the ``browser`` marker."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

torch.set_num_threads(2)

from iresnet_core.allocator import keep_freed_memory  # noqa: E402  (after the path is set)

keep_freed_memory()  # as the app does


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives a real headless Chromium through Playwright (slow; needs /usr/bin/chromium)")
