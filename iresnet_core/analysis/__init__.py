"""Plain-array views of a flow for the dashboard, the CLI and the benchmarks; nothing here plots.

Every function takes a flow (an i-ResNet or Glow :class:`iresnet_core.Flow`; the i-ResNet lenses
also its frozen weights, :class:`~iresnet_core.analysis.frozen.FrozenFlow`) and points or a box,
and returns numpy arrays in small dataclasses. The flow is never trained or modified. Each concept
lives in one module:

* :mod:`~iresnet_core.analysis.density` — :func:`density_grid`, :func:`samples`,
  :func:`lipschitz_bound`, :func:`with_coeff`, :func:`warped_grid`;
* :mod:`~iresnet_core.analysis.inverse` — :func:`inverse_curves`, :func:`inverse_error_grid`;
* :mod:`~iresnet_core.analysis.logdet` — :func:`truncation_curve`, :func:`hutchinson_draws`,
  :func:`roulette_draws`, :func:`series_error_grid`, :func:`estimator_cost`,
  :func:`block_jacobians`;
* :mod:`~iresnet_core.analysis.spectral` — :func:`power_iteration_trace`, :func:`block_lipschitz`;
* :mod:`~iresnet_core.analysis.layers` — the flow block by block: :func:`walk`,
  :func:`partial_density`, :func:`move_stats`, :func:`collapse_marks`;
* :mod:`~iresnet_core.analysis.frozen` — the frozen weights they all run on, renormalised at any c;
* :mod:`~iresnet_core.analysis.grid` — the view box's grids.

All of them are importable from here: ``ic.analysis.inverse_curves(flow, x, [0.5, 0.9])``.

Example:
    >>> import iresnet_core as ic
    >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(32,)))
    >>> round(ic.analysis.density_grid(flow, (-4, 4, -4, 4), n=100).mass, 1)
    1.0
"""

from iresnet_core.analysis.density import (
    DensityGrid,
    WarpedGrid,
    density_grid,
    lipschitz_bound,
    samples,
    warped_grid,
    with_coeff,
)
from iresnet_core.analysis.frozen import AS_BUILT, FrozenFlow, freeze, param_key
from iresnet_core.analysis.grid import Box, grid_points
from iresnet_core.analysis.inverse import (
    InverseCurves,
    flow_ns,
    inverse_curves,
    inverse_error_grid,
    iterations_to_tol,
)
from iresnet_core.analysis.layers import (
    Marks,
    Moves,
    PartialDensity,
    Walk,
    angle_histogram,
    collapse_marks,
    depth_index,
    flow_blocks,
    move_stats,
    partial_density,
    partial_log_prob,
    walk,
)
from iresnet_core.analysis.logdet import (
    TruncationCurve,
    block_jacobians,
    estimator_cost,
    hutchinson_draws,
    mean_logdet,
    roulette_draws,
    series_error_grid,
    truncation_curve,
)
from iresnet_core.analysis.spectral import (
    BlockLipschitz,
    PowerTrace,
    block_lipschitz,
    power_iteration_trace,
)
from iresnet_core.ops.spectral import spectral_report

__all__ = [
    "Box",
    "DensityGrid",
    "WarpedGrid",
    "InverseCurves",
    "TruncationCurve",
    "PowerTrace",
    "BlockLipschitz",
    "AS_BUILT",
    "FrozenFlow",
    "freeze",
    "param_key",
    "grid_points",
    "density_grid",
    "samples",
    "lipschitz_bound",
    "warped_grid",
    "with_coeff",
    "inverse_curves",
    "inverse_error_grid",
    "iterations_to_tol",
    "flow_ns",
    "block_jacobians",
    "truncation_curve",
    "mean_logdet",
    "hutchinson_draws",
    "roulette_draws",
    "series_error_grid",
    "estimator_cost",
    "power_iteration_trace",
    "block_lipschitz",
    "spectral_report",
    "Walk",
    "PartialDensity",
    "Moves",
    "Marks",
    "flow_blocks",
    "depth_index",
    "walk",
    "partial_log_prob",
    "partial_density",
    "move_stats",
    "angle_histogram",
    "collapse_marks",
]
