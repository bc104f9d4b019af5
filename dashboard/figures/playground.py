"""The Playground page's figures: density, data and samples, and the NLL curves of one flow.

Pure functions from numpy arrays to plotly figures (no torch, no Streamlit). The density is drawn
as one ``Contour`` trace with heatmap colouring, so the grid travels to the browser once per
redraw however many layers are on.

Example:
    >>> import numpy as np
    >>> xs = ys = np.linspace(-4, 4, 100)
    >>> dens = np.exp(-0.5 * (xs[None, :] ** 2 + ys[:, None] ** 2)) / (2 * np.pi)
    >>> fig = density_figure(xs, ys, dens, title="N(0, I)")
    >>> fig.data[0].type
    'contour'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

from .common import (
    DATA_COLOR,
    DENSITY_COLORSCALE,
    MODEL_COLORS,
    MODEL_LABELS,
    Chart,
    house_layout,
    slug,
)

__all__ = [
    "LAYERS",
    "Standing",
    "comparison_text",
    "density_figure",
    "density_table",
    "samples_figure",
    "samples_table",
    "loss_figure",
    "loss_table",
    "gap_text",
    "playground_charts",
]

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
    if "density" in layers and "contours" in layers:
        traces.append(
            go.Contour(
                x=xs,
                y=ys,
                z=z,
                colorscale=DENSITY_COLORSCALE,
                zmin=0.0,
                zmax=zmax,
                contours=dict(
                    coloring="heatmap",
                    start=zmax / (n_contours + 1),
                    end=zmax,
                    size=zmax / (n_contours + 1),
                ),
                line=dict(color="rgba(255,255,255,0.55)", width=0.8, smoothing=0.8),
                colorbar=colorbar,
                name="density",
                hovertemplate="x₁=%{x:.4~g}<br>x₂=%{y:.4~g}<br>p=%{z:.4~g}<extra></extra>",
            )
        )
    elif "density" in layers:
        traces.append(
            go.Heatmap(
                x=xs,
                y=ys,
                z=z,
                colorscale=DENSITY_COLORSCALE,
                zmin=0.0,
                zmax=zmax,
                zsmooth="best",
                colorbar=colorbar,
                name="density",
                hovertemplate="x₁=%{x:.4~g}<br>x₂=%{y:.4~g}<br>p=%{z:.4~g}<extra></extra>",
            )
        )
    elif "contours" in layers:
        traces.append(
            go.Contour(
                x=xs,
                y=ys,
                z=z,
                showscale=False,
                colorscale=DENSITY_COLORSCALE,
                zmin=0.0,
                zmax=zmax,
                contours=dict(
                    coloring="lines",
                    start=zmax / (n_contours + 1),
                    end=zmax,
                    size=zmax / (n_contours + 1),
                ),
                line=dict(width=1.2),
                name="contours",
                hoverinfo="skip",
            )
        )
    if "data" in layers and data is not None:
        d = _thin(_finite_points(data))
        traces.append(
            go.Scattergl(
                x=d[:, 0],
                y=d[:, 1],
                mode="markers",
                name="data",
                marker=dict(
                    size=3, color="white", opacity=0.6, line=dict(width=0.5, color="black")
                ),
            )
        )
    if "samples" in layers and samples is not None:
        s = _thin(_finite_points(samples))
        traces.append(
            go.Scattergl(
                x=s[:, 0],
                y=s[:, 1],
                mode="markers",
                name="samples",
                marker=dict(size=3, color=MODEL_COLORS.get(model, "#d62728"), opacity=0.7),
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
        d = _thin(_finite_points(data))
        traces.append(
            go.Scattergl(
                x=d[:, 0],
                y=d[:, 1],
                mode="markers",
                name="data",
                marker=dict(size=size, color=DATA_COLOR, opacity=0.45),
            )
        )
    if samples is not None:
        s = _thin(_finite_points(samples))
        traces.append(
            go.Scattergl(
                x=s[:, 0],
                y=s[:, 1],
                mode="markers",
                name=f"{MODEL_LABELS.get(model, model)} samples",
                marker=dict(size=size, color=MODEL_COLORS.get(model, "#d62728"), opacity=0.7),
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


def gap_text(nll: float | None, entropy: float | None) -> str:
    """``"test NLL 2.91 · NLL − entropy 0.08 nats"``; for own points (uploaded or drawn: no known
    density, so no entropy floor) the NLL alone, with the reason the floor is missing."""
    if nll is None or not np.isfinite(nll):
        return "test NLL —"
    if entropy is None:
        return (
            f"test NLL {nll:.3f} nats · no entropy floor: the density your points come from "
            "is unknown"
        )
    return f"test NLL {nll:.3f} · NLL − entropy {nll - entropy:+.3f} nats"


@dataclass(frozen=True)
class Standing:
    """Where one model stands: its label, the steps and seconds it has trained, its test NLL."""

    label: str
    steps: int
    seconds: float
    nll: float | None


def comparison_text(standings: Sequence[Standing], entropy: float | None, budget: str) -> str:
    """One plain sentence comparing the models at the same budget, e.g. ``"After 2,000 steps
    each: i-ResNet 0.040 nats from perfect, Glow 0.310."``; ``budget`` is ``"equal steps"`` or
    ``"equal time"``. Where the steps differ under equal steps (checkpoints trained apart, or a
    model reset), it says each model's own count instead of "each".

    Example:
        >>> comparison_text([Standing("i-ResNet", 2000, 30.0, 2.874), Standing("Glow", 2000, 9.0,
        ...                  3.144)], 2.834, "equal steps")
        'After 2,000 steps each: i-ResNet 0.040 nats from perfect, Glow 0.310.'
    """

    def gap(s: Standing) -> str:
        if s.nll is None or not np.isfinite(s.nll):
            return "—"
        if entropy is None:
            return f"test NLL {s.nll:.3f}"
        return f"{s.nll - entropy:.3f}"

    first = standings[0]
    first_gap = gap(first) + (" nats from perfect" if entropy is not None else " nats")
    rest = ", ".join(f"{s.label} {gap(s)}" for s in standings[1:])
    if budget == "equal time":
        secs = min(s.seconds for s in standings)
        counts = ", ".join(f"{s.label} {s.steps:,}" for s in standings)
        return (
            f"After about {secs:,.0f} s of training here each ({counts} steps): "
            f"{first.label} {first_gap}, {rest}."
        )
    if len({s.steps for s in standings}) == 1:
        return f"After {first.steps:,} steps each: {first.label} {first_gap}, {rest}."
    parts = [f"{s.label} after {s.steps:,} steps {gap(s)}" for s in standings]
    return "Not the same number of steps (pre-trained or reset apart): " + "; ".join(parts) + "."


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


def playground_charts(
    *,
    dataset: str,
    model: str,
    xs: np.ndarray,
    ys: np.ndarray,
    density: np.ndarray,
    data: np.ndarray | None,
    samples: np.ndarray | None,
    history: Mapping[str, Sequence[float]],
    entropy: float | None,
    bounds: Sequence[float] | None = None,
    layers: Iterable[str] = ("density", "contours"),
    presentation: bool = False,
    tag: str = "",
    density_step: int | None = None,
    subtitle: str | None = None,
    loss_label: str | None = None,
    x_axis: str = "step",
) -> list[Chart]:
    """The three charts of one model on the Playground (density, samples, NLL), with their tables.

    ``tag`` (e.g. ``"c=0.9_step=1200"``) goes into the file names so exports say what they show.
    """
    label = MODEL_LABELS.get(model, model)
    layers = tuple(layers)
    at = f" (step {density_step:,})" if density_step is not None else ""
    charts = [
        Chart(
            slug(dataset, model, "density", tag),
            f"{label}: density",
            density_figure(
                xs,
                ys,
                density,
                data=data,
                samples=samples,
                layers=layers,
                bounds=bounds,
                model=model,
                title=f"{label}: density{at}",
                presentation=presentation,
                subtitle=subtitle,
            ),
            density_table(xs, ys, density),
        ),
        Chart(
            slug(dataset, model, "samples", tag),
            f"{label}: data and samples",
            samples_figure(
                data,
                samples,
                model=model,
                bounds=bounds,
                title=f"{label}: data and samples{at}",
                presentation=presentation,
            ),
            samples_table(data, samples),
        ),
        Chart(
            slug(dataset, model, "nll", tag),
            f"{label}: NLL",
            loss_figure(
                history,
                entropy=entropy,
                model=model,
                title=f"{label}: NLL",
                presentation=presentation,
                loss_label=loss_label,
                x_axis=x_axis,
            ),
            loss_table(history, entropy),
        ),
    ]
    return charts
