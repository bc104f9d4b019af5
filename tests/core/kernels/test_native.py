"""The compiled kernels (``iresnet_core/density2d.c``, ``fixed_point2d.c``): the numbers of the
torch path, on every i-ResNet and Glow the density kernel takes and every block the inverse's
takes, and the torch path wherever they cannot be built or do not apply."""

from __future__ import annotations

import copy
import math
import shutil

import numpy as np
import pytest
import torch

import iresnet_core as ic
from iresnet_core.kernels import native as nd
from iresnet_core.ops.spectral import refresh_power_iteration
from tests.support import scramble

HAS_COMPILER = nd._compiler() is not None
needs_kernel = pytest.mark.skipif(not HAS_COMPILER, reason="no C compiler on this machine")


@pytest.fixture
def fresh_kernel(monkeypatch, tmp_path):
    """The kernel forgotten before and after the test, built into an empty cache folder."""
    monkeypatch.setenv("IRESNET_NATIVE_CACHE", str(tmp_path))
    nd._reset()
    yield tmp_path
    nd._reset()


def _flow(hidden, coeff=0.9, n_blocks=3, scale=3.0, seed=0, model="iresnet", glow=None) -> ic.Flow:
    """A flow far from its initialisation: weights, ActNorm biases and scales all moved (a Glow's
    zero-initialised couplings too; ``glow``: config fields of its couplings)."""
    cfg = ic.FlowConfig(n_blocks=n_blocks, hidden=hidden, coeff=coeff, seed=seed)
    cfg = cfg if model == "iresnet" else ic.match_glow(cfg).replace(**(glow or {}))
    flow = ic.build_flow(cfg)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen))
    if model == "iresnet":
        scramble(flow, scale)
        refresh_power_iteration(flow, n_iter=100)
    return flow.eval()


def _exact64(flow: ic.Flow, x: torch.Tensor) -> torch.Tensor:
    """``log p`` in float64 on a float64 copy: the reference both float32 paths are held to."""
    f64 = copy.deepcopy(flow).double()
    with torch.no_grad():
        return f64.log_prob(x.double())


@needs_kernel
def test_the_kernel_builds_where_there_is_a_compiler(fresh_kernel):
    assert nd.available(), nd.unavailable_reason()
    assert nd.unavailable_reason() is None
    built = list(fresh_kernel.glob("kernels-*.so"))
    assert len(built) == 1
    before = built[0].stat().st_mtime_ns
    nd._reset()
    assert nd.available()  # from the cache, not rebuilt
    assert built[0].stat().st_mtime_ns == before


@needs_kernel
@pytest.mark.parametrize("hidden", [(32, 32), (16,), (7, 13, 5), (256,)])
@pytest.mark.parametrize("coeff", [0.9, None])
def test_kernel_gives_the_torch_numbers(hidden, coeff):
    """Against float64: the kernel's error is of the torch float32 path's size, on one to three
    hidden layers, widths that are not multiples of its four-unit passes, the widest it takes,
    unconstrained blocks, and a point count that leaves a ragged last tile of 16."""
    flow = _flow(hidden, coeff, scale=3.0 if coeff else 1.5)
    packed = nd.pack(flow.layers)
    assert packed is not None
    x = torch.randn(1001, 2, generator=torch.Generator().manual_seed(1)) * 2
    ref = _exact64(flow, x)
    assert torch.isfinite(ref).all()
    got = packed.log_prob(x).double()
    with torch.inference_mode():
        torch32 = flow.log_prob_many(x, native=False).double()
    err_kernel = (got - ref).abs().max().item()
    err_torch = (torch32 - ref).abs().max().item()
    assert err_kernel <= max(3 * err_torch, 5e-5), (err_kernel, err_torch)


@needs_kernel
@pytest.mark.parametrize("hidden", [(32, 32), (5,), (9, 3, 17)])
@pytest.mark.parametrize("scale_map", ["sigmoid", "tanh"])
@pytest.mark.parametrize("activation", ["relu", "elu"])
def test_kernel_gives_glows_torch_numbers(hidden, scale_map, activation):
    """Glow's layers (ActNorm, the LU linear map, couplings of both parities in both forms of the
    scale, with either conditioner) against float64, relative to the size of ``log p`` (a Glow's
    far tails run to -1e5 and beyond, where float32 keeps five digits)."""
    fields = dict(scale_map=scale_map, glow_activation=activation)
    flow = _flow(hidden, n_blocks=4, model="glow", glow=fields)
    couplings = [layer for layer in flow.layers if hasattr(layer, "scale_map")]
    assert {(c.scale_map, c.activation) for c in couplings} == {(scale_map, activation)}
    packed = nd.pack(flow.layers)
    assert packed is not None
    x = torch.randn(997, 2, generator=torch.Generator().manual_seed(5)) * 2
    ref = _exact64(flow, x)
    assert torch.isfinite(ref).all()
    with torch.inference_mode():
        torch32 = flow.log_prob_many(x, native=False).double()
    size = ref.abs().clamp(min=1.0)
    err_kernel = ((packed.log_prob(x).double() - ref).abs() / size).max().item()
    err_torch = ((torch32 - ref).abs() / size).max().item()
    assert err_kernel <= max(3 * err_torch, 5e-6), (err_kernel, err_torch)


@needs_kernel
def test_log_prob_many_takes_the_kernel_and_agrees_across_threads():
    flow = _flow((32, 32), n_blocks=4)
    x = torch.randn(5003, 2, generator=torch.Generator().manual_seed(2)) * 3
    with torch.inference_mode():
        one, two = flow.log_prob_many(x, workers=1), flow.log_prob_many(x, workers=2)
        eager = flow.log_prob_many(x, native=False)
    torch.testing.assert_close(one, two, rtol=0, atol=0)  # each point is computed alone
    torch.testing.assert_close(one, eager, atol=1e-4, rtol=1e-5)
    assert not torch.equal(one, eager)  # the kernel did run: its rounding is its own


@needs_kernel
def test_density_grid_through_the_kernel_holds_unit_mass():
    torch.manual_seed(0)
    flow = ic.build_flow(ic.FlowConfig(n_blocks=6, hidden=(32, 32)))
    ic.Trainer(
        flow, ic.datasets.sample("8gaussians", 2000, 0), lr=2e-2, batch_size=256, seed=0
    ).step(60)
    flow.eval()
    assert nd.pack(flow.layers) is not None
    g = ic.analysis.density_grid(flow, (-7, 7, -7, 7), n=200)
    assert g.mass == pytest.approx(1.0, abs=0.02)
    i, j = 91, 17
    with torch.no_grad():
        p = flow.log_prob(torch.tensor([[g.xs[j], g.ys[i]]])).exp().item()
    assert g.density[i, j] == pytest.approx(p, rel=1e-4)


@needs_kernel
def test_non_finite_points_stay_non_finite():
    flow = _flow((16, 16))
    x = torch.tensor([[0.0, 0.0], [math.nan, 1.0], [1.0, math.inf], [0.5, -0.5]])
    got = nd.pack(flow.layers).log_prob(x)
    assert torch.isfinite(got[[0, 3]]).all()
    assert not torch.isfinite(got[[1, 2]]).any()


def test_flows_the_kernel_does_not_cover_take_the_torch_path():
    swish = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16, 16), activation="lipswish"))
    wide = ic.build_flow(ic.FlowConfig(n_blocks=1, hidden=(nd.MAX_WIDTH + 1,)))
    wide_glow = ic.build_flow(ic.match_glow(ic.FlowConfig(n_blocks=1, hidden=(nd.MAX_WIDTH + 1,))))
    f64 = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16,))).double()
    glow64 = ic.build_flow(ic.match_glow(ic.FlowConfig(n_blocks=2, hidden=(16,)))).double()
    for flow in (swish, wide, wide_glow, f64, glow64):
        assert nd.pack(flow.layers) is None
    x = torch.randn(40, 2, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(
            swish.eval().log_prob_many(x), swish.log_prob(x), atol=1e-5, rtol=1e-5
        )


def test_turned_off_or_unbuildable_the_torch_path_gives_the_same_numbers(
    fresh_kernel, monkeypatch, tmp_path
):
    flow = _flow((16, 16))
    x = torch.randn(300, 2, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        ref = flow.log_prob(x)
    monkeypatch.setenv("IRESNET_NATIVE", "0")
    assert not nd.available()
    assert "IRESNET_NATIVE=0" in nd.unavailable_reason()
    assert nd.pack(flow.layers) is None
    torch.testing.assert_close(flow.log_prob_many(x), ref, atol=1e-5, rtol=1e-5)

    monkeypatch.delenv("IRESNET_NATIVE")
    broken = tmp_path / "broken-cc"
    broken.write_text("#!/bin/sh\necho 'cc: error: no such file' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("CC", str(broken))
    nd._reset()
    assert not nd.available()
    assert "did not build" in nd.unavailable_reason() and "no such file" in nd.unavailable_reason()
    torch.testing.assert_close(flow.log_prob_many(x), ref, atol=1e-5, rtol=1e-5)


def test_no_compiler_is_reported(fresh_kernel, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert not nd.available()
    assert "no C compiler" in nd.unavailable_reason()


@needs_kernel
def test_pack_copies_the_weights_of_the_moment():
    """The packed weights are a snapshot: training on does not change them under a running grid."""
    flow = _flow((16, 16))
    packed = nd.pack(flow.layers)
    saved = np.array(packed.params)
    with torch.no_grad():
        for p in flow.parameters():
            p.mul_(1.5)
    np.testing.assert_array_equal(packed.params, saved)


def _block(coeff, scale, seed=6, hidden=(32, 32)):
    """One block far from its initialisation (``scale``: how far its weights were pushed)."""
    flow = ic.build_flow(
        ic.FlowConfig(n_blocks=1, hidden=hidden, coeff=coeff, actnorm=False, seed=seed)
    )
    scramble(flow, scale)
    refresh_power_iteration(flow, n_iter=100)
    return flow.eval().layers[0]


def _both(block, y, **kw):
    with torch.no_grad():
        return block.inverse(y, native=True, **kw), block.inverse(y, native=False, **kw)


@needs_kernel
@pytest.mark.parametrize("hidden", [(32, 32), (16,), (7, 13, 5)])
def test_fixed_point_kernel_repeats_the_torch_iteration(hidden):
    """Same iterations, same residuals and iterates up to float64 rounding, same verdict and bound;
    with points settling out of the batch along the way (tol 1e-10 at c = 0.9)."""
    block = _block(0.9, 4.0, hidden=hidden)
    y = torch.randn(400, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2
    (xa, ia), (xb, ib) = _both(block, y, max_iter=200, tol=1e-10)
    assert ia.converged and ib.converged and not ia.diverged
    assert ia.iterations == ib.iterations
    np.testing.assert_allclose(ia.residuals, ib.residuals, rtol=1e-9, atol=1e-14)
    torch.testing.assert_close(xa, xb, rtol=0, atol=1e-12)
    assert ia.bound == pytest.approx(ib.bound, rel=1e-9) and ia.lipschitz == ib.lipschitz


@needs_kernel
def test_fixed_point_kernel_stops_as_torch_does_when_it_cannot_converge():
    y = torch.randn(300, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 3
    loose = _block(None, 12.0, seed=3)  # unconstrained, Lip(g) far above 1: the iteration blows up
    (xa, ia), (xb, ib) = _both(loose, y, max_iter=100, tol=1e-6)
    assert ia.diverged and ib.diverged and not ia.converged
    assert ia.iterations == ib.iterations and ia.bound == math.inf
    short = _block(0.9, 4.0)  # constrained, cut off after two iterations
    (xa, ia), (xb, ib) = _both(short, y, max_iter=2, tol=1e-12)
    assert ia.iterations == ib.iterations == 2 and not ia.converged and not ia.diverged
    torch.testing.assert_close(xa, xb, rtol=0, atol=1e-12)


@needs_kernel
def test_fixed_point_kernel_edge_cases():
    block = _block(0.9, 4.0)
    nan = torch.tensor([[0.0, 0.0], [math.nan, 1.0]], dtype=torch.float64)
    (xa, ia), (xb, ib) = _both(block, nan)
    assert ia.diverged and ib.diverged and ia.iterations == ib.iterations == 1
    (xa, ia), (xb, ib) = _both(block, torch.zeros(0, 2, dtype=torch.float64))
    assert (
        xa.shape == (0, 2)
        and ia.converged
        and ib.converged
        and ia.iterations == ib.iterations == 1
    )
    one = torch.tensor([[0.3, -0.2]])  # float32 in, float32 out, as samples go
    (xa, ia), _ = _both(block, one)
    assert xa.dtype == torch.float32 and ia.converged


def test_blocks_the_inverse_kernel_does_not_take_iterate_in_torch(monkeypatch):
    block = (
        ic.build_flow(ic.FlowConfig(n_blocks=1, hidden=(16,), activation="lipswish"))
        .eval()
        .layers[0]
    )
    monkeypatch.setattr(
        nd, "fixed_point", lambda *a, **k: pytest.fail("the kernel ran for a LipSwish block")
    )
    with torch.no_grad():
        x, info = block.inverse(torch.zeros(5, 2))
    assert info.converged
