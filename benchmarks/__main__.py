"""``python -m benchmarks [--quick] [--only throughput,fit,latency,live] [--report-only]``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import ROOT, report
from .common import load_avg, machine_info, reference_speed, setup_torch

SECTIONS = ("throughput", "fit", "latency", "live")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="reduced settings (~3 min), for checking")
    p.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections to run")
    p.add_argument(
        "--docs",
        type=Path,
        default=None,
        help="where benchmarks.md goes (default: docs/, or out/bench-quick/ with --quick, so a "
        "check "
        "never overwrites the real page)",
    )
    p.add_argument(
        "--report-only", action="store_true", help="rewrite the page from docs/benchmarks.json"
    )
    a = p.parse_args(argv)
    if a.docs is None:
        a.docs = ROOT / ("out/bench-quick" if a.quick else "docs")
    out_json = a.docs / "benchmarks.json"
    if a.report_only:
        res = json.loads(out_json.read_text())
        print(report.write(res, a.docs))
        return 0
    try:
        import normflows  # noqa: F401
    except ImportError:
        print("normflows is missing: pip install -r requirements-bench.txt", file=sys.stderr)
        return 2
    setup_torch()
    only = [s.strip() for s in a.only.split(",") if s.strip()]
    bad = set(only) - set(SECTIONS)
    if bad:
        p.error(f"unknown sections {sorted(bad)}; choose from {SECTIONS}")
    res: dict = {"machine": machine_info(), "quick": a.quick}
    if set(only) != set(SECTIONS) and out_json.is_file():  # a partial run keeps the other sections
        previous = json.loads(out_json.read_text())
        kept = [name for name in SECTIONS if name not in only and name in previous]
        res.update({name: previous[name] for name in kept})
        if kept:
            res["kept"] = kept
        if previous.get("notes"):  # the hand-written notes stay until edited in the JSON
            res["notes"] = previous["notes"]
    t0 = time.perf_counter()
    a.docs.mkdir(parents=True, exist_ok=True)
    for name in SECTIONS:
        if name not in only:
            continue
        print(f"[{name}]", flush=True)
        mod = __import__(f"benchmarks.{name}", fromlist=["run"])
        reference = reference_speed()
        s = time.perf_counter()
        res[name] = mod.run(quick=a.quick, log=lambda m: print(m, flush=True))
        res[name]["seconds"] = time.perf_counter() - s
        res[name]["date"] = time.strftime("%Y-%m-%d %H:%M")
        res[name]["reference"] = reference
        res[name]["cpu"] = res["machine"]["cpu"]  # a kept section keeps the CPU it ran on
        res["total_s"] = time.perf_counter() - t0
        res["machine"]["load_avg_at_end"] = load_avg()
        # after every section: a later one that fails leaves the finished ones on disk
        out_json.write_text(json.dumps(res, indent=1, default=float))
    print(report.write(res, a.docs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
