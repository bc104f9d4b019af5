"""The page's "Targets" table: each target, what was measured against it, and whether it was met.

The contract: :func:`targets` takes the whole of ``docs/benchmarks.json`` and returns
(target, measured, met?) rows of Markdown text, one per target that the sections present
allow: issue 29's and issue 30's ratios in each throughput pass that ran, the fit targets at
seed 0 and the other seeds, the per-set comparison with normflows, the density grid's latency
and the analysis pages' slider moves. A target whose section is missing reads "not measured"
or has no row. It only reads a result: it runs nothing and writes nothing.
"""

from __future__ import annotations

import math
from typing import Any

from .sections_md import PASSES, num

__all__ = ["targets"]


def _excess(fit: dict, model: str, name: str, t: float) -> float | None:
    for r in fit.get("runs", []):
        if r["model"] == model and r["dataset"] == name:
            v = r["at"].get(str(float(t)))
            return None if v is None else float(v["excess"])
    return None


def _rows(tp: dict[str, Any], group: str) -> dict[str, Any] | None:
    """The throughput row of ``group`` ("exact", "hutchinson", "glow", ...) or ``None``."""
    return next((r for r in tp.get("rows", []) if r.get("group") == group), None)


def _cmp(row: dict[str, Any] | None, a: str, b: str) -> dict[str, float] | None:
    """The per-round ratio ``a / b`` of ``row`` (median, range), ``None`` when not measured."""
    if row is None:
        return None
    return next((c for c in row["comparisons"] if c["a"] == a and c["b"] == b), None)


def _rate(row: dict[str, Any], name: str) -> float:
    return float(row["contenders"][name]["rate"])


def _pair(
    tp: dict[str, Any], group: str, a: str, b: str | None, need: float, what: str
) -> tuple[str, str] | None:
    """(measured, met?) of the ratio ``a / b`` of ``group``'s row (``b`` ``None``: the row's
    fastest peer) in each pass of the throughput section (:data:`PASSES`) that ran. ``what``
    names the ratio (``"normflows' rate"``)."""
    parts, met = [], []
    for key, clock in PASSES:
        section = tp.get(key, {})
        row = _rows(section, group)
        if row is None or a not in row["contenders"]:
            continue
        other = b or row["peer"]
        c = _cmp(row, a, other)
        if c is None:
            continue
        engines = f"{row['contenders'][a]['engine']}"
        if other in row["contenders"] and row["contenders"][other].get("engine") != engines:
            engines += f" against {row['contenders'][other]['engine']}"
        parts.append(
            f"{clock}: **{c['ratio']:.2f}x** {what} (range {c['ratio_min']:.2f}–"
            f"{c['ratio_max']:.2f}; {_rate(row, a):.1f} against {_rate(row, other):.1f} steps/s; "
            f"{engines}; {section['rounds']} rounds of {section['block_s']:g} s)"
        )
        met.append(f"{'yes' if c['ratio'] >= need else 'no'} ({clock})")
    if not parts:
        return None
    return "; ".join(parts), ", ".join(met)


def _throughput_targets(res: dict[str, Any]) -> list[tuple[str, str, str]]:
    from .throughput import DOC_1, DOC_10, GLOW, IRESNET_MATCHED

    tp = res.get("throughput", {})
    wanted = [
        (
            "Issue 29: the documented call, `ic.Trainer(flow, data)` with nothing else passed "
            "and `.step(1)` in a loop, ≥ 3x normflows' residual flow (8 x 2-128-128-2, batch "
            "500, exact log-det)",
            ("exact", DOC_1, None, 3.0, "normflows' rate"),
        ),
        (
            "Issue 29: `step(1)` in a loop within 10% of `step(10)`'s steps per second",
            ("exact", DOC_1, DOC_10, 0.9, "`step(10)`'s rate"),
        ),
        (
            "Issue 30: our Glow's step (`ic.Trainer(glow, data)`) ≥ 5x normflows' Glow from "
            "parts at the default parameter-matched size",
            ("glow", GLOW, None, 5.0, "normflows' Glow's rate"),
        ),
        (
            "Issue 30: our Glow's step no slower than our i-ResNet's at the same parameter count",
            ("glow", GLOW, IRESNET_MATCHED, 1.0, "the i-ResNet's rate"),
        ),
        (
            "Issue 6: throughput vs normflows, Hutchinson series N=5: ≥ 2x",
            ("hutchinson", DOC_10, None, 2.0, "normflows' rate"),
        ),
    ]
    rows = []
    for goal, args in wanted:
        got = _pair(tp, *args)
        rows.append((goal, *(got or ("not measured", "–"))))
    return rows


def _seeds_verdict(first: bool, others: list[bool]) -> str:
    """ "yes" only when seed 0 and every other seed meet the target; else says which did.

    Example:
        >>> _seeds_verdict(True, [True, True]), _seeds_verdict(True, [False, True])
        ('yes', 'at seed 0 only: 1 of 2 other seeds')
    """
    if first and all(others):
        return "yes"
    if first:
        return f"at seed 0 only: {sum(others)} of {len(others)} other seeds"
    return "no"


def targets(res: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(target, measured, met?) rows."""
    rows = _throughput_targets(res)
    fit = res.get("fit", {})
    cps = [float(c) for c in fit.get("checkpoints", [])]
    for name, t, need in (("8gaussians", 30.0, 0.02), ("checkerboard", 60.0, 0.15)):
        goal = (
            f"Issue 29: `ic.Trainer(flow, data)` with nothing else passed, {name} within {need} "
            f"nats of its entropy after {t:g} s"
        )
        if t in cps:
            e = _excess(fit, "iresnet", name, t)
            run = next(r for r in fit["runs"] if r["model"] == "iresnet" and r["dataset"] == name)
            at = run["at"][str(t)]
            others = [
                r for r in fit.get("seed_spread", []) if r["dataset"] == name and r["seconds"] == t
            ]
            spread = (
                (
                    "; at other seeds "
                    + ", ".join(f"{num(r['excess'])} (seed {r['seed']})" for r in others)
                    + f", {sum(r['excess'] <= need for r in others)} of {len(others)} within"
                )
                if others
                else ""
            )
            took = (
                f" ({at['wall']:.0f} s of wall time, {at['cpu']:.0f} s of CPU)"
                if "cpu" in at
                else ""
            )
            rows.append(
                (
                    goal,
                    f"{num(e)} nats (seed 0, {at['steps']:,} steps in {t:g} s of training{took}; "
                    f"budget: {fit.get('clock', '')}; {run.get('engine', '')} engine){spread}",
                    _seeds_verdict(
                        e is not None and e <= need, [r["excess"] <= need for r in others]
                    ),
                )
            )
        else:
            rows.append(
                (
                    goal,
                    "not measured (quick run: checkpoints "
                    + ", ".join(f"{c:g}" for c in cps)
                    + " s)",
                    "–",
                )
            )
    if fit:
        wins, total, losses = 0, 0, []
        for name in sorted({r["dataset"] for r in fit["runs"]}):
            for t in cps:
                a, b = _excess(fit, "iresnet", name, t), _excess(fit, "nf_residual", name, t)
                if a is None or b is None:
                    continue
                total += 1
                if a < b:
                    wins += 1
                else:
                    losses.append(f"{name} @ {t:g} s")
        vs_avg = [
            (_excess(fit, "iresnet", n, t), _excess(fit, "nf_residual_avg", n, t))
            for n in sorted({r["dataset"] for r in fit["runs"]})
            for t in cps
        ]
        vs_avg = [(a, b) for a, b in vs_avg if a is not None and b is not None]
        extra = (
            (
                f" (against normflows given the same running average of the weights: "
                f"{sum(a < b for a, b in vs_avg)} of {len(vs_avg)})"
            )
            if vs_avg
            else ""
        )
        rows.append(
            (
                "Issue 6: every toy set closer to its entropy than normflows at equal training "
                "time",
                f"{wins} of {total} (set, time) pairs"
                + (f"; not at {', '.join(losses)}" if losses else "")
                + extra,
                "yes" if total and wins == total else "no",
            )
        )
    lat_section = res.get("latency", {})
    lat = {r["name"]: r for r in lat_section.get("rows", [])}
    g = lat.get("density grid 200x200, i-ResNet")
    threads = "two torch threads" if lat_section.get("threads", 2) == 2 else "one torch thread"
    if g:
        v = g["median_ms"]
        t = lat.get("density grid 200x200, i-ResNet, torch path")
        vs = (
            f"; through torch alone {t['median_ms']:.0f} ms, {t['median_ms'] / v:.1f}x the time"
            if t and math.isfinite(t.get("median_ms", math.nan)) and v > 0
            else ""
        )
        glow = lat.get("density grid 200x200, Glow", {}).get("median_ms", math.nan)
        vs += f"; Glow's {glow:.0f} ms" if math.isfinite(glow) else ""
        rows.append(
            (
                "Issue 6: 200x200 density grid < 100 ms",
                f"{v:.0f} ms, median wall time on {threads} (i-ResNet; fastest "
                f"{g['min_ms']:.0f} ms){vs}",
                "yes" if v < 100 and not glow >= 100 else "no",
            )
        )
    lens = [r for r in lat.values() if r.get("lens") and math.isfinite(r.get("max_ms", math.nan))]
    if lens:
        worst = max(lens, key=lambda r: r["max_ms"])
        moves = sum(r["repeats"] for r in lens)
        rows.append(
            (
                "A slider move on an analysis page recomputes in well under 300 ms (DESIGN.md's "
                "budget)",
                f"slowest of {moves} moves {worst['max_ms']:.0f} ms ({worst['name']}); medians "
                f"{min(r['median_ms'] for r in lens):.0f}-{max(r['median_ms'] for r in lens):.0f} "
                f"ms",
                "yes" if worst["max_ms"] < 300 else "no",
            )
        )
    return rows
