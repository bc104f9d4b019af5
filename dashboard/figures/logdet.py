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

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from .common import MODEL_COLORS, hline, house_layout, side_by_side, vline

__all__ = [
    "ESTIMATOR_COLORS",
    "truncation_figure",
    "truncation_table",
    "hutchinson_figure",
    "hutchinson_table",
    "estimators_figure",
    "estimators_table",
    "cost_figure",
    "cost_table",
    "series_heatmap_figure",
]

ESTIMATOR_COLORS = {
    "exact": "#111111",
    "series": "#2ca02c",
    "hutchinson": "#ff7f0e",
    "roulette": "#9467bd",
}
_RED = MODEL_COLORS["iresnet"]


#: Half-width charts: the legend under the plot, so it never covers the title.
_LEGEND_BELOW = dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0.0)


def _layout(title: str | None, presentation: bool, height: int | None, **entries) -> dict:
    """The house layout with ``entries`` (axes, shapes, legend, ...) for the figure's constructor;
    with a legend (always under the plot here) the figure grows in presentation mode by what the
    legend's lower place takes (:func:`~dashboard.figures.common.house_layout`)."""
    legend = entries.pop("legend", None)
    layout = house_layout(
        title=title,
        presentation=presentation,
        height=height,
        legend=legend,
        presentation_extra=50 if legend else 0,
    )
    layout.update(entries)
    return layout


def _pos(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return np.where(np.isfinite(a) & (a > 0), a, np.nan)


def _fin(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return np.where(np.isfinite(a), a, np.nan)


def truncation_figure(
    ns: np.ndarray,
    error_total: np.ndarray,
    bound_c: np.ndarray | None,
    bound_lip: np.ndarray | None,
    *,
    n_terms: int,
    n_blocks: int,
    error_blocks: np.ndarray | None = None,
    title: str | None = None,
    presentation: bool = False,
    height: int | None = 430,
) -> go.Figure:
    """``|exact - series_N|`` of the flow's total log-det (mean over points) against N, log y, with
    Theorem 3's bound summed over the blocks: with c (dashed) and with each block's own L (dotted).
    The blocks' own errors share one faint trace, broken by NaN between blocks."""
    traces = []
    if error_blocks is not None:
        eb = np.atleast_2d(np.asarray(error_blocks, dtype=np.float64))
        gap = np.full((eb.shape[0], 1), np.nan)
        block = np.repeat(np.arange(1, eb.shape[0] + 1), len(ns) + 1)
        traces.append(
            go.Scatter(
                x=np.tile(np.append(np.asarray(ns, dtype=np.float64), np.nan), eb.shape[0]),
                y=np.hstack([_pos(eb), gap]).ravel(),
                customdata=block,
                mode="lines",
                name="per block",
                line=dict(color="rgba(44,160,44,0.35)", width=1),
                hovertemplate="block %{customdata}<br>N=%{x}<br>%{y:.2e} nats<extra></extra>",
            )
        )
    traces.append(
        go.Scatter(
            x=ns,
            y=_pos(error_total),
            mode="lines+markers",
            name="measured |exact − seriesₙ|",
            line=dict(color=ESTIMATOR_COLORS["series"], width=3),
            marker=dict(size=5),
            hovertemplate="N=%{x}<br>%{y:.2e} nats<extra></extra>",
        )
    )
    if bound_c is not None and np.isfinite(np.asarray(bound_c, dtype=float)).any():
        traces.append(
            go.Scatter(
                x=ns,
                y=_pos(np.asarray(bound_c) * n_blocks),
                mode="lines",
                name=f"bound d(−ln(1−c) − Σcᵏ/k) × {n_blocks} blocks",
                line=dict(color="#111", width=2, dash="dash"),
                hovertemplate="N=%{x}<br>bound %{y:.2e}<extra></extra>",
            )
        )
    if bound_lip is not None and np.isfinite(np.asarray(bound_lip, dtype=float)).any():
        traces.append(
            go.Scatter(
                x=ns,
                y=_pos(bound_lip),
                mode="lines",
                name="bound with each block's L",
                line=dict(color="#555", width=1.5, dash="dot"),
                hovertemplate="N=%{x}<br>bound %{y:.2e}<extra></extra>",
            )
        )
    mark, label = vline(n_terms, dict(color=_RED, width=1.5, dash="dash"), text=f"N={n_terms}")
    return go.Figure(
        data=traces,
        layout=_layout(
            title,
            presentation,
            height,
            shapes=[mark],
            annotations=label,
            legend=_LEGEND_BELOW,
            yaxis=dict(
                type="log", exponentformat="power", title=dict(text="|log-det error| (nats)")
            ),
            xaxis=dict(title=dict(text="series terms N"), dtick=2),
        ),
    )


def truncation_table(ns, error_total, bound_c, bound_lip, n_blocks: int) -> dict[str, np.ndarray]:
    return {
        "N": np.asarray(ns),
        "error_total": _fin(error_total),
        "bound_c_total": _fin(np.asarray(bound_c, dtype=float) * n_blocks)
        if bound_c is not None
        else np.full(len(ns), np.nan),
        "bound_lip_total": _fin(bound_lip) if bound_lip is not None else np.full(len(ns), np.nan),
    }


def hutchinson_figure(
    ns: np.ndarray,
    quantiles: np.ndarray,
    bias: np.ndarray,
    *,
    n_terms: int,
    n_probes: int,
    probe: str,
    title: str | None = None,
    presentation: bool = False,
    height: int | None = 430,
) -> go.Figure:
    """Hutchinson estimate minus exact (total log-det, mean over points) against N: the 5-95 % and
    25-75 % bands over draws, the median, and the series' own bias (its mean) as a line."""
    q = np.asarray(quantiles, dtype=np.float64)
    c = ESTIMATOR_COLORS["hutchinson"]
    traces = [
        go.Scatter(
            x=np.concatenate([ns, ns[::-1]]),
            y=np.concatenate([q[hi], q[lo][::-1]]),
            fill="toself",
            fillcolor=f"rgba(255,127,14,{alpha})",
            line=dict(width=0),
            name=name,
            hoverinfo="skip",
        )
        for lo, hi, name, alpha in (
            (0, 4, "5–95 % of draws", 0.18),
            (1, 3, "25–75 % of draws", 0.35),
        )
    ]
    traces.append(
        go.Scatter(
            x=ns,
            y=_fin(q[2]),
            mode="lines",
            name="median draw",
            line=dict(color=c, width=2),
            hovertemplate="N=%{x}<br>median error %{y:.3f}<extra></extra>",
        )
    )
    traces.append(
        go.Scatter(
            x=ns,
            y=_fin(bias),
            mode="lines",
            name="truncation bias (exact traces)",
            line=dict(color=ESTIMATOR_COLORS["series"], width=2, dash="dash"),
            hovertemplate="N=%{x}<br>bias %{y:.3f}<extra></extra>",
        )
    )
    zero, _ = hline(0, dict(color="#111", width=1))
    mark, label = vline(
        n_terms,
        dict(color=_RED, width=1.5, dash="dash"),
        text=f"N={n_terms}, {n_probes} {probe} probe{'s' if n_probes > 1 else ''}",
    )
    return go.Figure(
        data=traces,
        layout=_layout(
            title,
            presentation,
            height,
            shapes=[zero, mark],
            annotations=label,
            legend=_LEGEND_BELOW,
            yaxis=dict(title=dict(text="estimate − exact (nats)")),
            xaxis=dict(title=dict(text="series terms N"), dtick=2),
        ),
    )


def hutchinson_table(ns, quantiles, bias) -> dict[str, np.ndarray]:
    q = np.asarray(quantiles)
    return {
        "N": np.asarray(ns),
        "q05": q[0],
        "q25": q[1],
        "median": q[2],
        "q75": q[3],
        "q95": q[4],
        "bias_exact_traces": _fin(bias),
    }


def estimators_figure(
    exact: float,
    series_value: float,
    hutchinson: np.ndarray,
    roulette: np.ndarray,
    *,
    n_terms: int,
    title: str | None = None,
    presentation: bool = False,
    height: int | None = 400,
) -> go.Figure:
    """Left: the draws of the truncated Hutchinson series (biased) and of Russian roulette
    (unbiased) as violins, the exact-trace series as a single value, the exact log-det dashed.
    Right: the running mean over draws — roulette's goes to the exact value, the truncated series'
    to its bias."""
    h, r = _fin(hutchinson), _fin(roulette)
    k, k2 = np.arange(1, len(h) + 1), np.arange(1, len(r) + 1)
    traces = [
        go.Violin(
            y=h,
            name=f"Hutchinson N={n_terms}",
            line_color=ESTIMATOR_COLORS["hutchinson"],
            box_visible=True,
            meanline_visible=True,
            points=False,
            spanmode="hard",
        ),
        go.Violin(
            y=r,
            name="Russian roulette",
            line_color=ESTIMATOR_COLORS["roulette"],
            box_visible=True,
            meanline_visible=True,
            points=False,
            spanmode="hard",
        ),
        go.Scatter(
            x=[f"series N={n_terms}"],
            y=[series_value],
            mode="markers",
            name="series, exact traces",
            marker=dict(color=ESTIMATOR_COLORS["series"], size=12, symbol="diamond"),
        ),
        go.Scatter(
            x=k,
            y=np.nancumsum(h) / k,
            mode="lines",
            name="Hutchinson mean",
            showlegend=False,
            line=dict(color=ESTIMATOR_COLORS["hutchinson"], width=2),
            xaxis="x2",
            yaxis="y2",
        ),
        go.Scatter(
            x=k2,
            y=np.nancumsum(r) / k2,
            mode="lines",
            name="roulette mean",
            showlegend=False,
            line=dict(color=ESTIMATOR_COLORS["roulette"], width=2),
            xaxis="x2",
            yaxis="y2",
        ),
    ]
    layout = side_by_side(
        2,
        titles=("draws", "running mean over draws"),
        widths=[0.45, 0.55],
        spacing=0.1,
        title_size=18 if presentation else 16,
    )
    exact_line = dict(color="#111", width=2, dash="dash")
    left, _ = hline(float(exact), exact_line)
    right, label = hline(float(exact), exact_line, plot="2", text=f"exact {exact:.3f}")
    layout["yaxis"]["title"] = dict(
        text="mean log-det" + (" (nats)" if presentation else " of the blocks (nats)")
    )
    if (
        presentation
    ):  # the category names, at that size, turn and overlap the legend that names them too
        layout["xaxis"]["showticklabels"] = False
    layout["xaxis2"].update(title=dict(text="draws"), type="log")
    finite = np.concatenate([h[np.isfinite(h)], r[np.isfinite(r)], [exact, series_value]])
    finite = finite[np.isfinite(finite)]
    if finite.size:
        lo, hi = np.percentile(finite, [1, 99])
        pad = 0.1 * max(hi - lo, 1e-3)
        layout["yaxis"]["range"] = layout["yaxis2"]["range"] = [lo - pad, hi + pad]
    layout.update(
        shapes=[left, right],
        legend=dict(orientation="h", yanchor="top", y=-0.15, xanchor="left", x=0),
    )
    layout["annotations"] += label
    layout = _layout(title, presentation, height, **layout)
    if title:  # room for the title above the plots' own titles
        layout["margin"]["t"] += 30
    return go.Figure(data=traces, layout=layout)


def estimators_table(
    exact: float, series_value: float, hutchinson, roulette
) -> dict[str, np.ndarray]:
    n = max(len(hutchinson), len(roulette))
    return {
        "draw": np.arange(1, n + 1),
        "hutchinson": _fin(hutchinson),
        "roulette": _fin(roulette),
        "series_exact_traces": np.full(n, series_value),
        "exact": np.full(n, exact),
    }


def cost_figure(
    ns: Sequence[int],
    costs: Mapping[str, np.ndarray],
    *,
    n_terms: int,
    n_points: int,
    title: str | None = None,
    presentation: bool = False,
    height: int | None = 430,
) -> go.Figure:
    """Milliseconds of one forward + backward of the NLL per estimator against N (exact and
    roulette do not depend on N)."""
    names = {
        "exact": "exact (2D det)",
        "series": "series, exact traces",
        "hutchinson": "Hutchinson",
        "roulette": "Russian roulette",
    }
    traces = [
        go.Scatter(
            x=list(ns),
            y=_fin(ms),
            mode="lines+markers",
            name=names.get(mode, mode),
            line=dict(
                color=ESTIMATOR_COLORS.get(mode, "#333"),
                width=2,
                dash="dash" if mode in ("exact", "roulette") else "solid",
            ),
            hovertemplate=f"{names.get(mode, mode)}<br>N=%{{x}}<br>%{{y:.1f}} ms<extra></extra>",
        )
        for mode, ms in costs.items()
    ]
    mark, _ = vline(n_terms, dict(color=_RED, width=1.5, dash="dash"))
    return go.Figure(
        data=traces,
        layout=_layout(
            title,
            presentation,
            height,
            shapes=[mark],
            legend=_LEGEND_BELOW,
            yaxis=dict(title=dict(text=f"ms ({n_points} points)"), rangemode="tozero"),
            xaxis=dict(title=dict(text="series terms N")),
        ),
    )


def cost_table(ns, costs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"N": np.asarray(ns), **{f"{k}_ms": np.asarray(v) for k, v in costs.items()}}


def series_heatmap_figure(
    xs: np.ndarray,
    ys: np.ndarray,
    err: np.ndarray,
    *,
    n_terms: int,
    data: np.ndarray | None = None,
    bounds: Sequence[float] | None = None,
    title: str | None = None,
    presentation: bool = False,
    height: int | None = 440,
) -> go.Figure:
    """``log10 |exact - series_N|`` of the total log-det at every point of the plane."""
    e = np.asarray(err, dtype=np.float64)
    z = np.log10(np.clip(np.where(np.isfinite(e), e, 1e3), 1e-8, 1e3))
    traces = [
        go.Heatmap(
            x=xs,
            y=ys,
            z=z,
            colorscale="Viridis",
            zmin=-8,
            zmax=3,
            customdata=e,
            colorbar=dict(
                title=dict(text="|error|", side="right"),
                thickness=12,
                len=0.85,
                tickvals=list(range(-8, 4, 2)),
                ticktext=["≤1e-8", "1e-6", "1e-4", "1e-2", "1", "1e2"],
            ),
            hovertemplate="x₁=%{x:.2f}<br>x₂=%{y:.2f}<br>|exact − series| "
            "%{customdata:.2e}<extra></extra>",
        )
    ]
    if data is not None and len(data):
        d = np.asarray(data)[:600]
        traces.append(
            go.Scattergl(
                x=d[:, 0],
                y=d[:, 1],
                mode="markers",
                name="data",
                hoverinfo="skip",
                marker=dict(size=3, color="white", opacity=0.5),
            )
        )
    if bounds is None:
        bounds = (float(xs[0]), float(xs[-1]), float(ys[0]), float(ys[-1]))
    plane = dict(showgrid=False, zeroline=False, constrain="domain")
    return go.Figure(
        data=traces,
        layout=_layout(
            title or f"Truncation error at N={n_terms} over the plane",
            presentation,
            height,
            xaxis=dict(range=[bounds[0], bounds[1]], title=dict(text="x₁"), **plane),
            yaxis=dict(
                range=[bounds[2], bounds[3]],
                title=dict(text="x₂"),
                scaleanchor="x",
                scaleratio=1,
                **plane,
            ),
        ),
    )
