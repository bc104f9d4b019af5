"""The background compiler (``iresnet_core.kernels.compile_worker``): a compile in a child process,
the graph loaded here in a thread that ends, training going on eagerly meanwhile on one thread."""

import os
import threading
import time

import pytest
import torch
from test_compiled_nll import CFG, DATA
from torch._dynamo.callback import callback_handler

import iresnet_core as ic
from iresnet_core.kernels import compile_worker, compiled_nll
from iresnet_core.kernels.compiled_nll import CompiledNLL


def test_a_background_compile_trains_eagerly_then_takes_the_graph_without_compiling_again():
    # The worker thread keeps the torch thread count it started with (OpenMP's is per thread) and
    # dynamo guards on the count: train at another one than the worker's.
    compile_worker.Worker.start()
    threads = 1 if torch.get_num_threads() > 1 else 2
    with ic.torch_threads(threads):
        # tanh, where the other tests take ELU: a graph of its own, so the worker really compiles
        trainer = ic.Trainer(
            ic.build_flow(ic.FlowConfig(**CFG, activation="tanh")),
            DATA,
            lr=3e-2,
            batch_size=160,
            seed=0,
            compile="background",
        )
        assert trainer.compile_state in ("compiling", "compiled")
        first = trainer.step(3)["test_nll"]  # trains meanwhile, eagerly
        assert trainer._compiled.wait(timeout=300), (
            "the background compile did not finish in 5 minutes"
        )
        assert trainer.compile_state == "compiled" and compiled_nll.compile_failure() is None
        here: list[
            str
        ] = []  # compiles that start in this thread (the worker may serve other requests)

        def note(_args) -> None:
            if threading.current_thread() is threading.main_thread():
                here.append("compile")

        callback_handler.register_start_callback(note)
        try:
            after = trainer.step(80)["test_nll"]
            # a second flow of the same architecture (a Playground's reset): compiled at once, no
            # child process, and its first compiled step compiles nothing either
            submitted: list = []
            original = compile_worker.Worker.submit
            compile_worker.Worker.submit = classmethod(lambda cls, *a: submitted.append(a))  # type: ignore[method-assign]
            try:
                again = ic.Trainer(
                    ic.build_flow(ic.FlowConfig(**CFG, activation="tanh")),
                    DATA,
                    lr=3e-2,
                    batch_size=160,
                    seed=1,
                    compile="background",
                )
            finally:
                compile_worker.Worker.submit = original  # type: ignore[method-assign]
            assert again.compile_state == "compiled" and not submitted
            again.step(3)
            assert again._compiled.applies()
        finally:
            callback_handler.remove_start_callback(note)
    assert not here, "a compiled step in this thread compiled again"
    assert trainer._compiled.applies()
    assert after < first - 0.15


def _threads() -> set[str]:
    return set(os.listdir("/proc/self/task"))


def _two_thread_work() -> None:
    with ic.torch_threads(2):
        a = torch.randn(400, 400)
        for _ in range(20):
            a = torch.tanh(a @ a.t() / 400)  # parallel regions: this thread gets an OpenMP team


@pytest.mark.skipif(
    not os.path.isdir("/proc/self/task"), reason="reads the process's threads from /proc"
)
def test_the_worker_loads_in_a_thread_that_ends_and_takes_its_openmp_team_along():
    """A thread that ran torch on two threads keeps an OpenMP team while it lives, and once a
    process has more such threads than cores every team sleeps between operations: a training
    thread beside the worker ran at half its steps a second. The worker loads each graph in a
    thread that ends (compile_worker.in_passing_thread)."""
    # the control: work in a thread that stays leaves its team's thread behind while it lives
    release, started = threading.Event(), threading.Event()

    def stays() -> None:
        _two_thread_work()
        started.set()
        release.wait()

    before = _threads()
    keeper = threading.Thread(target=stays, daemon=True)
    keeper.start()
    started.wait(60)
    assert len(_threads() - before) >= 2  # the thread itself and its team's
    release.set()
    keeper.join()
    # the same work in a passing thread: nothing stays
    before = _threads()
    compile_worker.in_passing_thread(_two_thread_work)
    deadline = time.monotonic() + 10
    while _threads() - before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _threads() - before
    with pytest.raises(ZeroDivisionError):  # and what it raised reaches the caller
        compile_worker.in_passing_thread(lambda: 1 / 0)
    # the worker's in-process load takes such a thread
    seen = []

    def fake_load(twin, batch_size, threads, dtype):
        seen.append(threading.current_thread().name)

    original_load, original_child = compile_worker.load_graph, compile_worker.compile_in_child
    compile_worker.load_graph, compile_worker.compile_in_child = fake_load, lambda *a, **k: None
    try:
        loss_fn = CompiledNLL(
            ic.build_flow(ic.FlowConfig(**CFG, activation="softplus")),
            background=True,
            batch_size=77,
        )
        assert loss_fn.wait(60)
    finally:
        compile_worker.load_graph, compile_worker.compile_in_child = original_load, original_child
    assert seen == ["iresnet-compile-load"]


def test_while_the_compiler_runs_beside_the_eager_steps_take_one_thread(monkeypatch):
    """Two threads would wait at every barrier for the core the compiler holds
    (Trainer._one_step)."""
    monkeypatch.setattr(
        compile_worker.Worker, "submit", classmethod(lambda cls, *a: None)
    )  # compiling for ever
    trainer = ic.Trainer(
        ic.build_flow(ic.FlowConfig(**CFG)),
        DATA,
        lr=3e-2,
        batch_size=100,
        seed=0,
        compile="background",
    )
    seen: list[int] = []
    eager_nll = trainer.flow.nll
    monkeypatch.setattr(
        trainer.flow,
        "nll",
        lambda *a, **k: seen.append(torch.get_num_threads()) or eager_nll(*a, **k),
    )
    with ic.torch_threads(2):
        trainer.step(3)
        assert trainer.compile_state == "compiling" and seen == [1, 1, 1]
        assert torch.get_num_threads() == 2  # given back after each step
        trainer.set_compile(False)
        trainer.step(2)
    assert seen[3:] == [2, 2]


def test_the_child_process_compiles_or_says_why_not():
    ok = compile_worker.compile_in_child(
        ic.FlowConfig(**CFG).to_dict(), 200, torch.get_num_threads(), torch.float32
    )
    assert ok is None
    svd = compile_worker.compile_in_child(
        ic.FlowConfig(**{**CFG, "spectral": "exact"}).to_dict(), 200, 1, torch.float32
    )
    assert svd is not None and "ValueError" in svd and "power iteration" in svd


def test_a_new_batch_size_compiles_aside_again_in_the_background():
    trainer = ic.Trainer(
        ic.build_flow(ic.FlowConfig(**CFG)),
        DATA,
        lr=1e-2,
        batch_size=200,
        seed=0,
        compile="background",
    )
    first = trainer._compiled
    trainer.set_batch_size(200)
    assert trainer._compiled is first  # the same size: nothing to compile
    trainer.set_batch_size(100)
    assert (
        trainer.batch_size == 100
        and trainer._compiled is not first
        and trainer._loss is trainer._compiled
    )
    assert trainer._compiled.wait(timeout=300) and trainer.compile_state == "compiled"
    assert trainer.step(3)["step"] == 3
