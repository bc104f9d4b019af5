"""Steps per second of Play: what a person watching the step counter sees.

The trainer reports its rate inside a burst (``steps_per_s``); a playing page also redraws the
charts and the browser renders them between bursts, so the counter advances more slowly than
that. :class:`PlayRate` measures the counter itself against the wall clock over the last few
seconds of uninterrupted Play, and over the same window the trainer's own rate (steps per second
of training time). Play and Pause start a fresh window (:meth:`PlayRate.reset`); so do a counter
or a training time that went back (a reset model) and a gap longer than ``max_gap_s`` between
ticks.

Example:
    >>> r = PlayRate()
    >>> r.add(0.0, 0, 0.0); r.add(0.5, 10, 0.25); r.add(1.0, 20, 0.5)
    >>> r.per_s(), r.trainer_per_s()
    (20.0, 40.0)
    >>> r.add(20.0, 25, 0.6); r.per_s() is None  # after a long gap: a new window, one point
    True
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

__all__ = ["PlayRate"]


@dataclass
class PlayRate:
    """The step counter against the wall clock over the last ``window_s`` seconds of Play."""

    window_s: float = 5.0
    max_gap_s: float = 10.0  #: Play and Pause reset the window themselves; this catches the rest
    min_span_s: float = 0.5  #: no rate before the window spans this long
    points: deque = field(default_factory=deque)  #: (time in s, step, training time so far in s)

    def add(self, t: float, step: int, trained_s: float) -> None:
        """Record the counter after a tick at time ``t`` (seconds, any monotonic clock), with the
        trainer's total training time ``trained_s``."""
        if self.points and (
            t - self.points[-1][0] > self.max_gap_s
            or step < self.points[-1][1]
            or trained_s < self.points[-1][2]
        ):
            self.points.clear()
        self.points.append((t, step, trained_s))
        while len(self.points) > 2 and t - self.points[1][0] >= self.window_s:
            self.points.popleft()

    def reset(self) -> None:
        self.points.clear()

    def per_s(self) -> float | None:
        """Steps per second over the window; ``None`` until it spans ``min_span_s``."""
        return self._ratio(0)

    def trainer_per_s(self) -> float | None:
        """Steps per second of training time over the same window (redraws left out)."""
        return self._ratio(2)

    def _ratio(self, clock: int) -> float | None:
        if len(self.points) < 2:
            return None
        first, last = self.points[0], self.points[-1]
        if last[0] - first[0] < self.min_span_s or last[clock] <= first[clock]:
            return None
        return (last[1] - first[1]) / (last[clock] - first[clock])
