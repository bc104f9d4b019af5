"""The soak's samples and what they add up to: the server's memory, the pages' stalls, the waits
for a core, and the verdict against the targets.

The contract: :class:`Sample` is one sample as :func:`benchmarks.soak.soak` takes it and
``docs/soak.json`` keeps it; the functions here take a list of them (and the run's facts, as
``docs/soak.json`` keeps them) and return plain numbers, dictionaries and (measure, value, met?)
lines. Pure arithmetic: no server, no browser, no clock, no file.

* :func:`summarize` — the server's memory: the growth after the warm-up
  (:func:`default_warmup_s`) as medians of a window of samples, the trend, threads, load;
* :func:`stall_summary`, :func:`cpu_summary` — the pages' stalls, longtasks and exceptions, the
  tour passes, and how long the server and the renderers waited for a core;
* :func:`verdict` — (measure, value, met?) against the targets (:data:`TARGET_MB`,
  :data:`benchmarks.pages.STALL_S`).

Example:
    >>> rss = [300, 340, 350, 352, 349, 351, 353]
    >>> samples = [Sample(60.0 * m, mb, 20, gap_s=[0.3], load1=1.0) for m, mb in enumerate(rss)]
    >>> summary = summarize(samples, warmup_s=120)
    >>> summary["warm_mb"], summary["end_mb"], summary["growth_mb"]
    (351.0, 352.0, 1.0)
    >>> [ok for _, _, ok in verdict(summary, stall_summary(samples, {}))]
    [True, True, True, True]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from benchmarks.pages import STALL_S, PageStats

__all__ = [
    "TARGET_MB",
    "Sample",
    "default_warmup_s",
    "summarize",
    "stall_summary",
    "cpu_summary",
    "verdict",
]

TARGET_MB = 100.0  #: memory growth after warm-up must stay below this


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


# ----------------------------------------------------------------- statistics
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
