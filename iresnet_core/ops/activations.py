"""1-Lipschitz activations with a continuous derivative, each with its derivative in closed form.

The log-determinant's power series needs ``g`` to be differentiable with a continuous Jacobian,
so ReLU is out (paper, Sec. 3, "ELU ... instead of ReLU"). The explicit derivative lets a block
propagate its 2D Jacobian through the MLP in the same pass as the forward, with no double backward.

* ``elu``: the paper's default.
* ``lipswish``: ``x * sigmoid(x) / 1.1`` (Chen et al. 2019, Residual Flows); ``sup |phi'| < 1.1``.
* ``tanh`` and ``softplus``.

Example:
    >>> import torch
    >>> act = get_activation("elu")
    >>> y, dy = act.value_and_derivative(torch.linspace(-3, 3, 7))
    >>> [round(v, 3) for v in y.tolist()]
    [-0.95, -0.865, -0.632, 0.0, 1.0, 2.0, 3.0]
    >>> [round(v, 3) for v in dy.tolist()]  # exp(x) below 0, 1 above: continuous, at most 1
    [0.05, 0.135, 0.368, 1.0, 1.0, 1.0, 1.0]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["Activation", "get_activation"]

_LIPSWISH_SCALE = 1.1
_LOG2_E = 1.4426950408889634  # log2(e): exp(a) = 2^(a log2 e)


class Activation:
    """A pointwise 1-Lipschitz function ``phi``, its derivative ``phi'`` and its second
    derivative."""

    name: str = ""
    #: whether the second derivative needs ``a`` itself (else :meth:`dlog_derivative` gives
    #: ``phi'' / phi'`` from ``phi(a)`` and ``phi'(a)``, and the Jacobian pass need not keep ``a``)
    needs_preactivation: bool = False

    def __call__(self, a: Tensor) -> Tensor:
        return self.value_and_derivative(a)[0]

    def value_and_derivative(
        self, a: Tensor, out: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:  # pragma: no cover
        """``(phi(a), phi'(a))``; with ``out`` (shaped like ``a``, not aliasing it) ``phi(a)`` is
        written there, so a caller that stacks rows saves a copy."""
        raise NotImplementedError

    def second_derivative(self, a: Tensor, y: Tensor, dy: Tensor) -> Tensor:  # pragma: no cover
        """``phi''(a)``, given ``y = phi(a)`` and ``dy = phi'(a)`` (the hand-written backward of
        the Jacobian pass, :mod:`iresnet_core.ops.mlp`, differentiates ``phi'``)."""
        raise NotImplementedError

    def dlog_derivative(self, y: Tensor, dy: Tensor) -> Tensor:  # pragma: no cover
        """``phi''(a) / phi'(a) = d ln phi'(a) / da`` from ``y = phi(a)`` and ``dy = phi'(a)``
        alone (where :attr:`needs_preactivation` is false)."""
        raise NotImplementedError


class _ELU(Activation):
    name = "elu"

    def __call__(self, a: Tensor) -> Tensor:
        return F.elu(a)

    def value_and_derivative(self, a: Tensor, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        # phi'(a) = exp(min(a, 0)) and phi(a) = max(a, phi'(a) - 1) (exp(a) - 1 >= a, with equality
        # only at 0): one exponential for both and four cheap float passes; a boolean mask or
        # torch.where costs several times an exp here. The exponential is 2^(a log2 e): torch's
        # exp2 is faster than its exp, extra multiply included, at a few ulp of accuracy.
        dy = a.clamp(max=0.0).mul_(_LOG2_E).exp2_()
        if out is None:
            return torch.maximum(a, dy - 1.0), dy
        return torch.maximum(a, torch.sub(dy, 1.0, out=out), out=out), dy

    def second_derivative(self, a: Tensor, y: Tensor, dy: Tensor) -> Tensor:
        # exp(a) = phi'(a) for a <= 0, 0 above: phi'(a) minus the step function sign(max(a, 0)).
        return dy - a.clamp(min=0.0).sign_()

    def dlog_derivative(self, y: Tensor, dy: Tensor) -> Tensor:
        # ln phi'(a) = min(a, 0): 1 for a <= 0, 0 above, and phi(a) > 0 exactly where a > 0.
        return torch.rsub(y.clamp(min=0.0).sign_(), 1.0)


class _LipSwish(Activation):
    name = "lipswish"
    needs_preactivation = True  # phi' has zeros: phi'' / phi' is not bounded

    def __call__(self, a: Tensor) -> Tensor:
        return F.silu(a) / _LIPSWISH_SCALE

    def value_and_derivative(self, a: Tensor, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        s = torch.sigmoid(a)
        return torch.mul(a, s, out=out).div_(_LIPSWISH_SCALE), (
            s + a * s * (1 - s)
        ) / _LIPSWISH_SCALE

    def second_derivative(self, a: Tensor, y: Tensor, dy: Tensor) -> Tensor:
        s = torch.sigmoid(a)
        return s * (1 - s) * (2 + a * (1 - 2 * s)) / _LIPSWISH_SCALE


class _Tanh(Activation):
    name = "tanh"

    def __call__(self, a: Tensor) -> Tensor:
        return torch.tanh(a)

    def value_and_derivative(self, a: Tensor, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        y = torch.tanh(a, out=out)
        return y, 1 - y * y

    def second_derivative(self, a: Tensor, y: Tensor, dy: Tensor) -> Tensor:
        return -2 * y * dy

    def dlog_derivative(self, y: Tensor, dy: Tensor) -> Tensor:
        return -2 * y


class _Softplus(Activation):
    name = "softplus"

    def __call__(self, a: Tensor) -> Tensor:
        return F.softplus(a)

    def value_and_derivative(self, a: Tensor, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        y = F.softplus(a)
        return (y if out is None else out.copy_(y)), torch.sigmoid(a)

    def second_derivative(self, a: Tensor, y: Tensor, dy: Tensor) -> Tensor:
        return dy * (1 - dy)

    def dlog_derivative(self, y: Tensor, dy: Tensor) -> Tensor:
        return 1 - dy


_ACTIVATIONS: dict[str, Activation] = {
    a.name: a for a in (_ELU(), _LipSwish(), _Tanh(), _Softplus())
}


def get_activation(name: str) -> Activation:
    """The activation called ``name`` (one of ``iresnet_core.ACTIVATIONS``)."""
    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; choose one of {sorted(_ACTIVATIONS)}"
        ) from None
