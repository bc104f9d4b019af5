"""Toy 2D data sets (the standard FFJORD recipes) and their entropy floors; `load_csv` (from
:mod:`iresnet_core.datasets.csv_points`) reads a person's own points.

Every toy set is a fixed distribution on the plane, sampled reproducibly from a seed. Its
*entropy* ``H(p) = -E_p[log p(x)]`` (nats) is the lowest expected negative log-likelihood any
model can reach, so ``NLL - entropy`` is the honest distance of a fit from perfect.

The recipes follow FFJORD's ``toy_data.py`` (Grathwohl et al., ICLR 2019), which the i-ResNet
paper (Behrmann et al., ICML 2019, Appendix C) uses for its 2D experiments. Where FFJORD draws
a fixed, evenly spaced grid of angles or equal counts per component (``rings``, ``pinwheel``,
``2spirals``), this module draws the same distribution i.i.d., so that a train set and a test
set drawn with different seeds are independent samples of one density. ``circles``, ``moons``
and ``swissroll`` call scikit-learn exactly as FFJORD does, with a ``random_state`` derived
from the seed.

Example:
    >>> x = sample("8gaussians", 1000, seed=0)
    >>> x.shape, x.dtype
    ((1000, 2), dtype('float32'))
    >>> round(entropy("checkerboard"), 4)
    3.4657
"""

from __future__ import annotations

import importlib
import math
import threading
from collections.abc import Callable

import numpy as np

from iresnet_core.datasets.csv_points import MAX_ABS, MAX_BYTES, MAX_ROWS, MIN_ROWS, load_csv

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
]

NAMES: tuple[str, ...] = (
    "8gaussians",
    "checkerboard",
    "rings",
    "circles",
    "moons",
    "swissroll",
    "2spirals",
    "pinwheel",
)

LABELS: dict[str, str] = {
    "8gaussians": "8 Gaussians",
    "checkerboard": "Checkerboard",
    "rings": "Rings",
    "circles": "Circles",
    "moons": "Moons",
    "swissroll": "Swiss roll",
    "2spirals": "Two spirals",
    "pinwheel": "Pinwheel",
}


# Entropy floors in nats (the table in DESIGN.md). tests/test_datasets.py recomputes each from
# the exact density and checks agreement within 0.01: checkerboard is uniform on 8 squares of
# area 4 (ln 32); 8gaussians by a grid integral (2.8319); rings and circles by a radial integral
# of the Bessel-I0 density (2.6232, 3.2681); moons, swissroll, 2spirals and pinwheel by Monte
# Carlo over quadrature densities of their recipes (2.391, 2.667, 2.644, 2.316; +-0.003).
_ENTROPY: dict[str, float] = {
    "8gaussians": 2.834,
    "checkerboard": math.log(32.0),
    "rings": 2.626,
    "circles": 3.267,
    "moons": 2.393,
    "swissroll": 2.666,
    "2spirals": 2.638,
    "pinwheel": 2.32,
}

# Square plotting boxes (xmin, xmax, ymin, ymax) that hold essentially all the mass.
_BOUNDS: dict[str, tuple[float, float, float, float]] = {
    "8gaussians": (-4.0, 4.0, -4.0, 4.0),
    "checkerboard": (-4.5, 4.5, -4.5, 4.5),
    "rings": (-3.5, 3.5, -3.5, 3.5),
    "circles": (-4.0, 4.0, -4.0, 4.0),
    "moons": (-4.0, 4.0, -4.0, 4.0),
    "swissroll": (-3.5, 3.5, -3.5, 3.5),
    "2spirals": (-4.0, 4.0, -4.0, 4.0),
    "pinwheel": (-4.5, 4.5, -4.5, 4.5),
}


# --------------------------------------------------------------------------------------------
# Samplers: each takes (n, rng) and returns float64 (n, 2).
# --------------------------------------------------------------------------------------------

_preload: threading.Thread | None = None


def preload_generators() -> threading.Thread:
    """Import scikit-learn's generators (``circles``, ``moons``, ``swissroll``) in a background
    thread, once per process, and return that thread: the import takes long enough that the first
    pick of one of those sets would otherwise wait for it. A pick during the import waits
    only for the rest of it (Python's import lock)."""
    global _preload
    if _preload is None:
        _preload = threading.Thread(
            target=importlib.import_module,
            args=("sklearn.datasets",),
            name="preload-sklearn",
            daemon=True,
        )
        _preload.start()
    return _preload


def _sklearn_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def _eight_gaussians(n: int, rng: np.random.Generator) -> np.ndarray:
    angles = np.arange(8) * (np.pi / 4.0)
    centres = 4.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    k = rng.integers(0, 8, size=n)
    x = centres[k] + 0.5 * rng.standard_normal((n, 2))
    return x / 1.414


def _checkerboard(n: int, rng: np.random.Generator) -> np.ndarray:
    x1 = rng.random(n) * 4.0 - 2.0
    x2 = rng.random(n) - rng.integers(0, 2, size=n) * 2.0 + np.floor(x1) % 2
    return np.stack([x1, x2], axis=1) * 2.0


def _rings(n: int, rng: np.random.Generator) -> np.ndarray:
    radii = np.array([1.0, 0.75, 0.5, 0.25]) * 3.0
    r = radii[rng.integers(0, 4, size=n)]
    theta = rng.random(n) * (2.0 * np.pi)
    x = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    return x + 0.08 * rng.standard_normal((n, 2))


def _circles(n: int, rng: np.random.Generator) -> np.ndarray:
    from sklearn.datasets import make_circles

    x, _ = make_circles(n_samples=n, factor=0.5, noise=0.08, random_state=_sklearn_seed(rng))
    return x * 3.0


def _moons(n: int, rng: np.random.Generator) -> np.ndarray:
    from sklearn.datasets import make_moons

    x, _ = make_moons(n_samples=n, noise=0.1, random_state=_sklearn_seed(rng))
    return x * 2.0 + np.array([-1.0, -0.2])


def _swissroll(n: int, rng: np.random.Generator) -> np.ndarray:
    from sklearn.datasets import make_swiss_roll

    x, _ = make_swiss_roll(n_samples=n, noise=1.0, random_state=_sklearn_seed(rng))
    return x[:, [0, 2]] / 5.0


def _two_spirals(n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.sqrt(rng.random(n)) * (3.0 * np.pi)  # 540 degrees
    arm = np.stack(
        [-np.cos(t) * t + rng.random(n) * 0.5, np.sin(t) * t + rng.random(n) * 0.5], axis=1
    )
    sign = np.where(rng.random(n) < 0.5, 1.0, -1.0)[:, None]
    return sign * arm / 3.0 + 0.1 * rng.standard_normal((n, 2))


def _pinwheel(n: int, rng: np.random.Generator) -> np.ndarray:
    k = rng.integers(0, 5, size=n)
    features = rng.standard_normal((n, 2)) * np.array([0.3, 0.1])
    features[:, 0] += 1.0
    angles = 2.0 * np.pi * k / 5.0 + 0.25 * np.exp(features[:, 0])
    c, s = np.cos(angles), np.sin(angles)
    # FFJORD: einsum("ti,tij->tj", features, [[c, -s], [s, c]])
    r, t = features[:, 0], features[:, 1]
    return 2.0 * np.stack([r * c + t * s, -r * s + t * c], axis=1)


_SAMPLERS: dict[str, Callable[[int, np.random.Generator], np.ndarray]] = {
    "8gaussians": _eight_gaussians,
    "checkerboard": _checkerboard,
    "rings": _rings,
    "circles": _circles,
    "moons": _moons,
    "swissroll": _swissroll,
    "2spirals": _two_spirals,
    "pinwheel": _pinwheel,
}


def _check_name(name: str) -> None:
    if name not in _SAMPLERS:
        raise ValueError(f"unknown data set {name!r}; valid names: {', '.join(NAMES)}")


def sample(name: str, n: int, seed: int = 0) -> np.ndarray:
    """Draws ``n`` points of the toy set ``name``, fully determined by ``seed``.

    Returns:
        A float32 array of shape ``(n, 2)``.

    Raises:
        ValueError: for an unknown name or ``n < 1``.

    Example:
        >>> a = sample("moons", 500, seed=1)
        >>> bool((a == sample("moons", 500, seed=1)).all())
        True
    """
    _check_name(name)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)
    return np.ascontiguousarray(_SAMPLERS[name](int(n), rng), dtype=np.float32)


def entropy(name: str) -> float | None:
    """The entropy floor of a toy set in nats: the lowest expected NLL any model can reach.

    Returns ``None`` for a name that is not a toy set (a person's own data has no known density).

    Example:
        >>> entropy("checkerboard") == math.log(32)
        True
        >>> entropy("my_upload.csv") is None
        True
    """
    return _ENTROPY.get(name)


def bounds(name: str) -> tuple[float, float, float, float]:
    """A square plotting box ``(xmin, xmax, ymin, ymax)`` holding essentially all of a toy set.

    Example:
        >>> bounds("8gaussians")
        (-4.0, 4.0, -4.0, 4.0)
    """
    _check_name(name)
    return _BOUNDS[name]


def extent(points: np.ndarray, margin: float = 0.1) -> tuple[float, float, float, float]:
    """A square box ``(xmin, xmax, ymin, ymax)`` around arbitrary 2D points (a person's own data).

    The box is centred on the points' bounding box; its side is the larger of the two spans,
    widened by ``margin`` (a fraction of the side) on each edge. Points with no spread get a
    box of side 2.

    Example:
        >>> extent(np.array([[0.0, 0.0], [2.0, 1.0]]), margin=0.0)
        (0.0, 2.0, -0.5, 1.5)
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] < 1:
        raise ValueError(f"points must have shape (n, 2) with n >= 1, got {p.shape}")
    if margin < 0 or not math.isfinite(margin):
        raise ValueError(f"margin must be a finite number >= 0, got {margin!r}")
    p = p[np.isfinite(p).all(axis=1)]
    if len(p) == 0:
        raise ValueError("points contain no finite row")
    lo, hi = p.min(axis=0), p.max(axis=0)
    centre = (lo + hi) / 2.0
    side = float((hi - lo).max())
    if side <= 0.0:
        side = 2.0
    half = side / 2.0 * (1.0 + 2.0 * margin)
    cx, cy = float(centre[0]), float(centre[1])
    return (cx - half, cx + half, cy - half, cy + half)
