"""``python -m benchmarks.animation``: how the animation's frames are drawn, measured.

Two ways to turn a recorded frame (both models' densities and samples) into an image, in
alternating rounds of one process (:func:`benchmarks.common.interleaved`):

* plotly through kaleido: the HTML's frame as a figure, ``plotly.io.write_images`` in one batch
  (one Chromium session for all, as the figure pack does);
* numpy: :func:`dashboard.animation.rasterise` (the colour scale by lookup, samples as dots,
  titles with Pillow).

Then the GIF, MP4 and HTML of a 200-frame animation of the default view are written and their
sizes printed: ``--record`` frames are recorded (every ``--every`` steps) and shown in turn until
there are 200 (recording 200 frames on a shared two-core machine takes long; the slow test
``tests/dashboard/test_animation.py`` records all 200). The figures go to docs/benchmarks.md by
hand.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio

from dashboard import animation as A
from dashboard.animation.html import html_traces
from dashboard.export import chromium_path
from dashboard.state import Playground, Settings

from .common import median, setup_torch


def _kaleido_frames(rec: A.Recording, n: int) -> float:
    """Seconds per frame through kaleido, ``n`` frames in one batch (PNG, the GIF's size)."""
    full = A.html_figure(rec, grid=100)
    layout = full.layout.to_plotly_json()
    layout.pop("sliders", None)
    layout.pop("updatemenus", None)
    height, width = A.rasterise_indexed(rec, 0).shape
    figs = [
        go.Figure(data=html_traces(rec, rec.frames[i % len(rec.frames)], 100), layout=layout)
        for i in range(n)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        files = [Path(tmp) / f"{i}.png" for i in range(n)]
        t = time.perf_counter()
        pio.write_images(figs, files, width=width, height=height, scale=1)
        return (time.perf_counter() - t) / n


def _numpy_frames(rec: A.Recording, n: int) -> float:
    t = time.perf_counter()
    for i in range(n):
        A.rasterise(rec, i % len(rec.frames))
    return (time.perf_counter() - t) / n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.animation", description=__doc__)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch", type=int, default=20, help="frames per kaleido batch")
    p.add_argument("--record", type=int, default=20, help="frames recorded")
    p.add_argument("--every", type=int, default=10, help="steps between recorded frames")
    p.add_argument("--frames", type=int, default=200, help="frames of the written animation")
    a = p.parse_args(argv)
    setup_torch()
    pg = Playground(Settings())
    t = time.perf_counter()
    rec = A.record(pg, (a.record - 1) * a.every, a.every)
    took = time.perf_counter() - t
    print(f"recorded {len(rec.frames)} frames, every {a.every} steps, in {took:.1f} s", flush=True)
    rec.frames = [rec.frames[i % len(rec.frames)] for i in range(a.frames)]
    if chromium_path() is None:
        print("no Chromium: the kaleido side is left out")
    else:
        pio.defaults.default_format = "png"
        _kaleido_frames(rec, 2)  # start Chromium once before timing
        kal, num = [], []
        for r in range(a.rounds):
            pair = [("kaleido", _kaleido_frames), ("numpy", _numpy_frames)]
            for name, fn in pair if r % 2 == 0 else pair[::-1]:
                (kal if name == "kaleido" else num).append(fn(rec, a.batch))
        k, n = median(kal), median(num)
        print(f"kaleido {k * 1e3:.0f} ms/frame, numpy {n * 1e3:.1f} ms/frame: {k / n:.0f}x")
        print(f"  200 frames: kaleido {200 * k:.0f} s, numpy {200 * n:.1f} s", flush=True)
    for fmt in A.FORMATS:
        t = time.perf_counter()
        data = A.render(rec, [fmt])[fmt]
        took = time.perf_counter() - t
        print(
            f"{fmt}: {len(rec.frames)} frames, {len(data) / 1e6:.2f} MB in {took:.1f} s",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
