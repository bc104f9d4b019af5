"""Speed, fit and latency of the i-ResNet Playground against its peers and the entropy floor.

``python -m benchmarks`` (what ``make bench`` runs) writes ``docs/benchmarks.md``,
``docs/fit_vs_time.svg`` and the raw ``docs/benchmarks.json``; ``--quick`` runs everything with
reduced settings in a few minutes, for checking. Not part of ``make test``.

* :mod:`benchmarks.peers` — normflows' residual flow and a Glow from normflows' parts, at our
  architecture.
* :mod:`benchmarks.throughput` — training steps per second of ``ic.Trainer(flow, data)`` against
  normflows per log-det mode and for Glow, interleaved, medians, ratios.
* :mod:`benchmarks.fit` — exact test NLL minus entropy against training wall time: ours through
  ``ic.Trainer(flow, data)``, the peers at their best lr.
* :mod:`benchmarks.tuning` — one tuning procedure for every model, the defaults read off it, fit
  per step against normflows' Glow (``python -m benchmarks.tuning``, a run of its own).
* :mod:`benchmarks.tuning_report` — the tuning's results as the section "Tuning and fit per
  step" of the page.
* :mod:`benchmarks.latency` — the dashboard's computations at their defaults.
* :mod:`benchmarks.live` — steps per second of Play in the Playground, in a browser.
* :mod:`benchmarks.soak` — a long Play in browsers, in presentation mode with tour passes: the
  server's memory, the pages' stalls, exceptions (``python -m benchmarks.soak``, a run of its own).
* :mod:`benchmarks.soak_report` — the soak's pages from its samples (what
  ``python -m benchmarks.soak --replot`` rewrites), put together from
  :mod:`benchmarks.soak_stats` (the samples, their statistics, the verdict) and
  :mod:`benchmarks.soak_figure` (RSS over time).
* :mod:`benchmarks.app_server`, :mod:`benchmarks.pages` — the app's server and headless Chromium
  on its pages, shared by the browser benchmarks and the browser tests.
* :mod:`benchmarks.first_chart` — time to the first chart of the app's pages against a trivial
  six-heatmap Streamlit page, cold and warm (``python -m benchmarks.first_chart``).
* :mod:`benchmarks.report` — the Markdown page (``write``), put together from
  :mod:`benchmarks.targets` (the targets table), :mod:`benchmarks.sections_md` (the measured
  sections) and :mod:`benchmarks.fit_plot` (the fit figure).
* :mod:`benchmarks.splice` — one section into the page, the others kept (the benchmarks that run
  on their own write theirs with it).
"""

from pathlib import Path

#: the repository's root (the folder above ``benchmarks/``): ``docs/``, the app and its tests
ROOT = Path(__file__).resolve().parent.parent
