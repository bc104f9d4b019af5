"""The i-ResNet's exact training loss as one compiled graph (``torch.compile``, inductor).

A training step of the eager flow is some 3,000 small torch calls, each a Python call and a pass
over memory: on two cores a third of the step went to them rather than to the matrix products
(issue 6, ``docs/benchmarks.md``). Here the whole negative log-likelihood of a flow of residual
blocks and ActNorms is one function of tensors: each block's spectral rule ``W / max(1, sigma / c)``
(Behrmann et al. 2019, Sec. 3.1, ``sigma = u^T W v`` from the power iteration), its 2D Jacobian
carried through the MLP with the values, and ``ln |det(I + J_g)|`` exactly (eq. 2's log-det,
the 2 x 2 determinant). ``torch.compile`` traces it once into a forward and a backward graph
(autograd derives the backward: only first derivatives, since ``J_g`` is computed, not
differentiated), fuses the pointwise passes into a few loops per layer and leaves the products
to BLAS. The numbers are those of :meth:`iresnet_core.flow.Flow.nll` up to float rounding.

What it costs: a C++ compiler at run time, and a first step that compiles (20-40 s cold for
8 x 2-128-128-2; a few seconds once inductor's cache on disk is warm), again for every new
architecture. So it is opt-in (:class:`iresnet_core.train.Trainer`'s ``compile``). The loss falls
back to the eager :meth:`~iresnet_core.flow.Flow.nll`, with the same numbers, wherever the
compiled graph does not apply: before the ActNorms have seen their first batch, in any log-det
mode but ``"exact"``, and, with one :class:`RuntimeWarning`, for good once compiling has failed.

Example:
    >>> import torch, iresnet_core as ic
    >>> from iresnet_core.activations import get_activation
    >>> ws = [torch.randn(8, 2), torch.randn(2, 8) / 8]
    >>> y, ld = residual_exact(get_activation("elu"), torch.randn(5, 2), ws, [torch.zeros(8), torch.zeros(2)])
    >>> y.shape, ld.shape
    (torch.Size([5, 2]), torch.Size([5]))
"""

from __future__ import annotations

import copy
import dataclasses
import queue
import threading
import warnings
import weakref
from collections.abc import Callable

import torch
from torch import Tensor

from .activations import Activation
from .actnorm import ActNorm
from .flat_params import FlatParameters
from .flow import Flow, standard_normal_log_prob
from .iresnet import InvertibleResidualBlock
from .lipschitz import drop_prefetched, prefetch_training_rescales

__all__ = ["residual_exact", "CompiledNLL", "not_compilable", "compile_failure", "reset_compiled", "COMPILE_STATES"]

#: :attr:`CompiledNLL.state`'s values: compiling in the background (the loss is eager meanwhile),
#: compiled (the loss takes the graph where it applies), failed (eager for good).
COMPILE_STATES = ("compiling", "compiled", "failed")

#: Dynamo compiles a function again for every new structure it sees (number of blocks, widths,
#: activation) and gives up after ``recompile_limit`` of them (8 by default); a Playground
#: session tries more architectures than that. Raised to this, for every compiled function.
RECOMPILE_LIMIT = 64

# Streamlit runs each browser session in a thread of its own; dynamo is not meant to compile in
# two threads at once, so the compiled calls take turns (uncontended, well under a microsecond).
_LOCK = threading.RLock()
_COMPILED: list[Callable[..., Tensor]] = []
_FAILURE: list[str] = []


def residual_exact(act: Activation, x: Tensor, ws: list[Tensor], bs: list[Tensor], bias: Tensor | None = None,
                   log_scale: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``(x + g(x), ln |det(I + J_g(x))|)`` for 2D ``x`` and the MLP ``g`` with weights ``ws``
    (already normalised) and biases ``bs``; with ``bias`` and ``log_scale``, the ActNorm after the
    block as well: ``((x + g(x) + bias) * exp(log_scale), ... + sum(log_scale))``.

    The tangents ``P_k[i] = d a_k / d x_i`` travel with the values, stacked as rows:
    ``Z_k = [h_k; P_k[0] * phi'(a_k); P_k[1] * phi'(a_k)]`` times ``W_{k+1}^T`` gives the next
    pre-activations and tangents in one product (``J_g = W_L D_{L-1} W_{L-1} ... D_1 W_1``,
    paper Sec. 3; :mod:`iresnet_core.jacobian_mlp` has the same pass with a hand-written backward).
    Written with ``torch.cat`` and no in-place writes, for the compiler to fuse.
    """
    B, d = x.shape
    a = torch.addmm(bs[0], x, ws[0].t())
    h, s = act.value_and_derivative(a)
    w1t = ws[0].t()
    Z = torch.cat([h, *(s * w1t[i] for i in range(d))])  # the first layer's tangents: W_1's columns
    for w, b in zip(ws[1:-1], bs[1:-1]):
        Y = Z @ w.t()
        h, s = act.value_and_derivative(Y[:B] + b)
        Z = torch.cat([h, (Y[B:].view(d, B, -1) * s).view(d * B, -1)])
    Yt = ws[-1] @ Z.t()  # (d, (1 + d) B): row j = [g_j - b_j, J[:, j, 0], J[:, j, 1]]
    det = (Yt[0, B:2 * B] + 1.0) * (Yt[1, 2 * B:] + 1.0) - Yt[0, 2 * B:] * Yt[1, B:2 * B]
    y, ld = x + bs[-1] + Yt[:, :B].t(), det.abs().log()
    if bias is not None:
        y, ld = (y + bias) * log_scale.exp(), ld + log_scale.sum()
    return y, ld


def _flow_nll(act: Activation, x: Tensor, steps: list[tuple]) -> Tensor:
    """The mean NLL of ``x`` through ``steps``, each ``("actnorm", bias, log_scale)`` or
    ``("block", ws, us, vs, coeffs, bs, affine)`` (``us``/``vs``/``coeffs`` ``None`` for an
    unconstrained block, ``affine`` ``None`` or the following ActNorm's ``(bias, log_scale)``)."""
    lds = []
    for step in steps:
        if step[0] == "actnorm":
            _, bias, log_scale = step
            x = (x + bias) * log_scale.exp()
            lds.append(log_scale.sum().expand(x.shape[0]))
            continue
        _, ws, us, vs, coeffs, bs, affine = step
        if coeffs is not None:  # the soft rule W / max(1, sigma / c), sigma = u^T W v (u, v held fixed)
            ws = [w / torch.clamp(torch.dot(u, torch.mv(w, v)) / c, min=1.0) for w, u, v, c in zip(ws, us, vs, coeffs)]
        x, ld = residual_exact(act, x, ws, bs, *(affine or ()))
        lds.append(ld)
    return -(standard_normal_log_prob(x) + torch.stack(lds).sum(0)).mean()


def compile_failure() -> str | None:
    """Why compiling failed (every loss since is the eager one), or ``None`` while it has not."""
    return _FAILURE[0] if _FAILURE else None


def reset_compiled() -> None:
    """Forget the compiled function and any failure: the next compiled loss compiles again."""
    with _LOCK:
        _COMPILED.clear()
        _FAILURE.clear()


def _compiled() -> Callable[..., Tensor]:
    if not _COMPILED:
        import torch._dynamo.config as dynamo_config

        dynamo_config.recompile_limit = max(dynamo_config.recompile_limit, RECOMPILE_LIMIT)
        # fullgraph: a graph break would run part of the loss eagerly without a word; an error
        # instead falls back to Flow.nll, once, with a warning.
        _COMPILED.append(torch.compile(_flow_nll, fullgraph=True))
    return _COMPILED[0]


def not_compilable(flow: Flow) -> str | None:
    """Why :class:`CompiledNLL` cannot take ``flow``, or ``None`` when it can."""
    layers = list(flow.layers)
    blocks = [m for m in layers if isinstance(m, InvertibleResidualBlock)]
    others = [type(m).__name__ for m in layers if not isinstance(m, (InvertibleResidualBlock, ActNorm))]
    if not blocks or others:
        return ("compiled training is for an i-ResNet of residual blocks and ActNorms"
                + (f"; this flow has {', '.join(sorted(set(others)))}" if others else ""))
    if flow.dim != 2:
        return f"compiled training is for 2D data, this flow is {flow.dim}D"
    if not all(b.g._hand_written for b in blocks):
        return ("compiled training needs a hidden layer in every block and spectral normalisation by "
                "power iteration (not spectral='exact')")
    return None


class CompiledNLL:
    """``flow``'s training loss ``flow.nll(x)``, through the compiled graph where it applies.

    ``flow`` must be an i-ResNet whose layers are residual blocks (2D, a hidden layer, spectral
    normalisation by power iteration) and ActNorms; anything else is a ``ValueError`` here, not a
    surprise later. Calls in training mode run the power iteration as :meth:`Flow.forward` does
    (one batched iteration, vectors kept), so a step sees the same weights either way.

    With ``background``, the first call does not wait for the compiler: a worker thread compiles
    the graph on a copy of ``flow`` (batches of ``batch_size``) while the calls here take the eager
    loss, and the first call after it is done takes the graph (:attr:`state` tells which). A live
    page keeps training through the compile instead of freezing for it.
    """

    def __init__(self, flow: Flow, background: bool = False, batch_size: int = 500) -> None:
        reason = not_compilable(flow)
        if reason is not None:
            raise ValueError(reason)
        layers = list(flow.layers)
        blocks = [m for m in layers if isinstance(m, InvertibleResidualBlock)]
        self.flow = flow
        self._layers = layers
        self._act = blocks[0].g.act
        # c as tensors, not numbers: dynamo would compile again for every new value of a number
        self._coeffs = {i: [torch.tensor(lin.coeff, dtype=lin.weight.dtype) for lin in m.g.linears]
                        for i, m in enumerate(layers) if isinstance(m, InvertibleResidualBlock) and m.g.linears[0].coeff is not None}
        self._ready = threading.Event()
        if background:
            _Worker.submit(self, _warm_up_copy(flow), batch_size)
        else:
            self._ready.set()

    @property
    def state(self) -> str:
        """One of :data:`COMPILE_STATES`."""
        if _FAILURE:
            return "failed"
        return "compiled" if self._ready.is_set() else "compiling"

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a background compile is over (done or failed); ``False`` on ``timeout``."""
        return self._ready.wait(timeout)

    def applies(self) -> bool:
        """Whether the next call takes the compiled graph: exact log-det, ActNorms initialised, a
        gradient to take, compiled (not still compiling in the background), and not failed."""
        flow = self.flow
        return (flow.cfg.logdet == "exact" and torch.is_grad_enabled() and not _FAILURE and self._ready.is_set()
                and all(bool(m.initialized) for m in self._layers if isinstance(m, ActNorm)))

    def _steps(self) -> list[tuple]:
        steps: list[tuple] = []
        layers, i = self._layers, 0
        while i < len(layers):
            layer = layers[i]
            if isinstance(layer, ActNorm):
                steps.append(("actnorm", layer.bias, layer.log_scale))
                i += 1
                continue
            following = layers[i + 1] if i + 1 < len(layers) else None
            affine = (following.bias, following.log_scale) if isinstance(following, ActNorm) else None
            lins = list(layer.g.linears)
            if lins[0].coeff is None:
                us = vs = coeffs = None
            else:
                us, vs = [lin.u for lin in lins], [lin.v for lin in lins]
                coeffs = self._coeffs[i]
            steps.append(("block", [lin.weight for lin in lins], us, vs, coeffs, [lin.bias for lin in lins], affine))
            i += 2 if affine is not None else 1
        return steps

    def __call__(self, x: Tensor) -> Tensor:
        """The mean NLL of ``x``, differentiable: the compiled graph's, or ``flow.nll(x)``'s."""
        flow = self.flow
        if not self.applies():
            return flow.nll(x)
        if flow.training:  # this step's power iteration, all blocks at once, as Flow.forward runs it
            drop_prefetched(prefetch_training_rescales(flow._spectral()))
        steps = self._steps()
        with _LOCK:
            try:
                return _compiled()(self._act, x, steps)
            except Exception as exc:  # noqa: BLE001  (any compiler failure: the eager loss is the same)
                _record_failure(exc)
        # (this step's power iteration ran already; the eager loss runs one more, which only
        # refines sigma's estimate)
        return flow.nll(x)


def _record_failure(exc: BaseException) -> None:
    text = str(exc).strip()
    _FAILURE.append(f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}")
    warnings.warn(f"compiling the training loss failed, training goes on uncompiled ({_FAILURE[0]})",
                  RuntimeWarning, stacklevel=3)


def _warm_up_copy(flow: Flow) -> Flow:
    """A copy of ``flow`` to compile on, laid out as a :class:`iresnet_core.train.Trainer` lays out
    its parameters (views of one buffer), its ActNorms marked initialised and its log-det exact.
    Made in the caller's thread: the original may be training while the worker compiles."""
    with torch.no_grad():
        twin = copy.deepcopy(flow)
    twin.cfg = dataclasses.replace(flow.cfg, logdet="exact")
    FlatParameters([p for p in twin.parameters() if p.requires_grad])
    for m in twin.layers:
        if isinstance(m, ActNorm):
            m.initialized.fill_(1)
    return twin.train()


class _Worker:
    """The one thread that compiles in the background, one request after another; a request whose
    owner is gone by its turn (a Playground that moved on to another architecture) is skipped."""

    _queue: "queue.SimpleQueue[tuple]" = queue.SimpleQueue()
    _thread: threading.Thread | None = None
    _start_lock = threading.Lock()

    @classmethod
    def submit(cls, owner: CompiledNLL, twin: Flow, batch_size: int) -> None:
        cls._queue.put((weakref.ref(owner), twin, int(batch_size)))
        with cls._start_lock:
            if cls._thread is None or not cls._thread.is_alive():
                cls._thread = threading.Thread(target=cls._serve, name="iresnet-compile", daemon=True)
                cls._thread.start()

    @classmethod
    def _serve(cls) -> None:
        while True:
            ref, twin, batch_size = cls._queue.get()
            if ref() is None:
                continue
            try:
                dtype = next(twin.parameters()).dtype
                x = torch.randn(batch_size, twin.dim, generator=torch.Generator().manual_seed(0), dtype=dtype)
                with torch.enable_grad():
                    CompiledNLL(twin)(x).backward()  # the forward graph, then the backward's
            except Exception as exc:  # noqa: BLE001  (not the compiler's: the copy itself failed)
                _record_failure(exc)
            owner = ref()
            if owner is not None:
                owner._ready.set()
            del twin, owner
