"""A recording's frames as pictures, and the GIF and MP4 made of them (no Streamlit, no torch).

* :func:`rasterise_indexed` -- one frame of a :class:`~.recording.Recording` as indices into
  :func:`palette`: each model's density through the figures' colour scale
  (:data:`~dashboard.figures.common.DENSITY_COLORSCALE`, normalised to the frame's peak as the
  page's colour key is, in :data:`LEVELS` steps), its samples as dots, the model and the step in
  the title; every side a multiple of 16 (H.264's macroblocks). Drawn with numpy (text with
  Pillow), many times faster than a plotly figure through kaleido per frame (the measurement is
  in docs/benchmarks.md); :func:`rasterise` is the same frame in RGB;
* :func:`render_gif`, :func:`render_mp4` -- those frames encoded by imageio (Pillow's GIF
  writer, imageio-ffmpeg's H.264), imported when first asked for, not with this module.

Both renderers take ``progress(fraction, text)`` (a :data:`~.recording.Progress`).

Example:
    >>> import numpy as np
    >>> from dashboard.animation.recording import Frame
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

import os
import tempfile
from collections.abc import Iterator, Sequence
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from plotly.colors import hex_to_rgb, sample_colorscale, unlabel_rgb

from dashboard.figures.common import DENSITY_COLORSCALE, MODEL_COLORS, MODEL_LABELS

from .recording import Panel, Progress, Recording, quiet

__all__ = [
    "PANEL_PX",
    "TITLE_PX",
    "GAP_PX",
    "LEVELS",
    "palette",
    "rasterise_indexed",
    "rasterise",
    "render_gif",
    "render_mp4",
]

PANEL_PX = 320  #: side of one model's square plot in the GIF and MP4
TITLE_PX = 32  #: the title band above each plot
GAP_PX = 16  #: white space around the plots (every size a multiple of 16: H.264's macroblocks)
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

    frames = np.stack(list(_frames(rec, progress or quiet, "GIF", panel, rgb=False)))
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
            for img in _frames(rec, progress or quiet, "MP4", panel, rgb=True):
                writer.append_data(img)
        finally:
            writer.close()
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)
