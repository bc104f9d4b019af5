"""The running average of a flow's weights: the model that evaluation and display use.

Adam at a learning rate high enough to fit a toy set in seconds keeps the weights rattling around
the optimum; the exponential moving average of the iterates (Polyak & Juditsky 1992; the
evaluation model of Residual Flows, Chen et al. 2019) sits much closer to it. With decay ``beta``
the average after update ``n`` is ``w_bar <- beta_n w_bar + (1 - beta_n) w_n`` with the warm-up
``beta_n = min(beta, (n - 1) / (n + 8))``: the first update copies the weights (ActNorm's
data-dependent initialisation included), the next ones follow them closely, and the memory settles
to about ``1 / (1 - beta)`` steps.

The i-ResNet's constraint survives averaging: the raw weights are averaged and the soft rule
``W / max(1, sigma / c)`` is applied to the average when it is used, with power-iteration vectors
refreshed for the averaged weights (:meth:`RunningAverage.flow`). Buffers that are not weights
(the vectors, ActNorm's initialisation flag, Glow's permutation) are copied from the trained flow.

Example:
    >>> import iresnet_core as ic, torch
    >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16,)))
    >>> avg = RunningAverage(flow, decay=0.99)
    >>> before = flow.layers[0].g.linears[0].bias.clone()
    >>> with torch.no_grad():
    ...     _ = flow.layers[0].g.linears[0].bias.add_(1.0)
    >>> avg.update()  # the first update copies: beta_1 = 0
    >>> with torch.no_grad():
    ...     _ = flow.layers[0].g.linears[0].bias.add_(1.0)
    >>> avg.update()  # beta_2 = 1 / 10: nine tenths of the way to the new weights
    >>> bool(torch.allclose(avg.flow.layers[0].g.linears[0].bias, before + 1.9))
    True
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from iresnet_core.kernels.flat_params import FlatParameters
from iresnet_core.ops.spectral import refresh_power_iteration, spectral_layers

__all__ = ["RunningAverage", "check_decay", "warmup_decay"]


def warmup_decay(decay: float, n: int) -> float:
    """``min(decay, (n - 1) / (n + 8))``: the weight of the old average at update ``n`` (from 1).

    Example:
        >>> warmup_decay(0.98, 1), warmup_decay(0.98, 2), warmup_decay(0.98, 10_000)
        (0.0, 0.1, 0.98)
    """
    return min(decay, (n - 1) / (n + 8))


def check_decay(decay: object) -> float:
    """``decay`` as a float if it is one in ``(0, 1)``; else ``ValueError``.

    >>> check_decay(0.99)
    0.99
    """
    if not (isinstance(decay, (int, float)) and not isinstance(decay, bool) and 0 < decay < 1):
        raise ValueError(f"the averaging decay must be in (0, 1), got {decay!r}")
    return float(decay)


class RunningAverage:
    """An exponential moving average of ``module``'s trainable parameters, kept in a copy of the
    module, with the warm-up of :func:`warmup_decay`; the buffers (power-iteration vectors,
    ActNorm's flag) are the trained module's, refreshed for the averaged weights.

    Given the trainer's ``flat`` vector (:class:`~iresnet_core.kernels.flat_params.
    FlatParameters`), the copy's parameters become views of one vector too and an update is one
    ``lerp_`` of it towards the trained one; without it (any module, e.g. another library's, whose
    parameters may differ in dtype or device) each parameter is averaged on its own and
    ``module`` is left as it is.

    Args:
        module: the module being trained (neither its values nor its parameters' storage are
            modified).
        decay: ``beta`` in ``(0, 1)``; about ``1 / (1 - beta)`` steps of memory.
        flat: ``module``'s trainable parameters as one vector, the trainer's. The average reads
            ``flat.data`` at each :meth:`update`.
    """

    def __init__(
        self, module: nn.Module, decay: float, flat: FlatParameters | None = None
    ) -> None:
        self.decay = check_decay(decay)
        live = list(module.parameters())
        trained = flat.params if flat is not None else [p for p in live if p.requires_grad]
        where = {id(p): k for k, p in enumerate(live)}
        if any(id(p) not in where for p in trained):
            raise ValueError("the flat parameters to average are not all the module's")
        self._module = copy.deepcopy(module)
        self._module.requires_grad_(False)
        copies = list(self._module.parameters())
        averaged = [copies[where[id(p)]] for p in trained]  # in the trained order
        self._source = flat
        # with the trainer's vector, the averaged copy's parameters as views of one vector too
        self._average = FlatParameters(averaged, grads=False) if flat is not None else None
        self._tensors = list(zip(averaged, trained))
        self._n = 0
        self._live = module
        self._pairs = [
            (a, b) for a, b in zip(self._module.modules(), module.modules()) if b._buffers
        ]
        self._spectral = spectral_layers(self._module)
        self._stale = False

    @property
    def steps(self) -> int:
        """Updates folded in so far."""
        return self._n

    @torch.no_grad()
    def update(self) -> None:
        """Fold the module's current weights into the average (after each optimiser step)."""
        self._n += 1
        if self._source is not None and self._average is not None:
            pairs = [(self._average.data, self._source.data)]
        else:
            pairs = self._tensors
        weight = 1.0 - warmup_decay(self.decay, self._n)
        for avg, now in pairs:
            if self._n == 1:
                avg.copy_(now)
            else:
                avg.lerp_(now, weight)
        self._stale = True

    @property
    def flow(self) -> nn.Module:
        """The averaged copy, its buffers brought up to date first (cheap when nothing changed)."""
        if self._stale:
            self._sync_buffers()
        return self._module

    @torch.no_grad()
    def _sync_buffers(self) -> None:
        # Training rebinds the power-iteration vectors (never copies into them), so the live
        # buffers are looked up by name each time.
        for avg_mod, live_mod in self._pairs:
            for name, buf in live_mod._buffers.items():
                if buf is not None:
                    avg_mod._buffers[name] = buf.detach().clone()
        # The trained weights' vectors are close to the average's; one iteration fits them to it.
        refresh_power_iteration(self._module, layers=self._spectral)
        self._stale = False
