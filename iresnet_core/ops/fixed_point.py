"""The fixed-point iteration that inverts a residual block, with its one set of stopping rules.

Behrmann et al. (2019), Algorithm 1: ``y = x + g(x)`` is inverted by ``x_{n+1} = y - g(x_n)`` from
``x_0 = y``. With ``Lip(g) <= L < 1`` it converges (Banach's theorem) and the error of iterate n is
at most ``L^n / (1 - L) * ||x_1 - x_0||``; without the constraint it may diverge, which is
reported, never waited for. The rules, shared by every caller (the block's inverse, the analysis'
views) and
repeated exactly by the C engine (``kernels/fixed_point2d.c``):

* the residual of an iteration is the largest step ``||x_{n+1} - x_n||`` over the points still
  iterating (NaN when any step is NaN);
* iterates are clamped to ``+-CLAMP``: a diverging point never becomes inf or NaN;
* with ``settle`` a point whose step fell below it leaves the batch (under the constraint its later
  steps would shrink by L each: the largest step is the same without it);
* the iteration stops as *diverged* when the residual is not finite or exceeds
  ``DIVERGENCE_FACTOR`` times ``max(first residual, 1e-12)`` (``stop_on_divergence``), as
  *converged* when it falls below ``tol`` (``tol = 0``: run all ``max_iter`` iterations).

Example:
    >>> import torch
    >>> y = torch.ones(4, 2, dtype=torch.float64)
    >>> run = fixed_point(lambda x: 0.5 * torch.tanh(x), y, max_iter=100, tol=1e-10)
    >>> run.converged, run.diverged, len(run.residuals) < 100
    (True, False, True)
    >>> bool((run.x + 0.5 * torch.tanh(run.x) - 1).abs().max() < 1e-9)
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["FixedPointRun", "fixed_point", "banach_bound", "DIVERGENCE_FACTOR", "SETTLED", "CLAMP"]

#: The iteration is called diverged once a residual exceeds this multiple of the first.
DIVERGENCE_FACTOR = 1e6
#: Under the constraint a point stops iterating once its step is below this fraction of the
#: tolerance.
SETTLED = 1e-3
#: Iterates are clamped to +-CLAMP, so that a diverging iteration never produces inf or NaN.
CLAMP = 1e30


@dataclass
class FixedPointRun:
    """What :func:`fixed_point` did: the last iterate, the residual of every iteration, how it
    stopped."""

    x: Tensor
    residuals: np.ndarray
    converged: bool
    diverged: bool


def fixed_point(
    g: Callable[[Tensor], Tensor],
    y: Tensor,
    max_iter: int,
    tol: float = 0.0,
    settle: float | None = None,
    stop_on_divergence: bool = True,
) -> FixedPointRun:
    """Iterate ``x <- y - g(x)`` from ``x = y`` by the module's rules (see above).

    Args:
        g: the residual branch, applied to a batch of points ``(B, d)``.
        y: the block's outputs ``(B, d)``.
        max_iter: at most this many iterations.
        tol: stop once the largest step is below it (0: never).
        settle: points whose step is below it leave the batch (``None``: none leave).
        stop_on_divergence: stop at a divergence (else run on, the iterates clamped).
    """
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    if tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    x = y.clone()
    active: Tensor | None = None  # the points still iterating; None: all of them
    residuals: list[float] = []
    converged = diverged = False
    for _ in range(max_iter):
        if active is None:
            x_next = _clamped(y - g(x))
            step = (x_next - x).norm(dim=-1)
            x = x_next
        else:
            xa = x[active]
            x_next = _clamped(y[active] - g(xa))
            step = (x_next - xa).norm(dim=-1)
            x[active] = x_next
        r = float(step.max()) if step.numel() else 0.0
        if settle is not None and step.numel():
            moving = step >= settle
            if not bool(moving.all()):
                active = (torch.arange(len(x)) if active is None else active)[moving]
        residuals.append(r)
        if not math.isfinite(r) or r > DIVERGENCE_FACTOR * max(residuals[0], 1e-12):
            diverged = True
            if stop_on_divergence:
                break
        if r < tol:
            converged = True
            break
    return FixedPointRun(x, np.asarray(residuals, dtype=float), converged, diverged)


def banach_bound(lipschitz: float | None, residuals: np.ndarray) -> float:
    """Banach's a-posteriori bound ``L^n / (1 - L) * ||x_1 - x_0||`` on ``||x* - x_n||`` after the
    ``n = len(residuals)`` iterations of a run; ``inf`` without a contraction (``L`` unknown or >=
    1).

    Example:
        >>> round(banach_bound(0.5, np.array([1.0, 0.5, 0.25])), 3)
        0.25
    """
    n = len(residuals)
    if lipschitz is None or not lipschitz < 1 or n == 0 or not math.isfinite(residuals[0]):
        return math.inf
    return lipschitz**n / (1 - lipschitz) * float(residuals[0])


def _clamped(x: Tensor) -> Tensor:
    return x.nan_to_num_(nan=CLAMP, posinf=CLAMP, neginf=-CLAMP).clamp_(-CLAMP, CLAMP)
