"""The soak's pages: from its samples (:class:`benchmarks.soak_stats.Sample`, as
:func:`benchmarks.soak.soak` takes them and ``docs/soak.json`` keeps them) to ``docs/soak.md``
and the soak's section of ``docs/benchmarks.md`` (:data:`SECTION`), and :func:`write`, which
writes them with the figure.

The contract: Markdown text from the samples and the run's facts, the numbers in it from
:mod:`benchmarks.soak_stats` (the verdict, the memory, the stalls, the waits for a core) and the
figure from :mod:`benchmarks.soak_figure`; no server, no browser, no clock. The same samples give
the same bytes, so ``python -m benchmarks.soak --replot`` rewrites ``docs/soak.md``,
``docs/soak_rss.svg`` and the soak's section of ``docs/benchmarks.md`` exactly as the run wrote
them.

* :func:`report` — the Markdown of ``docs/soak.md``: setup, verdict, memory, pages, tour passes,
  waits for a core, samples;
* :func:`benchmarks_section` — the lines of the soak's section of ``docs/benchmarks.md``;
* :func:`write` — the page, the figure and the section written, the verdict printed.

Example:
    >>> rss = [300, 340, 350, 352, 349, 351, 353]
    >>> samples = [Sample(60.0 * m, mb, 20, gap_s=[0.3], load1=1.0) for m, mb in enumerate(rss)]
    >>> facts = {"pages": 1, "url_query": "", "interval_s": 60, "started": "noon", "cpus": 2,
    ...          "load_at_start": [1.0], "load_at_end": [1.0], "replays": 0}
    >>> lines = benchmarks_section(samples, facts, summarize(samples, warmup_s=120))
    >>> lines[0] == SECTION
    True
    >>> print(*lines[4:7], sep="\\n")
    | verdict | measured | met? |
    |---|---|---|
    | memory growth after warm-up | +1.0 MB (target < 100 MB) | yes |
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from benchmarks.pages import STALL_S
from benchmarks.soak_figure import svg_plot
from benchmarks.soak_stats import Sample, cpu_summary, stall_summary, summarize, verdict
from benchmarks.splice import write_section

__all__ = ["SECTION", "report", "benchmarks_section", "write"]

#: heading of this benchmark's section in docs/benchmarks.md; ``benchmarks.report`` keeps a
#: section whose heading ends in "(by hand)" when ``make bench`` rewrites the page
SECTION = "## An hour in front of an audience: the soak (by hand)"


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
