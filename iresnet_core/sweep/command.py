"""``python -m iresnet_core sweep``: a grid of training runs on Ray, into one results table.

    python -m iresnet_core sweep --grid "c=0.5,0.7,0.9 N=2,5,10 dataset=rings seeds=10" --out s
    python -m iresnet_core sweep grids/paper.toml --out s --address ray://head:10001
    python -m iresnet_core sweep --grid "dataset=rings steps=1000" --tune-lr 1e-3:1e-1 --out t

The table is ``OUT/results.parquet`` with ``OUT/results.csv`` beside it; cells it already has
are skipped, so running the same command again resumes an interrupted sweep. A summary goes to
stdout as JSON; the progress bar (cells done, running, left) to stderr. Bad grids are refused
before anything runs (exit status 2); a sweep with failed cells exits 1.

Example:
    >>> import argparse
    >>> sub = argparse.ArgumentParser().add_subparsers(dest="command")
    >>> _ = add_parser(sub)
    >>> main(sub.choices["sweep"].parse_args(["--grid", "c=0.5,0.9 dataset=rings", "--dry-run",
    ...                                         "--out", "/nonexistent", "--quiet"]))
    {"cells": 2, "finished": 0, "to_run": 2}
    0
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from iresnet_core.sweep.grid import Cell, load_grid, parse_grid

__all__ = ["add_parser", "main"]


def _tune_range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(t) for t in text.replace(",", ":").split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--tune-lr takes LOW:HIGH, got {text!r}") from None
    if not 0 < low < high:
        raise argparse.ArgumentTypeError(f"--tune-lr needs 0 < LOW < HIGH, got {text!r}")
    return low, high


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``sweep`` subcommand to the subparsers ``sub`` of the command line."""
    s = sub.add_parser(
        "sweep",
        help="train a grid of flows over seeds on Ray and tabulate what they measure",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Run every cell of a grid (FlowConfig and training fields, data sets, "
        "seeds) on Ray, locally or on a cluster, into OUT/results.parquet and OUT/results.csv. "
        "Finished cells are skipped: rerun to resume.",
    )
    s.add_argument("file", nargs="?", type=Path, help="a grid file (.toml, .yaml)")
    s.add_argument(
        "--grid",
        help='a grid on the command line, e.g. "c=0.5,0.9 N=2,5 dataset=rings seeds=3 '
        'steps=300" (";" between sub-grids)',
    )
    s.add_argument("--out", type=Path, required=True, help="output folder")
    s.add_argument(
        "--address",
        default=None,
        help="a Ray cluster to run on (default: $RAY_ADDRESS, else a local Ray started and "
        "stopped here)",
    )
    s.add_argument(
        "--workers", type=int, default=None, help="CPUs of the local Ray (default: every core)"
    )
    s.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="where density cells train: auto puts them on a GPU when the cluster has one",
    )
    s.add_argument(
        "--gpus-per-cell",
        type=float,
        default=None,
        help="GPU share of a cell on a GPU (default: the cluster's GPUs over its CPUs)",
    )
    s.add_argument(
        "--tune-lr",
        type=_tune_range,
        default=None,
        metavar="LOW:HIGH",
        help="instead of the sweep: a Ray Tune search of the learning rate (log-uniform, ASHA "
        "early stopping) for every setting of the grid at its first seed; writes OUT/tune.json",
    )
    s.add_argument("--samples", type=int, default=8, help="learning rates tried per setting")
    s.add_argument("--dry-run", action="store_true", help="count the cells and stop")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    return s


def _cells(args: argparse.Namespace) -> list[Cell]:
    if (args.file is None) == (args.grid is None):
        raise ValueError("give a grid file or --grid, one of them")
    if args.file is not None:
        if not args.file.is_file():
            raise ValueError(f"no such grid file: {args.file}")
        return load_grid(args.file)
    return parse_grid(args.grid)


def _tune(args: argparse.Namespace, cells: list[Cell]) -> int:
    from iresnet_core.sweep.runner import ray_session, tune_lr

    first: dict[str, Cell] = {}
    for cell in sorted(cells, key=lambda c: c.seed):
        setting = {k: v for k, v in cell.settings().items() if k not in ("seed", "lr")}
        first.setdefault(json.dumps(setting, sort_keys=True, default=str), cell)
    results = []
    with ray_session(args.address, args.workers):
        for cell in first.values():
            if cell.model == "classifier":
                continue
            trials = tune_lr(cell, *args.tune_lr, samples=args.samples)
            best = trials[0]["lr"]
            results.append({"setting": cell.settings(), "best_lr": best, "trials": trials})
            if not args.quiet:
                print(f"{cell.dataset} {cell.model}: best lr {best:.3g}", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tune.json").write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps([{"best_lr": r["best_lr"], **r["setting"]} for r in results], default=str))
    return 0


def main(args: argparse.Namespace) -> int:
    """Run the ``sweep`` subcommand; returns the exit status."""
    try:
        cells = _cells(args)
        if args.out.exists() and not args.out.is_dir():
            raise ValueError(f"--out {args.out} exists and is not a directory")
        if args.workers is not None and args.workers < 1:
            raise ValueError(f"--workers must be at least 1, got {args.workers}")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from iresnet_core.sweep.table import finished_keys

    if args.dry_run:
        done = finished_keys(args.out) if args.out.is_dir() else set()
        n_done = sum(c.key in done for c in cells)
        print(json.dumps({"cells": len(cells), "finished": n_done, "to_run": len(cells) - n_done}))
        return 0
    if args.tune_lr is not None:
        return _tune(args, cells)
    from iresnet_core.sweep.runner import run_sweep

    report = run_sweep(
        cells,
        args.out,
        address=args.address,
        workers=args.workers,
        device=args.device,
        gpus_per_cell=args.gpus_per_cell,
        progress=not args.quiet,
    )
    summary = {
        "cells": report.total,
        "skipped": report.skipped,
        "ran": report.ran,
        "failed": len(report.failed),
        "seconds": round(report.seconds, 1),
        "workers": report.workers,
        "address": report.address,
        "device": report.device,
        "results": str(args.out / "results.parquet"),
    }
    for key, error in report.failed:
        print(f"cell {key} failed: {error}", file=sys.stderr)
    print(json.dumps(summary))
    return 1 if report.failed else 0
