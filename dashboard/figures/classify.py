"""The Classifier page's figures: decision boundary over the plane, the warped grid, Table 1.

Pure functions from numpy arrays to plotly figures (no torch, no Streamlit), so the page and any
export draw the same pictures. Class 0 is blue, class 1 red; training points are circles, test
points diamonds; the decision boundary is the ``p = 0.5`` contour.

Example:
    >>> import numpy as np
    >>> xs = ys = np.linspace(-3, 3, 50)
    >>> p = 1 / (1 + np.exp(-xs[None, :] * np.ones((50, 1))))
    >>> fig = boundary_figure(xs, ys, p, title="a linear boundary")
    >>> fig.data[0].type, fig.data[1].name
    ('heatmap', 'boundary p = 0.5')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from .common import Chart, house_layout, slug

__all__ = [
    "CLASS_COLORS",
    "PROBABILITY_COLORSCALE",
    "boundary_figure",
    "boundary_table",
    "warped_grid_figure",
    "warped_grid_table",
    "table1_figure",
    "table1_table",
    "format_error",
    "classify_charts",
]

#: Class 0 blue, class 1 red (ColorBrewer RdBu ends): distinct for the common colour-vision
#: deficiencies.
CLASS_COLORS = ("#2166ac", "#b2182b")
#: p(class 1) from blue through white (undecided) to red.
PROBABILITY_COLORSCALE = [[0.0, "#92c5de"], [0.5, "#f7f7f7"], [1.0, "#f4a582"]]
_FOLD_COLOR = "#222222"
_MAX_POINTS = 2000


def _points(x: np.ndarray | None) -> np.ndarray:
    if x is None:
        return np.zeros((0, 2), np.float32)
    x = np.asarray(x, dtype=np.float32).reshape(-1, 2)
    return x[np.isfinite(x).all(1)]


def _scatter_classes(
    x: np.ndarray | None, y: np.ndarray | None, *, kind: str, presentation: bool
) -> list[go.Scattergl]:
    """One marker trace per class; ``kind`` is ``"train"`` (circles) or ``"test"`` (diamonds)."""
    if x is None or y is None:
        return []
    x = np.asarray(x, dtype=np.float32).reshape(-1, 2)
    y = np.asarray(y).reshape(-1)
    ok = np.isfinite(x).all(1)
    x, y = x[ok], y[ok]
    size = (9 if presentation else 6) + (1 if kind == "test" else 0)
    traces = []
    for c, color in enumerate(CLASS_COLORS):
        pts = x[y == c]
        if len(pts) > _MAX_POINTS:
            pts = pts[np.linspace(0, len(pts) - 1, _MAX_POINTS).astype(int)]
        marker = dict(
            size=size,
            color=color,
            symbol="circle" if kind == "train" else "diamond",
            line=dict(
                width=0.8 if kind == "train" else 1.2,
                color="white" if kind == "train" else "black",
            ),
            opacity=0.85,
        )
        traces.append(
            go.Scattergl(
                x=pts[:, 0],
                y=pts[:, 1],
                mode="markers",
                marker=marker,
                name=f"class {c} ({kind})",
                hovertemplate=f"class {c} ({kind})<br>(%{{x:.2f}}, %{{y:.2f}})<extra></extra>",
            )
        )
    return traces


def boundary_figure(
    xs: np.ndarray,
    ys: np.ndarray,
    p: np.ndarray,
    *,
    x_train: np.ndarray | None = None,
    y_train: np.ndarray | None = None,
    x_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    folded: np.ndarray | None = None,
    title: str | None = None,
    subtitle: str | None = None,
    presentation: bool = False,
    height: int | None = 600,
) -> go.Figure:
    """The probability of class 1 over the plane, the ``p = 0.5`` boundary, the data, and the
    folds.

    Args:
        xs, ys: grid coordinates; ``p[i, j]`` is ``p(class 1 | (xs[j], ys[i]))``.
        x_train, y_train, x_test, y_test: points ``(n, 2)`` and labels in ``{0, 1}``.
        folded: boolean grid like ``p``: where ``det J <= 0`` (drawn as a dashed outline when any).
    """
    xs = np.asarray(xs, dtype=np.float32)
    ys = np.asarray(ys, dtype=np.float32)
    z = np.nan_to_num(np.asarray(p, dtype=np.float32), nan=0.5)
    traces: list = [
        go.Heatmap(
            x=xs,
            y=ys,
            z=z,
            zmin=0.0,
            zmax=1.0,
            colorscale=PROBABILITY_COLORSCALE,
            zsmooth="best",
            name="p(class 1)",
            colorbar=dict(
                title=dict(text="p(class 1)", side="right"),
                thickness=10,
                len=0.55,
                x=1.0,
                xanchor="left",
                y=0.5,
                yanchor="middle",
                tickvals=[0, 0.5, 1],
            ),
            hovertemplate="x₁=%{x:.2f}<br>x₂=%{y:.2f}<br>p(class 1)=%{z:.3f}<extra></extra>",
        ),
        go.Contour(
            x=xs,
            y=ys,
            z=z,
            showscale=False,
            contours=dict(coloring="none", start=0.5, end=0.5, size=1),
            line=dict(color="black", width=2.5 if presentation else 2),
            name="boundary p = 0.5",
            hoverinfo="skip",
            showlegend=True,
        ),
    ]
    if folded is not None and np.asarray(folded).any():
        f = np.asarray(folded, dtype=np.float32)
        traces.append(
            go.Contour(
                x=xs,
                y=ys,
                z=f,
                showscale=False,
                contours=dict(coloring="none", start=0.5, end=0.5, size=1),
                line=dict(color=_FOLD_COLOR, width=1.5, dash="dot"),
                name="fold: det J ≤ 0",
                hoverinfo="skip",
                showlegend=True,
            )
        )
    traces += _scatter_classes(x_train, y_train, kind="train", presentation=presentation)
    traces += _scatter_classes(x_test, y_test, kind="test", presentation=presentation)
    return _plane_figure(
        traces,
        dict(range=[float(xs[0]), float(xs[-1])], title=dict(text="x₁")),
        dict(range=[float(ys[0]), float(ys[-1])], title=dict(text="x₂")),
        title,
        subtitle,
        presentation,
        height,
    )


def boundary_table(
    xs: np.ndarray, ys: np.ndarray, p: np.ndarray, folded: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The grid behind :func:`boundary_figure`: one row per grid point."""
    gx, gy = np.meshgrid(np.asarray(xs), np.asarray(ys))
    table = {
        "x1": gx.ravel(),
        "x2": gy.ravel(),
        "p_class1": np.asarray(p, dtype=np.float64).ravel(),
    }
    if folded is not None:
        table["folded"] = np.asarray(folded).ravel().astype(int)
    return table


def _polyline(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(n_lines, n_points, 2)`` -> x and y with NaN separators: one trace for many lines."""
    lines = np.asarray(lines, dtype=np.float64)
    sep = np.full((lines.shape[0], 1, 2), np.nan)
    flat = np.concatenate([lines, sep], 1).reshape(-1, 2)
    flat[~np.isfinite(flat).all(1)] = np.nan
    return flat[:, 0], flat[:, 1]


def warped_grid_figure(
    horizontal: np.ndarray,
    vertical: np.ndarray,
    *,
    z_train: np.ndarray | None = None,
    y_train: np.ndarray | None = None,
    head: tuple[np.ndarray, float] | None = None,
    dim: int = 2,
    title: str | None = None,
    subtitle: str | None = None,
    presentation: bool = False,
    height: int | None = 600,
) -> go.Figure:
    """The input grid pushed through the feature map ``F`` (first two coordinates), with the mapped
    data.

    Args:
        horizontal, vertical: ``(n_lines, n_points, 2)`` images of the lines ``x₂ = const`` and
            ``x₁ = const`` (:func:`iresnet_core.classify.warped_grid`).
        z_train, y_train: the training points' features and labels.
        head: ``(a, b)`` with the decision line ``a · z + b = 0`` in feature space; drawn for ``dim
        == 2``
            (for ``dim > 2`` the boundary is a hyperplane, not a line of this projection).
        dim: the feature map's width (the title says "projection" when ``dim > 2``).
    """
    hx, hy = _polyline(horizontal)
    vx, vy = _polyline(vertical)
    lw = 1.4 if presentation else 1.0
    traces: list = [
        go.Scatter(
            x=hx,
            y=hy,
            mode="lines",
            line=dict(color="#6a51a3", width=lw),
            name="x₂ = const",
            hoverinfo="skip",
            opacity=0.7,
        ),
        go.Scatter(
            x=vx,
            y=vy,
            mode="lines",
            line=dict(color="#238b45", width=lw),
            name="x₁ = const",
            hoverinfo="skip",
            opacity=0.7,
        ),
        *_scatter_classes(z_train, y_train, kind="train", presentation=presentation),
    ]
    xaxis: dict[str, Any] = dict(title=dict(text="F₁"))
    yaxis: dict[str, Any] = dict(title=dict(text="F₂"))
    # frame the mapped data (the outer grid lines may leave the frame): that is where the map
    # matters
    pts = _points(z_train)
    margin = 1.35
    if not len(pts):
        pts, margin = np.concatenate([_points(horizontal), _points(vertical)]), 1.05
    if len(pts):
        lo, hi = pts.min(0), pts.max(0)
        centre, half = (lo + hi) / 2, float(max(hi - lo)) / 2 * margin + 1e-6
        x0, x1, y0, y1 = centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half
        if head is not None and dim == 2:
            a, b = np.asarray(head[0], dtype=np.float64), float(head[1])
            line = _line_in_box(a, b, (x0, x1, y0, y1))
            if line is not None:
                traces.append(
                    go.Scatter(
                        x=line[:, 0],
                        y=line[:, 1],
                        mode="lines",
                        name="linear head: p = 0.5",
                        line=dict(color="black", width=2.5 if presentation else 2, dash="dash"),
                        hoverinfo="skip",
                    )
                )
        xaxis["range"], yaxis["range"] = [float(x0), float(x1)], [float(y0), float(y1)]
    return _plane_figure(traces, xaxis, yaxis, title, subtitle, presentation, height)


def _plane_figure(
    traces: list,
    xaxis: dict[str, Any],
    yaxis: dict[str, Any],
    title: str | None,
    subtitle: str | None,
    presentation: bool,
    height: int | None,
) -> go.Figure:
    """The shared style of the square plane figures: one scale on both axes (``xaxis`` and
    ``yaxis`` add their ranges and titles), no grid, the legend below, an optional subtitle."""
    plane = dict(constrain="domain", zeroline=False, showgrid=False)
    layout = house_layout(
        title=title,
        presentation=presentation,
        height=height,
        legend=dict(yanchor="top", y=-0.13, xanchor="center", x=0.5),
    )
    layout.update(
        xaxis={**plane, **xaxis}, yaxis={**plane, **yaxis, "scaleanchor": "x", "scaleratio": 1}
    )
    layout["margin"]["b"] = 90
    if subtitle and title:
        layout["title"]["subtitle"] = dict(
            text=subtitle, font=dict(size=15 if presentation else 11)
        )
        layout["margin"]["t"] += 20  # the subtitle under the title
    return go.Figure(data=traces, layout=layout)


def _line_in_box(a: np.ndarray, b: float, box: Sequence[float]) -> np.ndarray | None:
    """The segment of ``a · z + b = 0`` inside the box, or ``None``."""
    x0, x1, y0, y1 = box
    if not (np.isfinite(a).all() and math.isfinite(b)) or np.allclose(a, 0):
        return None
    if abs(a[1]) >= abs(a[0]):
        xs = np.array([x0, x1])
        return np.stack([xs, -(a[0] * xs + b) / a[1]], 1)
    ys = np.array([y0, y1])
    return np.stack([-(a[1] * ys + b) / a[0], ys], 1)


def warped_grid_table(horizontal: np.ndarray, vertical: np.ndarray) -> dict[str, np.ndarray]:
    """The mapped grid lines: family, line index, point index and the two feature coordinates."""
    rows = []
    for fam, lines in (("x2_const", horizontal), ("x1_const", vertical)):
        lines = np.asarray(lines)
        n_lines, n_points = lines.shape[:2]
        li, pi = np.meshgrid(np.arange(n_lines), np.arange(n_points), indexing="ij")
        rows.append(
            (np.full(n_lines * n_points, fam), li.ravel(), pi.ravel(), lines.reshape(-1, 2))
        )
    return {
        "family": np.concatenate([r[0] for r in rows]),
        "line": np.concatenate([r[1] for r in rows]),
        "point": np.concatenate([r[2] for r in rows]),
        "F1": np.concatenate([r[3][:, 0] for r in rows]),
        "F2": np.concatenate([r[3][:, 1] for r in rows]),
    }


def format_error(value: float) -> str:
    """A reconstruction error for a table cell: ``"2.1e-07"``, or ``"diverged"`` when infinite."""
    if value is None or not math.isfinite(value):
        return "diverged"
    return f"{value:.1e}"


def table1_figure(
    rows: Sequence[Mapping[str, Any]],
    *,
    dataset: str = "",
    title: str | None = None,
    presentation: bool = False,
    height: int | None = 380,
) -> go.Figure:
    """Test error per setting (bars), labelled with the measured inverse evidence, as in Table
    1."""
    labels = [str(r["setting"]) for r in rows]
    err = [100 * float(r["test_error"]) for r in rows]
    colors = ["#7f7f7f" if r.get("coeff") is None else "#d62728" for r in rows]
    text = [
        f"{e:.1f}%<br>inverse {'✓' if r.get('inverse_converged') else '✗'} · "
        f"folds {100 * float(r['fold_share']):.0f}%"
        for e, r in zip(err, rows)
    ]
    bars = go.Bar(
        x=labels,
        y=err,
        marker_color=colors,
        text=text,
        textposition="outside",
        cliponaxis=False,
        name="test error",
        hovertemplate="%{x}: test error %{y:.2f}%<extra></extra>",
    )
    top = max(err + [1.0])
    layout = house_layout(
        title=title or f"Table 1 on {dataset}: test error per Lipschitz coefficient",
        presentation=presentation,
        height=height,
    )
    layout.update(
        showlegend=False,
        yaxis=dict(title=dict(text="test error (%)"), range=[0, top * 1.35], rangemode="tozero"),
        xaxis=dict(title=dict(text="setting (vanilla: no Lipschitz constraint)"), type="category"),
    )
    return go.Figure(data=[bars], layout=layout)


def table1_table(rows: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """The rows as CSV columns (the numbers as measured, not formatted)."""
    if not rows:
        return {}
    keys = list(rows[0])
    out: dict[str, np.ndarray] = {}
    for k in keys:
        vals = [r.get(k) for r in rows]
        if k == "coeff":
            vals = ["" if v is None else v for v in vals]
        out[k] = np.asarray(vals, dtype=object)
    return out


def classify_charts(
    view: Mapping[str, Any],
    *,
    dataset: str,
    setting: str,
    presentation: bool = False,
    show_folds: bool = True,
) -> list[Chart]:
    """The boundary and warped-grid charts of one trained view (the dict the page caches).

    ``view`` keys: ``xs, ys, p, folded, x_train, y_train, x_test, y_test, horizontal, vertical,
    z_train, head_a, head_b, dim, test_error, fold_share`` (see :mod:`dashboard.views.classify`).
    """
    name = slug(dataset, "classifier", setting, f"dim={view['dim']}")
    err = float(view["test_error"])
    folds = float(view["fold_share"])
    sub = f"test error {100 * err:.1f}% · folds (det J ≤ 0) on {100 * folds:.1f}% of the plane"
    boundary = boundary_figure(
        view["xs"],
        view["ys"],
        view["p"],
        x_train=view["x_train"],
        y_train=view["y_train"],
        x_test=view["x_test"],
        y_test=view["y_test"],
        folded=view["folded"] if show_folds else None,
        title=f"Decision boundary ({setting})",
        subtitle=sub,
        presentation=presentation,
    )
    dim = int(view["dim"])
    warped = warped_grid_figure(
        view["horizontal"],
        view["vertical"],
        z_train=view["z_train"],
        y_train=view["y_train"],
        head=(view["head_a"], view["head_b"]),
        dim=dim,
        title="The learned invertible map F: the input grid, warped"
        + (f" (first 2 of {dim} coordinates)" if dim > 2 else ""),
        subtitle="grid lines of the plane and the training points, mapped by F",
        presentation=presentation,
    )
    return [
        Chart(
            f"{name}_boundary",
            f"Decision boundary ({setting})",
            boundary,
            boundary_table(view["xs"], view["ys"], view["p"], view["folded"]),
        ),
        Chart(
            f"{name}_warped_grid",
            "Warped grid",
            warped,
            warped_grid_table(view["horizontal"], view["vertical"]),
        ),
    ]
