"""Training as an animation: record a Playground run every few steps, render it as a GIF, an MP4
and a standalone interactive HTML.

:func:`record` trains through :meth:`dashboard.state.Playground.step` and draws through
:meth:`~dashboard.state.Playground.view` (the page's own training and views, no second loop),
keeping one :class:`Frame` per ``every`` steps: every shown model's density on the grid and its
samples. The rest are pure functions of the :class:`Recording` (no Streamlit, no torch):

* :func:`rasterise` -- one frame as an RGB array: each model's density through the figures'
  colour scale (:data:`~dashboard.figures.common.DENSITY_COLORSCALE`, normalised to the frame's
  peak as the page's colour key is), its samples as dots, the model and the step in the title;
  drawn with numpy (text with Pillow), many times faster than a plotly figure through kaleido
  per frame (the measurement is in docs/benchmarks.md);
* :func:`render_gif`, :func:`render_mp4` -- those frames encoded by imageio (Pillow's GIF
  writer, imageio-ffmpeg's H.264);
* :func:`render_html` -- a plotly figure with one plotly frame per recorded frame, a step slider
  and a play button, plotly.js embedded (works offline).

Every renderer takes ``progress(fraction, text)``, which the page hands to ``st.progress``.

Example:
    >>> import numpy as np
    >>> xs = np.linspace(-4, 4, 50)
    >>> dens = np.exp(-0.5 * (xs[None, :] ** 2 + xs[:, None] ** 2)) / (2 * np.pi)
    >>> pts = np.zeros((10, 2), np.float32)
    >>> rec = Recording("demo", (-4.0, 4.0, -4.0, 4.0), xs, xs,
    ...                 [Frame((Panel("iresnet", s, dens, pts),)) for s in (0, 10)])
    >>> rasterise(rec, 0).shape
    (368, 352, 3)
    >>> render_gif(rec)[:6]
    b'GIF89a'
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from PIL import Image, ImageDraw, ImageFont
from plotly.colors import hex_to_rgb, sample_colorscale, unlabel_rgb

from dashboard.figures.common import DENSITY_COLORSCALE, MODEL_COLORS, MODEL_LABELS, house_layout

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

#: what one callback hears: the fraction done in [0, 1] and a line for the progress bar
Progress = Callable[[float, str], None]
FORMATS = ("gif", "mp4", "html")
MIME = {"gif": "image/gif", "mp4": "video/mp4", "html": "text/html"}

PANEL_PX = 320  #: side of one model's square plot in the GIF and MP4
TITLE_PX = 32  #: the title band above each plot
GAP_PX = 16  #: white space around the plots (every size a multiple of 16: H.264's macroblocks)
HTML_GRID = 80  #: the HTML's density grid at most this fine (its frames carry every grid)
MAX_SAMPLES = 1000  #: samples drawn per model and frame


@dataclass(frozen=True)
class Panel:
    """One model at one recorded step: its density on the recording's grid and its samples.

    Attributes:
        model: ``"iresnet"`` or ``"glow"``.
        step: the model's training step.
        density: ``density[i, j] = p(xs[j], ys[i])``, float32.
        samples: ``(n, 2)`` samples through the model's inverse (may be empty).
    """

    model: str
    step: int
    density: np.ndarray
    samples: np.ndarray


@dataclass(frozen=True)
class Frame:
    """What the animation shows at one moment: one :class:`Panel` per shown model."""

    panels: tuple[Panel, ...]


@dataclass
class Recording:
    """A recorded run: the view box, the density grid's coordinates and the frames."""

    dataset: str
    bounds: tuple[float, float, float, float]
    xs: np.ndarray
    ys: np.ndarray
    frames: list[Frame] = field(default_factory=list)

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(p.model for p in self.frames[0].panels) if self.frames else ()


def _quiet(fraction: float, text: str) -> None:
    """The progress callback that tells no one."""


def frame_count(steps: int, every: int) -> int:
    """Frames in a recording of ``steps`` steps drawn every ``every``: the start, then one after
    each ``every`` steps (and one after a last, shorter stretch).

    Example:
        >>> frame_count(200, 10), frame_count(205, 10), frame_count(0, 10)
        (21, 22, 1)
    """
    if every < 1 or steps < 0:
        raise ValueError(f"need steps >= 0 and every >= 1, got {steps}, {every}")
    return 1 + math.ceil(steps / every)


def record(pg: Any, steps: int, every: int, progress: Progress | None = None) -> Recording:
    """Train ``pg``'s shown models ``steps`` more steps, keeping a :class:`Frame` at the start and
    after every ``every`` steps (:func:`frame_count` frames in all).

    ``pg`` is a :class:`dashboard.state.Playground`: training is its :meth:`step` (the page's
    trainers, step sizes and safeguards), the densities and samples its :meth:`view`. A model that
    paused itself (divergence) stays at its step; the frames go on.
    """
    progress = progress or _quiet
    total = frame_count(steps, every)
    frames = [_snapshot(pg)]
    progress(1 / total, f"recording: frame 1 of {total}")
    done = 0
    while done < steps:
        k = min(every, steps - done)
        pg.step(k)
        done += k
        frames.append(_snapshot(pg))
        progress(len(frames) / total, f"recording: frame {len(frames)} of {total}")
    view = pg.shown_runs[0].view if pg.shown_runs else None
    xs = view.xs if view is not None else np.linspace(*pg.bounds[:2], 2)
    ys = view.ys if view is not None else np.linspace(*pg.bounds[2:], 2)
    return Recording(_dataset_title(pg), tuple(float(b) for b in pg.bounds), xs, ys, frames)


def _dataset_title(pg: Any) -> str:
    from dashboard.settings import dataset_label

    name = dataset_label(pg.dataset)
    user = getattr(pg, "user_name", None)
    return f"{name} ({user})" if pg.dataset == "custom" and user else name


def _snapshot(pg: Any) -> Frame:
    panels = []
    for run in pg.shown_runs:
        v = pg.view(run)
        panels.append(
            Panel(
                run.model,
                int(run.step),
                np.asarray(v.density, dtype=np.float32),
                np.asarray(v.samples, dtype=np.float32).reshape(-1, 2)[:MAX_SAMPLES],
            )
        )
    return Frame(tuple(panels))


# ----------------------------------------------------------------------------- rasterising
LEVELS = 64  #: density colours in the GIF and MP4 (the scale's smooth gradient, in 64 steps)
_WHITE = LEVELS  # palette entries after the density levels: white, text greys, model colours
_GREYS = 16
_MODEL_INDEX = {m: LEVELS + 1 + _GREYS + i for i, m in enumerate(MODEL_COLORS)}


@lru_cache(maxsize=1)
def palette() -> np.ndarray:
    """The frames' colours, ``(n, 3)`` uint8: :data:`LEVELS` steps of the figures' colour scale
    (interpolated as plotly.js does), white, 16 greys for the titles' anti-aliased text, and the
    models' colours. One palette for every frame: a GIF need not quantise, and compresses
    better."""
    scale = sample_colorscale(DENSITY_COLORSCALE, np.linspace(0.0, 1.0, LEVELS), colortype="rgb")
    levels = np.array([unlabel_rgb(c) for c in scale], dtype=np.float64)
    greys = np.linspace(20, 255, _GREYS)[:, None].repeat(3, axis=1)
    models = np.array([hex_to_rgb(c) for c in MODEL_COLORS.values()], dtype=np.float64)
    colours = np.concatenate([levels, [[255.0, 255.0, 255.0]], greys, models])
    return colours.round().astype(np.uint8)


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _resample(z: np.ndarray, n: int) -> np.ndarray:
    """A grid ``z`` (rows = y ascending) resampled bilinearly to ``n x n``, top row first."""
    z = np.asarray(z, dtype=np.float32)[::-1]
    ny, nx = z.shape

    def axis(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = np.clip((np.arange(n) + 0.5) * m / n - 0.5, 0, m - 1)
        i0 = np.floor(t).astype(int)
        i1 = np.minimum(i0 + 1, m - 1)
        return i0, i1, (t - i0).astype(np.float32)

    r0, r1, wr = axis(ny)
    c0, c1, wc = axis(nx)
    rows = z[r0] * (1 - wr)[:, None] + z[r1] * wr[:, None]
    return rows[:, c0] * (1 - wc)[None, :] + rows[:, c1] * wc[None, :]


def _plot(panel: Panel, bounds: Sequence[float], n: int) -> np.ndarray:
    """One model's square plot as palette indices ``(n, n)``: the density, normalised to its
    peak, in :data:`LEVELS` steps of the colour scale; samples as dots of the model's colour with
    a white rim."""
    z = np.nan_to_num(np.asarray(panel.density, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(z.max()) if z.size else 0.0
    level = _resample(z / peak if peak > 0 else z * 0, n)
    img = np.clip(level * (LEVELS - 1) + 0.5, 0, LEVELS - 1).astype(np.uint8)
    s = np.asarray(panel.samples, dtype=np.float64).reshape(-1, 2)
    s = s[np.isfinite(s).all(axis=1)]
    if len(s):
        x0, x1, y0, y1 = (float(b) for b in bounds)
        col = ((s[:, 0] - x0) / (x1 - x0) * n).astype(np.int64)
        row = ((y1 - s[:, 1]) / (y1 - y0) * n).astype(np.int64)
        inside = (col >= 1) & (col < n - 2) & (row >= 1) & (row < n - 2)
        col, row = col[inside], row[inside]
        for dr in (-1, 0, 1):  # a white 3 x 3 under a 2 x 2 core of the model's colour
            for dc in (-1, 0, 1):
                img[row + dr, col + dc] = _WHITE
        core = _MODEL_INDEX.get(panel.model, _MODEL_INDEX["iresnet"])
        for dr in (0, 1):
            for dc in (0, 1):
                img[row + dr, col + dc] = core
    return img


def _round16(n: int) -> int:
    return -(-n // 16) * 16


def _canvas_size(n_panels: int, panel: int) -> tuple[int, int]:
    width = _round16(n_panels * panel + (n_panels + 1) * GAP_PX)
    height = _round16(TITLE_PX + panel + GAP_PX)
    return height, width


def rasterise_indexed(rec: Recording, index: int, *, panel: int = PANEL_PX) -> np.ndarray:
    """Frame ``index`` of ``rec`` as indices into :func:`palette`, ``(height, width)`` uint8: the
    models side by side, each titled with its name and step; both sides multiples of 16."""
    frame = rec.frames[index]
    height, width = _canvas_size(len(frame.panels), panel)
    text = Image.new("L", (width, TITLE_PX), 255)  # the titles, anti-aliased, in greys
    draw = ImageDraw.Draw(text)
    for i, p in enumerate(frame.panels):
        x = GAP_PX + i * (panel + GAP_PX)
        title = f"{MODEL_LABELS.get(p.model, p.model)} · step {p.step:,}"
        draw.text((x, TITLE_PX // 2), title, fill=0, font=_font(18), anchor="lm")
    img = np.full((height, width), _WHITE, np.uint8)
    grey = np.asarray(text, dtype=np.uint16) * (_GREYS - 1) // 255
    img[:TITLE_PX] = (LEVELS + 1 + grey).astype(np.uint8)
    img[:TITLE_PX][grey == _GREYS - 1] = _WHITE
    for i, p in enumerate(frame.panels):
        x = GAP_PX + i * (panel + GAP_PX)
        img[TITLE_PX : TITLE_PX + panel, x : x + panel] = _plot(p, rec.bounds, panel)
    return img


def rasterise(rec: Recording, index: int, *, panel: int = PANEL_PX) -> np.ndarray:
    """Frame ``index`` of ``rec`` as an RGB image ``(height, width, 3)`` uint8
    (:func:`rasterise_indexed` through :func:`palette`)."""
    return palette()[rasterise_indexed(rec, index, panel=panel)]


def _frames(
    rec: Recording, progress: Progress, what: str, panel: int, rgb: bool
) -> Iterator[np.ndarray]:
    n = len(rec.frames)
    for i in range(n):
        yield rasterise(rec, i, panel=panel) if rgb else rasterise_indexed(rec, i, panel=panel)
        progress((i + 1) / n, f"{what}: frame {i + 1} of {n}")


def render_gif(
    rec: Recording, *, fps: float = 10, panel: int = PANEL_PX, progress: Progress | None = None
) -> bytes:
    """An animated GIF of the recording (looping), written by imageio's Pillow plugin from
    palette frames (:func:`rasterise_indexed`)."""
    import imageio.v3 as iio  # here, not at the top: off the Playground's first run

    frames = np.stack(list(_frames(rec, progress or _quiet, "GIF", panel, rgb=False)))
    return iio.imwrite(
        "<bytes>",
        frames,
        extension=".gif",
        mode="P",
        palette=palette().ravel().tolist(),
        duration=1000 / fps,
        loop=0,
    )


def render_mp4(
    rec: Recording, *, fps: float = 10, panel: int = PANEL_PX, progress: Progress | None = None
) -> bytes:
    """An H.264 MP4 (yuv420p: plays in browsers and slide software), through imageio-ffmpeg."""
    import imageio.v2 as imageio_v2  # here, not at the top: off the Playground's first run

    fd, path = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    try:
        writer = imageio_v2.get_writer(
            path,
            format="FFMPEG",
            mode="I",
            fps=fps,
            codec="libx264",
            pixelformat="yuv420p",
            quality=8,
            macro_block_size=16,
            ffmpeg_log_level="error",
        )
        try:
            for img in _frames(rec, progress or _quiet, "MP4", panel, rgb=True):
                writer.append_data(img)
        finally:
            writer.close()
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)


# ---------------------------------------------------------------------------------- HTML
def _thin_grid(z: np.ndarray, xs: np.ndarray, ys: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    sy = max(1, math.ceil(len(ys) / n))
    sx = max(1, math.ceil(len(xs) / n))
    return z[::sy, ::sx], xs[::sx], ys[::sy]


def _html_traces(rec: Recording, frame: Frame, grid: int) -> list[Any]:
    traces: list[Any] = []
    for i, p in enumerate(frame.panels):
        k = "" if i == 0 else str(i + 1)
        z = np.nan_to_num(np.asarray(p.density, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        z, xs, ys = _thin_grid(z, np.asarray(rec.xs), np.asarray(rec.ys), grid)
        peak = float(z.max()) if z.size else 0.0
        # a byte per cell (the frame's peak is 255, as the page's colour key tops at its peak):
        # the frames carry every grid, and plotly sends numpy arrays as typed arrays
        level = np.clip(z / peak * 255 + 0.5, 0, 255).astype(np.uint8) if peak > 0 else z * 0
        traces.append(
            go.Heatmap(
                x=xs.astype(np.float32),
                y=ys.astype(np.float32),
                z=level.astype(np.uint8),
                zmin=0,
                zmax=255,
                zsmooth="best",
                colorscale=DENSITY_COLORSCALE,
                showscale=False,
                xaxis=f"x{k}",
                yaxis=f"y{k}",
                name=f"{MODEL_LABELS.get(p.model, p.model)} density",
                hovertemplate="x₁=%{x:.3g}<br>x₂=%{y:.3g}<br>p / peak=%{z}/255<extra></extra>",
            )
        )
        s = np.asarray(p.samples, np.float32).reshape(-1, 2)
        s = s[np.isfinite(s).all(axis=1)]
        traces.append(
            go.Scatter(
                x=s[:, 0],
                y=s[:, 1],
                mode="markers",
                xaxis=f"x{k}",
                yaxis=f"y{k}",
                name=f"{MODEL_LABELS.get(p.model, p.model)} samples",
                marker=dict(
                    size=4,
                    color=MODEL_COLORS.get(p.model, "#d62728"),
                    line=dict(width=0.5, color="white"),
                ),
                hoverinfo="skip",
            )
        )
    return traces


def _titles(frame: Frame, n: int) -> list[dict[str, Any]]:
    gap = 0.06
    w = (1.0 - gap * (n - 1)) / n
    return [
        dict(
            text=f"<b>{MODEL_LABELS.get(p.model, p.model)}</b> · step {p.step:,}",
            x=i * (w + gap) + w / 2,
            y=1.0,
            xref="paper",
            yref="paper",
            xanchor="center",
            yanchor="bottom",
            showarrow=False,
            font=dict(size=15),
        )
        for i, p in enumerate(frame.panels)
    ]


def html_figure(
    rec: Recording, *, fps: float = 10, grid: int = HTML_GRID, progress: Progress | None = None
) -> go.Figure:
    """The HTML's plotly figure: one plotly frame per recorded frame (named by its index), a step
    slider and Play / Pause buttons."""
    progress = progress or _quiet
    n = len(rec.frames[0].panels)
    gap = 0.06
    w = (1.0 - gap * (n - 1)) / n
    x0, x1, y0, y1 = rec.bounds
    layout = house_layout(title=f"Training on {rec.dataset}", height=560)
    for i in range(n):
        k = "" if i == 0 else str(i + 1)
        layout[f"xaxis{k}"] = dict(
            domain=[i * (w + gap), i * (w + gap) + w],
            anchor=f"y{k}",
            range=[x0, x1],
            constrain="domain",
            showgrid=False,
            zeroline=False,
            title=dict(text="x₁"),
        )
        layout[f"yaxis{k}"] = dict(
            anchor=f"x{k}",
            range=[y0, y1],
            scaleanchor=f"x{k}",
            constrain="domain",
            showgrid=False,
            zeroline=False,
            title=dict(text="x₂") if i == 0 else None,
        )
    frames, steps = [], []
    ms = 1000 / fps
    total = len(rec.frames)
    for idx, fr in enumerate(rec.frames):
        name = str(idx)
        frames.append(
            go.Frame(
                data=_html_traces(rec, fr, grid),
                name=name,
                layout=dict(annotations=_titles(fr, n)),
            )
        )
        label = " · ".join(f"{p.step:,}" for p in fr.panels[:1])
        steps.append(
            dict(
                method="animate",
                label=label,
                args=[
                    [name],
                    dict(
                        mode="immediate",
                        frame=dict(duration=0, redraw=True),
                        transition=dict(duration=0),
                    ),
                ],
            )
        )
        progress((idx + 1) / total, f"HTML: frame {idx + 1} of {total}")
    play = dict(
        frame=dict(duration=ms, redraw=True), transition=dict(duration=0), fromcurrent=True
    )
    pause = dict(
        frame=dict(duration=0, redraw=False), mode="immediate", transition=dict(duration=0)
    )
    layout.update(
        annotations=_titles(rec.frames[0], n),
        showlegend=False,
        margin=dict(l=50, r=20, t=70, b=110),
        plot_bgcolor="white",
        updatemenus=[
            dict(
                type="buttons",
                direction="left",
                x=0.0,
                y=-0.1,
                xanchor="left",
                yanchor="top",
                pad=dict(t=30, r=10),
                showactive=False,
                buttons=[
                    dict(label="▶ Play", method="animate", args=[None, play]),
                    dict(label="❚❚ Pause", method="animate", args=[[None], pause]),
                ],
            )
        ],
        sliders=[
            dict(
                active=0,
                x=0.18,
                len=0.82,
                y=-0.1,
                yanchor="top",
                pad=dict(t=30),
                currentvalue=dict(prefix="step ", font=dict(size=14)),
                steps=steps,
            )
        ],
    )
    return go.Figure(data=frames[0].data, layout=layout, frames=frames)


def render_html(
    rec: Recording, *, fps: float = 10, grid: int = HTML_GRID, progress: Progress | None = None
) -> bytes:
    """A standalone HTML page (plotly.js embedded): the frames, a step slider and a play button."""
    fig = html_figure(rec, fps=fps, grid=grid, progress=progress)
    html = pio.to_html(
        fig,
        include_plotlyjs=True,
        full_html=True,
        auto_play=False,
        config={"displaylogo": False, "responsive": True},
    )
    return html.encode("utf-8")


def html_frame_count(html: bytes | str) -> int:
    """The number of plotly frames in an HTML page :func:`render_html` wrote (read back from the
    JSON plotly.js is handed)."""
    text = html.decode("utf-8") if isinstance(html, bytes) else html
    at = text.index("Plotly.addFrames(")
    start = text.index("[", at)
    frames, _ = json.JSONDecoder().raw_decode(text[start:])
    return len(frames)


_RENDERERS: dict[str, Callable[..., bytes]] = {
    "gif": render_gif,
    "mp4": render_mp4,
    "html": render_html,
}


def render(
    rec: Recording,
    formats: Sequence[str] = FORMATS,
    *,
    fps: float = 10,
    progress: Progress | None = None,
) -> dict[str, bytes]:
    """Every asked format of the recording, ``{"gif": bytes, ...}``; ``progress`` hears the
    whole job's fraction (each format an equal share)."""
    progress = progress or _quiet
    formats = [f.lower() for f in formats]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown format(s) {unknown}; choose from {list(FORMATS)}")
    out: dict[str, bytes] = {}
    for i, fmt in enumerate(formats):

        def part(fraction: float, text: str, i: int = i) -> None:
            progress((i + fraction) / len(formats), text)

        out[fmt] = _RENDERERS[fmt](rec, fps=fps, progress=part)
    return out
