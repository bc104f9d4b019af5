"""Toy 2D data sets (the standard FFJORD recipes) with their entropy floors, and a person's own
points from a CSV file.

* :mod:`~iresnet_core.datasets.toy` — :data:`NAMES`, :func:`sample`, :func:`entropy`,
  :func:`bounds`, :func:`extent`;
* :mod:`~iresnet_core.datasets.csv_points` — :func:`load_csv`, with a clear message for every bad
  file;
* :mod:`~iresnet_core.datasets.scaling` — :class:`Scaling`: own points standardised for training,
  densities and NLLs converted back to their own units (the log-det of the map included).

Example:
    >>> import iresnet_core as ic
    >>> ic.datasets.sample("moons", 4, seed=0).shape
    (4, 2)
"""

from iresnet_core.datasets.scaling import Scaling
from iresnet_core.datasets.toy import (
    LABELS,
    MAX_ABS,
    MAX_BYTES,
    MAX_ROWS,
    MIN_ROWS,
    NAMES,
    bounds,
    entropy,
    extent,
    load_csv,
    preload_generators,
    sample,
)

__all__ = [
    "NAMES",
    "LABELS",
    "MAX_ROWS",
    "MIN_ROWS",
    "MAX_BYTES",
    "MAX_ABS",
    "sample",
    "entropy",
    "bounds",
    "extent",
    "load_csv",
    "preload_generators",
    "Scaling",
]
