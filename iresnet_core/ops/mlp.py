"""The residual branch ``g`` with its Jacobian, forward and backward written by hand.

Training an i-ResNet on 2D data differentiates ``ln |det(I + J_g(x))|``, so the gradient flows
through the Jacobian ``J_g = W_L D_{L-1} W_{L-1} ... D_1 W_1`` (``D_k = diag(phi'(a_k))``, Behrmann
et al. 2019, Sec. 3) as well as through ``g``. Autograd records some twenty small operations per
layer for that and replays them one by one; this module does the same mathematics in one large
matrix product per layer and direction of travel, which is what makes a training step cheap on a
CPU (see ``docs/benchmarks.md``). The numbers are those of torch's autograd applied to
:func:`mlp_forward`, which the tests compare it with.

Notation, for layers ``k = 1..L`` with ``a_k = W_k h_{k-1} + b_k``, ``h_0 = x``,
``h_k = phi(a_k)``, ``s_k = phi'(a_k)`` and ``g = a_L``: the tangents ``P_k[i] = d a_k / d x_i``
(``B x H_k`` each) follow ``P_{k+1}[i] = (P_k[i] * s_k) W_{k+1}^T`` with ``P_1[i] = W_1[:, i]``,
and
``J_g[b, j, i] = P_L[i][b, j]``. Values and tangents go through a layer *stacked*: the rows
``Z_k = [h_k; P_k[1] * s_k; ...; P_k[d] * s_k]`` (``(1 + d) B x H_k``) times ``W_{k+1}^T`` give
``[a_{k+1} - b_{k+1}; P_{k+1}[1]; ...]`` in one product, and the backward's
``dW_{k+1} = dY^T Z_k`` and ``dZ_k = dY W_{k+1}`` are one product each. The first layer's tangents
never exist as ``(B, H_1)`` tensors: ``Z_1``'s tangent rows are ``s_1 * W_1[:, i]``. The last map,
with only ``d`` outputs, is applied transposed, ``W_L Z_{L-1}^T`` (half the time of the product the
other way round on this CPU), so the entries of ``J_g`` come out as contiguous rows:
``Q[j, i] = J_g[:, j, i]``.

With ``d = 2`` the block's log-determinant can be taken inside the same pass, so the whole block is
one node of the autograd graph: exactly (:func:`g_and_exact_logdet`; its gradient with respect to
``J`` is ``(I + J)^{-T}``, a closed form for a 2 x 2 matrix), or as any of the paper's series
estimates (:func:`g_and_series_logdet`; ``sum_k c_k J^k = alpha J + beta I`` by Cayley-Hamilton,
whose partial derivatives travel with it,
:func:`iresnet_core.ops.logdet.power_series_2x2_partials`).

Example:
    >>> import torch
    >>> from iresnet_core.ops.activations import get_activation
    >>> params = [(torch.randn(16, 2), torch.randn(16)), (torch.randn(2, 16) / 8, torch.zeros(2))]
    >>> g, J = g_and_jacobian(params, get_activation("elu"), torch.randn(5, 2))
    >>> g.shape, J.shape
    (torch.Size([5, 2]), torch.Size([5, 2, 2]))
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from iresnet_core.ops.activations import Activation
from iresnet_core.ops.affine import actnorm_backward, actnorm_forward
from iresnet_core.ops.logdet import SeriesPlan, power_series_2x2_partials
from iresnet_core.ops.spectral import Rescale

__all__ = ["Params", "mlp_forward", "g_and_jacobian", "g_and_exact_logdet", "g_and_series_logdet"]

Params = list[tuple[Tensor, Tensor]]  # (W, b) per linear map of g, W of shape (out, in)
Rescales = list["Rescale | None"]  # per linear map: the active soft rule W / s, or None


def mlp_forward(params: Params, act: Activation, x: Tensor) -> Tensor:
    """``g(x) = W_L phi(... phi(W_1 x + b_1) ...) + b_L``: the residual branch's values alone, for
    given weights (the fixed-point inverse, the frozen views, the block's plain forward)."""
    *inner, (w, b) = params
    for wi, bi in inner:
        x = act(torch.nn.functional.linear(x, wi, bi))
    return torch.nn.functional.linear(x, w, b)


_EYE: dict[torch.dtype, Tensor] = {}
_ADJUGATE_SIGNS: dict[torch.dtype, Tensor] = {}


def _eye(dtype: torch.dtype) -> Tensor:
    """``I`` as ``(2, 2, 1)``: ``Q + _eye`` is ``I + J`` for ``Q[j, i] = J[:, j, i]``."""
    if dtype not in _EYE:
        _EYE[dtype] = torch.eye(2, dtype=dtype).view(2, 2, 1)
    return _EYE[dtype]


def _adjugate_signs(dtype: torch.dtype) -> Tensor:
    """The adjugate's signs, ``[[1, -1], [-1, 1]]``, as ``(2, 2, 1)``."""
    if dtype not in _ADJUGATE_SIGNS:
        _ADJUGATE_SIGNS[dtype] = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=dtype).view(
            2, 2, 1
        )
    return _ADJUGATE_SIGNS[dtype]


def _det2(A: Tensor) -> Tensor:
    """``det A_b`` for ``A[j, i, b] = A_b[j, i]`` (``d = 2``)."""
    (a00, a01), (a10, a11) = _entries(A)
    return torch.addcmul(a00 * a11, a01, a10, value=-1.0)


def _entries(Q: Tensor) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """``((Q[0, 0], Q[0, 1]), (Q[1, 0], Q[1, 1]))`` in three calls, where indexing takes eight
    (several times a block)."""
    q0, q1 = Q.unbind()
    return q0.unbind(), q1.unbind()  # type: ignore[return-value]


class _GAndJacobian(torch.autograd.Function):
    """``(g(x), Q)``, or ``(g(x), log-det)`` for an MLP of at least two linear maps.

    ``logdet``: ``None`` returns ``Q[j, i, b] = J_g[b, j, i]`` (shape ``(d, d, B)``; the last
    linear map is applied transposed, ``W_L Z^T``, which takes half the time of ``Z W_L^T`` with
    ``d`` outputs and leaves each entry of ``J_g`` a contiguous row); ``"exact"`` returns
    ``ln |det(I + J_g)|``; a :class:`SeriesPlan` returns that series estimate. The last two need
    ``d = 2``. With ``residual`` the first output is the block's ``x + g(x)``, its add part of
    this node rather than one more of the graph. With ``affine`` (and ``residual``) the last two
    of ``flat`` are an ActNorm's ``bias`` and ``log_scale``, applied to that output in the same
    node: ``(x + g(x) + bias) * exp(log_scale)``, with ``sum(log_scale)`` added to the log-det
    (:mod:`iresnet_core.flows.actnorm`).
    """

    @staticmethod
    def forward(
        ctx,
        act: Activation,
        rescales: Rescales,
        logdet: str | SeriesPlan | None,
        residual: bool,  # type: ignore[override]
        affine: bool,
        x: Tensor,
        *flat: Tensor,
    ):
        # The spectral normalisation W / s happens here, outside autograd; backward maps the
        # gradient back to the raw W (Rescale's docstring).
        params = flat[:-2] if affine else flat
        ws = [
            w if r is None else w / r.s if r.normalized is None else r.normalized
            for w, r in zip(params[0::2], rescales)
        ]
        bs = params[1::2]
        B, d = x.shape
        # Every Z_k is filled in place, row block by row block (no concatenation copies).
        a = torch.addmm(bs[0], x, ws[0].t())
        Z = x.new_empty((1 + d) * B, a.shape[1])
        _, s = act.value_and_derivative(a, out=Z[:B])
        # Z_1 = [h_1; s_1 * W_1[:, 0]; ...]: the first layer's tangents are W_1's columns, copied
        # to contiguous rows first: a product with a strided broadcast operand takes 3-4 times as
        # long.
        w1t = ws[0].t().contiguous()
        torch.mul(s, w1t.unsqueeze(1), out=Z[B:].view(d, B, -1))
        saved_a, saved_s, saved_Z, saved_P = [a], [s], [Z], []
        for w, b in zip(ws[1:-1], bs[1:-1]):
            Y = Z @ w.t()
            a, P = Y[:B].add_(b), Y[B:].view(d, B, -1)  # pre-activations, tangents P_k
            Z = x.new_empty((1 + d) * B, a.shape[1])
            _, s = act.value_and_derivative(a, out=Z[:B])
            torch.mul(P, s, out=Z[B:].view(d, B, -1))
            saved_a.append(a), saved_s.append(s), saved_Z.append(Z), saved_P.append(P)
        Yt = ws[-1] @ Z.t()  # (d, (1 + d) B): row j = [g_j - b_j, J[:, j, 0], ..., J[:, j, d - 1]]
        Q = Yt[:, B:].view(d, d, B)
        if residual:
            g = torch.add(x, bs[-1]).add_(Yt[:, :B].t())
        else:
            g = torch.add(Yt[:, :B].t(), bs[-1]).contiguous()
        ctx.act, ctx.rescales, ctx.logdet, ctx.n_layers, ctx.residual, ctx.affine = (
            act,
            rescales,
            logdet,
            len(ws),
            residual,
            affine,
        )
        ctx.w1t = w1t  # an intermediate: kept on ctx, not saved
        # The backward takes phi'' / phi' from h_k and s_k where the activation allows
        # (Activation.dlog_derivative): then neither a_k nor P_k is kept, and the products Y that
        # hold them are freed for the next layers to reuse while still in cache.
        ctx.keeps_a = act.needs_preactivation
        tensors = [x, *ws, *saved_s, *saved_Z, *(saved_a + saved_P if ctx.keeps_a else [])]
        if logdet is None:
            ctx.save_for_backward(*tensors)
            return g, Q
        if logdet == "exact":
            A = Q.add_(_eye(Q.dtype))  # I + J, in place: Q is not returned
            det = _det2(A)
            extra, ld = [A, det], det.abs().log_()
        elif not logdet.coeffs:  # a roulette draw of no terms
            extra, ld = [], x.new_zeros(B)
        else:
            # tr_v(alpha J + beta I) = alpha v^T J v + beta v^T v (mean over the probes; exact: tr
            # J, 2)
            (j00, j01), (j10, j11) = _entries(Q)
            acc_p, acc_q = power_series_2x2_partials(
                j00 + j11, j01 * j10 - j00 * j11, logdet.coeffs
            )
            if logdet.probes is None:
                M = None
                q, vv = j00 + j11, 2.0
            else:
                v0, v1 = logdet.probes[..., 0], logdet.probes[..., 1]
                M = torch.stack(
                    [(v0 * v0).mean(-1), (v0 * v1).mean(-1), (v1 * v1).mean(-1)]
                )  # mean v v^T
                q, vv = j00 * M[0] + (j01 + j10) * M[1] + j11 * M[2], M[0] + M[2]
            ctx.vv = vv
            extra, ld = (
                [Q, acc_p, acc_q, q, *([] if M is None else [M])],
                acc_p[0] * q + acc_q[0] * vv,
            )
        if affine:  # the ActNorm after the block: (y + bias) * e^s, log-det + sum(s)
            bias, log_scale = flat[-2:]
            g, scale = actnorm_forward(g, bias, log_scale, out=g)
            ld.add_(log_scale.sum())
            extra += [g, scale]
        ctx.save_for_backward(*tensors, *extra)
        return g, ld

    @staticmethod
    @once_differentiable
    def backward(ctx, dg: Tensor, dout: Tensor):  # type: ignore[override]
        L, act = ctx.n_layers, ctx.act
        saved = ctx.saved_tensors
        affine_grads: list[Tensor] = []
        if ctx.affine:  # the ActNorm's z = (y + bias) * scale first: dg becomes dy
            saved, z, scale = saved[:-2], saved[-2], saved[-1]
            dg, dbias, dlog_scale = actnorm_backward(
                torch.zeros_like(z) if dg is None else dg, z, scale, dout
            )
            affine_grads = [dbias, dlog_scale]
        x, rest = saved[0], saved[1:]
        ws, rest = rest[:L], rest[L:]
        s_, rest = rest[: L - 1], rest[L - 1 :]  # s_k for k = 1..L-1
        Z_, rest = rest[: L - 1], rest[L - 1 :]  # Z_k for k = 1..L-1
        if ctx.keeps_a:
            a_, rest = rest[: L - 1], rest[L - 1 :]  # a_k for k = 1..L-1
            P_, rest = rest[: L - 2], rest[L - 2 :]  # P_k for k = 2..L-1
        B, d = x.shape
        dg = dg if dg is not None else x.new_zeros(B, d)
        logdet = ctx.logdet
        # dYt = [dg^T, dQ] in the layout of the last map's transposed product
        dYt = x.new_empty(d, (1 + d) * B)
        dYt[:, :B] = dg.t()
        dQ = dYt[:, B:].view(d, d, B)
        if logdet == "exact":
            # d ln|det A| / dA = A^{-T}, for A = I + J (2 x 2) adj(A)^T / det(A): entry (j, i) of
            # A^{-T} is A[1 - j, 1 - i] with the sign (-1)^(i + j) over det, one flip.
            A, det = rest
            c = (dout if dout is not None else x.new_zeros(B)) / det
            torch.mul(A.flip((0, 1)), c, out=dQ).mul_(_adjugate_signs(A.dtype))
        elif dout is None or (logdet is not None and not logdet.coeffs):
            dQ.zero_()
        elif logdet is None:
            dQ.copy_(dout)
        else:
            dQ.copy_(_series_backward(dout, ctx.vv, *rest))
        dws: list[Tensor] = [x] * L  # placeholders, every one is set below
        dbs: list[Tensor] = [x] * L
        dws[L - 1] = dYt @ Z_[L - 2]
        dbs[L - 1] = dg.sum(0)
        dZ = dYt.t() @ ws[L - 1]
        w1, w1t = ws[0], ctx.w1t  # w1t[i] = W_1[:, i], contiguous
        for k in range(
            L - 1, 0, -1
        ):  # activation k (0-based k-1), then the map W_k (0-based ws[k-1])
            Z = Z_[k - 1]
            dh, dT = dZ[:B], dZ[B:].view(d, B, -1)
            s = s_[k - 1]
            # Z_k = [h_k; T_k[i] * s_k] with T_k[i] = P_k[i] (T_1[i] = W_1[:, i]); its tangent rows
            # depend on a_k through s_k, so da_k = dh * s + sum_i dT[i] * T_k[i] * phi''(a_k):
            # with the activation's phi'' / phi', sum_i dT[i] * Z_k's tangent rows * (phi'' /
            # phi').
            if ctx.keeps_a:
                dd = act.second_derivative(a_[k - 1], Z[:B], s)
                T = P_[k - 2] if k > 1 else w1t
            else:
                dd = act.dlog_derivative(Z[:B], s)
                T = Z[B:].view(d, B, -1)
            dTs, Ts = dT.unbind(), T.unbind()
            ds = dTs[0] * Ts[0]
            for i in range(1, d):
                ds.addcmul_(dTs[i], Ts[i])
            if k > 1:
                dY = torch.empty_like(Z)
                torch.mul(dT, s, out=dY[B:].view(d, B, -1))
                torch.addcmul(dh * s, ds, dd, out=dY[:B])
                dws[k - 1] = dY.t() @ Z_[k - 2]
                dbs[k - 1] = dY[:B].sum(0)
                dZ = dY @ ws[k - 1]
            else:
                da = torch.addcmul(dh * s, ds, dd)
                # Both products have a side of length d: laid out this way round (and as d
                # matrix-vector products for dx) they take a fraction of the time of da.t() @ x and
                # da @ w1, which BLAS runs as skinny general products.
                dws[0] = torch.addmm((dT * s).sum(1), x.t(), da).t().contiguous()
                dbs[0] = da.sum(0)
                if d <= 4:  # with the residual x + g, dx starts from the incoming dg
                    dx = torch.stack(
                        [
                            torch.addmv(dg[:, i], da, w1t[i])
                            if ctx.residual
                            else torch.mv(da, w1t[i])
                            for i in range(d)
                        ],
                        1,
                    )
                else:
                    dx = torch.addmm(dg, da, w1) if ctx.residual else da @ w1
        grads: list[Tensor] = []
        for dw, db, w, r in zip(dws, dbs, ws, ctx.rescales):
            if r is not None:  # W_n = W / s, s = u^T W v / c: dW = (G - <G, W_n> / c u v^T) / s
                dot = float(torch.dot(dw.reshape(-1), w.reshape(-1)))
                dw = torch.addr(dw, r.u, r.v, beta=1.0 / r.s, alpha=-dot / (r.coeff * r.s))
            grads += [dw, db]
        return (None, None, None, None, None, dx, *grads, *affine_grads)


def _series_backward(
    dout: Tensor, vv, Q: Tensor, acc_p: Tensor, acc_q: Tensor, q: Tensor, M: Tensor | None = None
) -> Tensor:
    """``dQ`` of ``E = alpha(t, m) q + beta(t, m) vv`` with ``q = <M, J>`` (``M = I`` for exact
    traces),
    ``t = tr J``, ``m = -det J``: ``dE/dJ = alpha M + (q alpha_t + vv beta_t) I - (q alpha_m + vv
    beta_m) cof(J)``."""
    (j00, j01), (j10, j11) = _entries(Q)
    a = dout * acc_p[0]
    ct = dout * (q * acc_p[1] + vv * acc_q[1])
    cm = dout * (q * acc_p[2] + vv * acc_q[2])
    if M is None:
        m00, m01, m11 = a, 0.0, a
    else:
        m00, m01, m11 = a * M[0], a * M[1], a * M[2]
    d00 = m00 + ct - cm * j11
    d11 = m11 + ct - cm * j00
    d01 = m01 + cm * j10
    d10 = m01 + cm * j01
    return torch.stack(
        [torch.stack([d00, d01]), torch.stack([d10, d11])]
    )  # dQ[j, i] = dJ[:, j, i]


def _apply(
    params: Params,
    act: Activation,
    x: Tensor,
    rescales: Rescales | None,
    logdet,
    residual: bool = False,
    affine: tuple[Tensor, Tensor] | None = None,
):
    if len(params) < 2:
        raise ValueError("g_and_jacobian needs at least one hidden layer")
    rescales = [None] * len(params) if rescales is None else list(rescales)
    if len(rescales) != len(params):
        raise ValueError(f"one rescale per layer: {len(params)} layers, {len(rescales)} rescales")
    if affine is not None and (not residual or logdet is None):
        raise ValueError(
            "an ActNorm in the pass follows the block's residual output x + g(x) and goes with "
            "its log-det"
        )
    flat = [t for wb in params for t in wb] + (list(affine) if affine is not None else [])
    return _GAndJacobian.apply(act, rescales, logdet, residual, affine is not None, x, *flat)


def g_and_jacobian(
    params: Params, act: Activation, x: Tensor, rescales: Rescales | None = None
) -> tuple[Tensor, Tensor]:
    """``(g(x), J_g(x))``, ``J_g`` of shape ``(B, d, d)``, with the hand-written backward.

    ``rescales`` (from :meth:`~iresnet_core.ops.spectral.SpectralLinear.training_rescale`, one per
    layer) applies the soft rule ``W / max(1, sigma / c)`` to the raw weights in ``params``;
    without it the weights are used as given; weights that are themselves results of autograd
    (normalised by SVD) pass their gradients on. An MLP without a hidden layer is linear: ``J_g =
    W``. Differentiable once (no double backward through it); the tests compare values, Jacobians
    and gradients with torch's autograd of :func:`mlp_forward`.
    """
    if len(params) == 1 and rescales is None:  # no hidden layer: g is linear, J_g = W
        w, b = params[0]
        return torch.nn.functional.linear(x, w, b), w.expand(x.shape[0], -1, -1)
    g, Q = _apply(params, act, x, rescales, logdet=None)
    return g, Q.permute(2, 0, 1)  # J[b, j, i] = d g_j / d x_i = Q[j, i, b]


def g_and_exact_logdet(
    params: Params,
    act: Activation,
    x: Tensor,
    rescales: Rescales | None = None,
    residual: bool = False,
    affine: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    """``(g(x), ln |det(I + J_g(x))|)`` for 2D data, the log-det's gradient in closed form.

    The same as :func:`g_and_jacobian` followed by :func:`iresnet_core.ops.logdet.exact_logdet`, as
    a single node of the autograd graph; with ``residual``, ``x + g(x)`` in place of ``g(x)``;
    with ``affine = (bias, log_scale)`` as well, the ActNorm after the block in the same node:
    ``(x + g(x) + bias) * exp(log_scale)`` and the log-det plus ``sum(log_scale)``.
    """
    if x.shape[-1] != 2:
        raise ValueError(f"g_and_exact_logdet is for 2D data, got dimension {x.shape[-1]}")
    return _apply(params, act, x, rescales, logdet="exact", residual=residual, affine=affine)


def g_and_series_logdet(
    params: Params,
    act: Activation,
    x: Tensor,
    plan: SeriesPlan,
    rescales: Rescales | None = None,
    residual: bool = False,
    affine: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    """``(g(x), tr_v(sum_k c_k J_g^k))`` for 2D data: a series estimate of the log-det (truncated,
    Hutchinson or Russian roulette, drawn by :func:`iresnet_core.ops.logdet.series_plan`) in the
    same node, its gradient in closed form (Cayley-Hamilton,
    :func:`~iresnet_core.ops.logdet.power_series_2x2_partials`).

    The same numbers as :func:`g_and_jacobian` followed by
    :func:`iresnet_core.ops.logdet.estimate_logdet` with a generator in the same state;
    ``residual`` and ``affine`` as in :func:`g_and_exact_logdet`.
    """
    if x.shape[-1] != 2:
        raise ValueError(f"g_and_series_logdet is for 2D data, got dimension {x.shape[-1]}")
    return _apply(params, act, x, rescales, logdet=plan, residual=residual, affine=affine)
