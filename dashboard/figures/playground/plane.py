"""The Playground's plane: the model's density over the data plane, and the data and its samples
as points on it.

* :data:`LAYERS` — the density panel's toggles (GAN Lab style);
* :func:`density_figure` — ``p(x)`` on a grid, drawn as one ``Contour`` trace with heatmap
  colouring (so the grid travels to the browser once per redraw however many layers are on), with
  optional contour lines and data/sample overlays; :func:`density_table` — the grid in long
  format;
* :func:`samples_figure` — the training data next to samples drawn through the model's inverse;
  :func:`samples_table` — those points as rows.

Both charts share one square layout (axes x₁ and x₂ at one scale, the legend or colour key under
the plot) and send at most 2,000 finite points per scatter trace. Pure functions from numpy arrays
to plotly figures (no torch, no Streamlit).

Example:
    >>> import numpy as np
    >>> xs = ys = np.linspace(-4, 4, 100)
    >>> dens = np.exp(-0.5 * (xs[None, :] ** 2 + ys[:, None] ** 2)) / (2 * np.pi)
    >>> fig = density_figure(xs, ys, dens, title="N(0, I)")
    >>> fig.data[0].type
    'contour'
    >>> pts = np.zeros((5000, 2))
    >>> [(t.name, len(t.x)) for t in samples_figure(pts, pts[:10], model="glow").data]
    [('data', 2000), ('Glow samples', 10)]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from ..common import DATA_COLOR, DENSITY_COLORSCALE, MODEL_COLORS, MODEL_LABELS, house_layout

__all__ = ["LAYERS", "density_figure", "density_table", "samples_figure", "samples_table"]

#: Layers of the density panel (GAN Lab style toggles).
LAYERS = ("density", "contours", "data", "samples")

_MAX_SCATTER = 2000  # points per scatter trace sent to the browser


def _thin(points: np.ndarray | None, n: int = _MAX_SCATTER) -> np.ndarray | None:
    if points is None:
        return None
    points = np.asarray(points, dtype=np.float32)
    if len(points) > n:
        points = points[np.linspace(0, len(points) - 1, n).astype(int)]
    return points


def _finite_points(points: np.ndarray | None) -> np.ndarray | None:
    if points is None:
        return None
    points = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    return points[np.isfinite(points).all(axis=1)]


def _points(points: np.ndarray, name: str, marker: dict[str, Any]) -> go.Scattergl:
    """A cloud of points as markers: the finite ones, thinned to at most ``_MAX_SCATTER``."""
    p = _thin(_finite_points(points))
    return go.Scattergl(x=p[:, 0], y=p[:, 1], mode="markers", name=name, marker=marker)


def _plane_layout(
    bounds: Sequence[float] | None,
    *,
    title: str | None,
    presentation: bool,
    height: int | None,
    legend: dict[str, Any],
) -> dict[str, Any]:
    """The layout of a square data-plane chart: the house style, axes x₁ and x₂ at one scale over
    ``bounds``, the legend (or colour key) under the plot. One dict, given to the constructor
    (:func:`dashboard.figures.common.house_layout`)."""
    layout = house_layout(title=title, presentation=presentation, height=height)
    xaxis: dict[str, Any] = dict(title=dict(text="x₁"), zeroline=False, showgrid=False)
    yaxis: dict[str, Any] = dict(
        title=dict(text="x₂"), zeroline=False, showgrid=False, scaleanchor="x", scaleratio=1
    )
    if bounds is not None:
        x0, x1, y0, y1 = (float(b) for b in bounds)
        xaxis.update(range=[x0, x1], constrain="domain")
        yaxis.update(range=[y0, y1], constrain="domain")
    layout.update(xaxis=xaxis, yaxis=yaxis, legend={**layout["legend"], **legend})
    layout["margin"] = {**layout["margin"], "b": 90 if presentation else 70}
    return layout


def density_figure(
    xs: np.ndarray,
    ys: np.ndarray,
    density: np.ndarray,
    *,
    data: np.ndarray | None = None,
    samples: np.ndarray | None = None,
    layers: Iterable[str] = ("density", "contours"),
    bounds: Sequence[float] | None = None,
    model: str = "iresnet",
    title: str | None = None,
    presentation: bool = False,
    height: int | None = 470,
    n_contours: int = 12,
    subtitle: str | None = None,
) -> go.Figure:
    """The model density ``p(x)`` on a grid: heatmap, contour lines, and optional data/sample
    overlays.

    Args:
        xs, ys: grid coordinates, shapes ``(nx,)`` and ``(ny,)``.
        density: ``density[i, j]`` is ``p(xs[j], ys[i])`` (nats-based, integrates to ~1).
        data, samples: ``(n, 2)`` points to overlay when ``"data"`` / ``"samples"`` are in
        ``layers``. layers: any of :data:`LAYERS`.
        bounds: ``(xmin, xmax, ymin, ymax)`` of the view; the grid's extent when ``None``.
    """
    layers = set(layers)
    xs = np.asarray(xs, dtype=np.float32)
    ys = np.asarray(ys, dtype=np.float32)
    z = np.nan_to_num(np.asarray(density, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    zmax = float(z.max()) if z.size and np.isfinite(z.max()) and z.max() > 0 else 1.0
    traces: list[Any] = []
    # horizontal, under the plot: the square plot area then keeps its colour key next to it
    colorbar = dict(
        title=dict(text="p(x)", side="right"),
        orientation="h",
        thickness=10,
        len=0.6,
        x=0.5,
        xanchor="center",
        y=-0.2,
        yanchor="top",
        nticks=4,
        tickformat=".2~g",
        tickangle=0,
    )
    grid = dict(x=xs, y=ys, z=z, colorscale=DENSITY_COLORSCALE, zmin=0.0, zmax=zmax)
    step = zmax / (n_contours + 1)  # the contour levels: n_contours from above 0 to the maximum
    hover = "x₁=%{x:.4~g}<br>x₂=%{y:.4~g}<br>p=%{z:.4~g}<extra></extra>"
    if "density" in layers and "contours" in layers:
        traces.append(
            go.Contour(
                **grid,
                contours=dict(coloring="heatmap", start=step, end=zmax, size=step),
                line=dict(color="rgba(255,255,255,0.55)", width=0.8, smoothing=0.8),
                colorbar=colorbar,
                name="density",
                hovertemplate=hover,
            )
        )
    elif "density" in layers:
        traces.append(
            go.Heatmap(
                **grid, zsmooth="best", colorbar=colorbar, name="density", hovertemplate=hover
            )
        )
    elif "contours" in layers:
        traces.append(
            go.Contour(
                **grid,
                showscale=False,
                contours=dict(coloring="lines", start=step, end=zmax, size=step),
                line=dict(width=1.2),
                name="contours",
                hoverinfo="skip",
            )
        )
    if "data" in layers and data is not None:
        traces.append(
            _points(
                data,
                "data",
                dict(size=3, color="white", opacity=0.6, line=dict(width=0.5, color="black")),
            )
        )
    if "samples" in layers and samples is not None:
        traces.append(
            _points(
                samples,
                "samples",
                dict(size=3, color=MODEL_COLORS.get(model, "#d62728"), opacity=0.7),
            )
        )
    if bounds is None and xs.size and ys.size:
        bounds = (float(xs[0]), float(xs[-1]), float(ys[0]), float(ys[-1]))
    layout = _plane_layout(
        bounds,
        title=title,
        presentation=presentation,
        height=height,
        legend=dict(y=-0.2, yanchor="top", x=0.0, xanchor="left"),
    )
    layout["plot_bgcolor"] = "#440154" if "density" in layers else "white"
    if subtitle and title:
        layout["title"]["subtitle"] = dict(
            text=subtitle, font=dict(size=15 if presentation else 11)
        )
        layout["margin"]["t"] += 20
    return go.Figure(data=traces, layout=layout)


def density_table(xs: np.ndarray, ys: np.ndarray, density: np.ndarray) -> dict[str, np.ndarray]:
    """Long-format table ``x, y, density`` of a grid (one row per grid point)."""
    gx, gy = np.meshgrid(np.asarray(xs), np.asarray(ys))
    return {"x": gx.ravel(), "y": gy.ravel(), "density": np.asarray(density).ravel()}


def samples_figure(
    data: np.ndarray | None,
    samples: np.ndarray | None,
    *,
    model: str = "iresnet",
    bounds: Sequence[float] | None = None,
    title: str | None = None,
    presentation: bool = False,
    height: int | None = 470,
) -> go.Figure:
    """Training data (grey) next to samples drawn through the model's inverse (model colour)."""
    traces: list[Any] = []
    size = 5 if presentation else 4
    if data is not None:
        traces.append(_points(data, "data", dict(size=size, color=DATA_COLOR, opacity=0.45)))
    if samples is not None:
        traces.append(
            _points(
                samples,
                f"{MODEL_LABELS.get(model, model)} samples",
                dict(size=size, color=MODEL_COLORS.get(model, "#d62728"), opacity=0.7),
            )
        )
    # legend under the plot, like the density's colour key: long titles stay readable
    layout = _plane_layout(
        bounds,
        title=title,
        presentation=presentation,
        height=height,
        legend=dict(y=-0.18, yanchor="top", x=0.5, xanchor="center"),
    )
    return go.Figure(data=traces, layout=layout)


def samples_table(data: np.ndarray | None, samples: np.ndarray | None) -> dict[str, np.ndarray]:
    """Columns ``kind, x, y`` with the data rows then the sample rows."""
    parts, kinds = [], []
    for kind, pts in (("data", data), ("sample", samples)):
        if pts is not None:
            pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
            parts.append(pts)
            kinds.append(np.full(len(pts), kind, dtype=object))
    if not parts:
        return {"kind": np.array([], dtype=object), "x": np.array([]), "y": np.array([])}
    pts = np.concatenate(parts)
    return {"kind": np.concatenate(kinds), "x": pts[:, 0], "y": pts[:, 1]}
