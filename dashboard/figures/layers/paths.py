"""The paths of the Layers page: each point's path through every layer of each model.

* :func:`paths_figure` — one panel per model: the blocks' nonlinear moves (residual branch,
  coupling) as lines coloured by where the point started, in a few hue groups (one trace each),
  the linear layers' steps (ActNorm, LU) thin and grey, the Gaussian's contours behind, folds (×)
  and collapses (○) marked where a block made them; :func:`paths_table` — the points after every
  layer in long format.

A :class:`Track` holds one model's paths (the arrays come from
:mod:`iresnet_core.analysis.layers`).

Example:
    >>> import numpy as np
    >>> from dashboard.figures.layers import start_hue
    >>> pts = np.cumsum(np.random.default_rng(0).normal(size=(4, 20, 2)), axis=0)  # (L + 1, B, 2)
    >>> moves = np.array([False, True, True])  # a linear layer, then two couplings
    >>> fig = paths_figure([Track("Glow", "#1f77b4", pts, start_hue(pts[0]), moves)])
    >>> sorted({t.name for t in fig.data})
    ['N(0, I) contours', 'end (latent)', 'linear layers (ActNorm, LU)', 'paths']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.colors import get_colorscale, sample_colorscale

from ..common import house_layout, side_by_side
from .plane import HUE_SCALE, circles, coord, plane_axes, view_box

__all__ = ["FOLD_COLOR", "COLLAPSE_COLOR", "Track", "paths_figure", "paths_table"]

_PATH_HUES = 12  #: paths are drawn in this many colour groups (one trace each)
FOLD_COLOR = "#000000"
COLLAPSE_COLOR = "#ff7f0e"


@dataclass
class Track:
    """One model's paths through every layer.

    Attributes:
        points: ``(L + 1, B, 2)`` each point after every layer (the data first).
        hue: ``(B,)`` start angles.
        moves: ``(L,)`` True where layer ``l`` is a block's nonlinear layer (residual branch or
            coupling): its segments ``points[l] -> points[l + 1]`` are drawn in colour, the linear
            layers' (ActNorm, LU) thin and grey.
        folds, collapses: ``(M, 2)`` where a block folded the plane or brought a pair closer than
            the bound allows (``None`` or empty when none).
        box: the panel's view; ``None``: :func:`view_box` of the points.
        note: a few words after the panel's title.
    """

    label: str
    color: str
    points: np.ndarray
    hue: np.ndarray
    moves: np.ndarray | None = None
    folds: np.ndarray | None = None
    collapses: np.ndarray | None = None
    box: tuple[float, float, float, float] | None = None
    note: str = ""


def _hue_group(hue: np.ndarray) -> np.ndarray:
    return (np.mod(np.asarray(hue), 360.0) // (360.0 / _PATH_HUES)).astype(int) % _PATH_HUES


def _hue_color(group: int) -> str:
    """The colour of a hue group, from :data:`HUE_SCALE` as plotly samples it."""
    return sample_colorscale(get_colorscale(HUE_SCALE), (group + 0.5) / _PATH_HUES)[0]


def _segments_trace(
    pts: np.ndarray,
    layers: np.ndarray,
    points: np.ndarray | None,
    line: dict[str, Any],
    plot: str,
) -> go.Scatter:
    """One trace of the segments ``pts[l] -> pts[l + 1]`` for the layers ``l`` selected and the
    points selected (``None``: all), each segment its own piece of line. Consecutive selected
    layers join into one polyline per point, gaps elsewhere."""
    sel = pts if points is None else pts[:, points]
    n_layers = sel.shape[0] - 1
    keep = np.zeros(n_layers + 1, bool)
    keep[:-1] |= layers
    keep[1:] |= layers
    # a vertex is drawn when a selected segment touches it; a gap ends every run of them
    rows = []
    run: list[int] = []
    for v in range(n_layers + 1):
        if keep[v] and (not run or layers[v - 1]):
            run.append(v)
        else:
            if len(run) > 1:
                rows.append(run)
            run = [v] if keep[v] else []
    if len(run) > 1:
        rows.append(run)
    gap = np.full((1, sel.shape[1], 2), np.nan)
    parts = [np.concatenate([sel[r], gap]) for r in rows] or [gap]
    line_pts = np.concatenate(parts).transpose(1, 0, 2).reshape(-1, 2)
    return go.Scatter(
        x=coord(line_pts, 0),
        y=coord(line_pts, 1),
        mode="lines",
        line=line,
        opacity=0.8,
        name="paths",
        legendgroup="paths",
        showlegend=False,
        hoverinfo="skip",
        xaxis=f"x{plot}",
        yaxis=f"y{plot}",
    )


def paths_figure(
    tracks: Sequence[Track],
    *,
    title: str | None = None,
    presentation: bool = False,
    height: int | None = 470,
) -> go.Figure:
    """Each point's path through every layer, one panel per model: the blocks' nonlinear moves
    (residual branch, coupling) as lines coloured by where the point started, the linear layers'
    steps thin and grey; the Gaussian's contours behind; folds (×) and collapses (○) marked where
    a block made them."""
    n = len(tracks)
    boxes = [t.box or view_box(t.points, q=99.5) for t in tracks]
    layout = house_layout(
        title=title,
        presentation=presentation,
        height=height,
        legend=dict(y=-0.12, yanchor="top", x=0.0, xanchor="left"),
    )
    small = 15 if presentation else 11
    titles = [
        f"<b style='color:{t.color}'>{t.label}</b>"
        + (f"<br><span style='font-size:{small}px'>{t.note}</span>" if t.note else "")
        for t in tracks
    ]
    layout.update(side_by_side(n, titles=titles, spacing=0.06))
    plane_axes(layout, n, boxes)
    noted = any(t.note for t in tracks)
    layout["margin"] = {
        **layout["margin"],
        "b": 80,
        "t": layout["margin"]["t"] + 24 + (small + 6 if noted else 0),
    }
    width = 1.1 if presentation else 0.8
    traces: list[Any] = []
    shown = set()
    for i, tr in enumerate(tracks):
        plot = "" if i == 0 else str(i + 1)
        traces.append(circles(plot))
        pts = np.asarray(tr.points, dtype=np.float64)  # (L + 1, B, 2)
        n_seg = pts.shape[0] - 1
        moves = np.ones(n_seg, bool) if tr.moves is None else np.asarray(tr.moves, bool)
        if (~moves).any():
            traces.append(
                _segments_trace(
                    pts, ~moves, None, dict(color="rgba(120,120,120,0.35)", width=0.5), plot
                )
            )
            traces[-1].update(name="linear layers (ActNorm, LU)", legendgroup="linear")
            traces[-1].update(showlegend="linear" not in shown)
            shown.add("linear")
        groups = _hue_group(tr.hue)
        for g in range(_PATH_HUES):
            if not (groups == g).any():
                continue
            traces.append(
                _segments_trace(
                    pts, moves, groups == g, dict(color=_hue_color(g), width=width), plot
                )
            )
        ends = pts[-1]
        traces.append(
            go.Scatter(
                x=ends[:, 0],
                y=ends[:, 1],
                mode="markers",
                marker=dict(size=3, color="rgba(0,0,0,0.6)"),
                name="end (latent)",
                legendgroup="end",
                showlegend="end" not in shown,
                hoverinfo="skip",
                xaxis=f"x{plot}",
                yaxis=f"y{plot}",
            )
        )
        shown.add("end")
        for name, where, sym, color in (
            ("fold: det J ≤ 0", tr.folds, "x-thin", FOLD_COLOR),
            ("collapse: closer than 1 − c allows", tr.collapses, "circle-open", COLLAPSE_COLOR),
        ):
            if where is None or len(where) == 0:
                continue
            w = np.asarray(where, dtype=np.float64)
            traces.append(
                go.Scatter(
                    x=w[:, 0],
                    y=w[:, 1],
                    mode="markers",
                    marker=dict(
                        symbol=sym, size=8, color=color, line=dict(width=1.5, color=color)
                    ),
                    name=f"{name} ({len(w)})" if n == 1 else name,
                    legendgroup=name,
                    showlegend=name not in shown,
                    hovertemplate=f"{name}<br>(%{{x:.2f}}, %{{y:.2f}})<extra>{tr.label}</extra>",
                    xaxis=f"x{plot}",
                    yaxis=f"y{plot}",
                )
            )
            shown.add(name)
    return go.Figure(data=traces, layout=layout)


def paths_table(tracks: Sequence[Track]) -> dict[str, np.ndarray]:
    """Long format: ``model, point, layer, x, y`` (one row per point and layer)."""
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("model", "point", "layer", "x", "y")}
    for tr in tracks:
        pts = np.asarray(tr.points)
        n_layers, n_points = pts.shape[:2]
        cols["model"].append(np.array([tr.label] * (n_layers * n_points), dtype=object))
        cols["point"].append(np.tile(np.arange(n_points), n_layers))
        cols["layer"].append(np.repeat(np.arange(n_layers), n_points))
        cols["x"].append(pts[..., 0].ravel())
        cols["y"].append(pts[..., 1].ravel())
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in cols.items()}
