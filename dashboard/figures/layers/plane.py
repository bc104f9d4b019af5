"""The plane every panel of the Layers page is drawn on, shared by the clouds, the animation and
the paths (defined here only).

* :data:`HUE_SCALE` and :func:`start_hue` — a point's colour is the angle at which it started,
  on a cyclic scale, and it keeps that colour through every depth;
* :func:`view_box` — a square view centred on 0 that does not jump from depth to depth;
* :func:`circles`, :func:`circles_xy` — the standard Gaussian's contours (radii
  :data:`GAUSS_RADII` = 1, 2, 3: 39 %, 86 % and 99 % of its mass), the end every flow aims at,
  behind every panel of the latent side;
* :func:`plane_axes` — equal scales and the fixed boxes on the plots of ``side_by_side``;
  :func:`coord` — one coordinate as float32, the bytes plotly sends.

Example:
    >>> c = circles("2")
    >>> c.name, c.xaxis, c.yaxis, c.showlegend
    ('N(0, I) contours', 'x2', 'y2', False)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

__all__ = [
    "HUE_SCALE",
    "GAUSS_RADII",
    "start_hue",
    "view_box",
    "coord",
    "circles",
    "circles_xy",
    "plane_axes",
]

#: A cyclic colour scale: a point's hue is the angle at which it started, so neighbours on the
#: data's rings and arms share a colour and the eye can follow them to the latent.
HUE_SCALE = "Phase"
#: Radii of the standard normal's contours drawn on the latent side (39 %, 86 %, 99 % of the mass).
GAUSS_RADII = (1.0, 2.0, 3.0)
_GAUSS_LINE = dict(color="rgba(60,60,60,0.55)", width=1, dash="dot")


def start_hue(points: np.ndarray) -> np.ndarray:
    """Each point's angle (degrees, ``[0, 360)``) around the cloud's median: the colour it keeps
    through every depth.

    Example:
        >>> start_hue(np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])).tolist()
        [0.0, 90.0, 180.0, 270.0]
    """
    p = np.asarray(points, dtype=np.float64)
    c = np.median(p, axis=0)
    return np.mod(np.degrees(np.arctan2(p[:, 1] - c[1], p[:, 0] - c[0])), 360.0)


def view_box(points: np.ndarray, *, q: float = 99.0, at_least: float = 3.2) -> tuple[float, ...]:
    """A square view centred on 0 holding ``q`` % of the finite coordinates of ``points`` (any
    shape ``(..., 2)``) and the Gaussian's 3-sigma circle: the same for every depth, so an
    animation does not jump; a few stray points may leave it.

    Example:
        >>> view_box(np.zeros((3, 2)))
        (-3.2, 3.2, -3.2, 3.2)
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    p = np.abs(p[np.isfinite(p).all(1)])
    r = float(np.percentile(p, q)) * 1.08 if p.size else 0.0
    r = round(max(r, at_least), 2)
    return (-r, r, -r, r)


def coord(points: np.ndarray, i: int) -> np.ndarray:
    """Coordinate ``i`` of ``(B, 2)`` points as a contiguous float32 array: plotly sends it as a
    typed array, half the bytes of float64."""
    return np.ascontiguousarray(np.asarray(points)[:, i], dtype=np.float32)


def circles(plot: str = "") -> go.Scatter:
    t = np.linspace(0, 2 * np.pi, 97)
    xs, ys = [], []
    for r in GAUSS_RADII:
        xs += [*(r * np.cos(t)), None]
        ys += [*(r * np.sin(t)), None]
    return go.Scatter(
        x=xs,
        y=ys,
        mode="lines",
        line=_GAUSS_LINE,
        name="N(0, I) contours",
        legendgroup="gauss",
        showlegend=plot in ("", "1"),
        hoverinfo="skip",
        xaxis=f"x{plot}",
        yaxis=f"y{plot}",
    )


def plane_axes(layout: dict[str, Any], n: int, boxes: Sequence[Sequence[float]]) -> None:
    """Equal scales, the fixed boxes, no grid clutter, on the ``n`` plots of ``side_by_side``."""
    for i in range(n):
        k = "" if i == 0 else str(i + 1)
        x0, x1, y0, y1 = (float(v) for v in boxes[i])
        layout[f"xaxis{k}"].update(
            range=[x0, x1],
            zeroline=False,
            showgrid=False,
            constrain="domain",
            title=dict(text="h₁"),
        )
        layout[f"yaxis{k}"].update(
            range=[y0, y1],
            zeroline=False,
            showgrid=False,
            scaleanchor=f"x{k}",
            scaleratio=1,
            constrain="domain",
            title=dict(text="h₂" if i == 0 else ""),
        )


def circles_xy(half: float) -> tuple[np.ndarray, np.ndarray]:
    """The Gaussian's contours in a view of half-width ``half``, scaled to ``[-1, 1]``."""
    t = np.linspace(0, 2 * np.pi, 97)
    xs, ys = [], []
    for r in GAUSS_RADII:
        xs += [*(r * np.cos(t) / half), np.nan]
        ys += [*(r * np.sin(t) / half), np.nan]
    return np.array(xs, np.float32), np.array(ys, np.float32)
