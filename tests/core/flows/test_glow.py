"""Glow in 2D (Kingma & Dhariwal 2018): exact inverse, exact log-det, unit mass, matched size.

Every test asserts a number the mathematics promises: ``f^{-1}(f(x)) = x``, the log-det equals
``log|det|`` of the autograd Jacobian, the density integrates to one, and the matched Glow has
about the i-ResNet's parameter count.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from iresnet_core.config import GLOW_ACTIVATIONS, SCALE_MAPS, FlowConfig
from iresnet_core.flows.flow import Flow, standard_normal_log_prob
from iresnet_core.flows.glow import (
    AffineCoupling,
    InvertibleLinearLU,
    _iresnet_parameter_count,
    build_glow,
    glow_parameter_count,
    match_glow,
)
from iresnet_core.flows.layers import InverseInfo
from iresnet_core.training.threads import torch_threads

torch.set_num_threads(2)


def randomised(cfg: FlowConfig, scale: float = 0.3, seed: int = 0, dtype=torch.float32) -> Flow:
    """A Glow with ActNorm initialised from a shifted, scaled batch and every parameter
    perturbed."""
    flow = build_glow(cfg).to(dtype)
    gen = torch.Generator().manual_seed(seed)
    flow.train()
    with torch.no_grad():
        flow(torch.randn(256, cfg.dim, generator=gen, dtype=dtype) * 1.5 + 0.5)
        for p in flow.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen, dtype=dtype))
    return flow.eval()


def autograd_jacobian(flow: Flow, x: torch.Tensor) -> torch.Tensor:
    return torch.stack(
        [
            torch.autograd.functional.jacobian(lambda v: flow(v[None], "exact")[0][0], xi)
            for xi in x
        ]
    )


def density_mass(flow: Flow, box: float, n: int = 400) -> float:
    """Riemann sum of ``exp(log_prob)`` over ``[-box, box]^2`` on an ``n x n`` midpoint grid,
    float64."""
    h = 2 * box / n
    g = torch.linspace(-box + h / 2, box - h / 2, n, dtype=torch.float64)
    xx, yy = torch.meshgrid(g, g, indexing="ij")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    with torch.no_grad():
        lp = flow.double().log_prob(pts)
    return float(lp.exp().sum() * h * h)


configs = st.builds(
    lambda dim, n_blocks, hidden, actnorm, seed, scale_map, activation: FlowConfig(
        model="glow",
        dim=dim,
        n_blocks=n_blocks,
        hidden=tuple(hidden),
        actnorm=actnorm,
        seed=seed,
        scale_map=scale_map,
        glow_activation=activation,
    ),
    scale_map=st.sampled_from(SCALE_MAPS),
    activation=st.sampled_from(GLOW_ACTIVATIONS),
    dim=st.integers(2, 4),
    n_blocks=st.integers(1, 4),
    hidden=st.lists(st.integers(2, 32), min_size=1, max_size=3),
    actnorm=st.booleans(),
    seed=st.integers(0, 10_000),
)


# ---------------------------------------------------------------------------------------------
# Exact inverse
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(cfg=configs, scale=st.sampled_from([0.0, 0.05, 0.1]), data_seed=st.integers(0, 10_000))
def test_inverse_of_forward_is_identity_float32(
    cfg: FlowConfig, scale: float, data_seed: int
) -> None:
    """Within 1e-5 (relative to max(1, |x|)) in float32. Rounding in float32 is amplified by the
    condition number of the Jacobian, which a random perturbation can push past 1e3 (rarely, at
    these scales; often at larger ones); such draws are set aside, and the float64 test below
    covers strong perturbations."""
    flow = randomised(cfg, scale=scale, seed=data_seed)
    x = torch.randn(200, cfg.dim, generator=torch.Generator().manual_seed(data_seed)) * 1.5
    cond = torch.linalg.cond(copy.deepcopy(flow).double().jacobian(x.double())).max().item()
    assume(cond <= 1e3)
    with torch.no_grad():
        z, logdet = flow(x)
        x_back, info = flow.inverse(z)
        z_back, _ = flow(x_back)
    assert logdet.shape == (200,)
    assert torch.isfinite(z).all()
    assert (x_back - x).abs().max().item() < 1e-5 * max(1.0, x.abs().max().item())
    assert (z_back - z).abs().max().item() < 1e-5 * max(1.0, z.abs().max().item())
    assert (
        isinstance(info, InverseInfo)
        and info.blocks == []
        and info.converged
        and not info.diverged
    )


@settings(max_examples=15, deadline=None)
@given(cfg=configs, data_seed=st.integers(0, 10_000))
def test_inverse_of_forward_is_identity_float64_strong_perturbation(
    cfg: FlowConfig, data_seed: int
) -> None:
    flow = randomised(cfg, scale=0.3, seed=data_seed, dtype=torch.float64)
    x = (
        torch.randn(
            200, cfg.dim, generator=torch.Generator().manual_seed(data_seed), dtype=torch.float64
        )
        * 2
    )
    with torch.no_grad():
        x_back, _ = flow.inverse(flow(x)[0])
    assert (x_back - x).abs().max().item() < 1e-7 * max(1.0, x.abs().max().item())


def test_inverse_is_not_trivially_identity() -> None:
    """After perturbation the flow moves points a lot, so the inverse test above has teeth."""
    flow = randomised(FlowConfig(model="glow", n_blocks=3, hidden=(16, 16)), scale=0.3)
    x = torch.randn(100, 2)
    with torch.no_grad():
        z, logdet = flow(x)
    assert (z - x).abs().max() > 0.5
    assert logdet.std() > 1e-3  # the couplings make the log-det depend on x


def test_flow_inverse_through_build_flow() -> None:
    import iresnet_core as ic

    cfg = FlowConfig(model="glow", n_blocks=4, hidden=(32, 32))
    flow = ic.build_flow(cfg).eval()  # eval: ActNorm must not initialise on the check's batch
    assert isinstance(flow, Flow)
    z = torch.randn(50, 2)
    x, info = flow.inverse(z)
    assert info.blocks == [] and info.converged and info.iterations == 0
    assert torch.allclose(flow(x)[0], z, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Log-determinant and Jacobian
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cfg",
    [
        FlowConfig(model="glow", n_blocks=4, hidden=(16, 16), seed=1),
        FlowConfig(model="glow", n_blocks=3, hidden=(8,), dim=3, actnorm=False, seed=2),
        FlowConfig(model="glow", n_blocks=2, hidden=(8, 8, 8), dim=4, scale_bound=1.0, seed=3),
        FlowConfig(model="glow", n_blocks=4, hidden=(16, 16), seed=4, scale_map="tanh"),
        FlowConfig(model="glow", n_blocks=4, hidden=(16, 16), seed=5, glow_activation="elu"),
    ],
)
def test_logdet_and_jacobian_match_autograd(cfg: FlowConfig) -> None:
    flow = randomised(cfg, scale=0.5, seed=cfg.seed, dtype=torch.float64)
    x = (
        torch.randn(12, cfg.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
        * 2
    )
    jac_auto = autograd_jacobian(flow, x)
    with torch.no_grad():
        _, logdet = flow(x)
    sign, logabs = torch.linalg.slogdet(jac_auto)
    assert (logabs - logdet).abs().max().item() < 1e-5
    assert (logdet - logdet.mean()).abs().max() > 1e-3  # not a constant: the couplings contribute
    assert (flow.jacobian(x) - jac_auto).abs().max().item() < 1e-5


@pytest.mark.parametrize("activation", GLOW_ACTIVATIONS)
@pytest.mark.parametrize("scale_map", SCALE_MAPS)
@pytest.mark.parametrize("dim,parity", [(2, 0), (2, 1), (3, 0), (3, 1), (5, 1)])
def test_coupling_layer_jacobian_and_logdet(
    dim: int, parity: int, scale_map: str, activation: str
) -> None:
    torch.manual_seed(dim * 10 + parity)
    layer = AffineCoupling(
        dim, (12, 12), parity=parity, scale_bound=1.5, scale_map=scale_map, activation=activation
    ).double()
    assert type(layer.net[1]).__name__ == {"relu": "ReLU", "elu": "ELU"}[activation]
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.7 * torch.randn_like(p))
    x = torch.randn(8, dim, dtype=torch.float64) * 2
    jac_auto = torch.stack(
        [torch.autograd.functional.jacobian(lambda v: layer(v[None])[0][0], xi) for xi in x]
    )
    y, logdet = layer(x)
    assert (layer.jacobian(x) - jac_auto).abs().max().item() < 1e-10
    assert (torch.linalg.slogdet(jac_auto)[1] - logdet).abs().max().item() < 1e-10
    # The conditioning part passes through unchanged; the other part moves.
    assert torch.equal(y[:, layer.cond], x[:, layer.cond])
    assert (y[:, layer.trans] - x[:, layer.trans]).abs().max() > 1e-2
    x_back, info = layer.inverse(y)
    assert info is None and (x_back - x).abs().max().item() < 1e-12


def test_tanh_coupling_starts_as_identity_and_scale_is_bounded() -> None:
    layer = AffineCoupling(2, (32, 32), parity=0, scale_bound=2.0, scale_map="tanh")
    x = torch.randn(64, 2)
    y, logdet = layer(x)
    assert torch.equal(y, x) and torch.equal(logdet, torch.zeros(64))
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(50 * torch.randn_like(p))
        _, logdet = layer(x * 100)
    assert logdet.abs().max().item() <= 2.0 + 1e-6
    assert logdet.abs().max().item() > 1.0  # the bound is actually approached


def test_sigmoid_coupling_starts_as_glows_contraction_and_never_expands() -> None:
    """Glow's code's form, ``y_b = (x_b + t) * sigmoid(raw + 2)``: at init ``t = raw = 0``, so
    ``y_b = sigmoid(2) x_b``; for any weights the scale lies in (0, 1), so ``log|det| < 0`` and
    ``|y_b| <= |x_b + t|``, and the inverse stays exact where the scale is tiny."""
    torch.manual_seed(0)  # the perturbations below: the same draw whatever ran before
    layer = AffineCoupling(2, (32, 32), parity=1)
    assert layer.scale_map == "sigmoid"
    x = torch.randn(64, 2)
    y, logdet = layer(x)
    s2 = 1 / (1 + math.exp(-2.0))
    assert torch.allclose(y[:, 0], s2 * x[:, 0]) and torch.equal(y[:, 1], x[:, 1])
    assert torch.allclose(logdet, torch.full((64,), math.log(s2)))
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(5 * torch.randn_like(p))
        xs = x * 100
        y, logdet = layer(xs)
        _, t, _ = layer._scale_shift(xs[:, 1:])
    assert torch.isfinite(logdet).all() and (logdet <= 0).all()  # (0 where rounded to 1)
    assert logdet.min() < -5  # strong contractions happen, and stay finite
    assert (y[:, 0].abs() <= (xs[:, 0] + t[:, 0]).abs() * (1 + 1e-6)).all()
    layer64 = AffineCoupling(2, (32, 32), parity=1).double()
    with torch.no_grad():
        for p in layer64.parameters():
            p.add_(0.7 * torch.randn_like(p))
        x64 = torch.randn(64, 2, dtype=torch.float64) * 2
        y64, ld64 = layer64(x64)
        back, _ = layer64.inverse(y64)
    assert (ld64 < 0).all() and ld64.std() > 1e-2  # x-dependent contractions
    assert (back - x64).abs().max() < 1e-10


def test_default_glow_survives_adams_first_steps_at_a_high_lr() -> None:
    """The reason for the sigmoid form: Adam's first update moves every weight by about ``lr``
    (Kingma & Ba 2015, Sec. 2.1), so every coupling of the default 32-step Glow changes its scale
    at once. With a scale that cannot exceed 1 no step is lost at lr 3e-2 (with the earlier
    ``tanh`` form the loss after the first update was not finite and the trainer paused)."""
    import iresnet_core as ic

    flow = ic.build_flow(ic.match_glow(ic.FlowConfig()))
    data = ic.datasets.sample("8gaussians", 2000, seed=0)
    with torch_threads(1):
        trainer = ic.Trainer(flow, data, lr=3e-2, lr_decay=None, seed=0, eval_every_s=math.inf)
        m = trainer.step(30)
    assert m["skipped_total"] == 0 and m["paused_reason"] is None
    assert math.isfinite(m["loss"])


@pytest.mark.parametrize("dim", [2, 3, 5])
def test_lu_linear_is_a_rotation_at_init_and_logdet_is_sum_log_s(dim: int) -> None:
    layer = InvertibleLinearLU(dim, torch.Generator().manual_seed(dim)).double()
    w = layer.weight()
    assert torch.allclose(w @ w.T, torch.eye(dim, dtype=torch.float64), atol=1e-6)
    assert abs(layer.log_s.sum().item()) < 1e-6
    assert layer.lower.numel() + layer.upper.numel() + layer.log_s.numel() == dim * dim
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.5 * torch.randn_like(p))
    w = layer.weight()
    x = torch.randn(6, dim, dtype=torch.float64)
    y, logdet = layer(x)
    assert torch.allclose(y, x @ w.T)
    assert torch.allclose(logdet, torch.linalg.slogdet(w)[1].expand(6), atol=1e-12)
    assert torch.allclose(layer.jacobian(x), w.expand(6, -1, -1))
    assert (layer.inverse(y)[0] - x).abs().max().item() < 1e-12
    # W = P L U': L unit lower triangular, U' upper triangular.
    lower, upper = layer._factors()
    assert torch.equal(torch.diagonal(lower), torch.ones(dim, dtype=torch.float64))
    assert torch.equal(torch.triu(lower, 1), torch.zeros(dim, dim, dtype=torch.float64))
    assert torch.equal(torch.tril(upper, -1), torch.zeros(dim, dim, dtype=torch.float64))


# ---------------------------------------------------------------------------------------------
# Unit mass
# ---------------------------------------------------------------------------------------------


def test_untrained_randomised_density_integrates_to_one() -> None:
    flow = randomised(
        FlowConfig(model="glow", n_blocks=4, hidden=(16, 16), seed=6), scale=0.1, seed=6
    )
    x = torch.randn(1000, 2, dtype=torch.float64)
    with torch.no_grad():
        lp = flow.double().log_prob(x)
    assert (lp - standard_normal_log_prob(x)).abs().max() > 0.5  # not the base density
    assert abs(density_mass(flow, box=10.0) - 1.0) < 0.02


def test_heavy_tailed_density_mass_in_box_matches_samples() -> None:
    """A strongly perturbed flow puts mass far out; the grid integral over the box must equal the
    fraction of its samples that land in the box (sampler and density agree)."""
    flow = randomised(
        FlowConfig(model="glow", n_blocks=4, hidden=(16, 16), seed=5), scale=0.3, seed=5
    )
    inside = (flow.sample(200_000, seed=1).abs() < 10.0).all(1).double().mean().item()
    assert inside < 0.9  # heavy tails: the check below is not just "mass 1"
    assert abs(density_mass(flow, box=10.0) - inside) < 0.01


def mixture(n: int, gen: torch.Generator) -> torch.Tensor:
    centres = torch.tensor([[2.0, 2.0], [-2.0, 2.0], [-2.0, -2.0], [2.0, -2.0]])
    k = torch.randint(0, 4, (n,), generator=gen)
    return centres[k] + 0.5 * torch.randn(n, 2, generator=gen)


@pytest.fixture
def one_thread():
    """Small matrices gain nothing from threads, and on a busy 2-core machine two OpenMP threads
    can make this loop ten times slower; restore the setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_trained_density_integrates_to_one_and_fits(one_thread) -> None:
    gen = torch.Generator().manual_seed(0)
    train, test = mixture(4000, gen), mixture(2000, gen)
    flow = build_glow(FlowConfig(model="glow", n_blocks=6, hidden=(32, 32), seed=0))
    opt = torch.optim.Adam(flow.parameters(), lr=5e-3)
    flow.train()
    flow.nll(train[:500])  # ActNorm data-dependent initialisation
    with torch.no_grad():
        before = flow.nll(test).item()
    for _ in range(300):
        idx = torch.randint(0, len(train), (256,), generator=gen)
        loss = flow.nll(train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    flow.eval()
    with torch.no_grad():
        after = flow.nll(test).item()
    # Entropy of the mixture: ln 4 + 1 + ln(2 pi 0.25) = 2.838 nats (components barely overlap).
    entropy = math.log(4) + 1 + math.log(2 * math.pi * 0.25)
    assert after < before - 0.3
    assert after < entropy + 0.6
    assert abs(density_mass(flow, box=7.0) - 1.0) < 0.02


# ---------------------------------------------------------------------------------------------
# Parameter counts and matching
# ---------------------------------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(cfg=configs)
def test_closed_form_parameter_count(cfg: FlowConfig) -> None:
    assert glow_parameter_count(cfg) == build_glow(cfg).num_parameters()


MATCH_CASES = [
    FlowConfig(),  # the live default: 32 blocks of 2-32-32-2
    FlowConfig(n_blocks=8, hidden=(128, 128)),  # the yardstick for speed
    FlowConfig(n_blocks=100, hidden=(64, 64, 64)),  # the paper's toy setup (Appendix C)
    FlowConfig(n_blocks=4, hidden=(32,)),
    FlowConfig(n_blocks=3, hidden=(16, 64), actnorm=False),
    FlowConfig(n_blocks=5, hidden=(48, 48), dim=3, seed=4),
    FlowConfig(n_blocks=1, hidden=(8,)),
]


@pytest.mark.parametrize("cfg", MATCH_CASES)
def test_match_glow_parameter_count_within_5_percent(cfg: FlowConfig) -> None:
    g = match_glow(cfg)
    assert g.model == "glow"
    assert (g.dim, g.n_blocks, g.actnorm, g.seed) == (cfg.dim, cfg.n_blocks, cfg.actnorm, cfg.seed)
    assert len(g.hidden) == len(cfg.hidden) and len(set(g.hidden)) == 1
    target, params = g.extra["matched_to"], g.extra["parameters"]
    assert target == _iresnet_parameter_count(cfg)
    assert params == glow_parameter_count(g)
    assert abs(params - target) <= 0.05 * target
    # The chosen width is the best one: neither neighbour comes closer.
    h = g.hidden[0]
    for other in (h - 1, h + 1):
        if other >= 1:
            neighbour = glow_parameter_count(g.replace(hidden=(other,) * len(g.hidden)))
            assert abs(neighbour - target) >= abs(params - target)


def test_match_glow_default_counts_and_built_model() -> None:
    g = match_glow(FlowConfig())
    # i-ResNet: 32 * (2*32+32 + 32*32+32 + 32*2+2 + 4 ActNorm) = 39104.
    assert g.extra == {"matched_to": 39104, "parameters": 38208}
    assert g.hidden == (32, 32)
    assert build_glow(g).num_parameters() == 38208
    g = match_glow(FlowConfig(n_blocks=8, hidden=(128, 128)))
    # i-ResNet: 8 * (2*128+128 + 128*128+128 + 128*2+2 + 4 ActNorm) = 137264.
    assert g.extra == {"matched_to": 137264, "parameters": 136272}
    assert g.hidden == (128, 128)


@pytest.mark.slow
def test_iresnet_count_agrees_with_the_real_iresnet() -> None:
    from iresnet_core.flows.build import count_parameters

    for cfg in MATCH_CASES[:1] + MATCH_CASES[2:]:
        assert match_glow(cfg).extra["matched_to"] == count_parameters(cfg)


# ---------------------------------------------------------------------------------------------
# Determinism and sampling
# ---------------------------------------------------------------------------------------------


def test_build_is_deterministic_in_seed_and_leaves_global_rng_alone() -> None:
    cfg = FlowConfig(model="glow", n_blocks=3, hidden=(16,), seed=11)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a, b = build_glow(cfg).state_dict(), build_glow(cfg).state_dict()
    assert torch.equal(torch.rand(3), expected_next)
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = build_glow(cfg.replace(seed=12)).state_dict()
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_sample_is_deterministic_and_finite() -> None:
    flow = randomised(FlowConfig(model="glow", n_blocks=4, hidden=(16, 16)), scale=0.1)
    s1, s2, s3 = flow.sample(500, seed=3), flow.sample(500, seed=3), flow.sample(500, seed=4)
    assert s1.shape == (500, 2)
    assert torch.isfinite(s1).all()
    assert torch.equal(s1, s2)
    assert not torch.equal(s1, s3)
    # Samples are the inverse of the seeded noise: pushing them forward returns that noise.
    z = torch.randn(500, 2, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert np.allclose(flow(s1)[0].numpy(), z.numpy(), atol=1e-5)
