"""ActNorm: a per-dimension affine layer with data-dependent initialisation (Kingma & Dhariwal
2018).

``y = (x + bias) * exp(log_scale)``; on the first training batch ``bias = -mean(x)`` and
``log_scale = -log(std(x))``, so the layer's output starts standardised. The log-determinant is
``sum(log_scale)``, the same for every sample. The initialised flag is a buffer, so it travels
with checkpoints and a loaded model is never re-initialised.

Example:
    >>> import torch
    >>> layer = ActNorm(2)
    >>> x = torch.randn(100, 2, generator=torch.Generator().manual_seed(0)) * 3 + 1
    >>> y, ld = layer(x)  # initialises from this batch: y is standardised
    >>> y.mean(0).abs().max().item() < 1e-6, y.std(0).tolist()
    (True, [1.0, 1.0])
    >>> bool(torch.allclose(ld, layer.log_scale.sum().expand(100)))  # the same at every point
    True
    >>> bool(torch.allclose(layer.inverse(y)[0], x, atol=1e-5))
    True
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from iresnet_core.flows.layers import FlowLayer
from iresnet_core.ops.affine import actnorm_backward, actnorm_forward

__all__ = ["ActNorm"]


class _ActNormFunction(torch.autograd.Function):
    """``(y, logdet)`` of ActNorm as one node of the autograd graph, its backward by hand
    (:func:`actnorm_backward`). Autograd recorded five nodes per layer for the same (the add, exp,
    product, sum and expand), 64 of the default flow's layers (issue 6)."""

    @staticmethod
    def forward(ctx, x: Tensor, bias: Tensor, log_scale: Tensor):  # type: ignore[override]
        y, scale = actnorm_forward(x, bias, log_scale)
        ctx.save_for_backward(y, scale)
        return y, log_scale.sum().expand(x.shape[0])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dy: Tensor | None, dld: Tensor | None):  # type: ignore[override]
        y, scale = ctx.saved_tensors
        return actnorm_backward(torch.zeros_like(y) if dy is None else dy, y, scale, dld)


class ActNorm(FlowLayer):
    """Per-dimension scale and shift; initialised from the first batch seen in training."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))
        self.register_buffer("initialized", torch.tensor(0, dtype=torch.uint8))

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        """Set bias and scale so that ``x`` comes out with zero mean and unit variance."""
        mean = x.mean(0)
        std = x.std(0) if x.shape[0] > 1 else torch.ones_like(mean)
        std = torch.where(torch.isfinite(std) & (std > 1e-6), std, torch.ones_like(std))
        self.bias.copy_(-torch.where(torch.isfinite(mean), mean, torch.zeros_like(mean)))
        self.log_scale.copy_(-std.log())
        self.initialized.fill_(1)

    def forward(self, x: Tensor, mode: str | None = None) -> tuple[Tensor, Tensor]:
        if self.training and not bool(self.initialized):
            self.initialize(x)
        if torch.is_grad_enabled():
            return _ActNormFunction.apply(x, self.bias, self.log_scale)
        y = (x + self.bias) * self.log_scale.exp()
        return y, self.log_scale.sum().expand(x.shape[0])

    @torch.no_grad()
    def prepared(self) -> Callable[[Tensor], tuple[Tensor, float]]:
        scale = self.log_scale.exp()
        shift, logdet = self.bias * scale, float(self.log_scale.sum())
        return lambda x: (torch.addcmul(shift, x, scale), logdet)  # (x + bias) * scale

    def inverse(self, y: Tensor, max_iter: int = 100, tol: float = 1e-6):
        return y * torch.exp(-self.log_scale) - self.bias, None

    def jacobian(self, x: Tensor) -> Tensor:
        """The layer's Jacobian at every point, shape ``(B, d, d)``."""
        return torch.diag_embed(self.log_scale.exp().expand_as(x))
