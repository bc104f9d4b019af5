"""dashboard.runtime: the app process's long-lived heap frozen once, out of the garbage collector's
full passes."""

from __future__ import annotations

from tests.support import ROOT


def test_heap_is_frozen_once_per_process():
    """dashboard.runtime: the first call collects and freezes (the collector then skips those
    objects), later calls do nothing. In a fresh process, so this one's heap is left alone."""
    import subprocess
    import sys

    code = (
        "import gc; from dashboard.runtime import freeze_long_lived_heap as f; "
        "assert gc.get_freeze_count() == 0; a = f(); n = gc.get_freeze_count(); b = f(); "
        "print(a, b, n > 1000, gc.get_freeze_count() == n)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=str(ROOT)
    )
    assert out.stdout.split() == ["True", "False", "True", "True"]


def test_app_threads_apply_to_the_calling_thread():
    """use_app_threads: torch runs on APP_THREADS threads in the thread that asked (Streamlit's
    script threads), from whatever count that thread started with."""
    import threading

    import torch

    from dashboard.runtime import APP_THREADS, use_app_threads

    seen = []

    def run():
        torch.set_num_threads(2)
        use_app_threads()
        seen.append(torch.get_num_threads())

    before = torch.get_num_threads()
    t = threading.Thread(target=run)
    t.start()
    t.join()
    torch.set_num_threads(before)
    assert seen == [APP_THREADS] == [1]
