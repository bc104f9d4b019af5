"""Figure packs: standalone HTML, PNG/SVG/PDF (kaleido), the CSV behind each chart, the config
JSON, a ZIP.

No Streamlit import. Static images go through kaleido 1.x, which drives a Chromium through
choreographer; Debian's ``/usr/bin/chromium`` is used when nothing else is configured. Without a
Chromium the pack still holds HTML, CSV and JSON, plus a ``NOTE.txt`` that says why images are
missing.

CLI (draws with the same figure functions as the page)::

    python -m dashboard.export --dataset 8gaussians --out out/8gaussians
    python -m dashboard.export --dataset moons --model iresnet --steps 500 --formats png,svg --zip
    python -m dashboard.export --figure2 --from-checkpoints --out out/figure2   # PNG, SVG, PDF
    python -m dashboard.export --figure2 --steps 3000 --sets 8gaussians,rings --out out/fig2

and, with ``--animate``, training as an animation (:mod:`dashboard.animation`): the next
``--steps`` steps drawn every ``--every`` as ``training.gif``, ``training.mp4``,
``training.html``::

    python -m dashboard.export --animate --dataset moons --steps 2000 --every 10 --out out/anim

Example:
    >>> from dashboard.figures.common import Chart
    >>> import plotly.graph_objects as go
    >>> pack = figure_pack([Chart("demo", "Demo", go.Figure())], {"k": 1}, image_formats=())
    >>> pack[:2]
    b'PK'
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import plotly.io as pio

from .figures.common import Chart

__all__ = [
    "chromium_path",
    "chart_html",
    "render_images",
    "figure_pack",
    "write_pack",
    "figure2_images",
    "write_figure2",
    "main",
]

_CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def chromium_path() -> str | None:
    """The browser kaleido will use: ``$BROWSER_PATH``, else a Debian/Ubuntu Chromium, else
    ``None``."""
    env = os.environ.get("BROWSER_PATH")
    if env and os.access(env, os.X_OK):
        return env
    for p in _CHROMIUM_CANDIDATES:
        if os.access(p, os.X_OK):
            return p
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def chart_html(chart: Chart, *, include_plotlyjs: bool | str = True) -> str:
    """A standalone HTML page of the chart (plotly.js embedded, so it works offline)."""
    return pio.to_html(
        chart.figure,
        include_plotlyjs=include_plotlyjs,
        full_html=True,
        config={
            "displaylogo": False,
            "toImageButtonOptions": {"format": "png", "filename": chart.slug, "scale": 2},
        },
    )


def render_images(
    charts: Sequence[Chart],
    formats: Iterable[str] = ("png", "pdf"),
    *,
    scale: float = 2,
    width: int = 700,
    height: int | None = None,
) -> tuple[dict[str, bytes], str | None]:
    """Static images of the charts in one kaleido session.

    Returns ``({"<slug>.<fmt>": bytes}, note)``; ``note`` says why images are missing (no
    Chromium, kaleido failure), ``None`` when all were made.
    """
    formats = [f.lower() for f in formats]
    if not formats or not charts:
        return {}, None
    browser = chromium_path()
    if browser is None:
        return {}, (
            "No Chromium found (set BROWSER_PATH or install chromium): "
            "static images (PNG/PDF/SVG) were left out; the HTML files render in any browser."
        )
    os.environ.setdefault("BROWSER_PATH", browser)
    out: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        figs, files = [], []
        for ch in charts:
            for fmt in formats:
                figs.append(ch.figure)
                files.append(Path(tmp) / f"{ch.slug}.{fmt}")
        try:
            heights = [height or ch.figure.layout.height or 450 for ch in charts for _ in formats]
            pio.write_images(figs, files, scale=scale, width=width, height=heights)
        except Exception as e:  # kaleido/Chromium trouble must not lose the rest of the pack
            return (
                {},
                f"Static images failed ({type(e).__name__}: {e}); HTML, CSV and JSON are "
                f"complete.",
            )
        for f in files:
            if f.exists():
                out[f.name] = f.read_bytes()
    missing = len(files) - len(out)
    return out, (f"{missing} image(s) could not be written." if missing else None)


def figure_pack(
    charts: Sequence[Chart],
    config: dict[str, Any] | None = None,
    *,
    image_formats: Iterable[str] = ("png", "pdf"),
    scale: float = 2,
) -> bytes:
    """A ZIP: ``html/<slug>.html``, ``csv/<slug>.csv``, ``png/…``/``pdf/…`` when possible,
    ``config.json``."""
    buf = io.BytesIO()
    images, note = render_images(charts, image_formats, scale=scale)
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for ch in charts:
            z.writestr(f"html/{ch.slug}.html", chart_html(ch))
            z.writestr(f"csv/{ch.slug}.csv", ch.csv())
        for name, data in images.items():
            z.writestr(f"{name.rsplit('.', 1)[-1]}/{name}", data)
        z.writestr("config.json", json.dumps(config or {}, indent=2, default=str))
        if note:
            z.writestr("NOTE.txt", note + "\n")
    return buf.getvalue()


def write_pack(
    charts: Sequence[Chart],
    config: dict[str, Any] | None,
    out: str | Path,
    *,
    image_formats: Iterable[str] = ("png", "pdf"),
    scale: float = 2,
    make_zip: bool = False,
) -> list[Path]:
    """Write the pack's files under ``out`` (and ``out/figure-pack.zip`` with ``make_zip``)."""
    out = Path(out)
    written: list[Path] = []
    for sub in ("html", "csv"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for ch in charts:
        p = out / "html" / f"{ch.slug}.html"
        p.write_text(chart_html(ch), encoding="utf-8")
        written.append(p)
        p = out / "csv" / f"{ch.slug}.csv"
        p.write_text(ch.csv(), encoding="utf-8")
        written.append(p)
    images, note = render_images(charts, image_formats, scale=scale)
    for name, data in images.items():
        d = out / name.rsplit(".", 1)[-1]
        d.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(data)
        written.append(d / name)
    p = out / "config.json"
    p.write_text(json.dumps(config or {}, indent=2, default=str), encoding="utf-8")
    written.append(p)
    if note:
        (out / "NOTE.txt").write_text(note + "\n", encoding="utf-8")
        written.append(out / "NOTE.txt")
        print(f"note: {note}", file=sys.stderr)
    if make_zip:
        p = out / "figure-pack.zip"
        with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for f in written:
                z.write(f, f.relative_to(out))
        written.append(p)
    return written


FIGURE2_FORMATS = ("png", "svg", "pdf")


def figure2_images(
    chart: Chart, formats: Iterable[str] = FIGURE2_FORMATS, *, scale: float = 2
) -> tuple[dict[str, bytes], str | None]:
    """Figure 2 (:func:`dashboard.figures.figure2.figure2_chart`) as static images at its own
    size: ``({"figure2.png": bytes, ...}, note)`` as :func:`render_images` returns them."""
    layout = chart.figure.layout
    return render_images(
        [chart], formats, scale=scale, width=layout.width or 860, height=layout.height
    )


def write_figure2(
    chart: Chart,
    out: str | Path,
    *,
    formats: Iterable[str] = FIGURE2_FORMATS,
    scale: float = 2,
    config: dict[str, Any] | None = None,
) -> list[Path]:
    """Write ``figure2.<fmt>`` for each of ``formats`` (when a Chromium is found; else a
    ``NOTE.txt`` says why), ``figure2.html``, ``figure2.csv`` (the titles' numbers) and
    ``config.json`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (
        (f"{chart.slug}.html", chart_html(chart)),
        (f"{chart.slug}.csv", chart.csv()),
        ("config.json", json.dumps(config or {}, indent=2, default=str)),
    ):
        (out / name).write_text(text, encoding="utf-8")
        written.append(out / name)
    images, note = figure2_images(chart, formats, scale=scale)
    for name, data in images.items():
        (out / name).write_bytes(data)
        written.append(out / name)
    if note:
        (out / "NOTE.txt").write_text(note + "\n", encoding="utf-8")
        written.append(out / "NOTE.txt")
        print(f"note: {note}", file=sys.stderr)
    return written


def _figure2_main(a: argparse.Namespace) -> int:
    """``--figure2``: the paper's Figure 2 from the checkpoints, or from fresh runs of
    ``--steps`` steps each."""
    import iresnet_core as ic

    from .figure2_data import rows_from_checkpoints, rows_from_training
    from .figures.figure2 import figure2_chart

    steps = a.steps or 0  # (--steps is None unless given: --animate has its own default)
    sets = [s for s in (a.sets or ",".join(ic.datasets.NAMES)).split(",") if s]
    bad = sorted(set(sets) - set(ic.datasets.NAMES))
    if bad or (a.from_checkpoints and steps > 0):
        why = (
            f"unknown toy sets {bad}; choose from {list(ic.datasets.NAMES)}"
            if bad
            else "--from-checkpoints and --steps exclude each other"
        )
        print(f"error: {why}", file=sys.stderr)
        return 2
    if steps > 0:

        def progress(name: str, model: str, step: int) -> None:
            print(f"{name} {model}: {step:,} / {steps:,} steps", file=sys.stderr)

        rows = rows_from_training(sets, steps=steps, grid=a.grid, progress=progress)
        source = {"source": "fresh runs", "steps": steps}
    else:
        rows = rows_from_checkpoints(sets, root=Path(a.checkpoints), grid=a.grid)
        source = {"source": "checkpoints", "root": a.checkpoints}
    formats = [f for f in (a.formats if a.formats is not None else "png,svg,pdf").split(",") if f]
    chart = figure2_chart(rows)
    for f in write_figure2(
        chart, a.out, formats=formats, scale=a.scale, config={**source, "datasets": sets}
    ):
        print(f)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dashboard.export``: the Playground's figures for a dataset, from a checkpoint or
    fresh."""
    from .charts import playground_charts_of
    from .state import CHECKPOINT_DIR, Playground, Settings

    ap = argparse.ArgumentParser(
        prog="python -m dashboard.export", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--dataset", default="8gaussians")
    ap.add_argument("--model", default="both", choices=["both", "iresnet", "glow"])
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument(
        "--steps",
        type=int,
        default=None,
        help="train this many steps before drawing (with --animate: the steps recorded, "
        "default 200)",
    )
    ap.add_argument(
        "--animate",
        action="store_true",
        help="record the training as an animation (GIF, MP4, HTML) instead of a figure pack",
    )
    ap.add_argument(
        "--every", type=int, default=None, help="with --animate: a frame every this many steps"
    )
    ap.add_argument("--fps", type=float, default=10, help="with --animate: frames per second")
    ap.add_argument("--scratch", action="store_true", help="ignore the pre-trained checkpoints")
    ap.add_argument(
        "--checkpoints", default=str(CHECKPOINT_DIR), help="root of <dataset>/<model>/ checkpoints"
    )
    ap.add_argument(
        "--c", type=float, default=None, help="Lipschitz coefficient (default: the page's)"
    )
    ap.add_argument(
        "--blocks", type=int, default=None, help="i-ResNet blocks (default: the page's)"
    )
    ap.add_argument("--width", type=int, default=None, help="hidden width (default: the page's)")
    ap.add_argument("--grid", type=int, default=200, help="density grid resolution")
    ap.add_argument(
        "--layers", default="density,contours", help="comma list of density,contours,data,samples"
    )
    ap.add_argument(
        "--formats",
        default=None,
        help="comma list of png,svg,pdf ('' for none; default png,pdf, with --figure2 all "
        "three); with --animate of gif,mp4,html (default all three)",
    )
    ap.add_argument("--scale", type=float, default=2)
    ap.add_argument("--zip", action="store_true", help="also write figure-pack.zip")
    ap.add_argument("--presentation", action="store_true", help="big fonts")
    fig2 = ap.add_argument_group("Figure 2 (the paper's: a row per toy set; data, Glow, i-ResNet)")
    fig2.add_argument("--figure2", action="store_true", help="write Figure 2 instead of a pack")
    fig2.add_argument(
        "--from-checkpoints",
        action="store_true",
        help="from the pre-trained checkpoints (the default; --steps N trains fresh runs instead)",
    )
    fig2.add_argument("--sets", default=None, help="comma list of toy sets (default: all)")
    a = ap.parse_args(argv)
    if a.figure2:
        return _figure2_main(a)
    a.formats = "png,pdf" if a.formats is None else a.formats
    kw: dict[str, Any] = dict(
        dataset=a.dataset, models=a.model, grid=a.grid, pretrained=not a.scratch
    )
    for name in ("c", "blocks", "width"):
        if getattr(a, name) is not None:
            kw[name] = getattr(a, name)
    try:
        pg = Playground(Settings(**kw), checkpoint_root=Path(a.checkpoints))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for run in pg.shown_runs:
        print(f"{run.model}: {run.origin} ({run.parameters:,} parameters)", file=sys.stderr)
    if a.animate:
        return _animate(pg, a)
    if a.every is not None:
        ap.error("--every goes with --animate")
    if a.steps:
        pg.step(a.steps)
    charts = playground_charts_of(
        pg, layers=tuple(x for x in a.layers.split(",") if x), presentation=a.presentation
    )
    files = write_pack(
        charts,
        pg.config_json(),
        a.out,
        image_formats=[f for f in ("png,pdf" if a.formats is None else a.formats).split(",") if f],
        scale=a.scale,
        make_zip=a.zip,
    )
    for f in files:
        print(f)
    return 0


def _animate(pg: Any, a: argparse.Namespace) -> int:
    """``--animate``: record the next steps and write ``training.<format>`` under ``--out``."""
    from . import animation

    steps = 200 if a.steps is None else a.steps
    every = a.every or max(1, steps // 100)
    formats = [f for f in (a.formats or ",".join(animation.FORMATS)).split(",") if f]
    bad = sorted(set(formats) - set(animation.FORMATS))
    if bad or not formats or steps < 1 or every < 1:
        print(
            f"error: --animate needs --steps >= 1, --every >= 1 and formats among "
            f"{','.join(animation.FORMATS)} (got {a.formats!r})",
            file=sys.stderr,
        )
        return 2
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    n = animation.frame_count(steps, every)
    print(f"recording {steps} steps, a frame every {every}: {n} frames", file=sys.stderr)
    bar = _text_progress()
    rec = animation.record(pg, steps, every, progress=bar)
    files = animation.render(rec, formats, fps=a.fps, progress=bar)
    print(file=sys.stderr)
    for fmt, data in files.items():
        p = out / f"training.{fmt}"
        p.write_bytes(data)
        print(p)
    return 0


def _text_progress() -> Any:
    """A progress callback that rewrites one line of stderr (at most every whole percent)."""
    last = [-1]

    def show(fraction: float, text: str) -> None:
        pct = int(100 * fraction)
        if pct != last[0]:
            last[0] = pct
            print(f"\r{pct:3d}%  {text:<40}", end="", file=sys.stderr, flush=True)

    return show


if __name__ == "__main__":
    raise SystemExit(main())
