"""The flow block by block: the last depth is the flow, every partial density has mass 1, Glow's
coupling moves one coordinate and an i-ResNet block both, an unconstrained ResNet folds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import iresnet_core as ic
from iresnet_core.analysis import layers as L
from iresnet_core.analysis.grid import grid_points
from iresnet_core.ops.spectral import refresh_power_iteration
from iresnet_core.training.threads import torch_threads
from tests.support import ROOT, scramble

CHECKPOINTS = ROOT / "assets" / "checkpoints"
DATA = ic.datasets.sample("8gaussians", 300, seed=3)


def _scrambled(model: str, scale: float = 2.0, coeff: float | None = 0.9) -> ic.Flow:
    """A small flow far from its near-identity start: every weight random (spectral size about
    ``scale``), ActNorm biases and scales moved, the power iteration refreshed so that c holds."""
    cfg = ic.FlowConfig(model="iresnet", n_blocks=4, hidden=(32, 32), coeff=coeff, seed=1)
    flow = ic.build_flow(cfg if model == "iresnet" else ic.match_glow(cfg))
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in flow.parameters():
            if p.ndim == 1:  # biases, ActNorm, LU factors: a moderate random offset
                p.add_(0.3 * torch.randn(p.shape, generator=gen))
    scramble(flow, scale)
    refresh_power_iteration(flow, n_iter=100)
    return flow.eval()


@pytest.fixture(scope="module", params=["iresnet", "glow"])
def pretrained(request) -> ic.Flow:
    return ic.load(CHECKPOINTS / "8gaussians" / request.param).eval()


@pytest.mark.parametrize("model", ["iresnet", "glow"])
def test_blocks_group_every_layer_once_with_one_nonlinear_layer(model):
    flow = _scrambled(model)
    blocks = L.flow_blocks(flow)
    assert len(blocks) == flow.cfg.n_blocks
    assert [layer for b in blocks for layer in b] == list(flow.layers)
    kinds = [[L.layer_kind(layer) for layer in b] for b in blocks]
    want = ["residual", "actnorm"] if model == "iresnet" else ["actnorm", "linear", "coupling"]
    assert kinds == [want] * len(blocks)


def test_depth_fraction_maps_both_models_to_comparable_depths():
    assert [L.depth_index(f, 32) for f in (0.0, 0.25, 0.5, 1.0)] == [0, 8, 16, 32]
    assert [L.depth_index(f, 8) for f in (0.0, 0.25, 0.5, 1.0)] == [0, 2, 4, 8]
    # the ends are the data and the latent whatever the depths
    assert L.depth_index(1.0, 7) == 7 and L.depth_index(0.0, 7) == 0
    with pytest.raises(ValueError):
        L.depth_index(1.5, 8)


@pytest.mark.parametrize("model", ["iresnet", "glow"])
def test_last_depth_is_the_flow(model):
    """The cloud after the last block is ``flow(x)``'s z, the summed log-dets its log-det, and
    ``log p_K`` its ``log_prob``; depth 0 is the data and the standard normal."""
    flow = _scrambled(model)
    x = torch.from_numpy(DATA)
    w = L.walk(flow, x)
    with torch.no_grad():
        z, logdet = flow(x, "exact")
        lp = flow.log_prob(x)
    K = w.n_blocks
    assert K == flow.cfg.n_blocks
    np.testing.assert_allclose(w.cloud(K), z.numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(w.cumulative_logdets[K], logdet.numpy(), atol=1e-4, rtol=1e-5)
    np.testing.assert_allclose(w.log_prob(K), lp.numpy(), atol=1e-4, rtol=1e-5)
    np.testing.assert_array_equal(w.cloud(0), DATA)
    np.testing.assert_allclose(
        w.log_prob(0), -0.5 * (DATA.astype(float) ** 2).sum(1) - np.log(2 * np.pi), atol=1e-6
    )
    # the grid's pass (running sums only) gives the walk's numbers at every depth
    np.testing.assert_allclose(L.partial_log_prob(flow, x, chunk=64), w.log_prob(), atol=1e-5)
    # a block's log-det is its layers' summed, and the blocks' sum is the whole
    np.testing.assert_allclose(w.block_logdets.sum(0), logdet.numpy(), atol=1e-4, rtol=1e-5)


def test_partial_flow_is_the_first_k_blocks():
    """Depth k is the flow cut after block k: a Flow of those layers maps x to the cloud."""
    flow = _scrambled("glow")
    w = L.walk(flow, DATA)
    k = 2
    layers = [layer for b in L.flow_blocks(flow)[:k] for layer in b]
    partial = ic.Flow(flow.cfg, layers).eval()
    with torch.no_grad():
        z, _ = partial(torch.from_numpy(DATA), "exact")
        lp = partial.log_prob(torch.from_numpy(DATA))
    np.testing.assert_allclose(w.cloud(k), z.numpy(), atol=1e-5)
    np.testing.assert_allclose(w.log_prob(k), lp.numpy(), atol=1e-4)


#: the trained 8gaussians models keep their mass within this box
BOX = (-7.0, 7.0, -7.0, 7.0)
#: the scrambled flows spread theirs wider (0.93 inside BOX at one depth of the Glow)
WIDE, N_WIDE = (-14.0, 14.0, -14.0, 14.0), 240


def _grid_mass(log_density: np.ndarray, n: int) -> float:
    xs, ys, _ = grid_points(WIDE, n)
    return float(np.exp(log_density).sum() * (xs[1] - xs[0]) * (ys[1] - ys[0]))


@pytest.mark.parametrize("model", ["iresnet", "glow"])
def test_partial_densities_integrate_to_one_at_every_depth(model):
    """Scrambled flows: each p_k is a density of its own (mass 1), and they differ from depth to
    depth (the check is not met by the same density four times)."""
    flow = _scrambled(model, scale=1.5)
    pd = L.partial_density(flow, WIDE, n=N_WIDE)
    assert pd.density.shape == (flow.cfg.n_blocks + 1, N_WIDE, N_WIDE)
    np.testing.assert_allclose(pd.mass, 1.0, atol=0.01)
    mid = pd.density[flow.cfg.n_blocks // 2]
    assert np.abs(mid - pd.density[0]).max() > 0.02
    assert np.abs(mid - pd.density[-1]).max() > 0.02


@pytest.mark.slow
def test_partial_densities_of_trained_models_integrate_to_one(pretrained):
    n = 120
    pd = L.partial_density(pretrained, BOX, n=n)
    for k in (0, 4, 8, 16, 24, 32):
        assert pd.mass[k] == pytest.approx(1.0, abs=0.02), k
    # the last depth is the model's density (compared where it has mass: far from the data both
    # log-densities are about -1e8 in float32, where rounding alone differs by hundreds)
    _, _, pts = grid_points(BOX, n)
    with torch.no_grad(), torch_threads(1):
        lp = pretrained.log_prob(torch.from_numpy(pts)).numpy().reshape(n, n)
    where = lp > np.log(1e-4)
    assert where.mean() > 0.2
    np.testing.assert_allclose(pd.log_density[-1][where], lp[where], atol=2e-3)


@pytest.mark.parametrize("model", ["iresnet", "glow"])
def test_a_wrong_partial_logdet_loses_the_unit_mass(model):
    """The companion of the mass test: the change of variables with a log-det that is off (one
    block short, or without the ActNorm terms) gives a mass several times the test's tolerance
    (0.01) away from 1 on the same grid, so the test above would catch it."""
    flow = _scrambled(model, scale=1.5)
    n = N_WIDE
    _, _, pts = grid_points(WIDE, n)
    w = L.walk(flow, pts)
    k = flow.cfg.n_blocks // 2
    normal = -0.5 * (w.cloud(k).astype(float) ** 2).sum(1) - np.log(2 * np.pi)
    right = normal + w.cumulative_logdets[k]
    assert _grid_mass(right, n) == pytest.approx(1.0, abs=0.01)
    one_short = normal + w.cumulative_logdets[k - 1]
    no_actnorm = right - w.logdets[: w.ends[k]][np.array(w.kinds[: w.ends[k]]) == "actnorm"].sum(0)
    for wrong in (one_short, no_actnorm):
        assert abs(_grid_mass(wrong, n) - 1.0) > 0.04


@pytest.mark.parametrize("source", ["scrambled", "pretrained"])
def test_glow_couplings_move_one_coordinate_and_iresnet_blocks_both(source, pretrained):
    """Glow's coupling copies one coordinate, so every move is along an axis (share 1, angles
    0, ±90, 180 degrees); an i-ResNet block's g moves both coordinates."""
    flow = pretrained if source == "pretrained" else _scrambled(pretrained.cfg.model)
    m = L.move_stats(L.walk(flow, DATA))
    assert (m.moving == len(DATA)).all()  # every block moves every point
    if flow.cfg.model == "glow":
        np.testing.assert_array_equal(m.one_coordinate, 1.0)
        assert m.share == 1.0
        off_axis = np.abs(np.mod(m.angle + 45.0, 90.0) - 45.0)
        assert off_axis.max() == 0.0
        counts, centres = L.angle_histogram(m.angle, bins=36)
        assert counts.sum() == m.angle.size
        assert set(centres[counts > 0]) <= {0.0, 90.0, 180.0, 270.0}
    else:
        assert m.share < 0.01
        counts, _ = L.angle_histogram(m.angle, bins=36)
        assert (counts > 0).sum() > 20  # directions all round
    # the distance is the mean length of the nonlinear layer's move: |g(x)| for the i-ResNet
    w = L.walk(flow, DATA)
    np.testing.assert_allclose(m.distance, np.linalg.norm(w.moves, axis=-1).mean(-1), rtol=1e-6)
    # relative to the spread (root-mean-square distance from the centre) of the cloud it meets
    x = w.move_inputs.astype(float)
    spread = np.sqrt(((x - x.mean(1, keepdims=True)) ** 2).sum(-1).mean(-1))
    np.testing.assert_allclose(m.relative, m.distance / spread, rtol=1e-9)
    if flow.cfg.model == "iresnet":
        block = L.flow_blocks(flow)[1][0]
        with torch.no_grad():
            g = block.g(torch.from_numpy(w.move_inputs[1])).numpy()
        np.testing.assert_allclose(w.moves[1], g, atol=1e-5)


def test_one_coordinate_needs_the_other_coordinate_unchanged():
    """The tolerance counts rounding, not real moves: a move along the diagonal is two coordinates,
    one a few ulps off an axis is one, and a point that did not move is left out."""
    x = np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    y = x + np.array([[0.1, 0.1], [0.1, np.spacing(np.float32(1.0))], [0.0, 0.0]], np.float32)
    w = L.Walk(
        np.stack([x, y]),
        np.zeros((1, 3)),
        np.array([0, 1]),
        np.array([0]),
        ("residual",),
        "iresnet",
    )
    m = L.move_stats(w)
    assert m.moving.tolist() == [2] and m.one_coordinate.tolist() == [0.5]
    assert np.isnan(m.angle[0, 2]) and m.angle[0, 0] == pytest.approx(45.0)
    strict = L.move_stats(w, ulps=0)
    assert strict.one_coordinate.tolist() == [0.0]


def test_constrained_blocks_neither_collapse_nor_fold_and_unconstrained_ones_do():
    """With Lip(g) <= L < 1 no pair comes closer than (1 - L) and det J > 0; the same raw weights
    without the constraint fold the plane, and what is marked is what the Jacobian says."""
    flow = _scrambled("iresnet", scale=4.0)
    x = DATA[:200] / 2
    w = L.walk(flow, x)
    lip = max(layer.lipschitz_bound() for b in L.flow_blocks(flow) for layer in b[:1])
    marks = L.collapse_marks(flow, w, coeff=lip)
    assert marks.threshold == pytest.approx(1 - lip)
    assert marks.pairs.sum() == 0 and not marks.folded.any()
    assert np.nanmin(marks.min_ratio) >= 1 - lip - 1e-6
    free = ic.analysis.with_coeff(flow, None)
    wf = L.walk(free, x)
    fm = L.collapse_marks(free, wf, coeff=0.9)
    assert fm.folded.any() and fm.pairs.sum() > 0
    assert (fm.collapsed.sum(1) >= np.minimum(fm.pairs, 1)).all()
    # det J of the residual layer has the sign of the block's (its ActNorm's det is positive)
    k = int(np.argmax(fm.folded.sum(1)))
    block = ic.Flow(free.cfg, L.flow_blocks(free)[k]).eval()
    det = torch.linalg.det(block.jacobian(torch.from_numpy(wf.cloud(k)))).numpy()
    scale = float(np.exp(wf.logdets[int(wf.ends[k + 1]) - 1, 0]))  # the ActNorm's factor
    np.testing.assert_allclose(fm.det[k] * scale, det, rtol=1e-4, atol=1e-5)
    # a collapse is a pair whose distance shrank below (1 - c) in the residual layer
    i = int(np.argmax(fm.pairs))
    m = int(wf.main[i])
    a, b = wf.points[m].astype(float), wf.points[m + 1].astype(float)
    before = np.linalg.norm(a[:, None] - a[None], axis=-1)
    after = np.linalg.norm(b[:, None] - b[None], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(np.triu(before > 0, 1), after / before, np.inf)
    assert int((ratio < 0.1).sum()) == fm.pairs[i]


def test_glow_marks_nothing():
    """A coupling's determinant is exp(sum s) > 0: no folds, though the step's LU map may be a
    reflection (a negative determinant everywhere, which folds nothing)."""
    flow = _scrambled("glow")
    marks = L.collapse_marks(flow, L.walk(flow, DATA))
    assert not marks.folded.any() and marks.pairs.sum() == 0
    assert np.isnan(marks.min_ratio).all()
