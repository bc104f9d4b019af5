"""The i-ResNet's exact training loss through the compiled C kernel ``train2d.c``: loss and
gradient in one pass, without torch's autograd.

The loss is :meth:`iresnet_core.flows.flow.Flow.nll` in ``"exact"`` mode (Behrmann et al. 2019, eq.
1 with each block's ``ln |det(I + J_g)|`` as the 2 x 2 determinant, the soft spectral rule
``W / max(1, sigma / c)`` of Sec. 3.1 with the power iteration's vectors), its gradient written out
by hand in the kernel (``train2d.c``'s header). :class:`NativeNLL` is a drop-in for the trainer's
loss: a differentiable scalar whose backward puts the kernel's gradient into the flat parameter
vector's gradient, so Adam, clipping and the running average go on as before.

Where it applies: a 2D float32 i-ResNet of residual blocks with ELU and ActNorms (the Playground's
default flow and every variation of its sliders but the activation and the estimator), spectral
normalisation by power iteration, hidden widths up to
:data:`iresnet_core.kernels.native.MAX_WIDTH`, the ActNorms initialised (their data-dependent first
batch goes through torch), in training with a gradient to take. Elsewhere, and on a machine without
a C compiler, the given fallback loss runs.

What it gives (the default flow, batch 500, two cores): loss and gradient in 3.6-3.8 ms, a whole
trainer step in about 7 ms against 17-20 through the compiled torch graph (the power iteration in
the kernel too: 8.2-8.9 ms with torch's in the same runs); at the issue's 8 blocks of 2-128-128-2
it is at least as fast as the compiled graph (``docs/benchmarks.md``). No compile to wait
for: the kernels build in about a second, where the graph took 30-40 s on an empty cache.

Example:
    >>> import torch, iresnet_core as ic
    >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(8,)))
    >>> loss = NativeNLL(flow)
    >>> _ = flow.nll(torch.randn(64, 2))  # ActNorm's first batch
    >>> value = loss(torch.randn(64, 2))
    >>> value.shape
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
from iresnet_core.flows.iresnet import InvertibleResidualBlock
from iresnet_core.kernels import native
from iresnet_core.kernels.flat_params import FlatParameters

__all__ = ["NativeNLL", "not_native"]

#: Points per worker below which one thread does the whole batch (a thread's hand-off costs more).
MIN_SHARE = 128
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="native-nll")
    return _POOL


def not_native(flow: Flow) -> str | None:
    """Why the kernel cannot train ``flow`` (its structure, not its state), or ``None`` when it
    can."""
    layers = list(flow.layers)
    if flow.dim != 2:
        return f"the training kernel is for 2D flows, this one is {flow.dim}D"
    blocks = [m for m in layers if isinstance(m, InvertibleResidualBlock)]
    if not blocks or any(not isinstance(m, (InvertibleResidualBlock, ActNorm)) for m in layers):
        return "the training kernel is for an i-ResNet of residual blocks and ActNorms"
    for block in blocks:
        g = block.g
        if g.act.name != "elu":
            return f"the training kernel has ELU only, not {g.act.name}"
        if len(g.linears) < 2 or len(g.linears) > 16:
            return "the training kernel needs 1 to 15 hidden layers per block"
        if max(lin.weight.shape[0] for lin in g.linears[:-1]) > native.MAX_WIDTH:
            return f"the training kernel takes hidden layers up to {native.MAX_WIDTH} wide"
        if any(
            lin.weight.dtype != torch.float32 or (lin.coeff is not None and lin.exact)
            for lin in g.linears
        ):
            return "the training kernel is float32 with spectral normalisation by power iteration"
    if not native.available():
        return f"the compiled kernels are unavailable: {native.unavailable_reason()}"
    return None


class NativeNLL:
    """``flow.nll(x)`` (exact log-det) through ``train2d.c`` where it applies, else
    ``fallback(x)``.

    Args:
        flow: the flow being trained; its parameters are read from ``flat`` at every call.
        flat: the trainer's :class:`~iresnet_core.kernels.flat_params.FlatParameters` (made here
        when not given,
            which binds the flow's parameters to one vector as a trainer would).
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
        reason = not_native(flow)
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
        self._meta, self._maps, self._coeffs = _layout(self._layers, self.flat)
        # every constrained map's u, v as views of one vector, which the kernel's power iteration
        # advances in place (torch's stacked iteration cost the default flow's step 1.2-1.9 ms)
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
        """Whether the next call takes the kernel: exact log-det, a gradient to take, ActNorms
        initialised (their first batch sets them, through torch)."""
        return (
            self.flow.cfg.logdet == "exact"
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
            lib = native._load()
            if (
                lib.power_iter_2d(
                    len(self._layers),
                    self._meta.ctypes.data,
                    self.flat.data.detach().numpy().ctypes.data,
                    self._uv_np.ctypes.data,
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
        lib = native._load()
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
                len(self._layers),
                self._meta.ctypes.data,
                params.ctypes.data,
                len(params),
                uv.ctypes.data,
                self._coeffs.ctypes.data,
                grads[i].ctypes.data,
            )

        # the calling thread takes the first share itself (handing it to the pool and waiting
        # cost 0.2-0.3 ms a step)
        others = [_pool().submit(run, i) for i in range(1, k)]
        sums = [run(0)] + [f.result() for f in others]
        grad = grads[0]
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


def _layout(layers: list, flat: FlatParameters) -> tuple[np.ndarray, list, np.ndarray]:
    """``(meta, maps, coeffs)`` for ``train2d.c``: the layers described with offsets into the flat
    vector, the constrained maps in the order their ``u, v`` are concatenated, and their ``c``."""
    offsets, at = {}, 0
    for p in flat.params:
        offsets[id(p)] = at
        at += p.numel()
    meta: list[int] = []
    maps: list = []
    coeffs: list[float] = []
    uv_at = 0
    for layer in layers:
        if isinstance(layer, ActNorm):
            meta += [1, offsets[id(layer.bias)], offsets[id(layer.log_scale)]]
            continue
        linears = layer.g.linears
        meta += [0, len(linears), 2, *(lin.weight.shape[0] for lin in linears)]
        for lin in linears:
            n_out, n_in = lin.weight.shape
            if lin.coeff is None:
                meta += [offsets[id(lin.weight)], offsets[id(lin.bias)], -1, -1, 0]
                continue
            meta += [
                offsets[id(lin.weight)],
                offsets[id(lin.bias)],
                uv_at,
                uv_at + n_out,
                len(coeffs),
            ]
            uv_at += n_out + n_in
            maps.append(lin)
            coeffs.append(float(lin.coeff))
    return np.array(meta, np.int32), maps, np.array(coeffs or [1.0], np.float32)
