"""The density of a flow on a grid, its samples, its Lipschitz bound and how it warps the plane.

The change of variables (Behrmann et al. 2019, eq. 1) evaluated on an n x n grid, the inverse
(Algorithm 1) applied to Gaussian noise, and straight grid lines carried to the latent plane with
the sign of ``det J_F`` (folds appear only where some block has ``Lip(g) >= 1``). Plain arrays in
small dataclasses; the flow is never trained or modified.

Example:
    >>> import iresnet_core as ic
    >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(32,)))
    >>> grid = density_grid(flow, (-4, 4, -4, 4), n=100)
    >>> round(grid.mass, 1)
    1.0
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from iresnet_core.analysis.frozen import AS_BUILT, Coeff, FrozenFlow, as_frozen, forward_det
from iresnet_core.analysis.grid import Box, grid_lines, grid_points
from iresnet_core.flows.flow import Flow
from iresnet_core.flows.iresnet import InvertibleResidualBlock
from iresnet_core.flows.layers import InverseInfo
from iresnet_core.ops.spectral import SpectralLinear, power_iteration

__all__ = [
    "DensityGrid",
    "WarpedGrid",
    "density_grid",
    "samples",
    "lipschitz_bound",
    "warped_grid",
    "with_coeff",
]


def _eval(flow: Flow) -> Flow:
    flow.eval()
    return flow


@dataclass
class DensityGrid:
    """``density[i, j]`` is p at ``(xs[j], ys[i])``; ``mass`` the Riemann sum over the box."""

    xs: np.ndarray
    ys: np.ndarray
    log_density: np.ndarray
    density: np.ndarray
    mass: float


@torch.inference_mode()
def density_grid(
    flow: Flow, bounds: Box, n: int = 200, chunk: int = 5000, native: bool = True
) -> DensityGrid:
    """The exact density ``exp(log p)`` of the flow on an n x n grid, through
    :meth:`~iresnet_core.flows.flow.Flow.log_prob_many`: its fused kernel where it applies
    (``native``), else torch with at most ``chunk`` points at a time.
    """
    _eval(flow)
    xs, ys, pts = grid_points(bounds, n)
    x = torch.from_numpy(pts)
    logp = flow.log_prob_many(x, chunk, native=native).numpy().reshape(n, n)
    logp = np.where(np.isfinite(logp), logp, -np.inf)
    dens = np.exp(logp)
    cell = (xs[1] - xs[0]) * (ys[1] - ys[0])
    return DensityGrid(xs, ys, logp, dens, float(dens.sum() * cell))


@torch.inference_mode()
def samples(
    flow: Flow, n: int = 1000, seed: int = 0, max_iter: int = 100, tol: float = 1e-6
) -> tuple[np.ndarray, InverseInfo]:
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
    """Grid lines of the data plane (``lines_x``, ``(L, P, 2)``) and their images in the latent
    plane (``lines_z``, NaN where non-finite); ``det_lines`` is ``det J_F`` along them, ``det`` on
    an n x n grid (``xs``, ``ys``); ``folds`` the share of the grid with ``det <= 0`` (only
    possible when some block has Lip(g) >= 1: with c < 1 every ``I + J_g`` is invertible with
    positive determinant)."""

    lines_x: np.ndarray
    lines_z: np.ndarray
    det_lines: np.ndarray
    xs: np.ndarray
    ys: np.ndarray
    det: np.ndarray
    folds: float
    coeff: float | None = None


def _layers_det(flow: Flow, x: Tensor) -> tuple[Tensor, Tensor]:
    """``z`` and ``det J_F`` through any flow's layers (Glow): one Jacobian per layer."""
    jac = torch.eye(flow.dim, dtype=x.dtype).expand(x.shape[0], -1, -1)
    for layer in flow.layers:
        y, _ = layer(x, "exact")
        jac = layer.jacobian(x) @ jac
        x = y
    return x, torch.linalg.det(jac)


@torch.inference_mode()
def warped_grid(
    flow: Flow | FrozenFlow,
    bounds: Box,
    n_lines: int = 15,
    n_points: int = 100,
    n_det: int = 80,
    coeff: Coeff = AS_BUILT,
) -> WarpedGrid:
    """How the flow bends the plane under ``coeff`` (default: as built): straight grid lines mapped
    by ``F``, and the sign of ``det J_F`` — z and det J_F together in one pass (float32)."""
    lx = grid_lines(bounds, n_lines, n_points)  # (L, P, 2)
    xs, ys, pts = grid_points(bounds, n_det)
    allpts = torch.from_numpy(np.concatenate([lx.reshape(-1, 2), pts]))
    if isinstance(flow, FrozenFlow) or flow.cfg.model == "iresnet":
        fz = as_frozen(flow)
        c = fz.resolve(coeff)
        z, det = forward_det(fz, fz.weights(coeff, torch.float32), allpts)
    else:  # Glow: no coefficient to move
        c = None
        z, det = _layers_det(_eval(flow), allpts)
    k = lx.shape[0] * lx.shape[1]
    z, det = z.numpy().astype(np.float64), det.numpy().astype(np.float64)
    lz = np.where(np.isfinite(z[:k]), z[:k], np.nan).reshape(lx.shape)
    dg = det[k:].reshape(n_det, n_det)
    return WarpedGrid(
        lx, lz, det[:k].reshape(lx.shape[:2]), xs, ys, dg, float(np.mean(dg <= 0)), c
    )


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
