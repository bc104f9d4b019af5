"""The per-dimension affine map of ActNorm, ``y = (x + bias) * exp(log_scale)``, with its backward
written out (Kingma & Dhariwal 2018, Sec. 3.1): shared by the ActNorm layer and the residual block
that takes the ActNorm after it into its own node (:mod:`iresnet_core.ops.mlp`).

Example:
    >>> import torch
    >>> y, scale = actnorm_forward(torch.ones(3, 2), torch.zeros(2), torch.zeros(2))
    >>> y.tolist(), scale.tolist()
    ([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]], [1.0, 1.0])
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["actnorm_forward", "actnorm_backward"]


def actnorm_forward(
    x: Tensor, bias: Tensor, log_scale: Tensor, out: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """``(y, scale)`` with ``y = (x + bias) * scale`` and ``scale = e^log_scale``; with ``out``
    (which may be ``x`` itself) ``y`` is written there. The one forward of
    :class:`_ActNormFunction` and of the residual block that takes its ActNorm into its own node
    (:mod:`iresnet_core.ops.mlp`)."""
    scale = log_scale.exp()
    return torch.add(x, bias, out=out).mul_(scale), scale


def actnorm_backward(
    dy: Tensor, y: Tensor, scale: Tensor, dld: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """``(dx, d bias, d log_scale)`` from ``dy`` and the log-det's gradient ``dld`` (per sample, or
    ``None``): ``dx = dy * e^s``, ``d bias = sum_b dx``, ``d s = sum_b dy * y + sum_b dld``."""
    dx = dy * scale
    dlog = (dy * y).sum(0)
    if dld is not None:
        dlog.add_(dld.sum())
    return dx, dx.sum(0), dlog
