"""Training as an animation: record a Playground run every few steps, render it as a GIF, an MP4
and a standalone interactive HTML.

One module per concept; this package re-exports their public names, so
``from dashboard.animation import X`` and ``animation.X`` read as before:

* :mod:`.recording` -- the data: :func:`record` trains through
  :meth:`dashboard.state.Playground.step` and draws through
  :meth:`~dashboard.state.Playground.view` (the page's own training and views, no second loop),
  keeping one :class:`Frame` per ``every`` steps (:func:`frame_count`): every shown model's
  density on the grid and its samples (a :class:`Panel` each), in a :class:`Recording`;
* :mod:`.raster` -- the frames as pictures and the files made of them: :func:`rasterise`
  (:func:`rasterise_indexed` through :func:`palette`: the figures' colour scale, samples as dots,
  drawn with numpy and Pillow), :func:`render_gif` and :func:`render_mp4` (imageio);
* :mod:`.html` -- :func:`render_html`: a plotly figure (:func:`html_figure`) with one plotly
  frame per recorded frame, a step slider and a play button, plotly.js embedded (works
  offline); :func:`html_frame_count` reads the frames back;
* :mod:`.formats` -- :data:`FORMATS`, :data:`MIME` and :func:`render`, every asked format.

Everything but :func:`record` is a pure function of the :class:`Recording` (no Streamlit, no
torch). Every renderer takes ``progress(fraction, text)`` (:data:`Progress`), which the page
hands to ``st.progress``.

Example:
    >>> for f in (record, rasterise, render_gif, render_html, render):
    ...     print(f.__module__)
    dashboard.animation.recording
    dashboard.animation.raster
    dashboard.animation.raster
    dashboard.animation.html
    dashboard.animation.formats
"""

from __future__ import annotations

from .formats import FORMATS, MIME, render
from .html import HTML_GRID as HTML_GRID
from .html import html_figure, html_frame_count, render_html
from .raster import GAP_PX as GAP_PX
from .raster import LEVELS as LEVELS
from .raster import PANEL_PX as PANEL_PX
from .raster import TITLE_PX as TITLE_PX
from .raster import palette, rasterise, rasterise_indexed, render_gif, render_mp4
from .recording import MAX_SAMPLES as MAX_SAMPLES
from .recording import Frame, Panel, Progress, Recording, frame_count, record

__all__ = [
    "Panel",
    "Frame",
    "Recording",
    "Progress",
    "FORMATS",
    "MIME",
    "frame_count",
    "record",
    "rasterise",
    "rasterise_indexed",
    "palette",
    "render_gif",
    "render_mp4",
    "render_html",
    "html_figure",
    "html_frame_count",
    "render",
]
