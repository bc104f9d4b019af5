"""Maximum-likelihood training of a flow, one step at a time, driven by the caller (no threads).

The plain call, ``Trainer(flow, data)``, is the best known setting: the fast engine where it takes
the flow (the C kernel, :mod:`iresnet_core.kernels`; torch elsewhere, and :attr:`Trainer.engine`
says which and why), each model's tuned learning rate and step-size schedule (:data:`DEFAULT_LR`,
:data:`DEFAULT_LR_DECAY`), the running average of the weights for evaluation, and the exact
NLL recomputed at most once a second of training (``eval_every_s``), so that ``step(1)`` in a loop
runs at the pace of ``step(10)``. The dashboard calls :meth:`Trainer.run_for` once per redraw for a
time-budgeted burst; the CLI calls :meth:`Trainer.run_for` in a loop. A non-finite loss, gradient
or update never reaches the weights: the step is discarded, the last good parameters stay, and the
metrics say why. After ``max_bad_steps`` bad steps in a row the trainer pauses itself
(``paused_reason``).

Example:
    >>> import iresnet_core as ic
    >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(32,)))
    >>> trainer = ic.Trainer(flow, ic.datasets.sample("8gaussians", 1000, seed=0))
    >>> m = trainer.step(5)
    >>> m["step"], m["test_nll"] == trainer.evaluate()[1]  # the NLL of trainer.eval_flow
    (5, True)
    >>> trainer.lr == ic.DEFAULT_LR["iresnet"], trainer.engine in ("C kernel", "torch")
    (True, True)
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from typing import Any, Literal

import numpy as np
import torch

from iresnet_core.flows.flow import Flow
from iresnet_core.kernels.flat_params import FlatParameters
from iresnet_core.kernels.nll import NativeNLL, training_engine
from iresnet_core.ops.spectral import refresh_power_iteration, spectral_layers
from iresnet_core.training.averaging import RunningAverage, check_decay
from iresnet_core.training.history import History
from iresnet_core.training.threads import torch_threads

__all__ = [
    "Trainer",
    "AVERAGE_DECAY",
    "RESUME_WARMUP",
    "LR_DECAY",
    "DEFAULT_LR",
    "DEFAULT_LR_DECAY",
]

#: Points used for the exact train and test NLL the metrics report.
EVAL_POINTS = 2000
#: By default the exact NLL is recomputed at most this often (seconds of wall time): a call of
#: :meth:`Trainer.step` does not pay for an evaluation unless one is due (or asked for).
EVAL_EVERY_S = 1.0
#: ``lr`` and ``lr_decay``'s default: the flow's model's own tuned value (:data:`DEFAULT_LR`).
MODEL_DEFAULT: Literal["model default"] = "model default"

#: The default decay of the running average of the weights
#: (:mod:`iresnet_core.training.averaging`): about 50 steps of memory (chosen by the tuning in
#: docs/benchmarks.md).
AVERAGE_DECAY = 0.98

#: ``tau`` of the step-size decay ``lr / sqrt(1 + t / tau)`` the tuning tries and Glow's default
#: (``Trainer(lr_decay=)``; docs/benchmarks.md has the comparison it rests on).
LR_DECAY = 1000

#: Each model's default learning rate (Adam's, at step 0) and step-size decay (``None``: constant),
#: read off one tuning procedure applied to both models alike (``benchmarks/tuning.py``, its table
#: in docs/benchmarks.md). The Playground's and the CLI's.
DEFAULT_LR = {"iresnet": 1e-2, "glow": 3e-3}
DEFAULT_LR_DECAY: dict[str, float | None] = {"iresnet": None, "glow": LR_DECAY}

#: Warm-up steps for a trainer that starts from trained weights (a checkpoint): Adam's first
#: update moves every weight by about ``lr`` whatever its gradient, which throws a trained flow off
#: its optimum; a ramp over this many updates does not (docs/benchmarks.md).
RESUME_WARMUP = 100


def _saved_state(opt: torch.optim.Optimizer, p: torch.Tensor) -> dict[str, Any] | None:
    """A copy of the optimiser's state of ``p`` (Adam: step, moments), ``None`` when it has
    none."""
    st = opt.state.get(p)
    return {k: v.clone() if torch.is_tensor(v) else v for k, v in st.items()} if st else None


def _restore_state(
    opt: torch.optim.Optimizer, p: torch.Tensor, saved: dict[str, Any] | None
) -> None:
    """Put back what :func:`_saved_state` copied (no state then: none now)."""
    if saved is None:
        opt.state.pop(p, None)
        return
    st = opt.state[p]
    for k, v in saved.items():
        if torch.is_tensor(v) and torch.is_tensor(st.get(k)):
            st[k].copy_(v)
        else:
            st[k] = v


def _points(data: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Points as a float32 tensor; a tensor keeps its device (a flow moved to a GPU trains on
    points there)."""
    if torch.is_tensor(data):
        return data.detach().to(torch.float32)
    return torch.as_tensor(np.asarray(data, dtype=np.float32))


def clip_grad_norm(grads: list[torch.Tensor], max_norm: float | None) -> float:
    """The global L2 norm of ``grads`` (``torch.nn.utils.get_total_norm``); when it exceeds
    ``max_norm`` every gradient is scaled by ``max_norm / norm`` in place (one
    ``torch._foreach_mul_``, as ``torch.nn.utils.clip_grads_with_norm_`` scales the gradients of
    parameters; ``None``: never). A non-finite norm leaves the gradients alone: the step is
    discarded anyway.

    Example:
        >>> g = [torch.tensor([3.0, 4.0])]
        >>> clip_grad_norm(g, 1.0), [round(v, 3) for v in g[0].tolist()]
        (5.0, [0.6, 0.8])
    """
    if not grads:
        return 0.0
    norm = float(torch.nn.utils.get_total_norm(grads))
    if max_norm is not None and math.isfinite(norm) and norm > max_norm:
        torch._foreach_mul_(grads, max_norm / (norm + 1e-6))
    return norm


class Trainer:
    """Adam on the negative log-likelihood, with a held-out test split.

    The trainer keeps the flow's trainable parameters as views of one buffer
    (:class:`~iresnet_core.kernels.flat_params.FlatParameters`). Two trainers of one flow take the
    parameters over in turn: each binds them back to its own buffer, current values kept, when it
    steps.

    Args:
        flow: the flow to train (trained in place).
        data: training points, ``(n, d)``; a ``test_fraction`` of them is held out unless
            ``test_data`` is given.
        lr: Adam's learning rate at step 0 (default: the model's tuned one, :data:`DEFAULT_LR`);
            :meth:`set_lr` changes it live.
        batch_size: points per step (drawn with replacement).
        seed: seeds the split, the batches and the flow's estimator noise: same seed, same run.
        max_bad_steps: bad (non-finite) steps in a row before the trainer pauses itself.
        clip_grad: the gradient norm is clipped to this (``None``: off). Guards Adam against the
            rare huge gradient that otherwise wrecks a Glow in a single step.
        history_points: the most points kept per curve (old points are thinned).
        eval_every_s: the exact train/test NLL (and the Lipschitz bound) in the metrics are
            recomputed when at least this much wall time has passed since the last evaluation
            (0: after every call; always at the first call); in between the metrics carry the
            last values and ``eval_step`` says which step they are of. :meth:`evaluate` computes
            them now.
        average: the decay of the running average of the weights that evaluation uses
            (:attr:`eval_flow`, :mod:`iresnet_core.training.averaging`); ``None``: evaluate the
            trained weights themselves. :meth:`set_average` changes it live.
        lr_decay: ``tau`` of the step-size decay ``lr / sqrt(1 + t / tau)`` after ``t`` optimiser
            updates (``None``: a constant ``lr``; default: the model's, :data:`DEFAULT_LR_DECAY`).
        decay_from: where ``t`` starts: a trainer that resumes trained weights passes the steps
            they were trained for, so that it carries on at their step size, not at ``lr``.
        warmup: optimiser steps over which the step size ramps linearly up to ``lr`` (``0``:
            none). Adam's first step moves every weight by about ``lr`` whatever its gradient
            (its moments are empty: ``m / sqrt(v) = sign(g)``, Kingma & Ba 2015, Sec. 2.1),
            which throws a trained flow off its optimum. A resumed flow gets
            :data:`RESUME_WARMUP`.
        native: train through the fast engine where it takes the flow (the C kernel's exact loss
            and gradient in one pass, :class:`iresnet_core.kernels.nll.NativeNLL`; the same numbers
            as torch's); ``False``: torch. :attr:`engine` and :attr:`engine_reason` say which runs.
        compile: accepted for old callers and ignored: the torch.compile path is gone, the C engine
            needs no compiling.
    """

    def __init__(
        self,
        flow: Flow,
        data: np.ndarray | torch.Tensor,
        lr: float | Literal["model default"] = MODEL_DEFAULT,
        batch_size: int = 500,
        seed: int = 0,
        test_data: np.ndarray | torch.Tensor | None = None,
        test_fraction: float = 0.2,
        max_bad_steps: int = 20,
        clip_grad: float | None = 10.0,
        history_points: int = 2000,
        eval_every_s: float = EVAL_EVERY_S,
        average: float | None = AVERAGE_DECAY,
        warmup: int = 0,
        lr_decay: float | None | Literal["model default"] = MODEL_DEFAULT,
        decay_from: int = 0,
        compile: bool | str = False,
        native: bool = True,
    ) -> None:
        model = flow.cfg.model
        lr = DEFAULT_LR[model] if lr == MODEL_DEFAULT else lr
        lr_decay = DEFAULT_LR_DECAY[model] if lr_decay == MODEL_DEFAULT else lr_decay
        if compile:
            warnings.warn(
                "Trainer(compile=...) is ignored: the C engine needs no compiling (native=True)",
                DeprecationWarning,
                stacklevel=2,
            )
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"learning rate must be a positive number, got {lr!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
        if max_bad_steps < 1:
            raise ValueError(f"max_bad_steps must be >= 1, got {max_bad_steps!r}")
        if not isinstance(warmup, int) or warmup < 0:
            raise ValueError(f"warmup must be a non-negative number of steps, got {warmup!r}")
        if lr_decay is not None and not (
            isinstance(lr_decay, (int, float)) and math.isfinite(lr_decay) and lr_decay > 0
        ):
            raise ValueError(
                f"lr_decay must be a positive number of steps or None, got {lr_decay!r}"
            )
        if not isinstance(decay_from, int) or decay_from < 0:
            raise ValueError(
                f"decay_from must be a non-negative number of steps, got {decay_from!r}"
            )
        x = _points(data)
        if x.ndim != 2 or x.shape[1] != flow.dim:
            raise ValueError(f"data must have shape (n, {flow.dim}), got {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError("data contain NaN or infinite values")
        self.flow = flow
        self.seed = seed
        self.batch_size = batch_size
        self.max_bad_steps = max_bad_steps
        self.clip_grad = clip_grad
        gen = torch.Generator().manual_seed(seed)
        if test_data is None:
            if x.shape[0] < 2:
                raise ValueError("need at least 2 points to hold some out for testing")
            perm = torch.randperm(x.shape[0], generator=gen)
            n_test = max(1, int(round(test_fraction * x.shape[0])))
            self.test_x, self.train_x = x[perm[:n_test]], x[perm[n_test:]]
        else:
            self.train_x = x
            self.test_x = _points(test_data)
        self._eval_train = self.train_x[:EVAL_POINTS]
        self._eval_test = self.test_x[:EVAL_POINTS]
        self.generator = gen
        flow.generator.manual_seed(seed)
        # Every trainable tensor a view of one buffer: Adam, the clipping norm, zeroing and the
        # running average are one operation each (iresnet_core.kernels.flat_params)
        self._flat = FlatParameters([p for p in flow.parameters() if p.requires_grad])
        self._native: NativeNLL | None = None
        self.engine_reason: str | None = None
        self.set_native(native)
        self._optimizer: torch.optim.Adam | None = None  # made by the first update (optimizer)
        self._lr = float(lr)  # what was asked for; the optimiser's is lower during the warm-up
        self.warmup = warmup
        self.lr_decay = None if lr_decay is None else float(lr_decay)
        self.decay_from = decay_from
        self._updates = 0  # optimiser updates taken (the warm-up's clock)
        self._spectral = spectral_layers(flow)
        self.step_count = 0
        self.skipped_total = 0
        self.bad_streak = 0
        self.paused_reason: str | None = None
        self.last_skip_reason: str | None = None
        self.history = History(
            ("step", "seconds", "train_nll", "test_nll", "loss"), max_points=history_points
        )
        self.wall_time = 0.0
        self.eval_every_s = float(eval_every_s)
        self._last_eval: tuple[int, float, float, float] | None = None  # step, train, test, lip
        self._vectors_stale = False  # the trained flow's power-iteration vectors lag its weights
        self._last_eval_time = -math.inf
        self._average_decay: float | None = None
        self._average: RunningAverage | None = None  # made at the first step (set_average)
        self.set_average(average)

    def set_native(self, on: bool) -> None:
        """Train through the fast engine from the next step on where it takes the flow (``True``),
        or through torch (``False``); the weights, the optimiser's moments and the step count
        stay. :attr:`engine_reason` says why torch runs where the engine was asked for."""
        reason = (
            training_engine(self.flow, estimator=False)[1]
            if on
            else "torch asked for (native=False)"
        )
        self._native = NativeNLL(self.flow, self._flat) if reason is None else None
        self.engine_reason = reason
        self._loss = self._native or self.flow.nll

    @property
    def native(self) -> bool:
        """Whether the C kernel trains this flow (``native=True`` and the kernel takes it); it does
        so in ``"exact"`` log-det mode, the other modes take the torch loss."""
        return self._native is not None

    @property
    def engine(self) -> str:
        """``"C kernel"`` when the next step runs in the C engine, else ``"torch"`` (then
        :attr:`engine_reason`, or the log-det estimator, says why)."""
        exact = self.flow.cfg.logdet == "exact"  # (an ActNorm's first batch is torch's: its init)
        return "C kernel" if self._native is not None and exact else "torch"

    @property
    def optimizer(self) -> torch.optim.Adam:
        """Adam over the flat parameters, made when first asked for (the first update, or a
        change of the step size): torch's first optimiser in a process imports
        ``torch._dynamo``, which is not needed to build a trainer and draw its flow (the
        dashboard's first page; docs/benchmarks.md, "Time to first chart")."""
        if self._optimizer is None:
            self._optimizer = torch.optim.Adam([self._flat.data], lr=self._lr, fused=True)
        return self._optimizer

    @property
    def lr(self) -> float:
        """The learning rate asked for (during the warm-up the optimiser takes a fraction of
        it)."""
        return self._lr

    def set_lr(self, lr: float) -> None:
        """Change the learning rate now, keeping the optimiser's moments (no reset)."""
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"learning rate must be a positive number, got {lr!r}")
        self._lr = float(lr)
        self._apply_lr()

    @property
    def decayed_lr(self) -> float:
        """``lr / sqrt(1 + t / lr_decay)`` with ``t = decay_from +`` updates taken (``lr`` without
        a decay): the step size of the next update once the warm-up is over."""
        if self.lr_decay is None:
            return self._lr
        return self._lr / math.sqrt(1.0 + (self.decay_from + self._updates) / self.lr_decay)

    @property
    def warmup_left(self) -> int:
        """Updates still to come in the warm-up's ramp (0 when there is none or it is over)."""
        return max(0, self.warmup - self._updates)

    @property
    def step_size(self) -> float:
        """The optimiser's step size for the next update: :attr:`decayed_lr`, ramped linearly
        during the warm-up."""
        ramp = min(1.0, (self._updates + 1) / self.warmup) if self.warmup else 1.0
        return self.decayed_lr * ramp

    def _apply_lr(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.step_size

    def set_batch_size(self, batch_size: int) -> None:
        """Change the batch size from the next step on (no reset)."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = batch_size

    @property
    def average(self) -> float | None:
        """The decay of the running average of the weights, or ``None`` when it is off."""
        return self._average_decay

    def set_average(self, decay: float | None) -> None:
        """Start a running average of the weights from the current ones (``decay`` in (0, 1)), or
        stop it (``None``); a no-op when the decay is unchanged, so the average is kept.

        The average's copy of the flow is made at the next step: until then it would equal the
        weights themselves, and a trainer that never trains (a page opened and left) never
        copies."""
        decay = None if decay is None else check_decay(decay)
        if decay is not None and decay == self._average_decay:
            return
        self._average_decay = decay
        self._average = None
        self._last_eval = None  # the evaluated model changed

    @property
    def eval_flow(self) -> Flow:
        """The flow to evaluate, sample and show: the running average of the trained weights when
        averaging is on (its buffers brought up to date on access), else :attr:`flow` itself."""
        if self._average is not None:
            return self._average.flow  # type: ignore[return-value]
        if self._vectors_stale:
            # Training forwards run one power iteration each, on the weights before their update;
            # one more matches the stored vectors to the weights evaluation will see.
            refresh_power_iteration(self.flow, layers=self._spectral)
            self._vectors_stale = False
        return self.flow

    def resume(self) -> None:
        """Clear a self-imposed pause (after the person changed something)."""
        self.paused_reason = None
        self.bad_streak = 0

    def _update_can_overflow(self) -> bool:
        """Whether an Adam step from finite gradients could leave non-finite weights.

        With the gradient's norm clipped to a finite value its moments stay finite, and Adam moves
        each weight by at most a small multiple of ``lr`` (Kingma & Ba 2015, Sec. 2.1), so a finite
        weight stays finite unless ``lr`` itself is astronomically large. Only unclipped gradients
        (whose squares can overflow) or such an ``lr`` need the backup and the check after the
        step.
        """
        return self.clip_grad is None or not self.lr < 1e30

    def _one_step(self) -> tuple[float, float, str | None]:
        """One Adam step, folded into the running average when it was taken; returns (loss,
        grad_norm, skip reason or None)."""
        loss, grad_norm, reason = self._step_and_average()
        self._vectors_stale = True
        return loss, grad_norm, reason

    def _step_and_average(self) -> tuple[float, float, str | None]:
        if self._average is None and self._average_decay is not None:
            self._average = RunningAverage(self.flow, self._average_decay, self._flat)
        loss, grad_norm, reason = self._optimizer_step()
        if reason is None and self._average is not None:
            self._average.update()
        return loss, grad_norm, reason

    def _optimizer_step(self) -> tuple[float, float, str | None]:
        flat = self._flat
        idx = torch.randint(self.train_x.shape[0], (self.batch_size,), generator=self.generator)
        loss = self._loss(self.train_x[idx])
        if not torch.isfinite(loss):
            return float(loss.detach()), math.nan, "non-finite loss"
        flat.zero_grad()
        loss.backward()
        grad_norm = clip_grad_norm([flat.grad], self.clip_grad)
        if not math.isfinite(grad_norm):
            flat.zero_grad()
            return float(loss.detach()), grad_norm, "non-finite gradient"
        if self._updates < self.warmup or self.lr_decay is not None:
            self._apply_lr()
        self._updates += 1
        if not self._update_can_overflow():
            self.optimizer.step()
            return float(loss.detach()), grad_norm, None
        # A copy of the parameters and of Adam's moments: the rare non-finite update is rolled back
        # from it.
        with torch.no_grad():
            backup = flat.data.clone()
            opt_backup = _saved_state(self.optimizer, flat.data)
        self.optimizer.step()
        if not bool(torch.isfinite(flat.data).all()):
            with torch.no_grad():
                flat.data.copy_(backup)
            _restore_state(self.optimizer, flat.data, opt_backup)
            return float(loss.detach()), grad_norm, "non-finite parameters after the update"
        return float(loss.detach()), grad_norm, None

    def step(self, k: int = 1) -> dict[str, Any]:
        """Run ``k`` steps (fewer if the trainer pauses itself) and return the metrics."""
        return self._run(max_steps=k, seconds=None)

    def run_for(self, seconds: float, max_steps: int | None = None) -> dict[str, Any]:
        """Train for about ``seconds`` of wall time (at least one step): a burst per redraw."""
        return self._run(max_steps=max_steps, seconds=seconds)

    def _run(self, max_steps: int | None, seconds: float | None) -> dict[str, Any]:
        if not self.flow.training:
            self.flow.train()
        start = time.perf_counter()
        # The C engine shares a batch among threads of its own: torch's team, spinning after the
        # step's few small operations, would take their cores (see docs/benchmarks.md).
        one_thread = self._native is not None and self._native.applies()
        with torch_threads(1) if one_thread else contextlib.nullcontext():
            losses, grad_norms, skipped, reasons, done = self._loop(max_steps, seconds, start)
        elapsed = time.perf_counter() - start
        self.wall_time += elapsed
        self.skipped_total += skipped
        self.last_skip_reason = reasons[-1] if reasons else None
        due = time.perf_counter() - self._last_eval_time >= self.eval_every_s
        if self._last_eval is None or (due and self._last_eval[0] != self.step_count):
            train_nll, test_nll = self.evaluate()
            self._last_eval = (self.step_count, train_nll, test_nll, self.lipschitz())
            self._last_eval_time = time.perf_counter()
            if losses:
                self.history.append(
                    step=self.step_count,
                    seconds=self.wall_time,
                    train_nll=train_nll,
                    test_nll=test_nll,
                    loss=float(np.mean(losses)),
                )
        eval_step, train_nll, test_nll, lip = self._last_eval
        return {
            "step": self.step_count,
            "loss": float(np.mean(losses)) if losses else math.nan,
            "train_nll": train_nll,
            "test_nll": test_nll,
            "grad_norm": float(np.mean(grad_norms)) if grad_norms else math.nan,
            "lip": lip,
            "steps_per_s": done / elapsed if elapsed > 0 else math.nan,
            "steps": done,
            "skipped": skipped,
            "skipped_total": self.skipped_total,
            "skip_reason": self.last_skip_reason,
            "bad_streak": self.bad_streak,
            "paused_reason": self.paused_reason,
            "lr": self.lr,
            "step_size": self.step_size,
            "eval_step": eval_step,
            "engine": self.engine,
        }

    def _loop(
        self, max_steps: int | None, seconds: float | None, start: float
    ) -> tuple[list[float], list[float], int, list[str], int]:
        """Steps until ``max_steps`` or ``seconds`` or a self-imposed pause; returns the losses
        and gradient norms of the steps taken, the count and reasons of those skipped, and all
        steps tried."""
        losses, grad_norms, skipped, reasons, done = [], [], 0, [], 0
        while self.paused_reason is None:
            if max_steps is not None and done >= max_steps:
                break
            if seconds is not None and done > 0 and time.perf_counter() - start >= seconds:
                break
            loss, grad_norm, reason = self._one_step()
            done += 1
            if reason is None:
                self.step_count += 1
                self.bad_streak = 0
                losses.append(loss)
                grad_norms.append(grad_norm)
            else:
                skipped += 1
                reasons.append(reason)
                self.bad_streak += 1
                if self.bad_streak >= self.max_bad_steps:
                    self.paused_reason = (
                        f"training paused: {self.bad_streak} steps in a row were not finite "
                        f"({reason}); the last good model is kept. Lower the learning rate or "
                        "turn the constraint back on."
                    )
        return losses, grad_norms, skipped, reasons, done

    @torch.inference_mode()
    def evaluate(self) -> tuple[float, float]:
        """The exact NLL (nats) of :attr:`eval_flow` on up to ``EVAL_POINTS`` training and test
        points, through :meth:`~iresnet_core.flows.flow.Flow.log_prob_many` (the engine's density
        kernel where it applies)."""
        flow = self.eval_flow
        was = flow.training
        flow.eval()
        try:
            n = len(self._eval_train)
            with torch.inference_mode():  # one pass over both sets: the weights are prepared once
                lp = flow.log_prob_many(torch.cat([self._eval_train, self._eval_test]))
            train, test = float(-lp[:n].mean()), float(-lp[n:].mean())
        finally:
            flow.train(was)
        return train, test

    def lipschitz(self) -> float:
        """The largest per-block bound on Lip(g) of :attr:`eval_flow` (product of exact spectral
        norms); nan for Glow."""
        bounds = [
            layer.lipschitz_bound()
            for layer in self.eval_flow.layers
            if hasattr(layer, "lipschitz_bound")
        ]
        return max(bounds) if bounds else math.nan
