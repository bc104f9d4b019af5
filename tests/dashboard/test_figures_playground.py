"""The Playground's figure functions: plain numpy in, plotly out, numbers preserved."""

from __future__ import annotations

import json

import numpy as np
import plotly.io as pio
import pytest

from dashboard.figures.common import Chart, image_button_config, slug, table_to_csv
from dashboard.figures.playground import (
    LAYERS,
    density_figure,
    density_table,
    gap_text,
    loss_figure,
    loss_table,
    playground_charts,
    samples_figure,
    samples_table,
)
from tests.support import ROOT


def _gauss(n=100):
    xs = np.linspace(-4, 4, n)
    ys = np.linspace(-3, 3, n + 10)
    dens = np.exp(-0.5 * (xs[None, :] ** 2 + ys[:, None] ** 2)) / (2 * np.pi)
    return xs, ys, dens


def test_density_figure_layers_and_orientation():
    xs, ys, dens = _gauss()
    pts = np.random.default_rng(0).normal(size=(50, 2))
    fig = density_figure(xs, ys, dens, data=pts, samples=pts + 1, layers=LAYERS, title="t")
    kinds = [t.type for t in fig.data]
    assert kinds == ["contour", "scattergl", "scattergl"]
    c = fig.data[0]
    assert c.contours.coloring == "heatmap"
    # z rows run along y, columns along x: density[i, j] at (xs[j], ys[i])
    assert np.asarray(c.z).shape == (len(ys), len(xs))
    np.testing.assert_allclose(np.asarray(c.x), xs, rtol=1e-6)
    assert fig.layout.yaxis.scaleanchor == "x"
    # heatmap only / contours only / nothing
    assert [t.type for t in density_figure(xs, ys, dens, layers=["density"]).data] == ["heatmap"]
    only = density_figure(xs, ys, dens, layers=["contours"]).data
    assert only[0].type == "contour" and only[0].contours.coloring == "lines"
    assert len(density_figure(xs, ys, dens, layers=[]).data) == 0


def test_density_figure_survives_nan_and_empty_mass():
    xs, ys, dens = _gauss(20)
    dens = dens.copy()
    dens[0, 0] = np.nan
    dens[1, 1] = np.inf
    fig = density_figure(xs, ys, dens)
    z = np.asarray(fig.data[0].z)
    assert np.isfinite(z).all()
    fig0 = density_figure(xs, ys, np.zeros_like(dens))  # a dead model: no crash, a valid range
    assert fig0.data[0].zmax == 1.0


def test_density_table_long_format_matches_grid():
    xs, ys, dens = _gauss(10)
    t = density_table(xs, ys, dens)
    assert len(t["x"]) == len(xs) * len(ys)
    i, j = 3, 7
    k = i * len(xs) + j
    assert t["x"][k] == pytest.approx(xs[j]) and t["y"][k] == pytest.approx(ys[i])
    assert t["density"][k] == pytest.approx(dens[i, j])
    # mass by the Riemann sum of the table is that of the grid (~1 for a normal on +-4 x +-3)
    cell = (xs[1] - xs[0]) * (ys[1] - ys[0])
    assert t["density"].sum() * cell == pytest.approx(0.99994 * 0.9973, abs=0.01)


def test_samples_figure_drops_nonfinite_and_thins():
    data = np.random.default_rng(0).normal(size=(5000, 2))
    samples = data[:100].copy()
    samples[0] = np.nan
    fig = samples_figure(data, samples, model="glow")
    assert len(fig.data[0].x) == 2000  # thinned for the browser
    assert len(fig.data[1].x) == 99
    assert fig.data[1].name == "Glow samples"
    t = samples_table(data[:3], samples[:2])
    assert list(t["kind"]) == ["data"] * 3 + ["sample"] * 2


def test_loss_figure_entropy_line_and_gap_text():
    hist = {
        "step": [10, 20, 30],
        "train_nll": [4.0, 3.5, 3.0],
        "test_nll": [4.1, 3.6, 3.1],
        "loss": [4, 3.4, 2.9],
    }
    fig = loss_figure(hist, entropy=2.834, loss_label="train loss (series, N=5)")
    names = [t.name for t in fig.data]
    assert names == ["train NLL", "test NLL", "train loss (series, N=5)"]
    hlines = [s for s in fig.layout.shapes if s.y0 == s.y1]
    assert len(hlines) == 1 and hlines[0].y0 == pytest.approx(2.834)
    texts = " ".join(a.text for a in fig.layout.annotations)
    assert "NLL − entropy +0.266" in texts  # 3.1 - 2.834
    assert gap_text(3.1, None).startswith("test NLL 3.100")
    assert gap_text(float("nan"), 2.8) == "test NLL —"
    assert list(loss_table(hist, 2.834)) == [
        "step",
        "train_nll",
        "test_nll",
        "train_loss_estimated",
        "entropy",
    ]


def test_loss_figure_empty_history():
    fig = loss_figure({"step": [], "train_nll": [], "test_nll": []}, entropy=None)
    assert len(fig.data) == 2
    assert "—" in fig.layout.annotations[0].text


def test_playground_charts_bundle_and_serialisation():
    xs, ys, dens = _gauss(100)
    pts = np.random.default_rng(1).normal(size=(300, 2))
    charts = playground_charts(
        dataset="8gaussians",
        model="iresnet",
        xs=xs,
        ys=ys,
        density=dens,
        data=pts,
        samples=pts,
        history={"step": [1], "train_nll": [3.0], "test_nll": [3.1]},
        entropy=2.834,
        tag="c=0.9_step=1",
        density_step=1,
        subtitle="c=0.9",
    )
    assert [c.slug for c in charts] == [
        "8gaussians_iresnet_density_c=0.9_step=1",
        "8gaussians_iresnet_samples_c=0.9_step=1",
        "8gaussians_iresnet_nll_c=0.9_step=1",
    ]
    for c in charts:
        spec = json.loads(pio.to_json(c.figure, validate=False))
        assert spec["data"] is not None
        header = c.csv().splitlines()[0]
        assert "," in header
    assert charts[0].figure.layout.title.subtitle.text == "c=0.9"


def test_common_helpers():
    assert slug("8gaussians", "i-ResNet", "c=0.9 step 3") == "8gaussians_i-ResNet_c=0.9_step_3"
    cfg = image_button_config("a_b", scale=2)
    assert cfg["toImageButtonOptions"] == {"format": "png", "filename": "a_b", "scale": 2}
    csv = table_to_csv({"x": np.array([1.0, np.nan]), "k": np.array(["a", "b"], dtype=object)})
    assert csv == "x,k\n1,a\n,b\n"
    assert isinstance(Chart("s", "t", density_figure(*_gauss(5))).csv(), str)


def test_house_layout_gives_the_house_template_even_when_plotly_default_moved():
    import plotly.graph_objects as go

    from dashboard.figures.common import TEMPLATE, house_layout

    white = pio.templates[TEMPLATE].layout.plot_bgcolor
    assert go.Figure(layout=house_layout()).layout.template.layout.plot_bgcolor == white
    was = pio.templates.default
    pio.templates.default = "plotly"
    try:
        assert pio.templates["plotly"].layout.plot_bgcolor != white
        assert go.Figure(layout=house_layout()).layout.template.layout.plot_bgcolor == white
    finally:
        pio.templates.default = was


def test_layout_helpers_place_what_plotly_own_helpers_place():
    """side_by_side, hline and vline stand in for make_subplots, add_hline and add_vline (which
    validate the whole figure on every call): the same axes, domains, shapes and labels."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from dashboard.figures.common import hline, house_layout, side_by_side, vline

    theirs = make_subplots(
        rows=1,
        cols=3,
        column_widths=[0.2, 0.3, 0.5],
        horizontal_spacing=0.05,
        subplot_titles=("a", "b", "c"),
    )
    ours = go.Figure(
        layout=side_by_side(3, titles=("a", "b", "c"), widths=[0.2, 0.3, 0.5], spacing=0.05)
    )
    for axis in ("xaxis", "xaxis2", "xaxis3", "yaxis3"):
        assert ours.layout[axis].anchor == theirs.layout[axis].anchor
        assert np.allclose(ours.layout[axis].domain, theirs.layout[axis].domain)
    assert [(a.text, round(a.x, 9), a.y) for a in ours.layout.annotations] == [
        (a.text, round(a.x, 9), a.y) for a in theirs.layout.annotations
    ]
    line = dict(color="#111", width=1, dash="dot")
    for position in ("top right", "bottom left", "top left"):
        theirs = go.Figure(go.Scatter(x=[0, 1], y=[0, 1]))
        theirs.add_hline(y=0.5, line=line, annotation_text="h", annotation_position=position)
        theirs.add_vline(x=0.25, line=line, annotation_text="v", annotation_position=position)
        (hs, hn), (vs, vn) = (
            hline(0.5, line, text="h", position=position),
            vline(0.25, line, text="v", position=position),
        )
        ours = go.Figure(
            go.Scatter(x=[0, 1], y=[0, 1]), layout=dict(shapes=[hs, vs], annotations=hn + vn)
        )
        assert ours.layout.shapes == theirs.layout.shapes, position
        assert ours.layout.annotations == theirs.layout.annotations, position
    # a label on a log axis sits at the line (annotations take decades there; plotly's helper does
    # not)
    assert hline(1e-6, line, text="tol", log=True)[1][0]["y"] == -6
    # a placement for the legend keeps the house font
    assert house_layout(presentation=True, legend=dict(y=-0.2))["legend"]["font"]["size"] == 19
    # presentation mode wraps a long title (plotly never does; a half-width chart cut it off) and
    # grows the figure by the extra line, so the plot keeps its height
    long = "Reconstruction error after n=15 iterations per block (c=0.9)"
    talk, desk = (
        house_layout(title=long, presentation=True, height=400),
        house_layout(title=long, height=400),
    )
    assert (
        talk["title"]["text"].count("<br>") == 1
        and talk["title"]["text"].replace("<br>", " ") == long
    )
    assert talk["height"] - desk["height"] == talk["margin"]["t"] - desk["margin"]["t"] > 0
    assert (
        desk["title"]["text"] == long
        and house_layout(title="short", presentation=True)["title"]["text"] == "short"
    )
    assert [
        house_layout(height=400, presentation=p, presentation_extra=50)["height"]
        for p in (True, False)
    ] == [450, 400]
    # a legend under the plot goes lower in presentation mode (below the bigger axis title); one
    # above stays
    under = [
        house_layout(presentation=p, legend=dict(y=-0.2))["legend"]["y"] for p in (True, False)
    ]
    assert under[0] < under[1] == -0.2 and house_layout(presentation=True)["legend"]["y"] == 1.0


def test_figures_package_never_imports_streamlit():
    import subprocess
    import sys

    code = (
        "import sys, dashboard.figures.playground, dashboard.figures.common, dashboard.export; "
        "print('streamlit' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=str(ROOT)
    )
    assert out.stdout.strip() == "False"


def test_plane_figures_built_in_one_layout_keep_the_house_style():
    """The Playground's figures take their layout whole at construction: the house style and each
    figure's own settings merge (legend moved under the plot, its font kept; square axes)."""
    xs = np.linspace(-2, 2, 5)
    d = density_figure(xs, xs, np.ones((5, 5)), title="T", subtitle="sub", bounds=(-2, 2, -1, 1))
    lay = d.layout
    assert (
        lay.title.text == "T"
        and lay.title.subtitle.text == "sub"
        and lay.margin.t == 70
        and lay.margin.b == 70
    )
    assert lay.legend.y == -0.2 and lay.legend.font.size == 12 and lay.legend.orientation == "h"
    assert (
        lay.yaxis.scaleanchor == "x"
        and tuple(lay.xaxis.range) == (-2, 2)
        and tuple(lay.yaxis.range) == (-1, 1)
    )
    assert (
        lay.plot_bgcolor == "#440154"
        and lay.uirevision == "keep"
        and lay.template.layout.plot_bgcolor == "white"
    )
    s = samples_figure(None, np.zeros((3, 2)), presentation=True)
    assert s.layout.legend.x == 0.5 and s.layout.legend.font.size == 19 and s.layout.margin.b == 90
    lo = loss_figure(
        {
            "step": [-20, -10, 0, 10],
            "train_nll": [3, 2.9, 2.8, 2.7],
            "test_nll": [3.1, 3, 2.9, 2.8],
        },
        entropy=2.5,
        title="L",
    )
    assert [sh.type for sh in lo.layout.shapes] == ["line", "rect"]
    assert [a.text for a in lo.layout.annotations][0::2] == ["entropy 2.500", "pre-trained"]
    assert (
        lo.layout.yaxis.range[0] < 2.5 < lo.layout.yaxis.range[1]
        and lo.layout.xaxis.title.text == "step"
    )
