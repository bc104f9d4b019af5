"""Running a sweep's cells on Ray: on this machine, or on a cluster, with the same numbers.

By default a local Ray is started for the sweep and stopped after it (one worker per core, no
dashboard); given an address (``address=`` or ``RAY_ADDRESS``) the cells go to that cluster
instead. Every cell is a Ray task of one CPU that runs :func:`~iresnet_core.sweep.cell.run_cell`
on one torch thread, seeded by its cell, so a cell's numbers are the same whichever worker runs
it and however many run beside it. No more cells are handed out than the cluster has CPUs for,
so "running" means running. As each cell finishes its row goes into the table
(:mod:`~iresnet_core.sweep.table`); cells already in the table are skipped, so an interrupted
sweep resumes where it stopped.

Where the cluster has GPUs, density cells ask Ray for a share of one (:func:`placement`) and
train there through the eager torch path; the C engine is the CPU's path. Learning-rate searches
(:func:`tune_lr`) use Ray Tune, with ASHA stopping the hopeless trials early.

Ray is imported here, inside the functions that need it: ``import iresnet_core`` never does.

Example:
    >>> placement({"CPU": 16.0, "GPU": 2.0})
    (0.125, 'cuda')
    >>> placement({"CPU": 2.0})
    (0.0, 'cpu')
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from iresnet_core.sweep.cell import run_cell
from iresnet_core.sweep.grid import Cell
from iresnet_core.sweep.table import append_rows, finished_keys, result_row

__all__ = ["DEVICES", "SweepReport", "placement", "ray_session", "run_sweep", "tune_lr"]

DEVICES = ("auto", "cpu", "cuda")

#: The local Ray's object store: cells pass only small dicts, and the machine is shared.
LOCAL_OBJECT_STORE_BYTES = 100 * 1024**2

#: The repository root: a local Ray's workers import this package from here.
_ROOT = Path(__file__).resolve().parents[2]


def placement(
    resources: Mapping[str, float], device: str = "auto", gpus_per_cell: float | None = None
) -> tuple[float, str]:
    """``(num_gpus, device)`` for a density cell on a cluster with ``resources`` (Ray's
    ``cluster_resources()``): ``"cpu"`` asks for none; ``"auto"`` goes to a GPU when the cluster
    has one; ``"cuda"`` insists (a ValueError without one). The GPU share is ``gpus_per_cell``,
    by default the cluster's GPUs over its CPUs (at most 1): every CPU slot gets a share, so the
    GPUs are shared rather than the CPUs left idle."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    gpus = float(resources.get("GPU", 0.0))
    if device == "cpu" or (device == "auto" and gpus <= 0):
        return 0.0, "cpu"
    if gpus <= 0:
        raise ValueError("device 'cuda': the Ray cluster has no GPU")
    if gpus_per_cell is None:
        gpus_per_cell = min(1.0, gpus / max(1.0, float(resources.get("CPU", 1.0))))
    if not 0 < gpus_per_cell <= max(1.0, gpus):
        raise ValueError(f"gpus_per_cell must be in (0, {max(1.0, gpus):g}], got {gpus_per_cell}")
    return float(gpus_per_cell), "cuda"


@dataclass
class SweepReport:
    """What a sweep did: cells in the grid, skipped (finished before), run now, failed (with
    their error), the wall time of the cells run now, the workers and where Ray ran."""

    total: int
    skipped: int
    ran: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 0
    address: str = "local"
    device: str = "cpu"


def _ray() -> Any:
    try:
        import ray
    except ImportError:  # pragma: no cover - ray is in requirements.txt
        raise RuntimeError(
            "the sweep runs on Ray: pip install 'ray[tune]' (see requirements.txt)"
        ) from None
    return ray


def _start(ray: Any, address: str | None, workers: int | None) -> bool:
    """Connect to ``address`` or start a local Ray; True when this call started it."""
    if ray.is_initialized():
        return False
    quiet = dict(log_to_driver=False, logging_level="WARNING", configure_logging=True)
    if address:
        pkg = str(_ROOT / "iresnet_core")
        ray.init(address=address, runtime_env={"py_modules": [pkg]}, **quiet)
        return True
    env = {"PYTHONPATH": os.pathsep.join([str(_ROOT), os.environ.get("PYTHONPATH", "")])}
    ray.init(
        address="local",
        num_cpus=workers or os.cpu_count() or 1,
        include_dashboard=False,
        object_store_memory=LOCAL_OBJECT_STORE_BYTES,
        runtime_env={"env_vars": env},
        **quiet,
    )
    return True


def _address(address: str | None) -> str | None:
    return address or os.environ.get("RAY_ADDRESS") or None


@contextmanager
def ray_session(address: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """Ray, connected for the block: to ``address`` (default ``RAY_ADDRESS``) or to a local Ray
    of ``workers`` CPUs (default: every core) started here and stopped after; inside another
    session, that one."""
    ray = _ray()
    started = _start(ray, _address(address), workers)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


class _Bar:
    """The progress line: cells done, running and left (tqdm, on stderr)."""

    def __init__(self, total: int, done: int, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, desc="sweep", unit="cell", file=sys.stderr)

    def show(self, done: int, running: int, left: int, failed: int) -> None:
        if self.bar is None:
            return
        self.bar.n = done
        post = dict(running=running, left=left)
        if failed:
            post["failed"] = failed
        self.bar.set_postfix(post, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_sweep(
    cells: Sequence[Cell],
    out: str | Path,
    *,
    address: str | None = None,
    workers: int | None = None,
    device: str = "auto",
    gpus_per_cell: float | None = None,
    progress: bool = True,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> SweepReport:
    """Run every cell of ``cells`` that the table in ``out`` does not have yet, on Ray, adding
    each row as its cell finishes.

    Args:
        cells: the grid (:func:`~iresnet_core.sweep.grid.parse_grid`,
            :func:`~iresnet_core.sweep.grid.load_grid`).
        out: the output folder (``results.parquet`` and ``results.csv``).
        address: a Ray cluster (``"ray://host:10001"``, ``"host:6379"``); default
            ``RAY_ADDRESS``, else a local Ray started and stopped here.
        workers: CPUs of the local Ray (default: every core); ignored on a cluster.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"`` for density cells (:func:`placement`).
        gpus_per_cell: the GPU share of a GPU cell (default: GPUs over CPUs).
        progress: the progress bar on stderr.
        on_row: called with every new row (after it is written).
    """
    done = finished_keys(out)
    todo = [c for c in cells if c.key not in done]
    report = SweepReport(total=len(cells), skipped=len(cells) - len(todo))
    address = _address(address)
    report.address = address or "local"
    if not todo:
        return report
    with ray_session(address, workers) as ray:
        _run(ray, todo, out, report, device, gpus_per_cell, progress, on_row)
    return report


def _run(
    ray: Any,
    todo: list[Cell],
    out: str | Path,
    report: SweepReport,
    device: str,
    gpus_per_cell: float | None,
    progress: bool,
    on_row: Callable[[dict[str, Any]], None] | None,
) -> None:
    bar = _Bar(report.total, report.skipped, progress)
    try:
        resources = ray.cluster_resources()
        num_gpus, dev = placement(resources, device, gpus_per_cell)
        report.device = dev
        slots = max(1, int(resources.get("CPU", 1)))
        report.workers = slots
        remote_cpu = ray.remote(num_cpus=1, max_retries=0)(run_cell)
        remote_gpu = ray.remote(num_cpus=1, num_gpus=num_gpus, max_retries=0)(run_cell)
        queue = list(todo)
        pending: dict[Any, Cell] = {}
        start = time.perf_counter()
        n_done = report.skipped
        while queue or pending:
            while queue and len(pending) < slots:
                cell = queue.pop(0)
                if dev == "cuda" and cell.model != "classifier":
                    pending[remote_gpu.remote(cell.on("cuda"))] = cell
                else:
                    pending[remote_cpu.remote(cell)] = cell
            bar.show(n_done, len(pending), len(queue), len(report.failed))
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                cell = pending.pop(ref)
                try:
                    measured = ray.get(ref)
                except Exception as e:  # a failed cell is reported and left for a rerun
                    report.failed.append((cell.key, f"{type(e).__name__}: {e}"))
                    continue
                stamp = datetime.now(UTC).isoformat(timespec="seconds")
                row = result_row(cell, measured, stamp)
                append_rows(out, [row])
                report.ran += 1
                n_done += 1
                if on_row is not None:
                    on_row(row)
        bar.show(n_done, 0, 0, len(report.failed))
        report.seconds = time.perf_counter() - start
    finally:
        bar.close()


def _tune_trainable(config: dict[str, Any]) -> None:
    """One Tune trial: a density cell at ``config["lr"]``, reporting the test NLL's distance from
    the entropy every ``config["report_every"]`` steps (what ASHA compares)."""
    import torch
    from ray import tune

    from iresnet_core.datasets import toy
    from iresnet_core.flows.build import build_flow
    from iresnet_core.training.trainer import Trainer

    cell: Cell = config["cell"]
    ts = cell.train_settings()
    entropy = toy.entropy(cell.dataset) or 0.0
    torch.set_num_threads(1)
    trainer = Trainer(
        build_flow(cell.flow_config()),
        toy.sample(cell.dataset, ts["n_data"], seed=cell.seed),
        lr=config["lr"],
        batch_size=ts["batch_size"],
        seed=cell.seed,
        test_fraction=ts["test_fraction"],
        clip_grad=ts["clip_grad"],
        average=ts["average"],
        lr_decay=ts["lr_decay"],
        native=bool(ts["native"]),
    )
    while trainer.step_count < cell.steps and trainer.paused_reason is None:
        m = trainer.step(min(config["report_every"], cell.steps - trainer.step_count))
        gap = m["test_nll"] - entropy
        tune.report({"gap": gap if math.isfinite(gap) else 1e9, "step": trainer.step_count})


def tune_lr(
    cell: Cell,
    low: float,
    high: float,
    samples: int = 8,
    *,
    report_every: int = 50,
    grace_steps: int = 100,
    address: str | None = None,
    workers: int | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """A learning-rate search for a density cell with Ray Tune: ``samples`` rates drawn
    log-uniformly in ``[low, high]``, each trained for the cell's steps; ASHA (asynchronous
    successive halving) stops a trial whose test NLL is among the worst at a rung from
    ``grace_steps`` on. Returns one dict per trial (``lr``, ``gap``: its last test NLL minus the
    entropy, ``steps``), best first.
    """
    if cell.model == "classifier":
        raise ValueError("tune_lr searches a density cell's learning rate")
    if not 0 < low < high:
        raise ValueError(f"need 0 < low < high, got {low}, {high}")
    with ray_session(address, workers):
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler

        scheduler = ASHAScheduler(
            time_attr="step",
            max_t=cell.steps,
            grace_period=min(grace_steps, cell.steps),
            reduction_factor=2,
        )
        tuner = tune.Tuner(
            tune.with_resources(_tune_trainable, {"cpu": 1}),
            param_space={
                "cell": cell,
                "report_every": report_every,
                "lr": tune.loguniform(low, high),
            },
            tune_config=tune.TuneConfig(
                metric="gap",
                mode="min",
                scheduler=scheduler,
                num_samples=samples,
                search_alg=tune.search.BasicVariantGenerator(random_state=seed),
            ),
            run_config=tune.RunConfig(verbose=0),
        )
        results = tuner.fit()
        trials = [
            {
                "lr": r.config["lr"],
                "gap": r.metrics.get("gap", math.inf),
                "steps": r.metrics.get("step", 0),
            }
            for r in results
        ]
    return sorted(trials, key=lambda t: t["gap"])
