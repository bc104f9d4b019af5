"""Time to first chart: the app's pages against a trivial Streamlit page of six plotly heatmaps,
in headless Chromium, cold and warm, interleaved.

``python -m benchmarks.first_chart`` writes the section "Time to first chart (by hand)" of
``docs/benchmarks.md`` (only that section; the page's rewrite by ``make bench`` keeps it) and the
raw figures to ``docs/first_chart.json``. Not part of ``make test``.

**What is timed.** From ``page.goto`` (a new browser page: a new Streamlit session) to the first
chart drawn (a ``.js-plotly-plot`` whose ``.main-svg`` is in the DOM), and to all of the page's
charts (the count they settle at once the script run has finished). The page itself notes the
times (a ``MutationObserver``), so the polling of the benchmark does not round them.

**Cold** is a freshly started server process (:func:`benchmarks.app_server.start_server`) and
its first page load, the first page of a new browser context (an empty cache): everything the app
does on its first script run counts (its imports, models, checkpoints, grids), the server's own
start-up up to its health check answering does not (it is measured and reported beside it, for
both pages).
**Warm** is a new browser page in that context on the same server once the server has gone idle
after the cold load (:func:`wait_idle`; the browser's cache holds Streamlit's scripts). The app is
started as ``make run`` starts it (``python -m dashboard.serve``, with the server's warm-up) and,
for the rows so named, as plain ``streamlit run streamlit_app.py``. Every measurement pairs one app
page with the reference (its own server, started just before or after), alternating which goes
first; the ratio is the median of the per-pair ratios, so both sides of a ratio saw the same load.

Example:
    >>> settled([(0.0, 0), (1.2, 1), (1.5, 3), (1.6, 2), (2.0, 3)])
    (1.2, 1.5, 3)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks import ROOT
from benchmarks.app_server import start_server, stop_server
from benchmarks.common import median
from benchmarks.pages import CHROMIUM, CHROMIUM_ARGS
from benchmarks.splice import write_section

__all__ = [
    "REFERENCE_SCRIPT",
    "APP_PAGES",
    "settled",
    "load",
    "measure",
    "summarize",
    "section_md",
    "main",
]

TITLE = "## Time to first chart"
#: "(by hand)": the rewrite of the page by ``make bench`` keeps the section (benchmarks/splice.py)
HEADING = TITLE + " (by hand)"
TARGET = 1.3
VIEWPORT = {"width": 1400, "height": 1000}

#: The trivial page every app page is measured against: six plotly heatmaps of 100 x 100 random
#: arrays in a grid of two rows of three.
REFERENCE_SCRIPT = """\
import numpy as np
import plotly.graph_objects as go
import streamlit as st

st.title("Six heatmaps")
rng = np.random.default_rng(0)
for row in range(2):
    for col in st.columns(3):
        with col:
            st.plotly_chart(go.Figure(go.Heatmap(z=rng.random((100, 100)))))
"""

#: The app's pages measured by default, by their paths, and whether the server warms up at its
#: start (``make run``, ``python -m dashboard.serve``) or not (``streamlit run streamlit_app.py``).
APP_PAGES = {
    "Playground": ("/", True),
    "Playground (streamlit run)": ("/", False),
    "Inverse": ("/inverse", True),
    "Log-determinant": ("/logdet", True),
}

#: Installed before any of the page's own scripts: notes (milliseconds since the epoch, number of
#: drawn charts) every time the number of drawn charts changes.
_OBSERVER = """
window.__charts = [[Date.now(), 0]];
const count = () => Array.from(document.querySelectorAll('.js-plotly-plot'))
  .filter(p => p.querySelector('.main-svg')).length;
new MutationObserver(() => {
  const n = count();
  if (n !== window.__charts[window.__charts.length - 1][1]) window.__charts.push([Date.now(), n]);
}).observe(document, {childList: true, subtree: true});
"""
_IDLE = "document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState"


def settled(events: Sequence[tuple[float, int]]) -> tuple[float, float, int]:
    """``(first, all, n)`` from the page's ``(seconds, charts drawn)`` events: when the first
    chart was drawn, when the final count ``n`` was first reached, and ``n``.

    Example:
        >>> settled([(0.0, 0), (2.0, 2), (2.5, 6)])
        (2.0, 2.5, 6)
    """
    first = next((t for t, n in events if n > 0), float("nan"))
    n = events[-1][1] if events else 0
    last = next((t for t, k in events if k == n), float("nan")) if n else float("nan")
    return first, last, n


def load(opener, url: str, quiet_s: float = 1.5, timeout_s: float = 120) -> dict[str, float]:
    """One page load in a new browser page: seconds from ``page.goto`` to the first chart and to
    all charts, and their number. ``opener`` is a Playwright ``Browser`` (the page gets a context
    of its own: an empty cache) or a ``BrowserContext`` (the page shares its cache). The page
    counts as done once its script run has finished and no chart came or went for ``quiet_s``."""
    if hasattr(opener, "new_context"):  # a Browser
        page = opener.new_page(viewport=VIEWPORT)
    else:
        page = opener.new_page()
    try:
        page.add_init_script(_OBSERVER)
        t0 = time.time()
        page.goto(url, wait_until="commit", timeout=timeout_s * 1000)
        deadline = t0 + timeout_s
        last_change, last_len = time.time(), 0
        while time.time() < deadline:
            page.wait_for_timeout(100)
            events, state = page.evaluate(f"[window.__charts || [], {_IDLE}]")
            if len(events) != last_len:
                last_change, last_len = time.time(), len(events)
            done = state == "notRunning" and events and events[-1][1] > 0
            if done and time.time() - last_change >= quiet_s:
                break
        else:
            raise TimeoutError(f"{url}: no settled chart in {timeout_s:.0f} s")
        first, last, n = settled([(ms / 1e3 - t0, k) for ms, k in events])
        return {"first_s": first, "all_s": last, "charts": n}
    finally:
        page.close()


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used, from ``/proc/<pid>/stat`` (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_idle(pid: int, busy_s: float = 0.05, window_s: float = 1.0, cap_s: float = 60) -> float:
    """Until the process used less than ``busy_s`` of CPU over ``window_s`` (at most ``cap_s``);
    returns the seconds waited. A warm server is one whose start-up work is done: the app goes
    on importing in the background after its first page (dashboard/warm_up.py)."""
    t0 = time.perf_counter()
    last = _cpu_s(pid)
    while time.perf_counter() - t0 < cap_s:
        time.sleep(window_s)
        now = _cpu_s(pid)
        if now - last < busy_s:
            break
        last = now
    return time.perf_counter() - t0


def _rotated(xs: list, r: int) -> list:
    return xs[r % len(xs) :] + xs[: r % len(xs)]


def measure(
    pages: dict[str, tuple[str, bool]],
    rounds: int = 4,
    warm: int = 2,
    log: Callable[[str], None] = print,
    first_round: int = 0,
) -> dict:
    """Rounds of pairs: each app page against the reference, each side on a fresh server of its
    own and a new browser context (cold: the context's first page, its cache empty), then
    ``warm`` new pages in that context on the same server, alternating sides; the order of the
    sides swaps every round. Returns the raw loads."""
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="first-chart-"))
    reference = tmp / "reference.py"
    reference.write_text(REFERENCE_SCRIPT)
    runs: list[dict] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for r in range(first_round, first_round + rounds):
                for name, (path, warm_up) in pages.items():
                    sides = _rotated(
                        [("app", warm_up, None, path), ("reference", False, reference, "/")], r
                    )
                    servers, contexts = {}, {}
                    try:
                        run: dict = {"round": r, "page": name, "order": [s[0] for s in sides]}
                        for side, warm_up_, script, path_ in sides:
                            t = time.perf_counter()
                            proc, url = start_server(
                                tmp / f"{side}-{r}-{len(runs)}.log",
                                timeout_s=120,
                                script=script,
                                warm_up=warm_up_,
                            )
                            servers[side] = (proc, url + path_)
                            contexts[side] = browser.new_context(viewport=VIEWPORT)
                            run[side] = {
                                "start_s": time.perf_counter() - t,
                                "cold": load(contexts[side], url + path_),
                                "warm": [],
                                "load_avg": os.getloadavg()[0],
                            }
                        for side, *_ in sides:  # warm: the server's start-up work done
                            run[side]["idle_wait_s"] = wait_idle(servers[side][0].pid)
                        for _ in range(warm):
                            for side, *_ in sides:
                                run[side]["warm"].append(load(contexts[side], servers[side][1]))
                        runs.append(run)
                        log(
                            f"round {r} {name}: cold app {run['app']['cold']['first_s']:.2f} s, "
                            f"reference {run['reference']['cold']['first_s']:.2f} s; warm app "
                            + ", ".join(f"{x['first_s']:.2f}" for x in run["app"]["warm"])
                            + " s, reference "
                            + ", ".join(f"{x['first_s']:.2f}" for x in run["reference"]["warm"])
                            + f" s (load {os.getloadavg()[0]:.1f})"
                        )
                    finally:
                        for ctx in contexts.values():
                            with contextlib.suppress(Exception):
                                ctx.close()
                        for proc, _ in servers.values():
                            with contextlib.suppress(Exception):
                                stop_server(proc)
        finally:
            browser.close()
    return {"runs": runs}


def summarize(runs: list[dict]) -> dict[str, dict]:
    """Per app page: medians of the app's and the reference's times (cold first chart, cold all
    charts, warm first, warm all, server start) and the medians of the per-pair ratios."""
    out: dict[str, dict] = {}
    for name in dict.fromkeys(r["page"] for r in runs):
        mine = [r for r in runs if r["page"] == name]
        row: dict = {"pairs": len(mine), "charts": mine[-1]["app"]["cold"]["charts"]}
        for mode in ("cold", "warm"):
            for what in ("first_s", "all_s"):
                figs = {}
                for side in ("app", "reference"):
                    if mode == "cold":
                        per = [r[side]["cold"][what] for r in mine]
                    else:  # one figure per pair: the median of its warm loads
                        per = [median([x[what] for x in r[side]["warm"]]) for r in mine]
                    figs[side] = per
                    row[f"{mode}_{what}_{side}"] = median(per)
                rs = [a / b for a, b in zip(figs["app"], figs["reference"])]
                row[f"{mode}_{what}_ratio"] = median(rs)
                row[f"{mode}_{what}_ratio_range"] = [min(rs), max(rs)]
        for side in ("app", "reference"):
            row[f"start_s_{side}"] = median([r[side]["start_s"] for r in mine])
            row[f"idle_wait_s_{side}"] = median(
                [r[side].get("idle_wait_s", float("nan")) for r in mine]
            )
        # cold counted from the server process's start: its start-up plus the first chart
        total = {
            side: [r[side]["start_s"] + r[side]["cold"]["first_s"] for r in mine]
            for side in ("app", "reference")
        }
        for side in ("app", "reference"):
            row[f"from_start_s_{side}"] = median(total[side])
        row["from_start_ratio"] = median([a / b for a, b in zip(total["app"], total["reference"])])
        out[name] = row
    return out


def _row(name: str, s: dict, mode: str) -> str:
    def cell(what: str) -> str:
        lo, hi = s[f"{mode}_{what}_ratio_range"]
        ok = "✓" if s[f"{mode}_{what}_ratio"] <= TARGET else "✗"
        return (
            f"{s[f'{mode}_{what}_app']:.2f} / {s[f'{mode}_{what}_reference']:.2f} | "
            f"**{s[f'{mode}_{what}_ratio']:.2f}x** {ok} ({lo:.2f}–{hi:.2f})"
        )

    return f"| {name} | {mode} | {cell('first_s')} | {cell('all_s')} |"


def table_md(summary: dict[str, dict]) -> list[str]:
    """The table of one measurement: a row per page and mode."""
    L = [
        "| page | mode | first chart: app / reference (s) | ratio (range) | all charts: app / "
        "reference (s) | ratio (range) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, s in summary.items():
        L += [_row(name, s, "cold"), _row(name, s, "warm")]
    L += [
        "",
        "| page | server start-up until healthy: app / reference (s) | cold, first chart from the "
        "process's start: app / reference (s) | ratio | idle after the cold load, waited: app / "
        "reference (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, s in summary.items():
        L.append(
            f"| {name} | {s['start_s_app']:.2f} / {s['start_s_reference']:.2f} | "
            f"{s['from_start_s_app']:.2f} / {s['from_start_s_reference']:.2f} | "
            f"{s['from_start_ratio']:.2f}x | {s['idle_wait_s_app']:.1f} / "
            f"{s['idle_wait_s_reference']:.1f} |"
        )
    L += [
        "",
        "Charts per page: "
        + ", ".join(f"{name} {s['charts']}" for name, s in summary.items())
        + " (the reference: 6).",
    ]
    return L


def section_md(res: dict) -> list[str]:
    """The section: how it was measured, then one table per measurement kept in the JSON (a
    measurement is replaced by a later one of the same label)."""
    L = [
        HEADING,
        "",
        "Written by `python -m benchmarks.first_chart` (not part of `make test`). Headless "
        "Chromium (Debian's, through Playwright) times each page from `page.goto` to its first "
        "chart drawn (a `.js-plotly-plot` with its `.main-svg` in the DOM) and to all its "
        "charts, against a trivial Streamlit page of six plotly heatmaps (100 x 100 random "
        "arrays, two rows of three). **Cold**: a freshly started server, health-checked, and its "
        "first page load, the first page of a new browser context (an empty cache): the app's "
        "first script run counts with everything it does (imports, models, checkpoints, grids); "
        "the server's start-up until its health check answers does not, for either page (it is "
        "in the second table, with the cold first chart counted from the process's start). "
        "**Warm**: a new browser page in the same context on the same server, once the server "
        "has gone idle after the cold load (its CPU time grew by less than 0.05 s in a second; "
        "the wait is in the second table): a new session, the browser's cache holding "
        "Streamlit's scripts. The app's server is started as `make run` "
        "starts it, `python -m dashboard.serve`: `streamlit run streamlit_app.py` with a thread "
        "that, from the moment the server answers, does the default Playground's first-run work "
        "(imports, the pre-trained checkpoints, the step-0 density grids and samples, the "
        "figures; `dashboard/warm_up.py`); the rows *(streamlit run)* start the same app "
        "without it. Each app page is paired with the reference, each on its own fresh server, "
        "the side that goes first swapping every round; figures are medians over the pairs, "
        "ratios the median of the per-pair ratios (app / reference, target ≤ "
        f"{TARGET}x) with their range.",
        "",
    ]
    L += summary_md(res.get("measurements", []))
    for m in res.get("measurements", []):
        label = m["facts"]["label"]
        L += [f"**{label[0].upper()}{label[1:]}** ({_facts(m['facts'])}):", ""]
        L += table_md(summarize(m["runs"])) + [""]
    L += [f"- {n}" for n in res.get("notes", [])]
    return L + ([""] if res.get("notes") else [])


def summary_md(measurements: list[dict]) -> list[str]:
    """First chart, app / reference, cold and warm, per page and measurement: the tables below in
    one."""
    if not measurements:
        return []
    sums = [(m["facts"]["label"], summarize(m["runs"])) for m in measurements]
    pages = list(dict.fromkeys(name for _, s in sums for name in s))
    head = "| page | " + " | ".join(f"{lab}: cold | {lab}: warm" for lab, _ in sums) + " |"
    L = [
        "First chart, app / reference (median of the per-pair ratios; the tables below give the "
        "seconds, the ranges and all charts):",
        "",
        head,
        "|---|" + "---:|---:|" * len(sums),
    ]
    for name in pages:
        cells = []
        for _, s in sums:
            row = s.get(name)
            cells += (
                [f"{row[f'{mode}_first_s_ratio']:.2f}x" for mode in ("cold", "warm")]
                if row
                else ["–", "–"]
            )
        L.append(f"| {name} | " + " | ".join(cells) + " |")
    return L + [""]


def _facts(f: dict) -> str:
    return (
        f"{f['date']}, {f['rounds']} rounds x {f['warm']} warm loads, load average "
        f"{f['load_at_start']:.1f} at the start and {f['load_at_end']:.1f} at the end on "
        f"{f['cores']} cores, commit {f['commit']}"
        + ("" if f.get("warm_up", True) else "; every app page served by plain `streamlit run`")
    )


def _commit() -> str:
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=ROOT).returncode
        return out.stdout.strip() + ("+changes" if dirty else "")
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.first_chart", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--rounds", type=int, default=4, help="pairs per page")
    ap.add_argument("--warm", type=int, default=2, help="warm loads per server and pair")
    ap.add_argument(
        "--pages",
        default=",".join(APP_PAGES),
        help="comma-separated, from: " + ", ".join(APP_PAGES),
    )
    ap.add_argument(
        "--label",
        default="now",
        help="what this measurement is, e.g. 'before': the docs show one table per label, a "
        "later run of a label replaces it",
    )
    ap.add_argument(
        "--no-warm-up",
        action="store_true",
        help="every app page through plain `streamlit run` (a checkout without dashboard.serve)",
    )
    ap.add_argument("--commit", default=None, help="the app's commit (default: git's HEAD)")
    ap.add_argument(
        "--append",
        action="store_true",
        help="add this run's rounds to the measurement of the same label (runs that alternate "
        "two checkouts round by round)",
    )
    ap.add_argument("--json", default=str(ROOT / "docs" / "first_chart.json"))
    ap.add_argument("--md", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--report-only", action="store_true", help="rewrite the section from the JSON")
    a = ap.parse_args(argv)
    raw, md = Path(a.json), Path(a.md)
    res = json.loads(raw.read_text()) if raw.is_file() else {"measurements": [], "notes": []}
    if not a.report_only:
        if not os.access(CHROMIUM, os.X_OK):
            print(f"needs Debian's {CHROMIUM} (apt-get install chromium)", file=sys.stderr)
            return 2
        pages = {
            n: (APP_PAGES[n][0], APP_PAGES[n][1] and not a.no_warm_up)
            for n in a.pages.split(",")
            if n
        }
        facts = {
            "label": a.label,
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "rounds": a.rounds,
            "warm": a.warm,
            "cores": os.cpu_count(),
            "load_at_start": os.getloadavg()[0],
            "commit": a.commit or _commit(),
            "warm_up": not a.no_warm_up,
            "chromium": CHROMIUM,
        }
        same = [m for m in res["measurements"] if m["facts"]["label"] == a.label]
        earlier = same[0] if a.append and same else None
        done = earlier["facts"]["rounds"] if earlier else 0  # the order keeps alternating
        runs = measure(pages, a.rounds, a.warm, first_round=done)["runs"]
        facts["load_at_end"] = os.getloadavg()[0]
        if earlier:
            facts["load_at_start"] = earlier["facts"]["load_at_start"]
            facts["date"] = earlier["facts"]["date"]
            facts["rounds"] += done
            runs = earlier["runs"] + runs
        now = {"facts": facts, "summary": summarize(runs), "runs": runs}
        kept = [m for m in res["measurements"] if m["facts"]["label"] != a.label]
        res["measurements"] = kept + [now]
        raw.parent.mkdir(parents=True, exist_ok=True)
        raw.write_text(json.dumps(res, indent=1) + "\n")
        print("\n".join(table_md(now["summary"])))
    write_section(md, section_md(res), HEADING)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
