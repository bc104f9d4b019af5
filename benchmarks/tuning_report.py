"""The tuning's report: its results as the section "Tuning and fit per step" of
``docs/benchmarks.md``.

What :func:`benchmarks.tuning.run` returns (kept in ``docs/tuning.json``) goes in, Markdown lines
come out (:func:`section_md`): the procedure in words, every setting's test NLL minus entropy
per set and rung (trained weights / running average), the seeds' table, the defaults read off it
(:func:`chosen`), fit per step at each model's chosen setting (:func:`fit_per_step`), issue 30's
target (:func:`glow_target`) and, where the tuning holds one, the table of Glow's parts. The
functions here only read a result: they run nothing, write nothing and need neither torch nor
normflows. The page is written by :func:`benchmarks.splice.write_section` (``python -m
benchmarks.tuning``, which keeps only this section up to date) and by
:func:`benchmarks.report.write` (``python -m benchmarks``, the whole page).

The constants the report states or orders by (:data:`MODELS`, :data:`LABELS`, :data:`MARGIN`,
:data:`EDGE_FACTOR`, :data:`SECTION`) live here and :mod:`benchmarks.tuning` imports them, so
that the run depends on its report and not the other way round.

Example:
    >>> per_set = {"rings": {"raw": 0.12, "average": 0.10},
    ...            "2spirals": {"raw": 0.30, "average": 0.34}}
    >>> score(per_set)  # the mean over the sets at the better evaluation (the trained weights')
    0.21
    >>> row = {"setting": {"lr": 0.003, "decay": None, "warmup": 0}, "label": "lr 0.003, constant",
    ...        "excess": {"300": per_set, "1500": per_set}, "stopped": None}
    >>> glow = {"rungs": [300, 1500], "settings": {"a": row}, "winner": "a", "warmup": None}
    >>> fit_per_step({"models": {"glow": glow}})
    [('glow', 'lr 0.003, constant, trained weights', {'1500': {'rings': 0.12, '2spirals': 0.3}})]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "MODELS",
    "LABELS",
    "MARGIN",
    "EDGE_FACTOR",
    "SECTION",
    "score",
    "chosen",
    "fit_per_step",
    "glow_target",
    "section_md",
]

#: The models tuned, in the order of the report's rows.
MODELS = ("iresnet", "glow", "nf_glow")
LABELS = {
    "iresnet": "i-ResNet (ours)",
    "glow": "Glow (ours, parameter-matched)",
    "nf_glow": "normflows' Glow from its parts (parameter-matched)",
}
#: At the first rung every setting within this many nats (mean over the sets) of the best goes on.
MARGIN = 1.0
#: A best lr at the grid's edge races the lr this factor beyond it
#: (:func:`benchmarks.tuning.complete`).
EDGE_FACTOR = 3.0
#: The section's heading in ``docs/benchmarks.md``.
SECTION = "## Tuning and fit per step"


def _mean(xs: list[float]) -> float:
    return float(np.mean(xs)) if xs and all(map(math.isfinite, xs)) else math.inf


def score(per_set: dict[str, Any] | None) -> float:
    """The ranking score: the mean excess over the sets at the better of the two evaluations
    (``inf`` where a run stopped or the rung was not reached)."""
    if not per_set or any(v is None for v in per_set.values()):
        return math.inf
    return min(_mean([v[k] for v in per_set.values()]) for k in ("raw", "average"))


def _f(x: float | None, fmt: str = ".3f") -> str:
    """``x`` as the tables show it: "–" for none, "inf" for a run that stopped."""
    if x is None:
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    return format(x, fmt)


def _mean_of(per_set: dict[str, Any] | None, kind: str) -> float | None:
    """The mean over the sets of one evaluation (``"raw"`` or ``"average"``); ``inf`` when a run
    stopped, ``None`` when the rung was not reached."""
    if not per_set:
        return None
    if any(v is None for v in per_set.values()):
        return math.inf
    return _mean([v[kind] for v in per_set.values()])


def _pair(per_set: dict[str, Any] | None, name: str | None = None) -> str:
    """``"raw / average"`` of one set (or of the mean over the sets)."""
    if per_set is None or (name is not None and name not in per_set):
        return ""
    if name is None:
        return f"{_f(_mean_of(per_set, 'raw'))} / {_f(_mean_of(per_set, 'average'))}"
    v = per_set[name]
    return "stopped" if v is None else f"{_f(v['raw'])} / {_f(v['average'])}"


def chosen(m: dict[str, Any]) -> dict[str, Any]:
    """A model's defaults read off its table: the winning setting, whether its running average
    (rather than its last iterate) is the better evaluation, and whether the warm-up helped (all
    by the mean excess over the sets at the middle rung)."""
    row = m["settings"][m["winner"]]
    mid = str(m["rungs"][1] if len(m["rungs"]) > 1 else m["rungs"][0])
    plain = row["excess"].get(mid)
    kind = "average" if _mean_of(plain, "average") <= _mean_of(plain, "raw") else "raw"
    warm = (m.get("warmup") or {}).get("excess", {}).get(mid)
    w_mean = _mean_of(warm, kind)
    return {
        "setting": row["setting"],
        "average": kind == "average",
        "warmup": m["warmup"]["setting"]["warmup"]
        if w_mean is not None and w_mean < _mean_of(plain, kind)
        else 0,
        "mean": {"plain": _mean_of(plain, kind), "warmup": w_mean},
    }


def fit_per_step(res: dict[str, Any]) -> list[tuple[str, str, dict[str, dict[str, float | None]]]]:
    """Rows ``(model, label, {rung: {set: excess}})``: each model at its winning setting, at the
    evaluation it is best with, at the rungs after the first."""
    rows: list[tuple[str, str, dict[str, dict[str, float | None]]]] = []
    for model in MODELS:
        m = res["models"].get(model)
        if not m:
            continue
        ch = chosen(m)
        kind = "average" if ch["average"] else "raw"
        row = m["settings"][m["winner"]]
        cells = {
            str(r): {
                n: (None if v is None else v[kind])
                for n, v in row["excess"].get(str(r), {}).items()
            }
            for r in m["rungs"][1:]
        }
        label = row["label"] + (", running average" if ch["average"] else ", trained weights")
        rows.append((model, label, cells))
    return rows


def _intro(res: dict[str, Any], m: dict[str, Any]) -> str:
    """The section's first paragraph: who wrote it when, and the procedure in words (read off
    ``res`` and its first model's result ``m``)."""
    rungs = m["rungs"]
    lrs = m.get("lrs") or sorted({s["setting"]["lr"] for s in m["settings"].values()})
    tau = next((s["setting"]["decay"] for s in m["settings"].values() if s["setting"]["decay"]), 0)
    cpu = ", ".join(f"{LABELS.get(k, k)} {v['cpu_s'] / 60:.0f}" for k, v in res["models"].items())
    who = "`python -m benchmarks.tuning" + (
        " --quick` (reduced settings, for checking only)" if res.get("quick") else "`"
    )
    warm = next(
        (v["warmup"]["setting"]["warmup"] for v in res["models"].values() if v.get("warmup")), 0
    )
    return (
        f"Written by {who} on {res['date']} ({res['wall_s'] / 60:.0f} min wall on the shared "
        f"machine; CPU minutes: {cpu}); raw figures: `docs/tuning.json`. One procedure for every "
        f"model (`benchmarks/tuning.py`): each learning rate of the grid "
        f"{', '.join(f'{x:g}' for x in lrs)}, with a constant step size and with the decay "
        f"`lr / sqrt(1 + t / tau)` (tau {tau:g}), trains on {', '.join(m['datasets'])} (the "
        f"Playground's {res['n_data']:,} points, the same 16,000 training points for every model, "
        f"batch {res['batch']}, seed 0, one torch thread per run); each run is evaluated at its "
        f"trained weights and at the running average of its weights (`ic.AVERAGE_DECAY`) by the "
        f"exact test NLL minus the entropy on fresh points ({res['n_test'][1]:,} at the table's "
        f"rungs). The settings race: every one to {rungs[0]} steps; every one within "
        f"{m.get('margin', MARGIN):g} nats of the best there (the mean over the sets at the "
        f"better evaluation) on to {rungs[1]}, so that a slow starter keeps its chance; where the "
        f"best there has the grid's smallest (largest) lr, the lr {EDGE_FACTOR:g} times smaller "
        f"(larger) joins it there (our models; normflows' Glow is held to the grid); the two best "
        f"there once more at another seed (our models), and the better by the mean on to "
        f"{rungs[-1]}; then our models' winners once more with a linear warm-up of {warm} steps. "
        "Each cell: trained weights / running average; the chosen setting in bold."
    )


def section_md(res: dict[str, Any]) -> list[str]:
    """The section's Markdown lines: the procedure, the tuning table, the chosen defaults, and
    the fit-per-step table with normflows' Glow as a row."""
    models = res["models"]
    m0 = next(iter(models.values()))
    rungs, ds = [str(r) for r in m0["rungs"]], m0["datasets"]
    cols = [(r, n) for r in rungs[1:] for n in ds]
    L = [SECTION, "", _intro(res, m0), ""]
    L += [
        "| model | setting | "
        + " | ".join(f"{n} @ {r}" for r, n in cols)
        + f" | mean @ {rungs[1]} | mean @ {rungs[0]} |",
        "|---|---|" + "---:|" * (len(cols) + 2),
    ]
    for model, m in models.items():
        rows = list(m["settings"].items())
        if m.get("warmup"):
            rows.append(("warmup", m["warmup"]))
        for key, row in rows:
            ex = row["excess"]
            label = f"**{row['label']}**" if key == m["winner"] else row["label"]
            L.append(
                f"| {LABELS.get(model, model)} | {label} | "
                + " | ".join(_pair(ex.get(r), n) for r, n in cols)
                + f" | {_pair(ex.get(rungs[1]))} | {_pair(ex.get(rungs[0]))} |"
            )
    L.append("")
    stopped = [
        f"{LABELS.get(model, model)}, {row['label']}: {row['stopped']}"
        for model, m in models.items()
        for row in m["settings"].values()
        if row.get("stopped")
    ]
    if stopped:
        L += ["Stopped runs: " + "; ".join(stopped) + ".", ""]
    seeded = [
        (model, m, key, row)
        for model, m in models.items()
        for key, row in m["settings"].items()
        if row.get("seeds")
    ]
    if seeded:
        mid = rungs[1]
        L += [
            f"The two best of our models at {mid} steps at another seed (the mean over the seeds "
            "decides; score: the mean over the sets at the better evaluation):",
            "",
            "| model | setting | " + " | ".join(f"{n} @ {mid}" for n in ds) + " | score | "
            "score, seed 0 |",
            "|---|---|" + "---:|" * (len(ds) + 2),
        ]
        for model, m, key, row in seeded:
            for seed, per in row["seeds"].items():
                label = f"**{row['label']}**" if key == m["winner"] else row["label"]
                L.append(
                    f"| {LABELS.get(model, model)} | {label}, seed {seed} | "
                    + " | ".join(_pair(per, n) for n in ds)
                    + f" | {_f(score(per))} | {_f(score(row['excess'].get(mid)))} |"
                )
        L.append("")
    L += ["Read off the table (`ic.DEFAULT_LR`, `ic.DEFAULT_LR_DECAY`):", ""]
    for model, m in models.items():
        ch = chosen(m)
        st = ch["setting"]
        decay = "constant" if st["decay"] is None else f"decay tau {st['decay']:g}"
        evaluation = (
            "the running average of the weights" if ch["average"] else "the trained weights"
        )
        if m.get("warmup") is None:
            warm = ""
        elif ch["warmup"]:
            mean = ch["mean"]
            warm = (
                f"; warm-up {ch['warmup']} steps ({_f(mean['warmup'])} against "
                f"{_f(mean['plain'])} without)"
            )
        else:
            warm = (
                f"; no warm-up ({_f(ch['mean']['plain'])} against {_f(ch['mean']['warmup'])} with)"
            )
        L.append(
            f"- {LABELS.get(model, model)}: lr {st['lr']:g}, {decay}, best at {evaluation}{warm} "
            f"(means at {rungs[1]} steps)"
        )
    L += [
        "",
        "### Fit per step",
        "",
        "Test NLL minus entropy (nats) at equal steps: each model at its setting chosen above "
        "(one grid for all), at the evaluation it is best with. The fit-per-second table above "
        "measures the same against training time.",
        "",
        "| model | setting | " + " | ".join(f"{n} @ {r}" for r, n in cols) + " |",
        "|---|---|" + "---:|" * len(cols),
    ]
    for model, label, cells in fit_per_step(res):
        L.append(
            f"| {LABELS.get(model, model)} | {label} | "
            + " | ".join(_f(cells.get(r, {}).get(n)) for r, n in cols)
            + " |"
        )
    L += ["", *glow_target(res)]
    if res.get("glow_parts"):
        L += _parts_md(res["glow_parts"])
    return L


def glow_target(res: dict[str, Any]) -> list[str]:
    """Issue 30's target, one line: our Glow at equal steps within 0.02 nats of normflows' Glow,
    or better, each at its chosen setting."""
    rows = {m: c for m, _, c in fit_per_step(res)}
    if "glow" not in rows or "nf_glow" not in rows:
        return []
    pairs, misses = 0, []
    for r, per in rows["glow"].items():
        for n, a in per.items():
            b = rows["nf_glow"].get(r, {}).get(n)
            if a is None or b is None:
                continue
            pairs += 1
            if not a <= b + 0.02:
                misses.append(f"{n} @ {r} ({a:.3f} against {b:.3f})")
    return [
        "Target (issue 30), our Glow at equal steps within 0.02 nats of normflows' Glow or "
        f"better: {'met' if not misses else 'not met'}, {pairs - len(misses)} of {pairs} "
        "(set, steps) pairs" + (f"; not at {', '.join(misses)}" if misses else "") + ".",
        "",
    ]


def _parts_md(parts: dict[str, Any]) -> list[str]:
    """The subsection "Glow's parts": what :func:`benchmarks.tuning.glow_parts` returned."""
    cps, ds = [str(c) for c in parts["checkpoints"]], parts["datasets"]
    cols = [(c, n) for c in cps for n in ds]
    L = [
        "### Glow's parts",
        "",
        "Our Glow against normflows' Glow, one change at a time, at a constant lr "
        f"{parts['lr']:g} (trained weights / running average, nats above the entropy; the same "
        "data, seed and evaluation as above).",
        "",
        "| Glow | " + " | ".join(f"{n} @ {c}" for c, n in cols) + f" | mean @ {cps[-1]} |",
        "|---|" + "---:|" * (len(cols) + 1),
    ]
    for row in parts["rows"]:
        ex = row["excess"]
        L.append(
            f"| {row['label']} | "
            + " | ".join(_pair(ex.get(c), n) for c, n in cols)
            + f" | {_pair(ex.get(cps[-1]))} |"
        )
    L.append("")
    for h in parts["high"]:
        what = (
            f"stopped after {h['steps']} steps ({h['stopped']})"
            if h["stopped"]
            else f"{h['steps']} steps, {_f(h['excess']['raw'])} / {_f(h['excess']['average'])}"
        )
        L.append(f"- {h['label']} at lr {parts['high_lr']:g} on {ds[0]}: {what}")
    return L + [""]
