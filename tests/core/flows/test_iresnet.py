"""The i-ResNet: inverse after forward, exact log-det against autograd, probability mass 1."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import iresnet_core as ic
from iresnet_core.flows.iresnet import InvertibleResidualBlock
from iresnet_core.ops.mlp import mlp_forward
from tests.support import scramble


def perturbed_flow(cfg, scale=3.0, train_forwards=20):
    """A flow whose weights are far from initialisation (so the constraint is active)."""
    flow = ic.build_flow(cfg)
    scramble(flow, scale, seed=cfg.seed)
    flow.train()
    gen = torch.Generator().manual_seed(cfg.seed)
    for _ in range(train_forwards):
        flow(torch.randn(64, cfg.dim, generator=gen) * 2)
    return flow.eval()


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(
    c=st.floats(0.05, 0.9),
    n_blocks=st.integers(1, 4),
    width=st.sampled_from([8, 32, 64]),
    depth=st.integers(1, 3),
    activation=st.sampled_from(ic.ACTIVATIONS),
    seed=st.integers(0, 1000),
    spread=st.floats(0.1, 5.0),
)
def test_inverse_after_forward_returns_x(c, n_blocks, width, depth, activation, seed, spread):
    cfg = ic.FlowConfig(
        n_blocks=n_blocks, hidden=(width,) * depth, coeff=c, activation=activation, seed=seed
    )
    flow = perturbed_flow(cfg)
    x = torch.randn(200, 2, generator=torch.Generator().manual_seed(seed)) * spread
    with torch.no_grad():
        z, _ = flow(x, "exact")
    x_rec, info = flow.inverse(z, max_iter=200, tol=1e-7)
    assert info.converged and not info.diverged
    assert (x_rec - x).abs().max().item() < 1e-5
    for block in info.blocks:  # Banach's bound covers the error at the last iterate
        assert block.lipschitz < 1 and math.isfinite(block.bound)


def test_exact_logdet_equals_autograd_jacobian():
    cfg = ic.FlowConfig(n_blocks=3, hidden=(32, 32), coeff=0.9, activation="lipswish", seed=1)
    flow = perturbed_flow(cfg).double()
    x = torch.randn(12, 2, dtype=torch.float64)
    _, logdet = flow(x, "exact")
    for i in range(len(x)):
        J = torch.autograd.functional.jacobian(lambda t: flow(t[None], "exact")[0][0], x[i])
        assert logdet[i].item() == pytest.approx(torch.linalg.slogdet(J)[1].item(), abs=1e-10)
        assert torch.allclose(flow.jacobian(x[i : i + 1])[0], J, atol=1e-10)


@pytest.mark.parametrize("activation", ic.ACTIVATIONS)
def test_analytic_block_jacobian_matches_autograd(activation):
    cfg = ic.FlowConfig(n_blocks=1, hidden=(16, 16, 16), activation=activation, actnorm=False)
    block = perturbed_flow(cfg).double().layers[0]
    x = torch.randn(5, 2, dtype=torch.float64)
    _, J = block.g_and_jacobian(x)
    for i in range(5):
        ref = torch.autograd.functional.jacobian(lambda t: block.g(t[None])[0], x[i])
        assert torch.allclose(J[i], ref, atol=1e-12)


def grid_mass(flow, box=8.0, n=400):
    xs = torch.linspace(-box, box, n, dtype=torch.float64)
    gx, gy = torch.meshgrid(xs, xs, indexing="xy")
    pts = torch.stack([gx.ravel(), gy.ravel()], 1)
    with torch.no_grad():
        p = flow.double().log_prob(pts).exp()
    return float(p.sum() * (xs[1] - xs[0]) ** 2)


def test_density_integrates_to_one_untrained():
    flow = perturbed_flow(ic.FlowConfig(n_blocks=3, hidden=(32, 32), coeff=0.9, seed=2), scale=2.0)
    assert grid_mass(flow) == pytest.approx(1.0, abs=0.02)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["iresnet", "glow"])
def test_density_integrates_to_one_after_training(model):
    torch.manual_seed(0)
    cfg = ic.FlowConfig(
        model=model, n_blocks=4, hidden=(64, 64), coeff=0.9 if model == "iresnet" else None
    )
    flow = ic.build_flow(cfg)
    data = ic.datasets.sample("8gaussians", 4000, seed=0)
    trainer = ic.Trainer(flow, data, lr=3e-3, batch_size=256, seed=0, eval_every_s=0)
    first = trainer.step(1)["test_nll"]
    m = trainer.step(150)
    assert m["test_nll"] < first - 0.15  # it learned something
    assert grid_mass(flow) == pytest.approx(1.0, abs=0.02)


def test_estimators_agree_with_exact_on_a_flow():
    cfg = ic.FlowConfig(n_blocks=2, hidden=(32,), coeff=0.5, n_terms=20, seed=4)
    flow = perturbed_flow(cfg)
    x = torch.randn(300, 2)
    with torch.no_grad():
        _, exact = flow(x, "exact")
        _, series = flow(x, "series")
    assert (exact - series).abs().max() < 2 * ic.logdet.truncation_bound(0.5, 20) + 1e-5


def test_unconstrained_inverse_reports_failure_and_never_hangs():
    cfg = ic.FlowConfig(n_blocks=2, hidden=(32, 32), coeff=None, seed=5)
    flow = ic.build_flow(cfg)
    scramble(flow, 8)
    z = torch.randn(100, 2) * 3
    x, info = flow.inverse(z, max_iter=50, tol=1e-6)
    assert info.converged is False
    assert all(b.iterations <= 50 for b in info.blocks)
    assert all(b.lipschitz is None and b.bound == math.inf for b in info.blocks)


def test_block_inverse_bound_dominates_error():
    cfg = ic.FlowConfig(n_blocks=1, hidden=(64, 64), coeff=0.95, actnorm=False, seed=6)
    block: InvertibleResidualBlock = perturbed_flow(cfg, scale=4.0).layers[0]
    x = torch.randn(500, 2)
    with torch.no_grad():
        y, _ = block(x, "exact")
    for n in (1, 2, 5, 10):
        x_n, info = block.inverse(y, max_iter=n, tol=1e-30)
        assert info.iterations == n
        err = (x_n.double() - x.double()).norm(dim=1).max().item()
        assert err <= info.bound * (1 + 1e-6) + 1e-6


@pytest.mark.parametrize("native", [False, True])
def test_settled_points_leave_the_batch_without_changing_the_report(native):
    """Points whose step fell below SETTLED * tol stop iterating: the residuals are those of the
    plain iteration on every point, the answer within the bound, for every point. Through torch to
    the last bit; through the compiled kernel up to float64 rounding of the iterates (1e-14 where
    the last residuals are 1e-11)."""
    from iresnet_core.flows.iresnet import SETTLED

    cfg = ic.FlowConfig(n_blocks=1, hidden=(32, 32), coeff=0.9, actnorm=False, seed=6)
    block: InvertibleResidualBlock = perturbed_flow(cfg, scale=4.0).layers[0]
    x = torch.randn(400, 2, generator=torch.Generator().manual_seed(1)) * 2
    with torch.no_grad():
        y, _ = block(x, "exact")
    tol = 1e-10
    x_n, info = block.inverse(y, max_iter=200, tol=tol, native=native)
    params = block.g.frozen(torch.float64)
    xs, steps, plain = y.double(), [], []
    for _ in range(info.iterations):  # the plain iteration, every point every time
        nxt = y.double() - mlp_forward(params, block.g.act, xs)
        steps.append((nxt - xs).norm(dim=-1))
        plain.append(float(steps[-1].max()))
        xs = nxt
    assert info.converged and np.allclose(
        info.residuals, plain, rtol=1e-9, atol=1e-14 if native else 0
    )
    # some points settled iterations before the end (the shortcut ran) while others went on
    assert any(bool((st < SETTLED * tol).any()) for st in steps[:-1])
    err = (x_n.double() - x.double()).norm(dim=1)  # every point within Banach's bound (float32 x)
    assert err.max().item() <= info.bound * (1 + 1e-6) + 1e-6
    assert (x_n.double() - xs).norm(dim=1).max().item() < 1e-6  # the plain iterate, up to float32


def test_samples_are_deterministic_and_finite():
    flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16,)))
    a, b = flow.sample(100, seed=3), flow.sample(100, seed=3)
    assert torch.equal(a, b) and torch.isfinite(a).all()
    assert not torch.equal(a, flow.sample(100, seed=4))


def test_bad_inverse_arguments_are_refused():
    flow = ic.build_flow(ic.FlowConfig(n_blocks=1, hidden=(8,)))
    with pytest.raises(ValueError, match="max_iter"):
        flow.inverse(torch.zeros(1, 2), max_iter=0)
    with pytest.raises(ValueError, match="tol"):
        flow.inverse(torch.zeros(1, 2), tol=0)


def test_parameter_count_of_the_default():
    # 32 blocks x (2*32+32 + 32*32+32 + 32*2+2) + 32 ActNorms x 4
    assert ic.count_parameters(ic.FlowConfig()) == 32 * (96 + 1056 + 66) + 128 == 39104
    # the yardstick for speed: 8 blocks x (2*128+128 + 128*128+128 + 128*2+2) + 8 ActNorms
    # x 4
    assert (
        ic.count_parameters(ic.FlowConfig(n_blocks=8, hidden=(128, 128)))
        == 8 * (384 + 16512 + 258) + 32
    )


def test_actnorm_node_has_the_gradient_of_its_formula():
    """ActNorm's one-node forward and hand-written backward against autograd on
    ``((x + b) e^s, sum(s))``, and a finite-difference check in float64."""
    from iresnet_core.flows.actnorm import _ActNormFunction

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(9, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, generator=gen, dtype=torch.float64, requires_grad=True)
    s = torch.randn(2, generator=gen, dtype=torch.float64, requires_grad=True)
    dy, dld = (
        torch.randn(9, 2, generator=gen, dtype=torch.float64),
        torch.randn(9, generator=gen, dtype=torch.float64),
    )
    y, ld = _ActNormFunction.apply(x, b, s)
    got = torch.autograd.grad((y * dy).sum() + (ld * dld).sum(), (x, b, s))
    y_ref, ld_ref = (x + b) * s.exp(), s.sum().expand(9)
    want = torch.autograd.grad((y_ref * dy).sum() + (ld_ref * dld).sum(), (x, b, s))
    assert torch.allclose(y, y_ref) and torch.allclose(ld, ld_ref)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)
    assert torch.autograd.gradcheck(lambda *a: _ActNormFunction.apply(*a), (x, b, s))
    # only the log-det used (the density of the last layer's output not asked for)
    g_s = torch.autograd.grad(_ActNormFunction.apply(x, b, s)[1].sum(), s)[0]
    torch.testing.assert_close(g_s, torch.full((2,), 9.0, dtype=torch.float64))
