"""Fit per second: exact test NLL minus the entropy floor against wall time of training.

Set-up, the same for every model: our default architecture (``ic.FlowConfig()``, 32 blocks of
2-32-32-2; Glow parameter-matched, normflows' residual flow at the same widths), the Playground's
data (20,000 points of the toy set, seed 0, a fifth held out exactly as ``ic.Trainer`` holds it
out, so every model trains on the same 16,000 points), batch 500, Adam.

Our two flows train through the documented call, ``ic.Trainer(flow, data)`` with nothing else
passed, advanced with its own time-budgeted :meth:`~iresnet_core.Trainer.run_for`: the engine,
learning rate, step-size schedule and running average of the weights are the library's defaults
(``ic.DEFAULT_LR``, ``ic.DEFAULT_LR_DECAY``, ``ic.AVERAGE_DECAY``; :attr:`ic.Trainer.engine` is
recorded). They are evaluated at ``ic.Trainer.eval_flow``, the running average that the Playground
shows. normflows' residual flow runs its README's loop (:class:`benchmarks.peers.NFTrainer`,
constant lr) at the best learning rate of a short sweep on 8gaussians and checkerboard, evaluated
at its last iterate, where that loop leaves it; a second normflows row adds our running average of
the weights (is our lead the averaging or the flow?).

The budget is equal training time, on one of two clocks. On the wall clock (the issue's): wall
seconds inside each library's training calls (the trainer's own ``wall_time``, which leaves out
its evaluations; ``time.perf_counter`` around normflows' steps), two torch threads in the process
(our C engine's loop runs on its own two workers with one torch thread, as :class:`ic.Trainer`
sets it). Where the machine is oversubscribed (``common.MAX_LOAD_PER_CORE``), wall seconds say
more about the neighbours than about the models, and two torch threads spin at every barrier: the
section then runs on one torch thread and counts the process's CPU seconds inside the training
calls (all its threads, so our C engine's second worker counts against ours; our trainer's
evaluations left out), a step at a time. On an idle machine a model's wall time is at most its CPU
time, so a target met on the CPU clock is met on the wall clock. Every evaluation happens with the
clock stopped, on fresh points of the toy set (seed 12345): 5000 for the curve, 20000 at the
reported checkpoints; the NLL is exact for every model (2x2 determinants). The clock, the threads
and the machine's load are recorded with the results.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import iresnet_core as ic
from iresnet_core.training.averaging import RunningAverage
from iresnet_core.training.threads import torch_threads

from . import peers
from .common import MAX_LOAD_PER_CORE, load_avg

__all__ = [
    "DATASETS",
    "MODELS",
    "SWEPT",
    "DEFAULT_LR",
    "SPREAD_SETS",
    "SPREAD_SEEDS",
    "run",
    "seed_spread",
    "sweep",
    "fit_curve",
]

DATASETS = ("8gaussians", "checkerboard", "2spirals", "rings")
MODELS = ("iresnet", "glow", "nf_residual", "nf_residual_avg")
#: The models whose learning rate the sweep chooses (ours train at the library's defaults).
SWEPT = ("nf_residual", "nf_residual_avg")
LABELS = {
    "iresnet": "i-ResNet (ours): ic.Trainer(flow, data)",
    "glow": "Glow (ours, parameter-matched): ic.Trainer(flow, data)",
    "nf_residual": "normflows residual flow (exact log-det)",
    "nf_residual_avg": "normflows residual flow + our running average of the weights",
}


def _playground_points() -> int:
    from dashboard.state import N_DATA as n

    return int(n)


DEFAULT_LR = float(ic.DEFAULT_LR["iresnet"])
N_DATA = _playground_points()
#: Issue 29's targets: these sets after these seconds, also run at ``SPREAD_SEEDS``.
SPREAD_SETS = (("8gaussians", 30.0), ("checkerboard", 60.0))
SPREAD_SEEDS = (1, 2)
TEST_SEED = 12345


def _split(data: np.ndarray, seed: int = 0, test_fraction: float = 0.2) -> np.ndarray:
    """The training points ``ic.Trainer`` keeps (its own split, replicated for normflows)."""
    x = torch.as_tensor(data)
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
    n_test = max(1, int(round(test_fraction * x.shape[0])))
    return x[perm[n_test:]].numpy()


class _Run:
    """One model on one data set, advanced in slices of training time on ``clock`` (``"wall"``
    or ``"cpu"``, see the module docstring), evaluated with the clock stopped. ``lr`` is the
    peers' (ours take the library's default)."""

    def __init__(
        self, model: str, data: np.ndarray, lr: float | None, seed: int = 0, clock: str = "wall"
    ) -> None:
        self.model = model
        self.clock = clock
        self.average: RunningAverage | None = None
        #: the process's CPU seconds in training (all its threads; our trainer's evaluations,
        #: which it runs inside its calls, left out)
        self.cpu = 0.0
        self._eval_cpu = 0.0
        if model in ("iresnet", "glow"):
            cfg = ic.FlowConfig(seed=seed)
            self.flow = ic.build_flow(ic.match_glow(cfg) if model == "glow" else cfg)
            # the documented call; another seed is the one thing the seed spread passes
            self.trainer = (
                ic.Trainer(self.flow, data)
                if seed == 0
                else ic.Trainer(self.flow, data, seed=seed)
            )
            for name in ("evaluate", "lipschitz"):  # their CPU time is not training time
                setattr(self.trainer, name, self._uncounted(getattr(self.trainer, name)))
            return
        arch = ic.FlowConfig()  # the same architecture as ours
        self.flow = peers.build_nf_residual(
            "exact", n_blocks=arch.n_blocks, hidden=arch.hidden, seed=seed
        )
        self.trainer = peers.NFTrainer(
            self.flow, _split(data, seed), lr=float(lr), batch_size=500, seed=seed
        )
        if model == "nf_residual_avg":
            self.average = RunningAverage(self.flow, ic.AVERAGE_DECAY)

    def _uncounted(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` with its CPU time kept apart (:attr:`cpu` leaves it out)."""

        def call(*args: Any, **kwargs: Any) -> Any:
            c0 = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self._eval_cpu += time.process_time() - c0

        return call

    @property
    def ours(self) -> bool:
        return isinstance(self.trainer, ic.Trainer)

    @property
    def lr(self) -> float:
        return float(self.trainer.lr)

    @property
    def wall(self) -> float:
        """Wall seconds inside the training calls (the trainer's own count, its evaluations left
        out)."""
        return float(self.trainer.wall_time)

    @property
    def spent(self) -> float:
        """Training time so far on the run's clock."""
        return self.wall if self.clock == "wall" else self.cpu

    @property
    def steps(self) -> int:
        return int(self.trainer.step_count)

    def advance_to(self, t: float) -> None:
        """Train until ``t`` seconds have been spent in training on the run's clock (a call over
        at most: one step, or the trainer's own time-budgeted call on the wall clock)."""
        tr = self.trainer
        while self.spent < t:
            c0, e0 = time.process_time(), self._eval_cpu
            if self.average is not None:  # normflows' step, then our average's update
                tr.model.train()
                t0 = time.perf_counter()
                tr._one_step()
                self.average.update()
                tr.wall_time += time.perf_counter() - t0
            elif self.clock == "wall":  # each library's own time-budgeted loop
                tr.run_for(t - self.wall)
            else:  # on the CPU clock, a step at a time (ours: step(1) in a loop, issue 29)
                tr.step(1)
            self.cpu += time.process_time() - c0 - (self._eval_cpu - e0)

    def nll(self, x: torch.Tensor, chunk: int = 5000) -> float:
        """The exact mean NLL of ``x`` under the flow the model shows (see the module docstring),
        ``inf`` when any point's density is not finite."""
        if not self.ours:
            flow = self.trainer.model if self.average is None else self.average.flow
            lp = peers.nf_log_prob(flow, x, chunk)
        else:
            flow = self.trainer.eval_flow
            was = flow.training
            flow.eval()
            try:
                with torch.inference_mode():
                    lp = torch.cat(
                        [flow.log_prob(x[i : i + chunk]) for i in range(0, len(x), chunk)]
                    )
            finally:
                flow.train(was)
        lp = lp.double()
        return float(-lp.mean()) if torch.isfinite(lp).all() else math.inf


def _test_points(name: str, n: int) -> torch.Tensor:
    return torch.as_tensor(ic.datasets.sample(name, n, seed=TEST_SEED))


def sweep(
    lrs: list[float],
    datasets: tuple[str, ...],
    seconds: float,
    n_test: int,
    log=print,
    clock: str = "wall",
) -> dict[str, Any]:
    """Each swept model (:data:`SWEPT`: the peers) at each lr for ``seconds`` on each sweep set;
    the best lr has the lowest mean excess."""
    out: dict[str, Any] = {
        "lrs": lrs,
        "datasets": list(datasets),
        "seconds": seconds,
        "excess": {},
        "best": {},
    }
    for model in SWEPT:
        table = {}
        for lr in lrs:
            ex = []
            for name in datasets:
                data = ic.datasets.sample(name, N_DATA, seed=0)
                run = _Run(model, data, lr, clock=clock)
                run.advance_to(seconds)
                ex.append(run.nll(_test_points(name, n_test)) - ic.datasets.entropy(name))
            table[lr] = ex
            log(f"  sweep {model:12s} lr={lr:g}: excess {', '.join(f'{e:.3f}' for e in ex)}")
        out["excess"][model] = {str(lr): v for lr, v in table.items()}
        out["best"][model] = min(
            lrs,
            key=lambda lr: (
                float(np.mean(table[lr])) if all(map(math.isfinite, table[lr])) else math.inf
            ),
        )
    return out


def fit_curve(
    model: str,
    name: str,
    lr: float | None,
    checkpoints: tuple[float, ...],
    every: float,
    n_curve: int,
    n_final: int,
    clock: str = "wall",
) -> dict[str, Any]:
    """``model`` on ``name`` from scratch, evaluated every ``every`` seconds of training on
    ``clock`` (on ``n_curve`` points) and at the ``checkpoints`` (on ``n_final``)."""
    data = ic.datasets.sample(name, N_DATA, seed=0)
    h = float(ic.datasets.entropy(name))
    x_curve, x_final = _test_points(name, n_curve), _test_points(name, n_final)
    run = _Run(model, data, lr, clock=clock)
    times = sorted(
        set(
            [round(t, 3) for t in np.arange(every, checkpoints[-1] + 1e-9, every)]
            + list(checkpoints)
        )
    )
    curve = {"t": [0.0], "excess": [run.nll(x_curve) - h], "steps": [0]}
    at = {}
    start = time.perf_counter()
    for t in times:
        run.advance_to(t)
        if t in checkpoints:
            e = run.nll(x_final) - h
            at[str(t)] = {"excess": e, "steps": run.steps, "wall": run.wall, "cpu": run.cpu}
        else:
            e = run.nll(x_curve) - h
        curve["t"].append(run.spent)
        curve["excess"].append(e)
        curve["steps"].append(run.steps)
    return {
        "model": model,
        "dataset": name,
        "lr": run.lr,
        "lr_decay": run.trainer.lr_decay if run.ours else None,
        "engine": run.trainer.engine if run.ours else "normflows (torch)",
        "entropy": h,
        "curve": curve,
        "at": at,
        "total_s": time.perf_counter() - start,
        "skipped": int(getattr(run.trainer, "skipped_total", getattr(run.trainer, "skipped", 0))),
    }


def seed_spread(
    sets: tuple[tuple[str, float], ...],
    seeds: tuple[int, ...],
    n_final: int,
    log=print,
    clock: str = "wall",
) -> list[dict[str, Any]]:
    """Our i-ResNet at the library's defaults at other ``seeds`` (``ic.Trainer(flow, data,
    seed=seed)`` of a flow built with that seed: its initialisation and its batches; the data stay
    the Playground's), on each ``(data set, seconds)`` of ``sets``.

    The main table runs seed 0 once. Training in float32 is chaotic: a rounding difference (MKL's
    results depend on memory alignment) or a few steps more or less in the time grow into a
    different fit, so one seed's figure is one draw, and these say how wide the draws spread.
    """
    rows = []
    for name, seconds in sets:
        data = ic.datasets.sample(name, N_DATA, seed=0)
        x, h = _test_points(name, n_final), float(ic.datasets.entropy(name))
        for seed in seeds:
            run = _Run("iresnet", data, None, seed=seed, clock=clock)
            run.advance_to(seconds)
            rows.append(
                {
                    "dataset": name,
                    "seconds": seconds,
                    "seed": seed,
                    "excess": run.nll(x) - h,
                    "steps": run.steps,
                    "wall": run.wall,
                    "cpu": run.cpu,
                }
            )
            log(
                f"  {name:12s} iresnet seed {seed}: {seconds:g}s "
                f"{rows[-1]['excess']:.3f} ({run.steps} steps)"
            )
    return rows


#: The clocks: (torch threads, words for the page).
CLOCKS = {
    "wall": (2, "wall seconds inside the training calls, two torch threads"),
    "cpu": (
        1,
        "CPU seconds of the process inside the training calls (all its threads), one torch thread",
    ),
}


def run(quick: bool = False, log=print, clock: str | None = None) -> dict[str, Any]:
    """Every model on every toy set from scratch (see the module docstring); ``quick``: shorter
    runs, fewer points, for checking the pipeline. ``clock``: ``"wall"`` or ``"cpu"`` (``None``:
    the wall clock unless the machine is oversubscribed)."""
    load, cores = load_avg()[0], os.cpu_count() or 1
    if clock is None:
        clock = "wall" if load < MAX_LOAD_PER_CORE * cores else "cpu"
    threads, words = CLOCKS[clock]
    log(f"  clock: {words} (load average {load:g} on {cores} cores)")
    with torch_threads(threads):
        out = _run(quick, log, clock)
    return {
        **out,
        "clock": words,
        "clock_kind": clock,
        "threads": threads,
        "load_avg_at_start": [load],
    }


def _run(quick: bool, log, clock: str) -> dict[str, Any]:
    if quick:
        checkpoints, every, lrs, sweep_sets, sweep_s, n_curve, n_final = (
            (2.0, 4.0, 8.0),
            1.0,
            [1e-3, 5e-3],
            ("8gaussians",),
            2.0,
            2000,
            5000,
        )
    else:
        checkpoints, every, lrs, sweep_sets, sweep_s, n_curve, n_final = (
            (15.0, 30.0, 60.0),
            3.0,
            [5e-4, 1e-3, 3e-3, 1e-2, 2e-2, 6e-2],
            ("8gaussians", "checkerboard"),
            8.0,
            5000,
            20000,
        )
    sw = sweep(lrs, sweep_sets, sweep_s, n_final, log, clock)
    results = []
    for name in DATASETS:
        for model in MODELS:
            r = fit_curve(
                model, name, sw["best"].get(model), checkpoints, every, n_curve, n_final, clock
            )
            log(
                f"  {name:12s} {model:15s} lr={r['lr']:g} ({r['engine']}): "
                + ", ".join(
                    f"{t}s {v['excess']:.3f} ({v['steps']} steps)" for t, v in r["at"].items()
                )
            )
            results.append(r)
    # The targets' sets at the targets' times (in a quick run, at its last checkpoint), more seeds.
    spread_sets = tuple(
        (name, t if t in checkpoints else checkpoints[-1]) for name, t in SPREAD_SETS
    )
    seeds = SPREAD_SEEDS[:1] if quick else SPREAD_SEEDS
    spread = seed_spread(spread_sets, seeds, n_final, log, clock)
    return {
        "checkpoints": list(checkpoints),
        "sweep": sw,
        "runs": results,
        "seed_spread": spread,
        "n_data": N_DATA,
        "default_lr": DEFAULT_LR,
        "default_lr_glow": float(ic.DEFAULT_LR["glow"]),
        "lr_decay": ic.DEFAULT_LR_DECAY["iresnet"],
        "lr_decay_glow": ic.DEFAULT_LR_DECAY["glow"],
        "average_decay": ic.AVERAGE_DECAY,
        "architecture": _architecture(),
        "n_test_curve": n_curve,
        "n_test_final": n_final,
        "labels": LABELS,
    }


def _architecture() -> str:
    """Our default flow's architecture in words (the fit table's, for every model)."""
    cfg = ic.FlowConfig()
    return (
        f"{cfg.n_blocks} blocks of 2-{'-'.join(str(h) for h in cfg.hidden)}-2, c = {cfg.coeff:g}"
    )
