"""Work taken off the way to the first chart: done at the server's start (:func:`warm_up`, which
``python -m dashboard.serve`` runs in a thread) or after the process's first page
(:func:`after_first_page`).

Streamlit runs the app's script only when a browser opens a session, so the first visitor of a
freshly started server waited for everything the Playground's first run does for the first time
in a process: importing torch, the core and the page, reading and building the pre-trained
checkpoints, the first density grids and samples, plotly's first figures. :func:`warm_up` does
that work from the moment the server answers (its health check says ok: the server's start-up is
the same with and without it, and no part of the warm-up hides in it), while the first browser
loads Streamlit's own scripts, and leaves its results where every session finds them (Python's
modules, :func:`dashboard.checkpoints.load_pretrained`, :func:`dashboard.view.shared_view`).
Nothing a session sees depends on whether it ran.

**Imports in two threads.** plotly looks numpy, pandas and ``PIL.Image`` up in ``sys.modules``
when it serialises a figure, and a module is there from the moment its import starts: a figure
drawn while another thread imports one of them fails on the half-built module ("partially
initialized module 'pandas' has no attribute 'Series'"). So the warm-up imports only what the
Playground's first run imports anyway, and the app's script waits for those imports to finish
(:func:`wait_for_imports`) before it draws; pandas, which only the other pages and scikit-learn
import, is imported in the script's own thread after the first page (:func:`after_first_page`),
before scikit-learn's background import would import it half-way.

Example:
    >>> wait_for_imports()  # no warm-up running: returns at once
    True
"""

from __future__ import annotations

import importlib
import threading

__all__ = ["warm_up", "start_warm_up", "wait_for_imports", "after_first_page"]

_imports_done = threading.Event()
_imports_done.set()  # nothing to wait for unless a warm-up runs
_after_lock = threading.Lock()
_after_done = False


def wait_for_imports(timeout_s: float = 120.0) -> bool:
    """Until a running warm-up has finished its imports (at once when none runs); False on
    timeout."""
    return _imports_done.wait(timeout_s)


def _wait_until_serving(timeout_s: float = 120.0) -> None:
    """Until Streamlit's runtime is ready for browsers (what its health check reports)."""
    import time

    from streamlit.runtime import Runtime, RuntimeState

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if Runtime.exists() and Runtime.instance().state not in (
            RuntimeState.INITIAL,
            RuntimeState.STOPPING,
            RuntimeState.STOPPED,
        ):
            return
        time.sleep(0.02)


def warm_up(after_server_start: bool = True) -> None:
    """The default Playground's first-run work, once: its imports (then :func:`wait_for_imports`
    returns), the pre-trained checkpoints, the step-0 views and figures; from the moment the
    server answers (``after_server_start``)."""
    try:
        if after_server_start:
            _wait_until_serving()
        from dashboard.runtime import keep_freed_memory, use_app_threads

        importlib.import_module("dashboard.views.playground")  # torch, the core, plotly, the page
        from dashboard.charts import playground_charts_of
        from dashboard.state import Playground, Settings
    finally:
        _imports_done.set()
    keep_freed_memory()
    use_app_threads()  # torch on one thread, as in the app's own runs
    playground_charts_of(Playground(Settings()))


def start_warm_up() -> threading.Thread:
    """:func:`warm_up` in a daemon thread; a failure is logged, never raised (the app does the
    same work itself when a page needs it)."""
    import time

    from streamlit.logger import get_logger

    log = get_logger(__name__)
    _imports_done.clear()

    def run() -> None:
        t0 = time.perf_counter()
        try:
            warm_up()
        except Exception:  # pragma: no cover - the first page does the work itself
            log.exception("warm-up failed; the first page does the work itself")
            return
        log.info("warm-up done in %.1f s", time.perf_counter() - t0)

    thread = threading.Thread(target=run, name="warm-up", daemon=True)
    thread.start()
    return thread


def after_first_page() -> threading.Thread | None:
    """Once per process, after the first page has been drawn: import pandas here (see the
    module's note), then, in a background thread (returned; ``None`` on later calls),
    scikit-learn's generators (the first pick of moons, circles or swissroll) and torch's
    optimiser machinery (the first Play or Step: torch's first optimiser imports
    ``torch._dynamo``), whose objects are then frozen out of the garbage collector's full passes
    (:func:`dashboard.runtime.freeze_later_imports`)."""
    global _after_done
    with _after_lock:
        if _after_done:
            return None
        _after_done = True
    import pandas  # noqa: F401  (pulls in pyarrow too)

    def rest() -> None:
        import torch

        import iresnet_core as ic
        from dashboard.runtime import freeze_later_imports

        ic.datasets.preload_generators().join()
        torch.optim.Adam([torch.zeros(1, requires_grad=True)])
        freeze_later_imports()  # the full collections would walk all of it (dashboard/runtime.py)

    thread = threading.Thread(target=rest, name="after-first-page", daemon=True)
    thread.start()
    return thread
