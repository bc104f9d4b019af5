"""The background compiler of :class:`iresnet_core.kernels.compiled_nll.CompiledNLL`
(``background=True``, the Playground's default): one worker thread, a child process per request,
the graph loaded here.

Compiling the default flow's loss takes half a minute, most of it in inductor's Python, which holds
the interpreter's lock and would starve a training thread beside it. So each request is compiled
twice: first in a child process (:func:`compile_in_child`; its Python runs on a core of its own,
niced, and leaves the graph in inductor's cache on disk), then in this process from that cache in
a few seconds (:func:`load_graph`, in a thread that ends: :func:`in_passing_thread`). Meanwhile the
owner's calls take the eager loss; when the graph is loaded the owner is marked ready and its next
call takes it. A request whose owner is gone by its turn (a Playground that moved on to another
architecture) is skipped.

Example (a function run in a thread of its own that ends with it; what it raises reaches here):
    >>> in_passing_thread(print, "loaded")
    loaded
"""

from __future__ import annotations

import copy
import dataclasses
import queue
import threading
import weakref
from collections.abc import Callable

import torch

from iresnet_core.flows.actnorm import ActNorm
from iresnet_core.flows.flow import Flow
from iresnet_core.kernels.compiled_nll import CompiledNLL, compile_failure, record_failure
from iresnet_core.training.threads import torch_threads

__all__ = [
    "submit",
    "compile_in_child",
    "load_graph",
    "in_passing_thread",
    "Worker",
    "CHILD_NICENESS",
]

#: The child compiler's ``nice`` increment: it takes the CPU time a live page leaves.
CHILD_NICENESS = 10


def submit(owner: CompiledNLL, flow: Flow, batch_size: int) -> None:
    """Compile ``owner``'s graph for batches of ``batch_size`` in the background; ``owner`` is
    marked ready when it is loaded (or has failed). ``flow`` is copied here, in the caller's
    thread: the original may be training while the worker compiles."""
    Worker.submit(owner, warm_up_copy(flow), batch_size)


def warm_up_copy(flow: Flow) -> Flow:
    """A copy of ``flow`` to compile on, its ActNorms marked initialised and its log-det exact."""
    with torch.no_grad():
        twin = copy.deepcopy(flow)
    twin.cfg = dataclasses.replace(flow.cfg, logdet="exact")
    return _as_initialised(twin).train()


def _as_initialised(flow: Flow) -> Flow:
    """``flow`` with its ActNorms marked initialised (a graph to compile, not a model to train)."""
    for m in flow.layers:
        if isinstance(m, ActNorm):
            m.initialized.fill_(1)
    return flow


def compile_in_child(
    cfg: dict, batch_size: int, threads: int, dtype: torch.dtype, timeout: float = 1800
) -> str | None:
    """Compile the graph of a flow of ``cfg`` in a child process, which leaves it in inductor's
    cache on disk for this process to load; ``None`` when it did, else what went wrong."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    job = json.dumps(
        {
            "cfg": cfg,
            "batch_size": batch_size,
            "threads": threads,
            "dtype": str(dtype).split(".")[-1],
        }
    )
    root = str(Path(__file__).resolve().parent.parent)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p),
    }
    # one compiler process, not a pool of one per core: the training beside keeps the other core
    env.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")
    code = "import sys; from iresnet_core.kernels.compile_worker import child_main; child_main(sys.argv[1])"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, job],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return (
        None
        if done.returncode == 0
        else (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
    )


def child_main(job_json: str) -> None:
    """The child of :func:`compile_in_child`: build the flow, compile its loss, run it once
    forward and backward (which compiles the backward), exit. It runs at a lower priority
    (:data:`CHILD_NICENESS`), so that a page training and drawing meanwhile is not slowed by it."""
    import json
    import os

    from iresnet_core.config import FlowConfig
    from iresnet_core.flows.build import build_flow

    job = json.loads(job_json)
    try:  # in the background: a live page's training and drawing come first
        os.nice(CHILD_NICENESS)
    except (AttributeError, OSError):  # pragma: no cover  (no nice on this platform)
        pass
    torch.set_num_threads(int(job["threads"]))
    flow = _as_initialised(
        build_flow(FlowConfig.from_dict(job["cfg"])).to(getattr(torch, job["dtype"]))
    )
    loss_fn = CompiledNLL(flow.train(), threads=int(job["threads"]))
    x = torch.randn(int(job["batch_size"]), flow.dim, dtype=loss_fn.flat.data.dtype)
    loss_fn(x).backward()
    failure = compile_failure()
    if failure:
        raise SystemExit(failure)


def load_graph(twin: Flow, batch_size: int, threads: int, dtype: torch.dtype) -> None:
    """Compile ``twin``'s loss in this process, forward and backward (from the cache on disk where
    a child left it)."""
    x = torch.randn(batch_size, twin.dim, generator=torch.Generator().manual_seed(0), dtype=dtype)
    # torch's thread count is per thread here (OpenMP's), and dynamo guards on it: compiled at
    # another count than the owner's, the graph would compile again there
    with torch.enable_grad(), torch_threads(threads):
        CompiledNLL(twin, threads=threads)(x).backward()  # the forward graph, then the backward's


def in_passing_thread(fn: Callable[..., None], *args: object) -> None:
    """``fn(*args)`` in a thread of its own that ends with it, re-raising what it raised.

    A thread that runs torch on more than one thread gets an OpenMP team of its own, and GNU
    OpenMP keeps it for the thread's life. Once a process has more such threads than cores, every
    team stops spinning between parallel regions and sleeps instead: every small operation of the
    training thread then waits for its team to wake, which halved a 2-thread step (37 -> 17 steps
    a second, eager or compiled alike). A team goes with its thread, so the worker loads in one
    that ends."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            fn(*args)
        except BaseException as exc:  # noqa: BLE001  (handed to the caller)
            failure.append(exc)

    thread = threading.Thread(target=run, name="iresnet-compile-load", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


class Worker:
    """The one thread that compiles in the background, one request after another (the module
    docstring tells how)."""

    _queue: queue.SimpleQueue[tuple] = queue.SimpleQueue()
    _thread: threading.Thread | None = None
    _start_lock = threading.Lock()

    @classmethod
    def submit(cls, owner: CompiledNLL, twin: Flow, batch_size: int) -> None:
        """Queue ``twin`` (a :func:`warm_up_copy`) for ``owner``, and start the worker unless it
        runs."""
        cls._queue.put((weakref.ref(owner), twin, int(batch_size), owner.threads))
        cls.start()

    @classmethod
    def start(cls) -> None:
        """Start the worker thread unless it runs."""
        with cls._start_lock:
            if cls._thread is None or not cls._thread.is_alive():
                cls._thread = threading.Thread(
                    target=cls._serve, name="iresnet-compile", daemon=True
                )
                cls._thread.start()

    @classmethod
    def _serve(cls) -> None:
        while True:
            ref, twin, batch_size, threads = cls._queue.get()
            if ref() is None:
                continue
            try:
                dtype = next(twin.parameters()).dtype
                # A child that fails leaves nothing on disk: compiling here then says why.
                compile_in_child(twin.cfg.to_dict(), batch_size, threads, dtype)
                if ref() is not None:
                    in_passing_thread(load_graph, twin, batch_size, threads, dtype)
            except Exception as exc:  # noqa: BLE001  (not the compiler's: the copy itself failed)
                record_failure(exc)
            owner = ref()
            if owner is not None:
                owner.mark_compiled()
            del twin, owner
