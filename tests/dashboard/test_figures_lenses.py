"""The lens pages' figures: bound traces dashed, log axes where promised, folds and clicks marked.
(The numbers behind them are tested in the core: tests/test_frozen_analysis.py.)"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from dashboard.figures import inverse as fi
from dashboard.figures import lipschitz as fl
from dashboard.figures import logdet as fd


# ------------------------------------------------------------------ figures
def _dashes(fig: go.Figure, prefix: str) -> list:
    return [t.line.dash for t in fig.data if (t.name or "").startswith(prefix)]


def test_inverse_figures():
    ns = np.arange(1, 21)
    sets = [
        fi.CurveSet(
            fi.coeff_label(c),
            fi.coeff_color(c, c == 0.8),
            ns,
            c**ns,
            c**ns / 2,
            c**ns / (1 - c),
            c == 0.8,
        )
        for c in (0.5, 0.8)
    ]
    sets.append(
        fi.CurveSet(
            "unconstrained",
            fi.coeff_color(None),
            ns,
            np.full(20, 3.0),
            np.r_[np.ones(10), [np.nan] * 10],
            np.full(20, np.inf),
        )
    )
    fig = fi.convergence_figure(sets, tol=1e-6, title="t")
    assert isinstance(fig, go.Figure)
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.type == "log"
    assert _dashes(fig, "bound") == ["dash", "dash"]  # no bound for the unconstrained curve
    assert any(t.line.width == 3 for t in fig.data)  # the current c stands out
    assert set(fi.convergence_table(sets)) == {"c", "n", "residual", "error", "bound"}
    ff = fi.flow_error_figure([("c=0.5", "#000", ns, 0.5**ns, True)], tol=1e-6, n_mark=5)
    assert ff.layout.yaxis.type == "log" and len(ff.data) == 1
    # the tolerance's label sits on its line: on a log axis an annotation's y is in decades
    (label,) = [a for a in ff.layout.annotations if a.text.startswith("tol")]
    assert label.y == -6 and [s.y0 for s in ff.layout.shapes if s.y0 == s.y1] == [1e-6]
    xs = ys = np.linspace(-1, 1, 5)
    err = np.full((5, 5), 1e-3)
    err[0, 0] = np.nan
    hm = fi.error_heatmap_figure(
        xs, ys, err, n=7, label="c=0.9", data=np.zeros((3, 2)), point=(0.1, 0.2)
    )
    assert hm.data[0].type == "heatmap" and hm.data[0].z[0][0] == math.log10(fi.CAP)
    assert (
        any(t.name == "clicked point" for t in hm.data) and hm.layout.clickmode == "event+select"
    )
    rows = fi.iterations_rows(
        ["c=0.5", "free"],
        [np.array([0.1, 0.2]), np.array([2.0, 1.5])],
        [[3, 4], [-1, -1]],
        [[0, 0], [0, 7]],
        [5, -1],
        20,
    )
    assert rows["block 2"] == ["4", "diverged (7)"] and rows["whole flow"] == ["5", "> 20"]
    assert rows["max L"][1].endswith("≥ 1")


def test_logdet_figures():
    ns = np.arange(1, 21)
    tr = fd.truncation_figure(
        ns,
        0.5**ns,
        2 * 0.6**ns,
        4 * 0.5**ns,
        n_terms=5,
        n_blocks=2,
        error_blocks=np.vstack([0.4**ns, 0.3**ns]),
    )
    assert tr.layout.yaxis.type == "log"
    assert [t.line.dash for t in tr.data if t.name.startswith("bound")] == ["dash", "dot"]
    # the blocks' own curves: one trace, each block's 20 values then a NaN break
    (blocks,) = [t for t in tr.data if t.name == "per block"]
    assert len(blocks.y) == 2 * 21 and np.isnan(np.asarray(blocks.y, dtype=float)).sum() == 2
    assert list(blocks.customdata[:21]) == [1] * 21 and blocks.y[21] == 0.3
    free = fd.truncation_figure(ns, 0.5**ns, np.full(20, np.inf), None, n_terms=5, n_blocks=2)
    assert not any(t.name.startswith("bound") for t in free.data)
    q = np.vstack([np.full(20, v) for v in (-2, -1, 0, 1, 2)])
    hu = fd.hutchinson_figure(ns, q, 0.1 * ns, n_terms=5, n_probes=2, probe="gaussian")
    assert [t.fill for t in hu.data[:2]] == ["toself", "toself"]
    es = fd.estimators_figure(
        -0.4,
        -0.3,
        np.random.default_rng(0).normal(-0.3, 0.1, 50),
        np.random.default_rng(1).normal(-0.4, 0.3, 50),
        n_terms=5,
    )
    assert [t.type for t in es.data[:2]] == ["violin", "violin"]
    assert es.layout.xaxis2.type == "log"
    co = fd.cost_figure(
        [1, 5, 10], {"exact": np.ones(3), "series": np.array([1.0, 2, 3])}, n_terms=5, n_points=64
    )
    assert len(co.data) == 2
    hm = fd.series_heatmap_figure(
        np.linspace(0, 1, 4), np.linspace(0, 1, 4), np.full((4, 4), 1e-3), n_terms=5
    )
    assert hm.data[0].type == "heatmap"


def test_lipschitz_figures():
    est = np.array([[0.5, 0.8, 0.89, 0.9], [0.1, 0.3, 0.5, 0.6]])
    fig = fl.power_figure(["W1", "W2"], est, np.array([0.9, 0.61]), k=3)
    assert _dashes(fig, "exact") == ["dash", "dash"] and fig.layout.yaxis2.type == "log"
    # the right panel: every layer's gap; the ones not picked out share one NaN-broken trace
    many = fl.power_figure(
        [f"W{i}" for i in range(6)], np.tile(est[:1], (6, 1)), np.full(6, 0.9), k=3, show=[2]
    )
    gaps = [t for t in many.data if t.xaxis == "x2"]
    assert [t.name for t in gaps] == ["gap, other layers", "gap W2"]
    assert np.isnan(np.asarray(gaps[0].y, dtype=float)).sum() == 5 and len(gaps[0].y) == 5 * 5
    assert set(gaps[0].customdata) == {"W0", "W1", "W3", "W4", "W5"}
    bl = fl.block_lipschitz_figure(
        np.array([0.7, 0.72]), np.array([0.4, 0.5]), coeff=0.9, trained=np.array([0.73, 0.8])
    )
    assert [t.type for t in bl.data] == ["bar", "bar", "bar"]
    lx = np.random.default_rng(0).normal(size=(4, 6, 2))
    det = np.ones((4, 6))
    det[0, :3] = -1
    grid_det = np.ones((5, 5))
    grid_det[:2] = -1
    wf = fl.warp_figure(
        lx,
        lx * 2,
        det,
        np.linspace(0, 1, 5),
        np.linspace(0, 1, 5),
        grid_det,
        label="unconstrained",
        folds=0.4,
    )
    assert any(t.name == "det J ≤ 0 (fold)" and len(t.x) == 3 for t in wf.data)
    # the share of folds sits in the data plane's title (red when there are folds), not over the
    # other title
    titles = wf.layout.annotations
    assert (
        len(titles) == 2 and "40.0 %" in titles[0].text and titles[0].font.color == fl.FOLD_COLOR
    )
    flat = fl.warp_figure(
        lx,
        lx * 2,
        np.ones((4, 6)),
        np.linspace(0, 1, 5),
        np.linspace(0, 1, 5),
        np.ones((5, 5)),
        label="c=0.9",
        folds=0.0,
    )
    assert (
        "0.0 %" in flat.layout.annotations[0].text
        and flat.layout.annotations[0].font.color is None
    )
    assert any(t.type == "contour" for t in wf.data)  # det J = 0 outlined
    sf = fl.warp_strip_figure(
        [("c=0.5", lx, np.ones((4, 6)), 0.0), ("unconstrained", lx, det, 0.3)], current="c=0.5"
    )
    assert len(sf.layout.annotations) == 2 and sf.layout.annotations[0].text.startswith("▶")
    assert (
        "|z|" not in sf.layout.annotations[1].text
    )  # a grid within the plane's scale: no reach shown
    # an exploded map (the unconstrained raw weights reach 1e24) says how far out its line goes
    blown = fl.warp_strip_figure(
        [("c=0.5", lx, np.ones((4, 6)), 0.0), ("unconstrained", lx * 2e24, det, 0.49)]
    )
    assert blown.layout.annotations[1].text == "unconstrained · folds 49 %<br>|z| up to 5e+24"
    assert "|z|" not in blown.layout.annotations[0].text
    assert set(fl.warp_table(lx, lx, det)) == {"line", "x1", "x2", "z1", "z2", "det_J"}
