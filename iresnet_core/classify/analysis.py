"""i-ResNet classifiers on toy 2D data: the discriminative side of Behrmann et al. (ICML 2019).

The paper's Table 1 trains the same residual architecture with and without the Lipschitz
constraint (vanilla, c = 0.9 ... 0.5) and reports that the constraint costs little accuracy while
it *guarantees* an inverse (Sec. 2, Theorem 1: ``Lip(g) < 1`` makes ``x + g(x)`` invertible by the
fixed-point iteration, Algorithm 1). This module makes that claim measurable in 2D:

* :class:`IResNetClassifier` — the 2D input, optionally zero-padded to ``dim`` coordinates (more
  room to untangle the classes, still invertible on the data), a stack of the flow's own
  :class:`~iresnet_core.flows.iresnet.InvertibleResidualBlock` (``c`` or unconstrained), then a
  linear head to the class logits. The invertible part is :meth:`IResNetClassifier.features`.
* :class:`ClassifierTrainer` — Adam on the cross-entropy, step-wise and seeded; non-finite steps
  are
  discarded as in :class:`iresnet_core.training.trainer.Trainer`.
  Both live in :mod:`iresnet_core.classify.model` and are re-exported here; this module holds the
  analysis below.
* :func:`decision_grid`, :func:`warped_grid`, :func:`fold_map` — what the page draws: the
  probability of class 1 over the plane, the input grid pushed through the feature map, and where
  the feature map folds (``det J <= 0``).
* :func:`table1` — Table 1 in miniature: per setting the test error, whether the inverse is
  guaranteed, and the *measured* evidence: reconstruction error after 100 fixed-point iterations
  and the share of the plane with folds.

Example:
    >>> import torch
    >>> model = IResNetClassifier(dim=2, n_blocks=2, hidden=(16,), coeff=0.9, seed=0)
    >>> x = torch.randn(8, 2)
    >>> x_rec, info = model.invert_features(model.features(x), max_iter=200, tol=1e-9)
    >>> bool((x_rec - x).abs().max() < 1e-5), info.converged
    (True, True)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from iresnet_core.analysis.grid import grid_points as _grid_points
from iresnet_core.classify.model import (
    INPUT_DIM,
    ClassifierInverseInfo,
    ClassifierTrainer,
    IResNetClassifier,
    as_inputs,
    eval_mode,
)

__all__ = [
    "INPUT_DIM",
    "TABLE1_COEFFS",
    "TABLE1_COLUMNS",
    "IResNetClassifier",
    "ClassifierInverseInfo",
    "ClassifierTrainer",
    "FoldMap",
    "WarpedGrid",
    "Bounds",
    "plane_bounds",
    "grid_points",
    "decision_grid",
    "warped_grid",
    "fold_map",
    "fold_share",
    "reconstruction_error",
    "setting_label",
    "train_classifier",
    "evaluate_setting",
    "table1_row",
    "table1",
]

#: The settings of the paper's Table 1: vanilla (``None``) and c = 0.9 ... 0.5.
TABLE1_COEFFS: tuple[float | None, ...] = (None, 0.9, 0.8, 0.7, 0.6, 0.5)
#: The keys of every :func:`table1` row, in display order.
TABLE1_COLUMNS = (
    "setting",
    "coeff",
    "test_error",
    "train_error",
    "guaranteed_inverse",
    "reconstruction_error",
    "inverse_converged",
    "fold_share",
    "lipschitz",
    "train_time_s",
    "steps",
)

#: ``(x_min, x_max, y_min, y_max)`` of a rectangle of the plane.
Bounds = tuple[float, float, float, float]


# --------------------------------------------------------------------------- what the page draws
def plane_bounds(x: np.ndarray, margin: float = 0.15) -> Bounds:
    """A square window around the points, ``margin`` of the extent added on every side."""
    x = np.asarray(x, dtype=np.float64)
    lo, hi = x.min(0), x.max(0)
    centre, half = (lo + hi) / 2, float(max(hi - lo)) / 2 * (1 + 2 * margin)
    half = max(half, 1e-3)
    return (
        float(centre[0] - half),
        float(centre[0] + half),
        float(centre[1] - half),
        float(centre[1] + half),
    )


def grid_points(bounds: Bounds, n: int) -> tuple[np.ndarray, np.ndarray, Tensor]:
    """:func:`iresnet_core.analysis.grid.grid_points` with the points as a tensor (``z[i, j]`` at
    ``(xs[j], ys[i])``)."""
    xs, ys, pts = _grid_points(bounds, n)
    return xs, ys, torch.from_numpy(pts)


@torch.no_grad()
def decision_grid(
    model: IResNetClassifier, bounds: Bounds, n: int = 100
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(xs, ys, p)``: the probability of class 1 on an ``n x n`` grid, ``p[i, j]`` at ``(xs[j],
    ys[i])``."""
    xs, ys, pts = grid_points(bounds, n)
    p = model.predict_proba(pts)[:, 1].reshape(n, n).double().numpy()
    return xs, ys, p


@dataclass
class WarpedGrid:
    """The input plane's grid lines pushed through the feature map (first two coordinates).

    Attributes:
        horizontal: ``(n_lines, n_points, 2)``: images of the lines ``y = const``.
        vertical: ``(n_lines, n_points, 2)``: images of the lines ``x = const``.
        levels_x, levels_y: the constants of the vertical and horizontal lines.
        dim: the feature map's width; for ``dim > 2`` the picture is a projection.
    """

    horizontal: np.ndarray
    vertical: np.ndarray
    levels_x: np.ndarray
    levels_y: np.ndarray
    dim: int


@torch.no_grad()
def warped_grid(
    model: IResNetClassifier, bounds: Bounds, n_lines: int = 17, n_points: int = 80
) -> WarpedGrid:
    """Grid lines of ``bounds`` mapped by ``x -> F(pad(x))``; an i-ResNet with ``c < 1`` never
    folds them."""
    lx = np.linspace(bounds[0], bounds[1], n_lines)
    ly = np.linspace(bounds[2], bounds[3], n_lines)
    tx = np.linspace(bounds[0], bounds[1], n_points)
    ty = np.linspace(bounds[2], bounds[3], n_points)
    hor = np.stack([np.stack([tx, np.full_like(tx, c)], 1) for c in ly])  # y = const
    ver = np.stack([np.stack([np.full_like(ty, c), ty], 1) for c in lx])  # x = const
    pts = torch.as_tensor(np.concatenate([hor, ver]).reshape(-1, 2), dtype=torch.float32)
    with eval_mode(model):
        out = model.features(pts)[:, :INPUT_DIM].double().numpy().reshape(2 * n_lines, n_points, 2)
    return WarpedGrid(out[:n_lines], out[n_lines:], lx, ly, model.dim)


@dataclass
class FoldMap:
    """Where the feature map folds, on an ``n x n`` grid of the plane.

    Attributes:
        xs, ys: grid coordinates; ``[i, j]`` sits at ``(xs[j], ys[i])``.
        sign: sign of ``det J_F`` at the padded point (``J_F`` the full ``dim x dim`` Jacobian);
            ``0`` where it is singular or not finite.
        logabsdet: ``ln |det J_F|`` (``-inf`` where singular, ``nan`` where not finite).
        sigma_min: the smallest singular value of the ``dim x 2`` Jacobian of the plane's map
            ``x -> F(pad(x))``: how close the embedded plane comes to a crease.
    """

    xs: np.ndarray
    ys: np.ndarray
    sign: np.ndarray
    logabsdet: np.ndarray
    sigma_min: np.ndarray

    @property
    def folded(self) -> np.ndarray:
        """``det J_F <= 0`` (or not finite): the map is not a local diffeomorphism there."""
        return self.sign <= 0

    @property
    def share(self) -> float:
        return float(self.folded.mean())


@torch.no_grad()
def fold_map(model: IResNetClassifier, bounds: Bounds, n: int = 100) -> FoldMap:
    """``det J_F`` and the plane map's smallest singular value over a grid of the plane.

    Which determinant: for ``dim == 2`` it is the plane map's own. For ``dim > 2`` the plane's map
    ``R^2 -> R^dim`` has a ``dim x 2`` Jacobian whose rank drops only on a null set for generic
    weights (a surface in R^3 or more creases at isolated points), so "share with rank < 2" is 0
    and says nothing. What the fixed-point inverse inverts is ``F`` on R^dim, and ``F`` is an
    orientation-preserving local diffeomorphism exactly where ``det J_F > 0``: with ``Lip(g) < 1``
    every factor ``det(I + J_g) > 0`` (all eigenvalues of ``I + J_g`` have positive real part), so
    the share is 0 by construction; ``det J_F <= 0`` at a point of the plane is a witness that the
    unconstrained network is not invertible there. (``det > 0`` everywhere alone does not prove
    global invertibility; the reconstruction error of :func:`reconstruction_error` is the second
    witness.) ``sigma_min`` of the ``dim x 2`` Jacobian is returned beside it for display.
    """
    xs, ys, pts = grid_points(bounds, n)
    jac = model.jacobian(pts).double()
    finite = torch.isfinite(jac).all(-1).all(-1)
    safe = torch.where(finite[:, None, None], jac, torch.eye(model.dim, dtype=jac.dtype))
    sign, logabs = torch.linalg.slogdet(safe)
    sign = torch.where(finite, sign, torch.zeros_like(sign))
    logabs = torch.where(finite, logabs, torch.full_like(logabs, math.nan))
    sv = torch.linalg.svdvals(safe[:, :, :INPUT_DIM])[:, -1]
    sv = torch.where(finite, sv, torch.full_like(sv, math.nan))
    shape = (n, n)
    return FoldMap(
        xs,
        ys,
        sign.reshape(shape).numpy(),
        logabs.reshape(shape).numpy(),
        sv.reshape(shape).numpy(),
    )


def fold_share(model: IResNetClassifier, bounds: Bounds, n: int = 100) -> float:
    """Share of an ``n x n`` grid of ``bounds`` where ``det J_F <= 0`` (see :func:`fold_map`)."""
    return fold_map(model, bounds, n).share


@torch.no_grad()
def reconstruction_error(
    model: IResNetClassifier, x: np.ndarray | Tensor, max_iter: int = 100, tol: float = 1e-12
) -> tuple[float, ClassifierInverseInfo]:
    """``max_i ||F^{-1}(F(pad(x_i))) - pad(x_i)||`` after at most ``max_iter`` fixed-point
    iterations a block.

    ``inf`` when the iteration diverged or produced non-finite values. The padded coordinates
    count: they must come back as zeros.
    """
    xt = as_inputs(x)
    with eval_mode(model):
        z = model.features(xt)
    x_rec, info = model.invert_features(z, max_iter=max_iter, tol=tol)
    err = torch.sqrt(((x_rec.double() - xt.double()) ** 2).sum(-1) + info.padding**2)
    value = float(err.max()) if err.numel() else 0.0
    if info.diverged or not math.isfinite(value):
        value = math.inf
    return value, info


# --------------------------------------------------------------------------- Table 1
def setting_label(coeff: float | None) -> str:
    """``"vanilla"`` for the unconstrained network, else ``"c=0.9"`` and the like."""
    return "vanilla" if coeff is None else f"c={coeff:g}"


def train_classifier(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    coeff: float | None = 0.9,
    dim: int = 2,
    n_blocks: int = 4,
    hidden: Sequence[int] = (64, 64),
    activation: str = "elu",
    actnorm: bool = True,
    steps: int = 400,
    lr: float = 1e-2,
    batch_size: int | None = 256,
    seed: int = 0,
) -> tuple[IResNetClassifier, dict[str, Any]]:
    """Build and train one classifier; returns the model and the final metrics (plus
    ``train_time_s``)."""
    model = IResNetClassifier(
        dim=dim,
        n_blocks=n_blocks,
        hidden=tuple(hidden),
        coeff=coeff,
        activation=activation,
        actnorm=actnorm,
        seed=seed,
    )
    trainer = ClassifierTrainer(
        model, x_train, y_train, x_test, y_test, lr=lr, batch_size=batch_size, seed=seed
    )
    start = time.perf_counter()
    metrics = trainer.step(steps)
    metrics["train_time_s"] = time.perf_counter() - start
    return model, metrics


def evaluate_setting(
    model: IResNetClassifier,
    metrics: dict[str, Any],
    x_test: np.ndarray,
    bounds: Bounds,
    fold_n: int = 100,
    inverse_iters: int = 100,
) -> dict[str, Any]:
    """One Table 1 row for a trained model (keys :data:`TABLE1_COLUMNS`).

    ``guaranteed_inverse`` is ``"Yes"`` when the network is constrained *and* its measured
    per-block bound ``prod ||W_i||_2`` is below 1 (Theorem 1), so the claim is checked, not
    assumed.
    """
    lip = model.lipschitz_bound()
    recon, info = reconstruction_error(model, x_test, max_iter=inverse_iters)
    return {
        "setting": setting_label(model.coeff),
        "coeff": model.coeff,
        "test_error": float(metrics["test_error"]),
        "train_error": float(metrics["train_error"]),
        "guaranteed_inverse": "Yes" if model.coeff is not None and lip < 1 else "No",
        "reconstruction_error": recon,
        "inverse_converged": bool(info.converged and math.isfinite(recon)),
        "fold_share": fold_share(model, bounds, fold_n),
        "lipschitz": lip,
        "train_time_s": float(metrics.get("train_time_s", math.nan)),
        "steps": int(metrics["step"]),
    }


def table1_row(
    dataset: str = "moons",
    coeff: float | None = 0.9,
    steps: int = 400,
    seed: int = 0,
    *,
    n: int = 1000,
    noise: float | None = None,
    test_fraction: float = 0.3,
    dim: int = 2,
    n_blocks: int = 4,
    hidden: Sequence[int] = (64, 64),
    actnorm: bool = True,
    lr: float = 1e-2,
    batch_size: int | None = 256,
    fold_n: int = 100,
) -> dict[str, Any]:
    """One setting of :func:`table1`: data from ``classification_data.make``/``split``, train,
    measure.

    A pure function of its arguments (same arguments, same row up to ``train_time_s``), so a caller
    can cache rows one by one.
    """
    from iresnet_core.classify import data as cd

    kw = {} if noise is None else {"noise": noise}
    x, y = cd.make(dataset, n, seed=seed, **kw)
    x_tr, y_tr, x_te, y_te = cd.split(x, y, test_fraction, seed)
    model, metrics = train_classifier(
        x_tr,
        y_tr,
        x_te,
        y_te,
        coeff=coeff,
        dim=dim,
        n_blocks=n_blocks,
        hidden=hidden,
        actnorm=actnorm,
        steps=steps,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
    )
    return evaluate_setting(model, metrics, x_te, plane_bounds(x), fold_n=fold_n)


def table1(
    dataset: str = "moons",
    coeffs: Sequence[float | None] = TABLE1_COEFFS,
    steps: int = 400,
    seed: int = 0,
    progress: Callable[[int, int, str], None] | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """The paper's Table 1 on a toy set: one row per setting (keys :data:`TABLE1_COLUMNS`).

    Every setting trains the same architecture from the same seed on the same split;
    ``progress(i, total, label)`` is called before setting ``i`` and once more with ``i == total``.
    ``kwargs`` go to :func:`table1_row` (``n``, ``noise``, ``test_fraction``, ``dim``,
    ``n_blocks``, ``hidden``, ``actnorm``, ``lr``, ``batch_size``, ``fold_n``).

    Example:
        >>> rows = table1("moons", coeffs=(None, 0.9), steps=20, n_blocks=2, hidden=(16,))
        >>> [r["setting"] for r in rows], [r["guaranteed_inverse"] for r in rows]
        (['vanilla', 'c=0.9'], ['No', 'Yes'])
    """
    rows = []
    total = len(coeffs)
    for i, c in enumerate(coeffs):
        if progress is not None:
            progress(i, total, setting_label(c))
        rows.append(table1_row(dataset, c, steps, seed, **kwargs))
    if progress is not None:
        progress(total, total, "done")
    return rows
