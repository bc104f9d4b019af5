"""The Layers page's figures: the clouds where the arrays put them, the animation's frames and
controls, the coupling's moves drawn along the axes, the roses' shares, exports like every chart.
(The numbers behind them are tested in the core: tests/core/analysis/test_layers.py.)"""

from __future__ import annotations

import numpy as np
import plotly.io as pio

from dashboard import export
from dashboard.figures import layers as fl
from dashboard.figures.common import Chart

RNG = np.random.default_rng(0)
CLOUDS = [RNG.normal(size=(5, 40, 2)) * np.array([1, 20, 40, 5, 1])[:, None, None]] * 2
HUE = fl.start_hue(CLOUDS[0][0])


def _finite(a) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return a[np.isfinite(a)]


def test_start_hue_and_view_box():
    pts = np.array([[2.0, 1.0], [1.0, 2.0], [0.0, 1.0], [1.0, 0.0]])
    assert fl.start_hue(pts).tolist() == [0.0, 90.0, 180.0, 270.0]
    x0, x1, y0, y1 = fl.view_box(np.array([[50.0, 0.0], [-10.0, 3.0]]), q=100)
    assert x0 == -x1 == y0 == -y1 and x1 >= 50.0
    assert fl.view_box(np.full((2, 2), np.nan)) == (-3.2, 3.2, -3.2, 3.2)


def test_cloud_figure_puts_each_model_at_its_depth():
    panels = [
        fl.Panel("i-ResNet", "#d62728", CLOUDS[0][2], HUE, 2, 4),
        fl.Panel("Glow", "#1f77b4", CLOUDS[1][4], HUE, 4, 4),
    ]
    fig = fl.cloud_figure(panels, title="t")
    clouds = [t for t in fig.data if t.mode == "markers"]
    assert [t.name for t in clouds] == ["i-ResNet", "Glow"]
    assert [(t.xaxis, t.yaxis) for t in clouds] == [("x", "y"), ("x2", "y2")]
    np.testing.assert_allclose(np.asarray(clouds[1].x), CLOUDS[1][4][:, 0], rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(clouds[0].marker.color), HUE)
    # the Gaussian's contours: circles of radius 1, 2, 3 in every panel
    circles = [t for t in fig.data if t.name == "N(0, I) contours"]
    assert len(circles) == 2
    r = np.hypot(_finite(circles[0].x), _finite(circles[0].y))
    assert sorted(set(np.round(r, 6))) == [1.0, 2.0, 3.0]
    titles = " ".join(a.text for a in fig.layout.annotations)
    assert "after block 2 (2/4)" in titles and "the latent (4/4)" in titles
    assert fig.layout.yaxis2.scaleanchor == "x2"  # one scale on both axes
    table = fl.cloud_table(panels)
    assert len(table["x"]) == 80 and set(table["block"]) == {2, 4}


def test_depth_animation_has_a_frame_a_slider_step_and_a_play_button():
    depths = np.array([[f, f] for f in range(5)])
    fig = fl.depth_animation(["i-ResNet", "Glow"], ["#d62728", "#1f77b4"], CLOUDS, HUE, depths)
    assert len(fig.frames) == 5
    assert len(fig.layout.sliders[0].steps) == 5
    labels = [b.label for b in fig.layout.updatemenus[0].buttons]
    assert labels == ["▶ Play", "Pause"]
    assert fig.layout.updatemenus[0].buttons[0].args[1]["fromcurrent"] is True
    # frame f shows depth f of each model, scaled into its own view, and says which view
    for f in (1, 2):
        half = fl.view_box(CLOUDS[0][f])[1]
        data = fig.frames[f].data
        np.testing.assert_allclose(np.asarray(data[1].x), CLOUDS[0][f][:, 0] / half, rtol=1e-5)
        assert data[2].text[0].startswith(f"block {f}/4") and f"±{half:.3g}" in data[2].text[0]
        r = np.hypot(_finite(data[0].x), _finite(data[0].y)) * half
        assert sorted(set(np.round(r, 4))) == [1.0, 2.0, 3.0]
    assert fig.layout.sliders[0].steps[3].label == "i-ResNet 3/4 · Glow 3/4"
    # the interactive export keeps the frames: the HTML plays offline
    html = export.chart_html(Chart("anim", "anim", fig), include_plotlyjs=False)
    assert "Plotly.addFrames" in html and html.count('"name":"4"') >= 1 and "Play" in html


def test_paths_draw_the_couplings_moves_along_the_axes_and_mark_folds():
    # a toy Glow: layers (linear, coupling) twice; the coupling changes one coordinate only
    x = RNG.normal(size=(6, 2))
    rot = np.array([[0.6, -0.8], [0.8, 0.6]])
    pts = [x]
    for parity in (1, 0):
        pts.append(pts[-1] @ rot.T)
        y = pts[-1].copy()
        y[:, parity] += RNG.normal(size=6)
        pts.append(y)
    pts = np.stack(pts)  # (5, 6, 2)
    moves = np.array([False, True, False, True])
    folds = np.array([[0.1, 0.2]])
    fig = fl.paths_figure(
        [fl.Track("Glow", "#1f77b4", pts, fl.start_hue(x), moves, folds=folds, collapses=None)]
    )
    coloured = [t for t in fig.data if t.name == "paths"]
    assert coloured
    for t in coloured:
        xy = np.stack([np.asarray(t.x, float), np.asarray(t.y, float)], 1)
        seg = np.diff(xy, axis=0)
        seg = seg[np.isfinite(seg).all(1)]
        assert len(seg) > 0 and (np.abs(seg).min(1) < 1e-6).all()  # one coordinate per step
    grey = [t for t in fig.data if t.name == "linear layers (ActNorm, LU)"]
    assert len(grey) == 1
    fold = [t for t in fig.data if (t.name or "").startswith("fold")]
    assert len(fold) == 1 and list(fold[0].x) == [0.1]
    table = fl.paths_table([fl.Track("Glow", "#1f77b4", pts, fl.start_hue(x), moves)])
    assert len(table["x"]) == pts.shape[0] * pts.shape[1]


def test_roses_show_the_share_of_moves_and_movement_follows_depth():
    centres = np.arange(36) * 10.0
    axis = np.zeros(36)
    axis[[0, 9, 18, 27]] = 25
    spread = np.full(36, 3.0)
    roses = [
        fl.Rose("i-ResNet", "#d62728", spread, centres, 0.0),
        fl.Rose("Glow", "#1f77b4", axis, centres, 1.0),
    ]
    fig = fl.angle_figure(roses)
    assert [t.type for t in fig.data] == ["barpolar", "barpolar"]
    for t in fig.data:
        assert float(np.sum(t.r)) == 1.0 or abs(float(np.sum(t.r)) - 1.0) < 1e-12
    notes = [a.text for a in fig.layout.annotations]
    assert "100.0 %" in notes[1] and "0.0 %" in notes[0]
    assert fig.layout.polar2.domain.x[0] > fig.layout.polar.domain.x[1]
    table = fl.angle_table(roses)
    assert len(table["sector_deg"]) == 72
    depth = np.arange(1, 5) / 4
    series = [fl.Series("Glow", "#1f77b4", depth, np.ones(4), np.full(4, 0.2), np.ones(4))]
    mf = fl.movement_figure(series)
    assert np.asarray(mf.data[0].y).tolist() == [0.2] * 4  # relative distance on the left
    assert np.asarray(mf.data[1].y).tolist() == [1.0] * 4 and mf.data[1].yaxis == "y2"
    csv = Chart("m", "m", mf, fl.movement_table(series)).csv()
    assert csv.splitlines()[0] == (
        "model,block,depth,mean_distance,relative_distance,one_coordinate_share"
    )


def test_figures_render_to_json():
    depths = np.array([[f, f] for f in range(5)])
    for fig in (
        fl.cloud_figure([fl.Panel("Glow", "#1f77b4", CLOUDS[0][1], HUE, 1, 4)], presentation=True),
        fl.depth_animation(["Glow"], ["#1f77b4"], CLOUDS[:1], HUE, depths[:, :1]),
    ):
        assert pio.to_json(fig)
