"""An i-ResNet's weights frozen as float64 tensors, renormalised for any Lipschitz coefficient c.

The analysis asks "the same network under another constraint": every linear map of every block
rescaled by the paper's soft rule ``W_c = W / max(1, sigma / c)`` (Behrmann et al. 2019, Sec. 3),
here with the exact ``sigma`` by SVD, computed once per model; ``c = None`` gives the raw,
unconstrained weights (a plain ResNet), and :data:`AS_BUILT` the module's own normalised weights
(power-iteration sigma: exactly what the flow computes). Freezing copies the numbers once, so
looking at another c costs a few scalar multiplications, not a deep copy of the module.

* :func:`freeze` and :class:`FrozenFlow` — the frozen layers; ``fz.weights(c)``,
  ``fz.lipschitz(c)``.
* :func:`as_frozen` — a :class:`FrozenFlow` from a flow or a frozen flow.
* :func:`param_key` — a hash of the config and every parameter and buffer: a cache key.
* :func:`forward`, :func:`inverse_n`, :func:`forward_det`, :func:`block_jacobians` — the flow's
  maps
  on frozen weights (``g`` and ``J_g`` from :func:`iresnet_core.ops.mlp.g_and_jacobian`, the
  inverse by :func:`iresnet_core.ops.fixed_point.fixed_point`).

Example:
    >>> import iresnet_core as ic, torch
    >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16,)))
    >>> fz = freeze(flow)
    >>> bool((fz.lipschitz(0.5) <= 0.5**2 + 1e-12).all())
    True
    >>> z, _ = forward(fz, fz.weights(0.5), torch.zeros(3, 2, dtype=torch.float64))
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from iresnet_core.flows.engine import engine
from iresnet_core.ops.fixed_point import CLAMP, fixed_point
from iresnet_core.ops.mlp import g_and_jacobian, mlp_forward

__all__ = [
    "AS_BUILT",
    "Coeff",
    "FrozenBlock",
    "FrozenActNorm",
    "FrozenFlow",
    "freeze",
    "as_frozen",
    "param_key",
    "forward",
    "inverse_n",
    "forward_det",
    "block_jacobians",
    "DIVERGED",
    "CLAMP",
]

#: ``coeff=AS_BUILT``: the module's own normalised weights, as the flow itself computes them.
AS_BUILT = "as built"
#: a Lipschitz coefficient: a float in (0, 1) (or above, to explore), ``None`` (raw weights) or
#: AS_BUILT
Coeff = float | None | str
#: a residual or error above this counts as diverged
DIVERGED = 1e12

_JAC_MEMO = 8  #: Jacobian results a FrozenFlow remembers

Weights = list  # per layer: [(W, b), ...] for a block, (bias, log_scale) for ActNorm


@dataclass
class FrozenBlock:
    """One residual block ``x + g(x)``: the raw ``(W, b)`` (float64), their exact ``||W||_2``, the
    module's own normalised weights and their exact norms, and the activation (value and
    derivative)."""

    raw: list[tuple[Tensor, Tensor]]
    sigma: list[float]
    own: list[tuple[Tensor, Tensor]]
    own_sigma: list[float]
    act: Any

    def weights(self, c: Coeff) -> list[tuple[Tensor, Tensor]]:
        """``(W_c, b)`` per linear map: ``W / max(1, sigma / c)``; raw for None; the module's for
        AS_BUILT."""
        if c == AS_BUILT:
            return self.own
        return [
            (w if c is None else w * (1.0 / max(1.0, s / c)), b)
            for (w, b), s in zip(self.raw, self.sigma)
        ]

    def lipschitz(self, c: Coeff) -> float:
        """``prod_i ||W_i||_2`` under ``c`` (exact spectral norms): an upper bound on
        ``Lip(g)``."""
        if c == AS_BUILT:
            return math.prod(self.own_sigma)
        return math.prod(s if c is None else min(s, c) for s in self.sigma)


@dataclass
class FrozenActNorm:
    """ActNorm ``y = (x + bias) * exp(log_scale)`` (float64)."""

    bias: Tensor
    log_scale: Tensor


@dataclass
class FrozenFlow:
    """An i-ResNet's layers as float64 tensors: look at it under any ``c`` without touching the
    module.

    Attributes:
        layers: :class:`FrozenBlock` and :class:`FrozenActNorm` in forward order.
        dim: the data dimension; coeff: the c the model was built with; hidden: the MLP widths.
    """

    layers: list[FrozenBlock | FrozenActNorm]
    dim: int
    coeff: float | None
    hidden: tuple[int, ...] = ()
    _jac_memo: OrderedDict = field(default_factory=OrderedDict, repr=False, compare=False)

    @property
    def blocks(self) -> list[FrozenBlock]:
        return [layer for layer in self.layers if isinstance(layer, FrozenBlock)]

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)

    def resolve(self, c: Coeff) -> float | None:
        """The number behind ``c`` (AS_BUILT: the model's own coefficient)."""
        return self.coeff if c == AS_BUILT else c

    def weights(self, c: Coeff = AS_BUILT, dtype: torch.dtype = torch.float64) -> Weights:
        """Every layer's weights under ``c``, cast to ``dtype``: the argument of :func:`forward`
        and co."""
        out: Weights = []
        for layer in self.layers:
            if isinstance(layer, FrozenBlock):
                out.append([(w.to(dtype), b.to(dtype)) for w, b in layer.weights(c)])
            else:
                out.append((layer.bias.to(dtype), layer.log_scale.to(dtype)))
        return out

    def lipschitz(self, c: Coeff = AS_BUILT) -> np.ndarray:
        """Per block the product bound ``prod_i ||W_i||_2`` on ``Lip(g)`` under ``c``."""
        return np.array([b.lipschitz(c) for b in self.blocks])

    def jacobians(self, x: np.ndarray, c: Coeff = AS_BUILT) -> Tensor:
        """:func:`block_jacobians` of the points ``x`` (float64) under ``c``: ``(n_blocks, B, d,
        d)``.

        The last few results are remembered (the weights never change), so the estimators that a
        page recomputes as N or the probes move share one pass through the flow.
        """
        xa = np.ascontiguousarray(np.asarray(x, dtype=np.float64).reshape(-1, self.dim))
        key = (c, xa.shape, hashlib.blake2b(xa.tobytes(), digest_size=16).digest())
        hit = self._jac_memo.get(key)
        if hit is None:
            with torch.inference_mode():
                hit = block_jacobians(self, self.weights(c), torch.from_numpy(xa))
            self._jac_memo[key] = hit
            while len(self._jac_memo) > _JAC_MEMO:
                self._jac_memo.popitem(last=False)
        else:
            self._jac_memo.move_to_end(key)
        return hit

    def layer_names(self) -> list[str]:
        """``"block 1 · W1 (2→128)"`` for every linear map, in order."""
        return [
            f"block {i + 1} · W{j + 1} ({w.shape[1]}→{w.shape[0]})"
            for i, b in enumerate(self.blocks)
            for j, (w, _) in enumerate(b.raw)
        ]


@torch.no_grad()
def freeze(flow: Any) -> FrozenFlow:
    """The weights of an i-ResNet :class:`iresnet_core.Flow`; a ValueError for any other flow."""
    layers: list[FrozenBlock | FrozenActNorm] = []
    for layer in flow.layers:
        g = getattr(layer, "g", None)
        if g is not None and hasattr(g, "linears"):
            raw = [
                (
                    lin.weight.detach().to(torch.float64).clone(),
                    lin.bias.detach().to(torch.float64).clone(),
                )
                for lin in g.linears
            ]
            sigma = [float(torch.linalg.matrix_norm(w, ord=2)) for w, _ in raw]
            own = [(w.clone(), b.clone()) for w, b in g.frozen(torch.float64)]
            own_sigma = [float(torch.linalg.matrix_norm(w, ord=2)) for w, _ in own]
            layers.append(FrozenBlock(raw, sigma, own, own_sigma, g.act))
        elif hasattr(layer, "log_scale") and hasattr(layer, "bias"):
            layers.append(
                FrozenActNorm(
                    layer.bias.detach().to(torch.float64).clone(),
                    layer.log_scale.detach().to(torch.float64).clone(),
                )
            )
        else:
            raise ValueError(
                "this analysis needs an i-ResNet (residual blocks and ActNorm); "
                f"got a {type(layer).__name__} layer"
            )
    cfg = flow.cfg
    return FrozenFlow(layers, int(cfg.dim), cfg.coeff, tuple(cfg.hidden))


def as_frozen(flow: Any) -> FrozenFlow:
    """``flow`` itself when already frozen, else :func:`freeze` of it."""
    return flow if isinstance(flow, FrozenFlow) else freeze(flow)


def param_key(flow: Any) -> str:
    """A short hash of the flow's config and every parameter and buffer (the bytes of the state
    dict).

    Two flows get the same key only for the same numbers, so results cached under it are the
    same for both.
    """
    h = hashlib.blake2b(digest_size=16)
    cfg = getattr(flow, "cfg", None)
    h.update(repr(cfg.to_dict() if hasattr(cfg, "to_dict") else cfg).encode())
    for name, t in flow.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def forward(fz: FrozenFlow, P: Weights, x: Tensor) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
    """``z = F(x)`` and, per block, its ``(input, output)`` (so a block's true inverse is
    known)."""
    pairs = []
    for layer, p in zip(fz.layers, P):
        if isinstance(layer, FrozenBlock):
            y = x + mlp_forward(p, layer.act, x)
            pairs.append((x, y))
            x = y
        else:
            x = (x + p[0]) * p[1].exp()
    return x, pairs


def inverse_n(fz: FrozenFlow, P: Weights, z: Tensor, n: int, floor: float = 0.0) -> Tensor:
    """``F^-1`` with ``n`` fixed-point iterations ``x_{k+1} = y - g(x_k)``, ``x_0 = y`` per block
    (Algorithm 1, :func:`iresnet_core.ops.fixed_point.fixed_point` with no tolerance and no stop at
    a divergence: every point gets its ``n`` iterations); points whose step fell below ``floor``
    stop early (they sit at the fixed point up to rounding). Clamped, never inf or NaN."""
    h = z
    settle = floor if floor > 0 else None
    fast = engine()
    for layer, p in zip(reversed(fz.layers), reversed(P)):
        if isinstance(layer, FrozenBlock):
            run = fast.fixed_point(p, layer.act.name, h, n, 0.0, settle, False) if fast else None
            if run is None:
                run = fixed_point(
                    lambda x, p=p, act=layer.act: mlp_forward(p, act, x), h, n, 0.0, settle, False
                )
            h = run.x
        else:
            h = h * torch.exp(-p[1]) - p[0]
    return h


def forward_det(fz: FrozenFlow, P: Weights, x: Tensor) -> tuple[Tensor, Tensor]:
    """``z = F(x)`` and ``det J_F(x)`` in one pass: ``J_F = prod_l J_l`` with ``J = I + J_g`` for a
    block (``J_g`` carried through the MLP) and ``diag(exp(log_scale))`` for ActNorm."""
    eye = torch.eye(fz.dim, dtype=x.dtype)
    jac = eye.expand(x.shape[0], -1, -1)
    for layer, p in zip(fz.layers, P):
        if isinstance(layer, FrozenBlock):
            g, J = g_and_jacobian(p, layer.act, x)
            jac = (J + eye) @ jac
            x = x + g
        else:
            x = (x + p[0]) * p[1].exp()
            jac = p[1].exp()[None, :, None] * jac
    return x, torch.linalg.det(jac)


def block_jacobians(fz: FrozenFlow, P: Weights, x: Tensor) -> Tensor:
    """``J_g`` of every block where the forward pass of ``x`` meets it: shape ``(K, B, d, d)``."""
    jacs = []
    for layer, p in zip(fz.layers, P):
        if isinstance(layer, FrozenBlock):
            g, J = g_and_jacobian(p, layer.act, x)
            jacs.append(J)
            x = x + g
        else:
            x = (x + p[0]) * p[1].exp()
    return torch.stack(jacs)
