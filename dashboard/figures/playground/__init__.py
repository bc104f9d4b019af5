"""The Playground page's figures: one flow's density, its data and samples, its NLL curves, and
the sentences under them.

Pure functions from numpy arrays to plotly figures (no torch, no Streamlit). One module per
concept; this package re-exports their public names, so ``from dashboard.figures.playground import
X`` reads as before:

* :mod:`.plane` — the data plane: :func:`density_figure` (the model density ``p(x)`` on a grid,
  one ``Contour`` trace whatever the :data:`LAYERS` on, data and samples overlaid) and
  :func:`samples_figure` (the data next to the model's samples), with their tables;
* :mod:`.curves` — :func:`loss_figure`: train and test NLL against the step or the seconds of
  training, with the entropy floor; :func:`loss_table`;
* :mod:`.sentences` — text, not figures: :func:`gap_text` (the test NLL and its distance from the
  floor) and :func:`comparison_text` (the shown models compared, from a :class:`Standing` each);
* :mod:`.charts` — :func:`playground_charts`: the three charts of one model as
  :class:`~dashboard.figures.common.Chart` objects, with their tables and file names.

Example:
    >>> for f in (density_figure, loss_figure, comparison_text, playground_charts):
    ...     print(f.__module__)
    dashboard.figures.playground.plane
    dashboard.figures.playground.curves
    dashboard.figures.playground.sentences
    dashboard.figures.playground.charts
"""

from __future__ import annotations

from .charts import playground_charts
from .curves import X_TITLES as X_TITLES
from .curves import loss_figure, loss_table
from .plane import LAYERS, density_figure, density_table, samples_figure, samples_table
from .sentences import Standing, comparison_text, gap_text

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
