"""Live training: how many steps a playing Playground trains per second of Play, in a real browser.

The trainer's own rate (the throughput section) is an upper bound; what a person sees in a talk is
the rate of the whole loop: a time-budgeted burst per 0.1 s tick, the redraw, Streamlit and the
browser. ``streamlit run streamlit_app.py`` (with the repository's ``.streamlit/config.toml``)
serves one headless Debian Chromium page per row (Playwright, never a downloaded browser), started
from scratch (``pretrained=false``) at the default settings; Play is pressed and the page's step
counter read at the start and the end of a window that begins a few seconds after Play. The ratio
to the trainer's own rate (:func:`trainer_rates`: the same models at the same settings, outside the
app) says how much of the time goes to training. Skipped, with the reason, where Chromium or
Playwright is missing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from iresnet_core.training.threads import torch_threads

from .common import median

__all__ = ["ROWS", "run", "trainer_rates"]

WARMUP_S = 5.0

#: (data set, models shown, the models' counters in page order): one page each.
ROWS = [
    ("8gaussians", "i-ResNet", ("i-ResNet",)),
    ("checkerboard", "i-ResNet", ("i-ResNet",)),
    ("8gaussians", "Both", ("i-ResNet", "Glow")),
]


def trainer_rates(steps: int = 20, blocks: int = 5) -> dict[str, float]:
    """Steps per second of each Playground model's own trainer, outside the app: the trainers of a
    ``dashboard.state.Playground`` at the default settings from scratch (the page's own objects, no
    server, no browser), on ``TRAIN_THREADS`` torch threads as its bursts run; the median of
    ``blocks`` blocks of ``steps`` steps after one block of warm-up."""
    from dashboard.settings import Settings
    from dashboard.state import Playground
    from dashboard.views.playground import TRAIN_THREADS

    pg = Playground(Settings(pretrained=False, models="both"))
    out = {}
    with torch_threads(TRAIN_THREADS):
        for model, name in (("iresnet", "i-ResNet"), ("glow", "Glow")):
            tr = pg.runs[model].trainer
            tr.step(steps)  # ActNorm's data initialisation, the first allocations
            rates = []
            for _ in range(blocks):
                t = time.perf_counter()
                tr.step(steps)
                rates.append(steps / (time.perf_counter() - t))
            out[name] = median(rates)
    return out


def run(quick: bool = False, log=print) -> dict[str, Any]:
    from .app_server import start_server, stop_server
    from .pages import CHROMIUM, CHROMIUM_ARGS, press_play, steps_of, wait_ready

    seconds = 10.0 if quick else 30.0
    if not Path(CHROMIUM).exists():
        return {"rows": [], "window_s": seconds, "skipped": f"no {CHROMIUM}"}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"rows": [], "window_s": seconds, "skipped": "playwright is not installed"}
    own = trainer_rates(
        blocks=2 if quick else 5
    )  # before the server starts: the machine to itself
    log(
        "  the trainers alone: "
        + ", ".join(f"{n} {r:.1f}" for n, r in own.items())
        + " steps per second"
    )
    rows = []
    proc, url = start_server()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for dataset, models, names in ROWS:
                page = browser.new_page(viewport={"width": 1600, "height": 1300})
                page.goto(
                    f"{url}/?dataset={dataset}&models={quote(models)}&pretrained=false",
                    wait_until="domcontentloaded",
                )
                wait_ready(page, n_charts=1)
                press_play(page)
                time.sleep(WARMUP_S)  # the first ticks build the models and the figures
                s0, t0 = steps_of(page), time.perf_counter()
                time.sleep(seconds)
                s1, t1 = steps_of(page), time.perf_counter()
                page.close()
                if len(s0) != len(names) or len(s1) != len(names):
                    raise RuntimeError(
                        f"{dataset} ({models}): expected counters for {names}, read {s0} and {s1}"
                    )
                per_model = {n: (b - a) / (t1 - t0) for n, a, b in zip(names, s0, s1)}
                row = {
                    "dataset": dataset,
                    "models": models,
                    "window_s": t1 - t0,
                    "steps_start": s0,
                    "steps_end": s1,
                    "steps_per_s": per_model,
                }
                log(
                    f"  {dataset} ({models}): "
                    + ", ".join(f"{n} {r:.1f}" for n, r in per_model.items())
                    + " steps per second of Play"
                )
                rows.append(row)
            browser.close()
    finally:
        stop_server(proc)
    from dashboard.settings import Settings

    return {
        "rows": rows,
        "window_s": seconds,
        "warmup_s": WARMUP_S,
        "trainer_rates": own,
        "budget": Settings().budget,
    }
