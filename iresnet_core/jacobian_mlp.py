"""The residual branch ``g`` with its Jacobian, forward and backward written by hand.

Training an i-ResNet on 2D data differentiates ``ln |det(I + J_g(x))|``, so the gradient flows
through the Jacobian ``J_g = W_L D_{L-1} W_{L-1} ... D_1 W_1`` (``D_k = diag(phi'(a_k))``, Behrmann
et al. 2019, Sec. 3) as well as through ``g``. Autograd records some twenty small operations per
layer for that and replays them one by one; this module does the same mathematics in a handful of
large matrix products per layer, which is what makes a training step cheap on a CPU
(issue 6, ``docs/benchmarks.md``). The numbers are those of the plain autograd path
(:func:`iresnet_core.iresnet.mlp_forward_with_jacobian`), which the tests compare it with.

Notation, for layers ``k = 1..L`` with ``a_k = W_k h_{k-1} + b_k``, ``h_0 = x``,
``h_k = phi(a_k)``, ``s_k = phi'(a_k)`` and ``g = a_L``: ``P_k[i] = d a_k / d x_i`` of shape
``(d, B, H_k)``, so ``J_g[b, j, i] = P_L[i, b, j]``; ``T_k = P_k * s_k`` and
``P_{k+1} = T_k W_{k+1}^T``. The first product ``P_2[i] = s_1 M[i]`` uses the sample-independent
``M[i, l, k] = W_1[l, i] W_2[k, l]``, so no ``(d, B, H_1)`` tensor is formed.

Example:
    >>> import torch
    >>> from iresnet_core.activations import get_activation
    >>> params = [(torch.randn(16, 2), torch.randn(16)), (torch.randn(2, 16) / 8, torch.zeros(2))]
    >>> g, J = g_and_jacobian(params, get_activation("elu"), torch.randn(5, 2))
    >>> g.shape, J.shape
    (torch.Size([5, 2]), torch.Size([5, 2, 2]))
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from .activations import Activation
from .lipschitz import Rescale

__all__ = ["g_and_jacobian"]

Params = list[tuple[Tensor, Tensor]]  # (W, b) per linear map of g, W of shape (out, in)
Rescales = list["Rescale | None"]  # per linear map: the active soft rule W / s, or None


def _fold(w1: Tensor, w2: Tensor) -> Tensor:
    """``M[i, l, k] = W_1[l, i] W_2[k, l]``, shape ``(d, H_1, H_2)``: ``P_2[i] = s_1 @ M[i]``."""
    return w1.t().unsqueeze(2) * w2.t().unsqueeze(0)


def _sum_over_directions(a: Tensor, b: Tensor) -> Tensor:
    """``sum_i a[i] * b[i]`` for ``(d, B, H)`` tensors, as ``d`` fused multiply-adds."""
    out = a[0] * b[0]
    for i in range(1, a.shape[0]):
        out.addcmul_(a[i], b[i])
    return out


class _GAndJacobian(torch.autograd.Function):
    """``(g(x), P_L)`` for an MLP of at least two linear maps; the backward by hand.

    The Jacobian is carried direction-major, ``P_k`` of shape ``(d, B, H_k)``: a product with
    ``s_k`` then broadcasts over the leading axis, the cheap case for a CPU.
    """

    @staticmethod
    def forward(ctx, act: Activation, rescales: Rescales, x: Tensor, *flat: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        # The spectral normalisation W / s happens here, outside autograd; backward maps the
        # gradient back to the raw W (Rescale's docstring).
        ws = [w if r is None else w / r.s for w, r in zip(flat[0::2], rescales)]
        bs = flat[1::2]
        B, d = x.shape
        a = torch.addmm(bs[0], x, ws[0].t())
        h, s = act.value_and_derivative(a)
        m = _fold(ws[0], ws[1])
        P = x.new_empty(d, B, ws[1].shape[0])
        for i in range(d):
            torch.mm(s, m[i], out=P[i])
        saved_a, saved_h, saved_s, saved_P, saved_T = [a], [h], [s], [P], []
        for w, b, w_next in zip(ws[1:-1], bs[1:-1], ws[2:]):
            a = torch.addmm(b, h, w.t())
            h, s = act.value_and_derivative(a)
            T = P * s
            P = (T.view(d * B, -1) @ w_next.t()).view(d, B, -1)
            saved_a.append(a), saved_h.append(h), saved_s.append(s), saved_P.append(P), saved_T.append(T)
        g = torch.addmm(bs[-1], h, ws[-1].t())
        ctx.act = act
        ctx.rescales = rescales
        ctx.n_layers = len(ws)
        ctx.save_for_backward(x, m, *ws, *saved_a, *saved_h, *saved_s, *saved_P, *saved_T)
        return g, P

    @staticmethod
    @once_differentiable
    def backward(ctx, dg: Tensor, dP: Tensor):  # type: ignore[override]
        L, act = ctx.n_layers, ctx.act
        saved = ctx.saved_tensors
        x, m = saved[0], saved[1]
        rest = saved[2:]
        ws, rest = rest[:L], rest[L:]
        a_, rest = rest[:L - 1], rest[L - 1:]  # a_k, h_k, s_k for k = 1..L-1
        h_, rest = rest[:L - 1], rest[L - 1:]
        s_, rest = rest[:L - 1], rest[L - 1:]
        P_, T_ = rest[:L - 1], rest[L - 1:]  # P_k for k = 2..L; T_k for k = 2..L-1
        B, d = x.shape
        dg = dg if dg is not None else x.new_zeros(B, d)
        dP = dP.contiguous() if dP is not None else x.new_zeros(d, B, d)
        dws: list[Tensor] = [x] * L  # placeholders, every one is set below
        dbs: list[Tensor] = [x] * L
        # Layer L: g = W_L h_{L-1} + b_L.
        dws[-1] = dg.t() @ h_[-1]
        dbs[-1] = dg.sum(0)
        dh = dg @ ws[-1]
        for k in range(L - 1, 1, -1):  # the map W_{k+1} (0-based ws[k]) and activation k (0-based k-1)
            # P_{k+1} = T_k W_{k+1}^T, T_k = P_k * s_k, h_k = phi(a_k), a_k = W_k h_{k-1} + b_k.
            dP_flat = dP.view(d * B, -1)
            dws[k] = torch.addmm(dws[k], dP_flat.t(), T_[k - 2].view(d * B, -1))
            dT = (dP_flat @ ws[k]).view(d, B, -1)
            s, P = s_[k - 1], P_[k - 2]
            dP = dT * s
            ds = _sum_over_directions(dT, P)
            da = torch.addcmul(dh * s, ds, act.second_derivative(a_[k - 1], h_[k - 1], s))
            dws[k - 1] = da.t() @ h_[k - 2]
            dbs[k - 1] = da.sum(0)
            dh = da @ ws[k - 1]
        # P_2[i] = s_1 M[i] with M = fold(W_1, W_2).
        s1 = s_[0]
        dm = torch.stack([s1.t() @ dP[i] for i in range(d)])  # (d, H_1, H_2)
        ds1 = dP[0] @ m[0].t()
        for i in range(1, d):
            ds1.addmm_(dP[i], m[i].t())
        dw1 = (dm * ws[1].unsqueeze(0).transpose(1, 2)).sum(2).t()
        dw2 = (dm * ws[0].t().unsqueeze(2)).sum(0).t()
        dws[1] = dws[1] + dw2
        da = torch.addcmul(dh * s1, ds1, act.second_derivative(a_[0], h_[0], s1))
        dws[0] = torch.addmm(dw1, da.t(), x)
        dbs[0] = da.sum(0)
        dx = da @ ws[0]
        grads: list[Tensor] = []
        for dw, db, w, r in zip(dws, dbs, ws, ctx.rescales):
            if r is not None:  # W_n = W / s, s = u^T W v / c: dW = (G - <G, W_n> / c u v^T) / s
                dot = float(torch.dot(dw.reshape(-1), w.reshape(-1)))
                dw = torch.addr(dw, r.u, r.v, beta=1.0 / r.s, alpha=-dot / (r.coeff * r.s))
            grads += [dw, db]
        return (None, None, dx, *grads)


def g_and_jacobian(params: Params, act: Activation, x: Tensor,
                   rescales: Rescales | None = None) -> tuple[Tensor, Tensor]:
    """``(g(x), J_g(x))``, ``J_g`` of shape ``(B, d, d)``, with the hand-written backward.

    ``rescales`` (from :meth:`~iresnet_core.lipschitz.SpectralLinear.training_rescale`, one per
    layer) applies the soft rule ``W / max(1, sigma / c)`` to the raw weights in ``params``; without
    it the weights are used as given. Same values and gradients as
    :func:`iresnet_core.iresnet.mlp_forward_with_jacobian` on the normalised weights, with the
    rule differentiated by autograd; needs at least one hidden layer. Differentiable once (no
    double backward through it).
    """
    if len(params) < 2:
        raise ValueError("g_and_jacobian needs at least one hidden layer")
    rescales = [None] * len(params) if rescales is None else list(rescales)
    if len(rescales) != len(params):
        raise ValueError(f"one rescale per layer: {len(params)} layers, {len(rescales)} rescales")
    flat = [t for wb in params for t in wb]
    g, P = _GAndJacobian.apply(act, rescales, x, *flat)
    return g, P.permute(1, 2, 0)  # J[b, j, i] = d g_j / d x_i = P_L[i, b, j]
