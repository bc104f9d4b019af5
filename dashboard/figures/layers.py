"""Figures of the Layers page: each model's point cloud block by block, the partial densities,
the paths through every layer, and the measured moves behind the seed's claim about Glow.

Pure functions from numpy arrays to plotly figures (no torch, no Streamlit, no core import). The
arrays come from :mod:`iresnet_core.analysis.layers`: the clouds after every block, each point's
path through every layer, the direction and length of each block's move (an i-ResNet block's
``g(x)``, a Glow coupling's shift; Behrmann et al. 2019, Sec. 3; Kingma & Dhariwal 2018, Sec.
3.3). Every panel of the latent side carries the standard Gaussian's contours (radii 1, 2, 3:
39 %, 86 % and 99 % of its mass), the end every flow aims at.

* :func:`cloud_figure` — the clouds of the models side by side at one depth;
* :func:`depth_animation` — the same as a plotly animation over every depth (frames, a slider, a
  play button; its standalone HTML is the animation's export);
* :func:`paths_figure` — trajectories as lines, folds and collapses marked;
* :func:`angle_figure` — the direction of the moves per model, as a rose, with the share of moves
  that change one coordinate only; :func:`movement_figure` — distance moved and that share against
  depth.

Example:
    >>> import numpy as np
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
from plotly.colors import get_colorscale, sample_colorscale

from .common import house_layout, side_by_side

__all__ = [
    "HUE_SCALE",
    "GAUSS_RADII",
    "Panel",
    "Track",
    "Rose",
    "Series",
    "start_hue",
    "view_box",
    "cloud_figure",
    "cloud_table",
    "depth_animation",
    "paths_figure",
    "paths_table",
    "angle_figure",
    "angle_table",
    "movement_figure",
    "movement_table",
]

#: A cyclic colour scale: a point's hue is the angle at which it started, so neighbours on the
#: data's rings and arms share a colour and the eye can follow them to the latent.
HUE_SCALE = "Phase"
#: Radii of the standard normal's contours drawn on the latent side (39 %, 86 %, 99 % of the mass).
GAUSS_RADII = (1.0, 2.0, 3.0)
_GAUSS_LINE = dict(color="rgba(60,60,60,0.55)", width=1, dash="dot")
_PATH_HUES = 12  #: paths are drawn in this many colour groups (one trace each)
FOLD_COLOR = "#000000"
COLLAPSE_COLOR = "#ff7f0e"


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


@dataclass
class Rose:
    """One model's move directions: ``counts`` per sector centred on ``centres`` (degrees) and the
    share of moves that change one coordinate only."""

    label: str
    color: str
    counts: np.ndarray
    centres: np.ndarray
    share: float
    moves: str = "moves"


@dataclass
class Series:
    """Per block of one model: depth fraction ``k / K`` (block k ends there), mean distance moved,
    the same relative to the cloud's spread, and the one-coordinate share."""

    label: str
    color: str
    depth: np.ndarray
    distance: np.ndarray
    relative: np.ndarray
    share: np.ndarray
    moves: str = "moves"


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


def _coord(points: np.ndarray, i: int) -> np.ndarray:
    """Coordinate ``i`` of ``(B, 2)`` points as a contiguous float32 array: plotly sends it as a
    typed array, half the bytes of float64."""
    return np.ascontiguousarray(np.asarray(points)[:, i], dtype=np.float32)


def _circles(plot: str = "") -> go.Scatter:
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


def _cloud_trace(panel: Panel, plot: str, size: int) -> go.Scatter:
    return go.Scatter(
        x=_coord(panel.points, 0),
        y=_coord(panel.points, 1),
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


def _plane_axes(layout: dict[str, Any], n: int, boxes: Sequence[Sequence[float]]) -> None:
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
    _plane_axes(layout, n, boxes)
    layout["margin"] = {**layout["margin"], "t": layout["margin"]["t"] + 24, "b": 60}
    size = 6 if presentation else 5
    traces: list[Any] = []
    for i, panel in enumerate(panels):
        plot = "" if i == 0 else str(i + 1)
        traces += [_circles(plot), _cloud_trace(panel, plot, size)]
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


def _zoomed(points: np.ndarray, half: float) -> np.ndarray:
    return np.asarray(points, dtype=np.float64) / half


def _circles_xy(half: float) -> tuple[np.ndarray, np.ndarray]:
    """The Gaussian's contours in a view of half-width ``half``, scaled to ``[-1, 1]``."""
    t = np.linspace(0, 2 * np.pi, 97)
    xs, ys = [], []
    for r in GAUSS_RADII:
        xs += [*(r * np.cos(t) / half), np.nan]
        ys += [*(r * np.sin(t) / half), np.nan]
    return np.array(xs, np.float32), np.array(ys, np.float32)


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
    _plane_axes(layout, n, [(-1.04, 1.04, -1.04, 1.04)] * n)
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
        cx, cy = _circles_xy(half)
        return [
            dict(type="scatter", x=cx, y=cy),
            dict(type="scatter", x=_coord(pts, 0), y=_coord(pts, 1)),
            dict(type="scatter", text=[f"block {k}/{len(clouds[m]) - 1} · view ±{half:.3g}"]),
        ]

    traces: list[Any] = []
    for m in range(n):
        plot = "" if m == 0 else str(m + 1)
        first = panel_data(m, start)
        circles = _circles(plot)
        circles.update(x=first[0]["x"], y=first[0]["y"])
        cloud = _cloud_trace(
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
        traces += [circles, cloud, note]

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
        x=_coord(line_pts, 0),
        y=_coord(line_pts, 1),
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
    _plane_axes(layout, n, boxes)
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
        traces.append(_circles(plot))
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


def _ticks(share: np.ndarray) -> list[float]:
    """Two to four round radial ticks above 0 (a "0%" at the centre sat on the bars)."""
    top = float(np.max(share)) if len(share) and np.max(share) > 0 else 1.0
    base = 10 ** np.floor(np.log10(top / 2))
    step = next(base * m for m in (1, 2, 5, 10) if top / (base * m) <= 4.5)
    return [float(step * i) for i in range(1, int(top / step) + 1)]


def angle_figure(
    roses: Sequence[Rose],
    *,
    title: str | None = None,
    presentation: bool = False,
    height: int | None = 400,
) -> go.Figure:
    """Per model a rose of the move directions (share of all moves of all blocks per sector; 0°
    along h₁, counter-clockwise), titled with the share of moves that change one coordinate only:
    four spokes on the axes for Glow's couplings, every direction for an i-ResNet's blocks."""
    n = len(roses)
    gap = 0.1
    w = (1.0 - gap * (n - 1)) / max(n, 1)
    layout = house_layout(title=title, presentation=presentation, height=height)
    notes = []
    traces = []
    base = 20 if presentation else 13
    for i, rose in enumerate(roses):
        key = "polar" if i == 0 else f"polar{i + 1}"
        x0 = i * (w + gap)
        counts = np.asarray(rose.counts, dtype=np.float64)
        share = counts / counts.sum() if counts.sum() > 0 else counts
        width = 360.0 / max(len(counts), 1)
        layout[key] = dict(
            domain=dict(x=[x0, x0 + w], y=[0.0, 0.86]),
            angularaxis=dict(direction="counterclockwise", rotation=0, dtick=45),
            radialaxis=dict(tickformat=".0%", angle=45, tickangle=45, tickvals=_ticks(share)),
        )
        traces.append(
            go.Barpolar(
                r=share,
                theta=np.asarray(rose.centres, dtype=np.float64),
                width=width,
                marker=dict(color=rose.color, line=dict(color="white", width=0.5)),
                name=rose.label,
                subplot=key,
                hovertemplate="%{theta:.0f}°: %{r:.1%} of the moves<extra>"
                + rose.label
                + "</extra>",
            )
        )
        pct = "n/a" if not np.isfinite(rose.share) else f"{100 * rose.share:.1f} %"
        notes.append(
            dict(
                text=f"<b style='color:{rose.color}'>{rose.label}</b> {rose.moves}<br>"
                f"one coordinate only: <b>{pct}</b>",
                x=x0 + w / 2,
                y=1.0,
                xref="paper",
                yref="paper",
                xanchor="center",
                yanchor="bottom",
                showarrow=False,
                font=dict(size=base + 1),
            )
        )
    layout["annotations"] = notes
    layout["showlegend"] = False
    layout["margin"] = {
        **layout["margin"],
        "t": layout["margin"]["t"] + (64 if presentation else 40),
        "l": 40,
        "r": 40,
        "b": 36,
    }
    return go.Figure(data=traces, layout=layout)


def angle_table(roses: Sequence[Rose]) -> dict[str, np.ndarray]:
    """``model, sector_deg, moves, share, one_coordinate_share`` per model and sector."""
    rows = [(r, np.asarray(r.counts)) for r in roses]
    return {
        "model": np.concatenate([[r.label] * len(c) for r, c in rows]).astype(object),
        "sector_deg": np.concatenate([np.asarray(r.centres) for r, _ in rows]),
        "moves": np.concatenate([c for _, c in rows]),
        "share": np.concatenate([c / max(c.sum(), 1) for _, c in rows]),
        "one_coordinate_share": np.concatenate([np.full(len(c), r.share) for r, c in rows]),
    }


def movement_figure(
    series: Sequence[Series],
    *,
    title: str | None = None,
    presentation: bool = False,
    height: int | None = 360,
) -> go.Figure:
    """Against depth fraction ``k / K``: how far block k moves the points (mean ``|g(x)|`` for an
    i-ResNet, mean coupling shift for Glow) relative to the spread of the cloud it meets (left;
    the absolute distance in the hover and the table), and the share of its moves that change one
    coordinate only (right)."""
    layout = house_layout(
        title=title,
        presentation=presentation,
        height=height,
        legend=dict(y=-0.22, yanchor="top", x=0.0, xanchor="left"),
    )
    layout.update(
        side_by_side(
            2,
            titles=["how far a block moves the points", "moves along one coordinate"],
            spacing=0.1,
            title_size=18 if presentation else 13,
        )
    )
    depth = dict(text="depth (fraction of the blocks)")
    layout["xaxis"].update(title=depth, range=[0, 1.02])
    layout["xaxis2"].update(title=depth, range=[0, 1.02])
    layout["yaxis"].update(
        title=dict(text="|move| / spread"), rangemode="tozero", tickformat=".0%"
    )
    layout["yaxis2"].update(title=dict(text="share"), tickformat=".0%", range=[-0.04, 1.04])
    layout["margin"] = {**layout["margin"], "b": 90, "t": layout["margin"]["t"] + 24}
    traces: list[Any] = []
    for s in series:
        common = dict(mode="lines+markers", line=dict(color=s.color), marker=dict(size=4))
        traces.append(
            go.Scatter(
                x=np.asarray(s.depth),
                y=np.asarray(s.relative),
                customdata=np.asarray(s.distance),
                name=f"{s.label} ({s.moves})",
                legendgroup=s.label,
                hovertemplate="depth %{x:.2f}: mean |move| %{customdata:.3g}, "
                "%{y:.1%} of the spread<extra>" + s.label + "</extra>",
                **common,
            )
        )
        traces.append(
            go.Scatter(
                x=np.asarray(s.depth),
                y=np.asarray(s.share),
                name=s.label,
                legendgroup=s.label,
                showlegend=False,
                xaxis="x2",
                yaxis="y2",
                hovertemplate="depth %{x:.2f}: %{y:.1%} one-coordinate<extra>"
                + s.label
                + "</extra>",
                **common,
            )
        )
    return go.Figure(data=traces, layout=layout)


def movement_table(series: Sequence[Series]) -> dict[str, np.ndarray]:
    """``model, block, depth, mean_distance, relative_distance, one_coordinate_share`` per model
    and block."""
    return {
        "model": np.concatenate([[s.label] * len(s.depth) for s in series]).astype(object),
        "block": np.concatenate([np.arange(1, len(s.depth) + 1) for s in series]),
        "depth": np.concatenate([np.asarray(s.depth) for s in series]),
        "mean_distance": np.concatenate([np.asarray(s.distance) for s in series]),
        "relative_distance": np.concatenate([np.asarray(s.relative) for s in series]),
        "one_coordinate_share": np.concatenate([np.asarray(s.share) for s in series]),
    }
