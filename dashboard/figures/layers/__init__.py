"""Figures of the Layers page: each model's point cloud block by block, the partial densities,
the paths through every layer, and the measured moves behind the seed's claim about Glow.

Pure functions from numpy arrays to plotly figures (no torch, no Streamlit, no core import). The
arrays come from :mod:`iresnet_core.analysis.layers`: the clouds after every block, each point's
path through every layer, the direction and length of each block's move. One module per concept;
this package re-exports their public names, so ``from dashboard.figures.layers import X`` reads
as before:

* :mod:`.plane` — what every panel of the plane shares: the hue a point keeps
  (:func:`start_hue`, :data:`HUE_SCALE`), the fixed view (:func:`view_box`), the standard
  Gaussian's contours (:data:`GAUSS_RADII`), the end every flow aims at;
* :mod:`.clouds` — :func:`cloud_figure`: the clouds of the models side by side at one depth;
* :mod:`.animation` — :func:`depth_animation`: the same as a plotly animation over every depth;
* :mod:`.paths` — :func:`paths_figure`: trajectories as lines, folds and collapses marked;
* :mod:`.moves` — :func:`angle_figure`: the direction of the moves per model, as a rose, with
  the share of moves that change one coordinate only; :func:`movement_figure`: distance moved
  and that share against depth.

Example:
    >>> for f in (cloud_figure, depth_animation, paths_figure, angle_figure):
    ...     print(f.__module__)
    dashboard.figures.layers.clouds
    dashboard.figures.layers.animation
    dashboard.figures.layers.paths
    dashboard.figures.layers.moves
"""

from __future__ import annotations

from .animation import depth_animation
from .clouds import Panel, cloud_figure, cloud_table
from .moves import Rose, Series, angle_figure, angle_table, movement_figure, movement_table
from .paths import COLLAPSE_COLOR as COLLAPSE_COLOR
from .paths import FOLD_COLOR as FOLD_COLOR
from .paths import Track, paths_figure, paths_table
from .plane import GAUSS_RADII, HUE_SCALE, start_hue, view_box

__all__ = [
    "HUE_SCALE",
    "GAUSS_RADII",
    "Panel",
    "Track",
    "Rose",
    "Series",
    "start_hue",
    "view_box",
    "cloud_figure",
    "cloud_table",
    "depth_animation",
    "paths_figure",
    "paths_table",
    "angle_figure",
    "angle_table",
    "movement_figure",
    "movement_table",
]
