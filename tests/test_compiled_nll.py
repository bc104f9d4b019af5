"""The compiled training loss: the eager loss's numbers and gradients, and the eager loss wherever
it does not apply or compiling fails."""

import os
import threading
import time

import pytest
import torch
from torch._dynamo.callback import callback_handler

import iresnet_core as ic
from iresnet_core import compiled_nll
from iresnet_core.compiled_nll import CompiledNLL, residual_exact
from iresnet_core.flat_params import FlatParameters
from iresnet_core.iresnet import InvertibleResidualBlock

# One architecture for every compiled call here: each new one costs a compile (about 10 s).
CFG = dict(n_blocks=2, hidden=(16, 16), seed=0)
DATA = torch.as_tensor(ic.datasets.sample("moons", 1000, seed=0), dtype=torch.float32)


@pytest.fixture(autouse=True)
def _fresh_failure_state():
    compiled_nll._FAILURE.clear()
    yield
    compiled_nll._FAILURE.clear()


def _ready_flow(**kw) -> ic.Flow:
    """A small i-ResNet whose ActNorms have seen a batch, with the soft rule W / (sigma / c) active
    on each block's middle map (sigma 4x the initial c) and not on the others (half of it).

    The maps start with sigma = c exactly, where the rule's gradient has a kink: float32 rounding
    decides which side a step sees, so a comparison there compares roundings, not passes."""
    flow = ic.build_flow(ic.FlowConfig(**{**CFG, **kw}))
    flow.train()
    flow.nll(DATA[:200])  # initialises the ActNorms
    with torch.no_grad():
        for block in (m for m in flow.layers if isinstance(m, InvertibleResidualBlock)):
            for k, lin in enumerate(block.g.linears):
                lin.weight.mul_(4.0 if k == 1 else 0.5)
    return flow


def _loss_and_grads(flow: ic.Flow, flat: FlatParameters, loss_fn, x):
    state = {k: v.clone() for k, v in flow.state_dict().items()}  # u, v: both runs start alike
    flat.zero_grad()
    loss = loss_fn(x)
    loss.backward()
    grads = [p.grad.clone() for p in flow.parameters()]
    flow.load_state_dict(state)
    return loss.detach(), grads


def test_residual_exact_matches_autograd_jacobian_logdet():
    torch.manual_seed(0)
    act = ic.activations.get_activation("elu")
    ws = [torch.randn(8, 2) * 0.5, torch.randn(8, 8) * 0.3, torch.randn(2, 8) * 0.3]
    bs = [torch.randn(8) * 0.1, torch.randn(8) * 0.1, torch.randn(2) * 0.1]
    x = torch.randn(50, 2, dtype=torch.float64)
    ws, bs = [w.double() for w in ws], [b.double() for b in bs]

    def g(x1):
        h = x1
        for k, (w, b) in enumerate(zip(ws, bs)):
            h = torch.nn.functional.linear(h, w, b)
            if k < len(ws) - 1:
                h = torch.nn.functional.elu(h)
        return h

    jac = torch.stack([torch.autograd.functional.jacobian(g, xi.unsqueeze(0)).squeeze() for xi in x])
    y, ld = residual_exact(act, x, ws, bs)
    assert torch.allclose(y, x + g(x), atol=1e-12)
    assert torch.allclose(ld, torch.linalg.slogdet(torch.eye(2, dtype=x.dtype) + jac)[1], atol=1e-10)
    bias, log_scale = torch.tensor([0.3, -0.2], dtype=x.dtype), torch.tensor([0.1, -0.4], dtype=x.dtype)
    ya, lda = residual_exact(act, x, ws, bs, bias, log_scale)
    assert torch.allclose(ya, (y + bias) * log_scale.exp(), atol=1e-12)
    assert torch.allclose(lda, ld + log_scale.sum(), atol=1e-12)


@pytest.mark.parametrize("group_blocks", [compiled_nll.GROUP_BLOCKS, 1])
def test_compiled_loss_and_gradients_are_the_eager_ones(group_blocks, monkeypatch):
    monkeypatch.setattr(compiled_nll, "GROUP_BLOCKS", group_blocks)  # 1: a chain of two graphs
    flow = _ready_flow()
    x = DATA[200:700]
    sigma = [float(torch.linalg.matrix_norm(lin.weight.detach(), ord=2)) / flow.cfg.coeff for lin in flow._spectral()]
    assert max(sigma) > 2 and min(sigma) < 0.9  # the soft rule in play and not, far from its kink
    flat = FlatParameters(list(flow.parameters()))  # as a Trainer binds them
    eager_loss, eager_grads = _loss_and_grads(flow, flat, flow.nll, x)
    loss_fn = CompiledNLL(flow, flat)
    assert len(loss_fn._groups) == 2 // min(group_blocks, 2)
    assert loss_fn.applies()
    loss, grads = _loss_and_grads(flow, flat, loss_fn, x)
    assert float(flat.grad.norm()) > 0  # the gradients landed in the flat vector, which Adam reads
    assert compiled_nll.compile_failure() is None
    assert float(loss) == pytest.approx(float(eager_loss), rel=1e-5)
    scale = max(float(w.abs().max()) for w in eager_grads)
    for got, want in zip(grads, eager_grads):
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-6 * scale)
    diff = torch.cat([(g - w).flatten() for g, w in zip(grads, eager_grads)]).norm()
    assert float(diff) < 1e-5 * float(torch.cat([w.flatten() for w in eager_grads]).norm())


@pytest.mark.parametrize("n_blocks, runs", [(32, 8), (6, 2), (7, 7), (2, 1)])
def test_the_flow_is_cut_into_alike_runs_of_blocks_that_cover_it(n_blocks, runs):
    flow = ic.build_flow(ic.FlowConfig(n_blocks=n_blocks, hidden=(8, 8)))
    flat = FlatParameters([p for p in flow.parameters() if p.requires_grad])
    groups, maps, coeffs = compiled_nll._groups_of(list(flow.layers), flat)
    assert len(groups) == runs and len({g.spec for g in groups}) == 1  # one graph serves every run
    assert groups[0].params.start == 0 and groups[-1].params.stop == flat.data.numel()
    assert all(a.params.stop == b.params.start and a.uv.stop == b.uv.start for a, b in zip(groups, groups[1:]))
    assert groups[-1].uv.stop == sum(lin.u.numel() + lin.v.numel() for lin in maps) and len(coeffs) == 3 * n_blocks
    # parameters that are not one stretch per run (the first block's first weight moved to the
    # end): the whole flow is one run
    params = [p for p in flow.parameters() if p.requires_grad]
    shuffled = FlatParameters(params[1:] + params[:1])
    assert len(compiled_nll._groups_of(list(flow.layers), shuffled)[0]) == (1 if runs > 1 else runs)


def test_a_compiled_trainer_follows_the_eager_one():
    eager = ic.Trainer(ic.build_flow(ic.FlowConfig(**CFG)), DATA, lr=3e-2, batch_size=200, seed=0)
    compiled = ic.Trainer(ic.build_flow(ic.FlowConfig(**CFG)), DATA, lr=3e-2, batch_size=200, seed=0, compile=True)
    first_e, first_c = eager.step(1)["test_nll"], compiled.step(1)["test_nll"]
    assert first_c == pytest.approx(first_e, abs=1e-6)  # the first step initialises the ActNorms: eager
    after_e, after_c = eager.step(80)["test_nll"], compiled.step(80)["test_nll"]
    assert compiled_nll.compile_failure() is None
    assert after_c < first_c - 0.2  # it learns
    assert after_c == pytest.approx(after_e, abs=1e-3)  # along the same path, up to rounding


def test_other_flows_are_refused_with_a_reason():
    glow = ic.build_flow(ic.FlowConfig(model="glow", n_blocks=2, hidden=(16,)))
    with pytest.raises(ValueError, match="residual blocks and ActNorms; this flow has"):
        CompiledNLL(glow)
    with pytest.raises(ValueError, match="power iteration"):
        CompiledNLL(ic.build_flow(ic.FlowConfig(**{**CFG, "spectral": "exact"})))
    with pytest.raises(ValueError, match="residual blocks"):
        ic.Trainer(glow, DATA, lr=1e-3, batch_size=100, seed=0, compile=True)


def test_series_modes_and_fresh_actnorms_take_the_eager_loss():
    flow = _ready_flow(logdet="hutchinson")
    loss_fn = CompiledNLL(flow)
    assert not loss_fn.applies()
    x = DATA[:300]
    state = {k: v.clone() for k, v in flow.state_dict().items()}
    flow.generator.manual_seed(5)
    want = flow.nll(x)
    flow.load_state_dict(state)
    flow.generator.manual_seed(5)
    assert torch.equal(loss_fn(x), want)  # the same estimator, the same draws
    fresh = CompiledNLL(ic.build_flow(ic.FlowConfig(**CFG)))
    assert not fresh.applies()  # its ActNorms start from the first batch, eagerly


def test_a_failing_compiler_falls_back_to_the_eager_loss_once(monkeypatch):
    def broken(*args):
        raise RuntimeError("no C++ compiler\nmore detail")

    monkeypatch.setattr(compiled_nll, "_compiled", lambda threads: broken)
    flow = _ready_flow()
    x = DATA[:300]
    loss_fn = CompiledNLL(flow)
    with pytest.warns(RuntimeWarning, match="training goes on uncompiled .RuntimeError: no C\\+\\+ compiler\\)"):
        loss = loss_fn(x)
    assert compiled_nll.compile_failure() == "RuntimeError: no C++ compiler"
    assert not loss_fn.applies()
    state = {k: v.clone() for k, v in flow.state_dict().items()}
    again = loss_fn(x)  # no second attempt, no second warning
    flow.load_state_dict(state)
    assert torch.equal(again, flow.nll(x))
    assert torch.isfinite(loss) and loss.requires_grad


def test_a_background_compile_trains_eagerly_then_takes_the_graph_without_compiling_again():
    # The worker thread keeps the torch thread count it started with (OpenMP's is per thread) and
    # dynamo guards on the count: train at another one than the worker's.
    compiled_nll._Worker.start()
    threads = 1 if torch.get_num_threads() > 1 else 2
    with ic.torch_threads(threads):
        # tanh, where the other tests take ELU: a graph of its own, so the worker really compiles
        trainer = ic.Trainer(ic.build_flow(ic.FlowConfig(**CFG, activation="tanh")), DATA, lr=3e-2, batch_size=160,
                             seed=0, compile="background")
        assert trainer.compile_state in ("compiling", "compiled")
        first = trainer.step(3)["test_nll"]  # trains meanwhile, eagerly
        assert trainer._compiled.wait(timeout=300), "the background compile did not finish in 5 minutes"
        assert trainer.compile_state == "compiled" and compiled_nll.compile_failure() is None
        here: list[str] = []  # compiles that start in this thread (the worker may serve other requests)

        def note(_args) -> None:
            if threading.current_thread() is threading.main_thread():
                here.append("compile")

        callback_handler.register_start_callback(note)
        try:
            after = trainer.step(80)["test_nll"]
            # a second flow of the same architecture (a Playground's reset): compiled at once, no
            # child process, and its first compiled step compiles nothing either
            submitted: list = []
            original = compiled_nll._Worker.submit
            compiled_nll._Worker.submit = classmethod(lambda cls, *a: submitted.append(a))  # type: ignore[method-assign]
            try:
                again = ic.Trainer(ic.build_flow(ic.FlowConfig(**CFG, activation="tanh")), DATA, lr=3e-2,
                                   batch_size=160, seed=1, compile="background")
            finally:
                compiled_nll._Worker.submit = original  # type: ignore[method-assign]
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


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads the process's threads from /proc")
def test_the_worker_loads_in_a_thread_that_ends_and_takes_its_openmp_team_along():
    """A thread that ran torch on two threads keeps an OpenMP team while it lives, and once a
    process has more such threads than cores every team sleeps between operations: a training
    thread beside the worker ran at half its steps a second. The worker loads each graph in a
    thread that ends (compiled_nll._in_passing_thread)."""
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
    compiled_nll._in_passing_thread(_two_thread_work)
    deadline = time.monotonic() + 10
    while _threads() - before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _threads() - before
    with pytest.raises(ZeroDivisionError):  # and what it raised reaches the caller
        compiled_nll._in_passing_thread(lambda: 1 / 0)
    # the worker's in-process load takes such a thread
    seen = []

    def fake_load(twin, batch_size, threads, dtype):
        seen.append(threading.current_thread().name)

    original_load, original_child = compiled_nll._load, compiled_nll._compile_in_child
    compiled_nll._load, compiled_nll._compile_in_child = fake_load, lambda *a, **k: None
    try:
        loss_fn = CompiledNLL(ic.build_flow(ic.FlowConfig(**CFG, activation="softplus")), background=True, batch_size=77)
        assert loss_fn.wait(60)
    finally:
        compiled_nll._load, compiled_nll._compile_in_child = original_load, original_child
    assert seen == ["iresnet-compile-load"]


def test_while_the_compiler_runs_beside_the_eager_steps_take_one_thread(monkeypatch):
    """Two threads would wait at every barrier for the core the compiler holds (Trainer._one_step)."""
    monkeypatch.setattr(compiled_nll._Worker, "submit", classmethod(lambda cls, *a: None))  # compiling for ever
    trainer = ic.Trainer(ic.build_flow(ic.FlowConfig(**CFG)), DATA, lr=3e-2, batch_size=100, seed=0, compile="background")
    seen: list[int] = []
    eager_nll = trainer.flow.nll
    monkeypatch.setattr(trainer.flow, "nll", lambda *a, **k: seen.append(torch.get_num_threads()) or eager_nll(*a, **k))
    with ic.torch_threads(2):
        trainer.step(3)
        assert trainer.compile_state == "compiling" and seen == [1, 1, 1]
        assert torch.get_num_threads() == 2  # given back after each step
        trainer.set_compile(False)
        trainer.step(2)
    assert seen[3:] == [2, 2]


def test_compile_takes_only_known_values():
    with pytest.raises(ValueError, match="compile must be False, True or 'background', got 'yes'"):
        ic.Trainer(ic.build_flow(ic.FlowConfig(**CFG)), DATA, lr=1e-3, batch_size=100, seed=0, compile="yes")
    assert ic.Trainer(ic.build_flow(ic.FlowConfig(**CFG)), DATA, lr=1e-3, batch_size=100, seed=0).compile_state is None


def test_compiling_switches_on_and_off_live_keeping_the_training_state():
    trainer = ic.Trainer(ic.build_flow(ic.FlowConfig(**CFG)), DATA, lr=3e-2, batch_size=200, seed=0)
    trainer.step(5)
    weights = trainer._flat.data.clone()
    trainer.set_compile(True)
    assert trainer.compile_state == "compiled" and trainer._loss is trainer._compiled
    assert torch.equal(trainer._flat.data, weights)  # nothing reset
    m = trainer.step(5)
    assert m["step"] == 10 and compiled_nll.compile_failure() is None
    trainer.set_compile(False)
    assert trainer.compile_state is None and trainer._loss == trainer.flow.nll
    assert trainer.step(1)["step"] == 11
    with pytest.raises(ValueError, match="residual blocks"):
        ic.Trainer(ic.build_flow(ic.FlowConfig(model="glow", n_blocks=2, hidden=(16,))), DATA, lr=1e-3,
                   batch_size=100, seed=0).set_compile("background")


def test_the_child_process_compiles_or_says_why_not():
    ok = compiled_nll._compile_in_child(ic.FlowConfig(**CFG).to_dict(), 200, torch.get_num_threads(), torch.float32)
    assert ok is None
    svd = compiled_nll._compile_in_child(ic.FlowConfig(**{**CFG, "spectral": "exact"}).to_dict(), 200, 1, torch.float32)
    assert svd is not None and "ValueError" in svd and "power iteration" in svd


def test_a_new_batch_size_compiles_aside_again_in_the_background():
    trainer = ic.Trainer(ic.build_flow(ic.FlowConfig(**CFG)), DATA, lr=1e-2, batch_size=200, seed=0,
                         compile="background")
    first = trainer._compiled
    trainer.set_batch_size(200)
    assert trainer._compiled is first  # the same size: nothing to compile
    trainer.set_batch_size(100)
    assert trainer.batch_size == 100 and trainer._compiled is not first and trainer._loss is trainer._compiled
    assert trainer._compiled.wait(timeout=300) and trainer.compile_state == "compiled"
    assert trainer.step(3)["step"] == 3
