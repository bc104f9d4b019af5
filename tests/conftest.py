"""Shared test set-up: two torch threads (the target machine has two cores) and freed memory kept
for reuse as the app keeps it (``keep_freed_memory``). Nothing else is switched: every test runs
the defaults the product ships (the C engine where a C compiler is found); a test that needs the
torch engine asks for it. Markers and the per-test timeout are in ``pytest.ini``."""

from __future__ import annotations

import torch

from dashboard.runtime import keep_freed_memory

torch.set_num_threads(2)

keep_freed_memory()  # as the app does
