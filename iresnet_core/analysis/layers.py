"""The flow block by block: the point cloud, the partial density and the moves at every depth.

A flow ``f = f_K o ... o f_1`` carries the data to the standard Gaussian one block at a time. Here
a *block* is what the models repeat: for the i-ResNet the residual block ``x + g(x)`` and the
ActNorm after it (Behrmann et al. 2019, Sec. 3 and Appendix C); for Glow one step, ActNorm, the
LU linear map and the affine coupling (Kingma & Dhariwal 2018, Sec. 3). Each block has one
nonlinear layer, its *move*: ``g(x)`` for the residual block, ``y - x`` of the coupling (the
coupling's shift) for Glow. Depth ``k`` of a flow of ``K`` blocks sits at fraction ``k / K``, so
two models of different depths compare at :func:`depth_index` of the same fraction.

* :func:`flow_blocks` — the layers grouped into blocks; :func:`depth_index` — fraction to block.
* :func:`walk` and :class:`Walk` — points through every layer, with every layer's exact log-det:
  the cloud after block ``k``, trajectories, and the partial density at the points.
* :func:`partial_log_prob` and :func:`partial_density` — the density of the partial flow
  ``f_k o ... o f_1`` with the standard normal base, ``log p_k(x) = log N(f_{1..k}(x)) +
  sum_{j <= k} log |det J_{f_j}|`` (the change of variables, eq. 1 of the paper, through the first
  k blocks, exact log-dets): a density on the data plane at every depth, ``p_K = p``.
* :func:`move_stats` and :class:`Moves` — per block the direction of each point's move, the share
  of moves that change one coordinate only, and how far the block moves the points;
  :func:`angle_histogram` bins the directions around the axes.
* :func:`collapse_marks` and :class:`Marks` — for an unconstrained ResNet: pairs of points brought
  closer by a residual block than any block with ``Lip(g) <= c`` can bring them (``1 - c``,
  paper Lemma 2's bound on the inverse), and folds, ``det J <= 0``.

The flow is never trained or modified; every forward is the exact one of
:meth:`~iresnet_core.flows.layers.FlowLayer.prepared`.

Example:
    >>> import iresnet_core as ic, torch
    >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=3, hidden=(16,))).eval()
    >>> w = walk(flow, torch.randn(5, 2))
    >>> w.n_blocks, w.clouds.shape, [len(b) for b in flow_blocks(flow)]
    (3, (4, 5, 2), [2, 2, 2])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from iresnet_core.analysis.grid import Box, grid_points
from iresnet_core.flows.actnorm import ActNorm
from iresnet_core.flows.flow import Flow, standard_normal_log_prob
from iresnet_core.flows.glow import AffineCoupling, InvertibleLinearLU
from iresnet_core.flows.iresnet import InvertibleResidualBlock
from iresnet_core.flows.layers import FlowLayer
from iresnet_core.training.threads import torch_threads

__all__ = [
    "MOVE_ULPS",
    "MARK_COEFF",
    "flow_blocks",
    "depth_index",
    "layer_kind",
    "Walk",
    "walk",
    "partial_log_prob",
    "PartialDensity",
    "partial_density",
    "Moves",
    "move_stats",
    "angle_histogram",
    "Marks",
    "collapse_marks",
]

#: A coordinate counts as moved when it changes by more than this many units in the last place of
#: its own value (see :func:`move_stats`).
MOVE_ULPS = 4
#: The coefficient whose bound ``1 - c`` marks a collapse when the flow itself has none (the
#: paper's toy setting and the library's default).
MARK_COEFF = 0.9

_NONLINEAR = (InvertibleResidualBlock, AffineCoupling)


def layer_kind(layer: FlowLayer) -> str:
    """``"residual"``, ``"coupling"``, ``"actnorm"``, ``"linear"`` or the class name."""
    for cls, name in (
        (InvertibleResidualBlock, "residual"),
        (AffineCoupling, "coupling"),
        (ActNorm, "actnorm"),
        (InvertibleLinearLU, "linear"),
    ):
        if isinstance(layer, cls):
            return name
    return type(layer).__name__


def flow_blocks(flow: Flow) -> list[list[FlowLayer]]:
    """The flow's layers grouped into blocks, in forward order.

    A residual block starts a block (the ActNorm after it belongs to it: ``[residual, actnorm]``);
    a coupling ends one (a Glow step: ``[actnorm, linear, coupling]``). Either way every block
    holds one nonlinear layer, and the blocks together are ``flow.layers``.

    Example:
        >>> import iresnet_core as ic
        >>> g = ic.build_flow(ic.FlowConfig(model="glow", n_blocks=2, hidden=(8,)))
        >>> [[layer_kind(layer) for layer in b] for b in flow_blocks(g)]
        [['actnorm', 'linear', 'coupling'], ['actnorm', 'linear', 'coupling']]
    """
    groups: list[list[FlowLayer]] = []
    current: list[FlowLayer] = []
    for layer in flow.layers:
        if isinstance(layer, InvertibleResidualBlock) and current:
            groups.append(current)
            current = []
        current.append(layer)
        if isinstance(layer, AffineCoupling):
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def depth_index(fraction: float, n_blocks: int) -> int:
    """The block count ``k`` (0 = the data, ``n_blocks`` = the latent) nearest to ``fraction`` of
    the depth, so that two models of different depths are shown at comparable depths.

    Example:
        >>> depth_index(0.5, 32), depth_index(0.5, 8), depth_index(1.0, 5)
        (16, 4, 5)
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"a depth fraction lies in [0, 1], got {fraction}")
    return int(math.floor(fraction * n_blocks + 0.5))


def _as_tensor(flow: Flow, x: np.ndarray | Tensor) -> Tensor:
    dtype = next(flow.parameters()).dtype
    return torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x, dtype=dtype)


def _logdet(ld: Tensor | float, n: int) -> Tensor:
    """A prepared layer's log-det as a float64 column of ``n`` (a float is the same for all)."""
    if isinstance(ld, Tensor):
        return ld.to(torch.float64).expand(n)
    return torch.full((n,), float(ld), dtype=torch.float64)


@dataclass
class Walk:
    """Points carried through a flow, layer by layer.

    Attributes:
        points: ``(L + 1, B, d)``, the points after every layer (``points[0]`` the input), in the
            flow's own dtype (float32), so the moves are those the flow computes.
        logdets: ``(L, B)`` float64, every layer's exact ``log |det J|``.
        ends: ``(K + 1,)`` layer counts: block ``k`` ends after ``ends[k]`` layers (``ends[0] =
            0``), so the cloud after block ``k`` is ``points[ends[k]]``.
        main: ``(K,)`` the index in ``layers`` of each block's nonlinear layer.
        kinds: per layer, :func:`layer_kind`.
        model: ``"iresnet"`` or ``"glow"``.
    """

    points: np.ndarray
    logdets: np.ndarray
    ends: np.ndarray
    main: np.ndarray
    kinds: tuple[str, ...]
    model: str

    @property
    def n_blocks(self) -> int:
        return len(self.ends) - 1

    @property
    def clouds(self) -> np.ndarray:
        """``(K + 1, B, d)``: the cloud after every block, the input first."""
        return self.points[self.ends]

    def cloud(self, k: int) -> np.ndarray:
        """``(B, d)``: the points after the first ``k`` blocks."""
        return self.points[self.ends[k]]

    @property
    def block_logdets(self) -> np.ndarray:
        """``(K, B)``: each block's ``log |det J|`` (its layers' summed)."""
        cum = self.cumulative_logdets
        return np.diff(cum, axis=0)

    @property
    def cumulative_logdets(self) -> np.ndarray:
        """``(K + 1, B)``: ``sum_{j <= k} log |det J_{f_j}|`` (0 at depth 0)."""
        cum = np.concatenate([np.zeros((1, self.logdets.shape[1])), np.cumsum(self.logdets, 0)])
        return cum[self.ends]

    def log_prob(self, k: int | None = None) -> np.ndarray:
        """``log p_k`` at the input points (``k = None``: every depth, ``(K + 1, B)``); see
        :func:`partial_log_prob`. At ``k = K`` it is the flow's ``log_prob``."""
        z = torch.from_numpy(self.clouds.astype(np.float64))
        lp = standard_normal_log_prob(z).numpy() + self.cumulative_logdets
        return lp if k is None else lp[k]

    @property
    def moves(self) -> np.ndarray:
        """``(K, B, d)``: each block's move, ``y - x`` of its nonlinear layer (``g(x)`` for a
        residual block, the shift of the transformed coordinate for a coupling)."""
        return self.points[self.main + 1] - self.points[self.main]

    @property
    def move_inputs(self) -> np.ndarray:
        """``(K, B, d)``: where each block's nonlinear layer meets the points."""
        return self.points[self.main]


@torch.inference_mode()
def walk(flow: Flow, x: np.ndarray | Tensor) -> Walk:
    """``x`` through every layer of ``flow`` with the exact log-dets, everything kept.

    For a few hundred points (trajectories, clouds, moves); a density grid takes
    :func:`partial_log_prob`, which keeps only the running sums.

    Example:
        >>> import iresnet_core as ic, torch
        >>> flow = ic.build_flow(ic.FlowConfig(model="glow", n_blocks=2, hidden=(8,))).eval()
        >>> w = walk(flow, torch.randn(4, 2))
        >>> w.points.shape, w.ends.tolist(), w.main.tolist(), w.kinds[:3]
        ((7, 4, 2), [0, 3, 6], [2, 5], ('actnorm', 'linear', 'coupling'))
    """
    h = _as_tensor(flow, x)
    blocks = flow_blocks(flow)
    points, lds, ends, main, kinds = [h.numpy().copy()], [], [0], [], []
    for block in blocks:
        for layer in block:
            if isinstance(layer, _NONLINEAR):
                main.append(len(kinds))
            h, ld = layer.prepared()(h)
            points.append(h.numpy().copy())
            lds.append(_logdet(ld, h.shape[0]).numpy())
            kinds.append(layer_kind(layer))
        ends.append(len(kinds))
    if len(main) != len(blocks):
        raise ValueError("every block needs one residual block or coupling to measure its move")
    return Walk(
        np.stack(points),
        np.stack(lds) if lds else np.zeros((0, h.shape[0])),
        np.array(ends),
        np.array(main, dtype=int),
        tuple(kinds),
        flow.cfg.model,
    )


@torch.inference_mode()
def partial_log_prob(flow: Flow, x: np.ndarray | Tensor, chunk: int = 20000) -> np.ndarray:
    """``log p_k(x)`` for every depth ``k = 0..K``, shape ``(K + 1, B)``, float64.

    ``p_k`` is the density of the partial flow ``f_{1..k} = f_k o ... o f_1`` with the standard
    normal base: ``log p_k(x) = log N(f_{1..k}(x); 0, I) + sum_{j <= k} log |det J_{f_j}|``, the
    change of variables (Behrmann et al. 2019, eq. 1) through the first ``k`` blocks with every
    log-det exact. ``p_0`` is the standard normal itself and ``p_K`` the model's density; each
    ``p_k`` integrates to 1 because ``f_{1..k}`` is invertible. One pass through the layers, in
    chunks of at most ``chunk`` points, keeping only the running sums, on one torch thread: a
    pass of many small operations waits at every parallel barrier for a core another process
    holds (:mod:`iresnet_core.training.threads`).

    Example:
        >>> import iresnet_core as ic, torch
        >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16,))).eval()
        >>> x = torch.randn(3, 2)
        >>> lp = partial_log_prob(flow, x)
        >>> lp.shape, bool(np.allclose(lp[-1], flow.log_prob(x).detach().numpy(), atol=1e-5))
        ((3, 3), True)
    """
    with torch_threads(1):
        return _partial_log_prob(flow, _as_tensor(flow, x), chunk)


def _partial_log_prob(flow: Flow, h_all: Tensor, chunk: int) -> np.ndarray:
    blocks = [[layer.prepared() for layer in block] for block in flow_blocks(flow)]
    out = np.empty((len(blocks) + 1, h_all.shape[0]))
    for a in range(0, h_all.shape[0], chunk):
        h = h_all[a : a + chunk]
        cum = torch.zeros(h.shape[0], dtype=torch.float64)
        out[0, a : a + chunk] = standard_normal_log_prob(h.to(torch.float64)).numpy()
        for k, block in enumerate(blocks, start=1):
            for forward in block:
                h, ld = forward(h)
                cum = cum + _logdet(ld, h.shape[0])
            lp = standard_normal_log_prob(h.to(torch.float64)) + cum
            out[k, a : a + chunk] = lp.numpy()
    return out


@dataclass
class PartialDensity:
    """The partial densities on an n x n grid: ``density[k, i, j] = p_k(xs[j], ys[i])``.

    Attributes:
        xs, ys: the grid's coordinates; log_density, density: ``(K + 1, n, n)``;
        mass: ``(K + 1,)``, each depth's Riemann sum over the box (1 where the box holds the mass).
    """

    xs: np.ndarray
    ys: np.ndarray
    log_density: np.ndarray
    density: np.ndarray
    mass: np.ndarray


def partial_density(flow: Flow, bounds: Box, n: int = 100) -> PartialDensity:
    """:func:`partial_log_prob` of every depth on :func:`~iresnet_core.analysis.grid.grid_points`
    of ``bounds``.

    Example:
        >>> import iresnet_core as ic
        >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16,))).eval()
        >>> pd = partial_density(flow, (-6, 6, -6, 6), n=120)
        >>> pd.density.shape, np.round(pd.mass, 2).tolist()
        ((3, 120, 120), [1.0, 1.0, 1.0])
    """
    xs, ys, pts = grid_points(bounds, n)
    lp = partial_log_prob(flow, pts).reshape(-1, n, n)
    lp = np.where(np.isfinite(lp), lp, -np.inf)
    dens = np.exp(lp)
    cell = float(xs[1] - xs[0]) * float(ys[1] - ys[0])
    return PartialDensity(xs, ys, lp, dens, dens.sum(axis=(1, 2)) * cell)


@dataclass
class Moves:
    """How each block moves the points (:func:`move_stats`).

    Attributes:
        angle: ``(K, B)`` direction of each move in degrees, in ``(-180, 180]`` (NaN: no move).
        length: ``(K, B)`` ``|move|``.
        distance: ``(K,)`` mean ``|move|`` per block: mean ``|g(x)|`` for the i-ResNet, the
            coupling's mean shift for Glow.
        relative: ``(K,)`` ``distance`` over the spread of the points where the layer meets them
            (their root-mean-square distance from their mean): comparable between models whose
            intermediate clouds have very different scales.
        one_coordinate: ``(K,)`` share of the moving points whose move changes one coordinate
            only (NaN where no point moved).
        moving: ``(K,)`` how many points moved at all.
        ulps: the tolerance used (:data:`MOVE_ULPS`).
    """

    angle: np.ndarray
    length: np.ndarray
    distance: np.ndarray
    relative: np.ndarray
    one_coordinate: np.ndarray
    moving: np.ndarray
    ulps: float

    @property
    def share(self) -> float:
        """One-coordinate moves among all moving points of all blocks."""
        total = int(self.moving.sum())
        if total == 0:
            return math.nan
        return float(np.nansum(self.one_coordinate * self.moving) / total)


def move_stats(w: Walk, ulps: float = MOVE_ULPS) -> Moves:
    """Per block: the direction and length of each point's move, the one-coordinate share and the
    mean distance moved.

    Coordinate ``i`` of a move ``x -> y`` counts as changed when ``|y_i - x_i|`` exceeds ``ulps``
    units in the last place of ``max(|x_i|, |y_i|)`` in the flow's own float type. That is the
    resolution of the flow's arithmetic at that point: a residual add ``y_i = x_i + g_i(x)`` with
    ``|g_i|`` under half an ulp of ``x_i`` leaves ``x_i`` unchanged, and one ulp or two is what
    rounding of the layer's own products can leave on a coordinate that did not move. Glow's
    coupling copies its conditioning coordinate bit for bit (Kingma & Dhariwal 2018, Sec. 3.3), so
    its moves change one coordinate by construction at any tolerance; an i-ResNet block's ``g``
    moves both coordinates unless one of its outputs is zero to within that resolution.

    Example:
        >>> import iresnet_core as ic, torch
        >>> glow = ic.build_flow(ic.FlowConfig(model="glow", n_blocks=2, hidden=(8,))).eval()
        >>> with torch.no_grad():  # away from the identity the couplings start as
        ...     for p in glow.parameters():
        ...         _ = p.normal_(0.0, 0.5)
        >>> m = move_stats(walk(glow, torch.randn(50, 2)))
        >>> m.one_coordinate.tolist(), m.share
        ([1.0, 1.0], 1.0)
    """
    x, y = w.move_inputs, w.points[w.main + 1]
    d = y - x
    scale = np.maximum(np.abs(x), np.abs(y))
    changed = np.abs(d) > ulps * np.spacing(scale.astype(w.points.dtype))
    n_changed = changed.sum(-1)
    moving = n_changed > 0
    d64 = d.astype(np.float64)
    angle = np.degrees(np.arctan2(d64[..., 1], d64[..., 0]))
    angle = np.where(angle <= -180.0, 180.0, angle)
    angle = np.where(moving, angle, np.nan)
    length = np.linalg.norm(d64, axis=-1)
    n_moving = moving.sum(-1)
    ones = ((n_changed == 1) & moving).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n_moving > 0, ones / np.maximum(n_moving, 1), np.nan)
    x64 = x.astype(np.float64)
    spread = np.sqrt(((x64 - x64.mean(1, keepdims=True)) ** 2).sum(-1).mean(-1))
    distance = length.mean(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = np.where(spread > 0, distance / spread, np.nan)
    return Moves(angle, length, distance, relative, share, n_moving, float(ulps))


def angle_histogram(angles: np.ndarray, bins: int = 36) -> tuple[np.ndarray, np.ndarray]:
    """``(counts, centres)``: the finite ``angles`` (degrees) in ``bins`` equal sectors centred on
    ``0, 360/bins, ...`` degrees, so that with ``bins`` a multiple of 4 each axis direction is the
    middle of a sector and axis-aligned moves fall in four sectors.

    Example:
        >>> counts, centres = angle_histogram(np.array([0.0, 90.0, 180.0, -90.0, 45.0]), bins=8)
        >>> centres.tolist(), counts.tolist()
        ([0.0, 45.0, 90.0, 135.0, 180.0, 225.0, 270.0, 315.0], [1, 1, 1, 0, 1, 0, 1, 0])
    """
    a = np.asarray(angles, dtype=np.float64).ravel()
    a = a[np.isfinite(a)]
    width = 360.0 / bins
    idx = np.floor(np.mod(a + width / 2, 360.0) / width).astype(int) % bins
    return np.bincount(idx, minlength=bins), np.arange(bins) * width


@dataclass
class Marks:
    """Where a residual block crushes or folds the plane (:func:`collapse_marks`).

    Attributes:
        threshold: ``1 - c``: the smallest ratio ``|F(a) - F(b)| / |a - b|`` a residual block with
            ``Lip(g) <= c`` allows.
        min_ratio: ``(K,)`` the smallest such ratio per block over all pairs of points (NaN for a
            block without a residual layer).
        pairs: ``(K,)`` how many pairs fell below ``threshold``.
        collapsed: ``(K, B)`` the point is in such a pair.
        det: ``(K, B)`` ``det J`` of the block's nonlinear layer at the point (``det(I + J_g)``;
            the ActNorm after it only multiplies it by a positive constant); folded:
            ``det <= 0``.
    """

    threshold: float
    min_ratio: np.ndarray
    pairs: np.ndarray
    collapsed: np.ndarray
    det: np.ndarray

    @property
    def folded(self) -> np.ndarray:
        return self.det <= 0

    @property
    def marked(self) -> np.ndarray:
        """``(K, B)``: collapsed or folded."""
        return self.collapsed | self.folded


@torch.inference_mode()
def collapse_marks(flow: Flow, w: Walk, coeff: float | None = None) -> Marks:
    """Collapses and folds of ``w``'s points, block by block.

    A residual block ``F = I + g`` with ``Lip(g) <= c < 1`` keeps any two points at least
    ``(1 - c)`` times as far apart as they were (``|F(a) - F(b)| >= |a - b| - |g(a) - g(b)|``;
    the paper's Lemma 2 bound on ``Lip(F^-1)``), and its ``det(I + J_g) > 0`` everywhere. Lift
    the constraint and a block can bring two points closer than that (a *collapse*: two paths
    nearly merge) or fold the plane (``det J <= 0`` at a point: nearby paths cross). ``coeff`` is
    the ``c`` whose bound marks a collapse (default: the flow's own, else :data:`MARK_COEFF`); the
    ratio is that of the residual layer alone (the ActNorm after it scales every distance by a
    constant). ``det J`` is that of the nonlinear layer, from its
    :meth:`~iresnet_core.flows.layers.FlowLayer.jacobian`: a block's other layers are linear and
    fold nothing (the ActNorm's determinant is positive; Glow's LU map may be a reflection,
    negative everywhere, which is no fold). Glow's couplings never fold (their determinant is
    ``exp(sum s) > 0``) and are not residual layers: their ratios are NaN.

    Example:
        >>> import iresnet_core as ic, torch
        >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16,))).eval()
        >>> m = collapse_marks(flow, walk(flow, torch.randn(20, 2)))
        >>> round(m.threshold, 2), int(m.pairs.sum()), bool(m.folded.any())
        (0.1, 0, False)
    """
    c = coeff if coeff is not None else (flow.cfg.coeff or MARK_COEFF)
    threshold = 1.0 - float(c)
    blocks = flow_blocks(flow)
    n = w.points.shape[1]
    min_ratio = np.full(len(blocks), np.nan)
    pairs = np.zeros(len(blocks), dtype=int)
    collapsed = np.zeros((len(blocks), n), dtype=bool)
    det = np.ones((len(blocks), n))
    upper = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)
    for k, block in enumerate(blocks):
        m = int(w.main[k])
        layer = block[m - int(w.ends[k])]
        h = torch.from_numpy(w.points[m])
        was = layer.training
        layer.eval()  # a training-mode layer would refine (and store) its power iteration
        try:
            det[k] = torch.linalg.det(layer.jacobian(h).to(torch.float64)).numpy()
        finally:
            layer.train(was)
        if w.kinds[m] != "residual" or n < 2:
            continue
        a = torch.from_numpy(w.points[m].astype(np.float64))
        b = torch.from_numpy(w.points[m + 1].astype(np.float64))
        before, after = torch.cdist(a, a), torch.cdist(b, b)
        valid = upper & (before > 0)
        ratio = torch.where(valid, after / before.clamp_min(1e-300), torch.inf)
        min_ratio[k] = float(ratio.min()) if bool(valid.any()) else math.nan
        bad = ratio < threshold
        pairs[k] = int(bad.sum())
        collapsed[k] = (bad | bad.T).any(1).numpy()
    return Marks(threshold, min_ratio, pairs, collapsed, det)
