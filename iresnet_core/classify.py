"""i-ResNet classifiers on toy 2D data: the discriminative side of Behrmann et al. (ICML 2019).

The paper's Table 1 trains the same residual architecture with and without the Lipschitz
constraint (vanilla, c = 0.9 ... 0.5) and reports that the constraint costs little accuracy while
it *guarantees* an inverse (Sec. 2, Theorem 1: ``Lip(g) < 1`` makes ``x + g(x)`` invertible by the
fixed-point iteration, Algorithm 1). This module makes that claim measurable in 2D:

* :class:`IResNetClassifier` — the 2D input, optionally zero-padded to ``dim`` coordinates (more
  room to untangle the classes, still invertible on the data), a stack of the flow's own
  :class:`~iresnet_core.iresnet.InvertibleResidualBlock` (``c`` or unconstrained), then a linear
  head to the class logits. The invertible part is :meth:`IResNetClassifier.features`.
* :class:`ClassifierTrainer` — Adam on the cross-entropy, step-wise and seeded; non-finite steps are
  discarded as in :class:`iresnet_core.train.Trainer`.
* :func:`decision_grid`, :func:`warped_grid`, :func:`fold_map` — what the page draws: the
  probability of class 1 over the plane, the input grid pushed through the feature map, and where
  the feature map folds (``det J <= 0``).
* :func:`table1` — Table 1 in miniature: per setting the test error, whether the inverse is
  guaranteed, and the *measured* evidence: reconstruction error after 100 fixed-point iterations and
  the share of the plane with folds.

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
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .actnorm import ActNorm
from .config import FlowConfig
from .grid import grid_points as _grid_points
from .iresnet import InvertibleResidualBlock
from .layers import InverseInfo, invert_layers
from .lipschitz import refresh_power_iteration

__all__ = [
    "INPUT_DIM", "TABLE1_COEFFS", "TABLE1_COLUMNS",
    "IResNetClassifier", "ClassifierInverseInfo", "ClassifierTrainer",
    "FoldMap", "WarpedGrid", "Bounds",
    "plane_bounds", "grid_points", "decision_grid", "warped_grid", "fold_map", "fold_share",
    "reconstruction_error", "setting_label", "train_classifier", "evaluate_setting", "table1_row", "table1",
]

#: The toy data live in the plane.
INPUT_DIM = 2
#: The settings of the paper's Table 1: vanilla (``None``) and c = 0.9 ... 0.5.
TABLE1_COEFFS: tuple[float | None, ...] = (None, 0.9, 0.8, 0.7, 0.6, 0.5)
#: The keys of every :func:`table1` row, in display order.
TABLE1_COLUMNS = (
    "setting", "coeff", "test_error", "train_error", "guaranteed_inverse", "reconstruction_error",
    "inverse_converged", "fold_share", "lipschitz", "train_time_s", "steps",
)

#: ``(x_min, x_max, y_min, y_max)`` of a rectangle of the plane.
Bounds = tuple[float, float, float, float]


# --------------------------------------------------------------------------- the model
@dataclass
class ClassifierInverseInfo(InverseInfo):
    """The per-block fixed-point reports, plus how far the recovered padding is from zero.

    Attributes:
        padding: ``max |x_k|`` over the padded coordinates ``k >= 2`` of the recovered input
            (``0`` for ``dim == 2``). A feature vector that came from a point of the plane inverts to
            padding ~ 0; a large value means ``z`` lies off the image of the plane.
    """

    padding: float = 0.0


class IResNetClassifier(nn.Module):
    """``logits = W F(pad(x)) + b``: an invertible feature map ``F`` of i-ResNet blocks and a linear head.

    ``F = f_L o ... o f_1`` with ``f_l(x) = x + g_l(x)`` the blocks of the flow (spectral norm of every
    linear map of ``g_l`` at most ``c``: ``Lip(g_l) < 1``, so ``f_l`` is invertible, paper Theorem 1),
    optionally each followed by ActNorm. ``coeff=None`` is the paper's "vanilla" column: the same
    architecture without the constraint, with no inverse guarantee.

    Args:
        dim: width of the feature map; the 2D input is zero-padded to ``dim`` coordinates. Padding
            gives the map room (a homeomorphism of the plane cannot separate XOR by a line; one of
            R^3 restricted to the plane can) and keeps it injective on the data.
        n_blocks, hidden, coeff, activation: as in :class:`~iresnet_core.config.FlowConfig`.
        actnorm: an ActNorm after every block (invertible in closed form, ``det > 0``; as in the
            paper's Appendix C). It lets the constrained blocks work at the data's scale and
            speeds training several-fold.
        n_classes: number of logits.
        seed: initialisation seed (the global torch RNG is left untouched).
    """

    def __init__(self, dim: int = 2, n_blocks: int = 4, hidden: Sequence[int] = (64, 64),
                 coeff: float | None = 0.9, activation: str = "elu", actnorm: bool = True,
                 n_classes: int = 2, seed: int = 0) -> None:
        super().__init__()
        if not isinstance(dim, int) or dim < INPUT_DIM:
            raise ValueError(f"dim must be an integer >= {INPUT_DIM}, got {dim!r}")
        if not isinstance(n_classes, int) or n_classes < 2:
            raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
        self.cfg = FlowConfig(model="iresnet", n_blocks=n_blocks, hidden=tuple(hidden), coeff=coeff,
                              activation=activation, actnorm=actnorm, dim=dim, seed=seed,
                              init="boundary")  # the setting Table 1 was measured with
        self.n_classes = n_classes
        state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            generator = torch.Generator().manual_seed(seed)
            layers: list[nn.Module] = []
            for _ in range(n_blocks):
                layers.append(InvertibleResidualBlock(self.cfg, generator))
                if actnorm:
                    layers.append(ActNorm(dim))
            self.layers = nn.ModuleList(layers)
            self.head = nn.Linear(dim, n_classes)
        finally:
            torch.random.set_rng_state(state)

    # -- shapes
    @property
    def dim(self) -> int:
        return self.cfg.dim

    @property
    def coeff(self) -> float | None:
        return self.cfg.coeff

    @property
    def blocks(self) -> list[InvertibleResidualBlock]:
        return [m for m in self.layers if isinstance(m, InvertibleResidualBlock)]

    def pad(self, x: Tensor) -> Tensor:
        """``(x_1, x_2, 0, ..., 0)``: the plane embedded in R^dim."""
        if x.ndim != 2 or x.shape[1] != INPUT_DIM:
            raise ValueError(f"inputs must have shape (n, {INPUT_DIM}), got {tuple(x.shape)}")
        return F.pad(x, (0, self.dim - INPUT_DIM)) if self.dim > INPUT_DIM else x

    # -- the maps
    def features_padded(self, h: Tensor) -> Tensor:
        """``F(h)`` for ``h`` already in R^dim (no Jacobians, no log-dets: the training path)."""
        for layer in self.layers:
            if isinstance(layer, InvertibleResidualBlock):
                h = h + layer.g(h)
            else:
                h, _ = layer(h)
        return h

    def features(self, x: Tensor) -> Tensor:
        """The invertible feature map ``F(pad(x))``, shape ``(n, dim)``."""
        return self.features_padded(self.pad(x))

    def forward(self, x: Tensor) -> Tensor:
        """Class logits, shape ``(n, n_classes)``."""
        return self.head(self.features(x))

    @torch.no_grad()
    def predict_proba(self, x: Tensor) -> Tensor:
        """Softmax probabilities (evaluation mode)."""
        with _eval(self):
            return torch.softmax(self(x), dim=-1)

    @torch.no_grad()
    def invert_features(self, z: Tensor, max_iter: int = 100, tol: float = 1e-6) -> tuple[Tensor, ClassifierInverseInfo]:
        """``F^{-1}(z)`` by the fixed-point iteration of every block (Algorithm 1), last block first.

        Returns ``(x, info)``: ``x`` the recovered input in the plane, shape ``(n, 2)`` (the padded
        coordinates are dropped; ``info.padding`` says how far from zero they came back), and the
        per-block reports in forward order. At most ``max_iter`` iterations per block, and a
        diverging block stops early, so an unconstrained model never hangs.
        """
        with _eval(self):
            h, reports = invert_layers(self.layers, z, max_iter, tol)
        pad = float(h[:, INPUT_DIM:].abs().max()) if self.dim > INPUT_DIM and h.numel() else 0.0
        return h[:, :INPUT_DIM], ClassifierInverseInfo(reports, padding=pad)

    @torch.no_grad()
    def jacobian(self, x: Tensor) -> Tensor:
        """The full ``dim x dim`` Jacobian of ``F`` at the padded points ``pad(x)``, shape ``(n, d, d)``.

        Its first two columns are the Jacobian of the plane's map ``x -> F(pad(x))``.
        """
        with _eval(self):
            h = self.pad(x)
            jac = torch.eye(self.dim, dtype=h.dtype).expand(h.shape[0], -1, -1)
            for layer in self.layers:
                if isinstance(layer, InvertibleResidualBlock):
                    g, jg = layer.g_and_jacobian(h)
                    jac = (jg + torch.eye(self.dim, dtype=h.dtype)) @ jac
                    h = h + g
                else:
                    jac = layer.jacobian(h) @ jac
                    h, _ = layer(h)
        return jac

    def lipschitz_bounds(self) -> list[float]:
        """Per block, the product of the exact spectral norms of ``g``'s weights: a bound on ``Lip(g)``."""
        return [b.lipschitz_bound() for b in self.blocks]

    def lipschitz_bound(self) -> float:
        """The largest per-block bound; ``< 1`` certifies the inverse (paper Theorem 1)."""
        return max(self.lipschitz_bounds(), default=0.0)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


class _eval:
    """Evaluation mode for a block of code, restored afterwards (no power-iteration updates)."""

    def __init__(self, module: nn.Module) -> None:
        self.module, self.was = module, module.training

    def __enter__(self) -> None:
        self.module.eval()

    def __exit__(self, *exc: Any) -> None:
        self.module.train(self.was)


# --------------------------------------------------------------------------- training
def _as_x(x: np.ndarray | Tensor) -> Tensor:
    t = torch.as_tensor(np.asarray(x, dtype=np.float32))
    if t.ndim != 2 or t.shape[1] != INPUT_DIM:
        raise ValueError(f"inputs must have shape (n, {INPUT_DIM}), got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError("inputs contain NaN or infinite values")
    return t


def _as_y(y: np.ndarray | Tensor, n: int, n_classes: int) -> Tensor:
    t = torch.as_tensor(np.asarray(y), dtype=torch.int64)
    if t.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {tuple(t.shape)}")
    if n and (int(t.min()) < 0 or int(t.max()) >= n_classes):
        raise ValueError(f"labels must be in 0..{n_classes - 1}")
    return t


class ClassifierTrainer:
    """Adam on the cross-entropy, one step at a time (the caller drives it; no threads).

    As in :class:`iresnet_core.train.Trainer`: a step whose loss, gradient or update is not finite
    is discarded and the last good weights stay; the power-iteration vectors are refreshed after
    every good step so that the spectral normalisation follows the weights.

    Args:
        model: the classifier (trained in place).
        x_train, y_train, x_test, y_test: points ``(n, 2)`` and integer labels ``(n,)``.
        lr: Adam's learning rate.
        batch_size: points per step, drawn with replacement; ``None`` for full batches.
        seed: seeds the batches: same seed, same run.
        max_bad_steps: non-finite steps in a row before the trainer pauses itself.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(200, 2)).astype("float32"); y = (x[:, 0] > 0).astype("int64")
        >>> t = ClassifierTrainer(IResNetClassifier(n_blocks=2, hidden=(16,)), x, y, x, y, seed=0)
        >>> sorted(t.step(20))[:4]
        ['loss', 'paused_reason', 'seconds', 'skipped']
    """

    def __init__(self, model: IResNetClassifier, x_train: np.ndarray | Tensor, y_train: np.ndarray | Tensor,
                 x_test: np.ndarray | Tensor, y_test: np.ndarray | Tensor, lr: float = 1e-2,
                 batch_size: int | None = 256, seed: int = 0, max_bad_steps: int = 20) -> None:
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"learning rate must be a positive number, got {lr!r}")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
        self.model = model
        self.x_train = _as_x(x_train)
        self.y_train = _as_y(y_train, self.x_train.shape[0], model.n_classes)
        self.x_test = _as_x(x_test)
        self.y_test = _as_y(y_test, self.x_test.shape[0], model.n_classes)
        if self.x_train.shape[0] < 1:
            raise ValueError("need at least one training point")
        self.batch_size = batch_size
        self.max_bad_steps = max_bad_steps
        self.generator = torch.Generator().manual_seed(seed)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        self.step_count = 0
        self.skipped_total = 0
        self.bad_streak = 0
        self.paused_reason: str | None = None
        self.wall_time = 0.0

    def _batch(self) -> tuple[Tensor, Tensor]:
        n = self.x_train.shape[0]
        if self.batch_size is None or self.batch_size >= n:
            return self.x_train, self.y_train
        idx = torch.randint(n, (self.batch_size,), generator=self.generator)
        return self.x_train[idx], self.y_train[idx]

    def _one_step(self) -> tuple[float, str | None]:
        model = self.model
        params = [p for p in model.parameters() if p.requires_grad]
        xb, yb = self._batch()
        loss = F.cross_entropy(model(xb), yb)
        if not torch.isfinite(loss):
            return float(loss.detach()), "non-finite loss"
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, math.inf))
        if not math.isfinite(grad_norm):
            self.optimizer.zero_grad(set_to_none=True)
            return float(loss.detach()), "non-finite gradient"
        backup = [p.detach().clone() for p in params]
        opt_backup = {k: {n: t.clone() if torch.is_tensor(t) else t for n, t in v.items()}
                      for k, v in self.optimizer.state.items()}
        self.optimizer.step()
        if not all(bool(torch.isfinite(p).all()) for p in params):
            with torch.no_grad():
                for p, b in zip(params, backup):
                    p.copy_(b)
            self.optimizer.state.clear()
            self.optimizer.state.update(opt_backup)
            return float(loss.detach()), "non-finite parameters after the update"
        refresh_power_iteration(model)
        return float(loss.detach()), None

    def step(self, k: int = 1) -> dict[str, Any]:
        """Run ``k`` steps (fewer if the trainer pauses itself); returns the metrics.

        Keys: ``step`` (good steps so far), ``loss`` (mean over this call's good steps),
        ``train_error``, ``test_error`` (misclassified share, evaluation mode), ``skipped``,
        ``seconds``, ``paused_reason``.
        """
        self.model.train()
        start = time.perf_counter()
        losses: list[float] = []
        skipped = 0
        for _ in range(int(k)):
            if self.paused_reason is not None:
                break
            loss, reason = self._one_step()
            if reason is None:
                self.step_count += 1
                self.bad_streak = 0
                losses.append(loss)
            else:
                skipped += 1
                self.bad_streak += 1
                if self.bad_streak >= self.max_bad_steps:
                    self.paused_reason = (f"training paused: {self.bad_streak} steps in a row were not finite "
                                          f"({reason}); the last good model is kept")
        elapsed = time.perf_counter() - start
        self.wall_time += elapsed
        self.skipped_total += skipped
        train_error, test_error = self.evaluate()
        return {
            "step": self.step_count,
            "loss": float(np.mean(losses)) if losses else math.nan,
            "train_error": train_error,
            "test_error": test_error,
            "skipped": skipped,
            "seconds": elapsed,
            "paused_reason": self.paused_reason,
        }

    @torch.no_grad()
    def evaluate(self) -> tuple[float, float]:
        """Misclassified share on the training and the test points."""
        with _eval(self.model):
            errs = []
            for x, y in ((self.x_train, self.y_train), (self.x_test, self.y_test)):
                if x.shape[0] == 0:
                    errs.append(math.nan)
                    continue
                logits = self.model(x)
                wrong = (logits.argmax(-1) != y) | ~torch.isfinite(logits).all(-1)
                errs.append(float(wrong.float().mean()))
        return errs[0], errs[1]


# --------------------------------------------------------------------------- what the page draws
def plane_bounds(x: np.ndarray, margin: float = 0.15) -> Bounds:
    """A square window around the points, ``margin`` of the extent added on every side."""
    x = np.asarray(x, dtype=np.float64)
    lo, hi = x.min(0), x.max(0)
    centre, half = (lo + hi) / 2, float(max(hi - lo)) / 2 * (1 + 2 * margin)
    half = max(half, 1e-3)
    return (float(centre[0] - half), float(centre[0] + half), float(centre[1] - half), float(centre[1] + half))


def grid_points(bounds: Bounds, n: int) -> tuple[np.ndarray, np.ndarray, Tensor]:
    """:func:`iresnet_core.grid.grid_points` with the points as a tensor (``z[i, j]`` at ``(xs[j], ys[i])``)."""
    xs, ys, pts = _grid_points(bounds, n)
    return xs, ys, torch.from_numpy(pts)


@torch.no_grad()
def decision_grid(model: IResNetClassifier, bounds: Bounds, n: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(xs, ys, p)``: the probability of class 1 on an ``n x n`` grid, ``p[i, j]`` at ``(xs[j], ys[i])``."""
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
def warped_grid(model: IResNetClassifier, bounds: Bounds, n_lines: int = 17, n_points: int = 80) -> WarpedGrid:
    """Grid lines of ``bounds`` mapped by ``x -> F(pad(x))``; an i-ResNet with ``c < 1`` never folds them."""
    lx = np.linspace(bounds[0], bounds[1], n_lines)
    ly = np.linspace(bounds[2], bounds[3], n_lines)
    tx = np.linspace(bounds[0], bounds[1], n_points)
    ty = np.linspace(bounds[2], bounds[3], n_points)
    hor = np.stack([np.stack([tx, np.full_like(tx, c)], 1) for c in ly])   # y = const
    ver = np.stack([np.stack([np.full_like(ty, c), ty], 1) for c in lx])   # x = const
    pts = torch.as_tensor(np.concatenate([hor, ver]).reshape(-1, 2), dtype=torch.float32)
    with _eval(model):
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
    return FoldMap(xs, ys, sign.reshape(shape).numpy(), logabs.reshape(shape).numpy(), sv.reshape(shape).numpy())


def fold_share(model: IResNetClassifier, bounds: Bounds, n: int = 100) -> float:
    """Share of an ``n x n`` grid of ``bounds`` where ``det J_F <= 0`` (see :func:`fold_map`)."""
    return fold_map(model, bounds, n).share


@torch.no_grad()
def reconstruction_error(model: IResNetClassifier, x: np.ndarray | Tensor, max_iter: int = 100,
                         tol: float = 1e-12) -> tuple[float, ClassifierInverseInfo]:
    """``max_i ||F^{-1}(F(pad(x_i))) - pad(x_i)||`` after at most ``max_iter`` fixed-point iterations a block.

    ``inf`` when the iteration diverged or produced non-finite values. The padded coordinates
    count: they must come back as zeros.
    """
    xt = _as_x(x)
    with _eval(model):
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


def train_classifier(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, *,
                     coeff: float | None = 0.9, dim: int = 2, n_blocks: int = 4, hidden: Sequence[int] = (64, 64),
                     activation: str = "elu", actnorm: bool = True, steps: int = 400, lr: float = 1e-2,
                     batch_size: int | None = 256, seed: int = 0) -> tuple[IResNetClassifier, dict[str, Any]]:
    """Build and train one classifier; returns the model and the final metrics (plus ``train_time_s``)."""
    model = IResNetClassifier(dim=dim, n_blocks=n_blocks, hidden=tuple(hidden), coeff=coeff,
                              activation=activation, actnorm=actnorm, seed=seed)
    trainer = ClassifierTrainer(model, x_train, y_train, x_test, y_test, lr=lr, batch_size=batch_size, seed=seed)
    start = time.perf_counter()
    metrics = trainer.step(steps)
    metrics["train_time_s"] = time.perf_counter() - start
    return model, metrics


def evaluate_setting(model: IResNetClassifier, metrics: dict[str, Any], x_test: np.ndarray,
                     bounds: Bounds, fold_n: int = 100, inverse_iters: int = 100) -> dict[str, Any]:
    """One Table 1 row for a trained model (keys :data:`TABLE1_COLUMNS`).

    ``guaranteed_inverse`` is ``"Yes"`` when the network is constrained *and* its measured per-block
    bound ``prod ||W_i||_2`` is below 1 (Theorem 1), so the claim is checked, not assumed.
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


def table1_row(dataset: str = "moons", coeff: float | None = 0.9, steps: int = 400, seed: int = 0, *,
               n: int = 1000, noise: float | None = None, test_fraction: float = 0.3, dim: int = 2,
               n_blocks: int = 4, hidden: Sequence[int] = (64, 64), actnorm: bool = True, lr: float = 1e-2,
               batch_size: int | None = 256, fold_n: int = 100) -> dict[str, Any]:
    """One setting of :func:`table1`: data from ``classification_data.make``/``split``, train, measure.

    A pure function of its arguments (same arguments, same row up to ``train_time_s``), so a caller
    can cache rows one by one.
    """
    from . import classification_data as cd

    kw = {} if noise is None else {"noise": noise}
    x, y = cd.make(dataset, n, seed=seed, **kw)
    x_tr, y_tr, x_te, y_te = cd.split(x, y, test_fraction, seed)
    model, metrics = train_classifier(x_tr, y_tr, x_te, y_te, coeff=coeff, dim=dim, n_blocks=n_blocks,
                                      hidden=hidden, actnorm=actnorm, steps=steps, lr=lr,
                                      batch_size=batch_size, seed=seed)
    return evaluate_setting(model, metrics, x_te, plane_bounds(x), fold_n=fold_n)


def table1(dataset: str = "moons", coeffs: Sequence[float | None] = TABLE1_COEFFS, steps: int = 400,
           seed: int = 0, progress: Callable[[int, int, str], None] | None = None, **kwargs: Any) -> list[dict[str, Any]]:
    """The paper's Table 1 on a toy set: one row per setting (keys :data:`TABLE1_COLUMNS`).

    Every setting trains the same architecture from the same seed on the same split;
    ``progress(i, total, label)`` is called before setting ``i`` and once more with ``i == total``.
    ``kwargs`` go to :func:`table1_row` (``n``, ``noise``, ``test_fraction``, ``dim``, ``n_blocks``,
    ``hidden``, ``actnorm``, ``lr``, ``batch_size``, ``fold_n``).

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
