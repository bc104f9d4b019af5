"""Figures of the fixed-point inverse page: convergence curves per c, the whole flow's error, the
iterations-to-tolerance table and the reconstruction-error heatmap over the plane.

Pure functions from numpy arrays to plotly figures (no torch, no Streamlit). The inverse of an
i-ResNet block ``y = x + g(x)`` is the fixed point of ``x_{n+1} = y - g(x_n)``; with ``Lip(g) <= L
< 1`` Banach's theorem bounds the error by ``L^n / (1 - L) ||x_1 - x_0||`` (Behrmann et al. 2019,
Alg. 1), drawn dashed beside every measured curve.

Example:
    >>> import numpy as np
    >>> ns = np.arange(1, 11)
    >>> cs = [CurveSet("c=0.5", "#1f77b4", ns, 0.5 ** ns, 0.5 ** ns, 2 * 0.5 ** ns)]
    >>> fig = convergence_figure(cs, tol=1e-6)
    >>> fig.layout.yaxis.type, [t.line.dash for t in fig.data if t.name.startswith("bound")]
    ('log', ['dash'])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from .common import MODEL_COLORS, hline, house_layout, side_by_side, vline

__all__ = [
    "REF_COEFFS",
    "CurveSet",
    "coeff_label",
    "coeff_color",
    "convergence_figure",
    "convergence_table",
    "flow_error_figure",
    "iterations_rows",
    "error_heatmap_figure",
    "heatmap_table",
    "FLOOR",
    "CAP",
]

#: the fixed coefficients drawn beside the current one
REF_COEFFS = (0.5, 0.7, 0.9, 0.99)
#: colour scale ends of the error heatmap (float32 rounding below, "diverged" above)
FLOOR, CAP = 1e-5, 1e2
_REF_COLORS = {0.5: "#9ecae1", 0.7: "#4292c6", 0.9: "#08519c", 0.99: "#08306b"}
CURRENT_COLOR = MODEL_COLORS["iresnet"]
#: light (converged) to dark red (far off): colorbrewer YlOrRd as explicit stops
_ERR_SCALE = [
    [i / 8, c]
    for i, c in enumerate(
        [
            "#ffffcc",
            "#ffeda0",
            "#fed976",
            "#feb24c",
            "#fd8d3c",
            "#fc4e2a",
            "#e31a1c",
            "#bd0026",
            "#800026",
        ]
    )
]
FREE_COLOR = "#111111"


def coeff_label(c: float | None) -> str:
    return "unconstrained" if c is None else f"c={c:g}"


def coeff_color(c: float | None, current: bool = False) -> str:
    if c is None:
        return FREE_COLOR
    if current:
        return CURRENT_COLOR
    return _REF_COLORS.get(round(float(c), 4), "#6baed6")


@dataclass
class CurveSet:
    """One c's curves against n: max over points (and blocks, for the worst block) per
    iteration."""

    label: str
    color: str
    ns: np.ndarray
    residual: np.ndarray
    error: np.ndarray
    bound: np.ndarray
    current: bool = False


def _pos(a: np.ndarray) -> np.ndarray:
    """Values for a log axis: non-finite and non-positive entries become gaps."""
    a = np.asarray(a, dtype=np.float64)
    return np.where(np.isfinite(a) & (a > 0), a, np.nan)


def convergence_figure(
    curves: Sequence[CurveSet],
    *,
    tol: float,
    n_mark: int | None = None,
    title: str | None = None,
    subtitle: str | None = None,
    presentation: bool = False,
    height: int | None = 400,
) -> go.Figure:
    """Residual ``||x_n - x_{n-1}||`` (left) and error ``||x_n - x*||`` with Banach's bound dashed
    (right) against n, one colour per c, log y; the tolerance as a grey line."""
    traces = []
    for cs in curves:
        width = 3 if cs.current else 1.8
        group = cs.label + (" (current)" if cs.current else "")
        traces.append(
            go.Scatter(
                x=cs.ns,
                y=_pos(cs.residual),
                mode="lines",
                name=group,
                legendgroup=group,
                line=dict(color=cs.color, width=width),
                showlegend=True,
                hovertemplate=f"{cs.label}<br>n=%{{x}}<br>residual %{{y:.2e}}<extra></extra>",
            )
        )
        traces.append(
            go.Scatter(
                x=cs.ns,
                y=_pos(cs.error),
                mode="lines",
                name=f"error {cs.label}",
                legendgroup=group,
                line=dict(color=cs.color, width=width),
                showlegend=False,
                xaxis="x2",
                yaxis="y2",
                hovertemplate=f"{cs.label}<br>n=%{{x}}<br>error %{{y:.2e}}<extra></extra>",
            )
        )
        bound = _pos(cs.bound)
        if np.isfinite(bound).any():
            traces.append(
                go.Scatter(
                    x=cs.ns,
                    y=bound,
                    mode="lines",
                    name=f"bound {cs.label}",
                    legendgroup=group,
                    line=dict(color=cs.color, width=max(width - 0.6, 1), dash="dash"),
                    showlegend=False,
                    xaxis="x2",
                    yaxis="y2",
                    hovertemplate=f"Banach bound, "
                    f"{cs.label}<br>n=%{{x}}<br>%{{y:.2e}}<extra></extra>",
                )
            )
    layout = side_by_side(
        2,
        titles=("residual ‖xₙ − xₙ₋₁‖", "error ‖xₙ − x*‖ and Banach bound (dashed)"),
        spacing=0.08,
    )
    shapes, notes = [], []
    for plot in ("", "2"):
        line, label = hline(
            tol,
            dict(color="#888", width=1, dash="dot"),
            plot=plot,
            log=True,
            text=f"tol {tol:.0e}" if plot == "" else None,
            position="bottom left",
            font=dict(size=11, color="#666"),
        )
        shapes.append(line), notes.extend(label)
    if n_mark is not None:
        shapes += [
            vline(n_mark, dict(color="#555", width=1, dash="dash"), plot=plot)[0]
            for plot in ("", "2")
        ]
    top = max(
        [
            float(np.nanmax(_pos(np.r_[cs.residual, cs.error])))
            for cs in curves
            if np.isfinite(_pos(np.r_[cs.residual, cs.error])).any()
        ]
        or [1.0]
    )
    yr = [-16.5, np.log10(top) + 0.5]  # below 1e-16 is float64 rounding; the bounds may go lower
    for plot in ("", "2"):
        layout[f"yaxis{plot}"].update(type="log", exponentformat="power", range=yr)
        layout[f"xaxis{plot}"]["title"] = dict(text="iteration n")
    # Presentation mode: bigger type in the same space; the figure grows by what the title, the
    # subtitle and the legend under the plots take more.
    layout.update(
        house_layout(
            title=title,
            presentation=presentation,
            height=height,
            presentation_extra=100 if subtitle and title else 0,
            legend=dict(yanchor="top", y=-0.18, xanchor="left", x=0.0),
        ),
        shapes=shapes,
    )
    layout["annotations"] += notes
    if subtitle and title:
        layout["title"]["subtitle"] = dict(
            text=subtitle, font=dict(size=15 if presentation else 11)
        )
        layout["margin"]["t"] += (
            125 if presentation else 55
        )  # the subtitle, then the plots' own titles
        layout["annotations"][0]["yshift"] = 4
    return go.Figure(data=traces, layout=layout)


def convergence_table(curves: Sequence[CurveSet]) -> dict[str, np.ndarray]:
    """Long format: ``c, n, residual, error, bound`` (one row per c and n)."""
    cols: dict[str, list] = {"c": [], "n": [], "residual": [], "error": [], "bound": []}
    for cs in curves:
        n = len(cs.ns)
        cols["c"] += [cs.label] * n
        cols["n"] += list(np.asarray(cs.ns))
        for k in ("residual", "error", "bound"):
            cols[k] += list(np.asarray(getattr(cs, k), dtype=np.float64))
    return {k: np.asarray(v, dtype=object if k == "c" else None) for k, v in cols.items()}


def flow_error_figure(
    series: Sequence[tuple[str, str, np.ndarray, np.ndarray, bool]],
    *,
    tol: float,
    n_mark: int | None = None,
    title: str | None = None,
    presentation: bool = False,
    height: int | None = 340,
) -> go.Figure:
    """The whole flow: ``||F^-1_n(F(x)) - x||`` with n iterations in every block, per c (``(label,
    color, ns, error, current)``), log y, the tolerance dotted."""
    traces = [
        go.Scatter(
            x=ns,
            y=_pos(err),
            mode="lines+markers" if len(ns) < 40 else "lines",
            name=label + (" (current)" if current else ""),
            line=dict(color=color, width=3 if current else 1.8),
            marker=dict(size=4),
            hovertemplate=f"{label}<br>n=%{{x}}<br>error %{{y:.2e}}<extra></extra>",
        )
        for label, color, ns, err, current in series
    ]
    line, notes = hline(
        float(tol),
        dict(color="#888", width=1, dash="dot"),
        text=f"tol {tol:.0e}",
        position="bottom left",
        log=True,
    )
    shapes = [line]
    if n_mark is not None:
        shapes.append(vline(n_mark, dict(color="#888", width=1, dash="dash"))[0])
    # In presentation mode the legend goes under the plot (above it, it covered the title) and
    # the y axis keeps the norm alone (the title says "max over points").
    layout = house_layout(
        title=title,
        presentation=presentation,
        height=height,
        presentation_extra=60,
        legend=dict(yanchor="top", y=-0.2, xanchor="left", x=0.0) if presentation else None,
    )
    layout.update(
        shapes=shapes,
        annotations=notes,
        xaxis=dict(title=dict(text="iterations per block n")),
        yaxis=dict(
            type="log",
            exponentformat="power",
            title=dict(text="‖F⁻¹ₙ(F(x)) − x‖" + ("" if presentation else " (max over points)")),
        ),
    )
    return go.Figure(data=traces, layout=layout)


def iterations_rows(
    labels: Sequence[str],
    lipschitz: Sequence[np.ndarray],
    its: Sequence[Sequence[int]],
    diverged_at: Sequence[Sequence[int]],
    flow_its: Sequence[int],
    horizon: int,
) -> dict[str, list]:
    """The iterations-to-tolerance table as columns of text: one row per c, one column per block
    and one for the whole flow; ``"> n"`` when not reached, ``"diverged (n)"`` after a blow-up."""
    n_blocks = len(its[0]) if its else 0
    cols: dict[str, list] = {"c": list(labels), "max L": []}
    for b in range(n_blocks):
        cols[f"block {b + 1}"] = []
    cols["whole flow"] = []
    for L, row, div, fl in zip(lipschitz, its, diverged_at, flow_its):
        Lmax = float(np.max(L)) if len(L) else float("nan")
        cols["max L"].append(f"{Lmax:.3f}" + (" ≥ 1" if Lmax >= 1 else ""))
        for b in range(n_blocks):
            cols[f"block {b + 1}"].append(
                f"diverged ({div[b]})"
                if div[b]
                else (str(row[b]) if row[b] > 0 else f"> {horizon}")
            )
        cols["whole flow"].append(str(fl) if fl > 0 else f"> {horizon}")
    return cols


def error_heatmap_figure(
    xs: np.ndarray,
    ys: np.ndarray,
    err: np.ndarray,
    *,
    n: int,
    label: str,
    data: np.ndarray | None = None,
    point: tuple[float, float] | None = None,
    click_grid: int = 24,
    bounds: Sequence[float] | None = None,
    title: str | None = None,
    presentation: bool = False,
    height: int | None = 460,
) -> go.Figure:
    """``log10 ||F^-1_n(F(x)) - x||`` over the plane (clipped to [FLOOR, CAP]; NaN = diverged,
    drawn at CAP), data points, the clicked point, and a faint grid of clickable markers for
    ``st.plotly_chart(on_select="rerun", selection_mode="points")``."""
    e = np.asarray(err, dtype=np.float64)
    z = np.log10(np.clip(np.where(np.isfinite(e), e, CAP), FLOOR, CAP))
    ticks = np.arange(int(np.log10(FLOOR)), int(np.log10(CAP)) + 1)
    traces: list = [
        go.Heatmap(
            x=xs,
            y=ys,
            z=z,
            zmin=float(ticks[0]),
            zmax=float(ticks[-1]),
            colorscale=_ERR_SCALE,
            zsmooth="best",
            colorbar=dict(
                title=dict(text="error", side="right"),
                thickness=12,
                len=0.85,
                tickvals=ticks,
                x=1.02,
                ticktext=[
                    f"≤1e{t} (float32)"
                    if t == ticks[0]
                    else (f"≥1e{t}" if t == ticks[-1] else f"1e{t}")
                    for t in ticks
                ],
            ),
            customdata=e,
            hovertemplate="x₁=%{x:.2f}<br>x₂=%{y:.2f}<br>error %{customdata:.2e}<extra></extra>",
            name="error",
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
                marker=dict(size=3, color="#08519c", opacity=0.5),
                showlegend=False,
            )
        )
    if click_grid:
        gx = np.linspace(float(xs[0]), float(xs[-1]), click_grid)
        gy = np.linspace(float(ys[0]), float(ys[-1]), click_grid)
        mx, my = np.meshgrid(gx, gy)
        traces.append(
            go.Scatter(
                x=mx.ravel(),
                y=my.ravel(),
                mode="markers",
                name="click a point",
                marker=dict(size=9, color="rgba(0,0,0,0.02)"),
                showlegend=False,
                hovertemplate="click: curves for (%{x:.2f}, %{y:.2f})<extra></extra>",
            )
        )
    if point is not None:
        traces.append(
            go.Scatter(
                x=[point[0]],
                y=[point[1]],
                mode="markers",
                name="clicked point",
                marker=dict(size=14, symbol="x-thin", line=dict(width=3, color="#00e5ff")),
            )
        )
    if bounds is None:
        bounds = (float(xs[0]), float(xs[-1]), float(ys[0]), float(ys[-1]))
    plane = dict(showgrid=False, zeroline=False, constrain="domain")
    layout = house_layout(
        title=title or f"Reconstruction error after n={n} iterations per block ({label})",
        presentation=presentation,
        height=height,
    )
    layout.update(
        xaxis=dict(range=[bounds[0], bounds[1]], title=dict(text="x₁"), **plane),
        yaxis=dict(
            range=[bounds[2], bounds[3]],
            title=dict(text="x₂"),
            scaleanchor="x",
            scaleratio=1,
            **plane,
        ),
        clickmode="event+select",
        dragmode="zoom",
    )
    return go.Figure(data=traces, layout=layout)


def heatmap_table(xs: np.ndarray, ys: np.ndarray, err: np.ndarray) -> dict[str, np.ndarray]:
    """Long format ``x, y, error`` (NaN: the inverse diverged there)."""
    gx, gy = np.meshgrid(np.asarray(xs), np.asarray(ys))
    return {"x": gx.ravel(), "y": gy.ravel(), "error": np.asarray(err, dtype=np.float64).ravel()}
