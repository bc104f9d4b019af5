"""The frozen weights and the fast analysis on them: the frozen forward is the module's, a cache
key follows the parameters, the lens settings keep the mathematics (error under Banach's bound,
truncation under Theorem 3, roulette unbiased, power iteration from below), and nothing the
analysis does moves a live model.

The mathematical checks run on blocks near their Lipschitz bound (the first blocks of a shipped
pre-trained flow, ``trained``): an untrained block's Lipschitz constant is about 1e-3, where the
inverse converges in three iterations, the series is exact after two terms and an estimator of 0
is within any tolerance. Each check has a companion that feeds it a wrong answer (0, a bound or a
series one term off) and sees it fail, on the same fixture."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

import iresnet_core as ic
from iresnet_core import analysis as A
from iresnet_core.analysis import frozen
from iresnet_core.ops.mlp import mlp_forward
from tests.support import near_bound_blocks, scramble

BOX = (-4.0, 4.0, -4.0, 4.0)


@pytest.fixture(scope="module")
def small():
    flow = ic.build_flow(ic.FlowConfig(n_blocks=3, hidden=(32, 32), coeff=0.9, seed=1)).eval()
    x = ic.datasets.sample("8gaussians", 16, seed=3)
    return flow, frozen.freeze(flow), x


@pytest.fixture(scope="module")
def trained():
    """Six trained blocks (2-32-32-2, c = 0.9) near their bound and 16 points of their data."""
    flow = near_bound_blocks()
    return flow, frozen.freeze(flow), ic.datasets.sample("moons", 16, seed=3)


def _within_banach(error: np.ndarray, bound: np.ndarray) -> bool:
    """The fixed point's true error under Banach's a-posteriori bound, every block and n."""
    return bool(np.all(error <= bound * (1 + 1e-9) + 1e-12))


def _within_truncation(error: np.ndarray, bound: np.ndarray) -> bool:
    """The series' error under Theorem 3's bound, every block and N."""
    return bool(np.all(error <= bound + 1e-12))


def _unbiased(draws: np.ndarray, target: float) -> bool:
    """The draws' mean within four standard errors of ``target`` (no absolute slack)."""
    return bool(abs(draws.mean() - target) < 4 * draws.std() / math.sqrt(len(draws)))


def test_the_trained_fixture_is_near_its_lipschitz_bound(trained):
    """What makes the checks below bite: some block's Jacobian reaches 0.9 of its product bound
    and every block's log-det is far from 0 (the fixture in tests/data; replaced, it must stay
    so). An untrained flow's blocks have Jacobians and log-dets of about 1e-3."""
    _, fz, x = trained
    J = A.block_jacobians(fz, x)
    norms = torch.linalg.matrix_norm(J, ord=2).amax(1).numpy()
    assert np.all(fz.lipschitz() > 0.7) and np.max(norms / fz.lipschitz()) > 0.9
    assert np.all(norms > 0.1)
    logdets = torch.stack([ic.logdet.exact_logdet(j) for j in J]).abs().mean(1)
    assert torch.all(logdets > 0.05) and logdets.max() > 0.2


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


def test_inverse_error_under_banach_bound_per_c(trained):
    _, fz, x = trained
    curves = A.inverse_curves(fz, x, [0.5, 0.9, 0.99], max_iter=40)
    for cur in curves:
        assert cur.error.shape == (6, 40) and cur.flow_error.shape == cur.flow_ns.shape
        assert _within_banach(cur.error, cur.bound)
        assert not cur.diverged.any() and cur.converged
        assert A.iterations_to_tol(cur.residual[0], 1e-6) > 0
        assert list(cur.iterations(1e-6)) == list(cur.iterations_to_tol)
    # a smaller c contracts faster: strictly fewer iterations, every one of them converged
    worst = [A.iterations_to_tol(cur.worst()[0], 1e-6) for cur in curves]
    assert 0 < worst[0] < worst[1] < worst[2] <= 40, worst
    fast = curves[0]
    head = fast.head(10)
    assert head.residual.shape == (6, 10) and head.flow_ns.max() <= 10
    # the whole flow reconstructs within tolerance once every block has converged
    assert 0 < fast.flow_iterations(1e-6) <= worst[0]
    xs, ys, err = A.inverse_error_grid(fz, 0.5, BOX, 6, 40)
    assert err.shape == (6, 6) and np.nanmax(err) < 1e-8


def test_banach_check_tells_a_wrong_bound_or_a_stuck_iteration(trained):
    """On these blocks the error comes close to Banach's bound: the bound one iteration ahead of
    the error (``L^(n+1)``) is broken, and so is an iteration that never moves from ``x_0 = y``."""
    _, fz, x = trained
    cur = A.inverse_curves(fz, x, [0.5], max_iter=30)[0]
    assert _within_banach(cur.error, cur.bound)
    assert not _within_banach(cur.error[:, :-1], cur.bound[:, 1:])
    stuck = np.repeat(cur.error[:, :1] + cur.residual[:, :1], 30, axis=1)  # ||y - x*|| each n
    assert not _within_banach(stuck, cur.bound)


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


def _autograd_dets(flow: torch.nn.Module, pts: np.ndarray) -> np.ndarray:
    """``det J_F`` at every point by autograd through the module's own forward (float64): a
    reference that shares no code with the frozen one-pass determinant."""
    x = torch.as_tensor(pts, dtype=torch.float64).requires_grad_()
    flow = copy.deepcopy(flow).double()
    z, _ = flow(x, "exact")
    rows = [torch.autograd.grad(z[:, i].sum(), x, retain_graph=True)[0] for i in range(2)]
    return torch.linalg.det(torch.stack(rows, 1)).detach().numpy()


def test_unconstrained_inverse_reports_and_folds_are_counted():
    # big raw weights: the iteration cannot be a contraction, and F folds the plane
    flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16,), coeff=None, seed=0))
    scramble(flow, 6.0)
    flow.nll(torch.as_tensor(ic.datasets.sample("moons", 64, seed=1)))  # ActNorm's start
    fz = frozen.freeze(flow.eval())
    cur = A.inverse_curves(fz, ic.datasets.sample("moons", 8, seed=0), [None], max_iter=30)[0]
    assert np.isinf(cur.bound).all() and not cur.converged
    assert cur.diverged.any() or np.nanmax(cur.residual[:, -1]) > 1e-6
    xs, ys, err = A.inverse_error_grid(fz, None, BOX, 8, 10, torch.float32)
    assert err.shape == (8, 8)
    w = A.warped_grid(fz, BOX, n_lines=5, n_points=10, n_det=12, coeff=None)
    assert w.coeff is None
    # the fold fraction is the share of the grid where det J_F <= 0, counted independently
    gx, gy = np.meshgrid(w.xs, w.ys)
    dets = _autograd_dets(flow, np.stack([gx.ravel(), gy.ravel()], -1)).reshape(12, 12)
    np.testing.assert_allclose(w.det, dets, rtol=1e-3, atol=1e-5)
    assert 0.05 < w.folds < 0.95 and w.folds == pytest.approx(np.mean(dets <= 0), abs=2 / 144)
    # under a constraint c < 1 every I + J_g has a positive determinant: no fold at all
    assert A.warped_grid(fz, BOX, n_lines=5, n_points=10, n_det=12, coeff=0.9).folds == 0


def test_truncation_under_bound_roulette_unbiased_power_from_below(trained):
    _, fz, x = trained
    ld = A.truncation_curve(fz, x, 12, n_draws=16, coeff=0.7)
    assert _within_truncation(ld.error, ld.bound_c[None])
    assert _within_truncation(ld.error, ld.bound_lip)  # with each block's own L: sharper
    assert _within_truncation(ld.error_total, fz.n_blocks * ld.bound_c)
    assert ld.exact_total == pytest.approx(A.mean_logdet(fz, x, coeff=0.7))
    assert ld.series_total[4] == pytest.approx(A.mean_logdet(fz, x, 5, coeff=0.7))
    r = A.roulette_draws(fz, x, 4000, n_probes=16, seed=0)
    assert _unbiased(r, A.mean_logdet(fz, x))
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


def test_truncation_check_tells_a_zero_or_a_series_one_term_short(trained):
    """Theorem 3's bound with each block's own L is close to what these blocks reach: a log-det
    of 0 breaks it, and so does the series with N - 1 terms reported as N terms."""
    _, fz, x = trained
    ld = A.truncation_curve(fz, x, 12, n_draws=0, coeff=0.7)
    exact = torch.stack([ic.logdet.exact_logdet(j) for j in A.block_jacobians(fz, x, 0.7)])
    zero_err = exact.abs().mean(1).numpy()[:, None]  # |exact - 0|, every N
    assert not _within_truncation(np.repeat(zero_err, 12, 1), ld.bound_lip)
    one_short = np.concatenate([zero_err, ld.error[:, :-1]], 1)  # error of N - 1 terms at N
    assert not _within_truncation(one_short, ld.bound_lip)


def test_unbiasedness_check_tells_a_zero_or_a_truncated_estimator(trained):
    """The roulette's check at this many draws separates it from estimators that are biased by
    a term: 0, and the series cut at the roulette's two always-computed terms, or three."""
    _, fz, x = trained
    exact = A.mean_logdet(fz, x)
    assert not _unbiased(np.zeros(4000), exact)
    for n in (2, 3):
        assert not _unbiased(A.hutchinson_draws(fz, x, n, 16, n_draws=4000, seed=0), exact)


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
