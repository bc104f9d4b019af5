"""Sweeps: many seeded training runs over a grid of settings, on Ray, into one results table.

The pages answer "what happens at this c, this N, this seed"; a sweep answers "how do the fit,
the inverse's iterations, the series bias and the classifier's error depend on c and N, over
seeds and data sets" (Behrmann et al. 2019: Table 1, Figure 2, Appendices D and E).

* :mod:`~iresnet_core.sweep.grid` — :class:`Cell` (one run, keyed by its settings),
  :func:`parse_grid` (``"c=0.5,0.9 N=2,5 dataset=rings seeds=3"``), :func:`load_grid` (TOML,
  YAML);
* :mod:`~iresnet_core.sweep.cell` — :func:`run_cell`: train through the public API and measure;
* :mod:`~iresnet_core.sweep.table` — the results table (Parquet and CSV), appended cell by cell;
* :mod:`~iresnet_core.sweep.runner` — :func:`run_sweep` and :func:`tune_lr` on Ray (imported
  there, only when a sweep runs).

``python -m iresnet_core sweep`` is the command line (:mod:`iresnet_core.cli`).

Example:
    >>> from iresnet_core import sweep
    >>> cells = sweep.parse_grid("c=0.5,0.9 dataset=rings seeds=2 steps=100")
    >>> sorted({(c.settings()["coeff"], c.seed) for c in cells})
    [(0.5, 0), (0.5, 1), (0.9, 0), (0.9, 1)]
"""

from iresnet_core.sweep.cell import MEASURES, run_cell
from iresnet_core.sweep.grid import Cell, load_grid, parse_grid
from iresnet_core.sweep.runner import SweepReport, placement, run_sweep, tune_lr
from iresnet_core.sweep.table import append_rows, finished_keys, read_rows, result_row

__all__ = [
    "Cell",
    "MEASURES",
    "SweepReport",
    "parse_grid",
    "load_grid",
    "run_cell",
    "run_sweep",
    "tune_lr",
    "placement",
    "read_rows",
    "finished_keys",
    "append_rows",
    "result_row",
]
