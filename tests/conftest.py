"""Shared test set-up: two torch threads (the target machine has two cores), freed memory kept for
reuse as the app keeps it (``keep_freed_memory``), the ``browser`` marker."""

from __future__ import annotations

import pytest
import torch

from dashboard.runtime import keep_freed_memory

torch.set_num_threads(2)

keep_freed_memory()  # as the app does


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "browser: drives a real headless Chromium through Playwright (slow; needs "
        "/usr/bin/chromium)",
    )
