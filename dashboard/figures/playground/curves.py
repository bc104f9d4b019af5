"""The Playground's training curves: one model's train and test NLL as it trains.

* :func:`loss_figure` — train and test NLL against the step or the seconds of training (the
  budget's axis, titled by :data:`X_TITLES`), the dataset's entropy floor dashed, the gap to it in
  the corner (:func:`~dashboard.figures.playground.sentences.gap_text`), a pre-trained
  checkpoint's steps (left of 0) shaded, and optionally the training loss as the log-det estimator
  saw it, dotted;
* :func:`loss_table` — the same numbers as columns.

Example:
    >>> hist = {"step": [10, 20], "train_nll": [3.5, 3.0], "test_nll": [3.6, 3.1]}
    >>> fig = loss_figure(hist, entropy=2.834)
    >>> [t.name for t in fig.data]
    ['train NLL', 'test NLL']
    >>> fig.layout.annotations[-1].text
    'test NLL 3.100 · NLL − entropy +0.266 nats'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from ..common import MODEL_COLORS, house_layout
from .sentences import gap_text

__all__ = ["X_TITLES", "loss_figure", "loss_table"]

#: The NLL chart's x-axis titles: the Playground's budget decides which axis (equal steps: the
#: step, equal time: seconds of training).
X_TITLES = {"step": "step", "seconds": "seconds of training"}


def loss_figure(
    history: Mapping[str, Sequence[float]],
    *,
    entropy: float | None = None,
    model: str = "iresnet",
    title: str | None = None,
    presentation: bool = False,
    height: int | None = 300,
    loss_label: str | None = None,
    x_axis: str = "step",
) -> go.Figure:
    """Train and test NLL against the step (``x_axis="seconds"``: against the seconds of training,
    ``history["seconds"]``), with the dataset's entropy floor as a dashed line.

    With ``loss_label`` the training loss as the log-det estimator saw it (``history["loss"]``) is
    drawn dotted: its distance from the exact train NLL is the estimator's bias.
    """
    steps = np.asarray(history.get(x_axis, []), dtype=np.float64)
    color = MODEL_COLORS.get(model, "#d62728")
    traces: list[Any] = []
    curves = [("train_nll", "train NLL", "solid", 0.55), ("test_nll", "test NLL", "solid", 1.0)]
    if loss_label:
        curves.append(("loss", loss_label, "dot", 0.8))
    for key, name, dash, opacity in curves:
        y = np.asarray(history.get(key, []), dtype=np.float64)
        if len(y) != len(steps):
            continue
        y = np.where(np.isfinite(y), y, np.nan)
        traces.append(
            go.Scatter(
                x=steps,
                y=y,
                mode="lines",
                name=name,
                opacity=opacity,
                line=dict(color=color, width=1.5 if key == "train_nll" else 2.5, dash=dash),
            )
        )
    # The shapes and their labels as plotly's add_hline / add_vrect would place them, in one dict
    # for the constructor (dashboard.figures.common.house_layout).
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    if entropy is not None:
        shapes.append(
            dict(
                type="line",
                xref="x domain",
                x0=0,
                x1=1,
                yref="y",
                y0=float(entropy),
                y1=float(entropy),
                line=dict(color="black", dash="dash", width=1.5),
            )
        )
        notes.append(
            dict(
                text=f"entropy {entropy:.3f}",
                showarrow=False,
                xref="x domain",
                x=0,
                xanchor="left",
                yref="y",
                y=float(entropy),
                yanchor="top",
            )
        )
    test = np.asarray(history.get("test_nll", []), dtype=np.float64)
    test = test[np.isfinite(test)]
    last = float(test[-1]) if test.size else None
    notes.append(
        dict(
            text=gap_text(last, entropy),
            xref="paper",
            yref="paper",
            x=0.99,
            y=0.97,
            showarrow=False,
            xanchor="right",
            yanchor="top",
            bgcolor="rgba(255,255,255,0.8)",
            font=dict(size=16 if presentation else 12),
        )
    )
    yaxis: dict[str, Any] = dict(title=dict(text="NLL (nats)"))
    # Keep the interesting range: the early blow-up of a fresh model should not flatten the curve.
    ys = np.concatenate(
        [np.asarray(history.get(k, []), dtype=np.float64) for k in ("train_nll", "test_nll")]
    )
    ys = ys[np.isfinite(ys)]
    if ys.size:
        lo = min(float(np.min(ys)), entropy if entropy is not None else np.inf)
        hi = float(np.percentile(ys, 95))
        pad = 0.08 * max(hi - lo, 0.1)
        yaxis["range"] = [lo - pad, hi + pad]
    if steps.size and steps.min() < 0:  # a pre-trained checkpoint's curve sits left of step 0
        shapes.append(
            dict(
                type="rect",
                xref="x",
                x0=float(steps.min()),
                x1=0,
                yref="y domain",
                y0=0,
                y1=1,
                fillcolor="rgba(0,0,0,0.05)",
                line=dict(width=0),
            )
        )
        notes.append(
            dict(
                text="pre-trained",
                showarrow=False,
                xref="x",
                x=float(steps.min()),
                xanchor="left",
                yref="y domain",
                y=1,
                yanchor="top",
            )
        )
    layout = house_layout(title=title, presentation=presentation, height=height)
    layout.update(
        shapes=shapes,
        annotations=notes,
        xaxis=dict(title=dict(text=X_TITLES.get(x_axis, x_axis))),
        yaxis=yaxis,
    )
    return go.Figure(data=traces, layout=layout)


def loss_table(
    history: Mapping[str, Sequence[float]], entropy: float | None = None
) -> dict[str, np.ndarray]:
    """Columns ``step, train_nll, test_nll, entropy``."""
    steps = np.asarray(history.get("step", []))
    ent = np.full(len(steps), np.nan if entropy is None else float(entropy))
    table = {
        "step": steps,
        "train_nll": np.asarray(history.get("train_nll", [])),
        "test_nll": np.asarray(history.get("test_nll", [])),
    }
    if len(history.get("loss", [])) == len(steps):
        table["train_loss_estimated"] = np.asarray(history.get("loss", []))
    table["entropy"] = ent
    return table
