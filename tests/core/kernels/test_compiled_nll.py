"""The compiled training loss: the eager loss's numbers and gradients, and the eager loss wherever
it does not apply or compiling fails."""

import pytest
import torch

import iresnet_core as ic
from iresnet_core.flows.iresnet import InvertibleResidualBlock
from iresnet_core.kernels import compiled_nll
from iresnet_core.kernels.compiled_nll import CompiledNLL, residual_exact
from iresnet_core.kernels.flat_params import FlatParameters

# One architecture for every compiled call here: each new one costs a compile (about 10 s).
CFG = dict(n_blocks=2, hidden=(16, 16), seed=0)
DATA = torch.as_tensor(ic.datasets.sample("moons", 1000, seed=0), dtype=torch.float32)


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

    jac = torch.stack(
        [torch.autograd.functional.jacobian(g, xi.unsqueeze(0)).squeeze() for xi in x]
    )
    y, ld = residual_exact(act, x, ws, bs)
    assert torch.allclose(y, x + g(x), atol=1e-12)
    assert torch.allclose(
        ld, torch.linalg.slogdet(torch.eye(2, dtype=x.dtype) + jac)[1], atol=1e-10
    )
    bias, log_scale = (
        torch.tensor([0.3, -0.2], dtype=x.dtype),
        torch.tensor([0.1, -0.4], dtype=x.dtype),
    )
    ya, lda = residual_exact(act, x, ws, bs, bias, log_scale)
    assert torch.allclose(ya, (y + bias) * log_scale.exp(), atol=1e-12)
    assert torch.allclose(lda, ld + log_scale.sum(), atol=1e-12)


@pytest.mark.parametrize("group_blocks", [compiled_nll.GROUP_BLOCKS, 1])
def test_compiled_loss_and_gradients_are_the_eager_ones(group_blocks, monkeypatch):
    monkeypatch.setattr(compiled_nll, "GROUP_BLOCKS", group_blocks)  # 1: a chain of two graphs
    flow = _ready_flow()
    x = DATA[200:700]
    sigma = [
        float(torch.linalg.matrix_norm(lin.weight.detach(), ord=2)) / flow.cfg.coeff
        for lin in flow._spectral()
    ]
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
    assert all(
        a.params.stop == b.params.start and a.uv.stop == b.uv.start
        for a, b in zip(groups, groups[1:])
    )
    assert (
        groups[-1].uv.stop == sum(lin.u.numel() + lin.v.numel() for lin in maps)
        and len(coeffs) == 3 * n_blocks
    )
    # parameters that are not one stretch per run (the first block's first weight moved to the
    # end): the whole flow is one run
    params = [p for p in flow.parameters() if p.requires_grad]
    shuffled = FlatParameters(params[1:] + params[:1])
    assert len(compiled_nll._groups_of(list(flow.layers), shuffled)[0]) == (
        1 if runs > 1 else runs
    )


def test_a_compiled_trainer_follows_the_eager_one():
    eager = ic.Trainer(ic.build_flow(ic.FlowConfig(**CFG)), DATA, lr=3e-2, batch_size=200, seed=0)
    compiled = ic.Trainer(
        ic.build_flow(ic.FlowConfig(**CFG)), DATA, lr=3e-2, batch_size=200, seed=0, compile=True
    )
    first_e, first_c = eager.step(1)["test_nll"], compiled.step(1)["test_nll"]
    assert first_c == pytest.approx(
        first_e, abs=1e-6
    )  # the first step initialises the ActNorms: eager
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
    with pytest.warns(
        RuntimeWarning, match="training goes on uncompiled .RuntimeError: no C\\+\\+ compiler\\)"
    ):
        loss = loss_fn(x)
    assert compiled_nll.compile_failure() == "RuntimeError: no C++ compiler"
    assert not loss_fn.applies()
    state = {k: v.clone() for k, v in flow.state_dict().items()}
    again = loss_fn(x)  # no second attempt, no second warning
    flow.load_state_dict(state)
    assert torch.equal(again, flow.nll(x))
    assert torch.isfinite(loss) and loss.requires_grad


def test_compile_takes_only_known_values():
    with pytest.raises(ValueError, match="compile must be False, True or 'background', got 'yes'"):
        ic.Trainer(
            ic.build_flow(ic.FlowConfig(**CFG)),
            DATA,
            lr=1e-3,
            batch_size=100,
            seed=0,
            compile="yes",
        )
    assert (
        ic.Trainer(
            ic.build_flow(ic.FlowConfig(**CFG)), DATA, lr=1e-3, batch_size=100, seed=0
        ).compile_state
        is None
    )


def test_compiling_switches_on_and_off_live_keeping_the_training_state():
    trainer = ic.Trainer(
        ic.build_flow(ic.FlowConfig(**CFG)), DATA, lr=3e-2, batch_size=200, seed=0
    )
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
        ic.Trainer(
            ic.build_flow(ic.FlowConfig(model="glow", n_blocks=2, hidden=(16,))),
            DATA,
            lr=1e-3,
            batch_size=100,
            seed=0,
        ).set_compile("background")
