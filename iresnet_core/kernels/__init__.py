"""The C engine: the density, the fixed-point inverse and the training step of 2D flows, built with
the machine's C compiler on first use and loaded with ctypes.

One MLP tile written once in C (``mlp_tile.h``: every activation, values and the Jacobian's
tangents, float32 and float64), one description of the layers (:mod:`.layout`), one loader
(:mod:`.build`), three kernels: :mod:`.density` (``log p`` of many points), :mod:`.inverse`
(Algorithm 1 of Behrmann et al. 2019) and :mod:`.nll` (the exact training loss and its gradient).
Importing this package registers the engine with the flows (:mod:`iresnet_core.flows.engine`);
wherever it does not apply, or no compiler is found, torch computes the same numbers, and
:func:`training_engine` says which engine trains a flow, and why.

Example:
    >>> import iresnet_core as ic
    >>> from iresnet_core import kernels
    >>> kernels.native.available() in (True, False)
    True
    >>> kernels.training_engine(ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(8,), dim=3)))
    ('torch', 'the C kernel trains 2D flows, this one is 3D')
"""

from iresnet_core.flows.engine import use_engine
from iresnet_core.kernels import native
from iresnet_core.kernels.native import CEngine
from iresnet_core.kernels.nll import training_engine

use_engine(CEngine())

__all__ = ["native", "CEngine", "training_engine"]
