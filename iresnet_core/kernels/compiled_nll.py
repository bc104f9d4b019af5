"""The i-ResNet's exact training loss through compiled graphs (``torch.compile``, inductor).

A training step of the eager flow is some 3,000 small torch calls, each a Python call and a pass
over memory: on two cores a third of the step went to them rather than to the matrix products
(issue 6, ``docs/benchmarks.md``). Here the negative log-likelihood of a flow of residual blocks
and ActNorms is a chain of functions of tensors, each a run of :data:`GROUP_BLOCKS` blocks: each
block's spectral rule ``W / max(1, sigma / c)`` (Behrmann et al. 2019, Sec. 3.1, ``sigma = u^T W
v`` from the power iteration), its 2D Jacobian carried through the MLP with the values, and
``ln |det(I + J_g)|`` exactly (eq. 2's log-det, the 2 x 2 determinant). ``torch.compile`` traces a
run once into a forward and a backward graph (autograd derives the backward: only first
derivatives, since ``J_g`` is computed, not differentiated), fuses the pointwise passes into a few
loops per layer and leaves the products to BLAS; the runs are alike, so one graph serves them all.
The numbers are those of :meth:`iresnet_core.flows.flow.Flow.nll` up to float rounding.

What it costs: a C++ compiler at run time (:func:`compiler_missing`), and a compile for every new
architecture, batch size and thread count: about 30 s cold for the default 32 x 2-32-32-2 (all 32
blocks in one graph took 100 s, most of it gcc and inductor's scheduler), 3 s once inductor's
cache on disk has it. It can compile in the background
(:class:`iresnet_core.training.trainer.Trainer`'s
``compile="background"``, the Playground's for activations the C training kernel lacks,
:mod:`iresnet_core.kernels.nll`; :mod:`iresnet_core.kernels.compile_worker`). What it
gives, on two cores: the default flow's step 37 -> 69 steps a second at two threads, 34 -> 71
at one.

The loss falls back to the eager :meth:`~iresnet_core.flows.flow.Flow.nll`, with the same numbers,
wherever the compiled graph does not apply: before the ActNorms have seen their first batch, in
any log-det mode but ``"exact"``, and, with one :class:`RuntimeWarning`, for good once compiling
has failed.

Example:
    >>> import torch, iresnet_core as ic
    >>> from iresnet_core.ops.activations import get_activation
    >>> ws = [torch.randn(8, 2), torch.randn(2, 8) / 8]
    >>> y, ld = residual_exact(get_activation("elu"), torch.randn(5, 2), ws, [torch.zeros(8), torch.zeros(2)])
    >>> y.shape, ld.shape
    (torch.Size([5, 2]), torch.Size([5]))
"""

from __future__ import annotations

import dataclasses
import threading
import warnings
from collections.abc import Callable

import torch
from torch import Tensor

from iresnet_core.flows.actnorm import ActNorm
from iresnet_core.flows.flow import Flow, standard_normal_log_prob
from iresnet_core.flows.iresnet import InvertibleResidualBlock
from iresnet_core.kernels.flat_params import FlatParameters
from iresnet_core.ops.activations import Activation
from iresnet_core.ops.spectral import drop_prefetched, prefetch_training_rescales

__all__ = [
    "residual_exact",
    "CompiledNLL",
    "not_compilable",
    "compiler_missing",
    "compile_failure",
    "reset_compiled",
    "record_failure",
    "COMPILE_STATES",
    "GROUP_BLOCKS",
]

#: :attr:`CompiledNLL.state`'s values: compiling in the background (the loss is eager meanwhile),
#: compiled (the loss takes the graph where it applies), failed (eager for good).
COMPILE_STATES = ("compiling", "compiled", "failed")

#: Dynamo compiles a function again for every new structure it sees (number of blocks, widths,
#: activation) and gives up after ``recompile_limit`` of them (8 by default); a Playground
#: session tries more architectures than that. Raised to this, for every compiled function.
RECOMPILE_LIMIT = 64

# Streamlit runs each browser session in a thread of its own; dynamo is not meant to compile in
# two threads at once, so the compiled calls take turns (uncontended, well under a microsecond;
# while the worker loads a graph, a few seconds, other sessions' compiled steps wait for it).
_LOCK = threading.RLock()
_COMPILED: dict[int, Callable[..., Tensor]] = {}
#: What this process has run compiled: (threads, batch size, dtype, activation, the runs' specs).
#: A background compile of one of these is done before it starts (a Playground's reset, a second
#: run of the same flow), with no child process to wait for.
_DONE: set[tuple] = set()
_FAILURE: list[str] = []


def residual_exact(
    act: Activation,
    x: Tensor,
    ws: list[Tensor],
    bs: list[Tensor],
    bias: Tensor | None = None,
    log_scale: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """``(x + g(x), ln |det(I + J_g(x))|)`` for 2D ``x`` and the MLP ``g`` with weights ``ws``
    (already normalised) and biases ``bs``; with ``bias`` and ``log_scale``, the ActNorm after the
    block as well: ``((x + g(x) + bias) * exp(log_scale), ... + sum(log_scale))``.

    The tangents ``P_k[i] = d a_k / d x_i`` travel with the values, stacked as rows:
    ``Z_k = [h_k; P_k[0] * phi'(a_k); P_k[1] * phi'(a_k)]`` times ``W_{k+1}^T`` gives the next
    pre-activations and tangents in one product (``J_g = W_L D_{L-1} W_{L-1} ... D_1 W_1``,
    paper Sec. 3; :mod:`iresnet_core.ops.mlp` has the same pass with a hand-written backward).
    Written with ``torch.cat`` and no in-place writes, for the compiler to fuse.
    """
    B, d = x.shape
    a = torch.addmm(bs[0], x, ws[0].t())
    h, s = act.value_and_derivative(a)
    w1t = ws[0].t()
    Z = torch.cat(
        [h, *(s * w1t[i] for i in range(d))]
    )  # the first layer's tangents: W_1's columns
    for w, b in zip(ws[1:-1], bs[1:-1]):
        Y = Z @ w.t()
        h, s = act.value_and_derivative(Y[:B] + b)
        Z = torch.cat([h, (Y[B:].view(d, B, -1) * s).view(d * B, -1)])
    Yt = ws[-1] @ Z.t()  # (d, (1 + d) B): row j = [g_j - b_j, J[:, j, 0], J[:, j, 1]]
    det = (Yt[0, B : 2 * B] + 1.0) * (Yt[1, 2 * B :] + 1.0) - Yt[0, 2 * B :] * Yt[1, B : 2 * B]
    y, ld = x + bs[-1] + Yt[:, :B].t(), det.abs().log()
    if bias is not None:
        y, ld = (y + bias) * log_scale.exp(), ld + log_scale.sum()
    return y, ld


#: Some consecutive layers as :func:`_layers_pass` reads them: the sizes of their pieces of the
#: flat parameter vector, and per layer which pieces are its tensors (and where the power
#: iteration's vectors sit in theirs). Plain ints in tuples: dynamo takes them as constants of the
#: graph, so groups of alike layers share one graph, and another architecture gets a graph of its
#: own.
Spec = tuple

#: Residual blocks (each with the ActNorm after it) per compiled graph: the loss runs as a chain of
#: alike graphs, compiled once and called ``n_blocks / GROUP_BLOCKS`` times a step. The trade, on
#: the default flow (32 x 2-32-32-2, batch 500, two threads; forward and backward a second, then
#: the compile on an empty cache): eager 40; 1 block a graph 56 (18 s); 4 blocks 63 (30 s);
#: 8 blocks 72 (46 s); all 32 in one graph 79 (81 s). Four gives most of the speed for a third of
#: the wait, which is what makes the compiled step worth having on by default.
GROUP_BLOCKS = 4


@dataclasses.dataclass(frozen=True)
class _Group:
    """One compiled call's share of the flow: slices of the flat parameters, of ``uv`` and of the
    coefficients, and its :data:`Spec` with indices into those slices."""

    params: slice
    uv: slice
    coeffs: slice
    spec: Spec


def _layers_pass(
    act: Activation, x: Tensor, params: Tensor, uv: Tensor, coeffs: Tensor, spec: Spec
) -> tuple[Tensor, Tensor]:
    """``(z, log-det)`` of ``x`` through the layers ``spec`` describes, their tensors pieces of
    ``params`` (their trainable parameters, one vector) and slices of ``uv`` (their maps' ``u`` and
    ``v``).

    ``spec`` is ``(sizes, layers)``: ``params`` splits into pieces of ``sizes``, and each layer is
    ``("actnorm", bias, log_scale)`` or ``("block", maps, affine)`` by piece index, with ``maps``
    of ``(w, (out, in), b, norm)`` (``norm``: ``None`` for an unconstrained map, else
    ``(u_at, v_at, coeff_index)``, offsets into ``uv``) and ``affine`` ``None`` or the following
    ActNorm's ``(bias, log_scale)``. Taking the layers as three vectors instead of a tensor per
    parameter saves the compiler most of its work (each input is traced and guarded) and the
    backward one accumulation per parameter: the gradient of ``params`` is one concatenation of
    the pieces' gradients (a split's).
    """
    sizes, layers = spec
    pieces = torch.split(params, sizes)
    lds = []
    for step in layers:
        if step[0] == "actnorm":
            bias, log_scale = pieces[step[1]], pieces[step[2]]
            x = (x + bias) * log_scale.exp()
            lds.append(log_scale.sum().expand(x.shape[0]))
            continue
        _, maps, affine = step
        ws, bs = [], []
        for w_i, (n_out, n_in), b_i, norm in maps:
            w = pieces[w_i].view(n_out, n_in)
            if (
                norm is not None
            ):  # the soft rule W / max(1, sigma / c), sigma = u^T W v (u, v held fixed)
                u_at, v_at, k = norm
                sigma = torch.dot(uv[u_at : u_at + n_out], torch.mv(w, uv[v_at : v_at + n_in]))
                w = w / torch.clamp(sigma / coeffs[k], min=1.0)
            ws.append(w)
            bs.append(pieces[b_i])
        an = () if affine is None else (pieces[affine[0]], pieces[affine[1]])
        x, ld = residual_exact(act, x, ws, bs, *an)
        lds.append(ld)
    return x, torch.stack(lds).sum(0)


def compiler_missing() -> str | None:
    """Why this machine cannot compile (inductor's C++ compiler, ``$CXX`` or ``g++``, is not on the
    path), or ``None`` when it can. Checked without importing the compiler stack."""
    import os
    import shutil

    cxx = os.environ.get("CXX", "g++")
    return None if shutil.which(cxx) else f"no C++ compiler ({cxx}) on this machine"


def compile_failure() -> str | None:
    """Why compiling failed (every loss since is the eager one), or ``None`` while it has not."""
    return _FAILURE[0] if _FAILURE else None


def reset_compiled() -> None:
    """Forget the compiled function and any failure: the next compiled loss compiles again."""
    with _LOCK:
        _COMPILED.clear()
        _DONE.clear()
        _FAILURE.clear()


def _compiled(threads: int) -> Callable[..., Tensor]:
    """The compiled :func:`_layers_pass` whose kernels run on ``threads`` threads (inductor writes
    the number into them: kernels for one thread run a 2-thread step 1.3x slower, for two a
    1-thread page's step on both cores)."""
    if threads not in _COMPILED:
        import torch._dynamo.config as dynamo_config

        dynamo_config.recompile_limit = max(dynamo_config.recompile_limit, RECOMPILE_LIMIT)
        # fullgraph: a graph break would run part of the loss eagerly without a word; an error
        # instead falls back to Flow.nll, once, with a warning.
        _COMPILED[threads] = torch.compile(
            _layers_pass, fullgraph=True, options={"cpp.threads": threads}
        )
    return _COMPILED[threads]


def not_compilable(flow: Flow) -> str | None:
    """Why :class:`CompiledNLL` cannot take ``flow``, or ``None`` when it can."""
    layers = list(flow.layers)
    blocks = [m for m in layers if isinstance(m, InvertibleResidualBlock)]
    others = [
        type(m).__name__ for m in layers if not isinstance(m, (InvertibleResidualBlock, ActNorm))
    ]
    if not blocks or others:
        return "compiled training is for an i-ResNet of residual blocks and ActNorms" + (
            f"; this flow has {', '.join(sorted(set(others)))}" if others else ""
        )
    if flow.dim != 2:
        return f"compiled training is for 2D data, this flow is {flow.dim}D"
    if not all(b.g._hand_written for b in blocks):
        return (
            "compiled training needs a hidden layer in every block and spectral normalisation by "
            "power iteration (not spectral='exact')"
        )
    return None


class CompiledNLL:
    """``flow``'s training loss ``flow.nll(x)``, through the compiled graph where it applies.

    ``flow`` must be an i-ResNet whose layers are residual blocks (2D, a hidden layer, spectral
    normalisation by power iteration) and ActNorms; anything else is a ``ValueError`` here, not a
    surprise later. Calls in training mode run the power iteration as :meth:`Flow.forward` does
    (one batched iteration, vectors kept), so a step sees the same weights either way.

    With ``background``, the first call does not wait for the compiler: a worker thread compiles
    the graph for batches of ``batch_size`` while the calls here take the eager loss, and the first
    call after it is done takes the graph (:attr:`state` tells which). The compiler's Python holds
    the interpreter's lock for most of a minute, which would starve a training thread beside it, so
    the worker (:mod:`iresnet_core.kernels.compile_worker`) has a child process compile first, into
    inductor's cache on disk, and then loads the graph from there in a few seconds. A live page
    keeps training through the compile.

    The kernels are made for ``threads`` threads (default: torch's thread count when this is made),
    and dynamo guards on the count: a call at another count compiles again (from the cache on disk
    where a child compiled it).
    """

    def __init__(
        self,
        flow: Flow,
        flat: FlatParameters | None = None,
        background: bool = False,
        batch_size: int = 500,
        threads: int | None = None,
    ) -> None:
        reason = not_compilable(flow)
        if reason is not None:
            raise ValueError(reason)
        self.flow = flow
        #: the trainable parameters as views of one vector (a Trainer's own; else made here, which
        #: binds the flow's parameters to it as a Trainer would)
        self.flat = (
            flat
            if flat is not None
            else FlatParameters([p for p in flow.parameters() if p.requires_grad])
        )
        self._layers = list(flow.layers)
        self._act = next(m for m in self._layers if isinstance(m, InvertibleResidualBlock)).g.act
        self._groups, self._uv_layers, coeffs = _groups_of(self._layers, self.flat)
        self._coeffs = torch.tensor(coeffs or [1.0], dtype=self.flat.data.dtype)
        #: the threads the compiled kernels are made for: torch's thread count now, by default
        self.threads = int(threads or torch.get_num_threads())
        self._ready = threading.Event()
        if background and self._key(batch_size) not in _DONE:
            from iresnet_core.kernels.compile_worker import (
                submit,
            )  # (that module builds on this one)

            submit(self, flow, batch_size)
        else:
            self._ready.set()

    def _key(self, batch_size: int) -> tuple:
        """What the compiled graphs for batches of ``batch_size`` depend on (dynamo's guards)."""
        return (
            self.threads,
            int(batch_size),
            self.flat.data.dtype,
            self._act.name,
            tuple(g.spec for g in self._groups),
        )

    @property
    def state(self) -> str:
        """One of :data:`COMPILE_STATES`."""
        if _FAILURE:
            return "failed"
        return "compiled" if self._ready.is_set() else "compiling"

    def mark_compiled(self) -> None:
        """The background worker's word that its compile is over (loaded, or failed: then
        :func:`compile_failure` says why): the next call takes the graph where it applies."""
        self._ready.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a background compile is over (done or failed); ``False`` on ``timeout``."""
        return self._ready.wait(timeout)

    def applies(self) -> bool:
        """Whether the next call takes the compiled graph: exact log-det, ActNorms initialised, a
        gradient to take, compiled (not still compiling in the background), and not failed."""
        flow = self.flow
        return (
            flow.cfg.logdet == "exact"
            and torch.is_grad_enabled()
            and not _FAILURE
            and self._ready.is_set()
            and all(bool(m.initialized) for m in self._layers if isinstance(m, ActNorm))
        )

    def __call__(self, x: Tensor) -> Tensor:
        """The mean NLL of ``x``, differentiable: the compiled graph's, or ``flow.nll(x)``'s."""
        flow = self.flow
        if not self.applies():
            return flow.nll(x)
        if (
            flow.training
        ):  # this step's power iteration, all blocks at once, as Flow.forward runs it
            drop_prefetched(prefetch_training_rescales(flow._spectral()))
        # The parameters enter as one new leaf on the flat vector whose gradient is the flat
        # gradient, each run a slice of it: the backward sums the runs' slices into it at once.
        params = self.flat.data.detach().requires_grad_(True)
        params.grad = self.flat.grad
        uv = (
            torch.cat([t for lin in self._uv_layers for t in (lin.u, lin.v)])
            if self._uv_layers
            else self._coeffs
        )  # (unconstrained: no map reads uv)
        z, lds = x, []
        with _LOCK:
            try:
                run = _compiled(self.threads)
                for g in self._groups:
                    z, ld = run(
                        self._act,
                        z,
                        params[g.params],
                        uv[g.uv] if self._uv_layers else uv,
                        self._coeffs[g.coeffs],
                        g.spec,
                    )
                    lds.append(ld)
            except Exception as exc:  # noqa: BLE001  (any compiler failure: the eager loss is the same)
                record_failure(exc)
            else:
                _DONE.add(self._key(x.shape[0]))
                return -(standard_normal_log_prob(z) + torch.stack(lds).sum(0)).mean()
        # (this step's power iteration ran already; the eager loss runs one more, which only
        # refines sigma's estimate)
        return flow.nll(x)


def _groups_of(
    layers: list, flat: FlatParameters, group_blocks: int | None = None
) -> tuple[list[_Group], list, list[float]]:
    """``(groups, maps, coeffs)``: ``layers`` cut into runs for :func:`_layers_pass`, the
    constrained maps in the order their ``u, v`` are concatenated, and their ``c``.

    A run holds the largest number of blocks up to ``group_blocks`` (default :data:`GROUP_BLOCKS`)
    that divides the blocks evenly, so that every run is alike and one graph serves them all. A
    run's parameters must be one stretch of ``flat`` (they are in a flow's own order); where they
    are not, the whole flow is one run."""
    index = {id(p): i for i, p in enumerate(flat.params)}
    sizes = [p.numel() for p in flat.params]
    steps: list[
        tuple
    ] = []  # per block (with its ActNorm) or lone ActNorm: (entry, pieces, uv span, coeff span)
    uv_layers: list = []
    coeffs: list[float] = []
    uv_at, i = 0, 0
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, ActNorm):
            entry = ("actnorm", index[id(layer.bias)], index[id(layer.log_scale)])
            steps.append((entry, list(entry[1:]), (uv_at, uv_at), (len(coeffs), len(coeffs))))
            i += 1
            continue
        maps, pieces, uv_from, c_from = [], [], uv_at, len(coeffs)
        for lin in layer.g.linears:
            n_out, n_in = lin.weight.shape
            norm = None
            if lin.coeff is not None:
                norm = (uv_at, uv_at + n_out, len(coeffs))
                uv_at += n_out + n_in
                uv_layers.append(lin)
                coeffs.append(float(lin.coeff))
            maps.append((index[id(lin.weight)], (n_out, n_in), index[id(lin.bias)], norm))
            pieces += [index[id(lin.weight)], index[id(lin.bias)]]
        following = layers[i + 1] if i + 1 < len(layers) else None
        affine = None
        if isinstance(following, ActNorm):
            affine = (index[id(following.bias)], index[id(following.log_scale)])
            pieces += list(affine)
        steps.append(
            (("block", tuple(maps), affine), pieces, (uv_from, uv_at), (c_from, len(coeffs)))
        )
        i += 2 if affine is not None else 1
    most = GROUP_BLOCKS if group_blocks is None else group_blocks
    per = max(k for k in range(1, max(1, most) + 1) if len(steps) % k == 0)
    runs = [steps[j : j + per] for j in range(0, len(steps), per)]
    if not all(_one_stretch([p for st in run for p in st[1]]) for run in runs):
        runs = [steps]
    return [_group_of(run, sizes) for run in runs], uv_layers, coeffs


def _one_stretch(pieces: list[int]) -> bool:
    """Whether ``pieces`` are each index of one range once."""
    return sorted(pieces) == list(range(min(pieces), max(pieces) + 1))


def _group_of(run: list[tuple], sizes: list[int]) -> _Group:
    """The :class:`_Group` of consecutive steps, their indices made relative to its slices."""
    p0 = min(p for st in run for p in st[1])
    p1 = max(p for st in run for p in st[1]) + 1
    uv0, c0 = run[0][2][0], run[0][3][0]
    uv1, c1 = run[-1][2][1], run[-1][3][1]

    def shift(entry: tuple) -> tuple:
        if entry[0] == "actnorm":
            return ("actnorm", entry[1] - p0, entry[2] - p0)
        _, maps, affine = entry
        maps = tuple(
            (
                w - p0,
                shape,
                b - p0,
                None if norm is None else (norm[0] - uv0, norm[1] - uv0, norm[2] - c0),
            )
            for w, shape, b, norm in maps
        )
        return ("block", maps, None if affine is None else (affine[0] - p0, affine[1] - p0))

    start = sum(sizes[:p0])
    spec = (tuple(sizes[p0:p1]), tuple(shift(st[0]) for st in run))
    # (a run without a constrained map still gets a coefficient tensor, of one entry or none)
    return _Group(
        slice(start, start + sum(sizes[p0:p1])), slice(uv0, uv1), slice(c0, max(c1, c0 + 1)), spec
    )


def record_failure(exc: BaseException) -> None:
    """Record why compiling failed (:func:`compile_failure` gives the first reason) and warn: every
    loss from now on is the eager one."""
    text = str(exc).strip()
    _FAILURE.append(f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}")
    warnings.warn(
        f"compiling the training loss failed, training goes on uncompiled ({_FAILURE[0]})",
        RuntimeWarning,
        stacklevel=3,
    )
