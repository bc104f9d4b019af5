"""Figures of the Lipschitz page: power iteration against the exact spectral norm, per-block
product bounds against empirical Lipschitz constants, and how the flow bends the plane (with
folds).

Pure functions from numpy arrays to plotly figures (no torch, no Streamlit). Power iteration
approaches ``||W||_2`` from below (Behrmann et al. 2019, Sec. 3 and App. B): the normalisation
``W / max(1, sigma/c)`` with an underestimated sigma lets the true norm exceed c. Without the
constraint ``det J_F`` can reach zero: the map folds the plane and is no longer invertible.

Example:
    >>> import numpy as np
    >>> est = np.array([[0.5, 0.8, 0.89, 0.9]]); exact = np.array([0.9])
    >>> fig = power_figure(["W1"], est, exact, k=3)
    >>> [t.line.dash for t in fig.data if t.name.startswith("exact")]
    ['dash']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .common import MODEL_COLORS, hline, house_layout, side_by_side, vline

__all__ = [
    "power_figure",
    "power_table",
    "block_lipschitz_figure",
    "block_lipschitz_table",
    "warp_figure",
    "warp_table",
    "warp_strip_figure",
    "FOLD_COLOR",
]

FOLD_COLOR = "#d62728"
_LAYER_COLORS = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def _fin(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return np.where(np.isfinite(a), a, np.nan)


def power_figure(
    names: Sequence[str],
    estimates: np.ndarray,
    exact: np.ndarray,
    *,
    k: int,
    show: Sequence[int] | None = None,
    title: str | None = None,
    presentation: bool = False,
    height: int | None = 400,
) -> go.Figure:
    """Left: for the layers in ``show``, the power-iteration estimate of sigma against iterations k
    (solid) and the exact value by SVD (dashed). Right: the relative underestimate
    ``(sigma - estimate) / sigma`` of every layer, log y."""
    est = np.asarray(estimates, dtype=np.float64)
    exact = np.asarray(exact, dtype=np.float64)
    ks = np.arange(est.shape[1])
    show = list(range(min(3, len(names)))) if show is None else list(show)
    traces = []
    for j, i in enumerate(show):
        col = _LAYER_COLORS[j % len(_LAYER_COLORS)]
        traces.append(
            go.Scatter(
                x=ks,
                y=_fin(est[i]),
                mode="lines",
                name=names[i],
                legendgroup=names[i],
                line=dict(color=col, width=2),
                hovertemplate=f"{names[i]}<br>k=%{{x}}<br>estimate %{{y:.5f}}<extra></extra>",
            )
        )
        traces.append(
            go.Scatter(
                x=[ks[0], ks[-1]],
                y=[exact[i], exact[i]],
                mode="lines",
                name=f"exact {names[i]}",
                legendgroup=names[i],
                showlegend=False,
                line=dict(color=col, width=1.5, dash="dash"),
                hovertemplate=f"{names[i]}: exact σ %{{y:.5f}}<extra></extra>",
            )
        )
    gap = (exact[:, None] - est) / np.where(exact[:, None] > 0, exact[:, None], np.nan)
    gap = np.where(gap > 1e-16, gap, 1e-16)  # converged to rounding: sit on the floor
    # The layers not picked out share one trace, broken by NaN between layers (a trace per layer
    # cost a millisecond each: a 32-block flow has 96 layers).
    rest = [i for i in range(len(names)) if i not in show]
    if rest:
        n = len(ks) + 1
        xs = np.tile(np.append(ks, np.nan), len(rest))
        ys = np.concatenate([np.append(gap[i], np.nan) for i in rest])
        who = np.repeat(np.asarray([names[i] for i in rest], dtype=object), n)
        traces.append(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name="gap, other layers",
                showlegend=False,
                customdata=who,
                line=dict(color="rgba(31,119,180,0.35)", width=1),
                xaxis="x2",
                yaxis="y2",
                hovertemplate="%{customdata}<br>k=%{x}<br>%{y:.1e}<extra></extra>",
            )
        )
    for j, i in enumerate(show):
        traces.append(
            go.Scatter(
                x=ks,
                y=gap[i],
                mode="lines",
                name=f"gap {names[i]}",
                showlegend=False,
                line=dict(color=_LAYER_COLORS[j % len(_LAYER_COLORS)], width=2),
                xaxis="x2",
                yaxis="y2",
                hovertemplate=f"{names[i]}<br>k=%{{x}}<br>%{{y:.1e}}<extra></extra>",
            )
        )
    layout = side_by_side(
        2,
        titles=("σ estimate vs exact (dashed)", "relative underestimate (σ − est)/σ, every layer"),
        title_size=18 if presentation else 16,
    )
    for plot in ("", "2"):
        layout[f"xaxis{plot}"]["title"] = dict(text="power iterations k")
    layout["yaxis2"].update(type="log", exponentformat="power")
    # presentation mode: the legend further below the bigger axis titles, the figure taller by as
    # much
    layout.update(
        house_layout(
            title=title,
            presentation=presentation,
            height=height,
            presentation_extra=50,
            legend=dict(yanchor="top", y=-0.18, xanchor="left", x=0),
        ),
        shapes=[
            vline(k, dict(color=MODEL_COLORS["iresnet"], width=1.5, dash="dash"), plot=plot)[0]
            for plot in ("", "2")
        ],
    )
    layout["margin"]["t"] += 30  # the plots' own titles under the title
    return go.Figure(data=traces, layout=layout)


def power_table(
    names: Sequence[str], estimates: np.ndarray, exact: np.ndarray
) -> dict[str, np.ndarray]:
    est = np.asarray(estimates)
    rows = {"layer": [], "k": [], "estimate": [], "exact": []}
    for i, n in enumerate(names):
        for k in range(est.shape[1]):
            (
                rows["layer"].append(n),
                rows["k"].append(k),
                rows["estimate"].append(est[i, k]),
                rows["exact"].append(exact[i]),
            )
    return {k: np.asarray(v, dtype=object if k == "layer" else None) for k, v in rows.items()}


def block_lipschitz_figure(
    product_bound: np.ndarray,
    empirical: np.ndarray,
    *,
    coeff: float | None,
    trained: np.ndarray | None = None,
    depth: int = 3,
    title: str | None = None,
    presentation: bool = False,
    height: int | None = 470,
) -> go.Figure:
    """Per block: the product bound ``prod ||W_i||`` (exact sigma), the model as trained
    (power-iteration sigma) when given, and the empirical ``max ||J_g(x)||_2`` over points;
    ``c^depth`` dashed, 1 red."""
    blocks = np.arange(
        1, len(product_bound) + 1
    )  # numbers, not "block i" labels: 32 of those overlap
    traces = [
        go.Bar(
            x=blocks,
            y=_fin(product_bound),
            name="product bound Π‖Wᵢ‖ (SVD)",
            marker_color="#08519c",
            hovertemplate="block %{x}<br>bound %{y:.4f}<extra></extra>",
        )
    ]
    if trained is not None:
        traces.append(
            go.Bar(
                x=blocks,
                y=_fin(trained),
                name="as trained (power-iteration σ)",
                marker_color="#9ecae1",
                hovertemplate="block %{x}<br>as trained %{y:.4f}<extra></extra>",
            )
        )
    traces.append(
        go.Bar(
            x=blocks,
            y=_fin(empirical),
            name="empirical max ‖J_g(x)‖₂",
            marker_color="#ff7f0e",
            hovertemplate="block %{x}<br>empirical %{y:.4f}<extra></extra>",
        )
    )
    shapes, notes = [], []
    if coeff is not None:
        line, label = hline(
            coeff**depth,
            dict(color="#111", width=1.5, dash="dash"),
            text=f"c^{depth} = {coeff**depth:.3f}",
            position="top left",
        )
        shapes.append(line), notes.extend(label)
    line, label = hline(1.0, dict(color=FOLD_COLOR, width=1.5), text="1: invertibility lost above")
    shapes.append(line), notes.extend(label)
    layout = house_layout(
        title=title,
        presentation=presentation,
        height=height,
        presentation_extra=50,
        legend=dict(yanchor="top", y=-0.15, xanchor="left", x=0.0),
    )
    layout.update(
        barmode="group",
        shapes=shapes,
        annotations=notes,
        yaxis=dict(title=dict(text="Lipschitz constant of g"), rangemode="tozero"),
        xaxis=dict(title=dict(text="block"), tickmode="auto", nticks=min(len(blocks), 16)),
    )
    return go.Figure(data=traces, layout=layout)


def block_lipschitz_table(product_bound, empirical, trained=None) -> dict[str, np.ndarray]:
    t = {
        "block": np.arange(1, len(product_bound) + 1),
        "product_bound": _fin(product_bound),
        "empirical": _fin(empirical),
    }
    if trained is not None:
        t["as_trained"] = _fin(trained)
    return t


def _lines_trace(
    lines: np.ndarray, color: str, width: float, name: str, showlegend: bool = True
) -> go.Scattergl:
    """All lines of a grid as one trace (NaN-separated)."""
    lines = np.asarray(lines, dtype=np.float64)
    sep = np.full((lines.shape[0], 1, 2), np.nan)
    flat = np.concatenate([lines, sep], axis=1).reshape(-1, 2)
    return go.Scattergl(
        x=flat[:, 0],
        y=flat[:, 1],
        mode="lines",
        line=dict(color=color, width=width),
        name=name,
        hoverinfo="skip",
        showlegend=showlegend,
    )


def warp_figure(
    lines_x: np.ndarray,
    lines_z: np.ndarray,
    det_lines: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    det: np.ndarray,
    *,
    label: str,
    folds: float,
    title: str | None = None,
    presentation: bool = False,
    height: int | None = 470,
) -> go.Figure:
    """Left: the data plane with the sign and size of ``det J_F`` (blue > 0, red <= 0: a fold) and
    the straight grid. Right: the same grid lines after the flow, points with ``det J_F <= 0``
    red."""
    d = np.asarray(det, dtype=np.float64)
    s = np.sign(d) * np.log10(1 + np.abs(d))
    m = float(np.nanmax(np.abs(s))) if np.isfinite(s).any() else 1.0
    traces: list = [
        go.Heatmap(
            x=xs,
            y=ys,
            z=s,
            zmid=0,
            zmin=-m,
            zmax=m,
            colorscale="RdBu",
            customdata=d,
            showscale=False,
            hovertemplate="x₁=%{x:.2f}<br>x₂=%{y:.2f}<br>det J = %{customdata:.3g}<extra></extra>",
        ),
        _lines_trace(lines_x, "rgba(0,0,0,0.35)", 0.8, "grid", showlegend=False),
    ]
    if np.nanmin(d) <= 0 if np.isfinite(d).any() else False:
        traces.append(
            go.Contour(
                x=xs,
                y=ys,
                z=d,
                contours=dict(start=0, end=0, size=1, coloring="none"),
                line=dict(color=FOLD_COLOR, width=2.5),
                showscale=False,
                name="det J = 0",
                hoverinfo="skip",
            )
        )
    right = dict(xaxis="x2", yaxis="y2")
    traces.append(_lines_trace(lines_z, "#08519c", 1.0, "F(grid lines)").update(**right))
    dl = np.asarray(det_lines)
    fold = dl <= 0
    if fold.any():
        pts = np.asarray(lines_z)[fold]
        traces.append(
            go.Scattergl(
                x=pts[:, 0],
                y=pts[:, 1],
                mode="markers",
                name="det J ≤ 0 (fold)",
                marker=dict(color=FOLD_COLOR, size=4),
                hoverinfo="skip",
                **right,
            )
        )
    layout = side_by_side(
        2,
        spacing=0.08,
        titles=(
            f"data plane: det J_F (red ≤ 0: fold, {100 * folds:.1f} %)",
            f"latent plane: F(grid), {label}",
        ),
    )
    plane = dict(showgrid=False, zeroline=False)
    layout["xaxis"].update(title=dict(text="x₁"), **plane)
    layout["yaxis"].update(title=dict(text="x₂"), scaleanchor="x", **plane)
    layout["xaxis2"].update(title=dict(text="z₁"), **plane)
    layout["yaxis2"].update(title=dict(text="z₂"), **plane)
    z = np.asarray(lines_z, dtype=np.float64).reshape(-1, 2)
    z = z[np.isfinite(z).all(1)]
    if len(z):
        lo, hi = np.percentile(z, [1, 99], axis=0)
        pad = 0.08 * (hi - lo + 1e-9)
        layout["xaxis2"]["range"] = [lo[0] - pad[0], hi[0] + pad[0]]
        layout["yaxis2"]["range"] = [lo[1] - pad[1], hi[1] + pad[1]]
    # the share of the plane in the left title turns red (as a note it overlapped the right title)
    if folds > 0:
        layout["annotations"][0]["font"]["color"] = FOLD_COLOR
    layout.update(
        house_layout(title=title, presentation=presentation, height=height), showlegend=False
    )
    layout["margin"]["t"] += 30  # the plots' own titles under the title
    layout["margin"]["b"] = 40
    return go.Figure(data=traces, layout=layout)


def warp_table(
    lines_x: np.ndarray, lines_z: np.ndarray, det_lines: np.ndarray
) -> dict[str, np.ndarray]:
    lx, lz = np.asarray(lines_x), np.asarray(lines_z)
    L, P, _ = lx.shape
    return {
        "line": np.repeat(np.arange(L), P),
        "x1": lx[..., 0].ravel(),
        "x2": lx[..., 1].ravel(),
        "z1": lz[..., 0].ravel(),
        "z2": lz[..., 1].ravel(),
        "det_J": np.asarray(det_lines).ravel(),
    }


#: A panel whose grid lands this far out (|z| in the units of the plane, whose toy sets span a few
#: units) says how far in its title: its ticks are hidden, and an exploded map (the unconstrained
#: flow's raw weights reach |z| ~ 1e24 on 8gaussians) otherwise looks like a single line.
BLOWN_UP = 1e3


def _reach(lines_z: np.ndarray) -> float:
    """The largest finite ``|z|`` of a panel's grid lines (0 when none is finite)."""
    z = np.abs(np.asarray(lines_z, dtype=np.float64))
    z = z[np.isfinite(z)]
    return float(z.max()) if z.size else 0.0


def _strip_title(label: str, lines_z: np.ndarray, folds: float, current: str | None) -> str:
    reach = _reach(lines_z)
    return (
        f"{'▶ ' if label == current else ''}{label}"
        + (f" · folds {100 * folds:.0f} %" if folds > 0 else "")
        + (f"<br>|z| up to {reach:.0e}" if reach >= BLOWN_UP else "")
    )


def warp_strip_figure(
    panels: Sequence[tuple[str, np.ndarray, np.ndarray, float]],
    *,
    current: str | None = None,
    title: str | None = None,
    presentation: bool = False,
    height: int | None = 260,
) -> go.Figure:
    """Small multiples: ``(label, lines_z, det_lines, folds)`` per c, left to right, folds red; a
    panel whose grid exploded says how far out it went (:data:`BLOWN_UP`)."""
    n = len(panels)
    layout = side_by_side(
        n,
        spacing=0.02,
        title_size=16 if presentation else 12,
        titles=[_strip_title(lab, lz, f, current) for lab, lz, _, f in panels],
    )
    traces: list = []
    for i, (lab, lz, dl, _) in enumerate(panels, start=1):
        k = "" if i == 1 else str(i)
        axes = dict(xaxis=f"x{k}", yaxis=f"y{k}")
        traces.append(
            _lines_trace(
                lz,
                MODEL_COLORS["iresnet"] if lab == current else "#08519c",
                0.8,
                lab,
                showlegend=False,
            ).update(**axes)
        )
        fold = np.asarray(dl) <= 0
        if fold.any():
            pts = np.asarray(lz)[fold]
            traces.append(
                go.Scattergl(
                    x=pts[:, 0],
                    y=pts[:, 1],
                    mode="markers",
                    showlegend=False,
                    hoverinfo="skip",
                    marker=dict(color=FOLD_COLOR, size=3),
                    **axes,
                )
            )
        bare = dict(showticklabels=False, showgrid=False, zeroline=False)
        layout[f"xaxis{k}"].update(bare)
        layout[f"yaxis{k}"].update(bare)
        z = np.asarray(lz, dtype=np.float64).reshape(-1, 2)
        z = z[np.isfinite(z).all(1)]
        if len(z):
            lo, hi = np.percentile(z, [1, 99], axis=0)
            layout[f"xaxis{k}"]["range"] = [lo[0], hi[0]]
            layout[f"yaxis{k}"]["range"] = [lo[1], hi[1]]
    layout.update(house_layout(title=title, presentation=presentation, height=height))
    if presentation and title:  # the panels' titles under the bigger title
        layout["margin"]["t"] += 30
    return go.Figure(data=traces, layout=layout)
