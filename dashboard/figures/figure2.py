"""The paper's Figure 2 as a figure to take away: a row per toy set, columns data, Glow, i-ResNet.

Behrmann et al. (2019), Sec. 5 and Figure 2, compare the densities an i-ResNet and a Glow of about
equal parameter counts learn on 2D toy data. Here each model panel is titled with its exact test
NLL minus the entropy of the set (the distance from a perfect fit, in nats) and the training
budget it had; the data column shows a histogram of the training points on the same box. Every
panel is drawn by the Playground's density drawing
(:func:`dashboard.figures.playground.density_figure`) in the house style
(:mod:`dashboard.figures.common`). A pure function: arrays in, a plotly figure out; the densities
come from :mod:`dashboard.figure2_data`.

Example:
    >>> import numpy as np
    >>> xs = ys = np.linspace(-4, 4, 50)
    >>> dens = np.exp(-0.5 * (xs[None, :] ** 2 + ys[:, None] ** 2)) / (2 * np.pi)
    >>> panel = ModelPanel(xs, ys, dens, excess=0.0123, budget="3,000 steps")
    >>> row = Figure2Row("8gaussians", np.random.default_rng(0).normal(size=(500, 2)),
    ...                  (-4, 4, -4, 4), {"glow": panel, "iresnet": panel})
    >>> fig = figure2([row])
    >>> len(fig.data), fig.layout.annotations[1].text
    (3, 'Glow · 3,000 steps<br>NLL − entropy 0.012 nats')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

from .common import MODEL_LABELS, Chart, house_layout, title_note
from .playground import density_figure

__all__ = [
    "COLUMNS",
    "ModelPanel",
    "Figure2Row",
    "panel_title",
    "data_histogram",
    "figure2",
    "figure2_table",
    "figure2_chart",
]

#: The columns, left to right, as in the paper.
COLUMNS = ("data", "glow", "iresnet")


@dataclass(frozen=True)
class ModelPanel:
    """One model's panel: its density on a grid (``density[i, j]`` at ``(xs[j], ys[i])``), its
    test NLL minus entropy in nats (``None``: unknown) and its budget in words ("3,000 steps")."""

    xs: np.ndarray
    ys: np.ndarray
    density: np.ndarray
    excess: float | None
    budget: str


@dataclass(frozen=True)
class Figure2Row:
    """One toy set: its name, its training points ``(n, 2)``, the square box
    ``(xmin, xmax, ymin, ymax)`` every panel of the row shows, and the model panels by model
    name (``"glow"``, ``"iresnet"``; a missing one leaves its panel empty)."""

    dataset: str
    data: np.ndarray
    bounds: tuple[float, float, float, float]
    models: Mapping[str, ModelPanel | None]


def panel_title(model: str, excess: float | None, budget: str) -> str:
    """``"Glow · 3,000 steps<br>NLL − entropy 0.012 nats"``: what a model panel says.

    Example:
        >>> panel_title("iresnet", None, "60 s")
        'i-ResNet · 60 s<br>NLL − entropy –'
    """
    gap = "–" if excess is None or not np.isfinite(excess) else f"{excess:.3f} nats"
    return f"{MODEL_LABELS.get(model, model)} · {budget}<br>NLL − entropy {gap}"


def data_histogram(
    data: np.ndarray, bounds: Sequence[float], bins: int = 100
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(xs, ys, density)`` of the points on ``bins x bins`` cells over ``bounds``: bin centres
    and the normalised histogram, indexed as :class:`ModelPanel` is (``density[i, j]`` at
    ``(xs[j], ys[i])``), the empirical counterpart of a model's density.

    Example:
        >>> xs, ys, d = data_histogram(np.zeros((10, 2)), (-1, 1, -1, 1), bins=4)
        >>> float(d.sum() * (xs[1] - xs[0]) * (ys[1] - ys[0]))
        1.0
    """
    x0, x1, y0, y1 = (float(b) for b in bounds)
    pts = np.asarray(data, dtype=np.float64).reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(axis=1)]
    h, ex, ey = np.histogram2d(
        pts[:, 0], pts[:, 1], bins=bins, range=[[x0, x1], [y0, y1]], density=True
    )
    return (ex[:-1] + ex[1:]) / 2, (ey[:-1] + ey[1:]) / 2, h.T


def _axis_key(k: int) -> str:
    return "" if k == 1 else str(k)


def figure2(
    rows: Sequence[Figure2Row],
    *,
    title: str | None = None,
    panel_px: int = 260,
    bins: int = 100,
) -> go.Figure:
    """The composite figure: a row per toy set, columns :data:`COLUMNS` (data, Glow, i-ResNet),
    each model panel titled by :func:`panel_title`, the set's name at the left of its row; square
    panels of about ``panel_px`` pixels, no colour bars (each panel scales its own colours from
    no mass to its peak, as the paper's images do)."""
    n_rows, n_cols = max(1, len(rows)), len(COLUMNS)
    # in pixels: a row label at the left, two title lines above every panel, a gap between columns
    label_px, title_px, gap_px, margin = 36, 40, 16, 10
    plot_w = label_px + n_cols * panel_px + (n_cols - 1) * gap_px
    plot_h = n_rows * panel_px + (n_rows - 1) * title_px
    top = title_px + (40 if title else 0)
    layout = house_layout(title=title, height=plot_h + top + margin)
    layout.update(width=plot_w + 2 * margin, showlegend=False, plot_bgcolor="white")
    layout["margin"] = dict(l=margin, r=margin, t=top, b=margin)
    left, gap_x = label_px / plot_w, gap_px / plot_w
    cell_w, cell_h, gap_y = panel_px / plot_w, panel_px / plot_h, title_px / plot_h
    traces: list[Any] = []
    notes: list[dict[str, Any]] = []
    for r, row in enumerate(rows):
        y_top = 1 - r * (cell_h + gap_y)
        for c, column in enumerate(COLUMNS):
            k = r * n_cols + c + 1
            key = _axis_key(k)
            x_left = left + c * (cell_w + gap_x)
            x0, x1, y0, y1 = (float(b) for b in row.bounds)
            axis = dict(
                range=[x0, x1],
                showgrid=False,
                zeroline=False,
                showticklabels=False,
                ticks="",
                constrain="domain",
            )
            layout[f"xaxis{key}"] = dict(
                axis, anchor=f"y{key}", domain=[x_left, min(1.0, x_left + cell_w)]
            )
            layout[f"yaxis{key}"] = dict(
                axis,
                range=[y0, y1],
                anchor=f"x{key}",
                domain=[max(0.0, y_top - cell_h), min(1.0, y_top)],
                scaleanchor=f"x{key}",
                scaleratio=1,
            )
            if column == "data":
                xs, ys, dens = data_histogram(row.data, row.bounds, bins)
                text = f"data · {len(row.data):,} points"
            else:
                panel = row.models.get(column)
                if panel is None:
                    xs = ys = dens = None
                    text = f"{MODEL_LABELS.get(column, column)}<br>no model"
                else:
                    xs, ys, dens = panel.xs, panel.ys, panel.density
                    text = panel_title(column, panel.excess, panel.budget)
            if xs is not None:
                (trace,) = density_figure(
                    xs, ys, dens, layers=("density",), bounds=row.bounds, model=column
                ).data
                trace.update(xaxis=f"x{key}", yaxis=f"y{key}", showscale=False)
                traces.append(trace)
            notes.append(title_note(text, x_left + cell_w / 2, y=y_top, size=12))
        notes.append(
            dict(
                text=f"<b>{row.dataset}</b>",
                x=left - 0.01,
                y=y_top - cell_h / 2,
                xref="paper",
                yref="paper",
                xanchor="right",
                yanchor="middle",
                textangle=-90,
                showarrow=False,
                font=dict(size=14),
            )
        )
    layout["annotations"] = notes
    return go.Figure(data=traces, layout=layout)


def figure2_table(rows: Sequence[Figure2Row]) -> dict[str, np.ndarray]:
    """The numbers the titles carry, one line per model panel: ``dataset, model,
    nll_minus_entropy, budget``."""
    out: dict[str, list[Any]] = {"dataset": [], "model": [], "nll_minus_entropy": [], "budget": []}
    for row in rows:
        for model in COLUMNS[1:]:
            panel = row.models.get(model)
            out["dataset"].append(row.dataset)
            out["model"].append(model)
            out["nll_minus_entropy"].append(
                np.nan if panel is None or panel.excess is None else float(panel.excess)
            )
            out["budget"].append("" if panel is None else panel.budget)
    return {
        k: np.asarray(v, dtype=float if k == "nll_minus_entropy" else object)
        for k, v in out.items()
    }


def figure2_chart(rows: Sequence[Figure2Row], *, title: str | None = None) -> Chart:
    """The figure with its table and the file name ``figure2``, for the export pack."""
    return Chart("figure2", title or "Figure 2", figure2(rows, title=title), figure2_table(rows))
