"""The Playground's charts of one model, assembled: its density, its data and samples, its NLL.

:func:`playground_charts` draws the three with :mod:`.plane` and :mod:`.curves`, each a
:class:`~dashboard.figures.common.Chart` with the table behind it and a file name that says what
it shows (dataset, model, chart, and the caller's tag).

Example:
    >>> import numpy as np
    >>> xs = ys = np.linspace(-4, 4, 20)
    >>> dens = np.exp(-0.5 * (xs[None, :] ** 2 + ys[:, None] ** 2)) / (2 * np.pi)
    >>> charts = playground_charts(dataset="moons", model="glow", xs=xs, ys=ys, density=dens,
    ...                            data=None, samples=None, history={}, entropy=None, tag="step=0")
    >>> for c in charts:
    ...     print(c.slug, "·", c.title)
    moons_glow_density_step=0 · Glow: density
    moons_glow_samples_step=0 · Glow: data and samples
    moons_glow_nll_step=0 · Glow: NLL
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ..common import MODEL_LABELS, Chart, slug
from .curves import loss_figure, loss_table
from .plane import density_figure, density_table, samples_figure, samples_table

__all__ = ["playground_charts"]


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
