"""The C engine as the flows see it: :class:`CEngine`, and the names the rest of the code uses.

Importing :mod:`iresnet_core.kernels` registers a :class:`CEngine` with
:mod:`iresnet_core.flows.engine`; the flows then ask it for ``log p`` of many points by the change
of variables (Behrmann et al. 2019, eq. 1; :mod:`~iresnet_core.kernels.density`) and for the
fixed-point inverse of a block (Algorithm 1; :mod:`~iresnet_core.kernels.inverse`), and compute in
torch wherever it returns ``None``. The
library itself is :mod:`~iresnet_core.kernels.build`'s; the layers' description is
:mod:`~iresnet_core.kernels.layout`'s.

Example:
    >>> import iresnet_core as ic, torch
    >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16,), activation="softplus"))
    >>> packed = pack(flow.layers)
    >>> packed is None or packed.log_prob(torch.zeros(3, 2)).shape == (3,)
    True
    >>> takes_mlp(flow.layers[0].g.frozen(), "softplus") == available()
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from iresnet_core.kernels.build import _reset as _reset  # the tests and benchmarks use it
from iresnet_core.kernels.build import available, compiler_found, unavailable_reason
from iresnet_core.kernels.density import PackedFlow, pack
from iresnet_core.kernels.inverse import fixed_point
from iresnet_core.kernels.layout import MAX_WIDTH, mlp_refusal
from iresnet_core.ops.fixed_point import FixedPointRun

__all__ = [
    "available",
    "unavailable_reason",
    "compiler_found",
    "pack",
    "PackedFlow",
    "MAX_WIDTH",
    "takes_mlp",
    "fixed_point",
    "CEngine",
]


def takes_mlp(params: Sequence[tuple[Tensor, Tensor]], activation: str) -> bool:
    """Whether the kernels take a block MLP of these ``(W, b)`` and activation (and are built)."""
    return mlp_refusal([tuple(w.shape) for w, _ in params], activation) is None and available()


class CEngine:
    """The C kernels as the flows' engine (:class:`iresnet_core.flows.engine.Engine`): each method
    returns ``None`` where the kernels do not apply, and torch computes instead."""

    def log_prob(self, layers: Sequence[nn.Module]) -> Callable[[Tensor], Tensor] | None:
        """``x -> log p(x)`` through ``density2d.c``, the weights taken now."""
        packed = pack(layers)
        return None if packed is None else packed.log_prob

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
        """Algorithm 1 through ``fixed_point2d.c`` for a float64 2D block it takes, by the rules
        of :func:`iresnet_core.ops.fixed_point.fixed_point` (which validates the arguments: an
        invalid ``max_iter`` or ``tol`` is left to it)."""
        if (
            max_iter < 1
            or not tol >= 0
            or y.dtype != torch.float64
            or y.ndim != 2
            or any(t.dtype != torch.float64 for wb in params for t in wb)
            or not takes_mlp(params, activation)
        ):
            return None
        return fixed_point(params, activation, y, max_iter, tol, settle, stop_on_divergence)
