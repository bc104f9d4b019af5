"""The data plane as the analysis samples it: a view box, an n x n grid over it, straight grid
lines.

Example:
    >>> xs, ys, pts = grid_points((-4, 4, -4, 4), 3)
    >>> pts.shape, grid_lines((-1, 1, -1, 1), n_lines=2, n_points=5).shape
    ((9, 2), (4, 5, 2))
"""

from __future__ import annotations

import numpy as np

__all__ = ["Box", "grid_points", "grid_lines"]

#: ``(xmin, xmax, ymin, ymax)``
Box = tuple[float, float, float, float]


def grid_points(bounds: Box, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(xs, ys, points)``: an n x n grid over ``bounds``; ``points[i * n + j] = (xs[j],
    ys[i])``."""
    xmin, xmax, ymin, ymax = bounds
    if not (xmax > xmin and ymax > ymin):
        raise ValueError(f"bounds must satisfy xmin < xmax and ymin < ymax, got {bounds}")
    if n < 2:
        raise ValueError(f"grid size must be >= 2, got {n}")
    xs = np.linspace(xmin, xmax, n, dtype=np.float32)
    ys = np.linspace(ymin, ymax, n, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)
    return xs, ys, np.stack([gx.ravel(), gy.ravel()], axis=1)


def grid_lines(bounds: Box, n_lines: int, n_points: int) -> np.ndarray:
    """``n_lines`` vertical then ``n_lines`` horizontal lines across ``bounds``, ``n_points``
    points each: shape ``(2 * n_lines, n_points, 2)``, float32."""
    xmin, xmax, ymin, ymax = bounds
    t = np.linspace(0, 1, n_points, dtype=np.float32)
    lines = [
        np.stack([np.full_like(t, v), ymin + t * (ymax - ymin)], 1)
        for v in np.linspace(xmin, xmax, n_lines, dtype=np.float32)
    ]
    lines += [
        np.stack([xmin + t * (xmax - xmin), np.full_like(t, v)], 1)
        for v in np.linspace(ymin, ymax, n_lines, dtype=np.float32)
    ]
    return np.stack(lines).astype(np.float32)
