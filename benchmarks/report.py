"""Write ``docs/benchmarks.md`` (tables, targets) and ``docs/fit_vs_time.svg`` from the results.

The contract: :func:`write` takes the whole of ``docs/benchmarks.json`` and writes the page from
scratch: the machine, the targets (:mod:`benchmarks.targets`), each measured section
(:mod:`benchmarks.sections_md`; the fit section's figure from :mod:`benchmarks.fit_plot`), the
tuning's section where ``docs/tuning.json`` is kept, the hand-written sections of the page it
replaces (:func:`benchmarks.splice.by_hand`) and the notes. ``docs/benchmarks.json`` keeps the
raw figures, and ``python -m benchmarks --report-only`` rewrites the page from it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .fit_plot import svg_fit_plot
from .sections_md import fit_md, latency_md, live_md, reference_md, throughput_md
from .splice import by_hand
from .targets import targets

__all__ = ["write"]


def write(res: dict[str, Any], docs: Path) -> Path:
    docs.mkdir(parents=True, exist_ok=True)
    m = res["machine"]
    L = [
        "# Benchmarks",
        "",
        (
            "Written by `python -m benchmarks --quick`: reduced settings, for checking only; "
            "`make bench` writes the real page."
            if res.get("quick")
            else "Written by `make bench` (`python -m benchmarks`); do not edit by hand."
        )
        + " Raw figures: "
        "`docs/benchmarks.json`.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores; torch threads: {m['torch_threads']}",
        f"- **load average** at the start: {', '.join(map(str, m['load_avg_at_start']))}, at the "
        f"end: {', '.join(map(str, m.get('load_avg_at_end', [])))} (1, 5, 15 min; the number of "
        f"processes that wanted a core, against {m['cores']} cores: the machine is shared by "
        "several people at once, so absolute figures are slower and noisier than on an idle "
        "machine; every comparison is measured interleaved in one process, so its ratio holds)",
        f"- Python {m['python']}, torch {m['torch']}, numpy {m['numpy']}, normflows "
        f"{m['normflows']}, "
        f"streamlit {m['streamlit']}, plotly {m['plotly']}",
        f"- {m['platform']}; run on {m['date']}, {res.get('total_s', 0) / 60:.1f} min in all",
        *reference_md(res),
        "",
        "## Targets",
        "",
        "Issue 29's and issue 30's, and those of issue 6 that still stand; each row names its "
        "budget, the sections below give the set-up.",
        "",
        "| target | measured | met? |",
        "|---|---|---|",
    ]
    for t, v, ok in targets(res):
        L.append(f"| {t} | {v} | {ok} |")
    L.append("")
    if "throughput" in res:
        L += throughput_md(res["throughput"])
    if "fit" in res:
        L += fit_md(res["fit"])
        (docs / "fit_vs_time.svg").write_text(svg_fit_plot(res["fit"]))
    if (docs / "tuning.json").is_file():  # its own run (python -m benchmarks.tuning), kept here
        from .tuning_report import section_md

        L += section_md(json.loads((docs / "tuning.json").read_text()))
    if "latency" in res:
        L += latency_md(res["latency"])
    if "live" in res:
        L += live_md(res["live"])
    if res.get("kept"):
        L += [
            "Sections from earlier runs (`--only` reran the others): "
            + ", ".join(
                f"{name} ({res[name].get('date', 'date unknown')})" for name in res["kept"]
            )
            + ".",
            "",
        ]
    notes = list(res.get("notes", [])) + [
        "The residual-flow peer is normflows' `LipschitzMLP([2, h, h, 2], init_zeros=True, "
        "lipschitz_const=0.9)` inside `nf.flows.Residual`, each followed by "
        "`nf.flows.ActNorm(2)`, base `DiagGaussian(2, trainable=False)`: 8 blocks with h = 128 "
        "in the throughput table (the issue's architecture), our default flow's 32 blocks with "
        "h = 32 in the fit table. Its MLP puts a LipSwish (learnable beta) before every linear "
        "map, the first included, and starts its last layer near zero; ours is "
        "Linear-ELU-Linear-ELU-Linear, every layer starting on the constraint boundary but the "
        "last, which starts at 1e-3 of it (`init='identity'`, so each block starts near the "
        "identity). Same widths, parameter counts within 0.02 %.",
        "The Glow peer is assembled from normflows' parts per step: `AffineCouplingBlock(MLP([1, "
        "h, h, 2], init_zeros=True), scale_map='sigmoid')` with alternating `channel` / "
        "`channel_inv` splits, `LULinearPermute(2)`, `ActNorm(2)`; h from `ic.match_glow`.",
        "In the fit runs normflows trains with its brute-force exact log-det (its best estimator "
        "in 2D), ours with the default exact log-det; every model is evaluated with the exact "
        "log-det.",
        "Everything here is reproducible with `make bench`; `python -m benchmarks --quick` checks "
        "the pipeline in a few minutes, `--only throughput,fit,latency,live` runs parts (the "
        "others are kept from the last run), `--report-only` rewrites this page from the JSON.",
    ]
    path = docs / "benchmarks.md"
    L += by_hand(path)
    L += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    path.write_text("\n".join(L))
    return path
