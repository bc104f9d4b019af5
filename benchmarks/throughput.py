"""Training steps per second at the issue's architecture: ours against normflows, per log-det mode.

The architecture is the issue's yardstick, 8 blocks of 2-128-128-2 (``peers.ISSUE_ARCH``), not our
default flow's (``ic.FlowConfig()``, 32 blocks of 2-32-32-2), on both sides.

Every contender is a full optimiser step as its library's own loop does it: for ours
``ic.Trainer.step(k)`` (its ``steps_per_s``, which leaves out the evaluation after the burst), for
normflows :class:`benchmarks.peers.NFTrainer` (Adam on ``forward_kld``, ``update_lipschitz``). All
run at batch 500 with two threads, in alternating blocks of ``k`` steps inside one loop.

The exact row has a third contender that is not a trainer: the matrix products of our step's
hidden-to-hidden maps alone (:func:`_products_alone`), timed in the same rounds: the arithmetic of
the analytic 2D Jacobian pass at this CPU's speed. Its rate over normflows' is as far as the
arithmetic alone would let the ratio go; ours over it is the share of our step that it takes.
"""

from __future__ import annotations

import time
from typing import Any

import iresnet_core as ic

from . import peers
from .common import empty_compile_cache, interleaved, median

__all__ = ["PAIRS", "run"]

#: (row label, our FlowConfig changes, normflows mode or "glow").
PAIRS: list[tuple[str, dict[str, Any], str]] = [
    ("exact log-det (2x2 determinant / brute force)", dict(logdet="exact"), "exact"),
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
    ("Glow (parameter-matched) vs normflows Glow from parts", dict(model="glow"), "glow"),
]


def _rate(one_step, k: int, cpu: bool):
    """Steps per second over ``k`` calls of ``one_step``: in this thread's CPU time with ``cpu``
    (the one-thread pass), else in wall time."""
    clock = time.thread_time if cpu else time.perf_counter

    def rate() -> float:
        t0 = clock()
        for _ in range(k):
            one_step()
        return k / (clock() - t0)

    return rate


#: The name of the contender that is only our step's large matrix products (no trainer).
PRODUCTS = "matrix products alone"


def _products_alone(cfg: ic.FlowConfig, batch: int, k: int, cpu: bool = False):
    """Steps per second of doing nothing but the large matrix products of our exact training step.

    Per hidden-to-hidden map ``W`` (``H_out x H_in``) and block, :mod:`iresnet_core.ops.mlp`
    multiplies the stacked value and tangent rows ``Z`` (``(1 + d) B x H_in``) by ``W^T`` forward
    and takes ``dW = dY^T Z`` and ``dZ = dY W`` backward: ``3 (1 + d) B H_in H_out`` multiply-adds,
    the Jacobian pass's arithmetic (the value and each of the ``d`` input directions forward, twice
    that backward). The first and last maps have a side of length ``d`` and are left out, as are
    all elementwise work, the optimiser and Python: this is a floor, not a model of the step.
    """
    import torch

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

    return _rate(one_step, k, cpu)


#: The name of the contender that is ours with the compiled loss.
COMPILED = "ours, compiled"
#: The name of the contender that is ours with the C training kernel (``Trainer(native=True)``).
NATIVE = "ours, C kernel"


def _cold_compile_seconds(trainer: ic.Trainer) -> float:
    """The wall time of ``trainer``'s first compiled step with an empty inductor cache (its first
    step, which initialises the ActNorms, runs eagerly and is not counted)."""
    trainer.step(1)
    with empty_compile_cache():
        t0 = time.perf_counter()
        trainer.step(1)
        return time.perf_counter() - t0


def _ours(
    changes: dict[str, Any],
    data,
    k: int,
    cpu: bool = False,
    compile: bool = False,
    native: bool = False,
):
    cfg = ic.FlowConfig(
        **peers.ISSUE_ARCH, **{k2: v for k2, v in changes.items() if k2 != "model"}
    )
    if changes.get("model") == "glow":
        cfg = ic.match_glow(cfg)
    flow = ic.build_flow(cfg)
    trainer = ic.Trainer(
        flow, data, lr=1e-3, batch_size=500, seed=0, compile=compile, native=native
    )
    if native and not trainer.native:
        return flow, None
    if native and cpu:  # the kernel in the calling thread only: its CPU time is then the step's
        trainer._native.workers = 1
    if compile:
        compile_s = _cold_compile_seconds(trainer)
        trainer.step(2)
        return flow, (lambda: trainer.step(k)["steps_per_s"]), compile_s
    trainer.step(2)  # ActNorm initialisation and warm-up
    if cpu:
        trainer.flow.train()
        return flow, _rate(trainer._one_step, k, cpu=True)
    return flow, (lambda: trainer.step(k)["steps_per_s"])


def _theirs(mode: str, data, k: int, reduce_memory: bool, cpu: bool = False):
    if mode == "glow":
        model = peers.build_nf_glow(hidden=ic.match_glow(ic.FlowConfig(**peers.ISSUE_ARCH)).hidden)
    else:
        model = peers.build_nf_residual(mode, reduce_memory=reduce_memory)  # at ISSUE_ARCH
    tr = peers.NFTrainer(model, data, lr=1e-3, batch_size=500, seed=0)
    tr.step(2)
    if cpu:
        return model, _rate(tr._one_step, k, cpu=True)
    return model, (lambda: tr.step(k)["steps_per_s"])


def run(quick: bool = False, log=print) -> dict[str, Any]:
    """The issue's protocol at two threads, then the same at one thread (robust to a busy
    machine)."""
    import torch

    out = _run(quick, log)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        log("  -- one thread --")
        out["one_thread"] = _run(
            quick, log, rounds=3 if quick else 7, modes=("exact", "hutchinson", "glow"), cpu=True
        )
    finally:
        torch.set_num_threads(before)
    return out


def _run(
    quick: bool,
    log,
    rounds: int | None = None,
    modes: tuple[str, ...] | None = None,
    cpu: bool = False,
) -> dict[str, Any]:
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
        compile_s = None
        if mode == "exact":
            _, kernel = _ours(changes, data, k, cpu, native=True)
            if kernel is not None:
                contenders[NATIVE] = kernel
            contenders[PRODUCTS] = _products_alone(ic.FlowConfig(**peers.ISSUE_ARCH), 500, k, cpu)
            if not cpu:
                log("    compiling ours (empty inductor cache) ...")
                _, contenders[COMPILED], compile_s = _ours(changes, data, k, compile=True)
        per_round = interleaved(contenders, rounds)
        theirs = [n for n in contenders if n not in ("ours", PRODUCTS, COMPILED, NATIVE)]
        best = max(theirs, key=lambda n: median(per_round[n]))
        ratios = [o / t for o, t in zip(per_round["ours"], per_round[best])]
        row = {
            "label": label,
            "mode": mode,
            "rounds": rounds,
            "steps_per_block": k,
            "ours": median(per_round["ours"]),
            "theirs": {n: median(per_round[n]) for n in theirs},
            "best_peer": best,
            "peer": median(per_round[best]),
            "ratio": median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "params": params,
            "per_round": per_round,
        }
        if COMPILED in per_round:
            fast = per_round[COMPILED]
            rel = [f / t for f, t in zip(fast, per_round[best])]
            row["compiled"] = {
                "rate": median(fast),
                "ratio": median(rel),
                "ratio_min": min(rel),
                "ratio_max": max(rel),
                "vs_eager": median([f / o for f, o in zip(fast, per_round["ours"])]),
                "compile_s": compile_s,
            }
            log(
                f"    {COMPILED}: {row['compiled']['rate']:.1f} steps/s, "
                f"{row['compiled']['ratio']:.2f}x normflows, "
                f"{row['compiled']['vs_eager']:.2f}x eager; first compiled step {compile_s:.1f} s"
            )
        if NATIVE in per_round:
            fast = per_round[NATIVE]
            rel = [f / t for f, t in zip(fast, per_round[best])]
            row["native"] = {
                "rate": median(fast),
                "ratio": median(rel),
                "ratio_min": min(rel),
                "ratio_max": max(rel),
                "vs_eager": median([f / o for f, o in zip(fast, per_round["ours"])]),
            }
            if COMPILED in per_round:
                row["native"]["vs_compiled"] = median(
                    [f / c for f, c in zip(fast, per_round[COMPILED])]
                )
            log(
                f"    {NATIVE}: {row['native']['rate']:.1f} steps/s, "
                f"{row['native']['ratio']:.2f}x normflows, "
                f"{row['native']['vs_eager']:.2f}x eager"
            )
        if PRODUCTS in per_round:
            floor = per_round[PRODUCTS]
            row["products"] = {
                "rate": median(floor),
                "bound": median([f / t for f, t in zip(floor, per_round[best])]),
                "share": median([o / f for o, f in zip(per_round["ours"], floor)]),
            }
            log(
                f"    {PRODUCTS}: {row['products']['rate']:.1f} steps/s, "
                f"{row['products']['bound']:.2f}x normflows; "
                f"ours spends {row['products']['share']:.0%} of its step in them"
            )
        log(
            f"  {label}: ours {row['ours']:.1f} steps/s, {best} {row['peer']:.1f} steps/s, ratio "
            f"{row['ratio']:.2f}"
        )
        rows.append(row)
    return {
        "rows": rows,
        "batch": 500,
        "rounds": rounds,
        "steps_per_block": k,
        "power_iters_normflows": peers.POWER_ITERS,
        "threads": torch.get_num_threads(),
        "clock": "thread CPU time" if cpu else "wall time",
    }
