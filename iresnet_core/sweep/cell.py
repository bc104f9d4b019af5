"""One cell of a sweep: a training run and its measurements, through the library's public API.

A density cell (i-ResNet or Glow) trains ``ic.build_flow(cfg)`` with ``ic.Trainer`` on
``ic.datasets.sample(dataset, n_data, seed)``, exactly as a person would, and then measures the
averaged weights it reports (``trainer.eval_flow``):

* the exact test NLL and its distance from the data set's entropy (``ic.datasets.entropy``), the
  honest distance of a fit from perfect;
* the fixed-point inverse (Algorithm 1): iterations per block until the whole flow reconstructs to
  :data:`INVERSE_TOL`, and the reconstruction error after :data:`INVERSE_ITERS` iterations
  (:func:`iresnet_core.analysis.inverse_curves`, float64, the flow's own forward pass of test
  points, so the error is measured against the true input);
* the power series' truncation bias at the cell's ``N`` (mean over points of ``|exact - series|``
  summed over the blocks, :func:`iresnet_core.analysis.truncation_curve`) beside Theorem 3's bound
  for the whole flow, ``n_blocks * truncation_bound(c, N)``;
* the Lipschitz bound (largest per-block product of exact spectral norms) and how far power
  iteration's ``sigma`` falls short of the SVD's in the trained layers
  (:func:`iresnet_core.analysis.spectral_report`): the relative underestimate, and the largest
  true norm of a normalised weight over ``c`` (above 1: the underestimate let a layer past ``c``);
* steps per second of training.

A classifier cell is one row of the paper's Table 1 (:func:`iresnet_core.classify.table1_row`):
test error and the measured inverse (reconstruction error, folds, Lipschitz bound).

Every run is seeded by its cell and runs torch on ``threads`` threads (one by default), so its
numbers do not depend on which worker runs it, nor on how many run beside it.

Example:
    >>> from iresnet_core.sweep.grid import Cell
    >>> cell = Cell("8gaussians", seed=0, steps=5, options=(("n_blocks", 2), ("hidden", (16,))))
    >>> row = run_cell(cell)
    >>> row["steps_done"], row["nll_minus_entropy"] == row["test_nll"] - row["entropy"]
    (5, True)
"""

from __future__ import annotations

import copy
import math
import os
import socket
import time
from typing import Any

import numpy as np
import torch

from iresnet_core import analysis
from iresnet_core.analysis.frozen import AS_BUILT
from iresnet_core.classify.analysis import table1_row
from iresnet_core.datasets import toy
from iresnet_core.flows.build import build_flow
from iresnet_core.flows.flow import Flow
from iresnet_core.ops.logdet import truncation_bound
from iresnet_core.sweep.grid import Cell
from iresnet_core.training.threads import torch_threads
from iresnet_core.training.trainer import Trainer

__all__ = [
    "MEASURES",
    "INVERSE_ITERS",
    "INVERSE_TOL",
    "MEASURE_POINTS",
    "run_cell",
    "train_cell",
    "measure_flow",
    "cell_device",
]

#: Fixed-point iterations per block for the reconstruction error (the Classifier page's 100).
INVERSE_ITERS = 100
#: The whole flow's reconstruction error that counts as inverted.
INVERSE_TOL = 1e-6
#: Test points the inverse, the series and the Jacobians are measured on.
MEASURE_POINTS = 256
#: Test points the whole flow's inverse is run on (every n up to :data:`INVERSE_ITERS`).
INVERSE_POINTS = 64

#: What a cell reports, by name and kind (the results table's columns after the settings).
MEASURES: dict[str, str] = {
    "train_nll": "float",
    "test_nll": "float",
    "entropy": "float",
    "nll_minus_entropy": "float",
    "parameters": "int",
    "inverse_iterations": "float",
    "block_iterations": "float",
    "reconstruction_error": "float",
    "inverse_converged": "bool",
    "series_error": "float",
    "series_bound": "float",
    "lipschitz": "float",
    "sigma_underestimate": "float",
    "sigma_over_c": "float",
    "test_error": "float",
    "train_error": "float",
    "guaranteed_inverse": "bool",
    "fold_share": "float",
    "steps_done": "int",
    "skipped": "int",
    "steps_per_s": "float",
    "train_seconds": "float",
    "seconds": "float",
    "device": "str",
    "worker": "str",
    "paused_reason": "str",
}


def cell_device(cell: Cell) -> torch.device:
    """Where the cell trains: ``cuda`` when it asks for it and this process sees a GPU, else the
    CPU (the C engine's path)."""
    if cell.device == "cuda" and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def train_cell(cell: Cell, device: torch.device | None = None) -> Trainer:
    """The trained :class:`~iresnet_core.training.trainer.Trainer` of a density cell: the same
    calls, in the same order, as a direct run (``build_flow``, ``datasets.sample``, ``Trainer``,
    ``step(steps)``). On a GPU the flow and the points move there and the eager torch path
    trains (the C engine is the CPU's)."""
    device = device or torch.device("cpu")
    ts = cell.train_settings()
    flow = build_flow(cell.flow_config())
    data: Any = toy.sample(cell.dataset, ts["n_data"], seed=cell.seed)
    if device.type != "cpu":
        flow.to(device)
        data = torch.as_tensor(data, device=device)
    trainer = Trainer(
        flow,
        data,
        lr=ts["lr"],
        batch_size=ts["batch_size"],
        seed=cell.seed,
        test_fraction=ts["test_fraction"],
        clip_grad=ts["clip_grad"],
        average=ts["average"],
        lr_decay=ts["lr_decay"],
        native=bool(ts["native"]) and device.type == "cpu",
    )
    trainer.step(cell.steps)
    return trainer


def _nan_if(value: float, bad: bool) -> float:
    return math.nan if bad else float(value)


def measure_flow(flow: Flow, trained: Flow, x: np.ndarray, n_terms: int) -> dict[str, Any]:
    """The inverse, series, Lipschitz and power-iteration measurements of a trained i-ResNet
    ``flow`` (the averaged weights) on points ``x``; ``trained`` is the flow whose power-iteration
    vectors training kept (``trainer.flow``). NaN for a Glow, which has none of these."""
    out: dict[str, Any] = {
        k: math.nan
        for k in (
            "inverse_iterations",
            "block_iterations",
            "reconstruction_error",
            "series_error",
            "series_bound",
            "lipschitz",
            "sigma_underestimate",
            "sigma_over_c",
        )
    }
    out["inverse_converged"] = None
    if flow.cfg.model != "iresnet":
        return out
    cfg = flow.cfg
    cur = analysis.inverse_curves(
        flow, x, [AS_BUILT], max_iter=INVERSE_ITERS, tol=INVERSE_TOL, n_flow_points=INVERSE_POINTS
    )[0]
    it = cur.flow_iterations(INVERSE_TOL)
    out["inverse_iterations"] = _nan_if(it, it < 0)
    out["block_iterations"] = _nan_if(
        cur.iterations_to_tol.mean(), bool((cur.iterations_to_tol < 0).any())
    )
    err = float(cur.flow_error[-1])
    out["reconstruction_error"] = err if math.isfinite(err) else math.inf
    out["inverse_converged"] = bool(it > 0)
    tc = analysis.truncation_curve(flow, x, n_max=n_terms, n_draws=0)
    out["series_error"] = float(tc.error_total[n_terms - 1])
    out["series_bound"] = (
        cfg.n_blocks * truncation_bound(cfg.coeff, n_terms, cfg.dim) if cfg.coeff else math.inf
    )
    out["lipschitz"] = analysis.lipschitz_bound(flow)
    rows = analysis.spectral_report(trained)
    out["sigma_underestimate"] = max(
        (r.sigma_raw_exact - r.sigma_raw_power) / r.sigma_raw_exact for r in rows
    )
    if cfg.coeff is not None:
        out["sigma_over_c"] = max(r.sigma_exact for r in rows) / cfg.coeff
    return out


def _density(cell: Cell) -> dict[str, Any]:
    device = cell_device(cell)
    trainer = train_cell(cell, device)
    if device.type == "cpu":
        train_nll, test_nll = trainer.evaluate()
        flow, trained, x_test = trainer.eval_flow, trainer.flow, trainer.test_x
    else:  # measured on the CPU, where the analysis runs
        flow = copy.deepcopy(trainer.eval_flow).to("cpu")
        trained = copy.deepcopy(trainer.flow).to("cpu")
        x_test = trainer.test_x.cpu()
        with torch.inference_mode():
            flow.eval()
            lp_train = flow.log_prob_many(trainer.train_x[: len(x_test)].cpu()[:2000])
            lp_test = flow.log_prob_many(x_test[:2000])
        train_nll, test_nll = float(-lp_train.mean()), float(-lp_test.mean())
    entropy = toy.entropy(cell.dataset)
    x = x_test[:MEASURE_POINTS].numpy()
    row: dict[str, Any] = {
        "train_nll": train_nll,
        "test_nll": test_nll,
        "entropy": math.nan if entropy is None else entropy,
        "nll_minus_entropy": math.nan if entropy is None else test_nll - entropy,
        "parameters": trainer.flow.num_parameters(),
        "steps_done": trainer.step_count,
        "skipped": trainer.skipped_total,
        "steps_per_s": trainer.step_count / trainer.wall_time if trainer.wall_time else math.nan,
        "train_seconds": trainer.wall_time,
        "paused_reason": trainer.paused_reason,
        "device": device.type,
    }
    row.update(measure_flow(flow, trained, x, flow.cfg.n_terms))
    return row


def _classifier(cell: Cell) -> dict[str, Any]:
    ts = cell.train_settings()
    r = table1_row(
        cell.dataset,
        ts["coeff"],
        cell.steps,
        cell.seed,
        n=ts["n_data"],
        noise=ts["noise"],
        test_fraction=ts["test_fraction"],
        dim=ts["dim"],
        n_blocks=ts["n_blocks"],
        hidden=tuple(ts["hidden"]),
        actnorm=ts["actnorm"],
        lr=ts["lr"],
        batch_size=ts["batch_size"],
    )
    return {
        "test_error": r["test_error"],
        "train_error": r["train_error"],
        "guaranteed_inverse": r["guaranteed_inverse"] == "Yes",
        "reconstruction_error": r["reconstruction_error"],
        "inverse_converged": r["inverse_converged"],
        "fold_share": r["fold_share"],
        "lipschitz": r["lipschitz"],
        "steps_done": r["steps"],
        "train_seconds": r["train_time_s"],
        "steps_per_s": r["steps"] / r["train_time_s"] if r["train_time_s"] > 0 else math.nan,
        "device": "cpu",
    }


def run_cell(cell: Cell, threads: int = 1) -> dict[str, Any]:
    """Train and measure one cell; returns its :data:`MEASURES` (missing ones ``None``/NaN).

    ``threads``: torch's threads for the run (one per worker: a sweep spreads cells, not a cell
    over cores). ``seconds`` is the whole cell's wall time, measurements included."""
    start = time.perf_counter()
    with torch_threads(threads):
        row = _classifier(cell) if cell.model == "classifier" else _density(cell)
    row["seconds"] = time.perf_counter() - start
    row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return {k: row.get(k) for k in MEASURES}
