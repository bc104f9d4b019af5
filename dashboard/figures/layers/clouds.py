"""The point clouds of the Layers page: each model's cloud after ``k`` of its blocks.

* :func:`cloud_figure` — the clouds of the models side by side, each at its own depth, coloured
  by where each point started (:func:`~dashboard.figures.layers.plane.start_hue`), over the
  standard Gaussian's contours; :func:`cloud_table` — the same points in long format.

A :class:`Panel` holds one model's cloud at one depth (the arrays come from
:mod:`iresnet_core.analysis.layers`). :func:`cloud_trace` draws one cloud; the depth animation
draws its clouds with it too.

Example:
    >>> import numpy as np
    >>> from dashboard.figures.layers import start_hue
    >>> pts = np.random.default_rng(0).normal(size=(5, 50, 2))
    >>> fig = cloud_figure([Panel("i-ResNet", "#d62728", pts[2], start_hue(pts[0]), 2, 4)])
    >>> [t.name for t in fig.data]
    ['N(0, I) contours', 'i-ResNet']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

from ..common import house_layout, side_by_side
from .plane import HUE_SCALE, circles, coord, plane_axes, view_box

__all__ = ["Panel", "cloud_figure", "cloud_table"]


@dataclass
class Panel:
    """One model's cloud at one depth.

    Attributes:
        label: the model's name; color: its house colour (the panel's title).
        points: ``(B, 2)`` the cloud after ``k`` of ``n_blocks`` blocks.
        hue: ``(B,)`` degrees, where each point started (:func:`start_hue`).
        box: the panel's fixed view ``(xmin, xmax, ymin, ymax)``; ``None``: :func:`view_box`.
    """

    label: str
    color: str
    points: np.ndarray
    hue: np.ndarray
    k: int
    n_blocks: int
    box: tuple[float, float, float, float] | None = None


def cloud_trace(panel: Panel, plot: str, size: int) -> go.Scatter:
    return go.Scatter(
        x=coord(panel.points, 0),
        y=coord(panel.points, 1),
        mode="markers",
        name=panel.label,
        showlegend=False,
        marker=dict(
            size=size,
            color=np.asarray(panel.hue),
            colorscale=HUE_SCALE,
            cmin=0.0,
            cmax=360.0,
            line=dict(width=0.3, color="rgba(0,0,0,0.35)"),
        ),
        customdata=np.asarray(panel.hue),
        hovertemplate="(%{x:.2f}, %{y:.2f})<br>started at %{customdata:.0f}°<extra></extra>",
        xaxis=f"x{plot}",
        yaxis=f"y{plot}",
    )


def _panel_title(panel: Panel) -> str:
    where = (
        "the data"
        if panel.k == 0
        else "the latent"
        if panel.k == panel.n_blocks
        else f"after block {panel.k}"
    )
    return (
        f"<b style='color:{panel.color}'>{panel.label}</b>: {where} ({panel.k}/{panel.n_blocks})"
    )


def cloud_figure(
    panels: Sequence[Panel],
    *,
    title: str | None = None,
    presentation: bool = False,
    height: int | None = 430,
) -> go.Figure:
    """The models' clouds side by side, each at its own depth ``k``, coloured by where each point
    started, over the standard Gaussian's contours."""
    n = len(panels)
    boxes = [p.box or view_box(p.points) for p in panels]
    layout = house_layout(
        title=title,
        presentation=presentation,
        height=height,
        legend=dict(y=-0.14, yanchor="top", x=1.0, xanchor="right"),
    )
    layout.update(side_by_side(n, titles=[_panel_title(p) for p in panels], spacing=0.08))
    plane_axes(layout, n, boxes)
    layout["margin"] = {**layout["margin"], "t": layout["margin"]["t"] + 24, "b": 60}
    size = 6 if presentation else 5
    traces: list[Any] = []
    for i, panel in enumerate(panels):
        plot = "" if i == 0 else str(i + 1)
        traces += [circles(plot), cloud_trace(panel, plot, size)]
    return go.Figure(data=traces, layout=layout)


def cloud_table(panels: Sequence[Panel]) -> dict[str, np.ndarray]:
    """Long format: ``model, block, of, x, y, start_angle`` (one row per point and model)."""
    rows = [(p, np.asarray(p.points)) for p in panels]
    return {
        "model": np.concatenate([[p.label] * len(a) for p, a in rows]).astype(object),
        "block": np.concatenate([np.full(len(a), p.k) for p, a in rows]),
        "of": np.concatenate([np.full(len(a), p.n_blocks) for p, a in rows]),
        "x": np.concatenate([a[:, 0] for _, a in rows]),
        "y": np.concatenate([a[:, 1] for _, a in rows]),
        "start_angle": np.concatenate([np.asarray(p.hue) for p, _ in rows]),
    }
