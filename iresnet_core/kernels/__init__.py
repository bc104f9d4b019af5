"""The C engine: the density, the fixed-point inverse and the training step of 2D flows, built with
the machine's C compiler on first use and loaded with ctypes.

Importing this package registers the engine with the flows (:mod:`iresnet_core.flows.engine`);
wherever it does not apply, or no compiler is found, torch computes the same numbers.

Example:
    >>> from iresnet_core import kernels
    >>> kernels.native.available() in (True, False)
    True
"""

from iresnet_core.flows.engine import use_engine
from iresnet_core.kernels import native
from iresnet_core.kernels.native import CEngine

use_engine(CEngine())

__all__ = ["native", "CEngine"]
