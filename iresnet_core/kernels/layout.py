"""One description of a 2D flow's layers for the three C kernels: the flattener.

Every kernel (``density2d.c``, ``fixed_point2d.c``, ``train2d.c``) reads the layers from an int
array ``meta`` in the grammar of ``layout.h``, one entry per layer in the flow's order::

    residual block   0, activation, L, w_0 .. w_L, then per linear map: W, b, u, v, c
    ActNorm          1, bias, log_scale
    LU linear map    2, swap, sign_0, sign_1, lower, upper, log_s
    affine coupling  3, parity, bound, L, w_0 .. w_L, then per linear map: W, b, u, v, c

``W, b, bias, ...`` are offsets into a parameter vector, ``u, v`` offsets into the power
iteration's vector (``-1``: the map is used as it is), ``c`` and ``bound`` indices into
:attr:`Layout.consts`. The block is ``x + g(x)`` with ``g`` the MLP of Behrmann et al. (2019,
Sec. 2) and each map's soft spectral rule ``W / max(1, sigma / c)`` (Sec. 3.1); ActNorm, the LU
map and the coupling are Glow's (Kingma & Dhariwal 2018, Sec. 3).

Three ways to lay a flow out, one writer behind them:

* :func:`snapshot` -- the weights as they are now, normalised, copied into a vector of their own
  (the density of many points);
* :func:`of_block` -- one block's normalised ``(W, b)`` pairs (the fixed-point inverse);
* :func:`on_flat` -- offsets into the trainer's flat parameter vector
  (:class:`~iresnet_core.kernels.flat_params.FlatParameters`), the raw weights with their
  ``u, v`` and ``c`` (the training step: the kernel applies the rule and differentiates it).

Each raises :class:`Refused`, saying why, for what the kernels do not cover.

Example:
    >>> import iresnet_core as ic
    >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=1, hidden=(3,), activation="tanh"))
    >>> lay = snapshot(flow.layers)
    >>> lay.meta.tolist()
    [0, 1, 2, 2, 3, 2, 0, 6, -1, -1, -1, 9, 15, -1, -1, -1, 1, 17, 19]
    >>> lay.params.shape, lay.n_layers
    ((21,), 2)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from iresnet_core.flows.actnorm import ActNorm
from iresnet_core.flows.glow import AffineCoupling, InvertibleLinearLU
from iresnet_core.flows.iresnet import InvertibleResidualBlock
from iresnet_core.kernels.flat_params import FlatParameters
from iresnet_core.ops.spectral import SpectralLinear

__all__ = [
    "Layout",
    "Refused",
    "snapshot",
    "of_block",
    "on_flat",
    "mlp_refusal",
    "refusal",
    "ACTIVATIONS",
    "MAX_WIDTH",
    "MAX_MAPS",
    "BLOCK",
    "ACTNORM",
    "LINEAR",
    "COUPLING",
]

#: The activations the kernels have, in the order of their codes (``layout.h``'s ``ACT_*``).
ACTIVATIONS = ("elu", "tanh", "softplus", "lipswish")
#: The widest hidden layer the kernels take (``layout.h``'s ``MAXW``).
MAX_WIDTH = 256
#: The most linear maps in one MLP (``layout.h``'s ``MAXL``).
MAX_MAPS = 32
#: The layer kinds of ``meta``.
BLOCK, ACTNORM, LINEAR, COUPLING = 0, 1, 2, 3


class Refused(ValueError):
    """A flow or block the kernels do not cover; the message says why, in words."""


@dataclass(frozen=True)
class Layout:
    """A flow's layers as the kernels read them.

    Attributes:
        meta: ``layout.h``'s description (int32).
        n_layers: how many layers it describes.
        consts: the maps' coefficients ``c`` and the couplings' bounds (float32).
        params: the vector the offsets point into, where the layout made it (:func:`snapshot`,
            :func:`of_block`); ``None`` where they point into a trainer's (:func:`on_flat`).
        maps: the constrained linear maps in the order of their ``u, v`` in the power
            iteration's vector (:func:`on_flat`; empty otherwise).
    """

    meta: np.ndarray
    n_layers: int
    consts: np.ndarray
    params: np.ndarray | None = None
    maps: tuple[SpectralLinear, ...] = ()


def mlp_refusal(shapes: Sequence[tuple[int, int]], activation: str) -> str | None:
    """Why the kernels cannot take a block MLP of linear maps of these ``(out, in)`` shapes and
    this activation, or ``None`` when they can.

    Example:
        >>> mlp_refusal([(300, 2), (2, 300)], "elu")
        'the C kernels take hidden layers up to 256 wide'
        >>> mlp_refusal([(8, 2), (2, 8)], "lipswish") is None
        True
    """
    if activation not in ACTIVATIONS:
        return f"the C kernels have no {activation!r} activation"
    if not 2 <= len(shapes) <= MAX_MAPS:
        return f"the C kernels take 1 to {MAX_MAPS - 1} hidden layers per block"
    if shapes[0][1] != 2 or shapes[-1][0] != 2:
        return "the C kernels take 2D blocks"
    if max(out for out, _ in shapes[:-1]) > MAX_WIDTH:
        return f"the C kernels take hidden layers up to {MAX_WIDTH} wide"
    return None


#: A linear map to lay out: its weight, its bias and, for the spectral rule, the module holding
#: ``u``, ``v`` and ``coeff`` (``None``: the weight is used as it is).
_Map = tuple[Tensor, Tensor, SpectralLinear | None]


class _Writer:
    """Writes ``meta`` layer by layer; ``place(tensor)`` gives a parameter's offset."""

    def __init__(self, place: Callable[[Tensor], int]) -> None:
        self.place = place
        self.meta: list[int] = []
        self.consts: list[float] = []
        self.maps: list[SpectralLinear] = []
        self.n_layers = 0
        self._uv = 0

    def _mlp(self, linears: Sequence[_Map]) -> None:
        self.meta += [len(linears), linears[0][0].shape[1], *(w.shape[0] for w, _, _ in linears)]
        for w, b, lin in linears:
            if lin is None or lin.coeff is None:
                self.meta += [self.place(w), self.place(b), -1, -1, -1]
                continue
            n_out, n_in = w.shape
            self.meta += [self.place(w), self.place(b), self._uv, self._uv + n_out]
            self.meta.append(len(self.consts))
            self._uv += n_out + n_in
            self.maps.append(lin)
            self.consts.append(float(lin.coeff))

    def block(self, linears: Sequence[_Map], activation: str) -> None:
        reason = mlp_refusal([tuple(w.shape) for w, _, _ in linears], activation)
        if reason is not None:
            raise Refused(reason)
        self.meta += [BLOCK, ACTIVATIONS.index(activation)]
        self._mlp(linears)
        self.n_layers += 1

    def actnorm(self, layer: ActNorm) -> None:
        if layer.log_scale.numel() != 2:
            raise Refused("the C kernels take 2D flows")
        self.meta += [ACTNORM, self.place(layer.bias), self.place(layer.log_scale)]
        self.n_layers += 1

    def linear(self, layer: InvertibleLinearLU) -> None:
        if layer.dim != 2:
            raise Refused("the C kernels take 2D flows")
        swap = int(float(layer.perm[0, 0]) == 0.0)
        signs = [int(float(s)) for s in layer.sign_s]
        self.meta += [LINEAR, swap, *signs]
        self.meta += [self.place(layer.lower), self.place(layer.upper), self.place(layer.log_s)]
        self.n_layers += 1

    def coupling(self, layer: AffineCoupling) -> None:
        mods = list(layer.net)
        linears, acts = mods[0::2], mods[1::2]
        if layer.dim != 2:
            raise Refused("the C kernels take 2D flows")
        if (
            len(mods) % 2 == 0
            or not all(isinstance(m, nn.Linear) for m in linears)
            or not all(isinstance(m, nn.ELU) and m.alpha == 1.0 for m in acts)
        ):
            raise Refused("the C kernels take coupling conditioners of linear maps and ELUs")
        if not 2 <= len(linears) <= MAX_MAPS:
            raise Refused(f"the C kernels take 1 to {MAX_MAPS - 1} hidden layers per coupling")
        if max(m.out_features for m in linears[:-1]) > MAX_WIDTH:
            raise Refused(f"the C kernels take hidden layers up to {MAX_WIDTH} wide")
        self.meta += [COUPLING, layer.parity, len(self.consts)]
        # the bound of the tanh form; 0: Glow's code's sigmoid form (mlp_tile.h)
        self.consts.append(layer.scale_bound if layer.scale_map == "tanh" else 0.0)
        self._mlp([(m.weight, m.bias, None) for m in linears])
        self.n_layers += 1

    def layers(
        self, layers: Sequence[nn.Module], block: Callable[[InvertibleResidualBlock], None]
    ):
        for layer in layers:
            if isinstance(layer, InvertibleResidualBlock):
                block(layer)
            elif isinstance(layer, ActNorm):
                self.actnorm(layer)
            elif isinstance(layer, InvertibleLinearLU):
                self.linear(layer)
            elif isinstance(layer, AffineCoupling):
                self.coupling(layer)
            else:
                raise Refused(f"the C kernels have no {type(layer).__name__} layer")
        if not self.n_layers:
            raise Refused("the flow has no layers")

    def layout(self, params: np.ndarray | None = None) -> Layout:
        return Layout(
            np.array(self.meta, np.int32),
            self.n_layers,
            np.array(self.consts or [0.0], np.float32),
            params,
            tuple(self.maps),
        )


class _Copies:
    """``place`` for a vector of its own: each tensor appended, cast to ``dtype``."""

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype
        self.chunks: list[Tensor] = []
        self.size = 0

    def __call__(self, t: Tensor) -> int:
        if t.dtype != self.dtype:
            raise Refused(f"the C kernels take {self.dtype} weights here, not {t.dtype}")
        at = self.size
        self.chunks.append(t.detach().reshape(-1))
        self.size += t.numel()
        return at

    def vector(self) -> np.ndarray:
        return torch.cat(self.chunks).contiguous().numpy()


def refusal(layers: Sequence[nn.Module]) -> str | None:
    """Why the kernels cannot lay ``layers`` out (a layer, activation, width or depth they lack),
    or ``None`` when they can; the weights' dtype and the spectral normalisation are not looked
    at (each kernel asks for its own).

    Example:
        >>> import iresnet_core as ic
        >>> refusal(ic.build_flow(ic.FlowConfig(n_blocks=1, hidden=(300,))).layers)
        'the C kernels take hidden layers up to 256 wide'
    """
    writer = _Writer(lambda t: 0)
    try:
        writer.layers(
            layers,
            lambda b: writer.block(
                [(lin.weight, lin.bias, None) for lin in b.g.linears], b.g.act.name
            ),
        )
    except Refused as e:
        return str(e)
    return None


@torch.no_grad()
def snapshot(layers: Sequence[nn.Module], dtype: torch.dtype = torch.float32) -> Layout:
    """``layers`` (a :class:`~iresnet_core.flows.flow.Flow`'s) with every block's normalised
    weights taken now, all weights copied into :attr:`Layout.params`: later training does not
    change it. Every weight must already be ``dtype``."""
    copies = _Copies(dtype)
    writer = _Writer(copies)

    def block(layer: InvertibleResidualBlock) -> None:
        if layer.g.linears[0].weight.dtype != dtype:
            raise Refused(f"the C kernels take {dtype} weights here")
        writer.block([(w, b, None) for w, b in layer.g.frozen(dtype)], layer.g.act.name)

    writer.layers(layers, block)
    return writer.layout(copies.vector())


def of_block(params: Sequence[tuple[Tensor, Tensor]], activation: str) -> Layout:
    """One block ``x + g(x)`` of the normalised ``(W, b)`` pairs ``params`` (all of one dtype,
    which :attr:`Layout.params` keeps).

    Example:
        >>> w = [torch.ones(3, 2, dtype=torch.float64), torch.ones(2, 3, dtype=torch.float64)]
        >>> lay = of_block([(w[0], torch.zeros(3, dtype=torch.float64)),
        ...                 (w[1], torch.zeros(2, dtype=torch.float64))], "elu")
        >>> lay.meta.tolist(), lay.params.dtype
        ([0, 0, 2, 2, 3, 2, 0, 6, -1, -1, -1, 9, 15, -1, -1, -1], dtype('float64'))
    """
    copies = _Copies(params[0][0].dtype)
    writer = _Writer(copies)
    writer.block([(w, b, None) for w, b in params], activation)
    return writer.layout(copies.vector())


def on_flat(layers: Sequence[nn.Module], flat: FlatParameters) -> Layout:
    """``layers`` with offsets into ``flat.data`` (the trainer's vector, read at every call):
    raw weights, each constrained map's ``u, v`` at its offsets in the concatenation of the
    :attr:`Layout.maps`' vectors and its ``c`` in :attr:`Layout.consts`."""
    offsets, at = {}, 0
    for p in flat.params:
        offsets[id(p)] = at
        at += p.numel()

    def place(t: Tensor) -> int:
        if id(t) not in offsets:
            raise Refused("a parameter of the flow is not trained (frozen)")
        return offsets[id(t)]

    writer = _Writer(place)

    def block(layer: InvertibleResidualBlock) -> None:
        linears = layer.g.linears
        if any(lin.coeff is not None and lin.exact for lin in linears):
            raise Refused(
                "the C kernels normalise by power iteration, this flow by SVD (exact sigma)"
            )
        writer.block([(lin.weight, lin.bias, lin) for lin in linears], layer.g.act.name)

    writer.layers(layers, block)
    return writer.layout()
