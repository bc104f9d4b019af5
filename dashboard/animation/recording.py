"""A run recorded for an animation: the data every rendering draws from (defined here only).

:func:`record` trains a :class:`dashboard.state.Playground` through its own
:meth:`~dashboard.state.Playground.step` and draws through its
:meth:`~dashboard.state.Playground.view` (the page's own training and views, no second loop),
keeping one :class:`Frame` per ``every`` steps (:func:`frame_count` in all): one :class:`Panel`
per shown model, its density on the grid and at most :data:`MAX_SAMPLES` of its samples. A
:class:`Recording` is plain numpy (no Streamlit, no torch): :mod:`.raster` and :mod:`.html` draw
it, and every step that takes a while reports to a :data:`Progress` callback (:func:`quiet`, the
one that tells no one, when none is given).

Example:
    >>> import numpy as np
    >>> xs = np.linspace(-4, 4, 5)
    >>> dens = np.ones((5, 5), np.float32)
    >>> rec = Recording("demo", (-4.0, 4.0, -4.0, 4.0), xs, xs,
    ...                 [Frame((Panel("iresnet", s, dens, np.zeros((3, 2))),)) for s in (0, 10)])
    >>> rec.models, [f.panels[0].step for f in rec.frames], frame_count(10, 10)
    (('iresnet',), [0, 10], 2)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Panel",
    "Frame",
    "Recording",
    "Progress",
    "MAX_SAMPLES",
    "quiet",
    "frame_count",
    "record",
]

#: what one callback hears: the fraction done in [0, 1] and a line for the progress bar
Progress = Callable[[float, str], None]
MAX_SAMPLES = 1000  #: samples drawn per model and frame


@dataclass(frozen=True)
class Panel:
    """One model at one recorded step: its density on the recording's grid and its samples.

    Attributes:
        model: ``"iresnet"`` or ``"glow"``.
        step: the model's training step.
        density: ``density[i, j] = p(xs[j], ys[i])``, float32.
        samples: ``(n, 2)`` samples through the model's inverse (may be empty).
    """

    model: str
    step: int
    density: np.ndarray
    samples: np.ndarray


@dataclass(frozen=True)
class Frame:
    """What the animation shows at one moment: one :class:`Panel` per shown model."""

    panels: tuple[Panel, ...]


@dataclass
class Recording:
    """A recorded run: the view box, the density grid's coordinates and the frames."""

    dataset: str
    bounds: tuple[float, float, float, float]
    xs: np.ndarray
    ys: np.ndarray
    frames: list[Frame] = field(default_factory=list)

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(p.model for p in self.frames[0].panels) if self.frames else ()


def quiet(fraction: float, text: str) -> None:
    """The progress callback that tells no one."""


def frame_count(steps: int, every: int) -> int:
    """Frames in a recording of ``steps`` steps drawn every ``every``: the start, then one after
    each ``every`` steps (and one after a last, shorter stretch).

    Example:
        >>> frame_count(200, 10), frame_count(205, 10), frame_count(0, 10)
        (21, 22, 1)
    """
    if every < 1 or steps < 0:
        raise ValueError(f"need steps >= 0 and every >= 1, got {steps}, {every}")
    return 1 + math.ceil(steps / every)


def record(pg: Any, steps: int, every: int, progress: Progress | None = None) -> Recording:
    """Train ``pg``'s shown models ``steps`` more steps, keeping a :class:`Frame` at the start and
    after every ``every`` steps (:func:`frame_count` frames in all).

    ``pg`` is a :class:`dashboard.state.Playground`: training is its :meth:`step` (the page's
    trainers, step sizes and safeguards), the densities and samples its :meth:`view`. A model that
    paused itself (divergence) stays at its step; the frames go on.
    """
    progress = progress or quiet
    total = frame_count(steps, every)
    frames = [_snapshot(pg)]
    progress(1 / total, f"recording: frame 1 of {total}")
    done = 0
    while done < steps:
        k = min(every, steps - done)
        pg.step(k)
        done += k
        frames.append(_snapshot(pg))
        progress(len(frames) / total, f"recording: frame {len(frames)} of {total}")
    view = pg.shown_runs[0].view if pg.shown_runs else None
    xs = view.xs if view is not None else np.linspace(*pg.bounds[:2], 2)
    ys = view.ys if view is not None else np.linspace(*pg.bounds[2:], 2)
    return Recording(_dataset_title(pg), tuple(float(b) for b in pg.bounds), xs, ys, frames)


def _dataset_title(pg: Any) -> str:
    from dashboard.settings import dataset_label

    name = dataset_label(pg.dataset)
    user = getattr(pg, "user_name", None)
    return f"{name} ({user})" if pg.dataset == "custom" and user else name


def _snapshot(pg: Any) -> Frame:
    panels = []
    for run in pg.shown_runs:
        v = pg.view(run)
        panels.append(
            Panel(
                run.model,
                int(run.step),
                np.asarray(v.density, dtype=np.float32),
                np.asarray(v.samples, dtype=np.float32).reshape(-1, 2)[:MAX_SAMPLES],
            )
        )
    return Frame(tuple(panels))
