"""A bounded record of training curves: old points are thinned, never the newest.

A live session may train for hours; its curves must not grow without limit. :class:`History`
keeps at most ``max_points`` rows: when full, it drops every other row of the older half, so
the start of the run stays visible at a coarser resolution and the recent part stays exact.

Example:
    >>> h = History(("step", "loss"), max_points=100)
    >>> for i in range(1000):
    ...     h.append(step=i, loss=1.0 / (i + 1))
    >>> len(h) <= 100
    True
"""

from __future__ import annotations

__all__ = ["History"]


class History:
    """Columns of equal length, bounded by ``max_points``."""

    def __init__(self, columns: tuple[str, ...], max_points: int = 2000) -> None:
        if max_points < 4:
            raise ValueError("max_points must be at least 4")
        self.columns = tuple(columns)
        self.max_points = max_points
        self._data: dict[str, list[float]] = {c: [] for c in self.columns}

    def __len__(self) -> int:
        return len(self._data[self.columns[0]])

    def append(self, **row: float) -> None:
        """Add one row; every column must be given."""
        missing = set(self.columns) - set(row)
        if missing:
            raise ValueError(f"missing columns: {sorted(missing)}")
        for c in self.columns:
            self._data[c].append(float(row[c]))
        if len(self) > self.max_points:
            self._thin()

    def _thin(self) -> None:
        half = len(self) // 2
        for c in self.columns:
            col = self._data[c]
            self._data[c] = col[:half:2] + col[half:]

    def as_dict(self) -> dict[str, list[float]]:
        """A copy of the columns."""
        return {c: list(v) for c, v in self._data.items()}

    def __getitem__(self, column: str) -> list[float]:
        return self._data[column]
