"""A module's trainable parameters, and their gradients, as views of one contiguous tensor.

The default flow holds 256 parameter tensors of 2 to 1024 numbers each. Adam, the gradient's norm,
zeroing the gradients and the running average of the weights each went over that list tensor by
tensor, a noticeable share of a training step (issue 6; see docs/benchmarks.md). With every
parameter a view of one buffer and every gradient a view of another, each of those is one
operation on one tensor. Adam and the average are elementwise, so the numbers are the same as
tensor by tensor. The C training kernel (:mod:`iresnet_core.kernels.nll`) reads the weights from
the one buffer and writes its gradient into the other, through offsets that
:func:`iresnet_core.kernels.layout.on_flat` takes from :attr:`FlatParameters.params`' order.

Autograd accumulates into an existing ``.grad`` in place, so the backward pass writes straight
into the flat gradient; :meth:`FlatParameters.zero_grad` zeroes it in one operation (where
``set_to_none`` would cut the views off) and puts back any view that something else replaced.

Example:
    >>> import torch
    >>> layer = torch.nn.Linear(3, 2)
    >>> flat = FlatParameters(list(layer.parameters()))
    >>> flat.data.shape, layer.weight.data_ptr() == flat.data.data_ptr()
    (torch.Size([8]), True)
    >>> layer(torch.ones(1, 3)).sum().backward()
    >>> bool(torch.equal(flat.grad[6:], layer.bias.grad))
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["FlatParameters"]


class FlatParameters:
    """``params`` rebound as views of :attr:`data`, their gradients as views of :attr:`grad`
    (``grads=False``: the parameters only, e.g. an average that is never differentiated).

    Hand :attr:`data` to the optimiser (its ``.grad`` is :attr:`grad`) and call
    :meth:`zero_grad` before each backward pass.
    """

    def __init__(self, params: Sequence[nn.Parameter], grads: bool = True) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("no parameters to flatten")
        if len({(p.dtype, p.device) for p in self.params}) != 1:
            raise ValueError("the parameters to flatten must share one dtype and device")
        with torch.no_grad():
            self.data = torch.cat([p.detach().reshape(-1) for p in self.params])
        self.grad = torch.zeros_like(self.data) if grads else None
        self.data.grad = self.grad
        self._bind()

    def _bind(self) -> None:
        offset, self._grads = 0, []
        for p in self.params:
            n = p.numel()
            p.data = self.data[offset : offset + n].view_as(p)
            if self.grad is not None:
                g = self.grad[offset : offset + n].view_as(p)
                p.grad = g
                self._grads.append(g)
            offset += n

    def zero_grad(self) -> None:
        """Zero every gradient in one operation. A parameter whose data or gradient was replaced
        (``zero_grad(set_to_none=True)``, or ``p.data = ...``; ``load_state_dict`` copies in place)
        is bound to the buffers again, its current values kept; a change of dtype or device is
        refused."""
        if self.grad is None:
            raise RuntimeError("these flat parameters were made without gradients")
        if not self.intact():
            if any(
                p.dtype != self.data.dtype or p.device != self.data.device for p in self.params
            ):
                raise RuntimeError(
                    "the parameters changed dtype or device after they were flattened; "
                    "flatten them again (a new Trainer)"
                )
            with torch.no_grad():
                self.data.copy_(torch.cat([p.detach().reshape(-1) for p in self.params]))
            self._bind()
        self.grad.zero_()
        self.data.grad = self.grad

    def intact(self) -> bool:
        """Whether the gradients are still the views, and the first and last parameters still sit
        where they were put (what replacing a module's tensors, e.g. ``module.to(dtype)``,
        moves)."""
        first, last = self.params[0], self.params[-1]
        return (
            all(p.grad is g for p, g in zip(self.params, self._grads))
            and first.data_ptr() == self.data.data_ptr()
            and last.data_ptr() + last.numel() * last.element_size()
            == self.data.data_ptr() + self.data.numel() * self.data.element_size()
        )
