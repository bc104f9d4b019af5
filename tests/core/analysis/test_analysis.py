"""The analysis behind the pages: curves under their bounds, mass on the grid, honest estimates."""

import math

import numpy as np
import pytest
import torch

import iresnet_core as ic
from iresnet_core import analysis as A
from iresnet_core.ops.spectral import refresh_power_iteration
from tests.support import scramble

DATA = ic.datasets.sample("8gaussians", 400, seed=0)


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    flow = ic.build_flow(ic.FlowConfig(n_blocks=3, hidden=(64, 64), coeff=0.9))
    ic.Trainer(
        flow, ic.datasets.sample("8gaussians", 2000, 0), lr=5e-3, batch_size=256, seed=0
    ).step(40)
    return flow.eval()


def test_density_grid_holds_unit_mass(trained):
    g = A.density_grid(trained, (-7, 7, -7, 7), n=200)
    assert g.density.shape == (200, 200)
    assert g.mass == pytest.approx(1.0, abs=0.02)
    # density[i, j] is p at (xs[j], ys[i])
    i, j = 37, 151
    with torch.no_grad():
        p = trained.log_prob(torch.tensor([[g.xs[j], g.ys[i]]])).exp().item()
    assert g.density[i, j] == pytest.approx(p, rel=1e-4)


@pytest.mark.parametrize(
    "model, hidden",
    [("iresnet", (16,)), ("iresnet", (16, 16)), ("iresnet", (8, 16, 8)), ("glow", (16, 16))],
)
def test_log_prob_many_matches_log_prob_with_weights_prepared_once(model, hidden):
    """The density grid's pass (each layer's weights prepared once, points in chunks over worker
    threads) gives the numbers of ``log_prob``, on a flow far from its initialisation, with a
    ragged last chunk; one, two and three hidden layers take different branches of the pass."""
    cfg = ic.FlowConfig(model=model, n_blocks=3, hidden=hidden, coeff=0.9)
    flow = ic.build_flow(cfg if model == "iresnet" else ic.match_glow(cfg))
    with torch.no_grad():
        for p in flow.parameters():  # ActNorm biases and scales too, not only the blocks' weights
            p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    scramble(flow, 3.0)
    # the power iteration's vectors follow the new weights, so the constraint holds (c = 0.9) and
    # no point sits near a singular Jacobian, where float32 rounding of any two passes differs
    refresh_power_iteration(flow, n_iter=100)
    flow.eval()
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(1)) * 2
    with torch.no_grad():
        ref = flow.log_prob(x)
    for workers in (1, 3):
        many = flow.log_prob_many(x, chunk=7, workers=workers)
        assert many.shape == (50,)
        torch.testing.assert_close(many, ref, atol=1e-5, rtol=1e-5)
    assert flow.log_prob_many(x[:0]).shape == (0,)
    with pytest.raises(ValueError, match="chunk"):
        flow.log_prob_many(x, chunk=0)


def test_inverse_error_lies_under_banach_bound(trained):
    curves = A.inverse_curves(trained, DATA[:100], [0.5, 0.7, 0.9, 0.99], max_iter=30, tol=1e-6)
    for cur in curves:
        assert not cur.diverged.any() and cur.converged
        assert (cur.lipschitz < 1).all()
        # ||x_n - x*|| <= L^n/(1-L) ||x_1 - x_0|| at every n, for every block (float64 slack)
        assert (cur.error <= cur.bound * (1 + 1e-9) + 1e-12).all()
        assert cur.flow_error[-1] < 1e-6
    # a smaller c converges faster
    its = [cur.iterations_to_tol.max() for cur in curves]
    assert its == sorted(its) and its[0] < its[-1]


def test_unconstrained_inverse_curves_show_failure_without_error():
    flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(32, 32), coeff=None, seed=1))
    scramble(flow, 6)
    (cur,) = A.inverse_curves(flow, DATA[:50], [None], max_iter=40)
    assert cur.coeff is None
    assert np.isinf(cur.bound).all()
    assert not cur.converged  # it does not reach the tolerance (diverges or oscillates)


def test_truncation_error_lies_under_its_bound(trained):
    tc = A.truncation_curve(trained, DATA[:200], n_max=20, n_draws=32)
    assert tc.error.shape == (3, 20)
    assert (tc.error <= tc.bound_c[None, :] + 1e-9).all()
    assert (tc.error <= tc.bound_lip + 1e-9).all()
    assert tc.error_total[-1] < tc.error_total[0]
    # The Hutchinson estimate scatters around the truncated series: its median error is small
    # next to its spread at N = 20, where truncation is negligible.
    assert abs(tc.hutchinson_q[2, -1]) < (tc.hutchinson_q[4, -1] - tc.hutchinson_q[0, -1])


def test_power_iteration_approaches_sigma_from_below(trained):
    pt = A.power_iteration_trace(trained, n_iter=200)
    assert pt.estimates.shape == (9, 201)
    assert (pt.estimates <= pt.exact[:, None] * (1 + 1e-9)).all()
    assert np.allclose(pt.estimates[:, -1], pt.exact, rtol=1e-3)
    # and it is an underestimate at the start, the paper's warning
    assert (pt.estimates[:, 0] < pt.exact).any()


def test_block_lipschitz_empirical_below_product_bound(trained):
    bl = A.block_lipschitz(trained, DATA)
    assert (bl.empirical <= bl.product_bound + 1e-6).all()
    assert (bl.empirical > 0).all()


def test_warped_grid_has_no_folds_when_constrained(trained):
    w = A.warped_grid(trained, (-4, 4, -4, 4), n_lines=5, n_points=20, n_det=30)
    assert len(w.lines_z) == 10 and w.lines_z[0].shape == (20, 2)
    assert w.folds == 0.0 and (w.det > 0).all()


def test_warped_grid_finds_folds_of_an_unconstrained_net():
    torch.manual_seed(3)
    flow = ic.build_flow(
        ic.FlowConfig(n_blocks=1, hidden=(64,), coeff=None, actnorm=False, seed=3)
    )
    scramble(flow, 10)
    w = A.warped_grid(flow, (-4, 4, -4, 4), n_det=60)
    assert 0 < w.folds < 1


def test_with_coeff_keeps_raw_weights_and_changes_the_constraint(trained):
    half = A.with_coeff(trained, 0.5)
    for a, b in zip(trained.parameters(), half.parameters()):
        assert torch.equal(a, b)
    assert max(b.lipschitz_bound() for b in _blocks(half)) <= 0.5**3 * 1.01
    assert A.with_coeff(trained, None).cfg.coeff is None


def test_roulette_is_unbiased_on_a_flow():
    flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(32,), coeff=0.6, seed=2))
    scramble(flow, 3)
    flow.train()
    flow(torch.randn(64, 2))
    draws = A.roulette_draws(flow, DATA[:100], n_draws=600)
    with torch.no_grad():  # the blocks' exact log-det (ActNorm's is not estimated)
        exact = sum(ic.logdet.exact_logdet(J) for J in A.block_jacobians(flow.eval(), DATA[:100]))
    se = draws.std() / math.sqrt(len(draws))
    assert abs(draws.mean() - exact.mean().item()) < 4 * se
    assert se > 0  # a random estimate, not the exact value in disguise


def test_series_error_grid_and_cost_shapes(trained):
    xs, ys, err = A.series_error_grid(trained, (-3, 3, -3, 3), 20, 3)
    assert err.shape == (20, 20) and (err >= 0).all()
    # each cell is |exact - series_3| of the blocks' total log-det at that point
    p = np.array([[xs[7], ys[4]]], dtype=np.float32)
    assert err[4, 7] == pytest.approx(
        abs(A.mean_logdet(trained, p) - A.mean_logdet(trained, p, 3)), rel=1e-6, abs=1e-12
    )
    every = A.series_error_grid(trained, (-3, 3, -3, 3), 20, 3, every_n=True)[2]
    assert every.shape == (3, 20, 20) and np.allclose(every[-1], err)
    p1 = abs(A.mean_logdet(trained, p) - A.mean_logdet(trained, p, 1))
    assert every[0, 4, 7] == pytest.approx(p1, rel=1e-6, abs=1e-12)
    cost = A.estimator_cost(trained, DATA[:100], [1, 5], repeats=1)
    assert set(cost) == {"exact", "series", "hutchinson", "roulette"}
    assert all(v.shape == (2,) and (v > 0).all() for v in cost.values())
    # exact and roulette do not use N: one figure for the whole row (roulette's a mean over its
    # draws)
    assert np.ptp(cost["exact"]) == 0 and np.ptp(cost["roulette"]) == 0


def test_estimator_cost_of_the_averaged_weights_the_playground_shows():
    # Trainer.eval_flow's parameters do not require grad; timing a backward on it must still work
    # (the Log-determinant page looking at the Playground's i-ResNet raised here).
    tr = ic.Trainer(
        ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16,))), DATA, batch_size=100, seed=0
    )
    tr.step(3)
    avg = tr.eval_flow
    assert avg is not tr.flow and not any(p.requires_grad for p in avg.parameters())
    cost = A.estimator_cost(avg, DATA[:50], [1, 3], repeats=1)
    assert all(v.shape == (2,) and (v > 0).all() for v in cost.values())
    assert not any(p.requires_grad for p in avg.parameters())  # the shown model is left as it was


def test_glow_has_no_residual_analysis():
    glow = ic.build_flow(ic.FlowConfig(model="glow", n_blocks=2, hidden=(16,), coeff=None))
    assert math.isnan(A.lipschitz_bound(glow))
    with pytest.raises(ValueError, match="i-ResNet"):
        A.truncation_curve(glow, DATA[:10])


def _blocks(flow):
    """The flow's residual blocks (the layers with a Lipschitz bound)."""
    return [layer for layer in flow.layers if hasattr(layer, "lipschitz_bound")]
