"""Which files a recording renders to, and :func:`render`, which makes the ones asked for.

:data:`FORMATS` are ``gif``, ``mp4`` (:mod:`.raster`) and ``html`` (:mod:`.html`), and
:data:`MIME` their media types (the page's download buttons); :func:`render` calls each asked
format's renderer in turn and scales its ``progress`` to an equal share of the whole job.

Example:
    >>> import numpy as np
    >>> from dashboard.animation.recording import Frame, Panel
    >>> xs = np.linspace(-4, 4, 20)
    >>> dens = np.exp(-0.5 * (xs[None, :] ** 2 + xs[:, None] ** 2)).astype(np.float32)
    >>> rec = Recording("demo", (-4.0, 4.0, -4.0, 4.0), xs, xs,
    ...                 [Frame((Panel("glow", s, dens, np.zeros((0, 2))),)) for s in (0, 5)])
    >>> heard = []
    >>> files = render(rec, ["GIF"], progress=lambda f, text: heard.append(text))
    >>> list(files), files["gif"][:6], MIME["gif"], heard[-1]
    (['gif'], b'GIF89a', 'image/gif', 'GIF: frame 2 of 2')
    >>> render(rec, ["avi"])
    Traceback (most recent call last):
    ...
    ValueError: unknown format(s) ['avi']; choose from ['gif', 'mp4', 'html']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .html import render_html
from .raster import render_gif, render_mp4
from .recording import Progress, Recording, quiet

__all__ = ["FORMATS", "MIME", "render"]

FORMATS = ("gif", "mp4", "html")
MIME = {"gif": "image/gif", "mp4": "video/mp4", "html": "text/html"}

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
    progress = progress or quiet
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
