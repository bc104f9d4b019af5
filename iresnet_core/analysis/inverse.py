"""How the fixed-point inverse converges — or does not — as the Lipschitz coefficient c moves.

Behrmann et al. (2019), Algorithm 1: a block ``y = x + g(x)`` is inverted by ``x_{n+1} = y -
g(x_n)`` from ``x_0 = y``; with ``Lip(g) <= L < 1`` Banach's theorem bounds the error a posteriori,
``||x* - x_n|| <= L^n / (1 - L) * ||x_1 - x_0||``. Every function runs on the flow's weights frozen
once (:mod:`iresnet_core.analysis.frozen`) and renormalised for each c, on the flow's own forward
pass of the points, so the true answer ``x*`` is known exactly and the error is measured, not
guessed.

* :func:`inverse_curves` — per c and block: residual, true error and Banach's bound against n, and
  the whole flow's reconstruction error with n iterations in every block.
* :func:`inverse_error_grid` — ``||F^-1_n(F(p)) - p||`` over the plane at a fixed n.
* :func:`iterations_to_tol`, :func:`flow_ns` — reading the curves.

Example:
    >>> import iresnet_core as ic, numpy as np
    >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16,)))
    >>> cur = inverse_curves(flow, np.zeros((4, 2), np.float32), [0.5], max_iter=10)[0]
    >>> bool(np.all(cur.error <= cur.bound + 1e-9))
    True
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from iresnet_core.analysis.frozen import (
    CLAMP,
    DIVERGED,
    FrozenBlock,
    FrozenFlow,
    Weights,
    as_frozen,
    forward,
    inverse_n,
)
from iresnet_core.analysis.grid import Box, grid_points

__all__ = ["InverseCurves", "inverse_curves", "inverse_error_grid", "iterations_to_tol", "flow_ns"]


def iterations_to_tol(curve: np.ndarray, tol: float) -> int:
    """The first n (1-based) with ``curve[n-1] < tol``; -1 if never (or diverged first: NaN)."""
    ok = np.asarray(curve) < tol  # NaN compares False
    return int(np.argmax(ok)) + 1 if ok.any() else -1


def flow_ns(horizon: int, dense: int = 30, spaced: int = 12) -> np.ndarray:
    """Iteration counts at which the whole flow's error is measured: every n up to ``dense``, then
    ``spaced`` geometrically spaced values up to ``horizon`` (the cost grows with their sum)."""
    ns = set(range(1, min(horizon, dense) + 1))
    if horizon > dense:
        ns |= {int(round(v)) for v in np.geomspace(dense, horizon, spaced)}
    return np.array(sorted(ns))


@dataclass
class InverseCurves:
    """The fixed-point inverse of every block under one ``c``, for n = 1..max_iter.

    ``residual``, ``error`` and ``bound`` are ``(n_blocks, max_iter)``: the max over the points of
    ``||x_n - x_{n-1}||``, ``||x_n - x*||`` (x* the block's true input) and Banach's
    ``L^n / (1 - L) ||x_1 - x_0||`` (inf when L >= 1); NaN after a divergence. ``flow_error`` is
    ``max ||F^-1_n(F(x)) - x||`` with n iterations in every block, at the n in ``flow_ns``.
    """

    coeff: float | None
    ns: np.ndarray
    residual: np.ndarray
    error: np.ndarray
    bound: np.ndarray
    lipschitz: np.ndarray  # (n_blocks,) product bound on Lip(g)
    iterations_to_tol: np.ndarray  # (n_blocks,) first n with residual < tol; -1 if never
    diverged_at: np.ndarray  # (n_blocks,) first n where the iteration blew up; 0 if never
    flow_ns: np.ndarray
    flow_error: np.ndarray
    tol: float = 1e-6
    seconds: float = 0.0

    @property
    def diverged(self) -> np.ndarray:
        """(n_blocks,) bool: the iteration blew up."""
        return self.diverged_at > 0

    @property
    def converged(self) -> bool:
        """Every block's residual fell below ``tol``."""
        return bool((self.iterations_to_tol > 0).all())

    def iterations(self, tol: float) -> np.ndarray:
        """Per block the first n with residual < ``tol`` (-1 if never)."""
        return np.array([iterations_to_tol(row, tol) for row in self.residual], dtype=int)

    def flow_iterations(self, tol: float) -> int:
        """The first measured n at which the whole flow's error is below ``tol`` (-1 if never)."""
        ok = self.flow_error < tol
        return int(self.flow_ns[np.argmax(ok)]) if ok.any() else -1

    def worst(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Max over blocks of residual, error and bound (NaN propagates: a diverged block
        shows)."""
        return self.residual.max(0), self.error.max(0), self.bound.max(0)

    def head(self, n: int) -> InverseCurves:
        """The first ``n`` iterations."""
        n = max(1, min(int(n), len(self.ns)))
        keep = self.flow_ns <= n
        res = self.residual[:, :n]
        return InverseCurves(
            self.coeff,
            self.ns[:n],
            res,
            self.error[:, :n],
            self.bound[:, :n],
            self.lipschitz,
            np.array([iterations_to_tol(r, self.tol) for r in res], dtype=int),
            np.where(self.diverged_at <= n, self.diverged_at, 0),
            self.flow_ns[keep],
            self.flow_error[keep],
            self.tol,
            self.seconds,
        )


def _after_divergence(a: np.ndarray) -> tuple[np.ndarray, int]:
    """NaN from the first entry that is non-finite or above :data:`DIVERGED`; and that index +
    1."""
    bad = ~np.isfinite(a) | (a > DIVERGED)
    if not bad.any():
        return a, 0
    i = int(np.argmax(bad))
    a = a.copy()
    a[i:] = np.nan
    return a, i + 1


def _stacked_mlp(ws: list[tuple[Tensor, Tensor]], act: Any, x: Tensor) -> Tensor:
    """``g`` of K blocks at once: ``ws[j] = (W_j^T, b_j)`` stacked as ``(K, in, out)`` and ``(K, 1,
    out)``,
    ``x`` of shape ``(K, B, d)``."""
    *inner, (w, b) = ws
    for wi, bi in inner:
        x = act(torch.baddbmm(bi, x, wi))
    return torch.baddbmm(b, x, w)


def _stack(weights: list[list[tuple[Tensor, Tensor]]]) -> list[tuple[Tensor, Tensor]]:
    """K blocks' ``[(W_j, b_j), ...]`` as the batched ``(W_j^T, b_j)`` of :func:`_stacked_mlp`."""
    return [
        (
            torch.stack([p[j][0] for p in weights]).transpose(1, 2),
            torch.stack([p[j][1] for p in weights])[:, None],
        )
        for j in range(len(weights[0]))
    ]


def _block_curves(
    blocks: list[tuple[list, Any]], pairs: list[tuple[Tensor, Tensor]], horizon: int
) -> tuple[Tensor, Tensor]:
    """Per block the max over the points of ``(residual, error)``, each ``(K, horizon)``.

    Every block iterates from its own output ``y`` towards its known input ``x*`` independently of
    the others, so the K blocks run as one batch: one batched product per layer and iteration
    instead of K small ones. A block whose residual has reached a float64 fixed point (below 1e-15,
    from the third iteration on) leaves the batch and keeps that iteration's values for the rest
    of the horizon: nothing moves any more.
    """
    act = blocks[0][1]
    ws = _stack([p for p, _ in blocks])
    x_true = torch.stack([h_in for h_in, _ in pairs])
    y = torch.stack([out for _, out in pairs])
    K = len(blocks)
    R = torch.empty(K, horizon, dtype=y.dtype)
    E = torch.empty(K, horizon, dtype=y.dtype)
    active = torch.arange(K)
    x = y
    for n in range(horizon):
        nxt = (
            (y - _stacked_mlp(ws, act, x))
            .nan_to_num(nan=CLAMP, posinf=CLAMP, neginf=-CLAMP)
            .clamp(-CLAMP, CLAMP)
        )
        r = (nxt - x).norm(dim=-1).amax(1)
        R[active, n] = r
        E[active, n] = (nxt - x_true).norm(dim=-1).amax(1)
        x = nxt
        if n >= 2:
            done = r < 1e-15
            if bool(done.any()):
                rows = active[done]
                R[rows, n + 1 :] = R[rows, n : n + 1]
                E[rows, n + 1 :] = E[rows, n : n + 1]
                go = ~done
                active, x, y, x_true = active[go], x[go], y[go], x_true[go]
                ws = [(w[go], b[go]) for w, b in ws]
                if len(active) == 0:
                    break
    return R, E


_SETTLE_CHECK_EVERY = (
    4  #: the whole flow's inverse looks for a settled block every this many iterations
)


def _flow_error(
    fz: FrozenFlow, Ps: list[Weights], z: Tensor, x: Tensor, ns: np.ndarray, lips: np.ndarray
) -> np.ndarray:
    """``max ||F^-1_n(z) - x||`` for every n in ``ns`` (sorted), shape ``(C, len(ns))``, for the C
    sets of weights ``Ps`` (one per c) with ``z`` their forward images ``(C, B, d)`` and ``lips``
    their bounds on Lip(g), ``(C, n_blocks)``. All in one batch: the C sets side by side, and rows
    sorted by n, so the rows still iterating at step k are a contiguous tail (no masks, no copies).
    A contracting block stops once those rows have all reached a float64 fixed point."""
    C, B = z.shape[:2]
    m = len(ns)
    starts = np.searchsorted(ns, np.arange(1, int(ns[-1]) + 1)) * B  # first row with n >= k
    h = z.repeat(1, m, 1)
    blocks = [i for i, layer in enumerate(fz.layers) if isinstance(layer, FrozenBlock)]
    for i in reversed(range(len(fz.layers))):
        layer = fz.layers[i]
        if isinstance(layer, FrozenBlock):
            ws = _stack([P[i] for P in Ps])
            xk = h.clone()
            # Under Lip(g) < 1 the iteration contracts and no iterate can blow up: no clamping.
            contracting = bool((lips[:, blocks.index(i)] < 1).all())
            for k, s in enumerate(starts):
                if contracting and k % _SETTLE_CHECK_EVERY == _SETTLE_CHECK_EVERY - 1:
                    # Every few iterations: have the rows still iterating all reached a float64
                    # fixed point? Then nothing moves any more, in this block, for any larger n.
                    nxt = h[:, s:] - _stacked_mlp(ws, layer.act, xk[:, s:])
                    moved = float((nxt - xk[:, s:]).norm(dim=-1).max())
                    xk[:, s:] = nxt
                    if moved < 1e-15:
                        break
                    continue
                nxt = torch.sub(h[:, s:], _stacked_mlp(ws, layer.act, xk[:, s:]), out=xk[:, s:])
                if not contracting:
                    nxt.nan_to_num_(nan=CLAMP, posinf=CLAMP, neginf=-CLAMP).clamp_(-CLAMP, CLAMP)
            h = xk
        else:
            bias = torch.stack([P[i][0] for P in Ps])[:, None]
            log_scale = torch.stack([P[i][1] for P in Ps])[:, None]
            h = h * torch.exp(-log_scale) - bias
    e = (h - x.repeat(m, 1)).norm(dim=-1).reshape(C, m, B)
    e = torch.where(torch.isfinite(e) & (e < DIVERGED), e, torch.full_like(e, math.nan))
    return e.amax(2).numpy()  # NaN propagates: one diverged point marks the n


@torch.inference_mode()
def inverse_curves(
    flow: Any,
    x: np.ndarray,
    coeffs: Sequence[float | None],
    max_iter: int = 50,
    tol: float = 1e-6,
    n_flow_points: int = 8,
) -> list[InverseCurves]:
    """For each ``c`` in ``coeffs``: the fixed-point inverse of every block on the flow's own
    forward pass of ``x`` (float64), and the whole flow's error on the first ``n_flow_points``
    points.

    Every c and every block iterate side by side in one batch (:func:`_block_curves`); the whole
    flow's inverse goes block after block, every c at once. ``seconds`` on each result is the time
    of the whole call.

    Args:
        flow: an i-ResNet :class:`iresnet_core.Flow` or its
        :class:`iresnet_core.analysis.frozen.FrozenFlow`. x: points ``(B, d)``; coeffs: the c to
        look at (``None``: the raw, unconstrained weights). max_iter: iterations per block (the
        curves' horizon); tol: for ``iterations_to_tol``.
    """
    t0 = time.perf_counter()
    fz = as_frozen(flow)
    coeffs = list(coeffs)
    if not coeffs:
        return []
    x0 = torch.as_tensor(np.asarray(x, dtype=np.float64).reshape(-1, fz.dim))
    ns = np.arange(1, max_iter + 1)
    fns = flow_ns(max_iter)
    Ps = [fz.weights(c) for c in coeffs]
    lips = np.array([fz.lipschitz(c) for c in coeffs])  # (C, n_blocks)
    forwards = [forward(fz, P, x0) for P in Ps]
    blocks, pairs = [], []
    for P, (_, prs) in zip(Ps, forwards):
        blocks += [
            (p, layer.act) for layer, p in zip(fz.layers, P) if isinstance(layer, FrozenBlock)
        ]
        pairs += prs
    res, err = _block_curves(blocks, pairs, max_iter)
    z = torch.stack([zc[:n_flow_points] for zc, _ in forwards])
    fe = _flow_error(fz, Ps, z, x0[:n_flow_points], fns, lips)
    K = fz.n_blocks
    res, err = (
        res.numpy().reshape(len(coeffs), K, max_iter),
        err.numpy().reshape(len(coeffs), K, max_iter),
    )
    out = []
    for c, rc, ec, lc, fec in zip(coeffs, res, err, lips, fe):
        R, E, Bd, div = [], [], [], []
        for r, e, L in zip(rc, ec, lc):
            first = float(r[0])  # L^n/(1-L) is the same for every point: max of the bounds
            r, d1 = _after_divergence(r)
            e, d2 = _after_divergence(e)
            d = min(v for v in (d1, d2) if v) if (d1 or d2) else 0
            bound = L**ns / (1 - L) * first if L < 1 else np.full(max_iter, np.inf)
            R.append(r), E.append(e), Bd.append(bound), div.append(d)
        out.append(
            InverseCurves(
                fz.resolve(c),
                ns,
                np.array(R),
                np.array(E),
                np.array(Bd),
                lc,
                np.array([iterations_to_tol(r, tol) for r in R], dtype=int),
                np.array(div, dtype=int),
                fns,
                fec,
                tol,
                0.0,
            )
        )
    for cur in out:
        cur.seconds = time.perf_counter() - t0
    return out


@torch.inference_mode()
def inverse_error_grid(
    flow: Any,
    coeff: float | None,
    bounds: Box,
    n_grid: int,
    n_iter: int,
    dtype: torch.dtype = torch.float64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(xs, ys, err)``: ``err[i, j] = ||F^-1_n(F(p)) - p||`` at ``p = (xs[j], ys[i])`` with
    ``n_iter`` iterations per block under ``coeff``; NaN where the inverse blew up (only possible
    when Lip(g) >= 1). ``dtype=torch.float32`` is about twice as fast and floors the error near
    1e-7."""
    fz = as_frozen(flow)
    xs, ys, pts = grid_points(bounds, n_grid)
    P = fz.weights(coeff, dtype)
    x = torch.from_numpy(pts).to(dtype)
    z, _ = forward(fz, P, x)
    floor = 1e-15 if dtype == torch.float64 else 1e-7
    xr = inverse_n(fz, P, z, int(n_iter), floor)
    e = (xr - x).norm(dim=-1).numpy().astype(np.float64)
    e = np.where(np.isfinite(e) & (e < DIVERGED), e, np.nan)
    return xs, ys, e.reshape(n_grid, n_grid)
