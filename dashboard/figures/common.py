"""What every figure shares: colours, fonts, the :class:`Chart` bundle and CSV tables.

A :class:`Chart` is a figure plus the table of numbers behind it and a file-name slug, so the
page's download buttons, the figure pack and the CLI all export the same three things.

Example:
    >>> import numpy as np
    >>> table_to_csv({"x": np.array([1.0, 2.0]), "y": np.array([3.0, 4.0])}).splitlines()[0]
    'x,y'
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

__all__ = [
    "Chart", "MODEL_LABELS", "MODEL_COLORS", "DATA_COLOR", "DENSITY_COLORSCALE",
    "style", "house_layout", "table_to_csv", "image_button_config", "slug",
]

MODEL_LABELS: dict[str, str] = {"iresnet": "i-ResNet", "glow": "Glow"}
MODEL_COLORS: dict[str, str] = {"iresnet": "#d62728", "glow": "#1f77b4"}
DATA_COLOR = "#7f7f7f"
#: Dark blue (no mass) to yellow (most mass): readable on screen, on a projector and in print.
DENSITY_COLORSCALE = "Viridis"
TEMPLATE = "plotly_white"
# The house template is plotly's default in this process: a new figure takes the default without
# validating it again, where ``update_layout(template=...)`` validated and deep-copied the whole
# template into every figure (about 9 of the 13 ms that styling a figure took; a lens page draws
# three to six).
pio.templates.default = TEMPLATE


@dataclass
class Chart:
    """A figure, the data behind it and the name its files get.

    Attributes:
        slug: file-name stem, e.g. ``"8gaussians_iresnet_density"``.
        title: human title (also the figure's title).
        figure: the plotly figure.
        table: column name -> 1D array, all of equal length: the CSV behind the figure.
    """

    slug: str
    title: str
    figure: go.Figure
    table: dict[str, np.ndarray] = field(default_factory=dict)

    def csv(self) -> str:
        """The table as CSV text."""
        return table_to_csv(self.table)


def slug(*parts: Any) -> str:
    """A file-name-safe stem from parts: ``slug("8gaussians", "i-ResNet", "c=0.9")``."""
    text = "_".join(str(p) for p in parts if p is not None and str(p) != "")
    text = re.sub(r"[^A-Za-z0-9.=+-]+", "_", text).strip("_")
    return text or "figure"


def table_to_csv(table: Mapping[str, Any]) -> str:
    """CSV text of a column table (a header line, then one row per index; ragged columns are padded)."""
    cols = {k: np.asarray(v).ravel() for k, v in table.items()}
    n = max((len(v) for v in cols.values()), default=0)
    buf = io.StringIO()
    buf.write(",".join(cols) + "\n")
    for i in range(n):
        row = []
        for v in cols.values():
            if i >= len(v):
                row.append("")
                continue
            x = v[i]
            if isinstance(x, (float, np.floating)):
                row.append("" if not np.isfinite(x) else f"{float(x):.6g}")
            else:
                row.append(str(x))
        buf.write(",".join(row) + "\n")
    return buf.getvalue()


def house_layout(*, title: str | None = None, presentation: bool = False, height: int | None = None) -> dict[str, Any]:
    """The house style as a layout dict: readable fonts (bigger in presentation mode), tight margins.

    Given to ``go.Figure(..., layout=...)`` it costs about 0.5 ms; the same through
    ``update_layout`` (:func:`style`) about 3.6 ms, which a redraw of six charts pays six times.
    """
    base = 20 if presentation else 13
    layout: dict[str, Any] = dict(
        font=dict(size=base, family="Inter, Helvetica, Arial, sans-serif"),
        margin=dict(l=10, r=10, t=50 if title else 10, b=10),
        legend=dict(font=dict(size=base - 1), orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
        uirevision="keep",  # zoom/pan survive live redraws
    )
    if title:
        layout["title"] = dict(text=title, font=dict(size=base + 3), x=0.02, xanchor="left")
    if height is not None:
        layout["height"] = height
    if pio.templates.default != TEMPLATE:  # someone changed plotly's default: name ours
        layout["template"] = TEMPLATE
    return layout


def style(fig: go.Figure, *, title: str | None = None, presentation: bool = False,
          height: int | None = None, square: bool = False) -> go.Figure:
    """The house style (:func:`house_layout`) applied to a built figure; ``square`` keeps x and y at
    one scale."""
    fig.update_layout(house_layout(title=title, presentation=presentation, height=height))
    if square:
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


def image_button_config(filename: str, *, fmt: str = "png", scale: int = 2) -> dict[str, Any]:
    """``st.plotly_chart(config=...)`` for the camera button: ``fmt`` at ``scale`` x, named ``filename``."""
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": fmt, "filename": filename, "scale": scale},
    }
