"""Labelled 2D data for classification, the discriminative side of the i-ResNet paper.

Behrmann et al. (ICML 2019, Sec. 5) show that an invertible ResNet classifies as well as a
plain ResNet; in 2D this is watched on four binary problems: two moons, two concentric
circles, two interleaved spirals and XOR. Every set is balanced (the class counts differ by
at most one), fits in about ``[-3, 3]^2`` and is fully determined by its seed. ``noise`` is
the standard deviation of isotropic Gaussian noise in the output coordinates.

Example:
    >>> x, y = make("moons", 200, noise=0.1, seed=0)
    >>> x.shape, x.dtype, y.dtype, int(y.sum())
    ((200, 2), dtype('float32'), dtype('int64'), 100)
    >>> x_tr, y_tr, x_te, y_te = split(x, y, test_fraction=0.25, seed=0)
    >>> len(x_tr), len(x_te)
    (150, 50)
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["CLASS_NAMES", "CLASS_LABELS", "make", "split"]

CLASS_NAMES: tuple[str, ...] = ("moons", "circles", "spirals", "xor")

CLASS_LABELS: dict[str, str] = {
    "moons": "Two moons",
    "circles": "Circles",
    "spirals": "Two spirals",
    "xor": "XOR",
}


def _moons(theta: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # class 0: upper half circle; class 1: the lower one shifted by (1, 0.5) (sklearn's layout),
    # centred on the origin and scaled by 2: about [-3, 3] x [-1.5, 1.5].
    t = theta * np.pi
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    x = np.where(y[:, None] == 0, upper, lower)
    return (x - np.array([0.5, 0.25])) * 2.0


def _circles(theta: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # class 0: outer circle of radius 2.5; class 1: inner circle of radius 1.25.
    t = theta * 2.0 * np.pi
    r = np.where(y == 0, 2.5, 1.25)
    return r[:, None] * np.stack([np.cos(t), np.sin(t)], axis=1)


def _spirals(theta: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # class 0: an arm of 540 degrees, r = t / pi; class 1: the arm rotated by 180 degrees.
    t = 0.25 * np.pi + np.sqrt(theta) * (2.75 * np.pi)  # uniform along the arc, roughly
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / np.pi
    return np.where(y[:, None] == 0, arm, -arm)


def _xor(theta: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # label 1 exactly where x1 * x2 < 0; |x_i| ~ U[0.1, 3] keeps points off the axes.
    mag = rng.uniform(0.1, 3.0, size=(len(y), 2))
    s1 = np.where(rng.random(len(y)) < 0.5, 1.0, -1.0)
    s2 = np.where(y == 0, s1, -s1)
    return mag * np.stack([s1, s2], axis=1)


_MAKERS = {"moons": _moons, "circles": _circles, "spirals": _spirals, "xor": _xor}


def make(name: str, n: int, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draws ``n`` labelled points of the binary problem ``name``.

    Returns:
        ``(x, y)``: float32 points of shape ``(n, 2)`` and int64 labels in ``{0, 1}`` of shape
        ``(n,)``, in random order, ``n // 2`` or ``n - n // 2`` of each class.

    Raises:
        ValueError: for an unknown name, ``n < 2`` or a negative or non-finite ``noise``.

    Example:
        >>> x, y = make("xor", 100, noise=0.0, seed=1)
        >>> bool(((x[:, 0] * x[:, 1] < 0) == (y == 1)).all())
        True
    """
    if name not in _MAKERS:
        raise ValueError(
            f"unknown classification set {name!r}; valid names: {', '.join(CLASS_NAMES)}"
        )
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (both classes), got {n!r}")
    if (
        not isinstance(noise, (int, float, np.floating, np.integer))
        or not math.isfinite(noise)
        or noise < 0
    ):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    n = int(n)
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 2).astype(np.int64)
    theta = rng.random(n)
    x = _MAKERS[name](theta, y, rng)
    if noise > 0:
        x = x + float(noise) * rng.standard_normal((n, 2))
    return np.ascontiguousarray(x, dtype=np.float32), y


def split(
    x: np.ndarray, y: np.ndarray, test_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A stratified random split into train and test sets: each class is split in proportion.

    Returns:
        ``(x_train, y_train, x_test, y_test)``; the test set holds ``round(n * test_fraction)``
        points (at least one, and at least one point stays for training).

    Raises:
        ValueError: for ``test_fraction`` outside ``(0, 1)``, mismatched lengths or ``n < 2``.

    Example:
        >>> x, y = make("circles", 10, noise=0.0, seed=0)
        >>> [a.shape for a in split(x, y, 0.3, seed=0)]
        [(7, 2), (7,), (3, 2), (3,)]
    """
    try:
        frac = float(test_fraction)
    except (TypeError, ValueError):
        raise ValueError(
            f"test_fraction must be a number in (0, 1), got {test_fraction!r}"
        ) from None
    if not 0.0 < frac < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    x = np.asarray(x)
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} and {len(y)}")
    n = len(y)
    if n < 2:
        raise ValueError(f"need at least 2 points to split, got {n}")
    n_test = min(max(int(round(n * frac)), 1), n - 1)

    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    # largest-remainder allocation of n_test over the classes, proportional to their sizes
    quota = counts * (n_test / n)
    take = np.floor(quota).astype(int)
    order = np.argsort(-(quota - take), kind="stable")
    take[order[: n_test - take.sum()]] += 1
    test_idx = []
    for c, k in zip(classes, take):
        idx = np.flatnonzero(y == c)
        test_idx.append(rng.permutation(idx)[:k])
    is_test = np.zeros(n, dtype=bool)
    is_test[np.concatenate(test_idx)] = True
    train = rng.permutation(np.flatnonzero(~is_test))
    test = rng.permutation(np.flatnonzero(is_test))
    return x[train], y[train], x[test], y[test]
