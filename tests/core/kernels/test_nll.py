"""The training kernel (``train2d.c`` through ``iresnet_core.kernels.nll``) against torch's
autograd, for every activation; and ``training_engine``, which says which engine trains a flow.

The loss is ``Flow.nll`` in exact mode and the gradient its gradient with respect to the raw
weights, through the spectral rule ``W / max(1, sigma / c)`` (Behrmann et al. 2019, Sec. 3.1) and
each block's ``ln |det(I + J_g)|`` (eq. 2's log-det, exact in 2D): compared here with torch's
backward of the same loss on the same weights and vectors, and a trainer on the kernel with a
trainer on torch step for step.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

import iresnet_core as ic
from iresnet_core import kernels
from iresnet_core.kernels import build, layout
from iresnet_core.kernels import nll as native_nll
from iresnet_core.kernels.flat_params import FlatParameters
from iresnet_core.kernels.nll import NativeNLL, training_engine
from iresnet_core.ops.spectral import spectral_layers

pytestmark = pytest.mark.usefixtures("kernel")
ACTIVATIONS = list(layout.ACTIVATIONS)

DATA = torch.as_tensor(ic.datasets.sample("checkerboard", 777, seed=1))


def _flow(cfg: ic.FlowConfig, shake: float) -> ic.Flow:
    """``cfg``'s flow with its ActNorms initialised and every weight moved by ``shake`` noise
    (large enough that sigma > c for most maps: the rule's own gradient term is then at work)."""
    torch.manual_seed(3)
    flow = ic.build_flow(cfg)
    flow.train()
    flow.nll(DATA[:500])  # the ActNorms' data-dependent first batch
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(shake * torch.randn_like(p))
    return flow


def _both(flow: ic.Flow, x: torch.Tensor) -> tuple[float, torch.Tensor, float, torch.Tensor]:
    """(torch's loss, its gradient, the kernel's loss, its gradient) on the same weights and
    vectors (evaluation mode: neither path moves the power iteration's vectors)."""
    flat = FlatParameters([p for p in flow.parameters() if p.requires_grad])
    flow.eval()
    flat.zero_grad()
    ref = flow.nll(x)
    ref.backward()
    g_ref = flat.grad.clone()
    flat.zero_grad()
    out = NativeNLL(flow, flat)(x)
    out.backward()
    return float(ref.detach()), g_ref, float(out.detach()), flat.grad.clone()


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize(
    "cfg, shake",
    [
        (ic.FlowConfig(), 0.05),  # the default flow, near its start
        (
            ic.FlowConfig(n_blocks=3, hidden=(5, 7, 3), coeff=0.5),
            0.3,
        ),  # three hidden layers, odd widths
        (ic.FlowConfig(n_blocks=2, hidden=(16, 16), coeff=None), 0.3),  # unconstrained
        (
            ic.FlowConfig(n_blocks=4, hidden=(40,), actnorm=False),
            0.3,
        ),  # one hidden layer, no ActNorm
    ],
)
@pytest.mark.parametrize("n", [777, 16, 1])
def test_loss_and_gradient_are_torchs(cfg, shake, n, activation):
    """The loss and every entry of its gradient (weights through the spectral rule, biases,
    ActNorms) against autograd on the same weights, for each activation: phi'' enters through the
    log-det's backward."""
    flow = _flow(dataclasses.replace(cfg, activation=activation), shake)
    ref, g_ref, out, g = _both(flow, DATA[:n])
    assert out == pytest.approx(ref, rel=1e-5, abs=1e-5)
    assert float((g - g_ref).norm() / g_ref.norm()) < 2e-5
    assert torch.allclose(g, g_ref, rtol=1e-3, atol=1e-5 * float(g_ref.abs().max()))


@pytest.mark.parametrize(
    "cfg",
    [
        ic.FlowConfig(model="glow", n_blocks=4, hidden=(16, 16), seed=1),
        ic.FlowConfig(model="glow", n_blocks=3, hidden=(5, 7, 3), actnorm=False, seed=2),
        ic.FlowConfig(model="glow", n_blocks=2, hidden=(40,), scale_bound=0.5, seed=3),
        ic.FlowConfig(
            model="glow", n_blocks=2, hidden=(40,), scale_map="tanh", scale_bound=0.5, seed=4
        ),
        # wide: train2d.c gathers the weight gradient over more than one chunk of tiles
        ic.FlowConfig(model="glow", n_blocks=2, hidden=(96, 96), seed=5),
    ],
)
@pytest.mark.parametrize("n", [777, 16, 1])
def test_glows_loss_and_gradient_are_torchs(cfg, n):
    """Glow's step (Kingma & Dhariwal 2018, Sec. 3): ActNorm, the LU map through W = P L U' to its
    lower, upper and log_s, the affine coupling's bounded log-scale and ELU conditioner, both
    parities, against autograd."""
    flow = _flow(cfg, 0.3)
    assert training_engine(flow) == ("C kernel", None)
    ref, g_ref, out, g = _both(flow, DATA[:n])
    assert out == pytest.approx(ref, rel=1e-5, abs=1e-5)
    assert float((g - g_ref).norm() / g_ref.norm()) < 2e-5
    assert torch.allclose(g, g_ref, rtol=1e-3, atol=1e-5 * float(g_ref.abs().max()))


def test_the_glow_flows_compared_hold_both_permutations_and_parities():
    flows = [
        _flow(ic.FlowConfig(model="glow", n_blocks=4, hidden=(16, 16), seed=s), 0.3)
        for s in (1, 2, 3)
    ]
    swaps = {float(m.perm[0, 0]) == 0.0 for f in flows for m in f.layers if hasattr(m, "perm")}
    signs = {float(s) for f in flows for m in f.layers if hasattr(m, "perm") for s in m.sign_s}
    parities = {m.parity for f in flows for m in f.layers if hasattr(m, "parity")}
    assert swaps == {True, False} and signs == {1.0, -1.0} and parities == {0, 1}


def _subnormal_product() -> float:
    """1e-38 * 0.01 in float32: 1e-40, a subnormal, or 0.0 where the thread flushes them to
    zero."""
    return float(np.float32(1e-38) * np.float32(0.01))


def test_the_kernel_flushes_subnormals_only_while_it_runs():
    """``nll_grad_2d`` turns flush-to-zero on for its own work (a trained flow's ELUs made
    subnormals that slowed its step by a fifth) and gives every thread that ran it its mode back:
    the numbers are still torch's, and after the call subnormals are still subnormal in the caller
    and in the kernel's worker thread."""
    flow = _flow(ic.FlowConfig(), 0.05)
    ref, g_ref, out, g = _both(flow, DATA[:777])
    assert out == pytest.approx(ref, rel=1e-5, abs=1e-5)
    assert float((g - g_ref).norm() / g_ref.norm()) < 2e-5
    assert _subnormal_product() > 0.0
    assert native_nll._pool().submit(_subnormal_product).result() > 0.0


def test_the_spectral_rule_is_at_work_in_the_compared_flows():
    """The comparison above covers maps with sigma > c (the rule's gradient term) and below it."""
    flow = _flow(ic.FlowConfig(n_blocks=3, hidden=(5, 7, 3), coeff=0.5), 0.3)
    ratios = [
        float(lin.sigma_estimate(n_iter=0, persist=False).detach()) / lin.coeff
        for block in flow.layers
        if hasattr(block, "g")
        for lin in block.g.linears
    ]
    assert max(ratios) > 1.5 and min(ratios) < 1.0


@pytest.mark.parametrize("n_power_iter", [1, 3])
def test_the_kernels_power_iteration_is_torchs_and_takes_up_torchs_forwards(n_power_iter):
    """In training each call advances every map's u, v by the flow's power iterations (Sec. 3.1)
    in place, as a torch training forward does; a torch forward in between (which rebinds the
    vectors) is taken up by the next call."""
    cfg = ic.FlowConfig(n_blocks=3, hidden=(5, 7, 3), coeff=0.5, n_power_iter=n_power_iter)
    a = _flow(cfg, 0.3)
    b = copy.deepcopy(a)
    loss = NativeNLL(a)
    x = DATA[:100]
    start = [lin.u.clone() for lin in spectral_layers(a)]
    for through_kernel in (True, True, False, True):
        ours = loss(x) if through_kernel else a.nll(x)
        assert float(ours.detach()) == pytest.approx(float(b.nll(x).detach()), rel=1e-5)
        for la, lb in zip(spectral_layers(a), spectral_layers(b)):
            assert torch.allclose(la.u, lb.u, atol=2e-5) and torch.allclose(la.v, lb.v, atol=2e-5)
    moved = [float((lin.u - u0).norm()) for lin, u0 in zip(spectral_layers(a), start)]
    assert max(moved) > 1e-2


@pytest.mark.parametrize("activation", [*ACTIVATIONS, "glow"])
def test_a_trainer_on_the_kernel_takes_torchs_steps(activation):
    data = ic.datasets.sample("8gaussians", 2000, seed=0)
    cfg = ic.FlowConfig(n_blocks=4, hidden=(16, 16), seed=5)
    if activation == "glow":
        cfg = dataclasses.replace(cfg, model="glow")
    else:
        cfg = dataclasses.replace(cfg, activation=activation)
    runs = {}
    for on in (False, True):
        tr = ic.Trainer(ic.build_flow(cfg), data, lr=1e-2, batch_size=200, seed=0, native=on)
        assert tr.native is on
        m = tr.step(30)
        runs[on] = (m, torch.cat([p.detach().reshape(-1) for p in tr.flow.parameters()]))
    (m0, w0), (m1, w1) = runs[False], runs[True]
    assert m1["step"] == m0["step"] == 30
    assert m1["train_nll"] == pytest.approx(m0["train_nll"], abs=1e-3)
    assert float((w1 - w0).abs().max()) < 1e-3 * float(w0.abs().max())


def test_where_the_kernel_does_not_apply_the_loss_is_torchs():
    flow = _flow(ic.FlowConfig(n_blocks=2, hidden=(8,)), 0.0)
    loss = NativeNLL(flow)
    assert loss.applies()
    flow.cfg = dataclasses.replace(
        flow.cfg, logdet="hutchinson"
    )  # the estimator slider, no new flow
    assert not loss.applies()
    fresh = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(8,)))  # ActNorms not initialised yet
    assert not NativeNLL(fresh).applies()
    with torch.no_grad():
        assert not NativeNLL(
            _flow(ic.FlowConfig(n_blocks=2, hidden=(8,)), 0.0)
        ).applies()  # no gradient to take


@pytest.mark.parametrize(
    "make, words",
    [
        (
            lambda: ic.build_flow(ic.FlowConfig(model="glow", n_blocks=2, hidden=(300,))),
            "up to 256",
        ),
        (
            lambda: ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(8,), spectral="exact")),
            "SVD",
        ),
        (lambda: ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(300,))), "up to 256"),
        (lambda: ic.build_flow(ic.FlowConfig(n_blocks=1, hidden=(4,) * 32)), "hidden layers"),
        (lambda: ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(8,), dim=3)), "2D"),
        (lambda: ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(8,))).double(), "float32"),
        (lambda: _frozen(ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(8,)))), "frozen"),
    ],
)
def test_flows_the_kernel_does_not_take_say_why_and_train_through_torch(make, words):
    flow = make()
    name, why = training_engine(flow)
    assert name == "torch" and words in why
    assert training_engine(flow, estimator=False) == (name, why)
    with pytest.raises(ValueError, match=words):
        NativeNLL(flow)
    if flow.dim == 2 and flow.layers[0].parameters().__next__().dtype == torch.float32:
        tr = ic.Trainer(flow, DATA.numpy(), lr=1e-3, batch_size=64, seed=0, native=True)
        assert not tr.native and tr.step(2)["step"] == 2


def _frozen(flow: ic.Flow) -> ic.Flow:
    flow.layers[0].g.linears[0].bias.requires_grad_(False)
    return flow


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_and_estimator_is_named(activation):
    """Each activation trains through the kernel; a log-det estimator other than the exact one
    sends the step to torch (the flow can still be laid out for when the slider comes back)."""
    flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(8,), activation=activation))
    assert training_engine(flow) == ("C kernel", None)
    assert kernels.training_engine is training_engine
    series = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(8,), logdet="series"))
    name, why = training_engine(series)
    assert name == "torch" and "'series'" in why and "exact" in why
    assert training_engine(series, estimator=False) == ("C kernel", None)


def test_turned_off_by_the_environment(monkeypatch):
    monkeypatch.setenv("IRESNET_NATIVE", "0")
    build._reset()
    try:
        flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(8,)))
        assert training_engine(flow) == (
            "torch",
            "the C kernels are unavailable: turned off by IRESNET_NATIVE=0",
        )
        assert not ic.Trainer(flow, DATA.numpy(), lr=1e-3, seed=0, native=True).native
    finally:
        monkeypatch.delenv("IRESNET_NATIVE")
        build._reset()


def test_set_native_switches_live_and_back():
    """The engine switches live both ways, the weights and the step count kept; the trainer says
    which engine runs and why torch does."""
    tr = ic.Trainer(
        ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(8,))),
        DATA.numpy(),
        lr=1e-3,
        batch_size=64,
        seed=0,
        native=False,
    )
    assert not tr.native and tr.engine == "torch" and "native=False" in tr.engine_reason
    tr.set_native(True)
    assert tr.native and tr.engine == "C kernel" and tr.engine_reason is None
    tr.step(3)
    tr.set_native(False)
    assert not tr.native and tr.engine == "torch"
    tr.step(2)
    assert tr.step_count == 5
