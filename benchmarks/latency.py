"""Latency of the dashboard's computations at their default settings, medians of repeats.

The default flow (``ic.FlowConfig()``: 32 blocks of 2-32-32-2, c = 0.9), loaded from the 8gaussians
checkpoint when
one is there (what a person sees first) and otherwise trained for a few steps:

* a 200 x 200 density grid (``ic.analysis.density_grid``), i-ResNet and Glow, the i-ResNet's also
  through torch alone (``native=False``) beside its fused kernel;
* 1000 samples through the fixed-point inverse, also with every block iterating in torch beside the
  C engine's;
* inverse curves for 5 values of c (``ic.analysis.inverse_curves``, 256 points, 50 iterations);
* the truncation curve for N = 1..20 (``ic.analysis.truncation_curve``, 500 points, 64 draws);
* reading the largest CSV upload accepted (``ic.datasets.load_csv``, a million rows);
* one training burst (``Playground.tick()`` at the "normal" speed: 0.25 s per model, two models);
* the full Playground rerun: a tick plus the redraw (``dashboard.charts.playground_charts_of``:
  density grid, 1000 samples through the inverse, the plotly figures), when ``dashboard`` imports;
* the longest stall of the process's other threads while the Playground trains and redraws, the
  heap frozen as the app freezes it;
* a slider moved on each analysis page (DESIGN's budget: "recomputes and draws in well under
  300 ms"): the page run by Streamlit's ``AppTest`` (the script run a person waits for, less the
  browser's drawing), the slider moved to a value the page has not seen, one after another.

Two torch threads in the main thread (the issue's setting; the best case on this two-core machine;
one where the machine is oversubscribed, as the throughput and fit sections decide);
the app itself runs its computations in Streamlit's threads on one torch thread
(``dashboard/runtime.py``), and two rows measure the Playground's redraw parts that way; each
figure is the wall time a person waits (median and fastest of the repeats) with the calling
thread's CPU time beside it. A training burst is time-budgeted, so only its wall time means
anything.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import numpy as np
import torch

import iresnet_core as ic
from iresnet_core.flows.iresnet import InvertibleResidualBlock
from iresnet_core.training.threads import torch_threads

from .common import MAX_LOAD_PER_CORE, THREADS, load_avg, median

__all__ = ["run"]


def _in_app_thread(fn) -> None:
    """``fn`` where the app runs it: in a thread of its own, on the app's torch threads (wall time
    of the thread; the CPU column then counts only the waiting caller)."""
    from dashboard.runtime import use_app_threads

    err: list[BaseException] = []

    def run() -> None:
        try:
            use_app_threads()
            fn()
        except BaseException as e:  # reported by the caller's row
            err.append(e)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if err:
        raise err[0]


def _torch_samples(flow: ic.Flow, n: int) -> None:
    """``ic.analysis.samples(flow, n)`` with every block's fixed-point iteration in torch."""
    x = torch.randn(n, flow.dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for layer in reversed(flow.layers):
            if isinstance(layer, InvertibleResidualBlock):
                x, _ = layer.inverse(x, max_iter=100, tol=1e-6, native=False)
            else:
                x, _ = layer.inverse(x)


def _time(fn, repeats: int) -> dict[str, Any]:
    """Wall time and this thread's CPU time (the computation on an idle core), medians."""
    fn()  # warm-up
    ts, cs = [], []
    for _ in range(repeats):
        c0, t0 = time.thread_time(), time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
        cs.append(time.thread_time() - c0)
    return {
        "median_ms": 1e3 * median(ts),
        "min_ms": 1e3 * min(ts),
        "cpu_ms": 1e3 * median(cs),
        "repeats": repeats,
    }


def _default_flow(model: str = "iresnet"):
    cfg = ic.FlowConfig() if model == "iresnet" else ic.match_glow(ic.FlowConfig())
    try:
        from dashboard.checkpoints import checkpoint_dir

        d = checkpoint_dir("8gaussians", model)
        if (d / "model.safetensors").is_file():
            flow = ic.load(d)
            if flow.cfg == cfg:
                return flow, "8gaussians checkpoint"
    except Exception:
        pass
    flow = ic.build_flow(cfg)
    ic.Trainer(flow, ic.datasets.sample("8gaussians", 4000, seed=0), seed=0).step(20)
    return flow, "fresh, 20 steps"


def run(quick: bool = False, log=print) -> dict[str, Any]:
    """Two torch threads in the main thread (one where the machine is oversubscribed, see
    ``common.MAX_LOAD_PER_CORE``); wall time and the calling thread's CPU time."""
    load, cores = load_avg()[0], os.cpu_count() or 1
    threads = THREADS if load < MAX_LOAD_PER_CORE * cores else 1
    log(f"  {threads} torch thread(s) (load average {load:g} on {cores} cores)")
    with torch_threads(threads):
        out = _run(quick, log)
    return {**out, "threads": threads, "load_avg_at_start": [load]}


def _playground_grid() -> int:
    """The density grid a person gets in the Playground (its default setting), 100 without the
    dashboard."""
    try:
        from dashboard.settings import Settings
    except Exception:
        return 100
    return int(Settings().grid)


def _run(quick: bool, log) -> dict[str, Any]:
    repeats = 3 if quick else 7
    rows: list[dict[str, Any]] = []
    flow, origin = _default_flow("iresnet")
    glow, gorigin = _default_flow("glow")
    bounds = ic.datasets.bounds("8gaussians")
    pts = ic.datasets.sample("8gaussians", 500, seed=1)

    def add(name: str, fn, note: str = "", reps: int = repeats) -> None:
        try:
            r = _time(fn, reps)
        except Exception as e:  # a computation that fails is reported, not hidden
            r = {
                "median_ms": float("nan"),
                "min_ms": float("nan"),
                "repeats": 0,
                "error": f"{type(e).__name__}: {e}",
            }
        r.update(name=name, note=note)
        log(
            f"  {name}: {r['median_ms']:.1f} ms wall, {r.get('cpu_ms', float('nan')):.1f} ms CPU"
            + (f"  ({r['error']})" if "error" in r else "")
        )
        rows.append(r)

    native = ic.kernels.native

    def path(f) -> str:
        """Which way ``density_grid`` takes for ``f``: the C engine's density kernel or torch (and
        why)."""
        if native.pack(f.layers) is not None:
            return "the C engine (iresnet_core/kernels/density2d.c)"
        return f"torch (the C engine: {native.unavailable_reason() or 'not for this flow'})"

    add(
        "density grid 200x200, i-ResNet",
        lambda: ic.analysis.density_grid(flow, bounds, n=200),
        f"{origin}; {path(flow)}",
    )
    add(
        "density grid 200x200, i-ResNet, torch path",
        lambda: ic.analysis.density_grid(flow, bounds, n=200, native=False),
        "the same grid without the fused kernel: the peer of the row above",
    )
    add(
        "density grid 200x200, Glow",
        lambda: ic.analysis.density_grid(glow, bounds, n=200),
        f"{gorigin}; {path(glow)}",
    )
    n_grid = _playground_grid()
    add(
        f"density grid {n_grid}x{n_grid} (Playground default), i-ResNet",
        lambda: ic.analysis.density_grid(flow, bounds, n=n_grid),
        origin,
    )
    coeffs = [0.5, 0.7, 0.9, 0.95, 0.99]
    add(
        "inverse curves, 5 values of c (256 points, 50 iterations)",
        lambda: ic.analysis.inverse_curves(flow, pts[:256], coeffs, max_iter=50),
        f"c = {coeffs}",
    )
    add(
        "truncation curve N = 1..20 (500 points, 64 Hutchinson draws)",
        lambda: ic.analysis.truncation_curve(flow, pts, n_max=20),
    )
    add(
        "samples: 1000 points through the fixed-point inverse",
        lambda: ic.analysis.samples(flow, 1000, seed=0),
        "the blocks through the C engine (iresnet_core/kernels/fixed_point2d.c)"
        if native.available()
        else f"torch (the C engine: {native.unavailable_reason()})",
    )
    add(
        "samples: 1000 points through the fixed-point inverse, torch path",
        lambda: _torch_samples(flow, 1000),
        "the same inverse with every block iterating in torch: the peer of the row above",
    )
    for what, fn in (
        (
            f"density grid {n_grid}x{n_grid}",
            lambda: ic.analysis.density_grid(flow, bounds, n=n_grid),
        ),
        (
            "samples: 1000 points through the inverse",
            lambda: ic.analysis.samples(flow, 1000, seed=0),
        ),
    ):
        add(
            f"{what}, as the app runs it (a thread of its own, one torch thread)",
            lambda fn=fn: _in_app_thread(fn),
            "dashboard/runtime.py: in Streamlit's threads two torch threads were slower",
        )
    block = np.random.default_rng(1).normal(size=(1000, 2)).round(5)
    csv = (
        "x,y\n" + "".join(f"{a:.5f},{b:.5f}\n" for a, b in block) * (ic.datasets.MAX_ROWS // 1000)
    ).encode()
    add(
        f"load_csv: the largest upload accepted ({ic.datasets.MAX_ROWS:,} rows, "
        f"{len(csv) / 2**20:.0f} MB)",
        lambda: ic.datasets.load_csv(csv),
        reps=3,
    )
    data = ic.datasets.sample("8gaussians", 4000, seed=0)
    trainer = ic.Trainer(flow, data, seed=0)
    add("Trainer.evaluate (exact NLL on 2000 + 800 points)", trainer.evaluate)

    try:
        from dashboard.charts import playground_charts_of
        from dashboard.runtime import freeze_long_lived_heap
        from dashboard.state import Playground, Settings
    except Exception as e:
        rows.append(
            {
                "name": "Playground",
                "median_ms": float("nan"),
                "error": f"dashboard not importable: {e}",
            }
        )
        return {"rows": rows, "repeats": repeats}

    add(
        "Playground() construction (loads both checkpoints)",
        lambda: Playground(Settings()),
        reps=max(2, repeats // 3),
    )
    try:
        pg = Playground(Settings())
    except Exception as e:  # the dashboard is someone else's work in progress: report, carry on
        rows.append(
            {
                "name": "Playground tick / rerun",
                "median_ms": float("nan"),
                "min_ms": float("nan"),
                "error": f"Playground(Settings()) failed: {type(e).__name__}: {e}",
            }
        )
        return {"rows": rows, "repeats": repeats, "flow_origin": origin}
    # As streamlit_app.py after its first run: without it, full collections of this process's heap
    # held every thread for 120-130 ms (measured with gc.callbacks on 2026-12-05), which the app
    # does not see.
    freeze_long_lived_heap()
    stalls = _Heartbeat()
    add("training burst: Playground.tick() at 'normal' (0.25 s per model, 2 models)", pg.tick)

    def rerun():
        pg.tick()
        playground_charts_of(pg)

    add("full Playground rerun: tick + density/samples + figures", rerun)

    def redraw():
        for run in pg.shown_runs:
            run.view = None
        playground_charts_of(pg)

    add(f"Playground redraw only (density grid {n_grid}, 1000 samples, figures; 2 models)", redraw)
    rows.append(_stall_row(stalls, log))
    rows += _lens_moves(quick, log)
    return {"rows": rows, "repeats": repeats, "flow_origin": origin}


class _Heartbeat:
    """A thread that sleeps 10 ms at a time and keeps the longest it waited beyond that: how long
    the process's other threads were held up (by the GIL, mostly) while it ran."""

    def __init__(self) -> None:
        self.longest, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._beat, name="latency-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.is_set():
            t0 = time.perf_counter()
            time.sleep(0.01)
            self.longest = max(self.longest, time.perf_counter() - t0 - 0.01)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.longest


def _stall_row(stalls: _Heartbeat, log) -> dict[str, Any]:
    """The longest stall of the other threads since ``stalls`` started (the first Playground's
    ticks and redraws), as a row."""
    longest = stalls.stop()
    name = "longest stall of the other threads while the Playground trains and redraws"
    log(f"  {name}: {1e3 * longest:.0f} ms")
    return {
        "name": name,
        "median_ms": 1e3 * longest,
        "min_ms": 1e3 * longest,
        "cpu_ms": float("nan"),
        "repeats": 1,
        "note": "a 10 ms heartbeat thread's longest overrun through the tick and redraw rows "
        "above, the heap frozen as the app freezes it after its first run: it sees what holds "
        "the GIL (a collection, a long C call that keeps it) and both cores taken",
    }


#: Per analysis page: its module in ``dashboard.views``, then (slider key, what it is, the values
#: it is moved to one after another; each new to the page, so nothing comes from a cache).
LENS_MOVES: dict[str, list[tuple[str, str, list]]] = {
    "inverse": [
        ("inv_c", "c", [0.85, 0.8, 0.75, 0.65, 0.6, 0.55, 0.45]),
        ("inv_n", "iterations n (within 30)", [10, 20, 25, 12, 18, 22, 28]),
    ],
    "logdet": [
        ("ld_c", "c", [0.85, 0.8, 0.75, 0.65, 0.6, 0.55, 0.45]),
        ("ld_N", "series terms N", [6, 8, 10, 3, 12, 15, 7]),
        ("ld_probes", "Hutchinson probes", [2, 4, 8, 3, 6, 12, 16]),
    ],
    "lipschitz": [
        ("lip_c", "c", [0.85, 0.8, 0.75, 0.65, 0.6, 0.55, 0.45]),
        ("lip_k", "power iterations k", [3, 5, 20, 30, 7, 40, 15]),
    ],
}
LENS_TITLES = {"inverse": "Inverse", "logdet": "Log-determinant", "lipschitz": "Lipschitz"}


def _lens_moves(quick: bool, log) -> list[dict[str, Any]]:
    """One row per page and slider: wall time of the script run after each move (median, fastest,
    slowest), and the page's own timer (its computations and figures) in the note."""
    try:
        from streamlit.testing.v1 import AppTest
    except Exception as e:
        return [
            {
                "name": "analysis pages",
                "median_ms": float("nan"),
                "error": f"streamlit not importable: {e}",
            }
        ]
    rows = []
    for page, moves in LENS_MOVES.items():
        # The page as streamlit_app.py mounts it, the heap frozen after the first run as there.
        script = (
            "import streamlit as st\nst.set_page_config(layout='wide')\n"
            "from dashboard.controls import presentation_switch\nfrom dashboard.runtime import "
            "freeze_long_lived_heap\n"
            "from dashboard.views import "
            + page
            + "\npresentation_switch()\n"
            + page
            + ".render()\n"
            "freeze_long_lived_heap()\n"
        )
        at = AppTest.from_string(script, default_timeout=600)
        at.run()  # the page as opened: the model, its cached per-model computations
        for key, what, values in moves:
            name = f"{LENS_TITLES[page]} page: move {what}"
            walls, own = [], []
            try:
                for v in values[:3] if quick else values:
                    at.slider(key=key).set_value(v)
                    t0 = time.perf_counter()
                    at.run()
                    walls.append(time.perf_counter() - t0)
                    if at.exception:
                        raise RuntimeError(at.exception[0].value)
                    own.append(at.session_state["_lens_timing"][page]["total_s"])
            except Exception as e:
                rows.append(
                    {
                        "name": name,
                        "median_ms": float("nan"),
                        "min_ms": float("nan"),
                        "error": f"{type(e).__name__}: {e}",
                    }
                )
                continue
            r = {
                "name": name,
                "median_ms": 1e3 * median(walls),
                "min_ms": 1e3 * min(walls),
                "max_ms": 1e3 * max(walls),
                "cpu_ms": float("nan"),
                "repeats": len(walls),
                "lens": True,
                "note": (
                    f"{len(walls)} moves, slowest {1e3 * max(walls):.0f} ms; computations and "
                    f"figures "
                    f"alone (the page timer): median {1e3 * median(own):.0f}, "
                    f"slowest {1e3 * max(own):.0f} ms"
                ),
            }
            log(f"  {name}: {r['median_ms']:.0f} ms median, {r['max_ms']:.0f} ms slowest")
            rows.append(r)
    return rows
