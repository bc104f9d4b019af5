"""How well the estimators of ``ln det(I + J_g)`` do on a flow, as c, N and the probes move.

Behrmann et al. (2019), Sec. 3: ``ln det(I + J_g) = sum_k (-1)^(k+1) tr(J_g^k) / k`` for
``Lip(g) < 1``; cut after N terms the error per block is at most ``d (-ln(1 - c) - sum_{k<=N}
c^k/k)`` (Theorem 3); Hutchinson replaces the traces by ``v^T J^k v`` (eq. 6-7); Russian roulette
(Chen et al. 2019, Residual Flows) draws the number of terms and reweights them, which removes the
bias. The Jacobians of every block are computed once per call on frozen weights
(:mod:`iresnet_core.analysis.frozen`), under the flow's own constraint or any other ``coeff``; the
estimators themselves are those of :mod:`iresnet_core.ops.logdet`.

* :func:`block_jacobians` — ``J_g`` of every block on the flow's forward pass: ``(K, B, d, d)``.
* :func:`truncation_curve` — ``|exact - series_N|`` against N, the bounds, the Hutchinson spread.
* :func:`mean_logdet` — the blocks' mean log-det, exact or as the N-term series.
* :func:`hutchinson_draws`, :func:`roulette_draws` — many independent estimates of that mean.
* :func:`series_error_grid` — the truncation error over the plane.
* :func:`estimator_cost` — milliseconds per forward + backward, per estimator and N (on a copy).

Example:
    >>> import iresnet_core as ic
    >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16,), coeff=0.7))
    >>> x = ic.datasets.sample("moons", 32, seed=0)
    >>> tc = truncation_curve(flow, x, n_max=10, n_draws=8)
    >>> bool((tc.error <= tc.bound_c + 1e-9).all())
    True
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from iresnet_core.analysis.frozen import AS_BUILT, Coeff, as_frozen
from iresnet_core.analysis.grid import Box, grid_points
from iresnet_core.ops.logdet import (
    exact_logdet,
    hutchinson_terms,
    make_probes,
    probe_moments,
    series_forms,
    series_terms,
    truncation_bound,
)
from iresnet_core.training.threads import torch_threads

__all__ = [
    "TruncationCurve",
    "block_jacobians",
    "truncation_curve",
    "mean_logdet",
    "hutchinson_draws",
    "roulette_draws",
    "series_error_grid",
    "estimator_cost",
]

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def _finite(a: Any) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return np.where(np.isfinite(a) & (np.abs(a) < 1e15), a, np.nan)


@torch.inference_mode()
def block_jacobians(flow: Any, x: np.ndarray, coeff: Coeff = AS_BUILT) -> Tensor:
    """``J_g`` (float64) of every residual block where the forward pass of ``x`` meets it, under
    ``coeff`` (default: the flow's own weights): shape ``(n_blocks, B, d, d)``. On a frozen flow
    the last few results are remembered
    (:meth:`iresnet_core.analysis.frozen.FrozenFlow.jacobians`)."""
    return as_frozen(flow).jacobians(x, coeff)


def _series_partial_sums(J: Tensor, n_terms: int) -> Tensor:
    """``sum_{k<=N} (-1)^(k+1) tr(J^k) / k`` for N = 1..n_terms, shape ``(K, B, N)`` for ``J`` of
    shape
    ``(K, B, d, d)``: in 2D every block at once by the closed-form powers
    (:func:`series_forms`)."""
    if J.shape[-1] == 2:
        forms = series_forms(J, n_terms)
        return (forms[..., 0] + forms[..., 2]).cumsum(-1)
    return torch.stack([series_terms(j, n_terms).cumsum(-1) for j in J])


@dataclass
class TruncationCurve:
    """The power series against the exact log-det for N = 1..n_max, averaged over the points.

    ``error`` is ``mean |exact_b - series_N,b|`` per block (``(n_blocks, n_max)``), ``error_total``
    the same for the sum over blocks; ``bound_c`` Theorem 3's per-block bound with c (inf without
    one), ``bound_lip`` with each block's own product bound L (``(n_blocks, n_max)``);
    ``series_total`` the mean series value and ``exact_total`` the mean exact log-det of the
    blocks; ``hutchinson_q`` the quantiles (5, 25, 50, 75, 95 %) over draws of (Hutchinson -
    exact), total over the blocks, per N (``(5, n_max)``; NaN when ``n_draws=0``).
    """

    ns: np.ndarray
    error: np.ndarray
    error_total: np.ndarray
    bound_c: np.ndarray
    bound_lip: np.ndarray
    series_total: np.ndarray
    exact_total: float
    hutchinson_q: np.ndarray
    lipschitz: np.ndarray
    coeff: float | None


@torch.inference_mode()
def truncation_curve(
    flow: Any,
    x: np.ndarray,
    n_max: int = 20,
    n_probes: int = 1,
    probe: str = "gaussian",
    n_draws: int = 64,
    seed: int = 0,
    coeff: Coeff = AS_BUILT,
) -> TruncationCurve:
    """How far the truncated series (exact traces) is from the exact log-det as N grows, against
    Theorem 3's bound, and how widely the Hutchinson estimate (``n_draws`` draws of ``n_probes``
    probes per point) scatters around the exact value.

    Args:
        flow: an i-ResNet (a ValueError for Glow: its log-det is exact) or a frozen one.
        coeff: the constraint to look under; default the flow's own weights.
    """
    fz = as_frozen(flow)
    c = fz.resolve(coeff)
    lips = fz.lipschitz(coeff)
    J = block_jacobians(fz, x, coeff)
    exact = torch.stack([exact_logdet(j) for j in J])  # (K, B)
    partial = _series_partial_sums(J, n_max)  # (K, B, N)
    err_b = (exact[..., None] - partial).abs().mean(1).numpy()
    err_t = (exact.sum(0)[:, None] - partial.sum(0)).abs().mean(0).numpy()
    ns = np.arange(1, n_max + 1)
    bound_c = np.array([truncation_bound(c, int(n), fz.dim) if c else math.inf for n in ns])
    bound_l = np.array(
        [
            [truncation_bound(float(L), int(n), fz.dim) if L < 1 else math.inf for n in ns]
            for L in lips
        ]
    )
    q = np.full((len(QUANTILES), n_max), np.nan)
    if n_draws > 0:
        gen = torch.Generator().manual_seed(seed)
        K, B, d, _ = J.shape
        if d == 2:  # every block, draw and N in one contraction (probe_moments)
            m = probe_moments((K, B, n_draws), n_probes, probe, gen, J.dtype)
            total = torch.einsum(
                "kbdq,kbnq->bdn", m, series_forms(J, n_max).cumsum(-2)
            )  # (B, D, N)
        else:
            total = 0
            for j in J:
                v = make_probes((B, n_draws * n_probes, d), probe, gen, J.dtype)
                t = hutchinson_terms(j, n_max, v).cumsum(-1)  # (B, D*P, N): every N at once
                total = total + t.reshape(B, n_draws, n_probes, n_max).mean(2)
        draw_err = _finite(
            (total - exact.sum(0)[:, None, None]).mean(0).numpy()
        )  # (D, N): mean over points
        some = np.isfinite(draw_err).any(
            0
        )  # N where some draw stayed finite (unconstrained: not all)
        if some.any():
            q[:, some] = np.nanquantile(draw_err[:, some], QUANTILES, axis=0)
    return TruncationCurve(
        ns,
        _finite(err_b),
        _finite(err_t),
        bound_c,
        bound_l,
        _finite(partial.sum(0).mean(0).numpy()),
        float(exact.sum(0).mean()),
        q,
        lips,
        c,
    )


@torch.inference_mode()
def mean_logdet(
    flow: Any, x: np.ndarray, n_terms: int | None = None, coeff: Coeff = AS_BUILT
) -> float:
    """The blocks' log-det summed over blocks and averaged over ``x``: exact, or the N-term series
    with exact traces (``n_terms``): their difference is the truncation bias."""
    J = block_jacobians(flow, x, coeff)
    per = [exact_logdet(j) if n_terms is None else series_terms(j, n_terms).sum(-1) for j in J]
    return float(_finite(float(sum(per).mean())))


@torch.inference_mode()
def hutchinson_draws(
    flow: Any,
    x: np.ndarray,
    n_terms: int,
    n_probes: int = 1,
    probe: str = "gaussian",
    n_draws: int = 200,
    seed: int = 0,
    coeff: Coeff = AS_BUILT,
) -> np.ndarray:
    """``n_draws`` independent Hutchinson estimates (N terms, ``n_probes`` probes per point; paper
    eq. 6-7) of the blocks' mean total log-det over ``x``."""
    J = block_jacobians(flow, x, coeff)
    gen = torch.Generator().manual_seed(seed)
    K, B, d, _ = J.shape
    if d == 2:  # every block and draw in one contraction (probe_moments)
        m = probe_moments((K, B, n_draws), n_probes, probe, gen, J.dtype)
        return _finite(
            (torch.einsum("kbdq,kbq->d", m, series_forms(J, n_terms).sum(-2)) / B).numpy()
        )
    total = torch.zeros(n_draws, dtype=J.dtype)
    for j in J:
        v = make_probes((B, n_draws * n_probes, d), probe, gen, J.dtype)
        t = hutchinson_terms(j, n_terms, v).sum(-1)  # (B, D*P)
        total += t.reshape(B, n_draws, n_probes).mean(2).mean(0)
    return _finite(total.numpy())


@torch.inference_mode()
def roulette_draws(
    flow: Any,
    x: np.ndarray,
    n_draws: int = 200,
    n_exact: int = 2,
    n_probes: int = 1,
    probe: str = "gaussian",
    seed: int = 0,
    p: float = 0.5,
    max_terms: int = 60,
    coeff: Coeff = AS_BUILT,
) -> np.ndarray:
    """``n_draws`` unbiased Russian-roulette estimates of the blocks' mean total log-det (Chen et
    al. 2019): per draw and block ``M ~ Geometric(p)``, ``n_exact + M`` terms, term k weighted by
    ``1 / P(M >= k - n_exact)``, Hutchinson traces —
    :func:`iresnet_core.ops.logdet.roulette_logdet`, all draws at once."""
    J = block_jacobians(flow, x, coeff)
    gen = torch.Generator().manual_seed(seed)
    K, B, d, _ = J.shape
    u = torch.rand((n_draws, K), generator=gen, dtype=torch.float64).clamp_min(1e-300)
    m = torch.floor(torch.log(u) / math.log(1 - p)).long()  # P(M >= m) = (1 - p)^m
    n_terms = (n_exact + m).clamp(max=max_terms)  # (D, K)
    top = max(int(n_terms.max()), 1)
    ks = torch.arange(1, top + 1, dtype=J.dtype)
    weights = (1 - p) ** (-(ks - n_exact).clamp(min=0))
    if d == 2:  # every block and draw in one contraction (probe_moments)
        w = weights * (
            ks <= n_terms.to(J.dtype)[..., None]
        )  # (D, K, T): a draw's weight of term k in a block
        m = probe_moments((K, B, n_draws), n_probes, probe, gen, J.dtype)
        u = torch.einsum("kbtq,dkt->kbdq", series_forms(J, top), w)
        return _finite((torch.einsum("kbdq,kbdq->d", m, u) / B).numpy())
    total = torch.zeros(n_draws, dtype=J.dtype)
    for b, j in enumerate(J):
        v = make_probes((B, n_draws * n_probes, d), probe, gen, J.dtype)
        t = hutchinson_terms(j, top, v).reshape(B, n_draws, n_probes, -1).mean(2)  # (B, D, T)
        mask = ks[None, :] <= n_terms[:, b : b + 1].to(J.dtype)  # (D, T)
        total += (t * (weights * mask)[None]).sum(-1).mean(0)
    return _finite(total.numpy())


@torch.inference_mode()
def series_error_grid(
    flow: Any, bounds: Box, n: int, n_terms: int, coeff: Coeff = AS_BUILT, every_n: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(xs, ys, err)`` with ``err[i, j] = |exact - series_N|`` of the blocks' total log-det at
    ``(xs[j], ys[i])``, N = ``n_terms``; with ``every_n`` ``err[N-1, i, j]`` for every N <= n_terms
    (the same cost: the partial sums come together)."""
    xs, ys, pts = grid_points(bounds, n)
    J = block_jacobians(flow, pts, coeff)
    exact = torch.stack([exact_logdet(j) for j in J]).sum(0)  # (B,)
    err = exact[:, None] - _series_partial_sums(J, n_terms).sum(0)  # (B, N)
    e = _finite(err.abs().numpy()).T.reshape(n_terms, n, n)  # (N, n, n)
    return xs, ys, (e if every_n else e[-1])


def estimator_cost(
    flow: Any, x: np.ndarray, ns: Sequence[int], repeats: int = 3
) -> dict[str, np.ndarray]:
    """Milliseconds for one forward + backward of the NLL with each estimator (exact, series,
    Hutchinson, roulette) at each N, timed on a deep copy: the flow itself is never switched to
    training mode, so a live model's power-iteration vectors do not move.

    The two series take the best of ``repeats`` passes at each N. Exact and roulette do not use N
    (roulette draws its number of terms afresh on every pass), so each is timed once for the whole
    row: exact as the best of ``repeats``; roulette as the mean of ``2 * repeats`` passes, since
    each pass costs what its own draw of terms costs (the best of a few would report the cheapest
    draws). With the Log-determinant page's 6 values of N and 2 repeats that is 30 passes instead
    of 48.

    Each pass runs on one torch thread and is clocked in that thread's CPU time, after one untimed
    pass, and the passes go in rounds over all estimators: what the computation costs, not what the
    machine's neighbours left of it. Wall time in blocks of one estimator had put the exact pass,
    the cheapest, above the series on a shared two-core machine, on a page that keeps its first
    measurement for the session.
    """
    twin = copy.deepcopy(flow)
    twin.train()
    twin.requires_grad_(True)  # a running average's weights (Trainer.eval_flow) are frozen copies
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32))

    def ms(mode: str) -> float:
        t = time.thread_time()
        twin.nll(xt, mode).backward()
        return (time.thread_time() - t) * 1e3

    # A round times every (estimator, N) once (roulette twice: its figure is a mean); ``repeats``
    # rounds follow one another, so a slow moment of the machine costs one pass of several
    # estimators instead of every pass of one of them.
    plan = [
        ("exact", None),
        *[(m, int(n)) for m in ("series", "hutchinson") for n in ns],
        ("roulette", None),
        ("roulette", None),
    ]
    times: dict[tuple[str, int | None], list[float]] = {key: [] for key in plan}
    with torch_threads(1):
        ms("exact")  # the twin's first pass sets up what the others reuse
        for _ in range(repeats):
            for mode, n in plan:
                if n is not None:
                    twin.set_estimator(n_terms=n)
                times[(mode, n)].append(ms(mode))
    return {
        "exact": np.full(len(ns), min(times[("exact", None)])),
        "series": np.array([min(times[("series", int(n))]) for n in ns]),
        "hutchinson": np.array([min(times[("hutchinson", int(n))]) for n in ns]),
        "roulette": np.full(len(ns), float(np.mean(times[("roulette", None)]))),
    }
