"""The figure of ``docs/benchmarks.md``'s fit section, ``docs/fit_vs_time.svg``.

The contract: :func:`svg_fit_plot` takes the ``fit`` section of ``docs/benchmarks.json`` (its
runs' curves, checkpoints, labels and clock) and returns the SVG text: test NLL minus entropy
(log scale) against training time, one panel per data set, one line per model (its colour
from :data:`COLORS`). A plain SVG written by hand (no browser, no plotting library), so
``make bench`` needs nothing beyond normflows; it writes no file itself.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

__all__ = ["COLORS", "svg_fit_plot"]

COLORS = {
    "iresnet": "#1f77b4",
    "glow": "#2ca02c",
    "nf_residual": "#d62728",
    "nf_residual_avg": "#ff9896",
}


def svg_fit_plot(fit: dict[str, Any], width: int = 980, height: int = 640) -> str:
    """NLL − entropy (log scale, clipped to [0.005, 5]) against training time, one panel per data
    set."""
    runs = fit.get("runs", [])
    names = list(dict.fromkeys(r["dataset"] for r in runs))
    models = list(dict.fromkeys(r["model"] for r in runs))
    labels = fit.get("labels", {})
    cols, rows_n = 2, max(1, math.ceil(len(names) / 2))
    top = 50  # two lines of legend
    pw, ph = (width - 40) / cols, (height - 40 - top) / rows_n
    tmax = max([float(c) for c in fit.get("checkpoints", [])] + [1.0])
    lo, hi = 0.005, 5.0
    axis = {"cpu": "process CPU, one torch thread"}.get(
        fit.get("clock_kind", "wall"), "wall, two torch threads"
    )

    def ly(v: float) -> float:
        return (math.log10(min(max(v, lo), hi)) - math.log10(lo)) / (
            math.log10(hi) - math.log10(lo)
        )

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    for i, name in enumerate(names):
        x0, y0 = 20 + (i % cols) * pw + 50, top + (i // cols) * ph + 20
        w, h = pw - 70, ph - 60
        out.append(
            f'<text x="{x0 + w / 2}" y="{y0 - 6}" text-anchor="middle" '
            f'font-weight="bold">{escape(name)}</text>'
        )
        out.append(f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#888"/>')
        for tick in (0.01, 0.02, 0.05, 0.1, 0.15, 0.5, 1.0, 2.0, 5.0):
            yy = y0 + h * (1 - ly(tick))
            out.append(
                f'<line x1="{x0}" x2="{x0 + w}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#eee"/>'
            )
            out.append(
                f'<text x="{x0 - 4}" y="{yy + 4:.1f}" text-anchor="end" '
                f'fill="#555">{tick:g}</text>'
            )
        nt = 6
        for k in range(nt + 1):
            t = tmax * k / nt
            xx = x0 + w * k / nt
            out.append(
                f'<text x="{xx:.1f}" y="{y0 + h + 14}" text-anchor="middle" '
                f'fill="#555">{t:.0f}</text>'
            )
        out.append(
            f'<text x="{x0 + w / 2}" y="{y0 + h + 30}" text-anchor="middle" fill="#333">training '
            f"time (s; {axis})</text>"
        )
        out.append(
            f'<text x="{x0 - 38}" y="{y0 + h / 2}" text-anchor="middle" fill="#333" '
            f'transform="rotate(-90 {x0 - 38} {y0 + h / 2})">test NLL − entropy (nats)</text>'
        )
        for r in runs:
            if r["dataset"] != name:
                continue
            pts = [
                (x0 + w * min(t, tmax) / tmax, y0 + h * (1 - ly(e)))
                for t, e in zip(r["curve"]["t"], r["curve"]["excess"])
                if e is not None and math.isfinite(e)
            ]
            if pts:
                d = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
                dash = ' stroke-dasharray="5,3"' if r["model"] == "nf_residual_avg" else ""
                out.append(
                    f'<polyline points="{d}" fill="none" '
                    f'stroke="{COLORS.get(r["model"], "#000")}" stroke-width="1.8"{dash}/>'
                )
    lx, ly0 = 70, 14
    for m in models:
        txt = escape(labels.get(m, m))
        if lx > 70 and lx + 40 + 7 * len(txt) > width:  # the legend's second line
            lx, ly0 = 70, ly0 + 20
        dash = ' stroke-dasharray="5,3"' if m == "nf_residual_avg" else ""
        out.append(
            f'<line x1="{lx}" x2="{lx + 24}" y1="{ly0}" y2="{ly0}" '
            f'stroke="{COLORS.get(m, "#000")}" stroke-width="3"{dash}/>'
        )
        out.append(f'<text x="{lx + 30}" y="{ly0 + 4}">{txt}</text>')
        lx += 40 + 7 * len(txt)
    out.append("</svg>")
    return "\n".join(out)
