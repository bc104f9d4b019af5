"""Figures of the log-determinant page: truncation error against N with Theorem 3's bound, the
Hutchinson spread, the biased truncated series against unbiased Russian roulette, the cost of each
estimator, and the truncation error over the plane.

Pure functions from numpy arrays to plotly figures (no torch, no Streamlit).
``ln det(I + J_g) = sum_k (-1)^(k+1) tr(J_g^k) / k``; cut after N terms the error per block is at
most ``d (-ln(1 - c) - sum_{k<=N} c^k / k)`` (Behrmann et al. 2019, Thm. 3); Residual Flows'
Russian roulette (Chen et al. 2019) removes the bias at the price of variance.

Example:
    >>> import numpy as np
    >>> ns = np.arange(1, 21)
    >>> fig = truncation_figure(ns, 0.5 ** ns, 2 * 0.6 ** ns, None, n_terms=5, n_blocks=1)
    >>> fig.layout.yaxis.type, fig.data[1].line.dash
    ('log', 'dash')
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import MODEL_COLORS, style

__all__ = [
    "ESTIMATOR_COLORS", "truncation_figure", "truncation_table", "hutchinson_figure", "hutchinson_table",
    "estimators_figure", "estimators_table", "cost_figure", "cost_table", "series_heatmap_figure",
]

ESTIMATOR_COLORS = {"exact": "#111111", "series": "#2ca02c", "hutchinson": "#ff7f0e", "roulette": "#9467bd"}
_RED = MODEL_COLORS["iresnet"]


def _legend_below(fig: go.Figure) -> go.Figure:
    """Half-width charts: the legend under the plot, so it never covers the title."""
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0.0),
                      margin_b=10)
    return fig


def _pos(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return np.where(np.isfinite(a) & (a > 0), a, np.nan)


def _fin(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return np.where(np.isfinite(a), a, np.nan)


def truncation_figure(ns: np.ndarray, error_total: np.ndarray, bound_c: np.ndarray | None,
                      bound_lip: np.ndarray | None, *, n_terms: int, n_blocks: int, error_blocks: np.ndarray | None = None,
                      title: str | None = None, presentation: bool = False, height: int | None = 430) -> go.Figure:
    """``|exact - series_N|`` of the flow's total log-det (mean over points) against N, log y, with
    Theorem 3's bound summed over the blocks: with c (dashed) and with each block's own L (dotted)."""
    fig = go.Figure()
    if error_blocks is not None:
        for b, eb in enumerate(np.atleast_2d(error_blocks)):
            fig.add_trace(go.Scatter(x=ns, y=_pos(eb), mode="lines", name="per block", legendgroup="blocks",
                                     showlegend=b == 0, line=dict(color="rgba(44,160,44,0.35)", width=1),
                                     hovertemplate=f"block {b + 1}<br>N=%{{x}}<br>%{{y:.2e}} nats<extra></extra>"))
    fig.add_trace(go.Scatter(x=ns, y=_pos(error_total), mode="lines+markers", name="measured |exact − seriesₙ|",
                             line=dict(color=ESTIMATOR_COLORS["series"], width=3), marker=dict(size=5),
                             hovertemplate="N=%{x}<br>%{y:.2e} nats<extra></extra>"))
    if bound_c is not None and np.isfinite(np.asarray(bound_c, dtype=float)).any():
        fig.add_trace(go.Scatter(x=ns, y=_pos(np.asarray(bound_c) * n_blocks), mode="lines",
                                 name=f"bound d(−ln(1−c) − Σcᵏ/k) × {n_blocks} blocks",
                                 line=dict(color="#111", width=2, dash="dash"),
                                 hovertemplate="N=%{x}<br>bound %{y:.2e}<extra></extra>"))
    if bound_lip is not None and np.isfinite(np.asarray(bound_lip, dtype=float)).any():
        fig.add_trace(go.Scatter(x=ns, y=_pos(bound_lip), mode="lines", name="bound with each block's L",
                                 line=dict(color="#555", width=1.5, dash="dot"),
                                 hovertemplate="N=%{x}<br>bound %{y:.2e}<extra></extra>"))
    fig.add_vline(x=n_terms, line=dict(color=_RED, width=1.5, dash="dash"),
                  annotation_text=f"N={n_terms}", annotation_position="top right")
    fig.update_yaxes(type="log", exponentformat="power", title_text="|log-det error| (nats)")
    fig.update_xaxes(title_text="series terms N", dtick=2)
    return _legend_below(style(fig, title=title, presentation=presentation, height=height))


def truncation_table(ns, error_total, bound_c, bound_lip, n_blocks: int) -> dict[str, np.ndarray]:
    return {"N": np.asarray(ns), "error_total": _fin(error_total),
            "bound_c_total": _fin(np.asarray(bound_c, dtype=float) * n_blocks) if bound_c is not None else np.full(len(ns), np.nan),
            "bound_lip_total": _fin(bound_lip) if bound_lip is not None else np.full(len(ns), np.nan)}


def hutchinson_figure(ns: np.ndarray, quantiles: np.ndarray, bias: np.ndarray, *, n_terms: int, n_probes: int,
                      probe: str, title: str | None = None, presentation: bool = False,
                      height: int | None = 430) -> go.Figure:
    """Hutchinson estimate minus exact (total log-det, mean over points) against N: the 5-95 % and
    25-75 % bands over draws, the median, and the series' own bias (its mean) as a line."""
    q = np.asarray(quantiles, dtype=np.float64)
    c = ESTIMATOR_COLORS["hutchinson"]
    fig = go.Figure()
    for lo, hi, name, alpha in ((0, 4, "5–95 % of draws", 0.18), (1, 3, "25–75 % of draws", 0.35)):
        fig.add_trace(go.Scatter(x=np.concatenate([ns, ns[::-1]]), y=np.concatenate([q[hi], q[lo][::-1]]),
                                 fill="toself", fillcolor=f"rgba(255,127,14,{alpha})", line=dict(width=0),
                                 name=name, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=ns, y=_fin(q[2]), mode="lines", name="median draw", line=dict(color=c, width=2),
                             hovertemplate="N=%{x}<br>median error %{y:.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=ns, y=_fin(bias), mode="lines", name="truncation bias (exact traces)",
                             line=dict(color=ESTIMATOR_COLORS["series"], width=2, dash="dash"),
                             hovertemplate="N=%{x}<br>bias %{y:.3f}<extra></extra>"))
    fig.add_hline(y=0, line=dict(color="#111", width=1))
    fig.add_vline(x=n_terms, line=dict(color=_RED, width=1.5, dash="dash"),
                  annotation_text=f"N={n_terms}, {n_probes} {probe} probe{'s' if n_probes > 1 else ''}",
                  annotation_position="top right")
    fig.update_yaxes(title_text="estimate − exact (nats)")
    fig.update_xaxes(title_text="series terms N", dtick=2)
    return _legend_below(style(fig, title=title, presentation=presentation, height=height))


def hutchinson_table(ns, quantiles, bias) -> dict[str, np.ndarray]:
    q = np.asarray(quantiles)
    return {"N": np.asarray(ns), "q05": q[0], "q25": q[1], "median": q[2], "q75": q[3], "q95": q[4],
            "bias_exact_traces": _fin(bias)}


def estimators_figure(exact: float, series_value: float, hutchinson: np.ndarray, roulette: np.ndarray, *,
                      n_terms: int, title: str | None = None, presentation: bool = False,
                      height: int | None = 400) -> go.Figure:
    """Left: the draws of the truncated Hutchinson series (biased) and of Russian roulette (unbiased)
    as violins, the exact-trace series as a single value, the exact log-det dashed. Right: the running
    mean over draws — roulette's goes to the exact value, the truncated series' to its bias."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.45, 0.55], horizontal_spacing=0.1,
                        subplot_titles=("draws", "running mean over draws"))
    h, r = _fin(hutchinson), _fin(roulette)
    fig.add_trace(go.Violin(y=h, name=f"Hutchinson N={n_terms}", line_color=ESTIMATOR_COLORS["hutchinson"],
                            box_visible=True, meanline_visible=True, points=False, spanmode="hard"), row=1, col=1)
    fig.add_trace(go.Violin(y=r, name="Russian roulette", line_color=ESTIMATOR_COLORS["roulette"],
                            box_visible=True, meanline_visible=True, points=False, spanmode="hard"), row=1, col=1)
    fig.add_trace(go.Scatter(x=[f"series N={n_terms}"], y=[series_value], mode="markers", name="series, exact traces",
                             marker=dict(color=ESTIMATOR_COLORS["series"], size=12, symbol="diamond")), row=1, col=1)
    k = np.arange(1, len(h) + 1)
    fig.add_trace(go.Scatter(x=k, y=np.nancumsum(h) / k, mode="lines", name="Hutchinson mean", showlegend=False,
                             line=dict(color=ESTIMATOR_COLORS["hutchinson"], width=2)), row=1, col=2)
    k2 = np.arange(1, len(r) + 1)
    fig.add_trace(go.Scatter(x=k2, y=np.nancumsum(r) / k2, mode="lines", name="roulette mean", showlegend=False,
                             line=dict(color=ESTIMATOR_COLORS["roulette"], width=2)), row=1, col=2)
    fig.add_hline(y=float(exact), line=dict(color="#111", width=2, dash="dash"), row=1, col=1)
    fig.add_hline(y=float(exact), line=dict(color="#111", width=2, dash="dash"), row=1, col=2,
                  annotation_text=f"exact {exact:.3f}", annotation_position="top right")
    fig.update_yaxes(title_text="mean log-det of the blocks (nats)", row=1, col=1)
    fig.update_xaxes(title_text="draws", type="log", row=1, col=2)
    finite = np.concatenate([h[np.isfinite(h)], r[np.isfinite(r)], [exact, series_value]])
    finite = finite[np.isfinite(finite)]
    if finite.size:
        lo, hi = np.percentile(finite, [1, 99])
        pad = 0.1 * max(hi - lo, 1e-3)
        fig.update_yaxes(range=[lo - pad, hi + pad], row=1, col=1)
        fig.update_yaxes(range=[lo - pad, hi + pad], row=1, col=2)
    style(fig, title=title, presentation=presentation, height=height)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.15, xanchor="left", x=0))
    return fig


def estimators_table(exact: float, series_value: float, hutchinson, roulette) -> dict[str, np.ndarray]:
    n = max(len(hutchinson), len(roulette))
    return {"draw": np.arange(1, n + 1), "hutchinson": _fin(hutchinson), "roulette": _fin(roulette),
            "series_exact_traces": np.full(n, series_value), "exact": np.full(n, exact)}


def cost_figure(ns: Sequence[int], costs: Mapping[str, np.ndarray], *, n_terms: int, n_points: int,
                title: str | None = None, presentation: bool = False, height: int | None = 430) -> go.Figure:
    """Milliseconds of one forward + backward of the NLL per estimator against N (exact and roulette
    do not depend on N)."""
    fig = go.Figure()
    names = {"exact": "exact (2D det)", "series": "series, exact traces", "hutchinson": "Hutchinson",
             "roulette": "Russian roulette"}
    for mode, ms in costs.items():
        fig.add_trace(go.Scatter(x=list(ns), y=_fin(ms), mode="lines+markers", name=names.get(mode, mode),
                                 line=dict(color=ESTIMATOR_COLORS.get(mode, "#333"), width=2,
                                           dash="dash" if mode in ("exact", "roulette") else "solid"),
                                 hovertemplate=f"{names.get(mode, mode)}<br>N=%{{x}}<br>%{{y:.1f}} ms<extra></extra>"))
    fig.add_vline(x=n_terms, line=dict(color=_RED, width=1.5, dash="dash"))
    fig.update_yaxes(title_text=f"ms per forward + backward ({n_points} points)", rangemode="tozero")
    fig.update_xaxes(title_text="series terms N")
    return _legend_below(style(fig, title=title, presentation=presentation, height=height))


def cost_table(ns, costs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"N": np.asarray(ns), **{f"{k}_ms": np.asarray(v) for k, v in costs.items()}}


def series_heatmap_figure(xs: np.ndarray, ys: np.ndarray, err: np.ndarray, *, n_terms: int,
                          data: np.ndarray | None = None, bounds: Sequence[float] | None = None,
                          title: str | None = None, presentation: bool = False, height: int | None = 440) -> go.Figure:
    """``log10 |exact - series_N|`` of the total log-det at every point of the plane."""
    e = np.asarray(err, dtype=np.float64)
    z = np.log10(np.clip(np.where(np.isfinite(e), e, 1e3), 1e-8, 1e3))
    fig = go.Figure(go.Heatmap(x=xs, y=ys, z=z, colorscale="Viridis", zmin=-8, zmax=3, customdata=e,
                               colorbar=dict(title=dict(text="|error|", side="right"), thickness=12, len=0.85,
                                             tickvals=list(range(-8, 4, 2)),
                                             ticktext=["≤1e-8", "1e-6", "1e-4", "1e-2", "1", "1e2"]),
                               hovertemplate="x₁=%{x:.2f}<br>x₂=%{y:.2f}<br>|exact − series| %{customdata:.2e}<extra></extra>"))
    if data is not None and len(data):
        d = np.asarray(data)[:600]
        fig.add_trace(go.Scattergl(x=d[:, 0], y=d[:, 1], mode="markers", name="data", hoverinfo="skip",
                                   marker=dict(size=3, color="white", opacity=0.5)))
    if bounds is None:
        bounds = (float(xs[0]), float(xs[-1]), float(ys[0]), float(ys[-1]))
    fig.update_xaxes(range=[bounds[0], bounds[1]], title_text="x₁", showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(range=[bounds[2], bounds[3]], title_text="x₂", showgrid=False, zeroline=False, constrain="domain")
    return style(fig, title=title or f"Truncation error at N={n_terms} over the plane", presentation=presentation,
                 height=height, square=True)
