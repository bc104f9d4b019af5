"""The frozen weights and the fast analysis on them: the frozen forward is the module's, a cache
key follows the parameters, the lens settings keep the mathematics (error under Banach's bound,
truncation under Theorem 3, roulette unbiased, power iteration from below), and nothing the
analysis does moves a live model. Tiny flows; moved here from the dashboard's lens tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import iresnet_core as ic
from iresnet_core import analysis as A
from iresnet_core.analysis import frozen
from iresnet_core.ops.mlp import mlp_forward
from tests.support import scramble

BOX = (-4.0, 4.0, -4.0, 4.0)


@pytest.fixture(scope="module")
def small():
    flow = ic.build_flow(ic.FlowConfig(n_blocks=3, hidden=(32, 32), coeff=0.9, seed=1)).eval()
    x = ic.datasets.sample("8gaussians", 16, seed=3)
    return flow, frozen.freeze(flow), x


def test_freeze_matches_the_module_and_key_tracks_parameters(small):
    flow, fz, x = small
    assert fz.n_blocks == 3 and len(fz.layer_names()) == 9
    # exact renormalisation at c: every block's product bound is at most c^3
    assert np.all(fz.lipschitz(0.5) <= 0.5**3 + 1e-12)
    # as built, the frozen forward is the module's forward (same normalised weights)
    z_core, ld = flow(torch.as_tensor(x), "exact")
    z, _ = frozen.forward(fz, fz.weights(), torch.as_tensor(x, dtype=torch.float64))
    assert np.allclose(z.numpy(), z_core.detach().numpy(), atol=1e-5)
    # and at its own c with the exact sigma, close to it (power iteration vs SVD)
    z_c, _ = frozen.forward(
        fz, fz.weights(flow.cfg.coeff), torch.as_tensor(x, dtype=torch.float64)
    )
    assert np.allclose(z_c.numpy(), z_core.detach().numpy(), atol=2e-3)
    # the one-pass det J_F is the module's Jacobian determinant
    _, det = frozen.forward_det(fz, fz.weights(), torch.as_tensor(x, dtype=torch.float64))
    det_core = torch.linalg.det(flow.jacobian(torch.as_tensor(x)))
    assert np.allclose(det.numpy(), det_core.numpy(), rtol=1e-4)
    assert np.allclose(fz.lipschitz(), [b.lipschitz_bound() for b in _blocks(flow)], rtol=1e-6)
    k1 = frozen.param_key(flow)
    twin = ic.build_flow(flow.cfg)
    twin.load_state_dict(flow.state_dict())
    assert frozen.param_key(twin) == k1
    with torch.no_grad():
        twin.layers[0].g.linears[0].bias.add_(1e-3)
    assert frozen.param_key(twin) != k1


def test_inverse_error_under_banach_bound_per_c(small):
    _, fz, x = small
    for cur in A.inverse_curves(fz, x, [0.5, 0.9, 0.99], max_iter=25):
        assert cur.error.shape == (3, 25) and cur.flow_error.shape == cur.flow_ns.shape
        assert np.all(cur.error <= cur.bound * (1 + 1e-9) + 1e-12)
        assert not cur.diverged.any()
        assert A.iterations_to_tol(cur.residual[0], 1e-6) > 0
        assert list(cur.iterations(1e-6)) == list(cur.iterations_to_tol)
    fast, slow = A.inverse_curves(fz, x, [0.5, 0.99], max_iter=25)
    assert (
        A.iterations_to_tol(fast.worst()[0], 1e-6) <= A.iterations_to_tol(slow.worst()[0], 1e-6)
        or A.iterations_to_tol(slow.worst()[0], 1e-6) == -1
    )
    head = fast.head(10)
    assert head.residual.shape == (3, 10) and head.flow_ns.max() <= 10
    # the whole flow reconstructs within tolerance once every block has converged
    assert 0 < fast.flow_iterations(1e-6) <= 25
    xs, ys, err = A.inverse_error_grid(fz, 0.5, BOX, 6, 40)
    assert err.shape == (6, 6) and np.nanmax(err) < 1e-8


def test_batched_inverse_curves_are_the_plain_iteration(small):
    """Every c and every block iterate in one batch: the numbers are those of Algorithm 1 run block
    by block, one c at a time (residual, true error, the whole flow's reconstruction error)."""
    flow = scramble(
        ic.build_flow(ic.FlowConfig(n_blocks=3, hidden=(16, 16), coeff=0.9, seed=2)), 1.5
    )
    x = ic.datasets.sample("moons", 16, seed=3) + np.float32(2.0)
    flow.nll(torch.as_tensor(x))  # ActNorm starts from these points: a bias and a scale to undo
    fz = frozen.freeze(flow.eval())
    coeffs = [0.3, 0.99, None]
    together = A.inverse_curves(fz, x, coeffs, max_iter=40)
    x0 = torch.as_tensor(x, dtype=torch.float64)
    n_settled = 0
    for c, cur in zip(coeffs, together):
        (alone,) = A.inverse_curves(fz, x, [c], max_iter=40)
        assert np.allclose(alone.residual, cur.residual, rtol=1e-12, atol=1e-300, equal_nan=True)
        P = fz.weights(c)
        z, pairs = frozen.forward(fz, P, x0)
        blocks = [
            (layer, p) for layer, p in zip(fz.layers, P) if isinstance(layer, frozen.FrozenBlock)
        ]
        for k, ((layer, p), (x_true, y)) in enumerate(zip(blocks, pairs)):
            xn, res, err = y, [], []
            for _ in range(40):
                nxt = y - mlp_forward(p, layer.act, xn)
                res.append(float((nxt - xn).norm(dim=-1).max()))
                err.append(float((nxt - x_true).norm(dim=-1).max()))
                xn = nxt
            settled = [n for n in range(2, 40) if res[n] < 1e-15]
            if settled:  # the curves keep a float64 fixed point's values from there on
                res[settled[0] :] = [res[settled[0]]] * (40 - settled[0])
                err[settled[0] :] = [err[settled[0]]] * (40 - settled[0])
            n_settled += bool(settled)
            if settled:  # held exactly (a log-scale plot shows no drop to zero)
                assert (
                    len(set(cur.residual[k][settled[0] :])) == 1
                    and len(set(cur.error[k][settled[0] :])) == 1
                )
            assert np.allclose(cur.residual[k], res, rtol=1e-9, atol=1e-14)
            assert np.allclose(cur.error[k], err, rtol=1e-9, atol=1e-14)
        for n in (1, 5, 40):
            rec = frozen.inverse_n(fz, P, z[:8], n)
            want = float((rec - x0[:8]).norm(dim=-1).max())
            for r in (cur, alone):  # alone, a contracting block stops once settled
                assert r.flow_error[list(r.flow_ns).index(n)] == pytest.approx(
                    want, rel=1e-9, abs=1e-14
                )
    assert n_settled >= 3  # the fixed-point shortcut was exercised


def test_unconstrained_inverse_reports_without_crashing():
    # big raw weights: the iteration cannot be a contraction
    flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16,), coeff=None, seed=0))
    scramble(flow, 6.0)
    fz = frozen.freeze(flow)
    cur = A.inverse_curves(fz, ic.datasets.sample("moons", 8, seed=0), [None], max_iter=30)[0]
    assert np.isinf(cur.bound).all()
    assert cur.diverged.any() or np.nanmax(cur.residual[:, -1]) > 1e-6
    xs, ys, err = A.inverse_error_grid(fz, None, BOX, 8, 10, torch.float32)
    assert err.shape == (8, 8)
    w = A.warped_grid(fz, BOX, n_lines=5, n_points=10, n_det=12, coeff=None)
    assert 0 <= w.folds <= 1 and w.coeff is None


def test_truncation_under_bound_roulette_unbiased_power_from_below(small):
    _, fz, x = small
    ld = A.truncation_curve(fz, x, 12, n_draws=16, coeff=0.7)
    assert np.all(ld.error <= ld.bound_c[None] + 1e-9)
    assert np.all(ld.error_total <= fz.n_blocks * ld.bound_c + 1e-9)
    assert ld.exact_total == pytest.approx(A.mean_logdet(fz, x, coeff=0.7))
    assert ld.series_total[4] == pytest.approx(A.mean_logdet(fz, x, 5, coeff=0.7))
    r = A.roulette_draws(fz, x, 3000, seed=0, coeff=0.7)
    assert abs(r.mean() - ld.exact_total) < 4 * r.std() / math.sqrt(len(r)) + 1e-3
    h = A.hutchinson_draws(fz, x, 12, 2, "rademacher", 50, coeff=0.7)
    assert np.all(np.isfinite(h))
    # Hutchinson is unbiased for the truncated series it estimates (every block, both probes), on
    # blocks far enough from the identity that N = 1 and N = 3 differ by many standard errors
    sc = frozen.freeze(
        scramble(ic.build_flow(ic.FlowConfig(n_blocks=3, hidden=(16, 16), seed=4)), 4.0).eval()
    )
    n1, n3 = A.mean_logdet(sc, x, 1, coeff=0.95), A.mean_logdet(sc, x, 3, coeff=0.95)
    tc = A.truncation_curve(sc, x, 3, n_probes=64, n_draws=200, seed=6, coeff=0.95)
    for probe in ("gaussian", "rademacher"):
        h = A.hutchinson_draws(sc, x, 3, 1, probe, 8000, seed=5, coeff=0.95)
        se = h.std() / math.sqrt(len(h))
        assert abs(h.mean() - n3) < 4 * se and abs(n1 - n3) > 10 * se
    # the truncation curve's draws (64 probes each: a narrow spread) sit on the series too
    assert abs(tc.hutchinson_q[2, 2] - (n3 - tc.exact_total)) < abs(n1 - n3) / 3
    pw = A.power_iteration_trace(fz, n_iter=40, coeff=0.7)
    assert np.all(pw.estimates <= pw.exact[:, None] * (1 + 1e-9))
    gap = pw.exact - pw.estimates[:, -1]
    assert np.all(gap <= pw.exact - pw.estimates[:, 0] + 1e-12) and np.all(gap < 0.01 * pw.exact)
    assert np.all(pw.exact <= 0.7 + 1e-9)
    bl = A.block_lipschitz(fz, x, coeff=0.7)
    assert np.all(bl.empirical <= bl.product_bound + 1e-9)
    xs, ys, grid = A.series_error_grid(fz, BOX, 6, 12, coeff=0.7, every_n=True)
    assert grid.shape == (12, 6, 6)
    _, _, last = A.series_error_grid(fz, BOX, 6, 12, coeff=0.7)
    assert np.array_equal(last, grid[-1], equal_nan=True)


def test_hutchinson_terms_2d_fast_path_is_the_matrix_form():
    gen = torch.Generator().manual_seed(0)
    J = 0.4 * torch.randn(7, 2, 2, generator=gen, dtype=torch.float64)
    v = torch.randn(7, 5, 2, generator=gen, dtype=torch.float64)
    fast = ic.logdet.hutchinson_terms(J, 6, v)
    w, slow = v, []
    for k in range(1, 7):
        w = w @ J.transpose(-1, -2)
        slow.append((1 if k % 2 else -1) * (v * w).sum(-1) / k)
    assert torch.allclose(fast, torch.stack(slow, -1), atol=1e-12)


def test_analysis_leaves_a_live_model_alone():
    flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16,), coeff=0.9, seed=4))
    ic.Trainer(flow, ic.datasets.sample("moons", 500, 0), batch_size=100, seed=0).step(3)
    flow.train()  # as a live Playground model between bursts
    before = {k: v.clone() for k, v in flow.state_dict().items()}
    grads = [None if p.grad is None else p.grad.clone() for p in flow.parameters()]
    cfg = flow.cfg
    x = ic.datasets.sample("moons", 32, seed=1)
    A.estimator_cost(flow, x, [1, 3], repeats=1)
    A.inverse_curves(flow, x, [0.5, None], max_iter=5)
    A.truncation_curve(flow, x, 5, n_draws=4)
    A.warped_grid(flow, BOX, n_lines=3, n_points=5, n_det=4)
    A.power_iteration_trace(flow, n_iter=3)
    assert flow.training and flow.cfg == cfg
    assert all(
        (g is None and p.grad is None) or torch.equal(g, p.grad)
        for g, p in zip(grads, flow.parameters())
    )
    after = flow.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_glow_is_refused_by_the_i_resnet_lenses_but_warps():
    glow = ic.build_flow(ic.FlowConfig(model="glow", n_blocks=2, hidden=(16,), coeff=None))
    with pytest.raises(ValueError, match="i-ResNet"):
        A.inverse_curves(glow, np.zeros((2, 2), np.float32), [0.5])
    w = A.warped_grid(glow, BOX, n_lines=3, n_points=5, n_det=4)
    assert w.det.shape == (4, 4) and np.isfinite(w.det).all()


def _blocks(flow):
    """The flow's residual blocks (the layers with a Lipschitz bound)."""
    return [layer for layer in flow.layers if hasattr(layer, "lipschitz_bound")]
