"""The depth animation of the Layers page: the clouds of every model through every depth as one
plotly animation (frames, a slider, a play button; its standalone HTML is the animation's export
and plays offline).

:func:`depth_animation` shows each depth in its own view, scaled to ``[-1, 1]`` with the view's
half-width written in the panel; the frames change data only (plotly's animation moves points
smoothly but does not follow axis ranges set by frames).

Example:
    >>> import numpy as np
    >>> from dashboard.figures.layers import start_hue
    >>> pts = np.random.default_rng(0).normal(size=(3, 50, 2))  # after 0, 1 and 2 blocks
    >>> depths = np.array([[0], [1], [2]])  # frame f shows block f
    >>> fig = depth_animation(["Glow"], ["#1f77b4"], [pts], start_hue(pts[0]), depths)
    >>> len(fig.frames), fig.layout.sliders[0].steps[1].label
    (3, 'Glow 1/2')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from ..common import house_layout, side_by_side
from .clouds import Panel, cloud_trace
from .plane import circles, circles_xy, coord, plane_axes, view_box

__all__ = ["depth_animation"]


def _zoomed(points: np.ndarray, half: float) -> np.ndarray:
    return np.asarray(points, dtype=np.float64) / half


def depth_animation(
    labels: Sequence[str],
    colors: Sequence[str],
    clouds: Sequence[np.ndarray],
    hue: np.ndarray,
    depths: np.ndarray,
    *,
    start: int = 0,
    frame_ms: int = 400,
    title: str | None = None,
    presentation: bool = False,
    height: int | None = 480,
) -> go.Figure:
    """The clouds of every model through every depth as one plotly animation.

    Args:
        labels, colors: per model.
        clouds: per model ``(K_m + 1, B, 2)``, the cloud after every block (same points, same
            order in every model, so ``hue`` colours them alike).
        depths: ``(F, n_models)`` the block each model shows in frame ``f`` (the same depth
            fraction: :func:`iresnet_core.analysis.layers.depth_index`).
        start: the frame shown first.

    Each depth is shown in its own view (:func:`view_box` of that cloud: a trained i-ResNet's
    middle blocks may spread the points over tens of units before the last ones bring them to the
    Gaussian's scale), drawn scaled to ``[-1, 1]`` with the view's half-width written in the
    panel and the Gaussian's contours scaled alike. The frames change data only: plotly's
    animation moves points smoothly but does not follow axis ranges set by frames. The slider
    moves frame by frame; the play button runs from the frame shown to the latent; the
    standalone HTML (:func:`dashboard.export.chart_html`) plays offline.
    """
    depths = np.asarray(depths, dtype=int)
    n_frames, n = depths.shape
    halves = [[view_box(c[k])[1] for k in range(len(c))] for c in clouds]
    layout = house_layout(title=title, presentation=presentation, height=height)
    titles = [
        f"<b style='color:{c}'>{lab}</b> ({len(cl) - 1} blocks)"
        for lab, c, cl in zip(labels, colors, clouds)
    ]
    layout.update(side_by_side(n, titles=titles, spacing=0.08))
    plane_axes(layout, n, [(-1.04, 1.04, -1.04, 1.04)] * n)
    for m in range(n):
        k = "" if m == 0 else str(m + 1)
        for ax in (f"xaxis{k}", f"yaxis{k}"):
            layout[ax].update(showticklabels=False, ticks="", title=dict(text=""))
            layout[ax].update(showline=True, linecolor="#dddddd", mirror=True)
    start = int(np.clip(start, 0, n_frames - 1))
    size = 6 if presentation else 5
    font = dict(size=14 if presentation else 11, color="#555555")

    def panel_data(m: int, f: int) -> list[dict[str, Any]]:
        k = int(depths[f, m])
        half = halves[m][k]
        pts = _zoomed(clouds[m][k], half)
        cx, cy = circles_xy(half)
        return [
            dict(type="scatter", x=cx, y=cy),
            dict(type="scatter", x=coord(pts, 0), y=coord(pts, 1)),
            dict(type="scatter", text=[f"block {k}/{len(clouds[m]) - 1} · view ±{half:.3g}"]),
        ]

    traces: list[Any] = []
    for m in range(n):
        plot = "" if m == 0 else str(m + 1)
        first = panel_data(m, start)
        contours = circles(plot)
        contours.update(x=first[0]["x"], y=first[0]["y"])
        cloud = cloud_trace(
            Panel(labels[m], colors[m], clouds[m][depths[start, m]], hue, 0, 1), plot, size
        )
        cloud.update(x=first[1]["x"], y=first[1]["y"], hoverinfo="skip", hovertemplate=None)
        note = go.Scatter(
            x=[-1.0],
            y=[-1.0],
            mode="text",
            text=first[2]["text"],
            textposition="top right",
            textfont=font,
            showlegend=False,
            hoverinfo="skip",
            xaxis=f"x{plot}",
            yaxis=f"y{plot}",
        )
        traces += [contours, cloud, note]

    def label(f: int) -> str:
        return " · ".join(
            f"{labels[m]} {int(depths[f, m])}/{len(clouds[m]) - 1}" for m in range(n)
        )

    # plain dicts: the figure validates them once (go.Frame objects were validated twice, a
    # second of a page's redraw for 33 frames)
    frames = [
        dict(
            name=str(f),
            data=[d for m in range(n) for d in panel_data(m, f)],
            traces=list(range(3 * n)),
        )
        for f in range(n_frames)
    ]
    play = dict(frame=dict(duration=frame_ms, redraw=False), transition=dict(duration=frame_ms))
    jump = dict(
        mode="immediate", frame=dict(duration=0, redraw=False), transition=dict(duration=0)
    )
    layout["updatemenus"] = [
        dict(
            type="buttons",
            direction="left",
            x=0.0,
            y=-0.19 if presentation else -0.15,
            xanchor="left",
            yanchor="top",
            pad=dict(r=8, t=0),
            showactive=False,
            buttons=[
                dict(label="▶ Play", method="animate", args=[None, {**play, "fromcurrent": True}]),
                dict(label="Pause", method="animate", args=[[None], jump]),
            ],
        )
    ]
    layout["sliders"] = [
        dict(
            active=start,
            x=0.0,
            len=1.0,
            y=0.0,
            yanchor="top",
            pad=dict(t=0, b=0),
            # the step's label is what "currentvalue" shows ("i-ResNet 5/32 · Glow 5/32"); under
            # the ticks it would not fit 33 times, so the tick labels are transparent
            currentvalue=dict(
                prefix="depth: ", font=dict(size=13 if not presentation else 18, color="#333")
            ),
            font=dict(color="rgba(0,0,0,0)"),
            steps=[
                dict(label=label(f), method="animate", args=[[str(f)], jump], value=str(f))
                for f in range(n_frames)
            ],
        )
    ]
    layout["margin"] = {
        **layout["margin"],
        "b": 150 if presentation else 130,
        "t": layout["margin"]["t"] + 24,
    }
    layout["showlegend"] = False  # the page says what the dotted circles are
    layout.pop("uirevision", None)  # a new figure starts at its own first frame
    if height is not None:
        layout["height"] = layout["height"] + 70
    return go.Figure(data=traces, layout=layout, frames=frames)
