"""The Markdown of the sections ``make bench`` measures: throughput, fit, latency, live.

The contract: each ``*_md`` function takes its section of ``docs/benchmarks.json`` (what
:mod:`benchmarks.throughput`, :mod:`benchmarks.fit`, :mod:`benchmarks.latency` and
:mod:`benchmarks.live` return) and returns the section's lines, heading first, ending in a blank
line; :func:`reference_md` is the machine list's line on each section's reference speed. They
only read a result: they run nothing and write nothing. :func:`num` formats a figure as every
table of the page shows it and :data:`PASSES` names the throughput section's passes; the
targets (:mod:`benchmarks.targets`) use both. :func:`benchmarks.report.write` puts the page
together.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

__all__ = [
    "PASSES",
    "num",
    "throughput_md",
    "fit_md",
    "latency_md",
    "live_md",
    "reference_md",
]


def num(x: float | None, fmt: str = ".3f") -> str:
    """``x`` as the page's tables show it: "–" for none (or NaN), "inf", and a run that blew up
    in e-notation.

    >>> num(0.01234), num(None), num(float("inf")), num(1.28e31), num(12.3, ".0f")
    ('0.012', '–', 'inf', '1.28e+31', '12')
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    if isinstance(x, float) and abs(x) >= 1e5:  # a run that blew up: 1.28e+31, not 32 digits
        return format(x, ".2e")
    return format(x, fmt)


#: The throughput section's passes: (key, words).
PASSES = (
    ("one_thread", "one torch thread, CPU time"),
    ("two_threads", "two torch threads, wall time"),
)


def _contenders_md(rows: list[dict[str, Any]]) -> list[str]:
    """One table line per contender of each row: rate, engine, parameters, architecture."""
    L = [
        "| comparison | contender | engine | steps/s | parameters |",
        "|---|---|---|---:|---:|",
    ]
    for r in rows:
        for name, c in r["contenders"].items():
            params = f"{c['params']:,}" if "params" in c else "–"
            L.append(
                f"| {r['label']} | {name} | {c.get('engine', '–')} | {c['rate']:.1f} | {params} |"
            )
    return L + [""]


def _ratios_md(rows: list[dict[str, Any]]) -> list[str]:
    """One table line per ratio of each row: median of the per-round ratios and their range."""
    L = ["| comparison | ratio | median | range over rounds |", "|---|---|---:|---:|"]
    for r in rows:
        for c in r["comparisons"]:
            L.append(
                f"| {r['label']} | {c['a']} / {c['b']} | **{c['ratio']:.2f}x** | "
                f"{c['ratio_min']:.2f}–{c['ratio_max']:.2f} |"
            )
    return L + [""]


def _load_line(section: dict[str, Any]) -> str:
    ref = section.get("reference", {})
    load = ref.get("load_avg")
    return (
        f"The machine's load average when the section started: {', '.join(map(str, load))} "
        "(1, 5, 15 min; 2 would be both cores busy). "
        if load
        else ""
    )


def _probe_line(probe: dict[str, dict[str, float]]) -> str:
    """What a second torch thread did to a normflows step (``throughput.thread_probe``)."""
    return (
        "Before this pass, one step of normflows' exact residual flow (8 x 2-128-128-2, batch "
        f"500) took {probe['1']['wall_s']:.3f} s of wall time and {probe['1']['cpu_s']:.3f} s "
        f"of CPU time on one torch thread, {probe['2']['wall_s']:.3f} s and "
        f"{probe['2']['cpu_s']:.3f} s on two."
    )


def throughput_md(tp: dict[str, Any]) -> list[str]:
    from .throughput import PRODUCTS

    L = [
        "## Throughput",
        "",
        "Training steps per second at batch 500. Ours is always the documented call, "
        "`ic.Trainer(flow, data)` with nothing else passed (the engine it picks is named per "
        "contender; our torch path adds `native=False`), normflows its README's loop (Adam at lr "
        "1e-3 on `forward_kld`, then `nf.utils.update_lipschitz(model, "
        f"{tp['one_thread']['power_iters_normflows']})`). The exact and estimated rows are at "
        "the issue's architecture, 8 blocks of 2-128-128-2 with ActNorm, c = 0.9, on both sides; "
        "the Glow row at the Playground's default size. The C engine takes the exact log-det "
        "only; the estimated rows train through torch on both sides.",
        "",
        "**Budget:** in each pass every contender of a comparison runs the same time per round "
        "on the pass's clock (as many calls as fit, at least one, after one untimed call), in an "
        "order that rotates each round, all in one process; a rate is the median over rounds, a "
        "ratio the median of the per-round ratios, with its range. Everything a timed call does "
        "is counted: our trainer's running average of the weights and its exact evaluation, due "
        "at most once a second of wall time, are inside our figures (the untimed call takes the "
        "evaluation that came due while the other contenders ran, so inside a block it falls as "
        "often as in a loop of its own); normflows' loop does neither. "
        + (
            f"The load average when the section started: "
            f"{', '.join(map(str, tp['load_avg_at_start']))} (1, 5, 15 min) on this machine's "
            "cores."
            if tp.get("load_avg_at_start")
            else ""
        ),
        "",
        "Two passes. *One torch thread, CPU time*: steps divided by the process's CPU time "
        "(`time.process_time`, all its threads, the C engine's two workers included), what a "
        "step costs on idle cores whatever the neighbours do: the comparison that holds on a "
        "shared machine. On a loaded machine our trainer evaluates more often per CPU second "
        "(its evaluation is due per second of wall time), which counts against ours. *Two torch "
        "threads, wall time*: the issue's setting; it runs only where a second thread does not "
        "slow normflows' step down (by more than a quarter, timed just before), since with "
        "more runnable threads than cores a parallel torch operation spins at its barrier "
        "waiting for a descheduled thread.",
        "",
    ]
    for key, words in PASSES:
        one = tp.get(key)
        if not one:
            continue
        L += [f"### {words[0].upper()}{words[1:]}", ""]
        if one.get("skipped"):
            L += [f"Not measured: {one['skipped']}.", ""]
            probe = one.get("probe")
            if probe:
                L += [_probe_line(probe), ""]
            continue
        clock = "CPU" if one["clock"] == "process CPU time" else "wall"
        if one.get("probe"):
            L += [_probe_line(one["probe"]), ""]
        L += [
            f"{one['rounds']} interleaved rounds of {one['block_s']:g} s of {clock} time per "
            f"contender; load average at the end of the pass "
            f"{', '.join(map(str, one.get('load_avg', [])))}.",
            "",
            *_contenders_md(one["rows"]),
            *_ratios_md(one["rows"]),
        ]
    if any(
        PRODUCTS in r["contenders"] for key, _ in PASSES for r in tp.get(key, {}).get("rows", [])
    ):
        L += [
            "### Where the exact row's time goes",
            "",
            "The analytic 2D Jacobian pass multiplies, per block and hidden-to-hidden map, the "
            "value and both tangent rows (3 x 500 rows) by the weight forward and takes the "
            "weight's and the rows' gradients backward: three products of 1500 x 128 by "
            "128 x 128, 9 B H² multiply-adds, the pass's arithmetic (the C engine does the same "
            "multiply-adds in its own loops). *The step's large matrix products alone* times "
            "them through torch (no elementwise work, optimiser or Python; operands in cache) "
            "as one more contender of the same rounds: its ratio to normflows is as far as "
            "that arithmetic alone would take the ratio on this machine; a step's rate over it "
            "is the share of the step that the arithmetic takes at torch's speed.",
            "",
        ]
    L += [
        "`reduce_memory=True` is normflows' Neumann-series gradient computed inside the forward; "
        "`False` backpropagates through the series (the faster of the two is the peer). The "
        "roulette rows draw a random number of terms per step on both sides (normflows: 2 + "
        "Geometric(0.5) on {1, 2, ...}, mean 4 terms; ours: 2 + Geometric(0.5) on {0, 1, ...}, "
        "mean 3 terms). Ours also clips the gradient norm and guards against non-finite "
        "updates; its power iteration runs once per layer inside each training step.",
        "",
    ]
    return L


def _lr_words(r: dict[str, Any]) -> str:
    """A run's learning rate, with its decay where it has one."""
    lr = f"{r['lr']:g}"
    return f"{lr}, decaying (τ {r['lr_decay']:g})" if r.get("lr_decay") else lr


def fit_md(fit: dict[str, Any]) -> list[str]:
    cps = fit["checkpoints"]
    labels = fit["labels"]
    sw = fit["sweep"]
    L = [
        "## Fit per second",
        "",
        "Exact test NLL minus the entropy floor (nats; lower is better, 0 is perfect) after "
        f"{', '.join(f'{c:g}' for c in cps)} s of training. **Budget:** equal training time, "
        f"counted as {fit.get('clock', 'wall seconds inside the training calls')}. "
        + (
            "The machine was oversubscribed when the section started (load average "
            f"{', '.join(map(str, fit.get('load_avg_at_start', [])))} on its cores), so the "
            "section ran on the CPU clock: the process's CPU seconds inside each library's "
            "training calls (our trainer's evaluations left out), a step at a time, one torch "
            "thread. That counts our C engine's second worker against ours; on an idle machine "
            "a model's wall time is at most its CPU time, so a target met here is met in wall "
            "time. "
            if fit.get("clock_kind") == "cpu"
            else "Our trainer's own `wall_time` (its evaluations left out) and "
            "`time.perf_counter` around normflows' steps; our C engine runs its loop on its own "
            "two workers with one torch thread, as `ic.Trainer` sets it. "
        )
        + "The steps each model took in that time are in the last columns, with the wall and "
        "CPU seconds they took. "
        f"Evaluation happens with the clock stopped, on {fit['n_test_final']:,} fresh points "
        "(the standard error of one figure is about 0.01 nats). Architecture: our default "
        f"flow's, {fit.get('architecture', '')}, for the residual flows; Glow parameter-matched. "
        f"Data: {fit['n_data']:,} points, a fifth held out as the Playground does, batch 500.",
        "",
        "Our two flows train through the documented call, `ic.Trainer(flow, data)` with nothing "
        "else passed, advanced by "
        + ("`step(1)` in a loop" if fit.get("clock_kind") == "cpu" else "its own `run_for`")
        + ": the library's default engine, learning rate "
        "and step-size schedule (the lr column), evaluated at its running average of the weights "
        f"(`ic.Trainer.eval_flow`, decay {fit.get('average_decay', 0.98):g}; its update is "
        "inside the clocked step), as the Playground shows them. normflows' residual flow runs "
        "its README's loop at a constant lr, the best of a sweep (below), and is evaluated at "
        "its last iterate, where that loop leaves it; the second normflows row adds our running "
        "average of the weights.",
        "",
        "| data set | entropy | model | engine | lr | "
        + " | ".join(f"after {c:g} s" for c in cps)
        + " | steps done | wall s | CPU s |",
        "|---|---:|---|---|---|" + "---:|" * len(cps) + "---:|---:|---:|",
    ]
    for r in fit["runs"]:
        ex = " | ".join(num(r["at"].get(str(float(c)), {}).get("excess")) for c in cps)
        last = r["at"].get(str(float(cps[-1])), {})
        L.append(
            f"| {r['dataset']} | {r['entropy']:.3f} | {labels.get(r['model'], r['model'])} | "
            f"{r.get('engine', '–')} | {_lr_words(r)} | {ex} | {last.get('steps', '–')} | "
            f"{num(last.get('wall'), '.0f')} | {num(last.get('cpu'), '.0f')} |"
        )
    spread = fit.get("seed_spread", [])
    if spread:
        L += [
            "",
            "The same call at other seeds (`ic.Trainer(flow, data, seed=s)` of a flow built with "
            "that seed: its initialisation and its batches; the same data), on the targets' sets "
            "at the targets' times: training in float32 is chaotic, so the seed-0 row above is "
            "one draw of these.",
            "",
            "| data set | after | seed | NLL − entropy | steps done |",
            "|---|---:|---:|---:|---:|",
        ]
        main = {r["dataset"]: r for r in fit["runs"] if r["model"] == "iresnet"}
        for name in dict.fromkeys(o["dataset"] for o in spread):  # seed 0, then the others
            rows = [o for o in spread if o["dataset"] == name]
            at = main[name]["at"].get(str(float(rows[0]["seconds"])), {}) if name in main else {}
            L.append(
                f"| {name} | {rows[0]['seconds']:g} s | 0 | {num(at.get('excess'))} | "
                f"{at.get('steps', '–')} |"
            )
            L += [
                f"| {name} | {o['seconds']:g} s | {o['seed']} | {num(o['excess'])} | "
                f"{o['steps']} |"
                for o in rows
            ]
    L += [
        "",
        "![NLL minus entropy against training time](fit_vs_time.svg)",
        "",
        f"normflows' learning rates: the best of {', '.join(f'{x:g}' for x in sw['lrs'])} after "
        f"{sw['seconds']:g} s of training on {' and '.join(sw['datasets'])} (mean excess; "
        "the same budget as above):",
        "",
        "| model | " + " | ".join(f"lr {x:g}" for x in sw["lrs"]) + " | chosen |",
        "|---|" + "---:|" * len(sw["lrs"]) + "---|",
    ]
    for m, table in sw["excess"].items():
        cells = " | ".join(num(sum(v) / len(v)) for v in table.values())
        L.append(f"| {labels.get(m, m)} | {cells} | {sw['best'][m]:g} |")
    L.append("")
    return L


def latency_md(lat: dict[str, Any]) -> list[str]:
    L = [
        "## Latency",
        "",
        f"Median of {lat['repeats']} repeats after one warm-up, default settings, the 8gaussians "
        f"model ({lat.get('flow_origin', '')}), "
        + (
            "two torch threads in the main thread (the best case on an idle machine"
            if lat.get("threads", 2) == 2
            else "one torch thread in the main thread (the machine was oversubscribed, load "
            f"average {', '.join(map(str, lat.get('load_avg_at_start', [])))} on its cores: two "
            "would have spun at every barrier"
        )
        + "; the app runs its computations in Streamlit's own threads on one torch thread, "
        "dashboard/runtime.py, as the two rows marked so measure). "
        + _load_line(lat)
        + '"CPU" is the CPU time of the calling thread only (other threads\' share is not in '
        'it); "wall" is what a person waits. **Budget:** none; each row is the time a '
        "computation takes.",
        "",
        "| computation | CPU (ms) | wall, median (ms) | wall, min (ms) | note |",
        "|---|---:|---:|---:|---|",
    ]
    for r in lat["rows"]:
        note = r.get("error") or r.get("note", "")
        L.append(
            f"| {r['name']} | {num(r.get('cpu_ms'), '.1f')} | {num(r.get('median_ms'), '.1f')} | "
            f"{num(r.get('min_ms'), '.1f')} | {escape(str(note))} |"
        )
    L.append("")
    if any(r.get("lens") for r in lat["rows"]):
        L += [
            "The analysis pages' rows: the page run by Streamlit's `AppTest` as "
            "`streamlit_app.py` mounts it "
            "(what a person waits for after moving the slider, less the browser's drawing), the "
            "slider moved "
            "to a value new to the page each time, so nothing comes from a cache; no CPU column "
            "(the page runs "
            "in Streamlit's own thread).",
            "",
        ]
    return L


def live_md(live: dict[str, Any]) -> list[str]:
    own = live.get("trainer_rates", {})
    budget = live.get("budget")
    L = [
        "## Live training",
        "",
        "Steps per second of Play in the Playground itself: `streamlit run` with the "
        "repository's config, one headless Chromium page per row on the same two cores, from "
        "scratch at the default settings"
        + (f" (with both models shown, the default budget: *{budget}*)" if budget else "")
        + f", the page's step counter read {live.get('window_s', 0):g} s apart, from "
        f"{live.get('warmup_s', 0):g} s after Play. **Budget:** the same window of wall time per "
        "page. The share is the Play rate over the trainer's own rate, measured alone before the "
        "server starts (the trainers of a Playground state at the default settings, from "
        "scratch, one torch thread"
        + (": " + ", ".join(f"{n} {r:.1f} steps/s" for n, r in own.items()) if own else "")
        + "): how much of the loop (burst, redraw, Streamlit, browser) goes to training. Each "
        "model trains in its own burst of every tick, so with both shown each gets under half "
        "the time. Bursts run on one torch thread (`TRAIN_THREADS` in "
        "`dashboard/views/playground.py`): with two, a step stalled at every parallel "
        "operation's barrier while the browser held the other core "
        "(`iresnet_core/training/threads.py`).",
        "",
    ]
    if live.get("skipped"):
        return L + [f"Not measured: {live['skipped']}.", ""]
    L += [
        "| data set | models shown | steps per second of Play | share of the trainer's own rate |",
        "|---|---|---:|---:|",
    ]
    for r in live["rows"]:
        rates = r["steps_per_s"]
        shares = [f"{n} {x / own[n]:.0%}" for n, x in rates.items() if own.get(n)]
        L.append(
            f"| {r['dataset']} | {r['models']} | "
            f"{', '.join(f'{n} {x:.1f}' for n, x in rates.items())} | "
            f"{', '.join(shares) or '–'} |"
        )
    L.append("")
    return L


def reference_md(res: dict[str, Any]) -> list[str]:
    """One line: each section's reference speed (:func:`benchmarks.common.reference_speed`), date
    and CPU (sections kept from earlier runs may have run on another machine than the one
    above)."""
    parts = []
    for name in ("throughput", "fit", "latency", "live"):
        if name in res:
            ref = res[name].get("reference")
            speed = f"{ref['step_cpu_ms']:.1f} ms" if ref else "not recorded"
            cpu = res[name].get("cpu", "CPU not recorded")
            parts.append(f"{name} {speed} ({res[name].get('date', 'date unknown')}, {cpu})")
    if not parts:
        return []
    return [
        "- reference speed at the start of each section, our default flow's training step on one "
        "thread in CPU "
        "time (the same workload in every run: machines drawn for different runs differ by up to "
        "2x, so "
        "absolute figures compare across sections only where these agree; ratios are measured "
        "within a "
        "section): " + ", ".join(parts)
    ]
