"""What one redraw of one model shows: its density on a grid, samples through its inverse, and
the inverse's report, computed together at one training step (:func:`compute_view`).

:class:`dashboard.state.Playground` decides when a view is due (once per step, or every so often
while playing); this module only computes one. No Streamlit import.

Example:
    >>> import iresnet_core as ic
    >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16, 16)))
    >>> v = compute_view(flow, 0, (-4.0, 4.0, -4.0, 4.0), grid=50, n_samples=100)
    >>> v.density.shape, v.samples.shape, 0.9 < v.mass < 1.01
    ((50, 50), (100, 2), True)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

import iresnet_core as ic
from iresnet_core.datasets.scaling import IDENTITY, Scaling

__all__ = ["View", "compute_view"]


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
