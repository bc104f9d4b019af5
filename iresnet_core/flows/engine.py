"""Where a faster engine plugs into the flows: the density of many points and the fixed-point
inverse.

The flows compute everything in torch. An engine may take over the two loops a page runs most
often: ``log p`` of many points (:meth:`~iresnet_core.flows.flow.Flow.log_prob_many`, the density
grids) and the fixed-point inverse of a residual block (Algorithm 1 of Behrmann et al. 2019, by the
rules of :mod:`iresnet_core.ops.fixed_point`). The C engine (:mod:`iresnet_core.kernels`) registers
itself here when the package is imported; the flows never import it, so the dependency runs one
way. An engine returns ``None`` for what it does not cover, and the torch path runs instead.

Example:
    >>> engine() is None or hasattr(engine(), "log_prob")
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from torch import Tensor, nn

from iresnet_core.ops.fixed_point import FixedPointRun

__all__ = ["Engine", "use_engine", "engine"]


class Engine(Protocol):
    """What an engine offers the flows; each method returns ``None`` where it does not apply."""

    def log_prob(self, layers: Sequence[nn.Module]) -> Callable[[Tensor], Tensor] | None:
        """``x -> log p(x)`` for a flow of these layers, its weights taken now (no gradient)."""
        ...

    def fixed_point(
        self,
        params: list[tuple[Tensor, Tensor]],
        activation: str,
        y: Tensor,
        max_iter: int,
        tol: float,
        settle: float | None,
        stop_on_divergence: bool,
    ) -> FixedPointRun | None:
        """:func:`iresnet_core.ops.fixed_point.fixed_point` of the block MLP ``params``
        (float64)."""
        ...


_ENGINE: Engine | None = None


def use_engine(new: Engine | None) -> Engine | None:
    """Make ``new`` the engine the flows ask (``None``: torch alone); returns the previous one."""
    global _ENGINE
    old, _ENGINE = _ENGINE, new
    return old


def engine() -> Engine | None:
    """The engine the flows ask first, or ``None``."""
    return _ENGINE
