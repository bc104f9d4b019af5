r"""A person's own points at any scale: standardise them for training, report in their own units.

A flow of Lipschitz-constrained residual blocks starts near the identity and moves points by at
most about its blocks' reach, so it fits data of the toy sets' scale (a few units) and not data
a thousand times smaller or larger (Behrmann et al., 2019, Section 2: each block's
``Lip(g) < 1``). Own data are therefore trained in standard units, through the per-coordinate
affine map (``\sigma``: each coordinate's standard deviation over the spread trained at, 1 or the
toy sets' :data:`TOY_SPREAD`, where the library's defaults are tuned)

.. math:: s(x) = (x - \mu) / \sigma, \qquad
          \log|\det \partial s / \partial x| = -\sum_i \log \sigma_i,

and every density and log-likelihood is converted back by the change of variables (the same rule
the flow itself rests on, the paper's Equation 1):

.. math:: \log p_x(x) = \log p_z(s(x)) + \log|\det \partial s / \partial x| .

So an NLL in the data's own units is the NLL in standard units *minus* the log-det, and a density
is the standard one times ``exp(log_det)``. The fit, in standard units, is then the same whatever
the scale of the data (``tests/core/datasets/test_scaling.py``).

Example:
    >>> import numpy as np
    >>> x = np.array([[1e6, 2e6], [3e6, 6e6]])
    >>> s = Scaling.fit(x)
    >>> s.scale.tolist(), s.transform(x).tolist()
    ([1000000.0, 2000000.0], [[-1.0, -1.0], [1.0, 1.0]])
    >>> s.inverse(s.transform(x)).tolist()
    [[1000000.0, 2000000.0], [3000000.0, 6000000.0]]
    >>> round(s.log_det, 3)  # -log(1e6) - log(2e6)
    -28.324
    >>> round(s.nll(1.0), 3)  # an NLL of 1 nat in standard units, in the data's own units
    29.324
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Scaling", "IDENTITY", "TOY_SPREAD"]

#: the standard deviation per coordinate own points are trained at: about the toy sets' (8
#: Gaussians 2.0, checkerboard 2.3), the scale the library's defaults (step sizes, depth, c) are
#: tuned at; at 1 the i-ResNet fits the same points more slowly (docs/benchmarks.md)
TOY_SPREAD = 2.0


@dataclass(frozen=True)
class Scaling:
    """The per-coordinate standardisation ``s(x) = (x - shift) / scale`` of a point set.

    Attributes:
        shift: the mean of each coordinate, shape ``(d,)`` (float64).
        scale: the standard deviation of each coordinate, shape ``(d,)``, all ``> 0`` (float64).
    """

    shift: np.ndarray
    scale: np.ndarray

    def __post_init__(self) -> None:
        shift = np.asarray(self.shift, dtype=np.float64).reshape(-1)
        scale = np.asarray(self.scale, dtype=np.float64).reshape(-1)
        if shift.shape != scale.shape:
            raise ValueError(f"shift {shift.shape} and scale {scale.shape} differ in shape")
        if not (np.isfinite(shift).all() and np.isfinite(scale).all() and (scale > 0).all()):
            raise ValueError("shift must be finite and scale finite and > 0")
        object.__setattr__(self, "shift", shift)
        object.__setattr__(self, "scale", scale)

    @classmethod
    def fit(cls, points: np.ndarray, spread: float = 1.0) -> Scaling:
        """The standardisation of ``points`` (shape ``(n, d)``) to mean 0 and standard deviation
        ``spread`` in each coordinate (computed in float64); a coordinate with no spread keeps
        scale 1. :data:`TOY_SPREAD` trains own points at the toy sets' scale.

        Example:
            >>> Scaling.fit(np.array([[1.0, 5.0], [3.0, 5.0]])).scale.tolist()
            [1.0, 1.0]
            >>> Scaling.fit(np.array([[1.0, 5.0], [3.0, 9.0]]), spread=2.0).scale.tolist()
            [0.5, 1.0]
        """
        p = np.asarray(points, dtype=np.float64)
        if p.ndim != 2 or len(p) == 0 or not np.isfinite(p).all():
            raise ValueError(f"expected finite points of shape (n, d), got {p.shape}")
        if not (math.isfinite(spread) and spread > 0):
            raise ValueError(f"spread must be finite and > 0, got {spread!r}")
        shift = p.mean(axis=0)
        scale = p.std(axis=0)
        return cls(shift, np.where(scale > 0, scale / spread, 1.0))

    @classmethod
    def identity(cls, dim: int = 2) -> Scaling:
        """The map that changes nothing (the toy sets are trained in their own units)."""
        return cls(np.zeros(dim), np.ones(dim))

    @property
    def is_identity(self) -> bool:
        return bool((self.shift == 0).all() and (self.scale == 1).all())

    @property
    def log_det(self) -> float:
        """``log|det ds/dx| = -sum_i log scale_i`` (a constant: the map is affine)."""
        return -float(np.log(self.scale).sum())

    def transform(self, x: np.ndarray) -> np.ndarray:
        """``s(x) = (x - shift) / scale``, float32 (what the flow trains on), shape of ``x``."""
        return ((np.asarray(x, dtype=np.float64) - self.shift) / self.scale).astype(np.float32)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """``s^{-1}(z) = z * scale + shift`` in float64 (the data's own units may need it)."""
        return np.asarray(z, dtype=np.float64) * self.scale + self.shift

    def transform_box(self, box: tuple[float, float, float, float]) -> tuple[float, ...]:
        """A 2D view box ``(xmin, xmax, ymin, ymax)`` in standard units.

        Example:
            >>> Scaling(np.array([1.0, 0.0]), np.array([2.0, 4.0])).transform_box((-1, 3, -4, 4))
            (-1.0, 1.0, -1.0, 1.0)
        """
        x0, x1, y0, y1 = box
        lo = (np.array([x0, y0], dtype=np.float64) - self.shift) / self.scale
        hi = (np.array([x1, y1], dtype=np.float64) - self.shift) / self.scale
        return (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))

    def log_prob(self, log_pz: np.ndarray | float) -> np.ndarray | float:
        """``log p_x(x) = log p_z(s(x)) + log|det ds/dx|`` from the log density in standard
        units."""
        return log_pz + self.log_det

    def nll(self, nll_z: float) -> float:
        """An NLL (nats per point) in the data's own units: the standard one minus the log-det.
        ``None`` and non-finite values pass through unchanged."""
        if nll_z is None or not math.isfinite(nll_z):
            return nll_z
        return float(nll_z) - self.log_det

    def density(self, p_z: np.ndarray) -> np.ndarray:
        """A density in the data's own units, ``p_z(s(x)) * |det ds/dx|``, float64."""
        return np.asarray(p_z, dtype=np.float64) * math.exp(self.log_det)


#: the map of data already in the units it is trained in (the toy sets)
IDENTITY = Scaling.identity(2)
