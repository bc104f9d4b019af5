"""What every figure shares: colours, fonts, the :class:`Chart` bundle and CSV tables.

A :class:`Chart` is a figure plus the table of numbers behind it and a file-name slug, so the
page's download buttons, the figure pack and the CLI all export the same three things.

Figures are built in one call, ``go.Figure(data=traces, layout=layout)``, with the layout a plain
dict: :func:`house_layout` for the style, :func:`side_by_side` for plots in a row, :func:`hline`
and :func:`vline` for reference lines. Plotly's ``add_trace(row=, col=)``, ``update_layout``,
``add_hline`` and ``make_subplots`` validate the whole figure again on every call, which made
drawing a lens page's figures a slider move's largest cost after the computation itself (see
docs/benchmarks.md).

Example:
    >>> import numpy as np
    >>> table_to_csv({"x": np.array([1.0, 2.0]), "y": np.array([3.0, 4.0])}).splitlines()[0]
    'x,y'
"""

from __future__ import annotations

import io
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

__all__ = [
    "Chart",
    "MODEL_LABELS",
    "MODEL_COLORS",
    "DATA_COLOR",
    "DENSITY_COLORSCALE",
    "house_layout",
    "wrap_title",
    "side_by_side",
    "title_note",
    "hline",
    "vline",
    "table_to_csv",
    "image_button_config",
    "slug",
]

MODEL_LABELS: dict[str, str] = {"iresnet": "i-ResNet", "glow": "Glow"}
MODEL_COLORS: dict[str, str] = {"iresnet": "#d62728", "glow": "#1f77b4"}
DATA_COLOR = "#7f7f7f"
#: Dark blue (no mass) to yellow (most mass): readable on screen, on a projector and in print.
DENSITY_COLORSCALE = "Viridis"
TEMPLATE = "plotly_white"
# The house template is plotly's default in this process: a new figure takes the default without
# validating it again, where ``update_layout(template=...)`` validated and deep-copied the whole
# template into every figure (most of what styling a figure cost; a lens page draws three to six).
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
    """CSV text of a column table (a header line, then one row per index; ragged columns are
    padded; text with a comma or a quote is quoted).

    Example:
        >>> table_to_csv({"budget": np.array(["3,000 steps"], dtype=object)}).splitlines()[1]
        '"3,000 steps"'
    """
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
                text = str(x)  # a field with a comma or a quote is quoted, as RFC 4180 has it
                quote = any(c in text for c in ',"\n')
                row.append('"' + text.replace('"', '""') + '"' if quote else text)
        buf.write(",".join(row) + "\n")
    return buf.getvalue()


#: Characters per title line in presentation mode (a half-width chart at 23 px holds about 48).
PRESENTATION_TITLE_CHARS = 44
#: The top margin a presentation title's every further line adds.
TITLE_LINE_PX = 28
#: How much lower (in plot heights) a legend under the plot sits in presentation mode.
PRESENTATION_LEGEND_DROP = 0.1


def wrap_title(title: str, width: int) -> tuple[str, int]:
    """``(title with "<br>" between lines of at most width characters, number of lines)``; a title
    that already has line breaks is left as it is."""
    if "<br>" in title or len(title) <= width:
        return title, title.count("<br>") + 1
    lines = textwrap.wrap(title, width, break_long_words=False, break_on_hyphens=False)
    return "<br>".join(lines), len(lines)


def house_layout(
    *,
    title: str | None = None,
    presentation: bool = False,
    height: int | None = None,
    legend: Mapping[str, Any] | None = None,
    presentation_extra: int = 0,
) -> dict[str, Any]:
    """The house style as a layout dict: readable fonts (bigger in presentation mode), tight
    margins, the legend above the plot at the right (``legend``: another placement, the font kept;
    one under the plot, ``y < 0``, goes lower in presentation mode, below the bigger axis title).
    ``presentation_extra``: pixels a figure of given ``height`` grows by in presentation mode, for
    what its bigger type takes around the plot (a legend under it, a subtitle).

    Give it to ``go.Figure(..., layout=...)``: ``update_layout`` on a built figure validates the
    figure again, several times the cost, which a redraw of six charts pays six times.
    """
    base = 20 if presentation else 13
    lines = 1
    if (
        title and presentation
    ):  # plotly never wraps a title: at 23 px a half-width chart cut it off
        title, lines = wrap_title(title, PRESENTATION_TITLE_CHARS)
    placement = dict(legend or {})
    if presentation and placement.get("y", 1.0) < 0:
        placement["y"] -= PRESENTATION_LEGEND_DROP
    layout: dict[str, Any] = dict(
        font=dict(size=base, family="Inter, Helvetica, Arial, sans-serif"),
        margin=dict(l=10, r=10, t=(50 + TITLE_LINE_PX * (lines - 1)) if title else 10, b=10),
        legend={
            **dict(
                font=dict(size=base - 1),
                orientation="h",
                yanchor="bottom",
                y=1.0,
                xanchor="right",
                x=1.0,
            ),
            **placement,
        },
        uirevision="keep",  # zoom/pan survive live redraws
    )
    if title:
        layout["title"] = dict(text=title, font=dict(size=base + 3), x=0.02, xanchor="left")
    if height is not None:  # the plot keeps its height
        layout["height"] = (
            height + TITLE_LINE_PX * (lines - 1) + (presentation_extra if presentation else 0)
        )
    if pio.templates.default != TEMPLATE:  # someone changed plotly's default: name ours
        layout["template"] = TEMPLATE
    return layout


def side_by_side(
    n: int,
    *,
    titles: Sequence[str] = (),
    widths: Sequence[float] | None = None,
    spacing: float = 0.1,
    title_size: int = 16,
) -> dict[str, Any]:
    """Layout entries for ``n`` plots in a row as ``make_subplots(rows=1, cols=n)`` lays them out:
    axes ``xaxis, xaxis2, ...`` over their share of the width (``widths``, relative; ``spacing``
    between, as a fraction of the figure), each anchored to its ``yaxis``, and ``titles`` as
    annotations above. A trace goes into plot ``i`` (from 1) with ``xaxis=f"x{i}", yaxis=f"y{i}"``
    (``"x"``, ``"y"`` for the first)."""
    widths = [1.0] * n if widths is None else [float(w) for w in widths]
    if len(widths) != n:
        raise ValueError(f"{n} plots need {n} widths, got {len(widths)}")
    free = 1.0 - spacing * (n - 1)
    layout: dict[str, Any] = {}
    notes = []
    x = 0.0
    for i, w in enumerate(widths):
        w = free * w / sum(widths)
        k = "" if i == 0 else str(i + 1)
        layout[f"xaxis{k}"] = dict(anchor=f"y{k}", domain=[x, x + w])
        layout[f"yaxis{k}"] = dict(anchor=f"x{k}", domain=[0.0, 1.0])
        if i < len(titles):
            notes.append(title_note(titles[i], x + w / 2, size=title_size))
        x += w + spacing
    layout["annotations"] = notes
    return layout


def title_note(text: str, x: float, *, y: float = 1.0, size: int = 16) -> dict[str, Any]:
    """A panel's title as a plotly annotation: centred on ``x`` and standing on ``y`` (both in
    paper coordinates, the figure's 0-1), no arrow.

    Example:
        >>> note = title_note("<b>i-ResNet</b>", 0.25, size=12)
        >>> note["x"], note["yanchor"], note["font"]
        (0.25, 'bottom', {'size': 12})
    """
    return dict(
        text=text,
        x=x,
        y=y,
        xref="paper",
        yref="paper",
        xanchor="center",
        yanchor="bottom",
        showarrow=False,
        font=dict(size=size),
    )


def _label(text: str | None, font: Mapping[str, Any] | None, **place: Any) -> list[dict[str, Any]]:
    if text is None:
        return []
    return [dict(text=text, showarrow=False, **place, **({"font": dict(font)} if font else {}))]


def hline(
    y: float,
    line: Mapping[str, Any],
    *,
    plot: str = "",
    text: str | None = None,
    position: str = "top right",
    log: bool = False,
    font: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(shape, labels)``: a line across plot ``plot`` (``""`` the first, ``"2"`` the second of
    :func:`side_by_side`) at height ``y``, and ``text`` at ``position`` ("top right", "bottom
    left",
    ...), where ``add_hline`` puts them. ``log``: the y axis is logarithmic (a label's position is
    then given in decades; the line's in data units)."""
    vert, horiz = position.split()
    shape = dict(
        type="line",
        xref=f"x{plot} domain",
        x0=0,
        x1=1,
        yref=f"y{plot}",
        y0=y,
        y1=y,
        line=dict(line),
    )
    return shape, _label(
        text,
        font,
        xref=f"x{plot} domain",
        x=0 if horiz == "left" else 1,
        xanchor=horiz,
        yref=f"y{plot}",
        y=float(np.log10(y)) if log else y,
        yanchor="bottom" if vert == "top" else "top",
    )


def vline(
    x: float,
    line: Mapping[str, Any],
    *,
    plot: str = "",
    text: str | None = None,
    position: str = "top right",
    font: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(shape, labels)``: a line up plot ``plot`` at ``x`` and ``text`` at ``position`` beside
    its top ("top right": to the right) or bottom, where ``add_vline`` puts them."""
    vert, horiz = position.split()
    shape = dict(
        type="line",
        xref=f"x{plot}",
        x0=x,
        x1=x,
        yref=f"y{plot} domain",
        y0=0,
        y1=1,
        line=dict(line),
    )
    return shape, _label(
        text,
        font,
        xref=f"x{plot}",
        x=x,
        xanchor="left" if horiz == "right" else "right",
        yref=f"y{plot} domain",
        y=1 if vert == "top" else 0,
        yanchor=vert,
    )


def image_button_config(filename: str, *, fmt: str = "png", scale: int = 2) -> dict[str, Any]:
    """``st.plotly_chart(config=...)`` for the camera button: ``fmt`` at ``scale`` x, named
    ``filename``."""
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": fmt, "filename": filename, "scale": scale},
    }
