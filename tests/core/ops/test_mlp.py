"""The hand-written backward of ``g`` and ``J_g`` against autograd, and the activations'
derivatives.

The fast training path (:mod:`iresnet_core.ops.mlp`) must give the numbers of the plain
autograd path it replaces: values, the Jacobian, and every gradient, in float64 to rounding.
"""

from __future__ import annotations

import pytest
import torch

import iresnet_core as ic
from iresnet_core.ops.activations import get_activation
from iresnet_core.ops.logdet import SeriesPlan, estimate_logdet, exact_logdet, series_plan
from iresnet_core.ops.mlp import (
    g_and_exact_logdet,
    g_and_jacobian,
    g_and_series_logdet,
    mlp_forward,
)
from iresnet_core.ops.spectral import Rescale, power_iteration


def mlp_forward_with_jacobian(params, act, x):
    """The reference: ``g`` and ``J_g`` by torch's own autograd of :func:`mlp_forward`
    (``torch.func``), differentiable in the weights and in ``x``, sharing no code with the
    hand-written pass."""
    g = mlp_forward(params, act, x)
    J = torch.func.vmap(
        torch.func.jacrev(lambda xi: mlp_forward(params, act, xi.unsqueeze(0)).squeeze(0))
    )(x)
    return g, J


def _params(widths, gen):
    return [
        (
            torch.randn(o, i, generator=gen, dtype=torch.float64).div_(i**0.5).requires_grad_(),
            torch.randn(o, generator=gen, dtype=torch.float64).requires_grad_(),
        )
        for i, o in zip(widths[:-1], widths[1:])
    ]


def _assert_same_gradients(loss1, loss0, leaves, rtol=1e-10, atol=1e-12):
    """The gradients of two routes' losses with respect to every leaf agree; returns the
    first's."""
    d1, d0 = torch.autograd.grad(loss1, leaves), torch.autograd.grad(loss0, leaves)
    for a, b in zip(d1, d0):
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol)
    return d1


@pytest.mark.parametrize("activation", ic.ACTIVATIONS)
@pytest.mark.parametrize("hidden", [(7,), (7, 5), (6, 5, 4)])
@pytest.mark.parametrize("dim", [2, 3])
def test_values_and_gradients_match_autograd(activation, hidden, dim):
    gen = torch.Generator().manual_seed(len(hidden) * 10 + dim)
    act = get_activation(activation)
    params = _params((dim, *hidden, dim), gen)
    x = torch.randn(11, dim, generator=gen, dtype=torch.float64, requires_grad=True)
    # A loss that reads g, every entry of J and the log-det, as training does.
    cg = torch.randn(11, dim, generator=gen, dtype=torch.float64)
    cj = torch.randn(11, dim, dim, generator=gen, dtype=torch.float64)
    leaves = [x] + [t for wb in params for t in wb]
    eye = torch.eye(dim, dtype=torch.float64)
    (g0, J0), (g1, J1) = (f(params, act, x) for f in (mlp_forward_with_jacobian, g_and_jacobian))
    torch.testing.assert_close(g1, g0, rtol=0, atol=1e-12)
    torch.testing.assert_close(J1, J0, rtol=0, atol=1e-12)

    def loss(g, J):
        return (g * cg).sum() + (J * cj).sum() + torch.linalg.slogdet(eye + 0.1 * J)[1].sum()

    _assert_same_gradients(loss(g1, J1), loss(g0, J0), leaves)


def _autograd_reference(params, act, x, rescales):
    """The soft rule ``W / max(1, u^T W v / c)`` recorded by autograd, then the autograd pass."""
    normed = []
    for (w, b), r in zip(params, rescales):
        if r is not None:
            w = w / torch.clamp(torch.dot(r.u, w @ r.v) / r.coeff, min=1.0)
        normed.append((w, b))
    return mlp_forward_with_jacobian(normed, act, x)


def test_spectral_rescale_gradients_match_autograd():
    """The rule applied inside the hand-written pass: same values, same gradients on the raw W."""
    gen = torch.Generator().manual_seed(5)
    act = get_activation("elu")
    params = _params((2, 9, 7, 2), gen)
    rescales = []
    for k, (w, _) in enumerate(params):
        u, v = power_iteration(
            w.detach(),
            torch.randn(w.shape[0], generator=gen, dtype=torch.float64),
            torch.randn(w.shape[1], generator=gen, dtype=torch.float64),
            30,
        )
        sigma = float(torch.dot(u, w.detach() @ v))
        # layer 0 and 2 are pushed by the rule (sigma = 2c); layer 1 is left alone (sigma < c).
        rescales.append(None if k == 1 else Rescale(2.0, sigma / 2.0, u, v))
    assert all(
        float(torch.dot(r.u, w.detach() @ r.v)) / r.coeff == pytest.approx(r.s)
        for r, (w, _) in zip(rescales, params)
        if r is not None
    )
    x = torch.randn(13, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    cg, cj = (
        torch.randn(13, 2, generator=gen, dtype=torch.float64),
        torch.randn(13, 2, 2, generator=gen, dtype=torch.float64),
    )
    leaves = [x] + [t for wb in params for t in wb]
    (g0, J0), (g1, J1) = (
        f(params, act, x, rescales) for f in (_autograd_reference, g_and_jacobian)
    )
    torch.testing.assert_close(g1, g0, rtol=0, atol=1e-12)
    torch.testing.assert_close(J1, J0, rtol=0, atol=1e-12)
    d1 = _assert_same_gradients(
        (g1 * cg).sum() + (J1 * cj).sum(), (g0 * cg).sum() + (J0 * cj).sum(), leaves
    )
    # The rule's own term matters: dropping it (treating sigma as a constant) changes W_0's
    # gradient.
    g2, J2 = mlp_forward_with_jacobian(
        [(w / r.s if r else w, b) for (w, b), r in zip(params, rescales)], act, x
    )
    (dw0,) = torch.autograd.grad((g2 * cg).sum() + (J2 * cj).sum(), [params[0][0]])
    assert (dw0 - d1[1]).abs().max() > 1e-3


@pytest.mark.parametrize("activation", ic.ACTIVATIONS)
@pytest.mark.parametrize("residual", [False, True])
def test_fused_exact_logdet_matches_the_determinant(activation, residual):
    """``ln |det(I + J)|`` inside the pass: the value and every gradient of the two-step route;
    with ``residual``, the block's ``x + g(x)`` and its gradient with respect to ``x`` as well."""
    gen = torch.Generator().manual_seed(6)
    act = get_activation(activation)
    params = _params((2, 9, 8, 2), gen)
    with torch.no_grad():
        params[-1][0].mul_(-8.0)  # Lip(g) far above 1: det(I + J) changes sign, |.| matters
    x = torch.randn(17, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    cg, cl = (
        torch.randn(17, 2, generator=gen, dtype=torch.float64),
        torch.randn(17, generator=gen, dtype=torch.float64),
    )
    leaves = [x] + [t for wb in params for t in wb]
    g0, J = g_and_jacobian(params, act, x)
    g0 = x + g0 if residual else g0
    ld0 = exact_logdet(J)
    g1, ld1 = g_and_exact_logdet(params, act, x, residual=residual)
    torch.testing.assert_close(g1, g0, rtol=0, atol=1e-12)
    assert g1.is_contiguous()
    assert bool((torch.linalg.det(torch.eye(2, dtype=torch.float64) + J) < 0).any())
    torch.testing.assert_close(ld1, ld0, rtol=0, atol=1e-12)
    _assert_same_gradients(
        (g1 * cg).sum() + (ld1 * cl).sum(), (g0 * cg).sum() + (ld0 * cl).sum(), leaves
    )
    with pytest.raises(ValueError, match="2D"):
        g_and_exact_logdet(_params((3, 4, 3), gen), act, torch.randn(2, 3, dtype=torch.float64))


@pytest.mark.parametrize(
    "mode,n_probes,residual",
    [
        ("series", 1, False),
        ("hutchinson", 1, False),
        ("hutchinson", 3, True),
        ("roulette", 2, True),
    ],
)
def test_fused_series_estimators_match_the_two_step_route(mode, n_probes, residual):
    """The series estimate inside the pass: same draws, same value, same gradients as
    ``g_and_jacobian`` then ``estimate_logdet`` (which the analysis views use)."""
    gen = torch.Generator().manual_seed(8)
    act = get_activation("elu")
    params = _params((2, 9, 8, 2), gen)
    x = torch.randn(19, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    cg, cl = (
        torch.randn(19, 2, generator=gen, dtype=torch.float64),
        torch.randn(19, generator=gen, dtype=torch.float64),
    )
    leaves = [x] + [t for wb in params for t in wb]
    for seed in range(4):  # roulette: several draws of the number of terms
        g0, J = g_and_jacobian(params, act, x)
        g0 = x + g0 if residual else g0
        ld0 = estimate_logdet(
            J, mode, 5, n_probes, "gaussian", 2, torch.Generator().manual_seed(seed)
        )
        plan = series_plan(
            mode,
            19,
            2,
            5,
            n_probes,
            "gaussian",
            2,
            torch.Generator().manual_seed(seed),
            torch.float64,
        )
        g1, ld1 = g_and_series_logdet(params, act, x, plan, residual=residual)
        torch.testing.assert_close(g1, g0, rtol=0, atol=1e-12)
        torch.testing.assert_close(ld1, ld0, rtol=1e-10, atol=1e-12)
        _assert_same_gradients(
            (g1 * cg).sum() + (ld1 * cl).sum(),
            (g0 * cg).sum() + (ld0 * cl).sum(),
            leaves,
            rtol=1e-9,
            atol=1e-11,
        )


def test_a_roulette_draw_of_no_terms_estimates_zero():
    gen = torch.Generator().manual_seed(9)
    params = _params((2, 6, 2), gen)
    x = torch.randn(4, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    g, ld = g_and_series_logdet(params, get_activation("elu"), x, SeriesPlan([], None))
    assert torch.equal(ld, torch.zeros(4, dtype=torch.float64))
    (gx,) = torch.autograd.grad((g.sum() + ld.sum()), x)
    assert torch.isfinite(gx).all()
    with pytest.raises(ValueError, match="unknown log-det mode"):
        series_plan("nope", 4, 2, 5)


def test_jacobian_is_the_true_jacobian():
    """``J`` from the fast pass equals autograd's Jacobian of ``g`` at every sample."""
    gen = torch.Generator().manual_seed(3)
    act = get_activation("elu")
    params = _params((2, 16, 16, 2), gen)
    x = torch.randn(4, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    _, J = g_and_jacobian(params, act, x)
    for b in range(4):
        jb = torch.autograd.functional.jacobian(
            lambda v: g_and_jacobian(params, act, v[None])[0][0], x[b].detach()
        )
        torch.testing.assert_close(J[b], jb, rtol=0, atol=1e-12)


def test_without_a_hidden_layer_g_is_linear():
    """An MLP of one linear map: ``g(x) = W x + b`` and ``J_g = W`` at every point; the fused
    log-det passes, which need a hidden layer, refuse it."""
    w, b = torch.randn(2, 2, dtype=torch.float64), torch.randn(2, dtype=torch.float64)
    x = torch.randn(3, 2, dtype=torch.float64)
    g, J = g_and_jacobian([(w, b)], get_activation("elu"), x)
    torch.testing.assert_close(g, x @ w.T + b)
    torch.testing.assert_close(J, w.expand(3, 2, 2))
    with pytest.raises(ValueError, match="hidden layer"):
        g_and_exact_logdet([(w, b)], get_activation("elu"), x)


def test_no_double_backward():
    """Differentiable once: a second derivative through it is refused, not silently wrong."""
    gen = torch.Generator().manual_seed(4)
    params = _params((2, 8, 2), gen)
    x = torch.randn(3, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    g, _ = g_and_jacobian(params, get_activation("tanh"), x)
    (gx,) = torch.autograd.grad(g.sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        torch.autograd.grad(gx.sum(), x)


@pytest.mark.parametrize("activation", ic.ACTIVATIONS)
def test_activation_derivatives_match_autograd(activation):
    """``phi'`` and ``phi''`` in closed form against autograd, over [-19, 19] (both sides of 0;
    torch's softplus turns linear above 20)."""
    act = get_activation(activation)
    a = torch.linspace(-19, 19, 3801, dtype=torch.float64, requires_grad=True)
    y, dy = act.value_and_derivative(a)
    torch.testing.assert_close(y, act(a), rtol=0, atol=1e-14)
    (d1,) = torch.autograd.grad(act(a).sum(), a, create_graph=True)
    (d2,) = torch.autograd.grad(d1.sum(), a)
    torch.testing.assert_close(dy, d1, rtol=0, atol=1e-12)
    torch.testing.assert_close(act.second_derivative(a, y, dy), d2, rtol=0, atol=1e-12)
    if not act.needs_preactivation:  # phi'' / phi' from phi and phi' alone (the pass keeps no a)
        torch.testing.assert_close(
            act.dlog_derivative(y.detach(), dy.detach()) * dy.detach(), d2, rtol=0, atol=1e-12
        )
    out = torch.full_like(a, float("nan"), requires_grad=False)
    with torch.no_grad():
        y_out, dy_out = act.value_and_derivative(a.detach(), out=out)
    assert y_out.data_ptr() == out.data_ptr()  # written in place, for the stacked rows
    torch.testing.assert_close(out, y.detach(), rtol=0, atol=0)
    torch.testing.assert_close(dy_out, dy.detach(), rtol=0, atol=0)
    if activation != "elu":
        return
    # ELU in float32, as the flows run it: exp(a) is taken as 2^(a log2 e), within a few ulp of
    # the float64 numbers at the same inputs (tanh's and LipSwish's closed forms cancel in float32
    # where their derivatives are small; they do not use this shortcut)
    a32 = a.detach().float()
    y32, dy32 = act.value_and_derivative(a32)
    y64, dy64 = act.value_and_derivative(a32.double())
    torch.testing.assert_close(dy32.double(), dy64, rtol=1e-6, atol=1e-12)
    torch.testing.assert_close(y32.double(), y64, rtol=1e-6, atol=1e-7)


def test_training_step_uses_the_fast_path_and_matches():
    """One Adam step of a flow with the fast pass equals the step taken with autograd's pass."""
    import iresnet_core.flows.iresnet as ir

    data = ic.datasets.sample("8gaussians", 600, seed=0)
    states = []
    for fast in (True, False):
        flow = ic.build_flow(ic.FlowConfig(n_blocks=3, hidden=(32, 32), seed=1))
        flow.double()
        original, calls = ir.g_and_exact_logdet, []

        def counted(*args, **kw):
            calls.append(1)
            return original(*args, **kw)

        def reference(*args, residual=False, affine=None):  # autograd throughout, ActNorm included
            g, J = _autograd_reference(*args)
            y, ld = g + args[2] if residual else g, exact_logdet(J)
            if affine is None:
                return y, ld
            bias, log_scale = affine
            return (y + bias) * log_scale.exp(), ld + log_scale.sum()

        ir.g_and_exact_logdet = counted if fast else reference
        try:
            trainer = ic.Trainer(flow, data, lr=1e-2, batch_size=200, seed=0)
            for name in ("train_x", "test_x", "_eval_train", "_eval_test"):
                setattr(trainer, name, getattr(trainer, name).double())
            trainer.step(3)
        finally:
            ir.g_and_exact_logdet = original
        assert (len(calls) > 0) == fast
        states.append({k: v.clone() for k, v in flow.state_dict().items()})
    for k in states[0]:
        torch.testing.assert_close(states[0][k], states[1][k], rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("mode", ["exact", "hutchinson"])
def test_actnorm_inside_the_block_matches_the_two_layers(mode):
    """The ActNorm after a block, taken into the block's node: the output, the log-det and every
    gradient (x, g's weights, the ActNorm's bias and log-scale) of the block then the ActNorm."""
    gen = torch.Generator().manual_seed(11)
    act = get_activation("elu")
    params = _params((2, 9, 8, 2), gen)
    bias = torch.randn(2, generator=gen, dtype=torch.float64).requires_grad_()
    log_scale = torch.randn(2, generator=gen, dtype=torch.float64).requires_grad_()
    x = torch.randn(13, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    cz, cl = (
        torch.randn(13, 2, generator=gen, dtype=torch.float64),
        torch.randn(13, generator=gen, dtype=torch.float64),
    )
    leaves = [x, bias, log_scale] + [t for wb in params for t in wb]

    def pass_(affine):
        if mode == "exact":
            return g_and_exact_logdet(params, act, x, residual=True, affine=affine)
        plan = series_plan(
            mode, 13, 2, 5, 1, "gaussian", 2, torch.Generator().manual_seed(3), torch.float64
        )
        return g_and_series_logdet(params, act, x, plan, residual=True, affine=affine)

    y, ld = pass_(None)
    z0, ld0 = (y + bias) * log_scale.exp(), ld + log_scale.sum()
    z1, ld1 = pass_((bias, log_scale))
    torch.testing.assert_close(z1, z0, rtol=0, atol=1e-12)
    torch.testing.assert_close(ld1, ld0, rtol=0, atol=1e-12)
    _assert_same_gradients(
        (z1 * cz).sum() + (ld1 * cl).sum(), (z0 * cz).sum() + (ld0 * cl).sum(), leaves
    )
    with pytest.raises(ValueError, match="residual"):
        g_and_exact_logdet(params, act, x, affine=(bias, log_scale))


@pytest.mark.parametrize("coeff,logdet", [(0.9, "exact"), (None, "exact"), (0.9, "roulette")])
def test_flow_training_forward_takes_each_actnorm_into_its_block(coeff, logdet):
    """A training forward runs each (block, ActNorm) pair as one node, with the loss and the
    gradients of running the layers one by one (constrained or not; the roulette's draws in the
    same order); the first, initialising forward runs them apart."""
    from iresnet_core.flows.layers import FlowLayer

    x = torch.as_tensor(ic.datasets.sample("8gaussians", 300, seed=0)).double()
    cfg = ic.FlowConfig(n_blocks=3, hidden=(16, 16), seed=2, coeff=coeff, logdet=logdet)
    flows = [ic.build_flow(cfg).double().train() for _ in range(2)]
    grads = []
    for fused, flow in zip((True, False), flows):
        flow(x[:100])  # ActNorm's initialising forward
        one_by_one, pairs = FlowLayer.forward_then, []  # the default: None, no pairs
        block_type = type(flow.layers[0])
        block_original = block_type.forward_then

        def counted(self, *args):
            out = block_original(self, *args)
            pairs.append(out is not None)
            return out

        block_type.forward_then = counted if fused else one_by_one
        try:
            loss = flow.nll(x)
            loss.backward()
        finally:
            block_type.forward_then = block_original
        assert (sum(pairs) == 3) == fused
        grads.append((float(loss.detach()), [p.grad.clone() for p in flow.parameters()]))
    assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-12)
    for a, b in zip(grads[0][1], grads[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
