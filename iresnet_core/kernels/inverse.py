"""The fixed-point inverse of one 2D residual block through the C kernel ``fixed_point2d.c``.

Algorithm 1 of Behrmann et al. (2019): ``x_{n+1} = y - g(x_n)`` from ``x_0 = y``, in float64, by
the rules of :func:`iresnet_core.ops.fixed_point.fixed_point` exactly (iterates clamped to
``+-CLAMP``, points that settled leave the batch, the divergence test against
``DIVERGENCE_FACTOR`` times the first residual, stopping there or running on): the same
iterations, residuals and iterates up to float64 rounding, one pass over the points per
iteration instead of some twenty small torch operations. It serves the block's inverse
(:meth:`iresnet_core.flows.iresnet.InvertibleResidualBlock.inverse`, stopping at a divergence)
and the analysis' n-iteration inverse (:func:`iresnet_core.analysis.frozen.inverse_n`, no
tolerance, running on).

Example:
    >>> import torch
    >>> from iresnet_core.kernels import build
    >>> f64 = dict(dtype=torch.float64)
    >>> params = [(torch.full((4, 2), 0.1, **f64), torch.zeros(4, **f64)),
    ...           (torch.full((2, 4), 0.1, **f64), torch.zeros(2, **f64))]
    >>> y = torch.ones(3, 2, **f64)
    >>> run = fixed_point(params, "tanh", y, 100, 1e-12, None, True) if build.available() else None
    >>> run is None or (run.converged, run.diverged)
    (True, False)
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from iresnet_core.kernels import build
from iresnet_core.kernels.layout import of_block
from iresnet_core.ops.fixed_point import CLAMP, DIVERGENCE_FACTOR, FixedPointRun

__all__ = ["fixed_point"]


def fixed_point(
    params: Sequence[tuple[Tensor, Tensor]],
    activation: str,
    y: Tensor,
    max_iter: int,
    tol: float,
    settle: float | None,
    stop_on_divergence: bool,
) -> FixedPointRun:
    """:func:`iresnet_core.ops.fixed_point.fixed_point` of ``g = mlp(params, activation)`` in C.

    Args:
        params: the block's normalised ``(W, b)`` pairs, float64, that
            :func:`~iresnet_core.kernels.layout.mlp_refusal` takes.
        activation: one of :data:`~iresnet_core.kernels.layout.ACTIVATIONS`.
        y: the block's outputs ``(B, 2)``, float64.
        max_iter, tol, settle, stop_on_divergence: as the torch loop's (``max_iter >= 1``,
            ``tol >= 0``).

    Raises:
        RuntimeError: when the C engine is unavailable.
        iresnet_core.kernels.layout.Refused: for a block it does not cover.
    """
    lib = build.library()
    if lib is None:
        raise RuntimeError(f"the C engine is unavailable: {build.unavailable_reason()}")
    lay = of_block(params, activation)
    ys = np.ascontiguousarray(y.detach().numpy(), dtype=np.float64)
    n = len(ys)
    x = np.empty_like(ys)
    residuals = np.empty(max_iter, np.float64)
    status = ctypes.c_int(0)
    idx, steps = np.empty(n, np.int64), np.empty(n, np.float64)
    iters = lib.fixed_point_2d(
        n,
        ys.ctypes.data,
        x.ctypes.data,
        max_iter,
        tol,
        settle or 0.0,
        DIVERGENCE_FACTOR,
        CLAMP,
        int(stop_on_divergence),
        lay.meta.ctypes.data,
        lay.params.ctypes.data,
        residuals.ctypes.data,
        ctypes.byref(status),
        idx.ctypes.data,
        steps.ctypes.data,
    )
    if iters < 0:  # pragma: no cover - the layout is written by layout.py
        raise RuntimeError("fixed_point2d.c refused the block's layout")
    return FixedPointRun(
        torch.from_numpy(x),
        residuals[:iters].copy(),
        bool(status.value & 1),
        bool(status.value & 2),
    )
