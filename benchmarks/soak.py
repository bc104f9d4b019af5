"""Soak test: the Playground trains for a long time in real browsers; the server's memory stays
flat.

``python -m benchmarks.soak --minutes 30`` starts ``streamlit run streamlit_app.py`` on a free
loopback port, opens ``--pages`` headless Debian Chromium pages (Playwright, never a downloaded
browser) that each press Play, and samples the server process every ``--interval`` seconds: its
resident memory (RSS), its thread count and every page's step counter. It stops by itself, then
writes ``docs/soak.md`` (the table and the verdict: growth after warm-up, target < 100 MB),
``docs/soak_rss.svg`` (RSS over time) and the raw samples ``docs/soak.json`` (``--replot`` redraws
from them). Not part of ``make test``.

The helpers :func:`start_server`, :func:`proc_stats`, :func:`steps_of` and :func:`press_play` are
shared with the browser tests (``tests/test_browser.py``, ``tests/test_robust_sessions.py``).

Example:
    python -m benchmarks.soak --minutes 10 --pages 2
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as _dt
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "start_server",
    "stop_server",
    "proc_stats",
    "steps_of",
    "press_play",
    "wait_ready",
    "Sample",
    "soak",
    "main",
    "CHROMIUM",
    "CHROMIUM_ARGS",
]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
COUNTER = re.compile(r"^Step\s+(i-ResNet|Glow) \d")
TARGET_MB = 100.0


# ---------------------------------------------------------------- server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    log_path: Path | None = None,
    timeout_s: float = 90,
    script: Path | None = None,
    warm_up: bool = False,
) -> tuple[subprocess.Popen, str]:
    """``streamlit run streamlit_app.py`` (or ``script``) on a free loopback port; returns
    (process, url) once healthy. ``warm_up``: the app as ``make run`` starts it,
    ``python -m dashboard.serve`` (the same, with the server's warm-up)."""
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT), STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    log = open(log_path or Path(tempfile.gettempdir()) / f"iresnet-soak-{port}.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            *(
                ["dashboard.serve"]
                if warm_up
                else ["streamlit", "run", str(script or ROOT / "streamlit_app.py")]
            ),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}; see {log.name}")
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read().strip() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.3)
    stop_server(proc)
    raise RuntimeError(f"streamlit did not become healthy in {timeout_s:.0f} s; see {log.name}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def proc_stats(pid: int) -> dict[str, float]:
    """RSS (MB) and thread count of a process, from ``/proc/<pid>/status`` (Linux)."""
    out = {"rss_mb": float("nan"), "threads": float("nan")}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                out["rss_mb"] = int(line.split()[1]) / 1024
            elif line.startswith("Threads:"):
                out["threads"] = int(line.split()[1])
    return out


# ---------------------------------------------------------------- pages
def wait_ready(page, n_charts: int = 1, timeout_s: float = 120) -> None:
    page.get_by_text(COUNTER).first.wait_for(timeout=timeout_s * 1000)
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot').length >= {n_charts}",
        timeout=timeout_s * 1000,
    )


def steps_of(page) -> list[int]:
    """The step counter(s) the page shows; [] when it cannot be read right now."""
    try:
        text = page.get_by_text(COUNTER).first.inner_text(timeout=5000)
    except Exception:
        return []
    return [int(n.replace(",", "")) for n in re.findall(r"(?:i-ResNet|Glow) ([\d,]+)", text)]


def _transport(page, name: str):
    return page.get_by_test_id("stMainBlockContainer").get_by_role(
        "button", name=re.compile(f"^(\\S+ )?{name}$")
    )


def press_play(page, timeout_s: float = 60) -> None:
    _transport(page, "Play").first.click()
    _transport(page, "Pause").first.wait_for(timeout=timeout_s * 1000)


def is_playing(page) -> bool:
    return _transport(page, "Pause").count() > 0


# ----------------------------------------------------------------- soak
@dataclass
class Sample:
    t_s: float
    rss_mb: float
    threads: int
    steps: list[list[int]] = field(default_factory=list)


def soak(
    minutes: float, pages: int = 2, interval_s: float = 10, query: str = "", log=print
) -> tuple[list[Sample], dict]:
    """Run the soak; returns the samples and a dict of facts (versions, restarts of Play...)."""
    from playwright.sync_api import sync_playwright

    proc, url = start_server()
    facts = {
        "url_query": query or "(defaults)",
        "pages": pages,
        "interval_s": interval_s,
        "replays": 0,
        "started": _dt.datetime.now().isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_at_start": os.getloadavg(),
    }
    samples: list[Sample] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            tabs = []
            for i in range(pages):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(url + (f"/?{query}" if query else ""), wait_until="domcontentloaded")
                wait_ready(page)
                press_play(page)
                tabs.append(page)
                log(f"page {i + 1}/{pages} playing")
            t0 = time.time()
            end = t0 + minutes * 60
            while True:
                now = time.time()
                st = proc_stats(proc.pid)
                steps = []
                for page in tabs:
                    steps.append(steps_of(page))
                    if not is_playing(
                        page
                    ):  # a divergence pause or a lost connection: play on, count it
                        facts["replays"] += 1
                        with contextlib.suppress(Exception):
                            press_play(page, 20)
                samples.append(Sample(now - t0, st["rss_mb"], int(st["threads"]), steps))
                log(
                    f"t={now - t0:6.0f}s rss={st['rss_mb']:7.1f} MB threads={st['threads']:.0f} "
                    f"steps={steps}"
                )
                if now >= end:
                    break
                # the pages keep training between samples; wait_for_timeout keeps Playwright's loop
                # alive
                tabs[0].wait_for_timeout(max(0.0, min(interval_s, end - time.time())) * 1000)
            browser.close()
    finally:
        stop_server(proc)
    facts["load_at_end"] = os.getloadavg()
    return samples, facts


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def summarize(samples: list[Sample], warmup_s: float, window: int = 6) -> dict:
    """Growth = median RSS of the last ``window`` samples minus that of the first ``window`` after
    warm-up (RSS swings by tens of MB from one sample to the next as the allocator reuses memory;
    single samples would measure the swing, not the trend)."""
    after = [s for s in samples if s.t_s >= warmup_s] or samples[-1:]
    w = max(1, min(window, len(after) // 2 or 1))
    base = _median([s.rss_mb for s in after[:w]])
    end_mb = _median([s.rss_mb for s in after[-w:]])
    xs = [s.t_s / 3600 for s in after]
    ys = [s.rss_mb for s in after]
    slope = 0.0
    if len(after) >= 3:
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        den = sum((x - mx) ** 2 for x in xs)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0
    first_steps = next((s.steps for s in samples if s.steps), [])
    last_steps = samples[-1].steps if samples else []
    return {
        "start_mb": samples[0].rss_mb,
        "warm_mb": base,
        "end_mb": end_mb,
        "growth_mb": end_mb - base,
        "peak_mb": max(s.rss_mb for s in samples),
        "min_after_mb": min(ys),
        "max_after_mb": max(ys),
        "slope_mb_per_h": slope,
        "threads_first": samples[0].threads,
        "threads_last": samples[-1].threads,
        "threads_max": max(s.threads for s in samples),
        "steps_first": first_steps,
        "steps_last": last_steps,
        "minutes": samples[-1].t_s / 60 if samples else 0.0,
        "warmup_s": warmup_s,
        "window": w,
    }


def svg_plot(samples: list[Sample], warmup_s: float, width: int = 720, height: int = 320) -> str:
    """RSS over time as a small standalone SVG (no plotting dependency)."""
    ml, mr, mt, mb = 60, 20, 30, 45
    xs = [s.t_s / 60 for s in samples]
    ys = [s.rss_mb for s in samples]
    x1 = max(xs[-1], 1e-9)
    lo, hi = min(ys), max(ys)
    pad = max(10.0, (hi - lo) * 0.15)
    y0, y1 = max(0.0, lo - pad), hi + pad

    def px(x: float) -> float:
        return ml + (width - ml - mr) * x / x1

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
    for i in range(6):  # y grid
        y = y0 + (y1 - y0) * i / 5
        out.append(
            f'<line x1="{ml}" x2="{width - mr}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#ddd"/>'
        )
        out.append(f'<text x="{ml - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:.0f}</text>')
    for i in range(6):  # x ticks
        x = x1 * i / 5
        out.append(
            f'<text x="{px(x):.1f}" y="{height - mb + 18}" text-anchor="middle">{x:.0f}</text>'
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


def report(samples: list[Sample], facts: dict, summary: dict, svg_name: str) -> str:
    ok = summary["growth_mb"] < TARGET_MB
    lines = [
        "# Soak: long sessions keep the server's memory flat",
        "",
        "Written by `python -m benchmarks.soak` (not part of `make test`): `streamlit run` on a "
        "loopback "
        f"port, {facts['pages']} headless Chromium page(s) pressing Play at the default settings"
        f" (query: {facts['url_query']}), the server's RSS and threads sampled every "
        f"{facts['interval_s']:.0f} s. Started {facts['started']} on {facts['cpus']} CPUs; load "
        f"average "
        f"{facts['load_at_start'][0]:.1f} at the start, {facts['load_at_end'][0]:.1f} at the end.",
        "",
        "**The machine was shared and noisy** (other engineers' tests ran on the same two cores), "
        "so the "
        "step counts are not a speed measurement; memory is what this page is about.",
        "",
        f"![RSS over time]({svg_name})",
        "",
        "| measure | value |",
        "|---|---|",
        f"| duration | {summary['minutes']:.1f} min "
        f"(warm-up: first {summary['warmup_s'] / 60:.1f} min) |",
        f"| RSS at start | {summary['start_mb']:.0f} MB |",
        f"| RSS after warm-up (median of the first {summary['window']} samples after it) | "
        f"{summary['warm_mb']:.0f} MB |",
        f"| RSS at the end (median of the last {summary['window']} samples) | "
        f"{summary['end_mb']:.0f} MB |",
        f"| **growth after warm-up** | **{summary['growth_mb']:+.1f} MB** (target < "
        f"{TARGET_MB:.0f} MB: "
        f"{'met' if ok else 'NOT met'}) |",
        f"| range after warm-up | {summary['min_after_mb']:.0f} – {summary['max_after_mb']:.0f} "
        f"MB |",
        f"| trend after warm-up (least squares) | {summary['slope_mb_per_h']:+.1f} MB/h |",
        f"| server threads first / last / max | {summary['threads_first']} / "
        f"{summary['threads_last']} / "
        f"{summary['threads_max']} |",
        f"| step counters at the first / last sample | {summary['steps_first']} → "
        f"{summary['steps_last']} |",
        f"| pages that had to press Play again | {facts['replays']} |",
        "",
        "## Samples",
        "",
        "| t (s) | RSS (MB) | threads | steps per page |",
        "|---:|---:|---:|---|",
    ]
    for s in samples:
        lines.append(f"| {s.t_s:.0f} | {s.rss_mb:.1f} | {s.threads} | {s.steps} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.soak", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--pages", type=int, default=2)
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    ap.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="minutes of warm-up excluded from the growth (default: a fifth of the run, at most "
        "5)",
    )
    ap.add_argument(
        "--query", default="", help="URL query for the pages, e.g. 'models=i-ResNet&blocks=4'"
    )
    ap.add_argument("--out", default=str(ROOT / "docs" / "soak.md"))
    ap.add_argument("--svg", default=str(ROOT / "docs" / "soak_rss.svg"))
    ap.add_argument(
        "--replot",
        action="store_true",
        help="do not run: rewrite the page and the figure from the samples JSON of the last run",
    )
    a = ap.parse_args(argv)
    out, svg = Path(a.out), Path(a.svg)
    raw = out.with_suffix(".json")
    if a.replot:
        d = json.loads(raw.read_text())
        samples, facts = [Sample(**x) for x in d["samples"]], d["facts"]
        warmup_s = d["warmup_s"] if a.warmup is None else 60 * a.warmup
        return _write(samples, facts, warmup_s, out, svg)
    if not os.access(CHROMIUM, os.X_OK):
        print(f"needs Debian's {CHROMIUM} (apt-get install chromium)", file=sys.stderr)
        return 2
    warmup_s = 60 * (a.warmup if a.warmup is not None else min(5.0, a.minutes / 5))
    samples, facts = soak(a.minutes, a.pages, a.interval, a.query)
    out.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(
        json.dumps(
            {
                "facts": facts,
                "warmup_s": warmup_s,
                "samples": [dataclasses.asdict(x) for x in samples],
            },
            indent=1,
        )
        + "\n"
    )
    return _write(samples, facts, warmup_s, out, svg)


def _write(samples: list[Sample], facts: dict, warmup_s: float, out: Path, svg: Path) -> int:
    summary = summarize(samples, warmup_s)
    svg.write_text(svg_plot(samples, warmup_s))
    rel = os.path.relpath(svg, out.parent)
    print(f"samples: {out.with_suffix('.json')}")
    out.write_text(report(samples, facts, summary, rel))
    print(
        f"growth after warm-up: {summary['growth_mb']:+.1f} MB (target < {TARGET_MB:.0f}); wrote "
        f"{out} and {svg}"
    )
    return 0 if summary["growth_mb"] < TARGET_MB else 1


if __name__ == "__main__":
    raise SystemExit(main())
