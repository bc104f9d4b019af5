"""What one redraw of one model shows: its density on a grid, samples through its inverse, and
the inverse's report, computed together at one training step (:func:`compute_view`).

:class:`dashboard.state.Playground` decides when a view is due (once per step, or every so often
while playing); this module only computes one. No Streamlit import.

A view of a flow that has not trained yet (step 0: a pre-trained checkpoint as loaded, a model as
built) is the same in every session that shows those weights, so :func:`shared_view` computes it
once per process: a new session's first charts then cost no grid (docs/benchmarks.md, "Time to
first chart").

Example:
    >>> import iresnet_core as ic
    >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16, 16)))
    >>> v = compute_view(flow, 0, (-4.0, 4.0, -4.0, 4.0), grid=50, n_samples=100)
    >>> v.density.shape, v.samples.shape, 0.9 < v.mass < 1.01
    ((50, 50), (100, 2), True)
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

import iresnet_core as ic
from iresnet_core.analysis.frozen import param_key
from iresnet_core.datasets.scaling import IDENTITY, Scaling

__all__ = ["View", "compute_view", "shared_view", "SHARED_VIEWS"]

#: step-0 views kept by :func:`shared_view` (the most recently used)
SHARED_VIEWS = 16
_shared: OrderedDict[tuple, View] = OrderedDict()
_shared_lock = threading.Lock()
_computing: dict[tuple, threading.Lock] = {}


@dataclass
class View:
    """What one redraw of one model shows: the density grid and samples at a given step."""

    step: int
    xs: np.ndarray
    ys: np.ndarray
    density: np.ndarray
    samples: np.ndarray
    mass: float
    lip: float
    inverse_iterations: int
    inverse_converged: bool
    inverse_diverged: bool
    seconds: float
    key: tuple = ()
    made_at: float = 0.0


def compute_view(
    flow: Any,
    step: int,
    bounds: tuple[float, float, float, float],
    grid: int,
    n_samples: int,
    key: tuple = (),
    scaling: Scaling = IDENTITY,
) -> View:
    """The density grid (exact, :func:`iresnet_core.analysis.density_grid`), ``n_samples`` samples
    through the fixed-point inverse and the Lipschitz bound of ``flow`` at ``step``.

    ``bounds``, the grid, the density and the samples are in the data's own units: a flow that
    trains on standardised points (``scaling``) is evaluated on the grid mapped into its units and
    its density converted back with the map's log-det
    (:class:`iresnet_core.datasets.Scaling`).

    An unconstrained ResNet may not invert: the view then has no samples and says the inverse
    diverged, rather than failing the redraw.
    """
    t0 = time.perf_counter()
    dens = ic.analysis.density_grid(flow, scaling.transform_box(bounds), n=grid)
    try:
        samples, info = ic.analysis.samples(flow, n=n_samples, seed=0)
        samples = np.asarray(scaling.inverse(samples), dtype=np.float32)
        iters = int(getattr(info, "iterations", 0))
        conv = bool(getattr(info, "converged", True))
        div = bool(getattr(info, "diverged", False))
    except Exception:  # an unconstrained ResNet may not invert: show no samples, say so
        samples, iters, conv, div = np.zeros((0, 2), np.float32), 0, False, True
    try:
        lip = float(ic.analysis.lipschitz_bound(flow))
    except Exception:
        lip = float("nan")
    axes = scaling.inverse(np.stack([dens.xs, dens.ys], axis=1)).astype(np.asarray(dens.xs).dtype)
    return View(
        step=step,
        xs=axes[:, 0],  # the grid's axes in the data's own units
        ys=axes[:, 1],
        density=np.asarray(scaling.density(dens.density), dtype=np.float32),
        samples=samples,
        mass=float(getattr(dens, "mass", float("nan"))),
        lip=lip,
        inverse_iterations=iters,
        inverse_converged=conv,
        inverse_diverged=div,
        seconds=time.perf_counter() - t0,
        key=key,
        made_at=time.perf_counter(),
    )


def shared_view(
    flow: Any,
    step: int,
    bounds: tuple[float, float, float, float],
    grid: int,
    n_samples: int,
    key: tuple = (),
    scaling: Scaling = IDENTITY,
) -> View:
    """:func:`compute_view`, computed once per process for a flow at step 0 in the data's own
    units: keyed by the flow's numbers (:func:`iresnet_core.analysis.frozen.param_key`, config,
    parameters and buffers), the box, the grid and the number of samples, so that two sessions
    share a view only where :func:`compute_view` would give both the same. Its arrays are
    read-only (shared between sessions); ``key`` and ``made_at`` are the caller's. Any other view
    is computed afresh.

    Example:
        >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16, 16)))
        >>> a = shared_view(flow, 0, (-4.0, 4.0, -4.0, 4.0), grid=20, n_samples=10, key=("a",))
        >>> b = shared_view(flow, 0, (-4.0, 4.0, -4.0, 4.0), grid=20, n_samples=10, key=("b",))
        >>> a.density is b.density, b.key, a.density.flags.writeable
        (True, ('b',), False)
    """
    if step != 0 or not scaling.is_identity:
        return compute_view(flow, step, bounds, grid, n_samples, key, scaling)
    content = (param_key(flow), tuple(map(float, bounds)), int(grid), int(n_samples))
    with _shared_lock:
        hit = _shared.get(content)
        if hit is not None:
            _shared.move_to_end(content)
        # one computation per view: a second session (or the server's warm-up) waits for it
        computing = _computing.setdefault(content, threading.Lock())
    if hit is None:
        with computing:
            with _shared_lock:
                hit = _shared.get(content)
            if hit is None:
                hit = compute_view(flow, step, bounds, grid, n_samples, (), scaling)
                for a in (hit.xs, hit.ys, hit.density, hit.samples):
                    a.setflags(write=False)
                with _shared_lock:
                    _shared[content] = hit
                    while len(_shared) > SHARED_VIEWS:
                        _shared.popitem(last=False)
    with _shared_lock:
        _computing.pop(content, None)
    return replace(hit, key=key, made_at=time.perf_counter())
