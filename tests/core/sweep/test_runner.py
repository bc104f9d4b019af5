"""A 2 x 2 x 1-seed grid through a local Ray: every cell lands in the table, a rerun skips them,
a killed sweep resumes, and the numbers are those of a direct run whatever the worker count."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import iresnet_core as ic
from iresnet_core.cli import main
from iresnet_core.sweep.grid import parse_grid
from iresnet_core.sweep.runner import run_sweep
from iresnet_core.sweep.table import read_rows
from iresnet_core.training.threads import torch_threads
from tests.support import ROOT

GRID = (
    "c=0.5,0.9 N=2,5 dataset=rings seeds=1 blocks=2 hidden=16 steps=40 n_data=2000 logdet=series"
)
#: what a cell computes; the rest (times, the worker's name) is where and when it ran
TIMING = {"seconds", "train_seconds", "steps_per_s", "worker", "finished_at"}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def numbers(rows: list[dict]) -> dict[str, dict]:
    return {r["key"]: {k: v for k, v in r.items() if k not in TIMING} for r in rows}


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("sweep2")
    report = run_sweep(parse_grid(GRID), out, workers=2, progress=False)
    return out, report


def test_every_cell_is_in_the_table(two_workers):
    out, report = two_workers
    cells = parse_grid(GRID)
    assert (report.total, report.skipped, report.ran, report.failed) == (4, 0, 4, [])
    assert report.workers == 2 and report.address == "local" and report.device == "cpu"
    rows = read_rows(out)
    assert sorted(r["key"] for r in rows) == sorted(c.key for c in cells)
    assert {(r["coeff"], r["n_terms"]) for r in rows} == {(0.5, 2), (0.5, 5), (0.9, 2), (0.9, 5)}
    assert all(r["steps_done"] == 40 and r["inverse_converged"] for r in rows)
    assert len((out / "results.csv").read_text().splitlines()) == 5
    assert len({r["worker"] for r in rows}) == 2  # both workers ran cells


def test_a_rerun_skips_the_finished_cells(two_workers, capsys):
    out, _ = two_workers
    before = (out / "results.parquet").stat().st_mtime_ns
    assert main(["sweep", "--grid", GRID, "--out", str(out), "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["cells"], summary["skipped"], summary["ran"]) == (4, 4, 0)
    assert (out / "results.parquet").stat().st_mtime_ns == before


def test_a_cell_in_the_table_is_a_direct_trainer_run(two_workers):
    out, _ = two_workers
    row = next(r for r in read_rows(out) if r["coeff"] == 0.9 and r["n_terms"] == 5)
    cfg = ic.FlowConfig(n_blocks=2, hidden=(16,), coeff=0.9, n_terms=5, logdet="series", seed=0)
    with torch_threads(1):
        trainer = ic.Trainer(
            ic.build_flow(cfg),
            ic.datasets.sample("rings", 2000, seed=0),
            lr=ic.DEFAULT_LR["iresnet"],
            lr_decay=ic.DEFAULT_LR_DECAY["iresnet"],
            seed=0,
            native=True,
        )
        trainer.step(40)
        train_nll, test_nll = trainer.evaluate()
    assert (row["train_nll"], row["test_nll"]) == (train_nll, test_nll)


def _session_pids(sid: int) -> list[int]:
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if os.getsid(int(p.name)) == sid:
                    pids.append(int(p.name))
            except OSError:
                pass
    return pids


def test_a_killed_sweep_resumes_with_the_same_numbers_on_one_worker(two_workers, tmp_path):
    out2, _ = two_workers
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "iresnet_core", "sweep", "--grid", GRID, "--out", str(out)]
    cmd += ["--workers", "1", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # its own session: the kill takes the sweep and the Ray it started, as a closed terminal does
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not (out / "results.parquet").exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "no cell finished in time"
            time.sleep(0.2)
        assert proc.poll() is None, "the sweep ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        for pid in _session_pids(proc.pid):  # whatever of that session outlived the kill
            os.kill(pid, signal.SIGKILL)
    done = len(read_rows(out))
    assert 1 <= done < 4
    report = run_sweep(parse_grid(GRID), out, workers=1, progress=False)
    assert (report.skipped, report.ran, report.failed) == (done, 4 - done, [])
    assert numbers(read_rows(out)) == numbers(read_rows(out2))  # one worker or two: same numbers


def test_tune_lr_ranks_trials_and_asha_stops_some_early():
    from iresnet_core.sweep.runner import tune_lr

    (cell,) = parse_grid("dataset=8gaussians blocks=2 hidden=16 steps=60 n_data=2000 seed=0")
    trials = tune_lr(cell, 1e-4, 1e-1, samples=4, report_every=10, grace_steps=10, workers=2)
    assert len(trials) == 4 and all(1e-4 <= t["lr"] <= 1e-1 for t in trials)
    gaps = [t["gap"] for t in trials]
    assert gaps == sorted(gaps)
    assert min(t["steps"] for t in trials) < 60 <= max(t["steps"] for t in trials)
