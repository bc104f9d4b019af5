"""Training steps per second at the issue's architecture: ours against normflows, per log-det mode.

The architecture is the issue's yardstick, 8 blocks of 2-128-128-2 (``peers.ISSUE_ARCH``), not our
default flow's (``ic.FlowConfig()``, 32 blocks of 2-32-32-2), on both sides.

Every contender is a full optimiser step as its library's own loop does it: for ours
``ic.Trainer.step(k)`` (its ``steps_per_s``, which leaves out the evaluation after the burst), for
normflows :class:`benchmarks.peers.NFTrainer` (Adam on ``forward_kld``, ``update_lipschitz``). All
run at batch 500 with two threads, in alternating blocks of ``k`` steps inside one loop.
"""

from __future__ import annotations

import time
from typing import Any

import iresnet_core as ic

from . import peers
from .common import interleaved, median

__all__ = ["PAIRS", "run"]

#: (row label, our FlowConfig changes, normflows mode or "glow").
PAIRS: list[tuple[str, dict[str, Any], str]] = [
    ("exact log-det (2x2 determinant / brute force)", dict(logdet="exact"), "exact"),
    ("power series N=5, exact traces", dict(logdet="series", n_terms=5), "series"),
    ("power series N=5, 1 Hutchinson probe", dict(logdet="hutchinson", n_terms=5, n_probes=1), "hutchinson"),
    ("Russian roulette (2 exact terms + Geometric(0.5))", dict(logdet="roulette", n_exact_terms=2), "roulette"),
    ("Glow (parameter-matched) vs normflows Glow from parts", dict(model="glow"), "glow"),
]


def _cpu_rate(one_step, k: int):
    """Steps per CPU second of this thread over ``k`` optimiser steps (one-thread pass)."""
    def rate() -> float:
        t0 = time.thread_time()
        for _ in range(k):
            one_step()
        return k / (time.thread_time() - t0)
    return rate


def _ours(changes: dict[str, Any], data, k: int, cpu: bool = False):
    cfg = ic.FlowConfig(**peers.ISSUE_ARCH, **{k2: v for k2, v in changes.items() if k2 != "model"})
    if changes.get("model") == "glow":
        cfg = ic.match_glow(cfg)
    flow = ic.build_flow(cfg)
    trainer = ic.Trainer(flow, data, lr=1e-3, batch_size=500, seed=0)
    trainer.step(2)  # ActNorm initialisation and warm-up
    if cpu:
        trainer.flow.train()
        return flow, _cpu_rate(trainer._one_step, k)
    return flow, (lambda: trainer.step(k)["steps_per_s"])


def _theirs(mode: str, data, k: int, reduce_memory: bool, cpu: bool = False):
    if mode == "glow":
        model = peers.build_nf_glow(hidden=ic.match_glow(ic.FlowConfig(**peers.ISSUE_ARCH)).hidden)
    else:
        model = peers.build_nf_residual(mode, reduce_memory=reduce_memory)  # at ISSUE_ARCH
    tr = peers.NFTrainer(model, data, lr=1e-3, batch_size=500, seed=0)
    tr.step(2)
    if cpu:
        return model, _cpu_rate(tr._one_step, k)
    return model, (lambda: tr.step(k)["steps_per_s"])


def run(quick: bool = False, log=print) -> dict[str, Any]:
    """The issue's protocol at two threads, then the same at one thread (robust to a busy machine)."""
    import torch

    out = _run(quick, log)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        log("  -- one thread --")
        out["one_thread"] = _run(quick, log, rounds=3 if quick else 7, modes=("exact", "hutchinson", "glow"), cpu=True)
    finally:
        torch.set_num_threads(before)
    return out


def _run(quick: bool, log, rounds: int | None = None, modes: tuple[str, ...] | None = None,
         cpu: bool = False) -> dict[str, Any]:
    import torch

    rounds_default, k = (3, 4) if quick else (9, 10)
    rounds = rounds or rounds_default
    data = ic.datasets.sample("8gaussians", 4000, seed=0)
    rows = []
    for label, changes, mode in PAIRS:
        if modes is not None and mode not in modes:
            continue
        contenders, params = {}, {}
        flow, contenders["ours"] = _ours(changes, data, k, cpu)
        params["ours"] = flow.num_parameters()
        # reduce_memory changes only the stochastic estimators' gradient path: try both there.
        variants = [True, False] if mode in ("hutchinson", "roulette") else [True]
        for rm in variants:
            name = f"normflows (reduce_memory={rm})" if len(variants) > 1 else "normflows"
            model, contenders[name] = _theirs(mode, data, k, rm, cpu)
            params[name] = peers.num_parameters(model)
        per_round = interleaved(contenders, rounds)
        theirs = [n for n in contenders if n != "ours"]
        best = max(theirs, key=lambda n: median(per_round[n]))
        ratios = [o / t for o, t in zip(per_round["ours"], per_round[best])]
        row = {
            "label": label, "mode": mode, "rounds": rounds, "steps_per_block": k,
            "ours": median(per_round["ours"]),
            "theirs": {n: median(per_round[n]) for n in theirs},
            "best_peer": best, "peer": median(per_round[best]),
            "ratio": median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
            "params": params, "per_round": per_round,
        }
        log(f"  {label}: ours {row['ours']:.1f} steps/s, {best} {row['peer']:.1f} steps/s, ratio {row['ratio']:.2f}")
        rows.append(row)
    return {"rows": rows, "batch": 500, "rounds": rounds, "steps_per_block": k,
            "power_iters_normflows": peers.POWER_ITERS, "threads": torch.get_num_threads(),
            "clock": "thread CPU time" if cpu else "wall time"}
