"""A recording as a standalone interactive HTML page: a plotly figure with one plotly frame per
recorded frame, a step slider and Play / Pause buttons, plotly.js embedded (works offline).

* :func:`html_figure` -- the figure: the models side by side on the recording's view box, each
  density through the figures' colour scale as a byte per cell (the frame's peak is 255, as the
  page's colour key tops at its peak) on a grid at most :data:`HTML_GRID` fine, its samples as
  dots; :func:`html_traces` -- one frame's traces (also what the benchmark draws through kaleido);
* :func:`render_html` -- the page, as bytes; :func:`html_frame_count` -- the plotly frames in
  such a page, read back from the JSON plotly.js is handed.

:func:`html_figure` and :func:`render_html` take ``progress(fraction, text)`` (a
:data:`~.recording.Progress`).

Example:
    >>> import numpy as np
    >>> from dashboard.animation.recording import Panel
    >>> xs = np.linspace(-4, 4, 50)
    >>> dens = np.exp(-0.5 * (xs[None, :] ** 2 + xs[:, None] ** 2)) / (2 * np.pi)
    >>> pts = np.zeros((10, 2), np.float32)
    >>> rec = Recording("demo", (-4.0, 4.0, -4.0, 4.0), xs, xs,
    ...                 [Frame((Panel("iresnet", s, dens, pts),)) for s in (0, 10)])
    >>> fig = html_figure(rec)
    >>> len(fig.frames), [s.label for s in fig.layout.sliders[0].steps]
    (2, ['0', '10'])
    >>> html_frame_count(render_html(rec))
    2
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from dashboard.figures.common import (
    DENSITY_COLORSCALE,
    MODEL_COLORS,
    MODEL_LABELS,
    house_layout,
    title_note,
)

from .recording import Frame, Progress, Recording, quiet

__all__ = ["HTML_GRID", "html_traces", "html_figure", "render_html", "html_frame_count"]

HTML_GRID = 80  #: the HTML's density grid at most this fine (its frames carry every grid)


def _thin_grid(z: np.ndarray, xs: np.ndarray, ys: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    sy = max(1, math.ceil(len(ys) / n))
    sx = max(1, math.ceil(len(xs) / n))
    return z[::sy, ::sx], xs[::sx], ys[::sy]


def html_traces(rec: Recording, frame: Frame, grid: int) -> list[Any]:
    """One frame's plotly traces, two per model: its density as a heatmap of a byte per cell
    (thinned to at most ``grid`` cells a side) and its samples as markers, on axes ``x``/``y``,
    ``x2``/``y2``, ... in the frame's order."""
    traces: list[Any] = []
    for i, p in enumerate(frame.panels):
        k = "" if i == 0 else str(i + 1)
        z = np.nan_to_num(np.asarray(p.density, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        z, xs, ys = _thin_grid(z, np.asarray(rec.xs), np.asarray(rec.ys), grid)
        peak = float(z.max()) if z.size else 0.0
        # a byte per cell (the frame's peak is 255, as the page's colour key tops at its peak):
        # the frames carry every grid, and plotly sends numpy arrays as typed arrays
        level = np.clip(z / peak * 255 + 0.5, 0, 255).astype(np.uint8) if peak > 0 else z * 0
        traces.append(
            go.Heatmap(
                x=xs.astype(np.float32),
                y=ys.astype(np.float32),
                z=level.astype(np.uint8),
                zmin=0,
                zmax=255,
                zsmooth="best",
                colorscale=DENSITY_COLORSCALE,
                showscale=False,
                xaxis=f"x{k}",
                yaxis=f"y{k}",
                name=f"{MODEL_LABELS.get(p.model, p.model)} density",
                hovertemplate="x₁=%{x:.3g}<br>x₂=%{y:.3g}<br>p / peak=%{z}/255<extra></extra>",
            )
        )
        s = np.asarray(p.samples, np.float32).reshape(-1, 2)
        s = s[np.isfinite(s).all(axis=1)]
        traces.append(
            go.Scatter(
                x=s[:, 0],
                y=s[:, 1],
                mode="markers",
                xaxis=f"x{k}",
                yaxis=f"y{k}",
                name=f"{MODEL_LABELS.get(p.model, p.model)} samples",
                marker=dict(
                    size=4,
                    color=MODEL_COLORS.get(p.model, "#d62728"),
                    line=dict(width=0.5, color="white"),
                ),
                hoverinfo="skip",
            )
        )
    return traces


def _titles(frame: Frame, n: int) -> list[dict[str, Any]]:
    gap = 0.06
    w = (1.0 - gap * (n - 1)) / n
    return [
        title_note(
            f"<b>{MODEL_LABELS.get(p.model, p.model)}</b> · step {p.step:,}",
            i * (w + gap) + w / 2,
            size=15,
        )
        for i, p in enumerate(frame.panels)
    ]


def html_figure(
    rec: Recording, *, fps: float = 10, grid: int = HTML_GRID, progress: Progress | None = None
) -> go.Figure:
    """The HTML's plotly figure: one plotly frame per recorded frame (named by its index), a step
    slider and Play / Pause buttons."""
    progress = progress or quiet
    n = len(rec.frames[0].panels)
    gap = 0.06
    w = (1.0 - gap * (n - 1)) / n
    x0, x1, y0, y1 = rec.bounds
    layout = house_layout(title=f"Training on {rec.dataset}", height=560)
    for i in range(n):
        k = "" if i == 0 else str(i + 1)
        layout[f"xaxis{k}"] = dict(
            domain=[i * (w + gap), i * (w + gap) + w],
            anchor=f"y{k}",
            range=[x0, x1],
            constrain="domain",
            showgrid=False,
            zeroline=False,
            title=dict(text="x₁"),
        )
        layout[f"yaxis{k}"] = dict(
            anchor=f"x{k}",
            range=[y0, y1],
            scaleanchor=f"x{k}",
            constrain="domain",
            showgrid=False,
            zeroline=False,
            title=dict(text="x₂") if i == 0 else None,
        )
    frames, steps = [], []
    ms = 1000 / fps
    total = len(rec.frames)
    for idx, fr in enumerate(rec.frames):
        name = str(idx)
        frames.append(
            go.Frame(
                data=html_traces(rec, fr, grid),
                name=name,
                layout=dict(annotations=_titles(fr, n)),
            )
        )
        label = " · ".join(f"{p.step:,}" for p in fr.panels[:1])
        steps.append(
            dict(
                method="animate",
                label=label,
                args=[
                    [name],
                    dict(
                        mode="immediate",
                        frame=dict(duration=0, redraw=True),
                        transition=dict(duration=0),
                    ),
                ],
            )
        )
        progress((idx + 1) / total, f"HTML: frame {idx + 1} of {total}")
    play = dict(
        frame=dict(duration=ms, redraw=True), transition=dict(duration=0), fromcurrent=True
    )
    pause = dict(
        frame=dict(duration=0, redraw=False), mode="immediate", transition=dict(duration=0)
    )
    layout.update(
        annotations=_titles(rec.frames[0], n),
        showlegend=False,
        margin=dict(l=50, r=20, t=70, b=110),
        plot_bgcolor="white",
        updatemenus=[
            dict(
                type="buttons",
                direction="left",
                x=0.0,
                y=-0.1,
                xanchor="left",
                yanchor="top",
                pad=dict(t=30, r=10),
                showactive=False,
                buttons=[
                    dict(label="▶ Play", method="animate", args=[None, play]),
                    dict(label="❚❚ Pause", method="animate", args=[[None], pause]),
                ],
            )
        ],
        sliders=[
            dict(
                active=0,
                x=0.18,
                len=0.82,
                y=-0.1,
                yanchor="top",
                pad=dict(t=30),
                currentvalue=dict(prefix="step ", font=dict(size=14)),
                steps=steps,
            )
        ],
    )
    return go.Figure(data=frames[0].data, layout=layout, frames=frames)


def render_html(
    rec: Recording, *, fps: float = 10, grid: int = HTML_GRID, progress: Progress | None = None
) -> bytes:
    """A standalone HTML page (plotly.js embedded): the frames, a step slider and a play button."""
    fig = html_figure(rec, fps=fps, grid=grid, progress=progress)
    html = pio.to_html(
        fig,
        include_plotlyjs=True,
        full_html=True,
        auto_play=False,
        config={"displaylogo": False, "responsive": True},
    )
    return html.encode("utf-8")


def html_frame_count(html: bytes | str) -> int:
    """The number of plotly frames in an HTML page :func:`render_html` wrote (read back from the
    JSON plotly.js is handed)."""
    text = html.decode("utf-8") if isinstance(html, bytes) else html
    at = text.index("Plotly.addFrames(")
    start = text.index("[", at)
    frames, _ = json.JSONDecoder().raw_decode(text[start:])
    return len(frames)
