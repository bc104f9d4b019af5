"""The lens pages' figures and the numbers behind them: bound traces dashed, log axes where promised,
and the mathematics the pages rely on (error under Banach's bound, truncation under Theorem 3,
power iteration from below, roulette unbiased), on tiny flows."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

import iresnet_core as ic
from dashboard import lens_compute as lc
from dashboard.figures import inverse as fi
from dashboard.figures import lipschitz as fl
from dashboard.figures import logdet as fd

BOX = (-4.0, 4.0, -4.0, 4.0)


@pytest.fixture(scope="module")
def small():
    flow = ic.build_flow(ic.FlowConfig(n_blocks=3, hidden=(32, 32), coeff=0.9, seed=1)).eval()
    x = ic.datasets.sample("8gaussians", 16, seed=3)
    return flow, lc.freeze(flow), x


# ------------------------------------------------------------------ compute
def test_freeze_matches_core_and_key_tracks_parameters(small):
    flow, fz, x = small
    assert fz.n_blocks == 3 and len(fz.layer_names()) == 9
    # exact renormalisation at c: every block's product bound is at most c^3
    assert np.all(lc.lipschitz_of(fz, 0.5) <= 0.5 ** 3 + 1e-12)
    # the frozen forward is the module's forward
    z_core, _ = flow(torch.as_tensor(x), "exact")
    z, _ = lc._forward(fz, lc.weights_at(fz, flow.cfg.coeff), torch.as_tensor(x, dtype=torch.float64))
    assert np.allclose(z.numpy(), z_core.detach().numpy(), atol=2e-3)
    k1 = lc.param_key(flow)
    twin = ic.build_flow(flow.cfg)
    twin.load_state_dict(flow.state_dict())
    assert lc.param_key(twin) == k1
    with torch.no_grad():
        twin.layers[0].g.linears[0].bias.add_(1e-3)
    assert lc.param_key(twin) != k1


def test_inverse_error_under_banach_bound_and_table(small):
    _, fz, x = small
    for cur in lc.inverse_curves(fz, x, [0.5, 0.9, 0.99], horizon=25):
        assert cur.error.shape == (3, 25) and cur.flow_error.shape == cur.flow_ns.shape
        assert np.all(cur.error <= cur.bound * (1 + 1e-9) + 1e-12)
        assert not cur.diverged.any()
        assert lc.iterations_to_tol(cur.residual[0], 1e-6) > 0
    fast, slow = lc.inverse_curves(fz, x, [0.5, 0.99], horizon=25)
    assert lc.iterations_to_tol(fast.worst()[0], 1e-6) <= lc.iterations_to_tol(slow.worst()[0], 1e-6) or \
        lc.iterations_to_tol(slow.worst()[0], 1e-6) == -1
    head = fast.head(10)
    assert head.residual.shape == (3, 10) and head.flow_ns.max() <= 10


def test_unconstrained_inverse_reports_without_crashing():
    # big raw weights: the iteration cannot be a contraction
    flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16,), coeff=None, seed=0))
    with torch.no_grad():
        for p in flow.parameters():
            p.mul_(6.0)
    fz = lc.freeze(flow)
    cur = lc.inverse_curves(fz, ic.datasets.sample("moons", 8, seed=0), [None], horizon=30)[0]
    assert np.isinf(cur.bound).all()
    assert cur.diverged.any() or np.nanmax(cur.residual[:, -1]) > 1e-6
    xs, ys, err = lc.inverse_error_grid(fz, None, BOX, 8, 10, torch.float32)
    assert err.shape == (8, 8)
    w = lc.warped(fz, None, BOX, n_lines=5, n_points=10, n_det=12)
    assert 0 <= w.folds <= 1


def test_truncation_under_bound_roulette_unbiased_power_from_below(small):
    _, fz, x = small
    lips = lc.lipschitz_of(fz, 0.7)
    J = lc.block_jacobians(fz, 0.7, x)
    ld = lc.logdet_lens(J, 12, lips, 0.7)
    assert np.all(ld.error_blocks <= ld.bound_c[None] + 1e-9)
    assert np.all(ld.error_total <= fz.n_blocks * ld.bound_c + 1e-9)
    r = lc.roulette_draws(J, 3000, 1, "gaussian", seed=0)
    assert abs(r.mean() - ld.exact_total) < 4 * r.std() / math.sqrt(len(r)) + 1e-3
    h = lc.hutchinson_draws(J, 12, 2, "rademacher", 50)
    assert np.all(np.isfinite(h))
    pw = lc.power_trace(fz, 0.7, n_iter=40)
    assert np.all(pw.estimates <= pw.exact[:, None] * (1 + 1e-9))
    gap = pw.exact - pw.estimates[:, -1]
    assert np.all(gap <= pw.exact - pw.estimates[:, 0] + 1e-12) and np.all(gap < 0.01 * pw.exact)
    bound, emp = lc.block_lipschitz(fz, 0.7, x)
    assert np.all(emp <= bound + 1e-9)
    xs, ys, grid = lc.series_error_grid(fz, 0.7, BOX, 6, 12)
    assert grid.shape == (12, 6, 6)


# ------------------------------------------------------------------ figures
def _dashes(fig: go.Figure, prefix: str) -> list:
    return [t.line.dash for t in fig.data if (t.name or "").startswith(prefix)]


def test_inverse_figures():
    ns = np.arange(1, 21)
    sets = [fi.CurveSet(fi.coeff_label(c), fi.coeff_color(c, c == 0.8), ns, c ** ns, c ** ns / 2, c ** ns / (1 - c),
                        c == 0.8) for c in (0.5, 0.8)]
    sets.append(fi.CurveSet("unconstrained", fi.coeff_color(None), ns, np.full(20, 3.0), np.r_[np.ones(10), [np.nan] * 10],
                            np.full(20, np.inf)))
    fig = fi.convergence_figure(sets, tol=1e-6, title="t")
    assert isinstance(fig, go.Figure)
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.type == "log"
    assert _dashes(fig, "bound") == ["dash", "dash"]  # no bound for the unconstrained curve
    assert any(t.line.width == 3 for t in fig.data)  # the current c stands out
    assert set(fi.convergence_table(sets)) == {"c", "n", "residual", "error", "bound"}
    ff = fi.flow_error_figure([("c=0.5", "#000", ns, 0.5 ** ns, True)], tol=1e-6, n_mark=5)
    assert ff.layout.yaxis.type == "log" and len(ff.data) == 1
    xs = ys = np.linspace(-1, 1, 5)
    err = np.full((5, 5), 1e-3)
    err[0, 0] = np.nan
    hm = fi.error_heatmap_figure(xs, ys, err, n=7, label="c=0.9", data=np.zeros((3, 2)), point=(0.1, 0.2))
    assert hm.data[0].type == "heatmap" and hm.data[0].z[0][0] == math.log10(fi.CAP)
    assert any(t.name == "clicked point" for t in hm.data) and hm.layout.clickmode == "event+select"
    rows = fi.iterations_rows(["c=0.5", "free"], [np.array([0.1, 0.2]), np.array([2.0, 1.5])], [[3, 4], [-1, -1]],
                              [[0, 0], [0, 7]], [5, -1], 20)
    assert rows["block 2"] == ["4", "diverged (7)"] and rows["whole flow"] == ["5", "> 20"]
    assert rows["max L"][1].endswith("≥ 1")


def test_logdet_figures():
    ns = np.arange(1, 21)
    tr = fd.truncation_figure(ns, 0.5 ** ns, 2 * 0.6 ** ns, 4 * 0.5 ** ns, n_terms=5, n_blocks=2,
                              error_blocks=np.vstack([0.4 ** ns, 0.3 ** ns]))
    assert tr.layout.yaxis.type == "log"
    assert [t.line.dash for t in tr.data if t.name.startswith("bound")] == ["dash", "dot"]
    free = fd.truncation_figure(ns, 0.5 ** ns, np.full(20, np.inf), None, n_terms=5, n_blocks=2)
    assert not any(t.name.startswith("bound") for t in free.data)
    q = np.vstack([np.full(20, v) for v in (-2, -1, 0, 1, 2)])
    hu = fd.hutchinson_figure(ns, q, 0.1 * ns, n_terms=5, n_probes=2, probe="gaussian")
    assert [t.fill for t in hu.data[:2]] == ["toself", "toself"]
    es = fd.estimators_figure(-0.4, -0.3, np.random.default_rng(0).normal(-0.3, 0.1, 50),
                              np.random.default_rng(1).normal(-0.4, 0.3, 50), n_terms=5)
    assert [t.type for t in es.data[:2]] == ["violin", "violin"]
    assert es.layout.xaxis2.type == "log"
    co = fd.cost_figure([1, 5, 10], {"exact": np.ones(3), "series": np.array([1.0, 2, 3])}, n_terms=5, n_points=64)
    assert len(co.data) == 2
    hm = fd.series_heatmap_figure(np.linspace(0, 1, 4), np.linspace(0, 1, 4), np.full((4, 4), 1e-3), n_terms=5)
    assert hm.data[0].type == "heatmap"


def test_lipschitz_figures():
    est = np.array([[0.5, 0.8, 0.89, 0.9], [0.1, 0.3, 0.5, 0.6]])
    fig = fl.power_figure(["W1", "W2"], est, np.array([0.9, 0.61]), k=3)
    assert _dashes(fig, "exact") == ["dash", "dash"] and fig.layout.yaxis2.type == "log"
    bl = fl.block_lipschitz_figure(np.array([0.7, 0.72]), np.array([0.4, 0.5]), coeff=0.9,
                                   trained=np.array([0.73, 0.8]))
    assert [t.type for t in bl.data] == ["bar", "bar", "bar"]
    lx = np.random.default_rng(0).normal(size=(4, 6, 2))
    det = np.ones((4, 6))
    det[0, :3] = -1
    grid_det = np.ones((5, 5))
    grid_det[:2] = -1
    wf = fl.warp_figure(lx, lx * 2, det, np.linspace(0, 1, 5), np.linspace(0, 1, 5), grid_det, label="unconstrained",
                        folds=0.4)
    assert any(t.name == "det J ≤ 0 (fold)" and len(t.x) == 3 for t in wf.data)
    assert any(t.type == "contour" for t in wf.data)  # det J = 0 outlined
    sf = fl.warp_strip_figure([("c=0.5", lx, np.ones((4, 6)), 0.0), ("unconstrained", lx, det, 0.3)],
                              current="c=0.5")
    assert len(sf.layout.annotations) == 2 and sf.layout.annotations[0].text.startswith("▶")
    assert set(fl.warp_table(lx, lx, det)) == {"line", "x1", "x2", "z1", "z2", "det_J"}
