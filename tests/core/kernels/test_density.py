"""The density kernel (``density2d.c`` through ``iresnet_core.kernels.density``): torch's numbers
(held against float64) for every i-ResNet it takes, each activation, and for Glow; the torch path
wherever it does not apply."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

import iresnet_core as ic
from iresnet_core.kernels import density, layout
from iresnet_core.ops.spectral import refresh_power_iteration
from tests.support import scramble

ACTIVATIONS = list(layout.ACTIVATIONS)


def _flow(
    hidden,
    coeff=0.9,
    n_blocks=3,
    scale=3.0,
    seed=0,
    model="iresnet",
    activation="elu",
    scale_map="sigmoid",
) -> ic.Flow:
    """A flow far from its initialisation: weights, ActNorm biases and scales all moved (a Glow's
    zero-initialised couplings too)."""
    cfg = ic.FlowConfig(
        n_blocks=n_blocks, hidden=hidden, coeff=coeff, seed=seed, activation=activation
    )
    flow = ic.build_flow(
        cfg if model == "iresnet" else ic.match_glow(cfg).replace(scale_map=scale_map)
    )
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


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("hidden", [(32, 32), (16,), (7, 13, 5), (256,)])
@pytest.mark.parametrize("coeff", [0.9, None])
def test_kernel_gives_the_torch_numbers(kernel, hidden, coeff, activation):
    """Against float64: the kernel's error is of the torch float32 path's size, for each
    activation, on one to three hidden layers, widths that are not multiples of its four-unit
    passes, the widest it takes, unconstrained blocks, and a point count that leaves a ragged last
    tile of 16."""
    flow = _flow(hidden, coeff, scale=3.0 if coeff else 1.5, activation=activation)
    packed = density.pack(flow.layers)
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


@pytest.mark.parametrize("scale_map", ["sigmoid", "tanh"])
@pytest.mark.parametrize("hidden", [(32, 32), (5,), (9, 3, 17)])
def test_kernel_gives_glows_torch_numbers(kernel, hidden, scale_map):
    """Glow's layers (ActNorm, the LU linear map, couplings of both parities, in both scale forms)
    against float64, relative to the size of ``log p`` (a Glow's far tails run to -1e5 and beyond,
    where float32 keeps five digits)."""
    flow = _flow(hidden, n_blocks=4, model="glow", scale_map=scale_map)
    assert any(float(m.perm[0, 0]) == 0.0 for m in flow.layers if hasattr(m, "perm"))
    packed = density.pack(flow.layers)
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


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_log_prob_many_takes_the_kernel_and_agrees_across_threads(kernel, activation):
    flow = _flow((32, 32), n_blocks=4, activation=activation)
    x = torch.randn(5003, 2, generator=torch.Generator().manual_seed(2)) * 3
    with torch.inference_mode():
        one, two = flow.log_prob_many(x, workers=1), flow.log_prob_many(x, workers=2)
        eager = flow.log_prob_many(x, native=False)
    torch.testing.assert_close(one, two, rtol=0, atol=0)  # each point is computed alone
    torch.testing.assert_close(one, eager, atol=1e-4, rtol=1e-5)
    assert not torch.equal(one, eager)  # the kernel did run: its rounding is its own


def test_density_grid_through_the_kernel_holds_unit_mass(kernel):
    torch.manual_seed(0)
    flow = ic.build_flow(ic.FlowConfig(n_blocks=6, hidden=(32, 32)))
    ic.Trainer(
        flow, ic.datasets.sample("8gaussians", 2000, 0), lr=2e-2, batch_size=256, seed=0
    ).step(60)
    flow.eval()
    assert density.pack(flow.layers) is not None
    g = ic.analysis.density_grid(flow, (-7, 7, -7, 7), n=200)
    assert g.mass == pytest.approx(1.0, abs=0.02)
    i, j = 91, 17
    with torch.no_grad():
        p = flow.log_prob(torch.tensor([[g.xs[j], g.ys[i]]])).exp().item()
    assert g.density[i, j] == pytest.approx(p, rel=1e-4)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_non_finite_points_stay_non_finite(kernel, activation):
    flow = _flow((16, 16), activation=activation)
    x = torch.tensor([[0.0, 0.0], [math.nan, 1.0], [1.0, math.inf], [0.5, -0.5]])
    got = density.pack(flow.layers).log_prob(x)
    assert torch.isfinite(got[[0, 3]]).all()
    assert not torch.isfinite(got[[1, 2]]).any()


def test_flows_the_kernel_does_not_cover_take_the_torch_path():
    wide = ic.build_flow(ic.FlowConfig(n_blocks=1, hidden=(layout.MAX_WIDTH + 1,)))
    wide_glow = ic.build_flow(
        ic.match_glow(ic.FlowConfig(n_blocks=1, hidden=(layout.MAX_WIDTH + 1,)))
    )
    deep = ic.build_flow(ic.FlowConfig(n_blocks=1, hidden=(4,) * layout.MAX_MAPS))
    f64 = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16,))).double()
    glow64 = ic.build_flow(ic.match_glow(ic.FlowConfig(n_blocks=2, hidden=(16,)))).double()
    for flow in (wide, wide_glow, deep, f64, glow64):
        assert density.pack(flow.layers) is None
    x = torch.randn(40, 2, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(
            deep.eval().log_prob_many(x), deep.log_prob(x), atol=1e-5, rtol=1e-5
        )


def test_pack_copies_the_weights_of_the_moment(kernel):
    """The packed weights are a snapshot: training on does not change them under a running grid."""
    flow = _flow((16, 16))
    packed = density.pack(flow.layers)
    saved = np.array(packed.params)
    with torch.no_grad():
        for p in flow.parameters():
            p.mul_(1.5)
    np.testing.assert_array_equal(packed.params, saved)
