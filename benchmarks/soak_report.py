"""The soak's report: from its samples (:class:`Sample`, as :func:`benchmarks.soak.soak` takes
them and ``docs/soak.json`` keeps them) to the verdict, the figure and the pages, and nothing
else: no server, no browser, no clock. The same samples give the same bytes, so
``python -m benchmarks.soak --replot`` rewrites ``docs/soak.md``, ``docs/soak_rss.svg`` and the
soak's section of ``docs/benchmarks.md`` (:data:`SECTION`) exactly as the run wrote them.

* :func:`summarize` — the server's memory: the growth after the warm-up
  (:func:`default_warmup_s`) as medians of a window of samples, the trend, threads, load;
* :func:`stall_summary`, :func:`cpu_summary` — the pages' stalls, longtasks and exceptions, the
  tour passes, and how long the server and the renderers waited for a core;
* :func:`verdict` — (measure, value, met?) against the targets (:data:`TARGET_MB`,
  :data:`benchmarks.pages.STALL_S`);
* :func:`svg_plot` — RSS over time as a standalone SVG, tour passes shaded;
* :func:`report`, :func:`benchmarks_section` — the Markdown of ``docs/soak.md`` and of the
  section, and :func:`write`, which writes them, the figure and the section.

Example:
    >>> rss = [300, 340, 350, 352, 349, 351, 353]
    >>> samples = [Sample(60.0 * m, mb, 20, gap_s=[0.3], load1=1.0) for m, mb in enumerate(rss)]
    >>> summary = summarize(samples, warmup_s=120)
    >>> summary["warm_mb"], summary["end_mb"], summary["growth_mb"]
    (351.0, 352.0, 1.0)
    >>> [ok for _, _, ok in verdict(summary, stall_summary(samples, {}))]
    [True, True, True, True]
    >>> svg_plot(samples, 120).startswith("<svg")
    True
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

from benchmarks.pages import STALL_S, PageStats
from benchmarks.splice import write_section

__all__ = [
    "TARGET_MB",
    "SECTION",
    "Sample",
    "default_warmup_s",
    "summarize",
    "stall_summary",
    "cpu_summary",
    "verdict",
    "svg_plot",
    "report",
    "benchmarks_section",
    "write",
]

TARGET_MB = 100.0  #: memory growth after warm-up must stay below this
#: heading of this benchmark's section in docs/benchmarks.md; ``benchmarks.report`` keeps a
#: section whose heading ends in "(by hand)" when ``make bench`` rewrites the page
SECTION = "## An hour in front of an audience: the soak (by hand)"


# ----------------------------------------------------------------- samples
@dataclass
class Sample:
    """One sample: seconds since the start, the server's RSS (MB) and threads, and per page its
    step counter(s), the longest counter gap and the longest longtask (s) since the sample before
    (0 where the page was not watched), the machine's 1-minute load average and the CPU figures
    of :class:`benchmarks.app_server.CpuMeter` since the sample before."""

    t_s: float
    rss_mb: float
    threads: int
    steps: list[list[int]] = field(default_factory=list)
    gap_s: list[float] = field(default_factory=list)
    longtask_s: list[float] = field(default_factory=list)
    load1: float | None = None
    cpu: dict[str, float] = field(default_factory=dict)


# ----------------------------------------------------------------- figures
def default_warmup_s(minutes: float, passes: Sequence[dict[str, Any]] = ()) -> float:
    """The warm-up left out of the memory growth: a fifth of the run, at most 5 minutes, and at
    least until the first tour pass is over (its pages fill their caches once).

    >>> default_warmup_s(60), default_warmup_s(60, [{"start_s": 300, "end_s": 390}])
    (300.0, 390.0)
    """
    warm = 60.0 * min(5.0, minutes / 5)
    if passes:
        warm = max(warm, float(passes[0]["end_s"]))
    return warm


def summarize(samples: list[Sample], warmup_s: float, window: int = 6) -> dict[str, Any]:
    """Growth = median RSS of the last ``window`` samples minus that of the first ``window`` after
    warm-up (RSS swings by tens of MB from one sample to the next as the allocator reuses memory;
    single samples would measure the swing, not the trend)."""
    after = [s for s in samples if s.t_s >= warmup_s] or samples[-1:]
    w = max(1, min(window, len(after) // 2 or 1))
    base = median([s.rss_mb for s in after[:w]])
    end_mb = median([s.rss_mb for s in after[-w:]])
    xs = [s.t_s / 3600 for s in after]
    ys = [s.rss_mb for s in after]
    slope = 0.0
    if len(after) >= 3:
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        den = sum((x - mx) ** 2 for x in xs)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0
    first_steps = next((s.steps for s in samples if s.steps), [])
    last_steps = samples[-1].steps if samples else []
    loads = [s.load1 for s in samples if s.load1 is not None]
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
        "load_median": median(loads) if loads else None,
        "load_max": max(loads) if loads else None,
    }


def _in_pass(t0: float, t1: float, passes: Sequence[dict[str, Any]]) -> bool:
    """Whether the interval (t0, t1] overlaps a tour pass."""
    return any(p["start_s"] < t1 and p.get("end_s", math.inf) > t0 for p in passes)


def stall_summary(samples: list[Sample], facts: dict[str, Any]) -> dict[str, Any]:
    """The pages' figures over the run: stalls, longtasks, exceptions (the probe's sums and
    maxima), the longest counter gap of the pages outside and during the other page's tour
    passes, and the tour passes.

    >>> import dataclasses
    >>> s = [Sample(t, 1, 1, gap_s=[g]) for t, g in ((0, 0.3), (10, 1.4), (20, 0.4))]
    >>> f = {"page_stats": [dataclasses.asdict(PageStats(gap_max_s=1.4, gaps_over=1))],
    ...      "tour_passes": [{"start_s": 5, "end_s": 9, "scenes": 8, "ok": True}]}
    >>> d = stall_summary(s, f)
    >>> d["gap_max_s"], d["gap_outside_s"], d["gap_during_s"], d["passes_ok"], d["scenes"]
    (1.4, 0.4, 1.4, 1, 8)
    """
    stats = [PageStats(**d) for d in facts.get("page_stats", [])]
    passes = facts.get("tour_passes", [])
    outside, during = 0.0, 0.0
    for prev, s in zip(samples, samples[1:]):
        g = max(s.gap_s, default=0.0)
        if _in_pass(prev.t_s, s.t_s, passes):
            during = max(during, g)
        else:
            outside = max(outside, g)
    return {
        "pages": stats,
        "gap_max_s": max((p.gap_max_s for p in stats), default=0.0),
        "gaps_over": sum(p.gaps_over for p in stats),
        "watched_min": sum(p.watched_s for p in stats) / 60,
        "changes": sum(p.changes for p in stats),
        "gap_outside_s": outside,
        "gap_during_s": during,
        "longtask_max_s": max((p.longtask_max_s for p in stats), default=0.0),
        "longtasks": sum(p.longtasks for p in stats),
        "longtasks_over": sum(p.longtasks_over for p in stats),
        "excluded_longtask_max_s": max((p.excluded_longtask_max_s for p in stats), default=0.0),
        "excluded_longtasks": sum(p.excluded_longtasks for p in stats),
        "exception_boxes": sum(p.exception_boxes for p in stats),
        "page_errors": sum(p.page_errors for p in stats),
        "log_tracebacks": list(facts.get("log_tracebacks", [])),
        "passes": len(passes),
        "passes_ok": sum(1 for p in passes if p.get("ok")),
        "scenes": sum(int(p.get("scenes", 0)) for p in passes),
        "pass_seconds": [round(p.get("seconds", 0.0)) for p in passes],
    }


def _waits(samples: Sequence[Sample]) -> dict[str, float | int | None]:
    """Medians over ``samples`` of the load, the cores busy and the seconds the server's threads
    and the renderers' main threads waited for a core per second they ran."""

    def med(xs: list[float]) -> float | None:
        return median(xs) if xs else None

    cpu = [s.cpu for s in samples if s.cpu]
    return {
        "n": len(samples),
        "load": med([s.load1 for s in samples if s.load1 is not None]),
        "busy": med([c["busy"] for c in cpu]),
        "server": med([c["server_wait"] / c["server_cpu"] for c in cpu if c["server_cpu"] > 0]),
        "render": med([c["render_wait"] / c["render_cpu"] for c in cpu if c["render_cpu"] > 0]),
    }


def cpu_summary(samples: list[Sample]) -> dict[str, dict[str, float | int | None]]:
    """The machine's share in the stalls: :func:`_waits` over the samples whose interval held a
    stall (a counter gap over :data:`STALL_S`), over the others, and over all.

    >>> c = {"busy": 1.0, "server_cpu": 0.5, "server_wait": 1.0, "render_cpu": 0.2,
    ...      "render_wait": 0.6}
    >>> d = cpu_summary([Sample(0, 1, 1, gap_s=[0.4], load1=2.0, cpu={**c, "server_wait": 0.1}),
    ...                  Sample(9, 1, 1, gap_s=[1.9], load1=9.0, cpu=c)])
    >>> d["stalled"]["server"], d["stalled"]["load"], d["smooth"]["server"], d["all"]["n"]
    (2.0, 9.0, 0.2, 2)
    """
    stalled = [s for s in samples if max(s.gap_s, default=0.0) > STALL_S]
    smooth = [s for s in samples if 0.0 < max(s.gap_s, default=0.0) <= STALL_S]
    return {"stalled": _waits(stalled), "smooth": _waits(smooth), "all": _waits(samples)}


def verdict(summary: dict[str, Any], stalls: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """The soak's verdict lines: (measure, value, met?) for memory growth after warm-up, the
    longest stall of a step counter, the longest longtask, exceptions and tour passes (this line
    only where the run took any).

    >>> summary = {"growth_mb": 12.0}
    >>> stalls = {"gap_max_s": 0.6, "gaps_over": 0, "longtask_max_s": 0.2, "longtasks_over": 0,
    ...           "longtasks": 5, "watched_min": 50.0, "exception_boxes": 0, "page_errors": 0,
    ...           "log_tracebacks": [], "passes": 0, "passes_ok": 0, "scenes": 0}
    >>> [ok for _, _, ok in verdict(summary, stalls)]
    [True, True, True, True]
    """
    lines = [
        (
            "memory growth after warm-up",
            f"{summary['growth_mb']:+.1f} MB (target < {TARGET_MB:.0f} MB)",
            summary["growth_mb"] < TARGET_MB,
        ),
        (
            "longest stall of a step counter while playing",
            f"{stalls['gap_max_s']:.2f} s; {stalls['gaps_over']} gaps over {STALL_S:.0f} s in "
            f"{stalls['watched_min']:.0f} page-minutes of playing watched (target: none over "
            f"{STALL_S:.0f} s)",
            stalls["gap_max_s"] <= STALL_S,
        ),
        (
            "longest longtask (main thread blocked) while playing",
            f"{1000 * stalls['longtask_max_s']:.0f} ms; {stalls['longtasks_over']} of "
            f"{stalls['longtasks']} longtasks over {STALL_S:.0f} s (target: none)",
            stalls["longtasks_over"] == 0 and stalls["longtask_max_s"] <= STALL_S,
        ),
        (
            "exceptions",
            f"{stalls['exception_boxes']} exception boxes on the pages, {stalls['page_errors']} "
            f"JavaScript errors, {len(stalls['log_tracebacks'])} tracebacks in the server log "
            "(target: none)",
            stalls["exception_boxes"] + stalls["page_errors"] + len(stalls["log_tracebacks"]) == 0,
        ),
    ]
    if stalls["passes"]:
        lines.append(
            (
                "tour passes",
                f"{stalls['passes_ok']} of {stalls['passes']} complete, {stalls['scenes']} "
                "scenes seen (target: every pass through every scene)",
                stalls["passes_ok"] == stalls["passes"],
            )
        )
    return lines


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


# ----------------------------------------------------------------- pages of the docs
def _setup(facts: dict[str, Any]) -> str:
    """One sentence: what ran, on what machine, under what load."""
    mode = " in presentation mode" if facts.get("presentation") else ""
    tour = (
        f", the last one clicking through the guided tour every {facts['tour_every_min']:g} min"
        if facts.get("tour_every_min")
        else ""
    )
    return (
        f"`streamlit run` on a loopback port, {facts['pages']} headless Chromium page(s){mode} "
        f"pressing Play (query: {facts['url_query']}){tour}; the server's RSS and threads and "
        f"each page's probe sampled every {facts['interval_s']:.0f} s. Started "
        f"{facts['started']} on {facts['cpus']} CPUs; load average "
        f"{facts['load_at_start'][0]:.1f} at the start, {facts['load_at_end'][0]:.1f} at the end."
    )


def _verdict_table(lines: list[tuple[str, str, bool]]) -> list[str]:
    """The verdict lines of :func:`verdict` as a Markdown table, a miss in bold."""
    out = ["| verdict | measured | met? |", "|---|---|---|"]
    out += [f"| {m} | {v} | {'yes' if ok else '**no**'} |" for m, v, ok in lines]
    return out


_EXCLUDED = (
    "Stalls and longtasks count only while the script leaves a page alone: a page's own load and "
    "its tour passes (the script's navigation) are left out, their longtasks counted apart; the "
    "counter's clock starts at its first sight of a training counter after Play and stops while "
    "the app itself pauses (a divergence). The other page's tour passes are not left out: their "
    "work on the server is part of what a viewer sees."
)


def report(
    samples: list[Sample], facts: dict[str, Any], summary: dict[str, Any], svg_name: str
) -> str:
    """The page ``docs/soak.md``: setup, verdict, memory, pages, tour passes, samples."""
    stalls = stall_summary(samples, facts)
    lines = [
        "# Soak: an hour in front of an audience",
        "",
        f"Written by `python -m benchmarks.soak` (not part of `make test`): {_setup(facts)}",
        "",
        (
            f"Load average over the samples: median {summary['load_median']:.1f}, max "
            f"{summary['load_max']:.1f} on {facts['cpus']} cores (each sample's is in the table "
            "at the end): the step counts are not a speed measurement."
            if summary.get("load_median") is not None
            else "The step counts are not a speed measurement."
        ),
        "",
        *_verdict_table(verdict(summary, stalls)),
        "",
        _EXCLUDED,
        "",
        *_notes_md(facts),
        f"![RSS over time]({svg_name})",
        "",
        "## Memory",
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
        f"| **growth after warm-up** | **{summary['growth_mb']:+.1f} MB** |",
        f"| range after warm-up | {summary['min_after_mb']:.0f} – {summary['max_after_mb']:.0f} "
        "MB |",
        f"| trend after warm-up (least squares) | {summary['slope_mb_per_h']:+.1f} MB/h |",
        f"| server threads first / last / max | {summary['threads_first']} / "
        f"{summary['threads_last']} / {summary['threads_max']} |",
        f"| step counters at the first / last sample | {summary['steps_first']} → "
        f"{summary['steps_last']} |",
        f"| pages that had to press Play again | {facts['replays']} |",
    ]
    if summary.get("load_median") is not None:
        lines.append(
            f"| load average (1 min) over the samples, median / max | "
            f"{summary['load_median']:.1f} / {summary['load_max']:.1f} |"
        )
    lines += (
        _pages_md(stalls) + _cpu_md(samples) + _passes_md(facts) + _tracebacks_md(stalls, facts)
    )
    lines += [
        "",
        "## Samples",
        "",
        "Per page: the step counter(s), the longest counter gap and the longest longtask since "
        "the sample before (0: not watched, e.g. on a tour pass).",
        "",
        "| t (s) | RSS (MB) | threads | load | cores busy | server / renderers waited per s "
        "ran | steps per page | gap (s) | longtask (s) |",
        "|---:|---:|---:|---:|---:|---|---|---|---|",
    ]
    for s in samples:
        load = f"{s.load1:.1f}" if s.load1 is not None else ""
        c = s.cpu
        busy = f"{c['busy']:.0%}" if c else ""
        waits = (
            " / ".join(
                f"{c[k + '_wait'] / c[k + '_cpu']:.2f}" if c[k + "_cpu"] > 0 else "-"
                for k in ("server", "render")
            )
            if c
            else ""
        )
        lines.append(
            f"| {s.t_s:.0f} | {s.rss_mb:.1f} | {s.threads} | {load} | {busy} | {waits} | "
            f"{s.steps} | {s.gap_s} | {s.longtask_s} |"
        )
    return "\n".join(lines) + "\n"


def _pages_md(stalls: dict[str, Any]) -> list[str]:
    """The per-page table of stalls, longtasks and exceptions."""
    if not stalls["pages"]:
        return []
    out = [
        "",
        "## Pages",
        "",
        "| page | watched playing | counter changes | longest gap | gaps > 1 s | longtasks | "
        "longest | > 1 s | excluded longtasks (longest) | exception boxes | JS errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for i, p in enumerate(stalls["pages"], start=1):
        out.append(
            f"| {i} | {p.watched_s / 60:.1f} min | {p.changes} | {p.gap_max_s:.2f} s | "
            f"{p.gaps_over} | {p.longtasks} | {1000 * p.longtask_max_s:.0f} ms | "
            f"{p.longtasks_over} | {p.excluded_longtasks} "
            f"({1000 * p.excluded_longtask_max_s:.0f} ms) | {p.exception_boxes} | "
            f"{p.page_errors} |"
        )
    out += [
        "",
        f"Longest counter gap of any page in the sample intervals outside the tour passes: "
        f"{stalls['gap_outside_s']:.2f} s; in those that overlap a pass: "
        f"{stalls['gap_during_s']:.2f} s.",
    ]
    texts = [p.exception_text or p.page_error_text for p in stalls["pages"]]
    out += [f"\nPage {i}'s first error: `{t}`" for i, t in enumerate(texts, start=1) if t]
    return out


def _passes_md(facts: dict[str, Any]) -> list[str]:
    """The table of tour passes."""
    passes = facts.get("tour_passes", [])
    if not passes:
        return []
    out = [
        "",
        "## Tour passes",
        "",
        "| pass | started (min) | seconds | scenes | finished | presentation mode after | "
        "playing after |",
        "|---:|---:|---:|---:|---|---|---|",
    ]
    for k, p in enumerate(passes, start=1):
        done = "yes" if p.get("ok") else f"no: {p.get('error', '')}"
        out.append(
            f"| {k} | {p['start_s'] / 60:.1f} | {p.get('seconds', 0):.0f} | {p['scenes']} | "
            f"{done} | {'yes' if p.get('presenting') else 'no'} | "
            f"{'yes' if p.get('playing') else 'no'} |"
        )
    return out


def _cpu_md(samples: list[Sample]) -> list[str]:
    """The table of :func:`cpu_summary`: was the machine busy when the pages stalled?"""
    if not any(s.cpu for s in samples):
        return []
    c = cpu_summary(samples)

    def f(x: float | int | None, fmt: str) -> str:
        return "" if x is None else format(x, fmt)

    rows = [
        ("with a stall over 1 s", c["stalled"]),
        ("without (counter watched, no stall)", c["smooth"]),
        ("all", c["all"]),
    ]
    out = [
        "",
        "## Waiting for a core",
        "",
        "Each sample's interval, from the kernel's scheduler statistics (`/proc/<pid>/task/<tid>/"
        "schedstat`): how long the server's threads and the pages' renderer main threads were "
        "ready to run but waited for a core, per second they ran (0.5: work of 1 s took 1.5 s), "
        "and the fraction of the machine's two cores busy with anyone's work. Medians over the "
        "samples.",
        "",
        "| samples | count | load (1 min) | cores busy | server waited / ran | "
        "renderers waited / ran |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, w in rows:
        out.append(
            f"| {name} | {w['n']} | {f(w['load'], '.1f')} | {f(w['busy'], '.0%')} | "
            f"{f(w['server'], '.2f')} | {f(w['render'], '.2f')} |"
        )
    return out


def _tracebacks_md(stalls: dict[str, Any], facts: dict[str, Any]) -> list[str]:
    """The server log's tracebacks and other messages."""
    tbs = stalls["log_tracebacks"]
    out = ["", "The server log holds no traceback."] if not tbs else []
    if tbs:
        out += ["", "## Tracebacks in the server log", ""] + [f"- `{t}`" for t in tbs]
    msgs = facts.get("log_messages", [])
    if msgs:
        out += ["", f"Other messages in the server log ({len(msgs)}):", ""]
        out += [f"- `{m[:300]}`" for m in msgs[:20]]
    return out


def benchmarks_section(
    samples: list[Sample], facts: dict[str, Any], summary: dict[str, Any]
) -> list[str]:
    """This soak's section of ``docs/benchmarks.md`` (lines, heading :data:`SECTION` first)."""
    stalls = stall_summary(samples, facts)
    lines = verdict(summary, stalls)
    ok = all(met for _, _, met in lines)
    return [
        SECTION,
        "",
        "Issue 31, item 6: the Playground for an hour in front of an audience, "
        f"{summary['minutes']:.0f} min: {_setup(facts)} Written by `python -m benchmarks.soak "
        "--benchmarks` (not part of `make bench`); the samples, the pages' figures and the tour "
        "passes are in [soak.md](soak.md), RSS over time in [soak_rss.svg](soak_rss.svg).",
        "",
        *_verdict_table(lines),
        "",
        f"RSS {summary['start_mb']:.0f} MB at the start, {summary['warm_mb']:.0f} MB after the "
        f"warm-up ({summary['warmup_s'] / 60:.1f} min, through the first tour pass), "
        f"{summary['end_mb']:.0f} MB at the end; trend after warm-up "
        f"{summary['slope_mb_per_h']:+.0f} MB/h. Load average (1 min) over the samples: median "
        f"{summary['load_median']:.1f}, max {summary['load_max']:.1f} on 2 cores. "
        + _EXCLUDED
        + _cpu_sentence(samples)
        + (" Every target met." if ok else " Not every target met: see the notes."),
        "",
        *_notes_md(facts),
    ]


def _notes_md(facts: dict[str, Any]) -> list[str]:
    """The run's notes (``--note``), as a list under a bold heading."""
    notes = facts.get("notes", [])
    return ["**Notes.**", "", *[f"- {n}" for n in notes], ""] if notes else []


def _cpu_sentence(samples: list[Sample]) -> str:
    """One sentence from :func:`cpu_summary` (empty without CPU figures)."""
    if not any(s.cpu for s in samples):
        return ""
    c = cpu_summary(samples)

    def part(w: dict[str, float | int | None]) -> str:
        if not w["n"] or w["load"] is None or w["server"] is None or w["render"] is None:
            return "no such samples"
        return (
            f"load {w['load']:.1f}, the server's threads waiting {w['server']:.2f} s for a core "
            f"per second they ran, the renderers' main threads {w['render']:.2f} s "
            f"({w['n']} sample{'s' if w['n'] != 1 else ''})"
        )

    return (
        f" Medians over the sample intervals with a stall over {STALL_S:.0f} s: "
        f"{part(c['stalled'])}; over those without: {part(c['smooth'])}."
    )


# ----------------------------------------------------------------- writing
def write(
    samples: list[Sample],
    facts: dict[str, Any],
    warmup_s: float,
    out: Path,
    svg: Path,
    bench: Path | None = None,
) -> int:
    """Write the page ``out``, the figure ``svg`` (linked from the page by its relative path) and,
    given ``bench``, the soak's section of that page (:data:`SECTION`); print the verdict. 0 when
    every verdict line is met, else 1."""
    summary = summarize(samples, warmup_s)
    bands = [(p["start_s"], p["end_s"]) for p in facts.get("tour_passes", [])]
    svg.write_text(svg_plot(samples, warmup_s, bands=bands))
    rel = os.path.relpath(svg, out.parent)
    print(f"samples: {out.with_suffix('.json')}")
    out.write_text(report(samples, facts, summary, rel))
    if bench is not None:
        write_section(bench, benchmarks_section(samples, facts, summary), SECTION)
    lines = verdict(summary, stall_summary(samples, facts))
    for m, v, ok in lines:
        print(f"{'ok ' if ok else 'NO '} {m}: {v}")
    print(f"wrote {out} and {svg}" + (f" and {bench}'s section" if bench else ""))
    return 0 if all(ok for _, _, ok in lines) else 1
