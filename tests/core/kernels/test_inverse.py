"""The fixed-point kernel (``fixed_point2d.c`` through ``iresnet_core.kernels.inverse``) repeats
the torch loop of ``iresnet_core.ops.fixed_point`` (Behrmann et al. 2019, Algorithm 1): the same
iterations, residuals and iterates up to float64 rounding, the same verdicts, for every activation,
on constrained, near-boundary and diverging blocks, stopping at a divergence or running on (the
analysis' n-iteration inverse)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import iresnet_core as ic
from iresnet_core.analysis import frozen
from iresnet_core.flows.engine import use_engine
from iresnet_core.kernels import inverse, layout, native
from iresnet_core.ops.activations import get_activation
from iresnet_core.ops.fixed_point import CLAMP, fixed_point
from iresnet_core.ops.mlp import mlp_forward
from iresnet_core.ops.spectral import refresh_power_iteration
from tests.support import scramble

ACTIVATIONS = list(layout.ACTIVATIONS)
F64 = dict(dtype=torch.float64)


def _block(coeff, scale, seed=6, hidden=(32, 32), activation="elu"):
    """One block far from its initialisation (``scale``: how far its weights were pushed)."""
    cfg = ic.FlowConfig(
        n_blocks=1, hidden=hidden, coeff=coeff, actnorm=False, seed=seed, activation=activation
    )
    flow = ic.build_flow(cfg)
    scramble(flow, scale)
    refresh_power_iteration(flow, n_iter=100)
    return flow.eval().layers[0]


@pytest.fixture
def spy(monkeypatch):
    """Counts the engine's calls of the kernel (so a test knows the C loop, not torch, ran)."""
    calls = []
    real = native.fixed_point

    def counted(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(native, "fixed_point", counted)
    return calls


def _both(block, y, **kw):
    with torch.no_grad():
        return block.inverse(y, native=True, **kw), block.inverse(y, native=False, **kw)


def _runs(block, y, max_iter, tol, settle, stop):
    """(C run, torch run) of the block's normalised MLP, straight through the loops."""
    params, act = block.g.frozen(torch.float64), block.g.act
    c = inverse.fixed_point(params, act.name, y, max_iter, tol, settle, stop)
    t = fixed_point(lambda x: mlp_forward(params, act, x), y, max_iter, tol, settle, stop)
    return c, t


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("hidden", [(32, 32), (16,), (7, 13, 5)])
def test_the_kernel_repeats_the_torch_iteration(kernel, spy, hidden, activation):
    """Same iterations, same residuals and iterates up to float64 rounding, same verdict and
    bound; with points settling out of the batch along the way (tol 1e-10 at c = 0.9)."""
    block = _block(0.9, 4.0, hidden=hidden, activation=activation)
    y = torch.randn(400, 2, generator=torch.Generator().manual_seed(1), **F64) * 2
    (xa, ia), (xb, ib) = _both(block, y, max_iter=200, tol=1e-10)
    assert spy == [activation]
    assert ia.converged and ib.converged and not ia.diverged
    assert ia.iterations == ib.iterations
    np.testing.assert_allclose(ia.residuals, ib.residuals, rtol=1e-9, atol=1e-14)
    torch.testing.assert_close(xa, xb, rtol=0, atol=1e-12)
    assert ia.bound == pytest.approx(ib.bound, rel=1e-9) and ia.lipschitz == ib.lipschitz


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_near_the_boundary_the_slow_iteration_is_the_same(kernel, activation):
    """c = 0.999: a contraction barely below 1 that has not converged after 300 iterations;
    rounding accumulates over them, and the two loops still agree to 1e-10."""
    block = _block(0.999, 8.0, hidden=(16,), activation=activation)
    y = torch.randn(200, 2, generator=torch.Generator().manual_seed(3), **F64) * 3
    c, t = _runs(block, y, 300, 1e-14, None, True)
    assert len(c.residuals) == len(t.residuals)
    assert c.converged == t.converged and not c.diverged and not t.diverged
    np.testing.assert_allclose(c.residuals, t.residuals, rtol=1e-7, atol=1e-13)
    torch.testing.assert_close(c.x, t.x, rtol=0, atol=1e-10)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_a_diverging_block_stops_or_runs_on_clamped(kernel, activation):
    """Unconstrained with Lip(g) far above 1: the block's inverse stops at the divergence as torch
    does (tanh's g is bounded: its iteration wanders without diverging, for all max_iter
    iterations, in both); run on (``stop_on_divergence=False``, tol 0, the analysis' inverse)
    every iterate stays within +-CLAMP, never inf or NaN, the verdicts are torch's, and the first
    iterations, before rounding is amplified past recognition, agree."""
    block = _block(None, 12.0, seed=3, activation=activation)
    bounded = activation == "tanh"
    y = torch.randn(300, 2, generator=torch.Generator().manual_seed(2), **F64) * 3
    (xa, ia), (xb, ib) = _both(block, y, max_iter=100, tol=1e-6)
    assert ia.diverged == ib.diverged == (not bounded)
    assert not ia.converged and not ib.converged
    assert ia.iterations == ib.iterations and ia.bound == math.inf

    c, t = _runs(block, y, 40, 0.0, None, False)
    assert len(c.residuals) == len(t.residuals) == 40
    assert c.diverged == t.diverged == (not bounded) and not c.converged and not t.converged
    assert torch.isfinite(c.x).all() and float(c.x.abs().max()) <= CLAMP
    np.testing.assert_allclose(c.residuals[:10], t.residuals[:10], rtol=1e-9)
    if not bounded:  # the iterates run into the clamp, at the same places
        assert float(c.x.abs().max()) == CLAMP
        assert bool(((c.x.abs() == CLAMP) == (t.x.abs() == CLAMP)).float().mean() > 0.95)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_the_analysis_n_iteration_inverse_runs_in_c(kernel, spy, activation):
    """``analysis.frozen.inverse_n`` (tol 0, no stop at a divergence, with and without a settle
    floor) takes the kernel and gives the torch loop's points."""
    flow = ic.build_flow(ic.FlowConfig(n_blocks=3, hidden=(16, 16), activation=activation))
    scramble(flow, 3.0)
    refresh_power_iteration(flow, n_iter=100)
    fz = frozen.freeze(flow.eval())
    z = torch.randn(64, 2, generator=torch.Generator().manual_seed(4), **F64)
    for c, n, floor in ((frozen.AS_BUILT, 30, 0.0), (frozen.AS_BUILT, 30, 1e-9), (None, 8, 0.0)):
        P = fz.weights(c)
        spy.clear()
        ours = frozen.inverse_n(fz, P, z, n, floor)
        assert spy == [activation] * 3
        old = use_engine(None)
        try:
            ref = frozen.inverse_n(fz, P, z, n, floor)
        finally:
            use_engine(old)
        assert torch.isfinite(ours).all()
        torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-10)


def test_edge_cases(kernel):
    block = _block(0.9, 4.0)
    nan = torch.tensor([[0.0, 0.0], [math.nan, 1.0]], **F64)
    (xa, ia), (xb, ib) = _both(block, nan)
    assert ia.diverged and ib.diverged and ia.iterations == ib.iterations == 1
    torch.testing.assert_close(xa, xb, rtol=0, atol=1e-12)  # the NaN point clamped, as torch's
    (xa, ia), (xb, ib) = _both(block, torch.zeros(0, 2, **F64))
    assert xa.shape == (0, 2) and ia.converged and ib.converged
    assert ia.iterations == ib.iterations == 1
    one = torch.tensor([[0.3, -0.2]])  # float32 in, float32 out, as samples go
    (xa, ia), _ = _both(block, one)
    assert xa.dtype == torch.float32 and ia.converged


def test_what_the_kernel_does_not_take_is_left_to_torch(monkeypatch):
    """Wider than the kernel, float32 points, or arguments the torch loop refuses: the engine
    answers None, and torch iterates (or raises its own error)."""
    monkeypatch.setattr(
        native, "fixed_point", lambda *a, **k: pytest.fail("the kernel ran where it must not")
    )
    engine = native.CEngine()
    wide = _block(0.9, 1.0, hidden=(layout.MAX_WIDTH + 1,))
    with torch.no_grad():
        x, info = wide.inverse(torch.zeros(5, 2))
    assert info.converged
    params = _block(0.9, 1.0).g.frozen(torch.float64)
    y = torch.zeros(4, 2, **F64)
    assert engine.fixed_point(params, "elu", y.float(), 10, 1e-6, None, True) is None
    assert engine.fixed_point(params, "elu", y, 0, 1e-6, None, True) is None
    assert engine.fixed_point(params, "elu", y, 10, -1.0, None, True) is None
    assert engine.fixed_point(params, "relu", y, 10, 1e-6, None, True) is None
    with pytest.raises(ValueError, match="max_iter"):
        fixed_point(lambda x: mlp_forward(params, get_activation("elu"), x), y, 0)
