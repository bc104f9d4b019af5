"""The Sweeps page's charts, assembled in the page's order.

:func:`sweep_charts` draws the five with :mod:`.density` and :mod:`.table1`: NLL − entropy over
c × N, Table 1 in 2D, the inverse's iterations (Appendix D), the series bias (Appendix E) and
i-ResNet against Glow (Figure 2); each says so where the table has no cells for it.

Example:
    >>> import pandas as pd
    >>> for c in sweep_charts(pd.DataFrame()):
    ...     print(c.slug, len(c.figure.data))
    sweep_nll_minus_entropy_c_x_N 0
    sweep_table1 0
    sweep_inverse_iterations_vs_c 0
    sweep_series_bias_vs_N 0
    sweep_iresnet_vs_glow 0
"""

from __future__ import annotations

import pandas as pd

from ..common import Chart
from .density import bias_chart, gap_heatmap, glow_chart, iterations_chart
from .table1 import table1_chart

__all__ = ["sweep_charts"]


def sweep_charts(df: pd.DataFrame, *, presentation: bool = False) -> list[Chart]:
    """Every chart of the page, in its order."""
    return [
        gap_heatmap(df, presentation=presentation),
        table1_chart(df, presentation=presentation),
        iterations_chart(df, presentation=presentation),
        bias_chart(df, presentation=presentation),
        glow_chart(df, presentation=presentation),
    ]
