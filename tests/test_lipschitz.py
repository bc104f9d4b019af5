"""Spectral normalisation: the soft rule W / max(1, sigma/c) holds sigma <= c (checked by SVD)."""

import torch

import iresnet_core as ic
from helpers import scramble
from iresnet_core.lipschitz import SpectralLinear, exact_sigma, spectral_report


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
