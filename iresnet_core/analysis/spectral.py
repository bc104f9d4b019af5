"""Spectral norms and Lipschitz constants of a flow's blocks, under any coefficient c.

Behrmann et al. (2019), Sec. 3 and Appendix B: spectral normalisation estimates ``sigma = ||W||_2``
by power iteration (``v <- W^T u / ||.||``, ``u <- W v / ||.||``, ``sigma ~ u^T W v``), which
approaches sigma from below — a normalisation with an underestimate lets the true norm exceed c.
With 1-Lipschitz activations ``Lip(g) <= prod_i ||W_i||_2``; the largest ``||J_g(x)||_2`` over
points is a lower bound on ``Lip(g)``, and the gap is what the product bound gives away.

* :func:`power_iteration_trace` — the estimate after k = 0..n_iter iterations against the SVD.
* :func:`block_lipschitz` — product bound against the empirical constant, per block.

Example:
    >>> import iresnet_core as ic
    >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16,)))
    >>> pt = power_iteration_trace(flow, n_iter=20, coeff=0.5)
    >>> bool((pt.estimates <= pt.exact[:, None] * (1 + 1e-9)).all())
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from iresnet_core.analysis.frozen import AS_BUILT, Coeff, FrozenBlock, as_frozen
from iresnet_core.analysis.logdet import _finite, block_jacobians

__all__ = ["PowerTrace", "power_iteration_trace", "BlockLipschitz", "block_lipschitz"]


@dataclass
class PowerTrace:
    """Per linear map (``names``, in block order): the power-iteration estimate of ``||W_c||_2``
    after k = 0..n_iter iterations from a random start (``estimates``, ``(n_layers, n_iter + 1)``)
    and the exact value by SVD (``exact``)."""

    names: list[str]
    estimates: np.ndarray
    exact: np.ndarray
    coeff: float | None


@torch.inference_mode()
def power_iteration_trace(
    flow: Any, n_iter: int = 30, seed: int = 0, coeff: Coeff = None
) -> PowerTrace:
    """Power iteration on every linear map of every block from a random start (``u`` drawn in layer
    order from ``seed``): it approaches sigma from below. ``coeff=None`` (default) looks at the raw
    weights, a number at the weights renormalised under it, AS_BUILT at the module's own.

    Maps of the same shape iterate together (one batched product per step), so the cost does not
    grow with the depth of the flow.
    """
    fz = as_frozen(flow)
    gen = torch.Generator().manual_seed(seed)
    Ws = [
        w
        for layer, p in zip(fz.layers, fz.weights(coeff))
        if isinstance(layer, FrozenBlock)
        for w, _ in p
    ]
    us = [F.normalize(torch.randn(W.shape[0], generator=gen, dtype=W.dtype), dim=0) for W in Ws]
    est = torch.empty(len(Ws), n_iter + 1, dtype=torch.float64)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, W in enumerate(Ws):
        groups.setdefault(tuple(W.shape), []).append(i)
    for idx in groups.values():
        W = torch.stack([Ws[i] for i in idx])  # (G, out, in)
        Wt = W.transpose(1, 2)
        u = torch.stack([us[i] for i in idx]).unsqueeze(-1)  # (G, out, 1)
        v = F.normalize(Wt @ u, dim=1)
        rows = [(u * (W @ v)).sum((1, 2))]
        for _ in range(n_iter):
            u = F.normalize(W @ v, dim=1, eps=1e-12)
            v = F.normalize(Wt @ u, dim=1, eps=1e-12)
            rows.append((u * (W @ v)).sum((1, 2)))
        est[idx] = torch.stack(rows, 1)
    exact = np.array([float(torch.linalg.matrix_norm(W, ord=2)) for W in Ws])
    return PowerTrace(fz.layer_names(), est.numpy(), exact, fz.resolve(coeff))


@dataclass
class BlockLipschitz:
    """Per block: the product bound ``prod ||W_i||_2`` and an empirical Lip(g), the largest
    ``||J_g(x)||_2`` over the points (a lower bound on the true constant)."""

    product_bound: np.ndarray
    empirical: np.ndarray


@torch.inference_mode()
def block_lipschitz(flow: Any, x: np.ndarray, coeff: Coeff = AS_BUILT) -> BlockLipschitz:
    """The product bound beside what each block actually does on the points, under ``coeff``
    (default: the flow's own weights)."""
    fz = as_frozen(flow)
    J = block_jacobians(fz, x, coeff)
    emp = torch.linalg.matrix_norm(J, ord=2).amax(1).numpy()
    return BlockLipschitz(fz.lipschitz(coeff), _finite(emp))
