"""The protocol every invertible layer follows, and what an inverse reports.

A :class:`FlowLayer` maps ``x -> (y, logdet)`` with ``logdet`` of shape ``(B,)``; its
``inverse(y, max_iter, tol)`` returns ``(x, info)`` where ``info`` is a :class:`BlockInverseInfo`
for layers inverted by iteration (the i-ResNet block) and ``None`` for layers with a closed-form
inverse (ActNorm, Glow's parts). :class:`InverseInfo` gathers the block reports of a whole flow.
The iteration and its bound are Behrmann et al. (2019), Algorithm 1 and Sec. 2.

Example:
    >>> import iresnet_core as ic, torch
    >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16,))).eval()
    >>> block, actnorm = flow.layers[:2]
    >>> isinstance(block, FlowLayer), actnorm.inverse(torch.zeros(3, 2))[1] is None
    (True, True)
    >>> x, info = block.inverse(torch.ones(3, 2), max_iter=50, tol=1e-6)
    >>> info.converged, info.iterations <= 50, info.bound <= 1e-6
    (True, True, True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from torch import Tensor, nn

__all__ = ["FlowLayer", "BlockInverseInfo", "InverseInfo", "invert_layers"]


class FlowLayer(nn.Module):
    """An invertible layer with a log-determinant: the building brick of every flow here."""

    def forward(
        self, x: Tensor, mode: str | None = None
    ) -> tuple[Tensor, Tensor]:  # pragma: no cover
        """``(y, logdet)``; ``mode`` picks the log-det estimator where the layer has several."""
        raise NotImplementedError

    def inverse(
        self, y: Tensor, max_iter: int = 100, tol: float = 1e-6
    ) -> tuple[Tensor, BlockInverseInfo | None]:  # pragma: no cover
        raise NotImplementedError

    def jacobian(self, x: Tensor) -> Tensor:  # pragma: no cover
        """The layer's Jacobian ``dy/dx`` at every point, shape ``(B, d, d)``."""
        raise NotImplementedError

    def forward_then(
        self, x: Tensor, mode: str | None, following: FlowLayer
    ) -> tuple[Tensor, Tensor] | None:
        """``following(self(x))`` with the two log-dets summed, as one step where the layer can
        fuse the two (a training forward; :meth:`iresnet_core.flows.flow.Flow.forward` asks), else
        ``None``: the flow then runs them one by one."""
        return None

    def prepared(self) -> Callable[[Tensor], tuple[Tensor, Tensor | float]]:
        """The exact forward ``x -> (y, logdet)`` as of now, for many batches without a gradient.

        A layer whose weights need work before use (the i-ResNet block's spectral normalisation)
        does that work once here instead of once per batch; the numbers are those of
        ``self(x, "exact")``, except that a log-determinant the same at every point may come as a
        float. Call it again after the weights change.
        """
        return lambda x: self(x, "exact")


@dataclass
class BlockInverseInfo:
    """How the fixed-point inverse ``x_{n+1} = y - g(x_n)``, ``x_0 = y`` went for one block.

    Attributes:
        residuals: ``max_b ||x_n - x_{n-1}||`` over the batch for n = 1..iterations.
        iterations: iterations run.
        converged: the largest residual fell below ``tol``.
        diverged: the iteration blew up (non-finite, or residuals growing past 1e6 times the
            first).
        lipschitz: the Lipschitz bound ``L`` of g used by the bound (product of exact spectral
            norms), ``None`` when unknown.
        bound: Banach's a-posteriori bound ``L^n / (1 - L) * ||x_1 - x_0||`` on ``||x* - x_n||`` at
            the last iterate (max over the batch); ``inf`` when ``L >= 1`` (no guarantee).
    """

    residuals: np.ndarray
    iterations: int
    converged: bool
    diverged: bool = False
    lipschitz: float | None = None
    bound: float = float("inf")


@dataclass
class InverseInfo:
    """The per-block reports of a whole flow's inverse, in block order (first block first)."""

    blocks: list[BlockInverseInfo] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        return all(b.converged for b in self.blocks)

    @property
    def diverged(self) -> bool:
        return any(b.diverged for b in self.blocks)

    @property
    def iterations(self) -> int:
        """Iterations summed over the blocks."""
        return int(sum(b.iterations for b in self.blocks))

    @property
    def bound(self) -> float:
        """The largest per-block a-posteriori bound (``inf`` if any block has no guarantee)."""
        return max((b.bound for b in self.blocks), default=0.0)


def invert_layers(
    layers, y: Tensor, max_iter: int = 100, tol: float = 1e-6
) -> tuple[Tensor, list[BlockInverseInfo]]:
    """Invert ``layers`` (applied in order in the forward direction) from their output ``y``.

    Returns the input and the reports of the iteratively inverted blocks, in forward order.
    """
    reports: list[BlockInverseInfo] = []
    for layer in reversed(layers):
        y, info = layer.inverse(y, max_iter=max_iter, tol=tol)
        if info is not None:
            reports.append(info)
    reports.reverse()
    return y, reports
