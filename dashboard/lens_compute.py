"""The numbers behind the three lens pages (inverse, log-determinant, Lipschitz), fast enough for a slider.

Torch and numpy only, no Streamlit, no plotting. Every function takes a :class:`Frozen` flow — the
i-ResNet's raw weights as float64 tensors, frozen once per model — and a coefficient ``c``, so the
same network can be looked at under another constraint without copying the module (the idea of
:func:`iresnet_core.analysis.with_coeff`, with the exact spectral norm: ``W_c = W / max(1, sigma/c)``,
``c=None`` for the raw, unconstrained weights). Results are plain numpy arrays in small dataclasses,
so a page can cache them keyed by :func:`param_key` and the settings.

What is here that the core's :mod:`iresnet_core.analysis` does not have (or not this fast):

* :func:`inverse_curves` — all the fixed-point curves for several ``c`` at once, with the whole
  flow's error at every iteration count (Behrmann et al. 2019, Alg. 1 and the Banach bound).
* :func:`inverse_error_grid` — ``||F^-1_n(F(x)) - x||`` over the plane at a fixed n.
* :func:`block_jacobians` and the log-det helpers (truncation, Hutchinson, Russian roulette)
  working on Jacobians computed once per ``c`` (Theorem 3; Chen et al. 2019).
* :func:`power_trace`, :func:`block_lipschitz`, :func:`warped` for the Lipschitz page.

Example:
    >>> import iresnet_core as ic, numpy as np
    >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16,)))
    >>> fz = freeze(flow)
    >>> cur = inverse_curves(fz, np.zeros((4, 2), np.float32), [0.5], horizon=10)[0]
    >>> bool(np.all(cur.error <= cur.bound + 1e-9))
    True
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

import iresnet_core as ic

__all__ = [
    "Frozen", "freeze", "param_key", "weights_at", "lipschitz_of",
    "InverseLens", "inverse_curves", "flow_ns", "iterations_to_tol", "inverse_error_grid",
    "block_jacobians", "LogdetLens", "logdet_lens", "hutchinson_draws", "roulette_draws",
    "series_error_grid", "estimator_cost", "PowerLens", "power_trace", "block_lipschitz", "WarpLens", "warped",
]

Box = tuple[float, float, float, float]
#: a residual or error above this counts as diverged (the core uses the same threshold)
DIVERGED = 1e12
_CLAMP = 1e30


# ------------------------------------------------------------------- the frozen flow
def param_key(flow: Any) -> str:
    """A short hash of the flow's config and every parameter and buffer (the bytes of the state dict).

    Two sessions get the same key only for the same numbers, so results cached under it are the
    same for both: nothing of one person's model reaches another.
    """
    h = hashlib.blake2b(digest_size=16)
    cfg = getattr(flow, "cfg", None)
    h.update(repr(cfg.to_dict() if hasattr(cfg, "to_dict") else cfg).encode())
    for name, t in flow.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@dataclass
class _Block:
    weights: list[tuple[Tensor, Tensor]]  # raw (W, b), float64
    sigma: list[float]  # exact ||W||_2 of each raw weight
    act: Any  # the block's activation (value and derivative)


@dataclass
class _ActNorm:
    bias: Tensor
    log_scale: Tensor


@dataclass
class Frozen:
    """An i-ResNet's layers as float64 tensors: renormalise for any ``c`` without touching the module."""

    layers: list[_Block | _ActNorm]
    dim: int
    coeff: float | None  # the c the model was built with
    hidden: tuple[int, ...] = ()

    @property
    def blocks(self) -> list[_Block]:
        return [layer for layer in self.layers if isinstance(layer, _Block)]

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)

    def layer_names(self) -> list[str]:
        """``"block 1 · W1 (2→128)"`` for every linear map, in order."""
        out = []
        for i, b in enumerate(self.blocks):
            for j, (w, _) in enumerate(b.weights):
                out.append(f"block {i + 1} · W{j + 1} ({w.shape[1]}→{w.shape[0]})")
        return out


@torch.no_grad()
def freeze(flow: Any) -> Frozen:
    """The raw weights of an i-ResNet :class:`iresnet_core.Flow` (a ValueError for other flows)."""
    layers: list[_Block | _ActNorm] = []
    for layer in flow.layers:
        g = getattr(layer, "g", None)
        if g is not None and hasattr(g, "linears"):
            ws = [(lin.weight.detach().to(torch.float64).clone(), lin.bias.detach().to(torch.float64).clone())
                  for lin in g.linears]
            sig = [float(torch.linalg.matrix_norm(w, ord=2)) for w, _ in ws]
            layers.append(_Block(ws, sig, g.act))
        elif hasattr(layer, "log_scale") and hasattr(layer, "bias"):
            layers.append(_ActNorm(layer.bias.detach().to(torch.float64).clone(),
                                   layer.log_scale.detach().to(torch.float64).clone()))
        else:
            raise ValueError("the lens pages need an i-ResNet (residual blocks and ActNorm); "
                             f"got a {type(layer).__name__} layer")
    cfg = flow.cfg
    return Frozen(layers, int(cfg.dim), cfg.coeff, tuple(cfg.hidden))


Params = list  # per layer: list[(W, b)] for a block, (bias, log_scale) for ActNorm


def weights_at(fz: Frozen, c: float | None, dtype: torch.dtype = torch.float64) -> Params:
    """Every layer's weights under the constraint ``c``: ``W / max(1, sigma / c)`` (``None``: raw)."""
    out: Params = []
    for layer in fz.layers:
        if isinstance(layer, _Block):
            ws = []
            for (w, b), s in zip(layer.weights, layer.sigma):
                scale = 1.0 if c is None else 1.0 / max(1.0, s / c)
                ws.append(((w * scale).to(dtype), b.to(dtype)))
            out.append(ws)
        else:
            out.append((layer.bias.to(dtype), layer.log_scale.to(dtype)))
    return out


def lipschitz_of(fz: Frozen, c: float | None) -> np.ndarray:
    """Per block the bound ``prod_i ||W_i||_2`` on Lip(g) under ``c`` (exact spectral norms)."""
    return np.array([math.prod(s if c is None else min(s, c) for s in b.sigma) for b in fz.blocks])


def _g(ws: list[tuple[Tensor, Tensor]], act: Any, x: Tensor) -> Tensor:
    *inner, (w, b) = ws
    for wi, bi in inner:
        x = act(torch.addmm(bi, x, wi.t()))
    return torch.addmm(b, x, w.t())


def _g_jac(ws: list[tuple[Tensor, Tensor]], act: Any, x: Tensor) -> tuple[Tensor, Tensor]:
    """``(g(x), J_g(x))``, the Jacobian carried through the MLP as in the core's block."""
    *inner, (w, b) = ws
    B, d = x.shape
    jt: Tensor | None = None
    for wi, bi in inner:
        a = torch.addmm(bi, x, wi.t())
        x, da = act.value_and_derivative(a)
        if jt is None:
            jt = wi.t().unsqueeze(0) * da.unsqueeze(1)
        else:
            jt = (jt.reshape(B * d, -1) @ wi.t()).reshape(B, d, -1) * da.unsqueeze(1)
    g = torch.addmm(b, x, w.t())
    if jt is None:
        return g, w.expand(B, -1, -1)
    return g, (jt.reshape(B * d, -1) @ w.t()).reshape(B, d, -1).transpose(1, 2)


def _forward(fz: Frozen, P: Params, x: Tensor) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
    """``z`` and, per block, ``(input, output)``."""
    pairs = []
    for layer, p in zip(fz.layers, P):
        if isinstance(layer, _Block):
            y = x + _g(p, layer.act, x)
            pairs.append((x, y))
            x = y
        else:
            x = (x + p[0]) * p[1].exp()
    return x, pairs


def _inverse_n(fz: Frozen, P: Params, z: Tensor, n: int, floor: float = 0.0) -> Tensor:
    """``F^-1`` with exactly ``n`` fixed-point iterations per block (points whose step fell to
    ``floor`` stop early: they sit at the fixed point up to rounding). Clamped, never inf/NaN."""
    h = z
    for layer, p in zip(reversed(fz.layers), reversed(P)):
        if isinstance(layer, _Block):
            y = h
            x = y.clone()
            idx = torch.arange(len(y))
            for _ in range(n):
                if len(idx) == 0:
                    break
                xa = x[idx]
                nxt = (y[idx] - _g(p, layer.act, xa)).nan_to_num(nan=_CLAMP, posinf=_CLAMP, neginf=-_CLAMP)
                nxt = nxt.clamp(-_CLAMP, _CLAMP)
                step = (nxt - xa).norm(dim=-1)
                x[idx] = nxt
                if floor > 0:
                    idx = idx[step > floor]
            h = x
        else:
            h = h * torch.exp(-p[1]) - p[0]
    return h


# ------------------------------------------------------------------------ inverse
@dataclass
class InverseLens:
    """The fixed-point inverse under one ``c``, for n = 1..horizon.

    ``residual``, ``error`` and ``bound`` are ``(n_blocks, horizon)``: the max over the points of
    ``||x_n - x_{n-1}||``, ``||x_n - x*||`` (x* the block's true input) and Banach's
    ``L^n / (1 - L) ||x_1 - x_0||`` (inf when L >= 1); NaN after a divergence. ``flow_error``
    (horizon,) is ``max ||F^-1_n(F(x)) - x||`` with n iterations in every block.
    """

    coeff: float | None
    ns: np.ndarray
    residual: np.ndarray
    error: np.ndarray
    bound: np.ndarray
    lipschitz: np.ndarray
    diverged_at: np.ndarray  # (n_blocks,) first n where the iteration blew up; 0 if never
    flow_ns: np.ndarray  # the n at which the whole flow's error was measured (all n up to 30, then spaced)
    flow_error: np.ndarray
    seconds: float = 0.0

    @property
    def diverged(self) -> np.ndarray:
        return self.diverged_at > 0

    def worst(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Max over blocks of residual, error and bound (NaN propagates: a diverged block shows)."""
        return self.residual.max(0), self.error.max(0), self.bound.max(0)

    def head(self, n: int) -> "InverseLens":
        """The first ``n`` iterations."""
        n = max(1, min(int(n), len(self.ns)))
        keep = self.flow_ns <= n
        return InverseLens(self.coeff, self.ns[:n], self.residual[:, :n], self.error[:, :n], self.bound[:, :n],
                           self.lipschitz, np.where(self.diverged_at <= n, self.diverged_at, 0),
                           self.flow_ns[keep], self.flow_error[keep], self.seconds)


def _after_divergence(a: np.ndarray) -> tuple[np.ndarray, int]:
    """NaN from the first entry that is non-finite or above :data:`DIVERGED`; and that index + 1."""
    bad = ~np.isfinite(a) | (a > DIVERGED)
    if not bad.any():
        return a, 0
    i = int(np.argmax(bad))
    a = a.copy()
    a[i:] = np.nan
    return a, i + 1


@torch.inference_mode()
def _block_curves(ws, act, y: Tensor, x_true: Tensor, horizon: int) -> tuple[Tensor, Tensor]:
    """Per point ``(residual, error)``, shape ``(B, horizon)``; stops early at a float64 fixed point."""
    x = y
    res, err = [], []
    for n in range(horizon):
        nxt = (y - _g(ws, act, x)).nan_to_num(nan=_CLAMP, posinf=_CLAMP, neginf=-_CLAMP).clamp(-_CLAMP, _CLAMP)
        res.append((nxt - x).norm(dim=-1))
        err.append((nxt - x_true).norm(dim=-1))
        x = nxt
        if n >= 2 and float(res[-1].max()) < 1e-15:  # a fixed point up to rounding: nothing moves any more
            pad = horizon - n - 1
            res += [res[-1]] * pad
            err += [err[-1]] * pad
            break
    return torch.stack(res, 1), torch.stack(err, 1)


@torch.inference_mode()
def flow_ns(horizon: int, dense: int = 30, spaced: int = 12) -> np.ndarray:
    """Iteration counts at which the whole flow's error is measured: every n up to ``dense``, then
    ``spaced`` geometrically spaced values up to ``horizon`` (the cost grows with their sum)."""
    ns = set(range(1, min(horizon, dense) + 1))
    if horizon > dense:
        ns |= {int(round(v)) for v in np.geomspace(dense, horizon, spaced)}
    return np.array(sorted(ns))


def _flow_error(fz: Frozen, P: Params, z: Tensor, x: Tensor, ns: np.ndarray) -> np.ndarray:
    """``max ||F^-1_n(z) - x||`` for every n in ``ns`` (sorted), all in one batch: rows sorted by n,
    so the rows still iterating at step k are a contiguous tail (no masks, no copies)."""
    B = len(z)
    m = len(ns)
    starts = np.searchsorted(ns, np.arange(1, int(ns[-1]) + 1)) * B  # first row with n >= k
    h = z.repeat(m, 1)
    for layer, p in zip(reversed(fz.layers), reversed(P)):
        if isinstance(layer, _Block):
            xk = h.clone()
            for s in starts:
                nxt = h[s:] - _g(p, layer.act, xk[s:])
                xk[s:] = nxt.nan_to_num(nan=_CLAMP, posinf=_CLAMP, neginf=-_CLAMP).clamp(-_CLAMP, _CLAMP)
            h = xk
        else:
            h = h * torch.exp(-p[1]) - p[0]
    e = (h - x.repeat(m, 1)).norm(dim=-1).reshape(m, B)
    e = torch.where(torch.isfinite(e) & (e < DIVERGED), e, torch.full_like(e, math.nan))
    return e.max(1).values.numpy()  # NaN propagates: one diverged point marks the n


def inverse_curves(fz: Frozen, x: np.ndarray, coeffs: Sequence[float | None], horizon: int = 30,
                   n_flow_points: int = 8) -> list[InverseLens]:
    """For each ``c``: the fixed-point inverse of every block on the flow's own forward pass of ``x``
    (so ``x*`` is known exactly), and the whole flow's error with n iterations per block."""
    out = []
    x0 = torch.as_tensor(np.asarray(x, dtype=np.float64).reshape(-1, fz.dim))
    for c in coeffs:
        t0 = time.perf_counter()
        P = weights_at(fz, c)
        lips = lipschitz_of(fz, c)
        z, pairs = _forward(fz, P, x0)
        R, E, Bd, div = [], [], [], []
        blocks = [(layer, p) for layer, p in zip(fz.layers, P) if isinstance(layer, _Block)]
        for (b, p), (h_in, y), L in zip(blocks, pairs, lips):
            r, e = _block_curves(p, b.act, y, h_in, horizon)
            first = r[:, 0].max().item()
            r, e = r.max(0).values.numpy(), e.max(0).values.numpy()
            r, d1 = _after_divergence(r)
            e, d2 = _after_divergence(e)
            d = min(v for v in (d1, d2) if v) if (d1 or d2) else 0
            ns = np.arange(1, horizon + 1)
            bound = L ** ns / (1 - L) * first if L < 1 else np.full(horizon, np.inf)
            R.append(r), E.append(e), Bd.append(bound), div.append(d)
        fns = flow_ns(horizon)
        fe = _flow_error(fz, P, z[:n_flow_points], x0[:n_flow_points], fns)
        out.append(InverseLens(c, np.arange(1, horizon + 1), np.array(R), np.array(E), np.array(Bd), lips,
                               np.array(div, dtype=int), fns, fe, time.perf_counter() - t0))
    return out


def iterations_to_tol(curve: np.ndarray, tol: float) -> int:
    """The first n (1-based) with ``curve[n-1] < tol``; -1 if never (or diverged first)."""
    ok = np.asarray(curve) < tol  # NaN compares False
    return int(np.argmax(ok)) + 1 if ok.any() else -1


@torch.inference_mode()
def inverse_error_grid(fz: Frozen, c: float | None, bounds: Box, n_grid: int, n_iter: int,
                       dtype: torch.dtype = torch.float64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(xs, ys, err)``: ``err[i, j] = ||F^-1_n(F(p)) - p||`` at ``p = (xs[j], ys[i])`` with ``n_iter``
    iterations per block; NaN where the inverse blew up (only possible when Lip(g) >= 1)."""
    xs, ys, pts = ic.analysis.grid_points(bounds, n_grid)
    P = weights_at(fz, c, dtype)
    x = torch.from_numpy(pts).to(dtype)
    z, _ = _forward(fz, P, x)
    floor = 1e-15 if dtype == torch.float64 else 1e-7
    xr = _inverse_n(fz, P, z, int(n_iter), floor)
    e = (xr - x).norm(dim=-1).numpy().astype(np.float64)
    e = np.where(np.isfinite(e) & (e < DIVERGED), e, np.nan)
    return xs, ys, e.reshape(n_grid, n_grid)


# ---------------------------------------------------------------------- log-det
@torch.inference_mode()
def block_jacobians(fz: Frozen, c: float | None, x: np.ndarray) -> Tensor:
    """``J_g`` (float64) of every block where the forward pass of ``x`` meets it: ``(K, B, d, d)``."""
    P = weights_at(fz, c)
    h = torch.as_tensor(np.asarray(x, dtype=np.float64).reshape(-1, fz.dim))
    jacs = []
    for layer, p in zip(fz.layers, P):
        if isinstance(layer, _Block):
            g, J = _g_jac(p, layer.act, h)
            jacs.append(J)
            h = h + g
        else:
            h = (h + p[0]) * p[1].exp()
    return torch.stack(jacs)


@dataclass
class LogdetLens:
    """The power series against the exact log-det for N = 1..n_max, averaged over points.

    ``error_total`` is ``mean |sum_b (exact_b - series_N,b)|``; ``error_blocks`` the same per block
    (``(K, n_max)``); ``bound_c`` Theorem 3's per-block bound with c (inf without one), ``bound_lip``
    with each block's own L (``(K, n_max)``); ``series_total`` the mean series value and ``exact_total``
    the mean exact log-det of the blocks.
    """

    ns: np.ndarray
    error_total: np.ndarray
    error_blocks: np.ndarray
    bound_c: np.ndarray
    bound_lip: np.ndarray
    series_total: np.ndarray
    exact_total: float
    lipschitz: np.ndarray
    coeff: float | None


@torch.inference_mode()
def logdet_lens(J: Tensor, n_max: int, lips: np.ndarray, c: float | None, dim: int = 2) -> LogdetLens:
    exact = torch.stack([ic.logdet.exact_logdet(j) for j in J])  # (K, B)
    partial = torch.stack([ic.logdet.series_terms(j, n_max).cumsum(-1) for j in J])  # (K, B, N)
    err_b = (exact[..., None] - partial).abs().mean(1).numpy()
    err_t = (exact.sum(0)[:, None] - partial.sum(0)).abs().mean(0).numpy()
    ns = np.arange(1, n_max + 1)
    bound_c = np.array([ic.logdet.truncation_bound(c, int(n), dim) if c else math.inf for n in ns])
    bound_l = np.array([[ic.logdet.truncation_bound(float(L), int(n), dim) if L < 1 else math.inf for n in ns]
                        for L in lips])
    return LogdetLens(ns, _finite(err_t), _finite(err_b), bound_c, bound_l, _finite(partial.sum(0).mean(0).numpy()),
                      float(exact.sum(0).mean()), np.asarray(lips), c)


def _finite(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return np.where(np.isfinite(a) & (np.abs(a) < 1e15), a, np.nan)


def _hutch_terms(J: Tensor, n_terms: int, v: Tensor) -> Tensor:
    """``(-1)^(k+1) v^T J^k v / k``, shape ``(B, P, N)``: :func:`iresnet_core.logdet.hutchinson_terms`
    written out elementwise for 2x2 Jacobians (thousands of probes per point without batched tiny matmuls)."""
    if J.shape[-1] != 2:
        return ic.logdet.hutchinson_terms(J, n_terms, v)
    a, b, c, d = (J[:, i, j, None] for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)))
    v0, v1 = v[..., 0], v[..., 1]
    w0, w1 = v0, v1
    out = []
    for k in range(1, n_terms + 1):
        w0, w1 = a * w0 + b * w1, c * w0 + d * w1  # w = J^k v
        out.append((v0 * w0 + v1 * w1) * ((1.0 if k % 2 else -1.0) / k))
    return torch.stack(out, -1)


@torch.inference_mode()
def hutchinson_draws(J: Tensor, n_terms: int, n_probes: int, probe: str, n_draws: int, seed: int = 0) -> np.ndarray:
    """``n_draws`` Hutchinson estimates (N terms, ``n_probes`` probes per point) of the mean total log-det."""
    gen = torch.Generator().manual_seed(seed)
    K, B, d, _ = J.shape
    total = torch.zeros(n_draws, dtype=J.dtype)
    for j in J:
        v = ic.logdet.make_probes((B, n_draws * n_probes, d), probe, gen, J.dtype)
        t = _hutch_terms(j, n_terms, v).sum(-1)  # (B, D*P)
        total += t.reshape(B, n_draws, n_probes).mean(2).mean(0)
    return _finite(total.numpy())


@torch.inference_mode()
def hutchinson_quantiles(J: Tensor, n_max: int, n_probes: int, probe: str, n_draws: int = 64,
                         seed: int = 0) -> np.ndarray:
    """Quantiles (5, 25, 50, 75, 95 %) over draws of (Hutchinson estimate - exact), per N: ``(5, n_max)``."""
    gen = torch.Generator().manual_seed(seed)
    K, B, d, _ = J.shape
    total = 0
    exact = 0
    for j in J:
        v = ic.logdet.make_probes((B, n_draws * n_probes, d), probe, gen, J.dtype)
        t = _hutch_terms(j, n_max, v).cumsum(-1)  # (B, D*P, N)
        total = total + t.reshape(B, n_draws, n_probes, n_max).mean(2)
        exact = exact + ic.logdet.exact_logdet(j)
    err = (total - exact[:, None, None]).mean(0).numpy()  # (D, N)
    err = np.where(np.isfinite(err), err, np.nan)
    return np.nanquantile(err, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0) if np.isfinite(err).any() \
        else np.full((5, n_max), np.nan)


@torch.inference_mode()
def roulette_draws(J: Tensor, n_draws: int, n_probes: int = 1, probe: str = "gaussian", n_exact: int = 2,
                   p: float = 0.5, seed: int = 0, max_terms: int = 60) -> np.ndarray:
    """``n_draws`` unbiased Russian-roulette estimates of the mean total log-det (Chen et al. 2019):
    per draw and block ``M ~ Geometric(p)``, ``n_exact + M`` terms, term k weighted by
    ``1 / P(M >= k - n_exact)``; Hutchinson traces, as :func:`iresnet_core.logdet.roulette_logdet`."""
    gen = torch.Generator().manual_seed(seed)
    K, B, d, _ = J.shape
    u = torch.rand((n_draws, K), generator=gen, dtype=torch.float64).clamp_min(1e-300)
    m = torch.floor(torch.log(u) / math.log(1 - p)).long()
    n_terms = (n_exact + m).clamp(max=max_terms)  # (D, K)
    top = int(n_terms.max())
    ks = torch.arange(1, top + 1, dtype=J.dtype)
    weights = (1 - p) ** (-(ks - n_exact).clamp(min=0))
    total = torch.zeros(n_draws, dtype=J.dtype)
    for b, j in enumerate(J):
        v = ic.logdet.make_probes((B, n_draws * n_probes, d), probe, gen, J.dtype)
        t = _hutch_terms(j, max(top, 1), v).reshape(B, n_draws, n_probes, -1).mean(2)  # (B, D, T)
        mask = (ks[None, :] <= n_terms[:, b:b + 1].to(J.dtype))  # (D, T)
        total += (t * (weights * mask)[None]).sum(-1).mean(0)
    return _finite(total.numpy())


@torch.inference_mode()
def series_error_grid(fz: Frozen, c: float | None, bounds: Box, n_grid: int, n_max: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(xs, ys, err)`` with ``err[N-1, i, j] = |exact - series_N|`` of the total log-det at a point."""
    xs, ys, pts = ic.analysis.grid_points(bounds, n_grid)
    J = block_jacobians(fz, c, pts)
    err = 0
    for j in J:
        err = err + (ic.logdet.exact_logdet(j)[:, None] - ic.logdet.series_terms(j, n_max).cumsum(-1))
    e = _finite(err.abs().numpy())  # (G*G, N)
    return xs, ys, e.T.reshape(n_max, n_grid, n_grid)


def estimator_cost(flow: Any, x: np.ndarray, ns: Sequence[int], repeats: int = 2) -> dict[str, np.ndarray]:
    """Milliseconds of one forward + backward of the NLL per estimator and N, timed on a copy of the
    flow (the core's :func:`iresnet_core.analysis.estimator_cost` switches the flow to training mode,
    which would move a live model's power-iteration vectors)."""
    import copy

    twin = copy.deepcopy(flow)
    return ic.analysis.estimator_cost(twin, x, list(ns), repeats)


# ---------------------------------------------------------------------- Lipschitz
@dataclass
class PowerLens:
    """Per linear map: power-iteration estimates of ``||W_c||_2`` after k = 0..n_iter iterations from
    a random start (``(n_layers, n_iter + 1)``), and the exact value by SVD."""

    names: list[str]
    estimates: np.ndarray
    exact: np.ndarray
    coeff: float | None


@torch.inference_mode()
def power_trace(fz: Frozen, c: float | None, n_iter: int = 30, seed: int = 0) -> PowerLens:
    gen = torch.Generator().manual_seed(seed)
    est, exact = [], []
    P = [p for layer, p in zip(fz.layers, weights_at(fz, c)) if isinstance(layer, _Block)]
    for ws in P:
        for W, _ in ws:
            u = torch.nn.functional.normalize(torch.randn(W.shape[0], generator=gen, dtype=W.dtype), dim=0)
            v = torch.nn.functional.normalize(W.t() @ u, dim=0)
            row = [float(u @ W @ v)]
            for _ in range(n_iter):
                u = torch.nn.functional.normalize(W @ v, dim=0, eps=1e-12)
                v = torch.nn.functional.normalize(W.t() @ u, dim=0, eps=1e-12)
                row.append(float(u @ W @ v))
            est.append(row)
            exact.append(float(torch.linalg.matrix_norm(W, ord=2)))
    return PowerLens(fz.layer_names(), np.array(est), np.array(exact), c)


def block_lipschitz(fz: Frozen, c: float | None, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per block ``(product bound, empirical)``: ``prod ||W_i||_2`` and ``max_x ||J_g(x)||_2`` over ``x``
    (a lower bound on Lip(g); the gap is what the product bound gives away)."""
    J = block_jacobians(fz, c, x)
    emp = torch.linalg.matrix_norm(J, ord=2).amax(1).numpy()
    return lipschitz_of(fz, c), _finite(emp)


@dataclass
class WarpLens:
    """Grid lines of the data plane (``lines_x``, ``(L, P, 2)``) and their images (``lines_z``);
    ``det_lines`` is ``det J_F`` along them, ``det`` on an n x n grid (``xs``, ``ys``); ``folds`` the
    share of the grid with ``det <= 0`` (only possible when some block has Lip(g) >= 1)."""

    coeff: float | None
    lines_x: np.ndarray
    lines_z: np.ndarray
    det_lines: np.ndarray
    xs: np.ndarray
    ys: np.ndarray
    det: np.ndarray
    folds: float = field(default=0.0)


@torch.inference_mode()
def _forward_det(fz: Frozen, P: Params, x: Tensor) -> tuple[Tensor, Tensor]:
    """``z`` and ``det J_F`` at every point (the 2x2 Jacobians multiplied through the layers)."""
    jac = torch.eye(fz.dim, dtype=x.dtype).expand(x.shape[0], -1, -1)
    for layer, p in zip(fz.layers, P):
        if isinstance(layer, _Block):
            g, J = _g_jac(p, layer.act, x)
            jac = (J + torch.eye(fz.dim, dtype=x.dtype)) @ jac
            x = x + g
        else:
            x = (x + p[0]) * p[1].exp()
            jac = p[1].exp()[None, :, None] * jac
    return x, torch.linalg.det(jac)


def warped(fz: Frozen, c: float | None, bounds: Box, n_lines: int = 13, n_points: int = 50,
           n_det: int = 36) -> WarpLens:
    """How the flow bends the plane under ``c``: grid lines through ``F`` and the sign of ``det J_F``."""
    xmin, xmax, ymin, ymax = bounds
    t = np.linspace(0, 1, n_points)
    lines = [np.stack([np.full_like(t, v), ymin + t * (ymax - ymin)], 1) for v in np.linspace(xmin, xmax, n_lines)]
    lines += [np.stack([xmin + t * (xmax - xmin), np.full_like(t, v)], 1) for v in np.linspace(ymin, ymax, n_lines)]
    lx = np.stack(lines)  # (L, P, 2)
    xs, ys, pts = ic.analysis.grid_points(bounds, n_det)
    P = weights_at(fz, c, torch.float32)
    allpts = torch.from_numpy(np.concatenate([lx.reshape(-1, 2), pts]).astype(np.float32))
    z, det = _forward_det(fz, P, allpts)
    k = lx.shape[0] * lx.shape[1]
    z, det = z.numpy().astype(np.float64), det.numpy().astype(np.float64)
    lz = np.where(np.isfinite(z[:k]), z[:k], np.nan).reshape(lx.shape)
    dg = det[k:].reshape(n_det, n_det)
    return WarpLens(c, lx, lz, det[:k].reshape(lx.shape[:2]), xs, ys, dg, float(np.mean(dg <= 0)))
