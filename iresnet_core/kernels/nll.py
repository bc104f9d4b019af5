"""A 2D flow's exact training loss through the C kernel ``train2d.c``, the i-ResNet's and Glow's:
loss and gradient in one pass, without torch's autograd; and :func:`training_engine`, which says
which engine trains a flow, and why not the kernel.

The loss is :meth:`iresnet_core.flows.flow.Flow.nll`: for the i-ResNet in ``"exact"`` mode
(Behrmann et al. 2019, eq. 1 with each block's ``ln |det(I + J_g)|`` as the 2 x 2 determinant,
the soft spectral rule ``W / max(1, sigma / c)`` of Sec. 3.1 with the power iteration's vectors),
for Glow (Kingma & Dhariwal 2018, Sec. 3) with the ActNorms', LU maps' and couplings' exact
log-dets; its gradient written out by hand in the kernel (``train2d.c``'s header).
:class:`NativeNLL` is a drop-in for the trainer's loss: a differentiable scalar whose backward
puts the kernel's gradient into the flat parameter vector's gradient, so Adam, clipping and the
running average go on as before. The flow is laid out once
(:func:`iresnet_core.kernels.layout.on_flat`) and its weights read from the trainer's vector at
every call.

Where it applies: 2D float32 flows of residual blocks with any of the Playground's activations
(ELU, tanh, softplus, LipSwish), ActNorms, and Glow's LU maps and affine couplings (ELU
conditioner, bounded log-scale); spectral normalisation by power iteration, hidden widths up to
:data:`iresnet_core.kernels.layout.MAX_WIDTH`, the exact log-det, the ActNorms initialised (their
data-dependent first batch goes through torch), in training with a gradient to take. Elsewhere,
and on a machine without a C compiler, the given fallback loss runs; :func:`training_engine` says
which, in words. No compile to wait for: the library builds in seconds, once per machine. What it
gives against torch: docs/benchmarks.md.

Example:
    >>> import torch, iresnet_core as ic
    >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(8,), activation="lipswish"))
    >>> name, why = training_engine(flow)
    >>> (name, why) == ("C kernel", None) or name == "torch"
    True
    >>> training_engine(ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(8,), logdet="series")))[1]
    "the log-det estimator is 'series': the C kernel computes the exact 2 x 2 determinant only"
    >>> loss = NativeNLL(flow) if name == "C kernel" else flow.nll
    >>> _ = flow.nll(torch.randn(64, 2))  # ActNorm's first batch
    >>> loss(torch.randn(64, 2)).shape
    torch.Size([])
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import Tensor

from iresnet_core.flows.actnorm import ActNorm
from iresnet_core.flows.flow import Flow
from iresnet_core.flows.glow import AffineCoupling, InvertibleLinearLU
from iresnet_core.flows.iresnet import InvertibleResidualBlock
from iresnet_core.kernels import build
from iresnet_core.kernels.flat_params import FlatParameters
from iresnet_core.kernels.layout import on_flat, refusal

__all__ = ["NativeNLL", "training_engine", "C_KERNEL", "TORCH"]

#: :func:`training_engine`'s names.
C_KERNEL, TORCH = "C kernel", "torch"
#: The layers ``train2d.c`` trains.
_LAYERS = (InvertibleResidualBlock, ActNorm, InvertibleLinearLU, AffineCoupling)

#: Points per worker below which one thread does the whole batch (a thread's hand-off costs more).
MIN_SHARE = 128
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="native-nll")
    return _POOL


def training_engine(flow: Flow, estimator: bool = True) -> tuple[str, str | None]:
    """Which engine takes ``flow``'s training step: ``("C kernel", None)``, or ``("torch", why)``
    with the reason in words (not 2D, a layer, width or depth the kernel lacks, normalisation by
    SVD, float64, the log-det estimator not exact, no C compiler, ...).

    With ``estimator=False`` the log-det estimator, a live setting that :meth:`NativeNLL.applies`
    reads at every step, is left out: whether a :class:`NativeNLL` can be made for ``flow``.

    Example:
        >>> import iresnet_core as ic
        >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(300,)))
        >>> training_engine(flow)
        ('torch', 'the C kernels take hidden layers up to 256 wide')
    """
    reason = _refusal(flow, estimator)
    return (C_KERNEL, None) if reason is None else (TORCH, reason)


def _refusal(flow: Flow, estimator: bool) -> str | None:
    """:func:`training_engine`'s reason, or ``None``."""
    if flow.dim != 2:
        return f"the C kernel trains 2D flows, this one is {flow.dim}D"
    layers = list(flow.layers)
    if not all(isinstance(m, _LAYERS) for m in layers):
        return "the C kernel trains i-ResNets and Glow (blocks, ActNorm, LU maps, couplings)"
    reason = refusal(layers)
    if reason is not None:
        return reason
    params = list(flow.parameters())
    if any(p.dtype != torch.float32 for p in params):
        return "the C kernel trains float32 flows, this one is float64"
    if not all(p.requires_grad for p in params):
        return "some of the flow's parameters are frozen: the C kernel trains them all"
    blocks = [m for m in layers if isinstance(m, InvertibleResidualBlock)]
    constrained = [lin for b in blocks for lin in b.g.linears if lin.coeff is not None]
    if any(lin.exact for lin in constrained):
        return "spectral normalisation by SVD: the C kernel normalises by power iteration"
    if len({lin.n_power_iter for lin in constrained}) > 1:
        return "the blocks run different numbers of power iterations: the C kernel runs one count"
    if estimator and blocks and flow.cfg.logdet != "exact":
        return (
            f"the log-det estimator is {flow.cfg.logdet!r}: the C kernel computes the exact "
            "2 x 2 determinant only"
        )
    if not build.available():
        return f"the C kernels are unavailable: {build.unavailable_reason()}"
    return None


class NativeNLL:
    """``flow.nll(x)`` (exact log-det) through ``train2d.c`` where it applies, else
    ``fallback(x)``.

    Args:
        flow: the flow being trained; its parameters are read from ``flat`` at every call.
        flat: the trainer's :class:`~iresnet_core.kernels.flat_params.FlatParameters` (made here
            when not given, which binds the flow's parameters to one vector as a trainer would).
        fallback: the loss where the kernel does not apply (default ``flow.nll``).
        workers: threads that share a batch (default 2: this machine's cores).
    """

    def __init__(
        self,
        flow: Flow,
        flat: FlatParameters | None = None,
        fallback: Callable[[Tensor], Tensor] | None = None,
        workers: int = 2,
    ) -> None:
        _, reason = training_engine(flow, estimator=False)
        if reason is not None:
            raise ValueError(reason)
        self.flow = flow
        self.flat = (
            flat
            if flat is not None
            else FlatParameters([p for p in flow.parameters() if p.requires_grad])
        )
        self.fallback = fallback or flow.nll
        self.workers = max(1, int(workers))
        self._layers = list(flow.layers)
        self._blocks = any(isinstance(m, InvertibleResidualBlock) for m in self._layers)
        self._layout = on_flat(self._layers, self.flat)
        self._meta, self._consts = self._layout.meta, self._layout.consts
        self._maps = self._layout.maps
        self._n_iter = self._maps[0].n_power_iter if self._maps else 0
        # every constrained map's u, v as views of one vector, which the kernel's power iteration
        # advances in place (cheaper than torch's stacked iteration: docs/benchmarks.md)
        sizes = [t.numel() for lin in self._maps for t in (lin.u, lin.v)]
        self._uv = (
            torch.cat(
                [t.detach().reshape(-1) for lin in self._maps for t in (lin.u, lin.v)]
            ).float()
            if self._maps
            else torch.zeros(1)
        )
        self._uv_np = self._uv.numpy()
        self._views = list(self._uv.split(sizes)) if self._maps else []
        self._sync_uv()

    def applies(self) -> bool:
        """Whether the next call takes the kernel: the exact log-det (where the flow has residual
        blocks; Glow's is exact by construction), a gradient to take, ActNorms initialised (their
        first batch sets them, through torch)."""
        return (
            (self.flow.cfg.logdet == "exact" or not self._blocks)
            and torch.is_grad_enabled()
            and all(bool(m.initialized) for m in self._layers if isinstance(m, ActNorm))
        )

    def __call__(self, x: Tensor) -> Tensor:
        """The mean NLL of ``x`` (float32, ``(n, 2)``), differentiable with respect to the flow's
        parameters."""
        if not self.applies() or x.dtype != torch.float32:
            return self.fallback(x)
        flow = self.flow
        if not self.flat.intact():  # another trainer of this flow stepped since: take its weights
            self.flat.zero_grad()
        self._sync_uv()
        if flow.training:  # this step's power iteration, as Flow.forward runs it
            lib = build.library()
            if (
                lib.power_iter_2d(
                    self._layout.n_layers,
                    self._meta.ctypes.data,
                    self.flat.data.detach().numpy().ctypes.data,
                    self._uv_np.ctypes.data,
                    self._n_iter,
                )
                != 0
            ):
                raise RuntimeError("train2d.c's power iteration refused the flow's layout")
        params = self.flat.data.detach().requires_grad_(True)
        params.grad = self.flat.grad
        return _KernelLoss.apply(params, x, self, self._uv_np)

    def _sync_uv(self) -> None:
        """Bind every map's ``u, v`` buffers to their views of the kernel's vector, taking their
        values first where something rebound them since (a torch forward's power iteration rebinds
        them,
        ``Module.to`` replaces them); a copy in place (a refresh, ``load_state_dict``) needs
        nothing."""
        for k, lin in enumerate(self._maps):
            buffers = lin._buffers
            for name, view in (("u", self._views[2 * k]), ("v", self._views[2 * k + 1])):
                if buffers[name] is not view:
                    view.copy_(buffers[name].detach().reshape(-1))
                    buffers[name] = view

    def loss_and_grad(
        self, params: np.ndarray, x: np.ndarray, uv: np.ndarray
    ) -> tuple[float, np.ndarray]:
        """The mean NLL of ``x`` and its gradient with respect to ``params`` (the flat vector), by
        the kernel, the points shared among the workers."""
        lib = build.library()
        n = len(x)
        wt = 1.0 / n
        k = max(1, min(self.workers, n // MIN_SHARE))
        cuts = [round(i * n / k) for i in range(k + 1)]
        grads = [np.zeros(len(params), np.float32) for _ in range(k)]

        def run(i: int) -> float:
            part = x[cuts[i] : cuts[i + 1]]
            return lib.nll_grad_2d(
                len(part),
                part.ctypes.data,
                wt,
                self._layout.n_layers,
                self._meta.ctypes.data,
                params.ctypes.data,
                len(params),
                uv.ctypes.data,
                self._consts.ctypes.data,
                grads[i].ctypes.data,
            )

        # the calling thread takes the first share itself (handing it to the pool and waiting
        # for it costs more than the share)
        others = [_pool().submit(run, i) for i in range(1, k)]
        sums = [run(0)] + [f.result() for f in others]
        grad = grads[0]
        # a diverging run's shares can sum past float32's range: the step's non-finite gradient
        # is the trainer's to catch (it skips the step and says so), not a warning in the log
        with np.errstate(over="ignore", invalid="ignore"):
            for g in grads[1:]:
                grad += g
        return sum(sums) / n, grad


class _KernelLoss(torch.autograd.Function):
    """The kernel's loss as a node of autograd: forward computes loss and gradient, backward hands
    the gradient (times the incoming one) to the flat parameters."""

    @staticmethod
    def forward(ctx, params: Tensor, x: Tensor, owner: NativeNLL, uv: np.ndarray) -> Tensor:  # type: ignore[override]
        pts = np.ascontiguousarray(x.detach().numpy(), dtype=np.float32)
        loss, grad = owner.loss_and_grad(params.detach().numpy(), pts, uv)
        ctx.save_for_backward(torch.from_numpy(grad))
        return torch.tensor(loss, dtype=params.dtype)

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        (grad,) = ctx.saved_tensors
        return grad * grad_out, None, None, None
