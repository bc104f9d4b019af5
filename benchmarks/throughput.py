"""Training steps per second: ours against normflows, every comparison interleaved in one run.

Ours is always the documented call, ``ic.Trainer(flow, data)`` with nothing else passed (the C
engine where it takes the flow, torch elsewhere: :attr:`ic.Trainer.engine` is recorded with each
figure), so a figure here is what a person gets from the library. Three groups of rows:

* **exact log-det at the issue's architecture** (``peers.ISSUE_ARCH``: 8 blocks of 2-128-128-2,
  c = 0.9, batch 500): ours as ``.step(1)`` in a loop and as ``.step(10)`` (issue 29: the C step at
  least 3x normflows' residual flow, and ``step(1)`` within 10% of ``step(10)``), our torch path
  (``native=False``) as a row of its own, normflows' residual flow with its brute-force log-det,
  and the step's large matrix products alone (:func:`products_alone`, a floor, not a trainer);
* **the estimated log-dets** at the same architecture (power series with exact traces, one
  Hutchinson probe, Russian roulette): ours (torch: the C engine is exact only) against
  normflows' residual flow in the same mode, both of its gradient variants where there are two;
* **Glow at the default size** (``ic.match_glow(ic.FlowConfig())``: 32 steps parameter-matched to
  32 blocks of 2-32-32-2): ours against normflows' Glow assembled from its parts at the same
  widths, and against our i-ResNet at that parameter count (issue 30: at least 5x normflows' Glow
  and no slower than our i-ResNet).

The budget: every contender of a row runs once per round for the same time (``block_s`` seconds
of its clock, as many calls as fit, at least one, after one untimed call), in an order that
rotates each round, so a busy machine slows all of them alike; a figure is the median over rounds
and a ratio the median of the per-round ratios. Everything a timed call does counts: our trainer's
exact evaluation, due at most once a second of wall time, falls inside a block as often as in a
loop of its own (the untimed call takes the one that came due while the others ran); normflows'
README loop does not evaluate.

Two passes. First one torch thread, clocked in the process's CPU time (``time.process_time``: all
its threads, the C engine's two workers included): what a step costs on idle cores whatever the
neighbours do, the comparison that holds on a shared machine. Then two torch threads in wall time,
the issue's setting, where the machine allows it: with more runnable threads than cores, a parallel
torch operation waits at its barrier for a descheduled thread, spinning, so :func:`thread_probe`
first times normflows' step on one and on two threads, and where the second thread slows it by
more than :data:`MAX_TWO_THREAD_SLOWDOWN` the pass is skipped, saying so.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import torch

import iresnet_core as ic
from iresnet_core.training.threads import torch_threads

from . import peers
from .common import for_seconds, interleaved, load_avg, median, ratios

__all__ = [
    "DOC_1",
    "DOC_10",
    "TORCH",
    "PRODUCTS",
    "NF",
    "GLOW",
    "NF_GLOW",
    "IRESNET_MATCHED",
    "ESTIMATED",
    "MAX_TWO_THREAD_SLOWDOWN",
    "products_alone",
    "thread_probe",
    "run",
]

#: The contenders' names (keys of a row's ``contenders``).
DOC_1 = "ours: Trainer(flow, data).step(1) in a loop"
DOC_10 = "ours: Trainer(flow, data).step(10)"
TORCH = "ours, torch path: Trainer(flow, data, native=False).step(10)"
PRODUCTS = "the step's large matrix products alone"
NF = "normflows residual flow"
GLOW = "ours: Trainer(glow, data).step(10)"
NF_GLOW = "normflows Glow from parts"
IRESNET_MATCHED = "ours, i-ResNet at the same parameter count: Trainer(flow, data).step(10)"

#: The estimated log-det rows: (label, our FlowConfig changes, normflows mode).
ESTIMATED: list[tuple[str, dict[str, Any], str]] = [
    ("power series N=5, exact traces", dict(logdet="series", n_terms=5), "series"),
    (
        "power series N=5, 1 Hutchinson probe",
        dict(logdet="hutchinson", n_terms=5, n_probes=1),
        "hutchinson",
    ),
    (
        "Russian roulette (2 exact terms + Geometric(0.5))",
        dict(logdet="roulette", n_exact_terms=2),
        "roulette",
    ),
]

Contender = tuple[Callable[[], float], dict[str, Any]]

#: The two-thread pass runs where a second torch thread makes normflows' step at most this much
#: slower in wall time (:func:`thread_probe`; on an idle machine it makes it faster).
MAX_TWO_THREAD_SLOWDOWN = 1.25


def _arch(cfg: ic.FlowConfig) -> str:
    widths = "-".join(str(h) for h in (cfg.dim, *cfg.hidden, cfg.dim))
    return f"{cfg.n_blocks} x {widths}"


def _ours(cfg: ic.FlowConfig, data, k: int, block_s: float, clock, **kwargs) -> Contender:
    """``ic.Trainer(flow, data, **kwargs).step(k)`` again and again for ``block_s`` of ``clock``;
    ``kwargs`` empty is the documented call."""
    flow = ic.build_flow(cfg)
    trainer = ic.Trainer(flow, data, **kwargs)
    trainer.step(2)  # ActNorm's data initialisation, the kernels' first load
    info = {
        "engine": trainer.engine,
        "engine_reason": trainer.engine_reason,
        "params": flow.num_parameters(),
        "arch": _arch(cfg),
        "model": cfg.model,
        "call": f"Trainer(flow, data{''.join(f', {a}={v!r}' for a, v in kwargs.items())})"
        f".step({k})",
    }
    return for_seconds(lambda: trainer.step(k), k, block_s, clock), info


def _nf(model, data, block_s: float, clock) -> Contender:
    """normflows' README loop (:class:`benchmarks.peers.NFTrainer`, lr 1e-3), a step at a time."""
    trainer = peers.NFTrainer(model, data, lr=1e-3, batch_size=500, seed=0)
    trainer.step(2)
    info = {"engine": "normflows (torch)", "params": peers.num_parameters(model)}
    return for_seconds(lambda: trainer.step(1), 1, block_s, clock), info


def products_alone(cfg: ic.FlowConfig, batch: int, block_s: float, clock) -> Contender:
    """Steps per second of doing nothing but the large matrix products of our exact training step.

    Per hidden-to-hidden map ``W`` (``H_out x H_in``) and block, the Jacobian pass
    (:mod:`iresnet_core.ops.mlp`; the C engine does the same arithmetic) multiplies the stacked
    value and tangent rows ``Z`` (``(1 + d) B x H_in``) by ``W^T`` forward and takes
    ``dW = dY^T Z`` and ``dZ = dY W`` backward: ``3 (1 + d) B H_in H_out`` multiply-adds (the value
    and each of the ``d`` input directions forward, twice that backward). The first and last maps
    have a side of length ``d`` and are left out, as are all elementwise work, the optimiser and
    Python: torch's matrix products on the process's torch threads, a floor, not a model of the
    step.
    """
    widths = (cfg.dim, *cfg.hidden, cfg.dim)
    rows = (1 + cfg.dim) * batch
    gen = torch.Generator().manual_seed(0)
    mats = [
        (
            torch.randn(rows, a, generator=gen),
            torch.randn(b, a, generator=gen),
            torch.randn(rows, b, generator=gen),
        )
        for a, b in zip(widths[1:-2], widths[2:-1])
    ]

    def one_step() -> None:
        for _ in range(cfg.n_blocks):
            for Z, W, dY in mats:
                Z @ W.t(), dY.t() @ Z, dY @ W

    return for_seconds(one_step, 1, block_s, clock), {"engine": "torch matrix products"}


def _row(
    label: str,
    group: str,
    contenders: dict[str, Contender],
    headline: str,
    peer_names: list[str],
    pairs: list[tuple[str, str]],
    rounds: int,
    block_s: float,
    log,
) -> dict[str, Any]:
    """Run ``contenders`` interleaved; the headline against the fastest of ``peer_names`` and every
    ``(a, b)`` of ``pairs`` as ratios ``a / b`` of the same rounds."""
    per_round = interleaved({n: c[0] for n, c in contenders.items()}, rounds)
    peer = max(peer_names, key=lambda n: median(per_round[n]))
    comparisons = [
        {"a": a, "b": b, **ratios(per_round[a], per_round[b])}
        for a, b in [(headline, peer), *pairs]
    ]
    row = {
        "label": label,
        "group": group,
        "rounds": rounds,
        "block_s": block_s,
        "contenders": {
            n: {**info, "rate": median(per_round[n])} for n, (_, info) in contenders.items()
        },
        "headline": headline,
        "peer": peer,
        **ratios(per_round[headline], per_round[peer]),
        "comparisons": comparisons,
        "per_round": per_round,
    }
    log(
        f"  {label}: "
        + ", ".join(f"{n} {c['rate']:.1f}" for n, c in row["contenders"].items())
        + " steps/s"
    )
    for c in comparisons:
        spread = f"{c['ratio_min']:.2f}-{c['ratio_max']:.2f}"
        log(f"    {c['a']} / {c['b']}: {c['ratio']:.2f}x ({spread})")
    return row


def _exact(data, rounds: int, block_s: float, clock, log) -> dict[str, Any]:
    cfg = ic.FlowConfig(**peers.ISSUE_ARCH)
    contenders = {
        DOC_1: _ours(cfg, data, 1, block_s, clock),
        DOC_10: _ours(cfg, data, 10, block_s, clock),
        TORCH: _ours(cfg, data, 10, block_s, clock, native=False),
        NF: _nf(peers.build_nf_residual("exact"), data, block_s, clock),
        PRODUCTS: products_alone(cfg, 500, block_s, clock),
    }
    return _row(
        "exact log-det (2x2 determinant / brute force)",
        "exact",
        contenders,
        DOC_1,
        [NF],
        [
            (DOC_10, NF),
            (TORCH, NF),
            (DOC_1, DOC_10),
            (DOC_10, TORCH),
            (PRODUCTS, NF),
            (DOC_10, PRODUCTS),
            (TORCH, PRODUCTS),
        ],
        rounds,
        block_s,
        log,
    )


def _estimated(data, rounds: int, block_s: float, clock, log) -> list[dict[str, Any]]:
    rows = []
    for label, changes, mode in ESTIMATED:
        cfg = ic.FlowConfig(**peers.ISSUE_ARCH, **changes)
        contenders = {DOC_10: _ours(cfg, data, 10, block_s, clock)}
        # reduce_memory changes only the stochastic estimators' gradient path: both run there.
        variants = [True, False] if mode in ("hutchinson", "roulette") else [True]
        for rm in variants:
            name = f"{NF} (reduce_memory={rm})" if len(variants) > 1 else NF
            contenders[name] = _nf(
                peers.build_nf_residual(mode, reduce_memory=rm), data, block_s, clock
            )
        peer_names = [n for n in contenders if n != DOC_10]
        rows.append(_row(label, mode, contenders, DOC_10, peer_names, [], rounds, block_s, log))
    return rows


def _glow(data, rounds: int, block_s: float, clock, log) -> dict[str, Any]:
    iresnet = ic.FlowConfig()
    glow = ic.match_glow(iresnet)
    contenders = {
        GLOW: _ours(glow, data, 10, block_s, clock),
        NF_GLOW: _nf(
            peers.build_nf_glow(n_blocks=glow.n_blocks, hidden=glow.hidden), data, block_s, clock
        ),
        IRESNET_MATCHED: _ours(iresnet, data, 10, block_s, clock),
    }
    return _row(
        f"Glow, default size ({glow.n_blocks} steps matched to {_arch(iresnet)})",
        "glow",
        contenders,
        GLOW,
        [NF_GLOW],
        [(GLOW, IRESNET_MATCHED), (IRESNET_MATCHED, NF_GLOW)],
        rounds,
        block_s,
        log,
    )


def thread_probe(steps: int = 3) -> dict[str, dict[str, float]]:
    """Wall and CPU seconds per step of normflows' exact residual flow at the issue's architecture,
    on one torch thread and on two (``steps`` steps each, after one untimed step at that count: the
    first steps after a change of thread count are slow): what a second thread does to a step on
    this machine as loaded now."""
    data = ic.datasets.sample("8gaussians", 4000, seed=0)
    trainer = peers.NFTrainer(peers.build_nf_residual("exact"), data, lr=1e-3, seed=0)
    out = {}
    for n in (1, 2):
        with torch_threads(n):
            trainer.step(1)
            c0, t0 = time.process_time(), time.perf_counter()
            trainer.step(steps)
            out[str(n)] = {
                "wall_s": (time.perf_counter() - t0) / steps,
                "cpu_s": (time.process_time() - c0) / steps,
            }
    return out


def _pass(clock, rounds: int, block_s: float, log, estimated: bool = True) -> dict[str, Any]:
    """Every row (the estimated ones with ``estimated``) at the process's torch threads, blocks of
    ``block_s`` seconds of ``clock``."""
    data = ic.datasets.sample("8gaussians", 4000, seed=0)
    rows = [_exact(data, rounds, block_s, clock, log)]
    if estimated:
        rows += _estimated(data, rounds, block_s, clock, log)
    rows.append(_glow(data, rounds, block_s, clock, log))
    return {
        "rows": rows,
        "batch": 500,
        "rounds": rounds,
        "block_s": block_s,
        "power_iters_normflows": peers.POWER_ITERS,
        "threads": torch.get_num_threads(),
        "clock": "wall time" if clock is time.perf_counter else "process CPU time",
        "load_avg": load_avg(),
    }


def run(quick: bool = False, log=print, two_threads: bool | None = None) -> dict[str, Any]:
    """One torch thread in the process's CPU time, then two in wall time (see the module
    docstring); ``two_threads`` forces the second pass on or off (``None``: on unless
    :func:`thread_probe` finds a second thread slowing a step by more than
    :data:`MAX_TWO_THREAD_SLOWDOWN`)."""
    out: dict[str, Any] = {"load_avg_at_start": load_avg()}
    with torch_threads(1):
        log("  -- one torch thread, process CPU time --")
        out["one_thread"] = _pass(time.process_time, 2 if quick else 5, 0.1 if quick else 0.5, log)
    probe = thread_probe()
    slowdown = probe["2"]["wall_s"] / probe["1"]["wall_s"]
    load, cores = load_avg()[0], os.cpu_count() or 1
    log(f"  a second torch thread: {slowdown:.2f}x the wall time of a normflows step ({probe})")
    if two_threads is None:
        two_threads = slowdown <= MAX_TWO_THREAD_SLOWDOWN
    if not two_threads:
        out["two_threads"] = {
            "skipped": f"with two torch threads a step took {slowdown:.1f}x its wall time on one "
            f"(the load average was {load:g} on {cores} cores): the pass would measure the "
            "scheduler, each parallel operation waiting at its barrier for a descheduled thread",
            "probe": probe,
        }
        log(f"  -- two threads, wall time: skipped, {out['two_threads']['skipped']} --")
        return out
    with torch_threads(2):
        log("  -- two torch threads, wall time --")
        out["two_threads"] = _pass(
            time.perf_counter, 3 if quick else 9, 0.3 if quick else 2.0, log
        )
    out["two_threads"]["probe"] = probe
    return out
