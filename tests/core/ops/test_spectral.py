"""Spectral normalisation: the soft rule W / max(1, sigma/c) holds sigma <= c (checked by SVD)."""

import pytest
import torch

import iresnet_core as ic
from iresnet_core.ops.spectral import SpectralLinear, exact_sigma, power_iteration, spectral_report
from tests.support import scramble


def test_normalized_weight_has_sigma_at_most_c_after_power_iterations():
    torch.manual_seed(0)
    flow = ic.build_flow(ic.FlowConfig(n_blocks=3, hidden=(64, 64), coeff=0.7))
    # Make the raw weights large so the rule must act.
    scramble(flow, 5)
    flow.train()
    for _ in range(30):  # 30 training forwards: 30 persistent power iterations per layer
        flow(torch.randn(8, 2))
    flow.eval()
    rows = spectral_report(flow)
    assert len(rows) == 9
    for r in rows:
        assert r.sigma_raw_exact > 0.7  # the constraint is active
        assert r.sigma_exact <= 0.7 * 1.01, r
        assert r.sigma_power <= r.sigma_exact + 1e-4  # power iteration never overestimates


def test_soft_rule_leaves_small_weights_alone():
    layer = SpectralLinear(4, 4, coeff=0.9)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(4) * 0.3)
    layer.eval()
    assert torch.allclose(layer.normalized_weight(), layer.weight)


def test_exact_mode_is_exact():
    layer = SpectralLinear(10, 20, coeff=0.5, exact=True)
    with torch.no_grad():
        layer.weight.mul_(10)
    assert abs(float(exact_sigma(layer.normalized_weight())) - 0.5) < 1e-5


def test_eval_reproduces_the_last_training_forward():
    layer = SpectralLinear(8, 8, coeff=0.5)
    with torch.no_grad():
        layer.weight.mul_(4)
    layer.train()
    w_train = layer.normalized_weight().detach()
    layer.eval()
    assert torch.equal(layer.normalized_weight(), w_train)
    assert torch.equal(layer.normalized_weight(), w_train)  # evaluation changes nothing


def test_unconstrained_layer_is_plain():
    layer = SpectralLinear(3, 3, coeff=None)
    assert layer.normalized_weight() is layer.weight


def test_a_new_layer_starts_on_the_boundary_with_its_top_singular_pair():
    """Built on the constraint's boundary (sigma = c exactly), with the power iteration's vectors
    already the top singular pair: the first estimate u^T W v is the exact sigma."""
    torch.manual_seed(3)
    for shape, c in (((32, 2), 0.9), ((32, 32), 0.5), ((2, 32), 0.97), ((16, 16), None)):
        layer = SpectralLinear(shape[1], shape[0], coeff=c)
        sigma = float(exact_sigma(layer.weight))
        if c is not None:
            assert abs(sigma - c) < 1e-6
        assert abs(float(layer.u.norm()) - 1) < 1e-6 and abs(float(layer.v.norm()) - 1) < 1e-6
        assert abs(float(layer.u @ layer.weight.detach() @ layer.v) - sigma) < 1e-6 * max(
            1.0, sigma
        )
        assert layer.u.shape == (shape[0],) and layer.v.shape == (shape[1],)
        u, v = power_iteration(
            layer.weight.detach(), layer.u, layer.v, 5
        )  # already its fixed point
        assert torch.allclose(u, layer.u, atol=1e-4) and torch.allclose(v, layer.v, atol=1e-4)


def test_batched_power_iteration_matches_each_layer_alone(tmp_path):
    """A training forward of the flow iterates all layers at once: the same sigma, u and v as
    each layer's own iteration (to float rounding), taken once, nothing left over; and a
    checkpoint written afterwards holds every layer's own vectors (rows of one batched tensor)."""
    import copy

    from iresnet_core.ops.spectral import drop_prefetched, prefetch_training_rescales

    flow = scramble(ic.build_flow(ic.FlowConfig(n_blocks=3, hidden=(16, 8))), 3.0).train()
    twin = copy.deepcopy(flow)
    layers = [m for m in flow.modules() if isinstance(m, SpectralLinear)]
    alone = [m.training_rescale() for m in twin.modules() if isinstance(m, SpectralLinear)]
    taken = prefetch_training_rescales(layers)
    assert {id(m) for m in taken} == {id(m) for m in layers}
    batched = [m.training_rescale() for m in layers]
    assert all("_prefetched" not in m.__dict__ for m in layers)  # each share is taken once
    assert sum(r is not None for r in alone) >= 6  # the scrambled weights break the constraint
    for a, b, m, t in zip(
        alone, batched, layers, [m for m in twin.modules() if isinstance(m, SpectralLinear)]
    ):
        assert (a is None) == (b is None)
        if a is not None:
            assert b.s == pytest.approx(a.s, rel=1e-5)
            torch.testing.assert_close(b.u, a.u, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(b.v, a.v, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(m.u, t.u, rtol=1e-4, atol=1e-5)  # persisted alike
    prefetch_training_rescales(layers)
    drop_prefetched(layers)
    assert all("_prefetched" not in m.__dict__ for m in layers)
    # a forward leaves nothing behind either, and the vectors it stored save and load
    z, ld = flow(torch.randn(64, 2), "exact")
    (z.square().sum() - ld.sum()).backward()
    assert all("_prefetched" not in m.__dict__ for m in layers)
    ic.save(flow, tmp_path / "ck")
    loaded = ic.load(tmp_path / "ck")
    for m, n in zip(layers, [m for m in loaded.modules() if isinstance(m, SpectralLinear)]):
        torch.testing.assert_close(n.u, m.u, rtol=0, atol=0)
