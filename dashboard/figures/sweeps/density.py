"""The density models' charts: the i-ResNet's (and Glow's) cells over seeds, a chart per claim.

Pure functions from the results table to :class:`~dashboard.figures.common.Chart` bundles, each a
mean over seeds with the standard deviation as its spread (``n`` seeds in the hover and the CSV),
or, where the table has no cells for it, a chart that says so:

* :func:`gap_heatmap` — test NLL minus the entropy over c x N, one panel per data set, on one
  colour scale (:data:`GAP_COLORSCALE`);
* :func:`iterations_chart` — the inverse's iterations against c, with Banach's rate (Appendix D);
* :func:`bias_chart` — the series' truncation bias against N, with Theorem 3's bound
  (Appendix E);
* :func:`glow_chart` — i-ResNet against Glow at equal parameters and steps (Figure 2).

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"model": ["iresnet"] * 4, "dataset": ["rings"] * 4,
    ...     "coeff": [0.5, 0.5, 0.9, 0.9], "n_terms": [2] * 4, "logdet": ["series"] * 4,
    ...     "seed": [0, 1, 0, 1], "nll_minus_entropy": [0.1, 0.3, 0.2, 0.2]})
    >>> heat = gap_heatmap(df)
    >>> heat.slug, [t.type for t in heat.figure.data], list(heat.figure.data[0].y)
    ('sweep_nll_minus_entropy_c_x_N', ['heatmap'], ['c=0.5', 'c=0.9'])
    >>> glow_chart(df).figure.layout.annotations[0].text
    'no i-ResNet (exact) and Glow cells to compare'
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..common import MODEL_COLORS, MODEL_LABELS, Chart, house_layout, side_by_side, slug
from .cells import density_rows, figure2_rows, over_seeds, pm, series_rows
from .panels import DATASET_COLORS, LEGEND_BELOW, chart_table, empty_chart

__all__ = ["GAP_COLORSCALE", "gap_heatmap", "iterations_chart", "bias_chart", "glow_chart"]

#: NLL - entropy: pale (close to the entropy) to hot (far from it), light enough for black text.
GAP_COLORSCALE = [[0.0, "#ffffcc"], [0.5, "#feb24c"], [1.0, "#f03b20"]]
_C_COLORS = {0.5: "#1f77b4", 0.6: "#17becf", 0.7: "#2ca02c", 0.8: "#ff7f0e", 0.9: "#d62728"}


# ------------------------------------------------------------------ NLL - entropy over c x N
def gap_heatmap(df: pd.DataFrame, *, presentation: bool = False, height: int = 380) -> Chart:
    """Test NLL minus the entropy (nats) over c (rows) x N (columns), one panel per data set;
    each cell says ``mean ± sd`` over seeds, the colour is the mean (one scale for all panels:
    paler is closer to the entropy)."""
    name = slug("sweep", "nll_minus_entropy", "c_x_N")
    title = "NLL − entropy over c × N (mean ± sd over seeds)"
    rows = series_rows(df)
    s = over_seeds(rows, ["dataset", "coeff", "n_terms"], "nll_minus_entropy")
    if s.empty:
        return empty_chart(name, title, presentation, "no i-ResNet cells trained with the series")
    sets = list(dict.fromkeys(s["dataset"]))
    lo, hi = float(s["mean"].min()), float(s["mean"].max())
    layout = house_layout(title=title, presentation=presentation, height=height)
    layout.update(side_by_side(len(sets), titles=sets, spacing=0.12 / max(1, len(sets) - 1)))
    traces = []
    for i, ds in enumerate(sets):
        part = s[s["dataset"] == ds]
        cs = sorted(part["coeff"].unique())
        ns = sorted(part["n_terms"].unique())
        z = np.full((len(cs), len(ns)), np.nan)
        text = np.full((len(cs), len(ns)), "", dtype=object)
        for _, r in part.iterrows():
            a, b = cs.index(r["coeff"]), ns.index(r["n_terms"])
            z[a, b] = r["mean"]
            text[a, b] = f"{pm(r['mean'], r['sd'], 2)}<br>n={int(r['n'])}"
        k = "" if i == 0 else str(i + 1)
        traces.append(
            go.Heatmap(
                x=[f"N={int(n)}" for n in ns],
                y=[f"c={c:g}" for c in cs],
                z=z,
                text=text,
                texttemplate="%{text}",
                zmin=lo,
                zmax=hi,
                colorscale=GAP_COLORSCALE,
                textfont=dict(color="black"),
                showscale=i == len(sets) - 1,
                colorbar=dict(title=dict(text="nats")),
                xaxis=f"x{k}",
                yaxis=f"y{k}",
                hovertemplate=f"{ds} %{{y}} %{{x}}: %{{z:.3f}} nats<extra></extra>",
            )
        )
        layout[f"xaxis{k}"].update(title=dict(text="series terms N"), type="category")
        layout[f"yaxis{k}"].update(type="category", title=dict(text="c" if i == 0 else ""))
    layout["margin"]["t"] = layout["margin"]["t"] + 24
    return Chart(name, title, go.Figure(data=traces, layout=layout), chart_table(s))


# ------------------------------------------------------------------ Appendix D
def iterations_chart(df: pd.DataFrame, *, presentation: bool = False, height: int = 380) -> Chart:
    """Fixed-point iterations per block until the whole flow reconstructs to 1e-6, against c:
    mean ± sd over seeds (and over N where the grid has several), a line per data set. The dashed
    line is Banach's rate with ``L = c``, ``n ∝ 1 / |ln c|``, through the largest c's mean."""
    name = slug("sweep", "inverse_iterations", "vs_c")
    title = "Inverse: iterations against c (Appendix D)"
    d = density_rows(df)
    d = d[d["coeff"].notna()] if not d.empty else d
    s = over_seeds(d, ["dataset", "coeff"], "inverse_iterations")
    s = s.dropna(subset=["mean"])
    if s.empty:
        return empty_chart(name, title, presentation, "no constrained i-ResNet cells")
    traces = []
    for i, ds in enumerate(dict.fromkeys(s["dataset"])):
        part = s[s["dataset"] == ds].sort_values("coeff")
        color = DATASET_COLORS[i % len(DATASET_COLORS)]
        traces.append(
            go.Scatter(
                x=part["coeff"],
                y=part["mean"],
                error_y=dict(type="data", array=part["sd"].fillna(0), visible=True),
                mode="lines+markers",
                name=ds,
                line=dict(color=color),
                customdata=part["n"],
                hovertemplate=f"{ds} c=%{{x}}: %{{y:.1f}} iterations (n=%{{customdata}})"
                "<extra></extra>",
            )
        )
        top = part.iloc[-1]
        cs = np.linspace(part["coeff"].min(), part["coeff"].max(), 50)
        traces.append(
            go.Scatter(
                x=cs,
                y=top["mean"] * math.log(top["coeff"]) / np.log(cs),
                mode="lines",
                line=dict(color=color, dash="dot", width=1),
                name=f"{ds}: ∝ 1/|ln c|",
                hoverinfo="skip",
            )
        )
    layout = house_layout(
        title=title, presentation=presentation, height=height, legend=LEGEND_BELOW
    )
    layout.update(
        xaxis=dict(title=dict(text="Lipschitz coefficient c")),
        yaxis=dict(title=dict(text="iterations to 1e-6"), rangemode="tozero"),
    )
    return Chart(name, title, go.Figure(data=traces, layout=layout), chart_table(s))


# ------------------------------------------------------------------ Appendix E
def bias_chart(df: pd.DataFrame, *, presentation: bool = False, height: int = 380) -> Chart:
    """The trained flow's truncation bias ``mean |ln det - series_N|`` (nats, summed over the
    blocks) against N, mean ± sd over seeds, a line per c (one panel per data set), and Theorem
    3's bound for the flow (``n_blocks * truncation_bound(c, N)``) dotted; log scale."""
    name = slug("sweep", "series_bias", "vs_N")
    title = "Series bias against N (Appendix E), bound dotted"
    d = series_rows(df)
    s = over_seeds(d, ["dataset", "coeff", "n_terms"], "series_error")
    if s.empty:
        return empty_chart(name, title, presentation, "no i-ResNet cells trained with the series")
    bound = d.groupby(["dataset", "coeff", "n_terms"])["series_bound"].mean()
    sets = list(dict.fromkeys(s["dataset"]))
    layout = house_layout(
        title=title, presentation=presentation, height=height, legend=LEGEND_BELOW
    )
    layout.update(side_by_side(len(sets), titles=sets, spacing=0.08))
    traces = []
    floor = 1e-8  # an error of exactly 0 cannot sit on a log axis
    for i, ds in enumerate(sets):
        k = "" if i == 0 else str(i + 1)
        part = s[s["dataset"] == ds]
        for c in sorted(part["coeff"].unique()):
            row = part[part["coeff"] == c].sort_values("n_terms")
            color = _C_COLORS.get(round(float(c), 1), "#555555")
            traces.append(
                go.Scatter(
                    x=row["n_terms"],
                    y=np.maximum(row["mean"], floor),
                    error_y=dict(type="data", array=row["sd"].fillna(0), visible=True),
                    mode="lines+markers",
                    name=f"c={c:g}",
                    legendgroup=f"c={c:g}",
                    showlegend=i == 0,
                    line=dict(color=color),
                    xaxis=f"x{k}",
                    yaxis=f"y{k}",
                    customdata=row["n"],
                    hovertemplate=f"{ds} c={c:g} N=%{{x}}: %{{y:.2e}} nats (n=%{{customdata}})"
                    "<extra></extra>",
                )
            )
            b = [bound.get((ds, c, n), np.nan) for n in row["n_terms"]]
            traces.append(
                go.Scatter(
                    x=row["n_terms"],
                    y=b,
                    mode="lines",
                    line=dict(color=color, dash="dot", width=1),
                    name=f"bound c={c:g}",
                    legendgroup=f"c={c:g}",
                    showlegend=False,
                    xaxis=f"x{k}",
                    yaxis=f"y{k}",
                    hovertemplate=f"bound c={c:g} N=%{{x}}: %{{y:.2e}}<extra></extra>",
                )
            )
        layout[f"xaxis{k}"].update(title=dict(text="series terms N"))
        layout[f"yaxis{k}"].update(
            type="log", title=dict(text="|ln det − series| (nats)" if i == 0 else "")
        )
    layout["margin"]["t"] = layout["margin"]["t"] + 24
    return Chart(name, title, go.Figure(data=traces, layout=layout), chart_table(s))


# ------------------------------------------------------------------ Figure 2
def glow_chart(df: pd.DataFrame, *, presentation: bool = False, height: int = 380) -> Chart:
    """Test NLL minus the entropy of the i-ResNet (exact log-det) and of Glow sized to its
    parameter count, trained for the same steps: mean ± sd over seeds, per data set (Figure 2)."""
    name = slug("sweep", "iresnet_vs_glow")
    title = "i-ResNet vs Glow, equal parameters and steps (Figure 2)"
    d = figure2_rows(df)
    s = over_seeds(d, ["dataset", "model"], "nll_minus_entropy")
    if s.empty or s["model"].nunique() < 2:
        return empty_chart(
            name, title, presentation, "no i-ResNet (exact) and Glow cells to compare"
        )
    params = d.groupby(["dataset", "model"])["parameters"].mean()
    traces = []
    for model in ("iresnet", "glow"):
        part = s[s["model"] == model]
        traces.append(
            go.Bar(
                x=part["dataset"],
                y=part["mean"],
                error_y=dict(type="data", array=part["sd"].fillna(0), visible=True),
                name=MODEL_LABELS[model],
                marker_color=MODEL_COLORS[model],
                customdata=np.stack(
                    [part["n"], [params.get((ds, model), np.nan) for ds in part["dataset"]]], 1
                ),
                hovertemplate="%{x}: %{y:.3f} nats (n=%{customdata[0]}, "
                "%{customdata[1]:.0f} parameters)<extra></extra>",
            )
        )
    layout = house_layout(title=title, presentation=presentation, height=height)
    layout.update(
        barmode="group",
        xaxis=dict(title=dict(text="data set")),
        yaxis=dict(title=dict(text="test NLL − entropy (nats)"), rangemode="tozero"),
    )
    return Chart(name, title, go.Figure(data=traces, layout=layout), chart_table(s))
