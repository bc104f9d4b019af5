"""The measured moves of the Layers page, behind the seed's claim about Glow: the direction and
length of each block's move (an i-ResNet block's ``g(x)``, a Glow coupling's shift; Behrmann et
al. 2019, Sec. 3; Kingma & Dhariwal 2018, Sec. 3.3).

* :func:`angle_figure` — the direction of the moves per model, as a rose (a :class:`Rose`), with
  the share of moves that change one coordinate only; :func:`angle_table` — its numbers;
* :func:`movement_figure` — distance moved and that share against depth (a :class:`Series` per
  model); :func:`movement_table` — its numbers.

Example:
    >>> import numpy as np
    >>> axes = Rose("Glow", "#1f77b4", np.array([5, 0, 5, 0]), np.array([0, 90, 180, 270]), 1.0)
    >>> fig = angle_figure([axes])
    >>> np.asarray(fig.data[0].r).tolist(), "100.0 %" in fig.layout.annotations[0].text
    ([0.5, 0.0, 0.5, 0.0], True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

from ..common import house_layout, side_by_side, title_note

__all__ = ["Rose", "Series", "angle_figure", "angle_table", "movement_figure", "movement_table"]


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
        text = (
            f"<b style='color:{rose.color}'>{rose.label}</b> {rose.moves}<br>"
            f"one coordinate only: <b>{pct}</b>"
        )
        notes.append(title_note(text, x0 + w / 2, size=base + 1))
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
