"""The same care for every model, and fit per step.

One tuning procedure, applied alike to our i-ResNet, our Glow and normflows' Glow (built from its
parts at the same parameter count, :func:`benchmarks.peers.build_nf_glow`): every *setting* of

* the learning rate, from one small log grid (:data:`LRS`),
* the step-size decay ``lr / sqrt(1 + t / tau)`` with ``tau = ic.LR_DECAY``, or a constant lr,

trains on each of :data:`DATASETS` at equal steps, and every run is evaluated both ways,

* at the trained weights themselves and
* at the running average of the weights (``ic.AVERAGE_DECAY``; ``ic.Trainer.eval_flow``),

by the exact test NLL minus the entropy of the set (``ic.datasets.entropy``) on fresh points
(seed :data:`TEST_SEED`). The settings race in rungs (the same for each model): all of them to
:data:`RUNGS`\\ [0] steps; every one within :data:`MARGIN` nats of the best there (the mean excess
over the sets, at the better of the two evaluations) on to ``RUNGS[1]``, so that a slow starter
keeps its chance; where the best there has the grid's smallest (largest) lr, the lr
:data:`EDGE_FACTOR` times smaller (larger) joins it there; the best of all runs on to
``RUNGS[2]`` and is the winner (for our models the two best at ``RUNGS[1]`` run again at
:data:`SEEDS` - 1 more seeds first, and the mean over the seeds decides). A run that stops being
finite, or that its trainer pauses, drops out. Then the winner runs again with a linear warm-up
of :data:`WARMUP` steps to ``RUNGS[1]`` (:func:`tune`, :func:`complete`). The training step is
each library's own: ``ic.Trainer`` (the C engine where it takes the flow, the Playground's
default; gradient clipping and the guard against non-finite steps), and normflows' README loop
(:class:`benchmarks.peers.NFTrainer`) with the same step-size schedule set on its
Adam. Data: the Playground's 20,000 points of each set, seed 0, the same 16,000 training points
for every model; batch 500; seed 0 for the initialisation and the batches; one torch thread per
run.

``python -m benchmarks.tuning`` writes ``docs/tuning.json`` and the section "Tuning and fit per
step" of ``docs/benchmarks.md`` (:mod:`benchmarks.tuning_report` makes it from the results;
``python -m benchmarks --report-only`` keeps it; ``--report-only`` here rewrites only the
section). ``--quick`` checks the pipeline in about a minute and writes under
``out/bench-quick/``. The defaults in ``iresnet_core/training/trainer.py`` (``DEFAULT_LR``,
``DEFAULT_LR_DECAY``) are read off its table. ``--glow-parts`` runs
:func:`glow_parts` instead: our Glow's couplings as they were and as they are, one change at a
time, against normflows' Glow (what closed the gap between them), kept beside the tuning.

Example:
    >>> Setting(1e-2, 1000).label()
    'lr 0.01, decay tau 1000'
    >>> Setting(3e-3, None, warmup=100).label()
    'lr 0.003, constant, warm-up 100'
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from iresnet_core.training.threads import torch_threads

from . import ROOT
from .splice import write_section
from .tuning_report import EDGE_FACTOR, LABELS, MARGIN, MODELS, SECTION, score, section_md

__all__ = [
    "DATASETS",
    "MODELS",
    "LABELS",
    "LRS",
    "RUNGS",
    "MARGIN",
    "SEEDS",
    "WARMUP",
    "TEST_SEED",
    "Setting",
    "Run",
    "tune",
    "complete",
    "EDGE_FACTOR",
    "GLOW_PARTS",
    "glow_parts",
    "run",
    "save",
    "main",
]

DATASETS = ("8gaussians", "checkerboard", "rings", "2spirals")
#: The learning-rate grid, the same for every model: half-decade steps, and the i-ResNet's earlier
#: default 6e-2 between the two largest.
LRS = (3e-3, 1e-2, 3e-2, 6e-2)
#: Steps at which the settings are compared; the settings kept after each of the first two.
RUNGS = (300, 1500, 5000)
#: Seeds of the two best settings at the middle rung (the first rung's runs use seed 0 alone).
SEEDS = 2
#: Steps of the linear warm-up tried on each model's winner.
WARMUP = 100
N_DATA = 20000
BATCH = 500
TEST_SEED = 12345
#: Fresh test points per evaluation: at the first rung, and at the later ones (the table's).
N_TEST = (5000, 20000)


@dataclass(frozen=True)
class Setting:
    """One training setting: Adam's ``lr``, the decay's ``tau`` (``None``: constant) and the
    warm-up's length in steps."""

    lr: float
    decay: float | None
    warmup: int = 0

    def label(self) -> str:
        """``"lr 0.01, decay tau 1000"`` and the like."""
        out = f"lr {self.lr:g}, " + (
            "constant" if self.decay is None else f"decay tau {self.decay:g}"
        )
        return out + (f", warm-up {self.warmup}" if self.warmup else "")

    def step_size(self, t: int) -> float:
        """The step size of update ``t`` (from 0), as ``ic.Trainer`` sets it: the decay, ramped
        linearly over the warm-up (``Trainer.step_size``)."""
        lr = self.lr if self.decay is None else self.lr / math.sqrt(1.0 + t / self.decay)
        return lr * (min(1.0, (t + 1) / self.warmup) if self.warmup else 1.0)

    def key(self) -> str:
        return f"{self.lr:g}|{'const' if self.decay is None else f'{self.decay:g}'}|{self.warmup}"


def _config(model: str, seed: int):
    import iresnet_core as ic

    cfg = ic.FlowConfig(seed=seed)
    return cfg if model == "iresnet" else ic.match_glow(cfg)


class Run:
    """One model, one data set, one setting: trained in slices of steps, evaluated on request.

    Our models train through ``ic.Trainer`` (its running average of the weights on, its C engine
    where it takes the flow); normflows' Glow through :class:`benchmarks.peers.NFTrainer` with the
    setting's step size put on its Adam before every step and our running average beside it.
    """

    def __init__(
        self,
        model: str,
        dataset: str,
        setting: Setting,
        seed: int = 0,
        fields: dict[str, Any] | None = None,
    ) -> None:
        import iresnet_core as ic
        from iresnet_core.training.averaging import RunningAverage

        from . import peers
        from .fit import _split

        self.model, self.dataset, self.setting, self.seed = model, dataset, setting, seed
        data = ic.datasets.sample(dataset, N_DATA, seed=0)
        cfg = _config(model, seed).replace(**(fields or {}))  # fields: our Glow's variants
        self.average: RunningAverage | None = None
        if model in ("iresnet", "glow"):
            self.flow = ic.build_flow(cfg)
            self.trainer = ic.Trainer(
                self.flow,
                data,
                lr=setting.lr,
                batch_size=BATCH,
                seed=seed,
                lr_decay=setting.decay,
                warmup=setting.warmup,
                average=ic.AVERAGE_DECAY,
                eval_every_s=math.inf,
                native=True,
            )
        else:
            self.flow = peers.build_nf_glow(cfg.n_blocks, cfg.hidden, seed=seed)
            self.trainer = peers.NFTrainer(
                self.flow, _split(data, seed), lr=setting.lr, batch_size=BATCH, seed=seed
            )
            self.average = RunningAverage(self.flow, ic.AVERAGE_DECAY)
        self.updates = 0
        self.stopped: str | None = None

    @property
    def steps(self) -> int:
        return int(self.trainer.step_count)

    def advance_to(self, steps: int) -> None:
        """Optimiser steps until ``steps`` were taken (or the run stops)."""
        if self.stopped:
            return
        tr = self.trainer
        if self.model != "nf_glow":
            while tr.step_count < steps and tr.paused_reason is None:
                tr.step(min(100, steps - tr.step_count))
            if tr.paused_reason is not None:
                self.stopped = f"paused after {tr.max_bad_steps} non-finite steps in a row"
            return
        self.flow.train()
        while tr.step_count < steps:
            for group in tr.optimizer.param_groups:
                group["lr"] = self.setting.step_size(self.updates)
            before = tr.step_count
            tr._one_step()  # normflows' README step (a non-finite loss is skipped)
            if tr.step_count > before:
                self.updates += 1
                self.average.update()
            elif tr.skipped >= 20 + tr.step_count // 10:
                self.stopped = f"{tr.skipped} non-finite losses"
                return

    def _log_prob(self, flow: Any, x: torch.Tensor) -> torch.Tensor:
        from . import peers

        if self.model == "nf_glow":
            return peers.nf_log_prob(flow, x)
        was = flow.training
        flow.eval()
        try:
            with torch.inference_mode():
                return flow.log_prob_many(x)
        finally:
            flow.train(was)

    def excess(self, x: torch.Tensor) -> dict[str, float]:
        """``{"raw": ..., "average": ...}``: test NLL minus entropy (nats) of the trained weights
        and of their running average on the points ``x``; ``inf`` where not finite."""
        import iresnet_core as ic

        h = float(ic.datasets.entropy(self.dataset))
        raw = self.flow
        avg = self.average.flow if self.average is not None else self.trainer.eval_flow
        out = {}
        for name, flow in (("raw", raw), ("average", avg)):
            lp = self._log_prob(flow, x).double()
            nll = float(-lp.mean()) if bool(torch.isfinite(lp).all()) else math.inf
            out[name] = nll - h if math.isfinite(nll) else math.inf
        return out


def _test_points(name: str, n: int) -> torch.Tensor:
    import iresnet_core as ic

    return torch.as_tensor(ic.datasets.sample(name, n, seed=TEST_SEED))


def _cells_text(per_set: dict[str, dict[str, float] | None]) -> str:
    return ", ".join(
        "stopped" if v is None else f"{v['raw']:.3f}/{v['average']:.3f}" for v in per_set.values()
    )


def _beyond(lr: float, factor: float) -> float:
    """``lr * factor`` to one significant figure: ``_beyond(3e-3, 1 / 3) == 1e-3``."""
    return float(f"{lr * factor:.0e}")


def _row(s: Setting) -> dict[str, Any]:
    return {"setting": asdict(s), "label": s.label(), "excess": {}, "stopped": None}


def _setting(row: dict[str, Any]) -> Setting:
    return Setting(**row["setting"])


class _Race:
    """One model's runs on every set, advanced rung by rung and recorded in ``res``."""

    def __init__(self, res: dict[str, Any], log, seed: int = 0) -> None:
        self.res, self.log, self.seed = res, log, seed
        self.model, self.datasets, self.rungs = res["model"], tuple(res["datasets"]), res["rungs"]
        self.runs: dict[str, dict[str, Run]] = {}
        self.t0 = time.process_time()

    def to(self, s: Setting, rung: int, note: str = "") -> dict[str, Any]:
        """``s``'s runs advanced to ``rung`` (started afresh where none is held), evaluated and
        recorded; returns the rung's per-set excess."""
        row = self.res["settings"].setdefault(s.key(), _row(s))
        runs = self.runs.setdefault(s.key(), {})
        i = self.rungs.index(rung)
        per_set = {}
        for name in self.datasets:
            r = runs.get(name) or runs.setdefault(name, Run(self.model, name, s, self.seed))
            r.advance_to(rung)
            x = _test_points(name, N_TEST[0] if i == 0 else N_TEST[1])
            per_set[name] = None if r.stopped else r.excess(x)
            if r.stopped and row["stopped"] is None:
                row["stopped"] = f"{name} at step {r.steps}: {r.stopped}"
        row["excess"][str(rung)] = per_set
        self.log(
            f"  {self.model:8s} {s.label():28s} @{rung:5d}: {_cells_text(per_set)}  "
            f"(score {score(per_set):.3f}; {time.process_time() - self.t0:.0f} s CPU)"
            + (f" (seed {self.seed})" if self.seed else "")
            + note
        )
        return per_set

    def drop(self, s: Setting) -> None:
        self.runs.pop(s.key(), None)


def tune(
    model: str,
    datasets: tuple[str, ...] = DATASETS,
    lrs: tuple[float, ...] = LRS,
    rungs: tuple[int, ...] = RUNGS,
    margin: float = MARGIN,
    warmup: int = WARMUP,
    edge: bool = True,
    seeds: int = SEEDS,
    log=print,
) -> dict[str, Any]:
    """The procedure of the module docstring for ``model``: every setting of the grid to the
    first rung, then :func:`complete`. Returns every setting's excess per set, rung and
    evaluation, the winner, the winner with a warm-up (``warmup=0``: not tried) and, with
    ``edge``, the lr beyond the grid's edge where the winner sits there."""
    import iresnet_core as ic

    res: dict[str, Any] = {
        "model": model,
        "datasets": list(datasets),
        "rungs": list(rungs),
        "lrs": list(lrs),
        "margin": margin,
        "settings": {},
        "winner": None,
        "warmup": None,
        "cpu_s": 0.0,
    }
    race = _Race(res, log)
    for lr in lrs:
        for decay in (None, ic.LR_DECAY):
            race.to(Setting(lr, decay), rungs[0])
    return complete(res, warmup=warmup, edge=edge, seeds=seeds, log=log, race=race)


def complete(
    res: dict[str, Any],
    warmup: int = WARMUP,
    edge: bool = True,
    seeds: int = SEEDS,
    log=print,
    race: _Race | None = None,
) -> dict[str, Any]:
    """The rest of the procedure on a result whose settings reached the first rung: every setting
    within ``res["margin"]`` nats of the best there runs on to the middle rung (a slow starter, a
    large lr whose first steps throw the flow back, keeps its chance); with ``edge``, when the
    best at the middle rung has the grid's smallest (largest) lr, the lr :data:`EDGE_FACTOR`
    times smaller (larger) with the same decay runs there too; the two best there run again at
    ``seeds - 1`` other seeds and the better by the mean over the seeds runs on to the last rung
    and becomes the winner, and runs once more with a warm-up to the middle rung. What
    ``res`` already holds is not run again (a result of an earlier, more frugal procedure is
    completed). ``res`` is updated and returned."""
    race = race or _Race(res, log)
    rungs, rows = res["rungs"], res["settings"]
    first, mid, last = rungs[0], rungs[1 if len(rungs) > 1 else 0], rungs[-1]
    res.setdefault("margin", MARGIN)
    res.setdefault("lrs", sorted({r["setting"]["lr"] for r in rows.values()}))
    scores0 = {k: score(r["excess"].get(str(first))) for k, r in rows.items()}
    best0 = min(scores0.values())
    for key, sc in sorted(scores0.items(), key=lambda kv: kv[1]):
        if sc <= best0 + res["margin"] and str(mid) not in rows[key]["excess"]:
            race.to(_setting(rows[key]), mid)
    for key, sc in scores0.items():
        if not sc <= best0 + res["margin"]:
            race.drop(_setting(rows[key]))

    def best_at_mid() -> str:
        return min(rows, key=lambda k: score(rows[k]["excess"].get(str(mid))))

    best = best_at_mid()
    lrs = res["lrs"]
    lr = rows[best]["setting"]["lr"]
    if edge and lr in (min(lrs), max(lrs)) and not res.get("edge"):
        factor = 1 / EDGE_FACTOR if lr == min(lrs) else EDGE_FACTOR
        s = Setting(_beyond(lr, factor), rows[best]["setting"]["decay"])
        res["edge"] = s.key()
        for rung in (first, mid):
            race.to(s, rung, " (the grid's edge)")
        best = best_at_mid()
    if seeds > 1:  # the two best at the middle rung once more at other seeds: the mean decides
        top = sorted(rows, key=lambda k: score(rows[k]["excess"].get(str(mid))))[:2]
        for seed in range(1, seeds):
            other = {**res, "settings": {}}
            for key in top:
                if str(seed) not in rows[key].get("seeds", {}):
                    _Race(other, log, seed).to(_setting(rows[key]), mid)
                    rows[key].setdefault("seeds", {})[str(seed)] = other["settings"][key][
                        "excess"
                    ][str(mid)]

        def mean_score(key: str) -> float:
            scores = [score(rows[key]["excess"].get(str(mid)))]
            scores += [score(v) for v in rows[key].get("seeds", {}).values()]
            return float(np.mean(scores))

        best = min(top, key=mean_score)
    for key in list(race.runs):
        if key != best:
            race.runs.pop(key)
    if str(last) not in rows[best]["excess"]:
        race.to(_setting(rows[best]), last)
    if res.get("winner") != best or (warmup and res.get("warmup") is None):
        res["warmup"] = None
        if warmup:
            w = Setting(rows[best]["setting"]["lr"], rows[best]["setting"]["decay"], warmup)
            wres = {**res, "settings": {}}
            _Race(wres, log).to(w, mid)
            res["warmup"] = wres["settings"][w.key()]
    res["winner"] = best
    return res


def _tune_worker(args: tuple) -> dict[str, Any]:
    """One model's tuning in a worker process: one torch thread, its own log lines."""
    model, kw = args
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    t0 = time.process_time()
    res = tune(model, log=lambda m: print(m, flush=True), **kw)
    res["cpu_s"] = time.process_time() - t0
    return res


def _complete_worker(args: tuple) -> dict[str, Any]:
    """:func:`complete` in a worker process (one torch thread)."""
    res, kw = args
    torch.set_num_threads(1)
    t0 = time.process_time()
    cpu = res.get("cpu_s", 0.0)
    out = complete(res, log=lambda m: print(m, flush=True), **kw)
    out["cpu_s"] = cpu + time.process_time() - t0
    return out


def run(
    quick: bool = False, log=print, workers: int = 2, models: tuple[str, ...] = MODELS
) -> dict[str, Any]:
    """Tune each of ``models`` in ``workers`` processes (the slowest model first); returns the
    results for :func:`save`."""
    import multiprocessing as mp

    from .common import machine_info

    kw: dict[str, Any] = {}
    if quick:
        kw = dict(datasets=DATASETS[:2], lrs=LRS[1:3], rungs=(20, 40, 60), warmup=10)
    # the slowest model first; the peer is held to the grid and its warm-up not tried (its
    # defaults are not ours to set: "each at its best lr from the same grid")
    order = sorted(models, key=lambda m: {"nf_glow": 0, "glow": 1, "iresnet": 2}.get(m, 3))
    peer = {"warmup": 0, "edge": False, "seeds": 1}
    jobs = [(m, {**kw, **peer} if m == "nf_glow" else kw) for m in order]
    t0 = time.perf_counter()
    if workers <= 1:
        results = [_tune_worker(job) for job in jobs]
    else:
        with mp.get_context("fork").Pool(workers, maxtasksperchild=1) as pool:
            results = pool.map(_tune_worker, jobs, chunksize=1)
    res = {
        "machine": machine_info(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "quick": quick,
        "wall_s": time.perf_counter() - t0,
        "n_data": N_DATA,
        "batch": BATCH,
        "n_test": list(N_TEST),
        "labels": LABELS,
        "models": {r["model"]: r for r in results},
    }
    return res


#: Our Glow's couplings as they were and as they are, one part changed at a time (config fields).
GLOW_PARTS = (
    ("earlier: tanh-bounded scale, ELU", {"scale_map": "tanh", "glow_activation": "elu"}),
    ("Glow's code's sigmoid scale, ELU", {"scale_map": "sigmoid", "glow_activation": "elu"}),
    (
        "Glow's code's sigmoid scale, ReLU (now)",
        {"scale_map": "sigmoid", "glow_activation": "relu"},
    ),
)


def _parts_row(args: tuple) -> dict[str, Any]:
    """One row of :func:`glow_parts` (in a worker process: one torch thread)."""
    label, fields, datasets, lr, checkpoints = args
    torch.set_num_threads(1)
    model = "glow" if fields is not None else "nf_glow"
    excess: dict[str, dict[str, Any]] = {str(c): {} for c in checkpoints}
    for name in datasets:
        x = _test_points(name, N_TEST[1])
        r = Run(model, name, Setting(lr, None), fields=fields)
        for c in checkpoints:
            r.advance_to(c)
            excess[str(c)][name] = None if r.stopped else r.excess(x)
    print(f"  parts {label:42s} " + _cells_text(excess[str(checkpoints[-1])]), flush=True)
    return {"label": label, "fields": fields, "excess": excess}


def glow_parts(
    datasets: tuple[str, ...] = DATASETS,
    lr: float = 3e-3,
    checkpoints: tuple[int, ...] = (300, 1500),
    high_lr: float = 3e-2,
    workers: int = 2,
) -> dict[str, Any]:
    """Where our Glow lost to normflows' and what closed the gap: each of :data:`GLOW_PARTS` and
    normflows' Glow at one constant ``lr`` to ``checkpoints``, evaluated as :func:`tune` does (in
    ``workers`` processes); and the earlier and the current form at ``high_lr`` for
    ``checkpoints[0]`` steps on the first set (whether Adam's first steps keep it finite)."""
    import multiprocessing as mp

    specs = [(label, f, datasets, lr, checkpoints) for label, f in GLOW_PARTS]
    specs.insert(0, ("normflows' Glow", None, datasets, lr, checkpoints))  # the slowest first
    with mp.get_context("fork").Pool(workers, maxtasksperchild=1) as pool:
        rows = pool.map(_parts_row, specs, chunksize=1)
    rows = rows[1:] + rows[:1]
    high = []
    x = _test_points(datasets[0], N_TEST[1])
    with torch_threads(1):
        for label, fields in (GLOW_PARTS[0], GLOW_PARTS[-1]):
            r = Run("glow", datasets[0], Setting(high_lr, None), fields=fields)
            r.advance_to(checkpoints[0])
            ex = None if r.stopped else r.excess(x)
            high.append({"label": label, "steps": r.steps, "stopped": r.stopped, "excess": ex})
    return {
        "lr": lr,
        "high_lr": high_lr,
        "checkpoints": list(checkpoints),
        "datasets": list(datasets),
        "rows": rows,
        "high": high,
    }


def save(res: dict[str, Any], docs: Path) -> Path:
    """``res`` into ``docs/tuning.json``, and its section
    (:func:`benchmarks.tuning_report.section_md`) into ``docs/benchmarks.md`` in place of an
    earlier one, else before "## Notes", else at the end (:func:`benchmarks.splice.write_section`);
    the rest of the page stays as it was. Returns the page's path."""
    import json

    docs.mkdir(parents=True, exist_ok=True)
    (docs / "tuning.json").write_text(json.dumps(res, indent=1, default=float))
    page = docs / "benchmarks.md"
    write_section(page, section_md(res), SECTION)
    return page


def main(argv: list[str] | None = None) -> int:
    import json

    p = argparse.ArgumentParser(
        prog="python -m benchmarks.tuning", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--quick", action="store_true", help="reduced settings (about a minute)")
    p.add_argument("--workers", type=int, default=2, help="processes (one torch thread each)")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated models to tune")
    p.add_argument(
        "--docs", type=Path, default=None, help="default: docs/ (out/bench-quick/ with --quick)"
    )
    p.add_argument(
        "--report-only", action="store_true", help="rewrite the section from tuning.json"
    )
    p.add_argument(
        "--complete",
        action="store_true",
        help="only complete() the tuning in tuning.json: the rungs and the grid's edge an "
        "earlier, more frugal procedure left out (a tuning run does it all itself)",
    )
    p.add_argument(
        "--glow-parts",
        action="store_true",
        help="only run glow_parts() (our Glow's couplings, one change at a time, against "
        "normflows'), kept in tuning.json beside the tuning",
    )
    a = p.parse_args(argv)
    docs = a.docs or ROOT / ("out/bench-quick" if a.quick else "docs")
    if a.report_only:
        res = json.loads((docs / "tuning.json").read_text())
    else:
        try:
            import normflows  # noqa: F401
        except ImportError:
            print("normflows is missing: pip install -r requirements-bench.txt", file=sys.stderr)
            return 2
        old = json.loads(out.read_text()) if (out := docs / "tuning.json").is_file() else {}
        if a.complete:
            import multiprocessing as mp

            if "models" not in old:
                print(f"no tuning in {out} yet: run python -m benchmarks.tuning", file=sys.stderr)
                return 2
            jobs = [
                (m, {"warmup": 0, "edge": False, "seeds": 1} if name == "nf_glow" else {})
                for name, m in old["models"].items()
            ]
            with mp.get_context("fork").Pool(a.workers, maxtasksperchild=1) as pool:
                done = pool.map(_complete_worker, jobs, chunksize=1)
            res = {**old, "models": {m["model"]: m for m in done}}
        elif a.glow_parts:
            if "models" not in old:
                print(f"no tuning in {out} yet: run python -m benchmarks.tuning", file=sys.stderr)
                return 2
            kw = dict(datasets=DATASETS[:2], checkpoints=(20, 40)) if a.quick else {}
            res = {**old, "glow_parts": glow_parts(workers=a.workers, **kw)}
        else:
            models = tuple(m.strip() for m in a.models.split(",") if m.strip())
            res = run(a.quick, workers=a.workers, models=models)
            res["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
            if "glow_parts" in old:  # a run of its own: kept
                res["glow_parts"] = old["glow_parts"]
    print(save(res, docs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
