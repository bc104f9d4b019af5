"""Plain-array views of a flow for the dashboard and the CLI: densities, inverses, log-dets, norms.

Every function takes a flow (and points or a box) and returns numpy arrays in small dataclasses,
computed in ``torch.inference_mode`` with the flow in eval mode; nothing here plots.

* :func:`density_grid` — ``exp(log p)`` on an n x n grid and the probability mass it holds.
* :func:`samples` — noise pushed through the inverse.
* :func:`warped_grid` — grid lines of the data plane carried to the latent plane, and where
  ``det J_F <= 0`` (folds: only possible without the Lipschitz constraint).
* :func:`inverse_curves` — the fixed-point iteration per block for several ``c``: residual, true
  error and Banach's bound ``L^n/(1-L) ||x_1 - x_0||`` against n.
* :func:`truncation_curve` — ``|exact - series_N|`` against N with the bound of Theorem 3, and the
  Hutchinson spread.
* :func:`power_iteration_trace` and :func:`block_lipschitz` — sigma estimates against the SVD, and
  product bounds against empirical Lipschitz constants.

Example:
    >>> import iresnet_core as ic
    >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(32,)))
    >>> grid = ic.analysis.density_grid(flow, (-4, 4, -4, 4), n=100)
    >>> abs(grid.mass - 1) < 0.05
    True
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .flow import Flow
from .iresnet import InvertibleResidualBlock
from .layers import InverseInfo
from .lipschitz import SpectralLinear, exact_sigma, power_iteration, spectral_report
from .logdet import exact_logdet, hutchinson_logdet, hutchinson_terms, make_probes, roulette_logdet, series_terms, truncation_bound

__all__ = [
    "Box", "DensityGrid", "WarpedGrid", "InverseCurves", "TruncationCurve", "PowerTrace", "BlockLipschitz",
    "grid_points", "density_grid", "samples", "lipschitz_bound", "warped_grid", "with_coeff",
    "inverse_curves", "truncation_curve", "hutchinson_draws", "roulette_draws", "series_error_grid",
    "estimator_cost", "power_iteration_trace", "block_lipschitz", "spectral_report",
]

Box = tuple[float, float, float, float]


def _eval(flow: Flow) -> Flow:
    flow.eval()
    return flow


def grid_points(bounds: Box, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(xs, ys, points)``: an n x n grid over ``bounds``; ``points[i * n + j] = (xs[j], ys[i])``."""
    xmin, xmax, ymin, ymax = bounds
    if not (xmax > xmin and ymax > ymin):
        raise ValueError(f"bounds must satisfy xmin < xmax and ymin < ymax, got {bounds}")
    if n < 2:
        raise ValueError(f"grid size must be >= 2, got {n}")
    xs = np.linspace(xmin, xmax, n, dtype=np.float32)
    ys = np.linspace(ymin, ymax, n, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)
    return xs, ys, np.stack([gx.ravel(), gy.ravel()], axis=1)


@dataclass
class DensityGrid:
    """``density[i, j]`` is p at ``(xs[j], ys[i])``; ``mass`` the Riemann sum over the box."""

    xs: np.ndarray
    ys: np.ndarray
    log_density: np.ndarray
    density: np.ndarray
    mass: float


@torch.inference_mode()
def density_grid(flow: Flow, bounds: Box, n: int = 200, chunk: int = 20000) -> DensityGrid:
    """The exact density ``exp(log p)`` of the flow on an n x n grid."""
    _eval(flow)
    xs, ys, pts = grid_points(bounds, n)
    x = torch.from_numpy(pts)
    logp = torch.cat([flow.log_prob(x[i:i + chunk]) for i in range(0, len(x), chunk)]).numpy().reshape(n, n)
    logp = np.where(np.isfinite(logp), logp, -np.inf)
    dens = np.exp(logp)
    cell = (xs[1] - xs[0]) * (ys[1] - ys[0])
    return DensityGrid(xs, ys, logp, dens, float(dens.sum() * cell))


@torch.inference_mode()
def samples(flow: Flow, n: int = 1000, seed: int = 0, max_iter: int = 100, tol: float = 1e-6) -> tuple[np.ndarray, InverseInfo]:
    """``n`` samples through the inverse, and the inverse's report. Rows may be non-finite when
    an unconstrained flow's inverse diverged; ``info.diverged`` says so."""
    _eval(flow)
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, flow.dim, generator=gen)
    x, info = flow.inverse(z, max_iter=max_iter, tol=tol)
    return x.numpy(), info


def lipschitz_bound(flow: Flow) -> float:
    """The largest per-block bound on Lip(g) (product of exact spectral norms); nan for Glow."""
    bounds = [b.lipschitz_bound() for b in _blocks(flow)]
    return max(bounds) if bounds else math.nan


def _blocks(flow: Flow) -> list[InvertibleResidualBlock]:
    return [layer for layer in flow.layers if isinstance(layer, InvertibleResidualBlock)]


@dataclass
class WarpedGrid:
    """Grid lines of the data plane (``lines_x``) and their images in the latent plane (``lines_z``);
    ``det`` is ``det J_F`` on an n x n grid (``xs``, ``ys``); ``folds`` the share with ``det <= 0``."""

    lines_x: list[np.ndarray]
    lines_z: list[np.ndarray]
    xs: np.ndarray
    ys: np.ndarray
    det: np.ndarray
    folds: float


@torch.inference_mode()
def warped_grid(flow: Flow, bounds: Box, n_lines: int = 15, n_points: int = 100, n_det: int = 80) -> WarpedGrid:
    """How the flow bends the plane: straight grid lines mapped by ``F``, and the sign of ``det J_F``."""
    _eval(flow)
    xmin, xmax, ymin, ymax = bounds
    t = np.linspace(0, 1, n_points, dtype=np.float32)
    lines = []
    for v in np.linspace(xmin, xmax, n_lines, dtype=np.float32):
        lines.append(np.stack([np.full_like(t, v), ymin + t * (ymax - ymin)], 1))
    for v in np.linspace(ymin, ymax, n_lines, dtype=np.float32):
        lines.append(np.stack([xmin + t * (xmax - xmin), np.full_like(t, v)], 1))
    z, _ = flow(torch.from_numpy(np.concatenate(lines)), "exact")
    lines_z = list(z.numpy().reshape(len(lines), n_points, flow.dim))
    xs, ys, pts = grid_points(bounds, n_det)
    det = torch.linalg.det(flow.jacobian(torch.from_numpy(pts))).numpy().reshape(n_det, n_det)
    return WarpedGrid(lines, lines_z, xs, ys, det, float(np.mean(det <= 0)))


def with_coeff(flow: Flow, coeff: float | None) -> Flow:
    """A copy of ``flow`` whose weights are renormalised with another ``c`` (``None``: off).

    The raw weights stay as they are, so this answers "the same network under another constraint".
    """
    new = copy.deepcopy(flow)
    new.cfg = flow.cfg.replace(coeff=coeff) if flow.cfg.model == "iresnet" else flow.cfg
    with torch.no_grad():
        for module in new.modules():
            if isinstance(module, SpectralLinear):
                module.coeff = coeff
                u, v = power_iteration(module.weight, module.u, module.v, 50)
                module.u.copy_(u)
                module.v.copy_(v)
            if isinstance(module, InvertibleResidualBlock):
                module.cfg = new.cfg
    return _eval(new)


@dataclass
class InverseCurves:
    """Fixed-point inverse of every block for one ``c``; arrays are ``(n_blocks, max_iter)``,
    the max over the points at each iteration n = 1..max_iter (NaN after a divergence)."""

    coeff: float | None
    residual: np.ndarray  # ||x_n - x_{n-1}||
    error: np.ndarray  # ||x_n - x*||, x* the block's true input
    bound: np.ndarray  # L^n / (1 - L) * ||x_1 - x_0||; inf when L >= 1
    lipschitz: np.ndarray  # (n_blocks,) bound on Lip(g) per block
    iterations_to_tol: np.ndarray  # (n_blocks,) first n with residual < tol; -1 if never
    diverged: np.ndarray  # (n_blocks,) bool
    flow_error: np.ndarray  # (max_iter,) ||F^-1_n(F(x)) - x|| max over points, n iterations per block

    @property
    def converged(self) -> bool:
        return bool((self.iterations_to_tol > 0).all())


@torch.inference_mode()
def _block_iteration(block: InvertibleResidualBlock, y: Tensor, x_true: Tensor, max_iter: int, lip: float):
    params = block.g.frozen(torch.float64)
    x = y
    res, err, bnd = [], [], []
    first = None
    for n in range(1, max_iter + 1):
        x_next = y - block.g.apply_frozen(params, x)
        step = (x_next - x).norm(dim=-1)
        x = x_next
        if first is None:
            first = step
        res.append(float(step.max()))
        err.append(float((x - x_true).norm(dim=-1).max()))
        bnd.append(float((lip**n / (1 - lip) * first).max()) if lip < 1 else math.inf)
        if not math.isfinite(res[-1]) or res[-1] > 1e12:
            pad = max_iter - n
            res += [math.nan] * pad
            err += [math.nan] * pad
            bnd += [bnd[-1]] * pad
            return res, err, bnd, True
    return res, err, bnd, False


@torch.inference_mode()
def inverse_curves(flow: Flow, x: np.ndarray, coeffs: list[float | None], max_iter: int = 50, tol: float = 1e-6) -> list[InverseCurves]:
    """Per ``c`` in ``coeffs``: the fixed-point inverse of every block on the flow's own forward
    pass of ``x``, so the true answer ``x*`` is known exactly and the error is measured, not guessed."""
    out = []
    x0 = torch.as_tensor(np.asarray(x, dtype=np.float64))
    for c in coeffs:
        fc = with_coeff(flow, c).double()
        blocks, res, err, bnd, lips, its, div = [], [], [], [], [], [], []
        h = x0
        for layer in fc.layers:
            y, _ = layer(h, "exact")
            if isinstance(layer, InvertibleResidualBlock):
                lip = layer.lipschitz_bound()
                r, e, b, d = _block_iteration(layer, y, h, max_iter, lip)
                res.append(r), err.append(e), bnd.append(b), lips.append(lip), div.append(d)
                hit = [i + 1 for i, v in enumerate(r) if v < tol]
                its.append(hit[0] if hit else -1)
                blocks.append(layer)
            h = y
        k = min(len(x0), 32)  # the whole-flow curve runs every n at once: a few points suffice
        flow_err = _flow_error_curve(fc, h[:k], x0[:k], max_iter)
        out.append(InverseCurves(c, np.array(res), np.array(err), np.array(bnd), np.array(lips),
                                 np.array(its), np.array(div), flow_err))
    return out


def _flow_error_curve(flow: Flow, z: Tensor, x: Tensor, max_iter: int) -> np.ndarray:
    """``max ||F^-1_n(z) - x||`` with exactly n iterations in every block, n = 1..max_iter.

    All n run together: a batch of ``max_iter`` copies of z, copy n frozen after n iterations.
    """
    m, B = max_iter, z.shape[0]
    h = z.repeat(m, 1)
    n_of_row = torch.arange(1, m + 1).repeat_interleave(B)
    for layer in reversed(flow.layers):
        if isinstance(layer, InvertibleResidualBlock):
            params = layer.g.frozen(torch.float64)
            xk = h
            for k in range(1, m + 1):
                active = n_of_row >= k
                step = h[active] - layer.g.apply_frozen(params, xk[active])
                xk = xk.clone()
                xk[active] = torch.nan_to_num(step, nan=1e30, posinf=1e30, neginf=-1e30).clamp(-1e30, 1e30)
            h = xk
        else:
            h, _ = layer.inverse(h)
    errs = (h - x.repeat(m, 1)).norm(dim=-1).reshape(m, B)
    errs = torch.where(torch.isfinite(errs) & (errs < 1e29), errs, torch.full_like(errs, math.nan))
    return errs.max(dim=1).values.numpy()


@dataclass
class TruncationCurve:
    """``|exact - series_N|`` per block, averaged over points, for N = 1..n_max (``(n_blocks, n_max)``),
    the bounds of Theorem 3 with ``c`` and with each block's measured ``L``, and the Hutchinson
    estimator's error quantiles over draws (5, 25, 50, 75, 95 %) for the flow's total log-det."""

    ns: np.ndarray
    error: np.ndarray
    error_total: np.ndarray  # (n_max,) |sum over blocks|, averaged over points
    bound_c: np.ndarray  # (n_max,) per block, with c
    bound_lip: np.ndarray  # (n_blocks, n_max) per block, with L_b
    exact_total: float  # mean exact log-det of the flow's blocks over the points
    hutchinson_q: np.ndarray  # (5, n_max) quantiles of (estimate - exact), total over blocks
    coeff: float | None


def _block_jacobians(flow: Flow, x: Tensor) -> list[Tensor]:
    """J_g (float64) of every residual block where the forward pass of ``x`` meets it."""
    jacs, h = [], x
    for layer in flow.layers:
        if isinstance(layer, InvertibleResidualBlock):
            _, J = layer.g_and_jacobian(h)
            jacs.append(J.double())
        h, _ = layer(h, "exact")
    return jacs


@torch.inference_mode()
def truncation_curve(flow: Flow, x: np.ndarray, n_max: int = 20, n_probes: int = 1, probe: str = "gaussian",
                     n_draws: int = 64, seed: int = 0) -> TruncationCurve:
    """How far the truncated series is from the exact log-det as N grows (exact traces), against
    the bound, and how widely the Hutchinson estimate scatters around it."""
    _eval(flow)
    jacs = _block_jacobians(flow, torch.as_tensor(np.asarray(x, dtype=np.float32)))
    if not jacs:
        raise ValueError("the truncation curve needs an i-ResNet (Glow's log-det is exact)")
    exact = torch.stack([exact_logdet(J) for J in jacs])  # (K, B)
    partial = torch.stack([series_terms(J, n_max).cumsum(-1) for J in jacs])  # (K, B, N)
    error = (exact[..., None] - partial).abs().mean(1).numpy()
    error_total = (exact.sum(0)[:, None] - partial.sum(0)).abs().mean(0).numpy()
    gen = torch.Generator().manual_seed(seed)
    B = exact.shape[1]
    # Hutchinson: draws x probes per point; cumulative terms give every N at once.
    
    total_est = 0
    for J in jacs:
        v = make_probes((B, n_draws * n_probes, J.shape[-1]), probe, gen, J.dtype)
        t = hutchinson_terms(J, n_max, v).cumsum(-1)  # (B, D*P, N)
        total_est = total_est + t.reshape(B, n_draws, n_probes, n_max).mean(2)
    draw_err = (total_est - exact.sum(0)[:, None, None]).mean(0)  # (D, N): mean over points per draw
    q = np.quantile(draw_err.numpy(), [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    c = flow.cfg.coeff
    ns = np.arange(1, n_max + 1)
    lips = [b.lipschitz_bound() for b in _blocks(flow)]
    bound_c = np.array([truncation_bound(c, n, flow.dim) if c else math.inf for n in ns])
    bound_lip = np.array([[truncation_bound(min(L, 0.999999), n, flow.dim) if L < 1 else math.inf for n in ns] for L in lips])
    return TruncationCurve(ns, error, error_total, bound_c, bound_lip, float(exact.sum(0).mean()), q, c)


@torch.inference_mode()
def hutchinson_draws(flow: Flow, x: np.ndarray, n_terms: int, n_probes: int = 1, probe: str = "gaussian",
                     n_draws: int = 200, seed: int = 0) -> np.ndarray:
    """``n_draws`` Hutchinson estimates of the mean total log-det over the points."""
    _eval(flow)
    jacs = _block_jacobians(flow, torch.as_tensor(np.asarray(x, dtype=np.float32)))
    gen = torch.Generator().manual_seed(seed)
    out = np.empty(n_draws)
    for i in range(n_draws):
        out[i] = float(sum(hutchinson_logdet(J, n_terms, n_probes, probe, gen).mean() for J in jacs))
    return out


@torch.inference_mode()
def roulette_draws(flow: Flow, x: np.ndarray, n_draws: int = 200, n_exact: int = 2, n_probes: int = 1,
                   probe: str = "gaussian", seed: int = 0) -> np.ndarray:
    """``n_draws`` Russian-roulette estimates of the mean total log-det over the points."""
    _eval(flow)
    jacs = _block_jacobians(flow, torch.as_tensor(np.asarray(x, dtype=np.float32)))
    gen = torch.Generator().manual_seed(seed)
    out = np.empty(n_draws)
    for i in range(n_draws):
        out[i] = float(sum(roulette_logdet(J, n_exact, 0.5, n_probes, probe, gen).mean() for J in jacs))
    return out


@torch.inference_mode()
def series_error_grid(flow: Flow, bounds: Box, n: int, n_terms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(xs, ys, err)`` with ``err[i, j] = |exact - series_N|`` of the flow's total log-det at a point."""
    _eval(flow)
    xs, ys, pts = grid_points(bounds, n)
    jacs = _block_jacobians(flow, torch.from_numpy(pts))
    err = sum(exact_logdet(J) - series_terms(J, n_terms).sum(-1) for J in jacs)
    return xs, ys, err.abs().numpy().reshape(n, n)


def estimator_cost(flow: Flow, x: np.ndarray, ns: list[int], repeats: int = 3) -> dict[str, np.ndarray]:
    """Milliseconds for one forward + backward of the NLL with each estimator at each N."""
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
    cfg0 = flow.cfg
    out: dict[str, np.ndarray] = {}
    flow.train()
    try:
        for mode in ("exact", "series", "hutchinson", "roulette"):
            times = []
            for n in ns:
                flow.cfg = cfg0.replace(n_terms=n)
                for blk in _blocks(flow):
                    blk.cfg = flow.cfg
                best = math.inf
                for _ in range(repeats):
                    t = time.perf_counter()
                    flow.nll(xt, mode).backward()
                    best = min(best, time.perf_counter() - t)
                times.append(best * 1e3)
            out[mode] = np.array(times)
    finally:
        flow.cfg = cfg0
        for blk in _blocks(flow):
            blk.cfg = cfg0
        flow.zero_grad(set_to_none=True)
        flow.eval()
    return out


@dataclass
class PowerTrace:
    """Per layer: the power-iteration estimate of ``||W||_2`` after k = 0..n_iter iterations from
    a random start (``estimates``, ``(n_layers, n_iter + 1)``) and the exact value by SVD."""

    names: list[str]
    estimates: np.ndarray
    exact: np.ndarray


@torch.inference_mode()
def power_iteration_trace(flow: Flow, n_iter: int = 30, seed: int = 0, normalized: bool = False) -> PowerTrace:
    """Power iteration on every layer's weight from a random start: it approaches sigma from below."""
    gen = torch.Generator().manual_seed(seed)
    names, est, exact = [], [], []
    _eval(flow)
    for name, mod in flow.named_modules():
        if not isinstance(mod, SpectralLinear):
            continue
        W = (mod.normalized_weight() if normalized else mod.weight).detach().double()
        u = torch.nn.functional.normalize(torch.randn(W.shape[0], generator=gen, dtype=W.dtype), dim=0)
        v = torch.nn.functional.normalize(W.t() @ u, dim=0)
        row = [float(u @ W @ v)]
        for _ in range(n_iter):
            u, v = power_iteration(W, u, v, 1)
            row.append(float(u @ W @ v))
        names.append(name)
        est.append(row)
        exact.append(float(exact_sigma(W)))
    return PowerTrace(names, np.array(est), np.array(exact))


@dataclass
class BlockLipschitz:
    """Per block: the product bound ``prod ||W_i||`` and an empirical Lip(g): the largest
    ``||J_g(x)||_2`` over the points (a lower bound on the true constant)."""

    product_bound: np.ndarray
    empirical: np.ndarray


@torch.inference_mode()
def block_lipschitz(flow: Flow, x: np.ndarray) -> BlockLipschitz:
    """The product bound beside what the block actually does on (and around) the data."""
    _eval(flow)
    pts = torch.as_tensor(np.asarray(x, dtype=np.float32))
    jacs = _block_jacobians(flow, pts)
    emp = np.array([float(torch.linalg.matrix_norm(J, ord=2).max()) for J in jacs])
    return BlockLipschitz(np.array([b.lipschitz_bound() for b in _blocks(flow)]), emp)
