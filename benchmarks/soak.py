"""Soak test: the Playground trains for a long time in real browsers, as in front of an audience;
the server's memory stays flat, the pages do not stall, nothing raises.

``python -m benchmarks.soak --minutes 60 --pages 2 --presentation --tour-every 5`` starts
``streamlit run streamlit_app.py`` on a free loopback port and opens ``--pages`` headless Debian
Chromium pages (Playwright, never a downloaded browser) that each press Play; with
``--presentation`` they open in presentation mode (``?presentation=true``, the sidebar's
"Presentation mode" toggle), and with ``--tour-every MIN`` the last page leaves the Playground
every MIN minutes, clicks through every scene of the guided tour (the Tour page's scene link, then
the tour bar's Next on each scene, each scene's charts waited for, Finish), goes back to the
Playground by the sidebar and presses Play again. Every ``--interval`` seconds it samples the
server process (resident memory, threads) and every page: its step counter, and what a probe
inside the page measured since the last sample (:data:`benchmarks.pages.PROBE_JS`):

* the longest gap between two changes of the step counter while the page shows it training (the
  live fragment ticks every 0.1 s: a gap over a second is a stall the audience sees);
* the page's main thread blocked: ``longtask`` entries of a ``PerformanceObserver``, the longest
  and the number over a second;
* Streamlit's exception boxes (``[data-testid=stException]``) that appeared, and the page's
  uncaught JavaScript errors.

The moments the script itself navigates (page loads, tour passes) are left out of the stalls and
longtasks (counted apart); the server log's tracebacks are counted at the end. It stops by itself,
then writes ``docs/soak.md`` (the verdict and the samples), ``docs/soak_rss.svg`` (RSS over time,
tour passes marked), the raw samples ``docs/soak.json`` (``--replot`` redraws from them) and, with
``--benchmarks``, its section of ``docs/benchmarks.md``. Not part of ``make test``.

This module runs the soak and holds its command line; what the samples become is
:mod:`benchmarks.soak_stats` (the samples, their statistics and the verdict),
:mod:`benchmarks.soak_figure` (the figure) and :mod:`benchmarks.soak_report` (the pages). The
server and page helpers it shares with the browser tests and the other benchmarks are in
:mod:`benchmarks.app_server` and :mod:`benchmarks.pages`.

Example:
    python -m benchmarks.soak --minutes 10 --pages 2
    python -m benchmarks.soak --minutes 60 --pages 2 --presentation --tour-every 5 --benchmarks
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as _dt
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.app_server import (
    ROOT,
    CpuMeter,
    log_messages,
    log_tracebacks,
    proc_stats,
    start_server,
    stop_server,
)
from benchmarks.pages import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PROBE_JS,
    PageStats,
    exception_boxes,
    is_playing,
    is_presenting,
    press_play,
    probe_action,
    read_probe,
    steps_of,
    tour_pass,
    wait_ready,
)
from benchmarks.soak_report import SECTION, write
from benchmarks.soak_stats import Sample, default_warmup_s

__all__ = ["soak", "main"]


# ----------------------------------------------------------------- soak
@dataclass
class _Soak:
    """The state of one soak run: the server, the pages and what was measured on them."""

    proc: subprocess.Popen
    url: str
    query: str
    interval_s: float
    log: Callable[[str], None]
    shots: Path | None = None
    tabs: list = field(default_factory=list)
    stats: list[PageStats] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    passes: list[dict[str, Any]] = field(default_factory=list)
    replays: int = 0
    t0: float = field(default_factory=time.time)
    last_sample: float = 0.0
    touring: int | None = None  #: the page on a tour pass now
    meter: CpuMeter | None = None

    def open_tab(self, browser) -> None:
        """A new page with the probe, on the Playground (``?<query>``), playing; its probe
        watches from the moment Play is on."""
        i = len(self.tabs)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        stats = PageStats()

        def on_error(err: Exception) -> None:
            stats.page_errors += 1
            stats.page_error_text = stats.page_error_text or str(err)[:400]

        page.on("pageerror", on_error)
        page.add_init_script(PROBE_JS)
        page.goto(self.url + (f"/?{self.query}" if self.query else ""), wait_until="load")
        wait_ready(page)
        press_play(page)
        probe_action(page, "resume")
        self.tabs.append(page)
        self.stats.append(stats)
        if self.shots is not None:
            page.wait_for_timeout(3000)
            page.screenshot(path=str(self.shots / f"tab{i + 1}-start.png"))
        self.log(f"page {i + 1} playing (presentation mode: {is_presenting(page)})")

    def _read(self, i: int) -> dict[str, Any] | None:
        reading = read_probe(self.tabs[i])
        if reading is not None:
            self.stats[i].add(reading)
        return reading

    def sample(self) -> None:
        """Sample the server and every page; a page that stopped playing (a divergence pause, a
        lost connection) presses Play again and is counted, unless it is on a tour pass."""
        now = time.time()
        st = proc_stats(self.proc.pid)
        steps: list[list[int]] = []
        gaps: list[float] = []
        longest: list[float] = []
        for i, page in enumerate(self.tabs):
            r = self._read(i)
            gaps.append(round(r["gap_max_ms"] / 1000, 3) if r else 0.0)
            longest.append(round(r["longtask_max_ms"] / 1000, 3) if r else 0.0)
            if i == self.touring:
                steps.append([])
                continue
            steps.append(steps_of(page))
            if not is_playing(page):
                self.replays += 1
                with contextlib.suppress(Exception):
                    press_play(page, 20)
        load1 = os.getloadavg()[0]
        cpu = self.meter.read() if self.meter is not None else {}
        self.samples.append(
            Sample(
                now - self.t0, st["rss_mb"], int(st["threads"]), steps, gaps, longest, load1, cpu
            )
        )
        self.last_sample = now
        self.log(
            f"t={now - self.t0:6.0f}s rss={st['rss_mb']:7.1f} MB threads={st['threads']:.0f} "
            f"load={load1:4.1f} steps={steps} gap={gaps} longtask={longest} cpu={cpu}"
        )

    def maybe_sample(self) -> None:
        """Sample if the interval has passed (between the scenes of a tour pass)."""
        if time.time() - self.last_sample >= self.interval_s:
            self.sample()

    def tour(self, i: int) -> None:
        """A tour pass on page ``i`` (:func:`tour_pass`), left out of its probe's stalls; a pass
        that fails is counted and the page goes back to the Playground and plays."""
        page = self.tabs[i]
        self._read(i)  # what it saw on the Playground, before the script navigates
        probe_action(page, "pause")
        self.touring = i
        k = len(self.passes) + 1
        shots = self.shots if self.shots is not None and k == 1 else None
        start = time.time()
        record: dict[str, Any] = {"start_s": start - self.t0, "scenes": 0, "ok": False}
        seen: list[int] = []

        def each(number: int) -> None:
            seen.append(number)
            boxes = exception_boxes(page)
            if boxes:
                record.setdefault("exception_scenes", []).append(number)
            self.maybe_sample()

        try:
            record["scenes"] = tour_pass(page, each=each, shots=shots)
            record["ok"] = True
        except Exception as e:  # a pass that did not finish: say where, play on
            record["scenes"] = len(seen)
            record["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
            record["url"] = page.url
            with contextlib.suppress(Exception):
                page.screenshot(path=str(Path(tempfile.gettempdir()) / f"soak-pass{k}-fail.png"))
            with contextlib.suppress(Exception):
                page.goto(self.url + (f"/?{self.query}" if self.query else ""), wait_until="load")
                wait_ready(page)
                press_play(page)
        finally:
            self.touring = None
        record["end_s"] = time.time() - self.t0
        record["seconds"] = time.time() - start
        record["presenting"] = is_presenting(page)
        record["playing"] = is_playing(page)
        probe_action(page, "resume")
        self.passes.append(record)
        if self.shots is not None and k <= 2:
            page.wait_for_timeout(3000)
            for j, tab in enumerate(self.tabs):
                tab.screenshot(path=str(self.shots / f"pass{k}-tab{j + 1}.png"))
        self.log(
            f"tour pass {k}: {record['scenes']} scenes in {record['seconds']:.0f} s, "
            f"ok={record['ok']}, presenting={record['presenting']}, playing={record['playing']}"
            + (f", {record['error']}" if "error" in record else "")
        )


def soak(
    minutes: float,
    pages: int = 2,
    interval_s: float = 10,
    query: str = "",
    log: Callable[[str], None] = print,
    presentation: bool = False,
    tour_every_min: float | None = None,
    shots: Path | None = None,
    server_log: Path | None = None,
) -> tuple[list[Sample], dict[str, Any]]:
    """Run the soak for ``minutes`` (tour passes on the last page every ``tour_every_min``
    minutes, the first one after that long); returns the samples and a dict of facts (versions,
    load, replays, per-page stall figures, tour passes, the server log's tracebacks)."""
    from playwright.sync_api import sync_playwright

    if presentation:
        query = "&".join(q for q in (query, "presentation=true") if q)
    server_log = server_log or Path(tempfile.gettempdir()) / f"iresnet-soak-{os.getpid()}.log"
    proc, url = start_server(server_log)
    facts: dict[str, Any] = {
        "url_query": query or "(defaults)",
        "pages": pages,
        "interval_s": interval_s,
        "presentation": presentation,
        "tour_every_min": tour_every_min,
        "started": _dt.datetime.now().isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_at_start": os.getloadavg(),
        "server_log": str(server_log),
    }
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
    run = _Soak(proc, url, query, interval_s, log, shots, meter=CpuMeter(proc.pid))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            for _ in range(pages):
                run.open_tab(browser)
            run.t0 = time.time()
            run.meter.read()  # the first sample's CPU figures start here
            end = run.t0 + minutes * 60
            every = 60 * tour_every_min if tour_every_min else math.inf
            next_tour = run.t0 + every
            while True:
                run.sample()
                now = time.time()
                if now >= end:
                    break
                if now >= next_tour:
                    run.tour(len(run.tabs) - 1)
                    while next_tour <= time.time():
                        next_tour += every
                    continue
                # the pages keep training between samples; wait_for_timeout keeps Playwright's
                # loop alive
                wait = max(0.0, min(interval_s, end - now, next_tour - now))
                run.tabs[0].wait_for_timeout(wait * 1000)
            for i, page in enumerate(run.tabs):
                run._read(i)
                run.stats[i].exception_boxes = max(
                    run.stats[i].exception_boxes, exception_boxes(page)
                )
                if shots is not None:
                    page.screenshot(path=str(shots / f"tab{i + 1}-end.png"))
            browser.close()
    finally:
        stop_server(proc)
    facts["load_at_end"] = os.getloadavg()
    facts["replays"] = run.replays
    facts["page_stats"] = [dataclasses.asdict(s) for s in run.stats]
    facts["tour_passes"] = run.passes
    text = server_log.read_text(errors="replace")
    facts["log_tracebacks"] = log_tracebacks(text)
    facts["log_messages"] = log_messages(text)
    return run.samples, facts


# ----------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    """The command line (see the module's docstring); 0 when every verdict line is met."""
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
        "5, and at least through the first tour pass)",
    )
    ap.add_argument(
        "--query", default="", help="URL query for the pages, e.g. 'models=i-ResNet&blocks=4'"
    )
    ap.add_argument("--presentation", action="store_true", help="every page in presentation mode")
    ap.add_argument(
        "--tour-every",
        type=float,
        default=None,
        metavar="MIN",
        help="the last page clicks through the guided tour every MIN minutes",
    )
    ap.add_argument("--shots", default=None, help="a folder for screenshots of the pages")
    ap.add_argument(
        "--benchmarks",
        action="store_true",
        help=f"also write this run's section of docs/benchmarks.md ({SECTION!r})",
    )
    ap.add_argument(
        "--note",
        action="append",
        default=None,
        help="a note for the pages (repeatable; with --replot they replace the stored notes)",
    )
    ap.add_argument("--out", default=str(ROOT / "docs" / "soak.md"))
    ap.add_argument("--svg", default=str(ROOT / "docs" / "soak_rss.svg"))
    ap.add_argument(
        "--replot",
        action="store_true",
        help="do not run: rewrite the pages and the figure from the samples JSON of the last run",
    )
    a = ap.parse_args(argv)
    out, svg = Path(a.out), Path(a.svg)
    raw = out.with_suffix(".json")
    bench = out.parent / "benchmarks.md" if a.benchmarks else None
    if a.replot:
        d = json.loads(raw.read_text())
        samples, facts = [Sample(**x) for x in d["samples"]], d["facts"]
        warmup_s = d["warmup_s"] if a.warmup is None else 60 * a.warmup
        log = Path(facts.get("server_log", ""))
        if "log_messages" not in facts and log.is_file():  # a run from before they were kept
            facts["log_messages"] = log_messages(log.read_text(errors="replace"))
        if a.note is not None:
            facts["notes"] = a.note
        raw.write_text(json.dumps(d, indent=1) + "\n")  # facts is d["facts"]: kept with the run
        return write(samples, facts, warmup_s, out, svg, bench)
    if not os.access(CHROMIUM, os.X_OK):
        print(f"needs Debian's {CHROMIUM} (apt-get install chromium)", file=sys.stderr)
        return 2
    samples, facts = soak(
        a.minutes,
        a.pages,
        a.interval,
        a.query,
        presentation=a.presentation,
        tour_every_min=a.tour_every,
        shots=Path(a.shots) if a.shots else None,
    )
    facts["notes"] = a.note or []
    if a.warmup is not None:
        warmup_s = 60 * a.warmup
    else:
        warmup_s = default_warmup_s(a.minutes, facts.get("tour_passes", []))
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
    return write(samples, facts, warmup_s, out, svg, bench)


if __name__ == "__main__":
    raise SystemExit(main())
