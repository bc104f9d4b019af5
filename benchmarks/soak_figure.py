"""The soak's figure, ``docs/soak_rss.svg``: the server's memory over the run.

The contract: :func:`svg_plot` takes the samples (:class:`benchmarks.soak_stats.Sample`), the
warm-up and the tour passes' (start, end) in seconds, and returns the SVG text: RSS (MB) against
minutes, the warm-up and the tour passes shaded. A plain SVG written by hand (no browser, no
plotting library); the same samples give the same bytes. It writes no file itself.

Example:
    >>> samples = [Sample(60.0 * m, mb, 20) for m, mb in enumerate([300, 340, 350, 352])]
    >>> svg = svg_plot(samples, 120, bands=[(60, 90)])
    >>> svg.startswith("<svg"), svg.count("<rect"), "shaded: tour passes" in svg
    (True, 3, True)
"""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.soak_stats import Sample

__all__ = ["svg_plot"]


def svg_plot(
    samples: list[Sample],
    warmup_s: float,
    width: int = 720,
    height: int = 320,
    bands: Sequence[tuple[float, float]] = (),
) -> str:
    """RSS over time as a small standalone SVG (no plotting dependency); ``bands`` (start, end in
    seconds) are shaded: the tour passes."""
    ml, mr, mt, mb = 60, 20, 30, 45
    xs = [s.t_s / 60 for s in samples]
    ys = [s.rss_mb for s in samples]
    x1 = max(xs[-1], 1e-9)
    lo, hi = min(ys), max(ys)
    pad = max(10.0, (hi - lo) * 0.15)
    y0, y1 = max(0.0, lo - pad), hi + pad

    def px(x: float) -> float:
        return ml + (width - ml - mr) * min(x, x1) / x1

    def py(y: float) -> float:
        return height - mb - (height - mt - mb) * (y - y0) / (y1 - y0)

    pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14">'
        "Server RSS while the Playground trains in headless Chromium</text>",
    ]
    if warmup_s > 0:
        out.append(
            f'<rect x="{ml}" y="{mt}" width="{px(min(warmup_s / 60, x1)) - ml:.1f}" '
            f'height="{height - mt - mb}" fill="#eee"/>'
        )
        out.append(f'<text x="{ml + 4}" y="{mt + 14}" fill="#777">warm-up</text>')
    for a, b in bands:
        out.append(
            f'<rect x="{px(a / 60):.1f}" y="{mt}" width="{max(1.0, px(b / 60) - px(a / 60)):.1f}" '
            f'height="{height - mt - mb}" fill="#fdd9b5" opacity="0.7"/>'
        )
    if bands:
        out.append(
            f'<text x="{width - mr - 4}" y="{mt + 14}" text-anchor="end" fill="#b8651b">'
            "shaded: tour passes</text>"
        )
    for i in range(6):  # y grid
        y = y0 + (y1 - y0) * i / 5
        out.append(
            f'<line x1="{ml}" x2="{width - mr}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#ddd"/>'
        )
        out.append(f'<text x="{ml - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:.0f}</text>')
    for i in range(6):  # x ticks
        x = x1 * i / 5
        out.append(
            f'<text x="{px(x):.1f}" y="{height - mb + 18}" text-anchor="middle">'
            f"{x:.{0 if x1 >= 10 else 1}f}</text>"
        )
    out.append(
        f'<text x="{(ml + width - mr) / 2}" y="{height - 8}" text-anchor="middle">minutes</text>'
    )
    out.append(
        f'<text x="14" y="{(mt + height - mb) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {(mt + height - mb) / 2})">RSS (MB)</text>'
    )
    out.append(f'<polyline points="{pts}" fill="none" stroke="#1f77b4" stroke-width="2"/>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
