"""The invertible residual block and the i-ResNet flow (Behrmann et al., ICML 2019).

A block is ``F(x) = x + g(x)`` with ``g`` an MLP of spectrally normalised linear maps and
1-Lipschitz activations, so ``Lip(g) < 1`` (Theorem 1) and ``F`` is invertible by the fixed-point
iteration ``x_{n+1} = y - g(x_n)``, ``x_0 = y`` (Algorithm 1). Banach's theorem bounds the error of
iterate n by ``L^n / (1 - L) * ||x_1 - x_0||`` (paper eq. 36 in the reading report).

The block propagates the d x d Jacobian of ``g`` through the MLP in the same pass as the forward
(``J = W_L D_{L-1} W_{L-1} ... D_1 W_1`` with ``D_i = diag(phi'(a_i))``): no double backward, and
every log-det estimator of :mod:`iresnet_core.ops.logdet` reads from it.

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

import torch
from torch import Tensor, nn

from iresnet_core.config import FlowConfig
from iresnet_core.flows.actnorm import ActNorm
from iresnet_core.flows.engine import engine
from iresnet_core.flows.flow import Flow
from iresnet_core.flows.layers import BlockInverseInfo, FlowLayer
from iresnet_core.ops.activations import get_activation
from iresnet_core.ops.fixed_point import SETTLED, banach_bound, fixed_point
from iresnet_core.ops.logdet import estimate_logdet, exact_logdet, series_plan
from iresnet_core.ops.mlp import (
    Params,
    g_and_exact_logdet,
    g_and_jacobian,
    g_and_series_logdet,
    mlp_forward,
)
from iresnet_core.ops.spectral import Rescale, SpectralLinear, exact_sigma

__all__ = ["LipschitzMLP", "InvertibleResidualBlock", "build_iresnet"]

#: The last linear map of every block starts at this fraction of its normalised weight (near zero).
LAST_LAYER_INIT_SCALE = 1e-3


class LipschitzMLP(nn.Module):
    """``g``: d -> hidden... -> d, spectrally normalised linear layers and a 1-Lipschitz
    activation."""

    def __init__(
        self,
        dim: int,
        hidden: tuple[int, ...],
        coeff: float | None,
        activation: str,
        n_power_iter: int = 1,
        exact_sn: bool = False,
        init: str = "identity",
    ) -> None:
        super().__init__()
        widths = (dim, *hidden, dim)
        self.linears = nn.ModuleList(
            SpectralLinear(a, b, coeff, n_power_iter, exact_sn)
            for a, b in zip(widths[:-1], widths[1:])
        )
        self.act = get_activation(activation)
        #: the hand-written Jacobian pass applies: a hidden layer, no layer normalised by SVD
        #: (fixed at construction; asked once a block and training step)
        self._hand_written = len(self.linears) >= 2 and not (exact_sn and coeff is not None)
        # The last layer starts near zero, so every block starts near the identity and the flow
        # starts as its ActNorms (a Gaussian fit), as in Residual Flows and Glow's zero-initialised
        # couplings. Scaling W keeps its singular vectors, so the stored u, v stay valid. It fits
        # the toy sets faster than the boundary initialisation (see docs/benchmarks.md, issue 6).
        # init="boundary" keeps every layer on the constraint's boundary (sigma = c).
        if init == "identity":
            with torch.no_grad():
                self.linears[-1].weight.mul_(LAST_LAYER_INIT_SCALE)
                self.linears[-1].bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        return mlp_forward(
            [(lin.normalized_weight(), lin.bias) for lin in self.linears], self.act, x
        )

    def forward_with_jacobian(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(g(x), J_g(x))`` with ``J_g`` of shape ``(B, d, d)``, in one pass.

        The pass of :func:`iresnet_core.ops.mlp.g_and_jacobian`: when a gradient will be taken
        (training), with the soft spectral rule inside its hand-written backward; otherwise (and
        for SVD-normalised layers) on the normalised weights.
        """
        fast = self._hand_written_pass()
        if fast is not None:
            return g_and_jacobian(fast[0], self.act, x, fast[1])
        return g_and_jacobian(
            [(lin.normalized_weight(), lin.bias) for lin in self.linears], self.act, x
        )

    def forward_with_logdet(
        self,
        x: Tensor,
        mode: str,
        n_terms: int = 5,
        n_probes: int = 1,
        probe: str = "gaussian",
        n_exact_terms: int = 2,
        generator: torch.Generator | None = None,
        residual: bool = False,
        affine: tuple[Tensor, Tensor] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """``(g(x), ln det(I + J_g(x)))`` estimated per ``mode``
        (:func:`iresnet_core.ops.logdet.estimate_logdet`); with ``residual``, ``x + g(x)`` in place
        of ``g(x)``.

        In training with 2D data (:meth:`takes_hand_written_pass`) the whole of it is one
        hand-written node (the residual add included): the exact determinant, or the series with
        the same draws from ``generator`` (:func:`iresnet_core.ops.logdet.series_plan`).
        ``affine``, an ActNorm's ``(bias, log_scale)`` applied to ``x + g(x)`` in the same node,
        needs that pass.
        """
        fast = self._hand_written_pass() if x.shape[-1] == 2 else None
        if fast is None:
            if affine is not None:
                raise ValueError(
                    "an ActNorm goes into the hand-written pass only (see takes_hand_written_pass)"
                )
            g, jac = self.forward_with_jacobian(x)
            return x + g if residual else g, estimate_logdet(
                jac, mode, n_terms, n_probes, probe, n_exact_terms, generator
            )
        if mode == "exact":
            return g_and_exact_logdet(
                fast[0], self.act, x, fast[1], residual=residual, affine=affine
            )
        plan = series_plan(
            mode, x.shape[0], 2, n_terms, n_probes, probe, n_exact_terms, generator, x.dtype
        )
        return g_and_series_logdet(
            fast[0], self.act, x, plan, fast[1], residual=residual, affine=affine
        )

    def takes_hand_written_pass(self, x: Tensor) -> bool:
        """Whether :meth:`forward_with_logdet` of ``x`` is the hand-written pass: a gradient will
        be taken, the data are 2D, there is a hidden layer and no layer is normalised by SVD."""
        return self._hand_written and x.shape[-1] == 2 and torch.is_grad_enabled()

    def batched_power_layers(self) -> list[SpectralLinear]:
        """The linear maps whose training forward takes its power iteration from
        :meth:`~iresnet_core.ops.spectral.SpectralLinear.training_rescale` (the hand-written pass),
        which :meth:`iresnet_core.flows.flow.Flow.forward` iterates for all blocks at once."""
        return list(self.linears) if self._hand_written else []

    def _hand_written_pass(self) -> tuple[Params, list[Rescale | None]] | None:
        """``(raw params, rescales)`` for :mod:`iresnet_core.ops.mlp` when a gradient will be
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
            return [
                (lin.normalized_weight().to(dtype), lin.bias.to(dtype)) for lin in self.linears
            ]
        finally:
            if was:
                self.train(True)

    @torch.no_grad()
    def lipschitz_bound(self) -> float:
        """``prod_i ||W_i||_2`` of the normalised weights, by SVD: an upper bound on ``Lip(g)``."""
        was = self.training
        self.eval()
        try:
            return float(
                math.prod(float(exact_sigma(lin.normalized_weight())) for lin in self.linears)
            )
        finally:
            self.train(was)


class InvertibleResidualBlock(FlowLayer):
    """``y = x + g(x)`` with the log-det per the flow's estimator and a fixed-point inverse."""

    def __init__(self, cfg: FlowConfig, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.g = LipschitzMLP(
            cfg.dim,
            cfg.hidden,
            cfg.coeff,
            cfg.activation,
            cfg.n_power_iter,
            cfg.spectral == "exact",
            init=cfg.init,
        )
        self.generator = generator

    def g_and_jacobian(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(g(x), J_g(x))``."""
        return self.g.forward_with_jacobian(x)

    def forward(self, x: Tensor, mode: str | None = None) -> tuple[Tensor, Tensor]:
        cfg = self.cfg
        return self.g.forward_with_logdet(
            x,
            mode or cfg.logdet,
            cfg.n_terms,
            cfg.n_probes,
            cfg.probe,
            cfg.n_exact_terms,
            self.generator,
            residual=True,
        )

    def forward_then(
        self, x: Tensor, mode: str | None, following: FlowLayer
    ) -> tuple[Tensor, Tensor] | None:
        """This block then the ActNorm after it as one node of the autograd graph (training's
        hand-written pass; :meth:`FlowLayer.forward_then`), which saves the ActNorm's own node in a
        training step. ``None`` for any other layer, an ActNorm still to be
        initialised from data, or where the hand-written pass does not apply."""
        if (
            not isinstance(following, ActNorm)
            or not self.g.takes_hand_written_pass(x)
            or not bool(following.initialized)
        ):
            return None
        cfg = self.cfg
        return self.g.forward_with_logdet(
            x,
            mode or cfg.logdet,
            cfg.n_terms,
            cfg.n_probes,
            cfg.probe,
            cfg.n_exact_terms,
            self.generator,
            residual=True,
            affine=(following.bias, following.log_scale),
        )

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

        def forward(x: Tensor) -> tuple[Tensor, Tensor]:
            g, jac = g_and_jacobian(params, act, x)
            return x + g, exact_logdet(jac)

        return forward

    @torch.no_grad()
    def inverse(
        self, y: Tensor, max_iter: int = 100, tol: float = 1e-6, native: bool = True
    ) -> tuple[Tensor, BlockInverseInfo]:
        """Algorithm 1: ``x_{n+1} = y - g(x_n)`` from ``x_0 = y`` until ``max ||x_{n+1} - x_n|| <
        tol``, by the rules of :func:`iresnet_core.ops.fixed_point.fixed_point` (it stops at a
        divergence, so an unconstrained block reports failure instead of hanging), in float64 so
        that the fixed point, not float32 rounding, sets the error.

        Under the constraint (``SETTLED <= L < 1``, L the bound on ``Lip(g)``) a point whose step
        has fallen below ``SETTLED * tol`` leaves the batch: its later steps would shrink by L
        each, so the largest step (the residual reported and tested against ``tol``) is the same
        without it, and the point lies within ``L / (1 - L)`` times that step of its fixed point,
        inside Banach's bound at the last iterate (that bound is at least ``L^2 tol / (1 - L)``
        because the iteration before the last had not converged, and ``L >= SETTLED``).

        With ``native`` (the default) the engine (:mod:`iresnet_core.flows.engine`, the C kernel
        ``fixed_point2d.c``) iterates where it covers the block, by the same rules: the same
        iterates up to float64 rounding.
        """
        if max_iter < 1:
            raise ValueError(f"max_iter must be >= 1, got {max_iter}")
        if not tol > 0:
            raise ValueError(f"tol must be > 0, got {tol}")
        lip = self.lipschitz_bound() if self.cfg.coeff is not None else None
        params = self.g.frozen(torch.float64)
        y64 = y.to(torch.float64)
        settle = SETTLED * tol if lip is not None and SETTLED <= lip < 1 else None
        fast = engine() if native else None
        run = (
            fast.fixed_point(params, self.g.act.name, y64, max_iter, tol, settle, True)
            if fast
            else None
        )
        if run is None:
            run = fixed_point(
                lambda x: mlp_forward(params, self.g.act, x), y64, max_iter, tol, settle
            )
        info = BlockInverseInfo(
            run.residuals,
            len(run.residuals),
            run.converged,
            run.diverged,
            lip,
            banach_bound(lip, run.residuals),
        )
        return run.x.to(y.dtype), info


def build_iresnet(cfg: FlowConfig) -> Flow:
    """``cfg.n_blocks`` invertible residual blocks, each followed by ActNorm when
    ``cfg.actnorm``."""
    generator = torch.Generator().manual_seed(cfg.seed)
    layers: list[FlowLayer] = []
    for _ in range(cfg.n_blocks):
        layers.append(InvertibleResidualBlock(cfg, generator))
        if cfg.actnorm:
            layers.append(ActNorm(cfg.dim))
    flow = Flow(cfg, layers)
    flow.generator = generator
    return flow
