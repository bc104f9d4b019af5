"""Speed, fit and latency of the i-ResNet Playground against its peers and the entropy floor.

``python -m benchmarks`` (what ``make bench`` runs) writes ``docs/benchmarks.md``,
``docs/fit_vs_time.svg`` and the raw ``docs/benchmarks.json``; ``--quick`` runs everything with
reduced settings in a few minutes, for checking. Not part of ``make test``.

* :mod:`benchmarks.peers` — normflows' residual flow and a Glow from normflows' parts, at our
  architecture.
* :mod:`benchmarks.throughput` — training steps per second per log-det mode, interleaved, medians,
  ratios.
* :mod:`benchmarks.fit` — exact test NLL minus entropy against training wall time, best lr per
  model.
* :mod:`benchmarks.tuning` — one tuning procedure for every model, the defaults read off it, fit
  per step against normflows' Glow (``python -m benchmarks.tuning``, a run of its own).
* :mod:`benchmarks.latency` — the dashboard's computations at their defaults.
* :mod:`benchmarks.report` — the Markdown page and the plot.
"""
