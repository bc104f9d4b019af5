"""The Sweeps page's figures: a sweep's results table, over seeds, as the paper's claims.

Pure functions from the results table (a pandas DataFrame of :mod:`iresnet_core.sweep.table`'s
columns, one row per cell) to :class:`~dashboard.figures.common.Chart` bundles; no Streamlit.
Every number drawn is a mean over seeds with the standard deviation as its spread (``n`` seeds in
the hover and the CSV). One module per concept; this package re-exports their public names, so
``from dashboard.figures.sweeps import X`` reads as before:

* :mod:`.cells` — the table read over seeds: :func:`over_seeds`, :func:`pm`, and the cells each
  claim rests on (:func:`density_rows`, the series', the classifier's, Figure 2's);
* :mod:`.panels` — what every chart shares: a data set's colour, the legend below, the table
  behind a chart, the chart a table has nothing for;
* :mod:`.density` — the density models' charts: :func:`gap_heatmap` (test NLL minus the entropy
  over c x N, one panel per data set), :func:`iterations_chart` (the inverse's iterations
  against c, Appendix D), :func:`bias_chart` (the series' truncation bias against N, with
  Theorem 3's bound, Appendix E), :func:`glow_chart` (i-ResNet against Glow at equal parameters
  and steps, Figure 2);
* :mod:`.table1` — :func:`table1_frame`, :func:`table1_chart`: Table 1 in 2D, the classifier's
  test error per setting with the measured inverse (reconstruction error, converged, folds,
  Lipschitz bound);
* :mod:`.verdicts` — text, not figures: :func:`claims`, the claims checked, each with its measured
  figure and a verdict;
* :mod:`.charts` — :func:`sweep_charts`: every chart of the page, in its order.

Example:
    >>> for f in (over_seeds, gap_heatmap, table1_chart, claims, sweep_charts):
    ...     print(f.__module__)
    dashboard.figures.sweeps.cells
    dashboard.figures.sweeps.density
    dashboard.figures.sweeps.table1
    dashboard.figures.sweeps.verdicts
    dashboard.figures.sweeps.charts
"""

from __future__ import annotations

from .cells import SERIES_MODES, density_rows, over_seeds, pm
from .charts import sweep_charts
from .density import GAP_COLORSCALE as GAP_COLORSCALE
from .density import bias_chart, gap_heatmap, glow_chart, iterations_chart
from .table1 import table1_chart, table1_frame
from .verdicts import SLOW_POINTS as SLOW_POINTS
from .verdicts import claims

__all__ = [
    "SERIES_MODES",
    "over_seeds",
    "density_rows",
    "gap_heatmap",
    "table1_frame",
    "table1_chart",
    "iterations_chart",
    "bias_chart",
    "glow_chart",
    "claims",
    "sweep_charts",
    "pm",
]
