"""``log p`` of many points through the C kernel ``density2d.c``: the density grids' fast path.

The change of variables (Behrmann et al. 2019, eq. 1), ``log p(x) = log N(F(x); 0, I) +
sum ln |det J_layer|``, for 2D float32 flows of residual blocks (each activation the Playground
offers, each block's ``ln |det(I + J_g)|`` exact from the 2 x 2 Jacobian) and ActNorms, and for
the 2D Glow (ActNorm, the LU linear map, the affine coupling with its ELU conditioner; Kingma &
Dhariwal 2018, Sec. 3). A tile of 16 points travels through every layer in vector registers (see
docs/benchmarks.md for what that gives). :func:`pack` takes the flow's weights of the moment
(:func:`iresnet_core.kernels.layout.snapshot`); torch computes wherever it returns ``None``.

Example:
    >>> import iresnet_core as ic, torch
    >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16,)))
    >>> packed = pack(flow.layers)
    >>> packed is None or packed.log_prob(torch.zeros(3, 2)).shape == (3,)
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from iresnet_core.kernels import build
from iresnet_core.kernels.layout import Layout, Refused, snapshot

__all__ = ["PackedFlow", "pack"]


@dataclass(frozen=True)
class PackedFlow:
    """A flow's layers and weights as of packing, laid out for ``density2d.c``."""

    layout: Layout

    @property
    def params(self) -> np.ndarray:
        """The copied weights (float32): training on does not change them."""
        assert self.layout.params is not None
        return self.layout.params

    def log_prob(self, x: Tensor) -> Tensor:
        """``log p`` of ``x`` (``(n, 2)``, float32) in nats, shape ``(n,)``, computed in the
        calling thread; the GIL is released meanwhile, so several threads may each take a share
        of the points. Each point is computed alone (the same number in any share)."""
        lib = build.library()
        if lib is None:  # pragma: no cover - pack() returns None then
            raise RuntimeError(f"the C engine is unavailable: {build.unavailable_reason()}")
        pts = np.ascontiguousarray(x.detach().numpy(), dtype=np.float32)
        out = np.empty(len(pts), dtype=np.float32)
        lay = self.layout
        rc = lib.log_prob_2d(
            len(pts),
            pts.ctypes.data,
            out.ctypes.data,
            lay.n_layers,
            lay.meta.ctypes.data,
            self.params.ctypes.data,
            lay.consts.ctypes.data,
        )
        if rc != 0:  # pragma: no cover - the layout is written by layout.py
            raise RuntimeError("density2d.c refused the flow's layout")
        return torch.from_numpy(out)


def pack(layers: Sequence[nn.Module]) -> PackedFlow | None:
    """``layers`` (a :class:`~iresnet_core.flows.flow.Flow`'s) packed for the kernel, each
    block's normalised weights taken now; ``None`` when the kernel is unavailable or does not
    cover them (not 2D float32, a layer or activation it lacks, a hidden layer wider than
    :data:`~iresnet_core.kernels.layout.MAX_WIDTH`)."""
    try:
        lay = snapshot(layers, torch.float32)
    except Refused:
        return None
    return PackedFlow(lay) if build.available() else None
