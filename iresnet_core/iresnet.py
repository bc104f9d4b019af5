"""The invertible residual block and the i-ResNet flow (Behrmann et al., ICML 2019).

A block is ``F(x) = x + g(x)`` with ``g`` an MLP of spectrally normalised linear maps and
1-Lipschitz activations, so ``Lip(g) < 1`` (Theorem 1) and ``F`` is invertible by the fixed-point
iteration ``x_{n+1} = y - g(x_n)``, ``x_0 = y`` (Algorithm 1). Banach's theorem bounds the error of
iterate n by ``L^n / (1 - L) * ||x_1 - x_0||`` (paper eq. 36 in the reading report).

The block propagates the d x d Jacobian of ``g`` through the MLP in the same pass as the forward
(``J = W_L D_{L-1} W_{L-1} ... D_1 W_1`` with ``D_i = diag(phi'(a_i))``): no double backward, and
every log-det estimator of :mod:`iresnet_core.logdet` reads from it.

Example:
    >>> import iresnet_core as ic, torch
    >>> flow = ic.build_flow(ic.FlowConfig(n_blocks=4, hidden=(64, 64), coeff=0.9))
    >>> x = torch.randn(10, 2)
    >>> z, _ = flow(x)
    >>> x_rec, info = flow.inverse(z)
    >>> bool((x_rec - x).abs().max() < 1e-5), info.converged
    (True, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from .actnorm import ActNorm
from .activations import get_activation
from .config import FlowConfig
from .flow import Flow
from .jacobian_mlp import ExactLogdet2D, g_and_exact_logdet, g_and_jacobian, g_and_series_logdet
from .layers import BlockInverseInfo, FlowLayer
from .lipschitz import Rescale, SpectralLinear, exact_sigma
from .logdet import estimate_logdet, exact_logdet, series_plan

__all__ = ["LipschitzMLP", "InvertibleResidualBlock", "build_iresnet", "DIVERGENCE_FACTOR", "mlp_forward",
           "mlp_forward_with_jacobian"]

#: The last linear map of every block starts at this fraction of its normalised weight (near zero).
LAST_LAYER_INIT_SCALE = 1e-3

#: The fixed-point iteration is called diverged once a residual exceeds this multiple of the first.
DIVERGENCE_FACTOR = 1e6

#: Under the constraint, a point stops iterating once its step is below this fraction of the tolerance.
SETTLED = 1e-3


Params = list[tuple[Tensor, Tensor]]  # (W, b) per linear map of g, W of shape (out, in)


def mlp_forward(params: Params, act, x: Tensor) -> Tensor:
    """``g(x) = W_L phi(... phi(W_1 x + b_1) ...) + b_L`` for given weights (the block's ``g``)."""
    *inner, (w, b) = params
    for wi, bi in inner:
        x = act(torch.nn.functional.linear(x, wi, bi))
    return torch.nn.functional.linear(x, w, b)


def mlp_forward_with_jacobian(params: Params, act, x: Tensor) -> tuple[Tensor, Tensor]:
    """``(g(x), J_g(x))`` with ``J_g = W_L D_{L-1} W_{L-1} ... D_1 W_1`` of shape ``(B, d, d)``, in one pass.

    The tangents travel direction-major, ``T[i] = d(pre-activations)/dx_i`` as a ``(d, B, width)``
    tensor, so each layer costs one large matrix product, ``T <- (T * phi'(a)) W^T``, and the
    product with ``phi'(a)`` broadcasts over the leading axis only (sample-major ``(B, d, width)``
    tangents broadcast in torch's slow inner loop: 65 against 15 us for 4096 x 2 x 32). The first
    ``D_1`` is folded into the second layer's product, ``T[i] = phi'(a_1) @ M[i]`` with the
    sample-independent ``M[i][l, k] = W_1[l, i] W_2[k, l]``, so the pass never forms a
    ``(d, B, width)`` product with ``W_1``. Differentiable in the weights (training with
    SVD-normalised layers) and usable on frozen copies (:mod:`iresnet_core.frozen`).
    """
    B, d = x.shape
    (w, b), rest = params[0], params[1:]
    if not rest:
        return torch.nn.functional.linear(x, w, b), w.expand(B, -1, -1)
    x, da = act.value_and_derivative(torch.nn.functional.linear(x, w, b))
    w_next, b_next = rest[0]
    m = w.t().unsqueeze(2) * w_next.t().unsqueeze(0)  # (d, width_1, width_2): M[i][l, k]
    t = torch.matmul(da, m)  # (d, B, width_2)
    for w_k, b_k in rest[1:]:
        x, da = act.value_and_derivative(torch.nn.functional.linear(x, w_next, b_next))
        t = torch.matmul(t * da, w_k.t())
        w_next, b_next = w_k, b_k
    g = torch.nn.functional.linear(x, w_next, b_next)
    return g, t.permute(1, 2, 0)  # J[b, j, i] = d g_j / d x_i = T[i, b, j]


class LipschitzMLP(nn.Module):
    """``g``: d -> hidden... -> d, spectrally normalised linear layers and a 1-Lipschitz activation."""

    def __init__(self, dim: int, hidden: tuple[int, ...], coeff: float | None, activation: str,
                 n_power_iter: int = 1, exact_sn: bool = False, init: str = "identity") -> None:
        super().__init__()
        widths = (dim, *hidden, dim)
        self.linears = nn.ModuleList(
            SpectralLinear(a, b, coeff, n_power_iter, exact_sn) for a, b in zip(widths[:-1], widths[1:])
        )
        self.act = get_activation(activation)
        #: the hand-written Jacobian pass applies: a hidden layer, no layer normalised by SVD
        #: (fixed at construction; asked once a block and training step)
        self._hand_written = len(self.linears) >= 2 and not (exact_sn and coeff is not None)
        # The last layer starts near zero, so every block starts near the identity and the flow
        # starts as its ActNorms (a Gaussian fit), as in Residual Flows and Glow's zero-initialised
        # couplings. Scaling W keeps its singular vectors, so the stored u, v stay valid. With
        # lr 1e-2 this fits 8gaussians to 0.13 nats in 30 s of one-thread CPU time, against 0.32
        # from the boundary initialisation at lr 1e-3 (benchmarks, issue 6).
        # init="boundary" keeps every layer on the constraint's boundary (sigma = c).
        if init == "identity":
            with torch.no_grad():
                self.linears[-1].weight.mul_(LAST_LAYER_INIT_SCALE)
                self.linears[-1].bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        *inner, last = self.linears
        for lin in inner:
            x = self.act(lin(x))
        return last(x)

    def forward_with_jacobian(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(g(x), J_g(x))`` with ``J_g`` of shape ``(B, d, d)``, in one pass.

        When a gradient will be taken (training), the pass with the hand-written backward of
        :mod:`iresnet_core.jacobian_mlp`, spectral normalisation included; otherwise (and for
        SVD-normalised layers) :func:`mlp_forward_with_jacobian`.
        """
        fast = self._hand_written_pass()
        if fast is not None:
            return g_and_jacobian(fast[0], self.act, x, fast[1])
        params = [(lin.normalized_weight(), lin.bias) for lin in self.linears]
        return mlp_forward_with_jacobian(params, self.act, x)

    def forward_with_logdet(self, x: Tensor, mode: str, n_terms: int = 5, n_probes: int = 1, probe: str = "gaussian",
                            n_exact_terms: int = 2, generator: torch.Generator | None = None,
                            residual: bool = False, affine: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """``(g(x), ln det(I + J_g(x)))`` estimated per ``mode`` (:func:`iresnet_core.logdet.estimate_logdet`);
        with ``residual``, ``x + g(x)`` in place of ``g(x)``.

        In training with 2D data (:meth:`takes_hand_written_pass`) the whole of it is one
        hand-written node (the residual add included): the exact determinant, or the series with
        the same draws from ``generator`` (:func:`iresnet_core.logdet.series_plan`). ``affine``,
        an ActNorm's ``(bias, log_scale)`` applied to ``x + g(x)`` in the same node, needs that pass.
        """
        fast = self._hand_written_pass() if x.shape[-1] == 2 else None
        if fast is None:
            if affine is not None:
                raise ValueError("an ActNorm goes into the hand-written pass only (see takes_hand_written_pass)")
            g, jac = self.forward_with_jacobian(x)
            return x + g if residual else g, estimate_logdet(jac, mode, n_terms, n_probes, probe, n_exact_terms, generator)
        if mode == "exact":
            return g_and_exact_logdet(fast[0], self.act, x, fast[1], residual=residual, affine=affine)
        plan = series_plan(mode, x.shape[0], 2, n_terms, n_probes, probe, n_exact_terms, generator, x.dtype)
        return g_and_series_logdet(fast[0], self.act, x, plan, fast[1], residual=residual, affine=affine)

    def takes_hand_written_pass(self, x: Tensor) -> bool:
        """Whether :meth:`forward_with_logdet` of ``x`` is the hand-written pass: a gradient will be
        taken, the data are 2D, there is a hidden layer and no layer is normalised by SVD."""
        return self._hand_written and x.shape[-1] == 2 and torch.is_grad_enabled()

    def batched_power_layers(self) -> list[SpectralLinear]:
        """The linear maps whose training forward takes its power iteration from
        :meth:`~iresnet_core.lipschitz.SpectralLinear.training_rescale` (the hand-written pass), which
        :meth:`iresnet_core.flow.Flow.forward` iterates for all blocks at once."""
        return list(self.linears) if self._hand_written else []

    def _hand_written_pass(self) -> tuple[Params, list[Rescale | None]] | None:
        """``(raw params, rescales)`` for :mod:`iresnet_core.jacobian_mlp` when a gradient will be
        taken and the pass applies (a hidden layer, power-iteration normalisation); else ``None``.

        The soft rule's sigma is taken here as a plain number (one power iteration, vectors kept);
        the hand-written backward differentiates it.
        """
        if not (self._hand_written and torch.is_grad_enabled()):
            return None
        rescales = [lin.training_rescale() for lin in self.linears]
        return [(lin.weight, lin.bias) for lin in self.linears], rescales

    @torch.no_grad()
    def frozen(self, dtype: torch.dtype = torch.float64) -> list[tuple[Tensor, Tensor]]:
        """The normalised ``(W, b)`` of every layer, detached and cast: for repeated evaluation."""
        was = self.training
        if was:  # switching modes walks every submodule: a third of a density grid's preparation
            self.eval()
        try:
            return [(lin.normalized_weight().to(dtype), lin.bias.to(dtype)) for lin in self.linears]
        finally:
            if was:
                self.train(True)

    def apply_frozen(self, params: list[tuple[Tensor, Tensor]], x: Tensor) -> Tensor:
        """``g(x)`` with the weights of :meth:`frozen`."""
        return mlp_forward(params, self.act, x)

    @torch.no_grad()
    def lipschitz_bound(self) -> float:
        """``prod_i ||W_i||_2`` of the normalised weights, by SVD: an upper bound on ``Lip(g)``."""
        was = self.training
        self.eval()
        try:
            return float(math.prod(float(exact_sigma(lin.normalized_weight())) for lin in self.linears))
        finally:
            self.train(was)


class InvertibleResidualBlock(FlowLayer):
    """``y = x + g(x)`` with the log-det per the flow's estimator and a fixed-point inverse."""

    def __init__(self, cfg: FlowConfig, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.g = LipschitzMLP(cfg.dim, cfg.hidden, cfg.coeff, cfg.activation, cfg.n_power_iter,
                              cfg.spectral == "exact", init=cfg.init)
        self.generator = generator

    def g_and_jacobian(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(g(x), J_g(x))``."""
        return self.g.forward_with_jacobian(x)

    def forward(self, x: Tensor, mode: str | None = None) -> tuple[Tensor, Tensor]:
        cfg = self.cfg
        return self.g.forward_with_logdet(x, mode or cfg.logdet, cfg.n_terms, cfg.n_probes, cfg.probe,
                                          cfg.n_exact_terms, self.generator, residual=True)

    def forward_then(self, x: Tensor, mode: str | None, following: FlowLayer) -> tuple[Tensor, Tensor] | None:
        """This block then the ActNorm after it as one node of the autograd graph (training's
        hand-written pass; :meth:`FlowLayer.forward_then`): the ActNorm's own node took 40 us of a
        block's 600 in a training step. ``None`` for any other layer, an ActNorm still to be
        initialised from data, or where the hand-written pass does not apply."""
        if not isinstance(following, ActNorm) or not self.g.takes_hand_written_pass(x) or not bool(following.initialized):
            return None
        cfg = self.cfg
        return self.g.forward_with_logdet(x, mode or cfg.logdet, cfg.n_terms, cfg.n_probes, cfg.probe, cfg.n_exact_terms,
                                          self.generator, residual=True, affine=(following.bias, following.log_scale))

    def jacobian(self, x: Tensor) -> Tensor:
        _, jac = self.g.forward_with_jacobian(x)
        return jac + torch.eye(x.shape[-1], dtype=x.dtype)

    def lipschitz_bound(self) -> float:
        """An upper bound on ``Lip(g)`` (product of exact spectral norms)."""
        return self.g.lipschitz_bound()

    def prepared(self) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
        """``x -> (x + g(x), ln |det(I + J_g(x))|)`` with the normalised weights taken once (a
        200 x 200 density grid otherwise normalises each of them once per chunk of points)."""
        params, act = self.g.frozen(self.g.linears[0].weight.dtype), self.g.act
        if self.cfg.dim == 2 and len(params) >= 2:
            pass_2d = ExactLogdet2D(params, act)

            def forward(x: Tensor) -> tuple[Tensor, Tensor]:
                g, logdet = pass_2d(x)
                return x + g, logdet
        else:
            def forward(x: Tensor) -> tuple[Tensor, Tensor]:
                g, jac = mlp_forward_with_jacobian(params, act, x)
                return x + g, exact_logdet(jac)

        return forward

    @torch.no_grad()
    def inverse(self, y: Tensor, max_iter: int = 100, tol: float = 1e-6, native: bool = True
                ) -> tuple[Tensor, BlockInverseInfo]:
        """Algorithm 1: ``x_{n+1} = y - g(x_n)`` from ``x_0 = y`` until ``max ||x_{n+1} - x_n|| < tol``.

        Stops early when the iteration diverges (non-finite or growing past ``DIVERGENCE_FACTOR``
        times the first step), so an unconstrained block reports failure instead of hanging.

        Under the constraint (``SETTLED <= L < 1``, L the bound on ``Lip(g)``) a point whose step
        has fallen below ``SETTLED * tol`` leaves the batch: its later steps would shrink by L
        each, so the largest step (the residual reported and tested against ``tol``) is the same
        without it, and the point lies within ``L / (1 - L)`` times that step of its fixed point,
        inside Banach's bound at the last iterate (that bound is at least ``L^2 tol / (1 - L)``
        because the iteration before the last had not converged, and ``L >= SETTLED``). On the
        8gaussians model, 1000 samples through 32 blocks took 38 % of the point-iterations.

        With ``native`` (the default) a 2D ELU block iterates in the compiled kernel
        (``fixed_point2d.c``, :func:`iresnet_core.native.fixed_point`) by these same rules,
        where one is built: the same iterates up to float64 rounding, several times faster.
        """
        if max_iter < 1:
            raise ValueError(f"max_iter must be >= 1, got {max_iter}")
        if not tol > 0:
            raise ValueError(f"tol must be > 0, got {tol}")
        lip = self.lipschitz_bound() if self.cfg.coeff is not None else None
        # Iterate in float64 so that the fixed point, not float32 rounding, sets the error.
        params = self.g.frozen(torch.float64)
        y64 = y.to(torch.float64)
        settle = SETTLED * tol if lip is not None and SETTLED <= lip < 1 else None
        from . import native as kernels  # imports this module's classes

        if native and kernels.takes_mlp(params, self.g.act.name):
            run = kernels.fixed_point(params, y64, max_iter, tol, settle, DIVERGENCE_FACTOR)
            return run.x.to(y.dtype), self._inverse_info(list(run.residuals), run.converged, run.diverged, lip)
        x = y64.clone()
        active: Tensor | None = None  # the points still iterating; None: all of them
        residuals: list[float] = []
        first_step = None
        converged = diverged = False
        for _ in range(max_iter):
            if active is None:
                x_next = y64 - self.g.apply_frozen(params, x)
                step = (x_next - x).norm(dim=-1)
                x = x_next
            else:
                xa = x[active]
                x_next = y64[active] - self.g.apply_frozen(params, xa)
                step = (x_next - xa).norm(dim=-1)
                x[active] = x_next
            r = float(step.max()) if step.numel() else 0.0
            if settle is not None and step.numel():
                moving = step >= settle
                if not bool(moving.all()):
                    active = (torch.arange(len(x)) if active is None else active)[moving]
            residuals.append(r)
            if first_step is None:
                first_step = r
            if not math.isfinite(r) or r > DIVERGENCE_FACTOR * max(first_step, 1e-12):
                diverged = True
                break
            if r < tol:
                converged = True
                break
        return x.to(y.dtype), self._inverse_info(residuals, converged, diverged, lip)

    @staticmethod
    def _inverse_info(residuals: list[float], converged: bool, diverged: bool, lip: float | None) -> BlockInverseInfo:
        """The report of an inverse that ran ``len(residuals)`` iterations, with Banach's bound."""
        n = len(residuals)
        first_step = residuals[0] if residuals else None
        if lip is not None and lip < 1 and first_step is not None and math.isfinite(first_step):
            # Banach: ||x* - x_n|| <= L^n / (1 - L) * ||x_1 - x_0||, with x_n the last iterate.
            bound = lip**n / (1 - lip) * first_step
        else:
            bound = math.inf
        return BlockInverseInfo(np.asarray(residuals, dtype=float), n, converged, diverged, lip, bound)


def build_iresnet(cfg: FlowConfig) -> Flow:
    """``cfg.n_blocks`` invertible residual blocks, each followed by ActNorm when ``cfg.actnorm``."""
    generator = torch.Generator().manual_seed(cfg.seed)
    layers: list[FlowLayer] = []
    for _ in range(cfg.n_blocks):
        layers.append(InvertibleResidualBlock(cfg, generator))
        if cfg.actnorm:
            layers.append(ActNorm(cfg.dim))
    flow = Flow(cfg, layers)
    flow.generator = generator
    return flow
