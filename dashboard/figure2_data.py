"""The numbers behind Figure 2 (:mod:`dashboard.figures.figure2`): each toy set's data and both
models' densities, from the pre-trained checkpoints or from fresh runs at a given budget.

No Streamlit import: the page (:mod:`dashboard.views.figure2`) and the command line
(``python -m dashboard.export --figure2``) call the same two functions. A model's panel carries
its exact test NLL minus the set's entropy, measured on the held-out fifth of the Playground's
points as ``ic.Trainer`` measures it (the checkpoint's own figure when it has one), and its
budget in words: a checkpoint's ``metrics.json`` says it under ``"budget"`` (``make assets``
writes it), else its ``"steps"``.

Example:
    >>> rows = rows_from_training(["8gaussians"], steps=2, grid=20, n_data=400)
    >>> rows[0].models["glow"].budget, rows[0].models["iresnet"].density.shape
    ('2 steps', (20, 20))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

import iresnet_core as ic
from dashboard.checkpoints import CHECKPOINT_DIR, checkpoint_dir, checkpoint_metrics
from dashboard.figures.figure2 import COLUMNS, Figure2Row, ModelPanel
from iresnet_core.cli import budget_words

__all__ = ["MODELS", "rows_from_checkpoints", "rows_from_training"]

#: The model columns of the figure.
MODELS = COLUMNS[1:]
N_DATA = 20000  #: the Playground's points per toy set (``dashboard.state.N_DATA``)


def _panel(
    flow: ic.Flow, bounds: tuple, grid: int, excess: float | None, budget: str
) -> ModelPanel:
    g = ic.analysis.density_grid(flow, bounds, n=grid)
    return ModelPanel(g.xs, g.ys, g.density, excess, budget)


def rows_from_checkpoints(
    datasets: Sequence[str] = ic.datasets.NAMES,
    *,
    root: Path | None = None,
    grid: int = 200,
    n_data: int = N_DATA,
) -> list[Figure2Row]:
    """A row per set from the checkpoints under ``root`` (``assets/checkpoints``):
    ``<set>/<model>/``; a model without a readable checkpoint leaves its panel empty."""
    rows = []
    for name in datasets:
        data = ic.datasets.sample(name, n_data, seed=0)
        bounds = ic.datasets.bounds(name)
        h = ic.datasets.entropy(name)
        models: dict[str, ModelPanel | None] = {}
        for model in MODELS:
            directory = checkpoint_dir(name, model, root or CHECKPOINT_DIR)
            try:
                flow = ic.load(directory)
            except Exception:  # missing or unreadable: an empty panel says so
                models[model] = None
                continue
            m = checkpoint_metrics(directory)
            excess = m.get("nll_minus_entropy")
            if not isinstance(excess, (int, float)):
                excess = _held_out_nll(flow, data) - h if h is not None else None
            steps = m.get("steps")
            budget = m.get("budget") or (
                budget_words(int(steps)) if isinstance(steps, int) else "pre-trained"
            )
            models[model] = _panel(flow, bounds, grid, excess, str(budget))
        rows.append(Figure2Row(name, data, bounds, models))
    return rows


def _held_out_nll(flow: ic.Flow, data: np.ndarray) -> float:
    """The exact test NLL on the points ``ic.Trainer`` holds out of ``data`` (seed 0)."""
    trainer = ic.Trainer(flow, data, seed=0, average=None)
    return trainer.evaluate()[1]


def rows_from_training(
    datasets: Sequence[str] = ic.datasets.NAMES,
    *,
    steps: int = 3000,
    grid: int = 200,
    seed: int = 0,
    n_data: int = N_DATA,
    progress: Callable[[str, str, int], None] | None = None,
) -> list[Figure2Row]:
    """A row per set from fresh runs: both models (the Playground's default architecture, Glow
    parameter-matched) trained for ``steps`` steps each with the library's defaults
    (``ic.DEFAULT_LR``, ``ic.DEFAULT_LR_DECAY``, the running average of the weights, the C engine
    where it takes the flow), the same data and seed. ``progress(set, model, step)`` is called
    along the way."""
    rows = []
    for name in datasets:
        data = ic.datasets.sample(name, n_data, seed=0)
        bounds = ic.datasets.bounds(name)
        h = ic.datasets.entropy(name)
        models: dict[str, ModelPanel | None] = {}
        for model in MODELS:
            cfg = ic.FlowConfig(seed=seed)
            cfg = ic.match_glow(cfg) if model == "glow" else cfg
            flow = ic.build_flow(cfg)
            # the library's plain defaults: each model's tuned lr and schedule, the C engine
            trainer = ic.Trainer(flow, data, seed=seed, eval_every_s=float("inf"))
            while trainer.step_count < steps and trainer.paused_reason is None:
                trainer.step(min(250, steps - trainer.step_count))
                if progress is not None:
                    progress(name, model, trainer.step_count)
            test = trainer.evaluate()[1]
            excess = test - h if h is not None else None
            models[model] = _panel(
                trainer.eval_flow, bounds, grid, excess, budget_words(trainer.step_count)
            )
        rows.append(Figure2Row(name, data, bounds, models))
    return rows
