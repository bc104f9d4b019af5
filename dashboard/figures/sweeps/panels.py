"""What every chart of the Sweeps page shares (defined here only): a data set's colour, the legend
under the plot, the table behind a chart, and the chart a table has nothing for.

* :data:`DATASET_COLORS` — the colour of the i-th data set of a chart (a bar group, a line);
* :data:`LEGEND_BELOW` — the legend under the plot, for charts with a line per setting;
* :func:`chart_table` — a frame as a :class:`~dashboard.figures.common.Chart`'s table (column
  name -> array), the CSV behind the chart;
* :func:`empty_chart` — a chart with no traces and no axes that says why it is empty.

Example:
    >>> c = empty_chart("sweep_x", "A title", False, "no cells for it")
    >>> c.slug, len(c.figure.data), c.figure.layout.annotations[0].text, c.table
    ('sweep_x', 0, 'no cells for it', {})
    >>> import pandas as pd
    >>> chart_table(pd.DataFrame({"c": [0.5, 0.9], "n": [3, 3]}))
    {'c': array([0.5, 0.9]), 'n': array([3, 3])}
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..common import Chart, house_layout

__all__ = ["DATASET_COLORS", "LEGEND_BELOW", "chart_table", "empty_chart"]

#: The i-th data set's colour in a chart (cycled past the sixth).
DATASET_COLORS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
#: The legend under the plot, left-aligned.
LEGEND_BELOW = dict(y=-0.28, yanchor="top", x=0.0, xanchor="left")


def chart_table(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """``frame``'s columns as a chart's table: column name -> array."""
    return {c: frame[c].to_numpy() for c in frame.columns}


def empty_chart(slug_: str, title: str, presentation: bool, note: str) -> Chart:
    """A chart named ``slug_`` with no traces, no axes and ``note`` in its middle; no table."""
    layout = house_layout(title=title, presentation=presentation, height=300)
    layout["annotations"] = [
        dict(text=note, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False)
    ]
    layout["xaxis"] = dict(visible=False)
    layout["yaxis"] = dict(visible=False)
    return Chart(slug_, title, go.Figure(layout=layout), {})
