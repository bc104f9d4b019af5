"""The i-ResNet classifier and its trainer: the model side of
:mod:`iresnet_core.classify.analysis`.

* :class:`IResNetClassifier` — the 2D input, optionally zero-padded to ``dim`` coordinates, a stack
  of the flow's own :class:`~iresnet_core.flows.iresnet.InvertibleResidualBlock` (``c`` or
  unconstrained), then a linear head to the class logits; the invertible part is
  :meth:`IResNetClassifier.features` (Behrmann et al. 2019, Sec. 2, Theorem 1 and Algorithm 1).
* :class:`ClassifierTrainer` — Adam on the cross-entropy, step-wise and seeded; non-finite steps
  are
  discarded as in :class:`iresnet_core.training.trainer.Trainer`.
* :class:`eval_mode` and :func:`as_inputs` — the evaluation-mode block and the input check the
  analysis in :mod:`iresnet_core.classify.analysis` shares.

Example:
    >>> import torch
    >>> model = IResNetClassifier(dim=2, n_blocks=2, hidden=(16,), coeff=0.9, seed=0)
    >>> model(torch.randn(4, 2)).shape
    torch.Size([4, 2])
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from iresnet_core.config import FlowConfig
from iresnet_core.flows.actnorm import ActNorm
from iresnet_core.flows.iresnet import InvertibleResidualBlock
from iresnet_core.flows.layers import InverseInfo, invert_layers
from iresnet_core.ops.spectral import refresh_power_iteration

__all__ = [
    "INPUT_DIM",
    "IResNetClassifier",
    "ClassifierInverseInfo",
    "ClassifierTrainer",
    "eval_mode",
    "as_inputs",
]

#: The toy data live in the plane.
INPUT_DIM = 2


# --------------------------------------------------------------------------- the model
@dataclass
class ClassifierInverseInfo(InverseInfo):
    """The per-block fixed-point reports, plus how far the recovered padding is from zero.

    Attributes:
        padding: ``max |x_k|`` over the padded coordinates ``k >= 2`` of the recovered input
            (``0`` for ``dim == 2``). A feature vector that came from a point of the plane inverts
            to padding ~ 0; a large value means ``z`` lies off the image of the plane.
    """

    padding: float = 0.0


class IResNetClassifier(nn.Module):
    """``logits = W F(pad(x)) + b``: an invertible feature map ``F`` of i-ResNet blocks and a
    linear head.

    ``F = f_L o ... o f_1`` with ``f_l(x) = x + g_l(x)`` the blocks of the flow (spectral norm of
    every linear map of ``g_l`` at most ``c``: ``Lip(g_l) < 1``, so ``f_l`` is invertible, paper
    Theorem 1), optionally each followed by ActNorm. ``coeff=None`` is the paper's "vanilla"
    column: the same architecture without the constraint, with no inverse guarantee.

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

    def __init__(
        self,
        dim: int = 2,
        n_blocks: int = 4,
        hidden: Sequence[int] = (64, 64),
        coeff: float | None = 0.9,
        activation: str = "elu",
        actnorm: bool = True,
        n_classes: int = 2,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(dim, int) or dim < INPUT_DIM:
            raise ValueError(f"dim must be an integer >= {INPUT_DIM}, got {dim!r}")
        if not isinstance(n_classes, int) or n_classes < 2:
            raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
        self.cfg = FlowConfig(
            model="iresnet",
            n_blocks=n_blocks,
            hidden=tuple(hidden),
            coeff=coeff,
            activation=activation,
            actnorm=actnorm,
            dim=dim,
            seed=seed,
            init="boundary",
        )  # the setting Table 1 was measured with
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
        with eval_mode(self):
            return torch.softmax(self(x), dim=-1)

    @torch.no_grad()
    def invert_features(
        self, z: Tensor, max_iter: int = 100, tol: float = 1e-6
    ) -> tuple[Tensor, ClassifierInverseInfo]:
        """``F^{-1}(z)`` by the fixed-point iteration of every block (Algorithm 1), last block
        first.

        Returns ``(x, info)``: ``x`` the recovered input in the plane, shape ``(n, 2)`` (the padded
        coordinates are dropped; ``info.padding`` says how far from zero they came back), and the
        per-block reports in forward order. At most ``max_iter`` iterations per block, and a
        diverging block stops early, so an unconstrained model never hangs.
        """
        with eval_mode(self):
            h, reports = invert_layers(self.layers, z, max_iter, tol)
        pad = float(h[:, INPUT_DIM:].abs().max()) if self.dim > INPUT_DIM and h.numel() else 0.0
        return h[:, :INPUT_DIM], ClassifierInverseInfo(reports, padding=pad)

    @torch.no_grad()
    def jacobian(self, x: Tensor) -> Tensor:
        """The full ``dim x dim`` Jacobian of ``F`` at the padded points ``pad(x)``, shape ``(n, d,
        d)``.

        Its first two columns are the Jacobian of the plane's map ``x -> F(pad(x))``.
        """
        with eval_mode(self):
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
        """Per block, the product of the exact spectral norms of ``g``'s weights: a bound on
        ``Lip(g)``."""
        return [b.lipschitz_bound() for b in self.blocks]

    def lipschitz_bound(self) -> float:
        """The largest per-block bound; ``< 1`` certifies the inverse (paper Theorem 1)."""
        return max(self.lipschitz_bounds(), default=0.0)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


class eval_mode:
    """Evaluation mode for a block of code, restored afterwards (no power-iteration updates)."""

    def __init__(self, module: nn.Module) -> None:
        self.module, self.was = module, module.training

    def __enter__(self) -> None:
        self.module.eval()

    def __exit__(self, *exc: Any) -> None:
        self.module.train(self.was)


# --------------------------------------------------------------------------- training
def as_inputs(x: np.ndarray | Tensor) -> Tensor:
    """Points of the plane as a float32 ``(n, 2)`` tensor; ValueError on another shape or
    non-finite values."""
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

    As in :class:`iresnet_core.training.trainer.Trainer`: a step whose loss, gradient or update is
    not finite is discarded and the last good weights stay; the power-iteration vectors are
    refreshed after every good step so that the spectral normalisation follows the weights.

    Args:
        model: the classifier (trained in place).
        x_train, y_train, x_test, y_test: points ``(n, 2)`` and integer labels ``(n,)``.
        lr: Adam's learning rate.
        batch_size: points per step, drawn with replacement; ``None`` for full batches.
        seed: seeds the batches: same seed, same run.
        max_bad_steps: non-finite steps in a row before the trainer pauses itself.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(200, 2)).astype("float32")
        >>> y = (x[:, 0] > 0).astype("int64")
        >>> t = ClassifierTrainer(IResNetClassifier(n_blocks=2, hidden=(16,)), x, y, x, y, seed=0)
        >>> sorted(t.step(20))[:4]
        ['loss', 'paused_reason', 'seconds', 'skipped']
    """

    def __init__(
        self,
        model: IResNetClassifier,
        x_train: np.ndarray | Tensor,
        y_train: np.ndarray | Tensor,
        x_test: np.ndarray | Tensor,
        y_test: np.ndarray | Tensor,
        lr: float = 1e-2,
        batch_size: int | None = 256,
        seed: int = 0,
        max_bad_steps: int = 20,
    ) -> None:
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"learning rate must be a positive number, got {lr!r}")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
        self.model = model
        self.x_train = as_inputs(x_train)
        self.y_train = _as_y(y_train, self.x_train.shape[0], model.n_classes)
        self.x_test = as_inputs(x_test)
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
        opt_backup = {
            k: {n: t.clone() if torch.is_tensor(t) else t for n, t in v.items()}
            for k, v in self.optimizer.state.items()
        }
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
                    self.paused_reason = (
                        f"training paused: {self.bad_streak} steps in a row were not finite "
                        f"({reason}); the last good model is kept"
                    )
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
        with eval_mode(self.model):
            errs = []
            for x, y in ((self.x_train, self.y_train), (self.x_test, self.y_test)):
                if x.shape[0] == 0:
                    errs.append(math.nan)
                    continue
                logits = self.model(x)
                wrong = (logits.argmax(-1) != y) | ~torch.isfinite(logits).all(-1)
                errs.append(float(wrong.float().mean()))
        return errs[0], errs[1]
