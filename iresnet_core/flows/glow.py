"""Glow in 2D (Kingma & Dhariwal, NeurIPS 2018): ActNorm, an LU-form invertible linear map, affine
coupling.

One Glow step is ``ActNorm -> InvertibleLinearLU -> AffineCoupling`` (paper, Sec. 3 and Table 1),
here on vectors rather than images:

* :class:`~iresnet_core.flows.actnorm.ActNorm` (Sec. 3.1), data-dependent initialisation;
* :class:`InvertibleLinearLU`, the invertible 1x1 convolution's vector case in LU form (Sec. 3.2):
  ``W = P L (U + diag(sign_s * exp(log_s)))`` with ``P`` a fixed permutation, ``L`` unit lower
  triangular and ``U`` strictly upper triangular, so ``log|det W| = sum(log_s)``;
* :class:`AffineCoupling` (Sec. 3.3): one half of the coordinates conditions an affine map of the
  other, by default in the form of Glow's own code, ``y2 = (x2 + t(x1)) * sigmoid(raw(x1) + 2)``
  (a scale in (0, 1): a coupling never expands) with a ReLU conditioner whose last layer is
  zero-initialised, so that every coupling starts as the same slight contraction,
  ``sigmoid(2) = 0.88``.

Every layer inverts in closed form, so :meth:`Flow.inverse` of a Glow reports no iterative blocks.
:func:`match_glow` sizes a Glow to the parameter count of an i-ResNet config, as the i-ResNet
paper (Behrmann et al. 2019, Sec. 5) compares the two at about equal parameter counts.

Example:
    >>> import torch
    >>> from iresnet_core.config import FlowConfig
    >>> flow = build_glow(FlowConfig(model="glow", n_blocks=4, hidden=(64, 64)))
    >>> z, logdet = flow(torch.randn(10, 2))
    >>> x, info = flow.inverse(z)                 # exact, info.blocks == []
    >>> gcfg = match_glow(FlowConfig())  # about as many parameters as the default i-ResNet
    >>> gcfg.extra["parameters"], gcfg.extra["matched_to"]
    (38208, 39104)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from iresnet_core.config import GLOW_ACTIVATIONS, SCALE_MAPS, FlowConfig
from iresnet_core.flows.actnorm import ActNorm
from iresnet_core.flows.flow import Flow
from iresnet_core.flows.layers import FlowLayer

__all__ = [
    "SIGMOID_SHIFT",
    "InvertibleLinearLU",
    "AffineCoupling",
    "build_glow",
    "glow_parameter_count",
    "match_glow",
]


#: The ``"sigmoid"`` coupling's scale is ``sigmoid(raw + SIGMOID_SHIFT)``: Glow's code's 2, so
#: that a coupling starts near the identity (``sigmoid(2) = 0.88``).
SIGMOID_SHIFT = 2.0


class InvertibleLinearLU(FlowLayer):
    """``y = W x`` with ``W = P L (U + diag(sign_s * exp(log_s)))`` (Kingma & Dhariwal 2018, Sec.
    3.2).

    The 1x1 convolution of Glow acting on a vector. ``P`` (a permutation) and ``sign_s`` are fixed
    buffers; the trainable scalars are the ``d(d-1)/2`` entries below the diagonal of ``L`` (unit
    diagonal), the ``d(d-1)/2`` entries above the diagonal of ``U`` and the ``d`` values ``log_s``:
    ``d^2`` in all, as many as a free ``d x d`` matrix. ``log|det W| = sum(log_s)``, the same for
    every sample; the inverse is two triangular solves.

    As in Glow, ``W`` starts as a random rotation: the Q factor of the QR decomposition of a
    Gaussian matrix drawn from ``generator``, then LU-decomposed.

    Args:
        dim: the data dimension ``d``.
        generator: random source for the initial rotation (the global RNG when ``None``).

    Example:
        >>> layer = InvertibleLinearLU(2, torch.Generator().manual_seed(0))
        >>> x = torch.randn(5, 2)
        >>> y, logdet = layer(x)
        >>> logdet.abs().max().item()  # a rotation at init: |det W| = 1
        0.0
        >>> bool(torch.allclose(layer.inverse(y)[0], x, atol=1e-6))
        True
    """

    def __init__(self, dim: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.dim = dim
        a = torch.randn(dim, dim, generator=generator, dtype=torch.float64)
        q, _ = torch.linalg.qr(a)
        p, lower, upper = torch.linalg.lu(q)
        s = torch.diagonal(upper)
        il = torch.tril_indices(dim, dim, offset=-1)
        iu = torch.triu_indices(dim, dim, offset=1)
        self.register_buffer("perm", p.float())
        self.register_buffer("sign_s", torch.sign(s).float())
        self.register_buffer("lower_idx", il, persistent=False)
        self.register_buffer("upper_idx", iu, persistent=False)
        self.lower = nn.Parameter(lower[il[0], il[1]].float())
        self.upper = nn.Parameter(upper[iu[0], iu[1]].float())
        self.log_s = nn.Parameter(s.abs().log().float())

    def _factors(self) -> tuple[Tensor, Tensor]:
        """``(L, U')``: unit lower-triangular ``L`` and upper-triangular ``U' = U + diag(sign_s
        e^log_s)``."""
        d = self.dim
        eye = torch.eye(d, dtype=self.log_s.dtype, device=self.log_s.device)
        lower = eye.index_put((self.lower_idx[0], self.lower_idx[1]), self.lower)
        upper = torch.diag(self.sign_s * self.log_s.exp()).index_put(
            (self.upper_idx[0], self.upper_idx[1]), self.upper
        )
        return lower, upper

    def weight(self) -> Tensor:
        """The matrix ``W = P L U'``, shape ``(d, d)``."""
        lower, upper = self._factors()
        return self.perm @ lower @ upper

    def forward(self, x: Tensor, mode: str | None = None) -> tuple[Tensor, Tensor]:
        """``(W x, sum(log_s))`` per sample; ``mode`` is ignored (the log-det is always exact)."""
        y = x @ self.weight().T
        return y, self.log_s.sum().expand(x.shape[0])

    def inverse(self, y: Tensor, max_iter: int = 100, tol: float = 1e-6) -> tuple[Tensor, None]:
        """``x = W^{-1} y`` by two triangular solves (``max_iter`` and ``tol`` are not used)."""
        lower, upper = self._factors()
        # Row vectors: x W^T = y  <=>  x U'^T L^T P^T = y  <=>  (x U'^T) L^T = y P.
        z = torch.linalg.solve_triangular(
            lower.T, y @ self.perm, upper=True, left=False, unitriangular=True
        )
        x = torch.linalg.solve_triangular(upper.T, z, upper=False, left=False)
        return x, None

    def jacobian(self, x: Tensor) -> Tensor:
        """``W`` at every point, shape ``(B, d, d)``."""
        return self.weight().expand(x.shape[0], -1, -1)


class AffineCoupling(FlowLayer):
    """Affine coupling: ``y_a = x_a`` and an affine map of ``x_b`` conditioned on ``x_a`` (Kingma &
    Dhariwal 2018, Sec. 3.3).

    The coordinates split into the first ``d // 2`` and the rest (1|1 in 2D). With ``parity=0``
    the first part conditions the second; with ``parity=1`` the roles swap, so alternating steps
    transform both halves. The conditioner is an MLP ``d_a -> hidden... -> 2 d_b``, ``(raw, t)``,
    whose last layer is zero-initialised, with ReLU activations as in Glow's code and normflows'
    (``activation="relu"``, the default) or ELU (``"elu"``, the earlier choice). With ReLU the
    shift and scale are piecewise linear in the conditioning coordinate and follow the sharp edges
    of a checkerboard or a spiral's arms far sooner (docs/benchmarks.md, "Tuning and fit per
    step", Glow's parts). The scale has one of two forms (``scale_map``):

    * ``"sigmoid"`` (the default), Glow's code (``openai/glow``, ``model.py``: ``shift`` added,
      then multiplied by ``sigmoid(h + 2)``; normflows' ``scale_map="sigmoid"``):
      ``y_b = (x_b + t) * e^s`` with ``s = log sigmoid(raw + 2)`` in ``(-inf, 0)``. Every coupling
      starts as the same slight contraction ``sigmoid(2) = 0.88`` (the ActNorms absorb it) and
      never expands, so no number of steps can together blow a point up: Adam's first update moves
      every weight by about ``lr`` in the direction of its gradient (Kingma & Ba 2015, Sec. 2.1),
      and with the other form at ``lr`` 3e-2 all 32 couplings of the default Glow expanded at once
      and the next loss was not finite (docs/benchmarks.md, "Tuning and fit per step").
    * ``"tanh"``, the earlier form, kept for the checkpoints written with it:
      ``y_b = x_b * e^s + t`` with ``s = scale_bound * tanh(raw / scale_bound)``, so ``e^s`` lies
      in ``[e^-scale_bound, e^scale_bound]``; the coupling starts as the identity.

    ``log|det| = sum(s)``; the inverse is exact.

    Args:
        dim: the data dimension ``d >= 2``.
        hidden: hidden widths of the conditioner MLP.
        parity: ``0`` (first part conditions) or ``1`` (the rest conditions).
        scale_bound: the bound on ``|s|`` of the ``"tanh"`` form (unused by ``"sigmoid"``).
        scale_map: ``"sigmoid"`` or ``"tanh"`` (:data:`~iresnet_core.config.SCALE_MAPS`).
        activation: the conditioner's, ``"relu"`` or ``"elu"``
            (:data:`~iresnet_core.config.GLOW_ACTIVATIONS`).

    Example:
        >>> layer = AffineCoupling(2, (64, 64), parity=1)
        >>> x = torch.randn(5, 2)
        >>> y, logdet = layer(x)  # at init: a contraction of the first coordinate by 0.88
        >>> torch.allclose(y[:, 0], 0.8808 * x[:, 0], atol=1e-4), torch.equal(y[:, 1], x[:, 1])
        (True, True)
        >>> x_back, _ = layer.inverse(y)
        >>> bool((x_back - x).abs().max() < 1e-6)
        True
    """

    def __init__(
        self,
        dim: int,
        hidden: Sequence[int],
        parity: int = 0,
        scale_bound: float = 2.0,
        scale_map: str = "sigmoid",
        activation: str = "relu",
    ) -> None:
        super().__init__()
        if parity not in (0, 1):
            raise ValueError(f"parity must be 0 or 1, got {parity!r}")
        if scale_map not in SCALE_MAPS:
            raise ValueError(f"scale_map must be one of {SCALE_MAPS}, got {scale_map!r}")
        if activation not in GLOW_ACTIVATIONS:
            raise ValueError(f"activation must be one of {GLOW_ACTIVATIONS}, got {activation!r}")
        self.dim = dim
        self.parity = parity
        self.scale_bound = float(scale_bound)
        self.scale_map = scale_map
        self.activation = activation
        half = dim // 2
        self.cond = slice(0, half) if parity == 0 else slice(half, dim)
        self.trans = slice(half, dim) if parity == 0 else slice(0, half)
        d_cond = half if parity == 0 else dim - half
        self.d_trans = dim - d_cond
        widths = [d_cond, *hidden, 2 * self.d_trans]
        mods: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
            mods.append(nn.Linear(n_in, n_out))
            if i < len(widths) - 2:
                mods.append(nn.ReLU() if activation == "relu" else nn.ELU())
        last = mods[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(*mods)

    def _log_scale(self, raw: Tensor) -> tuple[Tensor, Tensor]:
        """``(s, ds/draw)``: the log-scale of the layer's form and its derivative."""
        if self.scale_map == "sigmoid":
            a = raw + SIGMOID_SHIFT
            return F.logsigmoid(a), torch.sigmoid(-a)  # d log sigmoid(a) / da = 1 - sigmoid(a)
        tanh = torch.tanh(raw / self.scale_bound)
        return self.scale_bound * tanh, 1 - tanh * tanh

    def _scale_shift(self, x_cond: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(s, t, raw)`` from the conditioning part."""
        out = self.net(x_cond)
        raw, t = out[:, : self.d_trans], out[:, self.d_trans :]
        return self._log_scale(raw)[0], t, raw

    def _assemble(self, x_or_y: Tensor, new_trans: Tensor) -> Tensor:
        """Put ``new_trans`` back in place next to the untouched conditioning part."""
        if self.parity == 0:
            return torch.cat([x_or_y[:, self.cond], new_trans], dim=1)
        return torch.cat([new_trans, x_or_y[:, self.cond]], dim=1)

    def forward(self, x: Tensor, mode: str | None = None) -> tuple[Tensor, Tensor]:
        """``(y, sum(s))`` per sample; ``mode`` is ignored (the log-det is always exact)."""
        s, t, _ = self._scale_shift(x[:, self.cond])
        x_trans = x[:, self.trans]
        if self.scale_map == "sigmoid":
            y_trans = (x_trans + t) * s.exp()
        else:
            y_trans = x_trans * s.exp() + t
        return self._assemble(x, y_trans), s.sum(-1)

    def inverse(self, y: Tensor, max_iter: int = 100, tol: float = 1e-6) -> tuple[Tensor, None]:
        """``x_b = y_b e^-s - t`` (``"sigmoid"``) or ``(y_b - t) e^-s`` (``"tanh"``), exact
        (``max_iter`` and ``tol`` are not used)."""
        s, t, _ = self._scale_shift(y[:, self.cond])
        y_trans = y[:, self.trans]
        if self.scale_map == "sigmoid":
            x_trans = y_trans * torch.exp(-s) - t
        else:
            x_trans = (y_trans - t) * torch.exp(-s)
        return self._assemble(y, x_trans), None

    def jacobian(self, x: Tensor) -> Tensor:
        """``dy/dx`` at every point, shape ``(B, d, d)``, from the chain rule through the MLP."""
        x_cond, x_trans = x[:, self.cond], x[:, self.trans]
        b, d_cond = x_cond.shape
        h = x_cond
        jac = torch.eye(d_cond, dtype=x.dtype, device=x.device).expand(b, -1, -1)
        for mod in self.net:
            if isinstance(mod, nn.Linear):
                h = mod(h)
                jac = torch.matmul(mod.weight, jac)
            elif isinstance(mod, nn.ReLU):  # derivative 1 for a > 0, 0 otherwise
                jac = (h > 0).to(h.dtype).unsqueeze(-1) * jac
                h = F.relu(h)
            else:  # ELU(alpha=1): derivative 1 for a > 0, exp(a) otherwise
                jac = torch.where(h > 0, torch.ones_like(h), h.exp()).unsqueeze(-1) * jac
                h = F.elu(h)
        raw, t = h[:, : self.d_trans], h[:, self.d_trans :]
        j_raw, j_t = jac[:, : self.d_trans], jac[:, self.d_trans :]
        s, ds = self._log_scale(raw)
        j_s = ds.unsqueeze(-1) * j_raw
        scale = s.exp()
        out = x.new_zeros(b, self.dim, self.dim)
        out[:, self.cond, self.cond] = torch.eye(d_cond, dtype=x.dtype, device=x.device)
        out[:, self.trans, self.trans] = torch.diag_embed(scale)
        if self.scale_map == "sigmoid":  # y_b = (x_b + t) e^s
            cross = scale.unsqueeze(-1) * j_t + ((x_trans + t) * scale).unsqueeze(-1) * j_s
        else:  # y_b = x_b e^s + t
            cross = (x_trans * scale).unsqueeze(-1) * j_s + j_t
        out[:, self.trans, self.cond] = cross
        return out


def build_glow(cfg: FlowConfig) -> Flow:
    """A Glow :class:`Flow` of ``cfg.n_blocks`` steps ``[ActNorm], InvertibleLinearLU,
    AffineCoupling``.

    Step ``k`` uses coupling parity ``k % 2``; ActNorm is included when ``cfg.actnorm``. The
    conditioner widths are ``cfg.hidden`` and their activation ``cfg.glow_activation``, the
    couplings' form of the scale ``cfg.scale_map``
    (and the ``"tanh"`` form's bound ``cfg.scale_bound``; Kingma & Dhariwal 2018, Table 1).
    Initialisation is deterministic in ``cfg.seed`` and leaves the global random state untouched.

    Example:
        >>> flow = build_glow(FlowConfig(model="glow", n_blocks=2, hidden=(16,)))
        >>> cfg = FlowConfig(model="glow", n_blocks=2, hidden=(16,))
        >>> flow.num_parameters() == glow_parameter_count(cfg)
        True
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        layers: list[FlowLayer] = []
        for step in range(cfg.n_blocks):
            if cfg.actnorm:
                layers.append(ActNorm(cfg.dim))
            layers.append(InvertibleLinearLU(cfg.dim, gen))
            layers.append(
                AffineCoupling(
                    cfg.dim,
                    cfg.hidden,
                    parity=step % 2,
                    scale_bound=cfg.scale_bound,
                    scale_map=cfg.scale_map,
                    activation=cfg.glow_activation,
                )
            )
    return Flow(cfg, layers)


def _mlp_count(widths: Sequence[int]) -> int:
    """Weights and biases of a chain of linear layers through ``widths``."""
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))


def glow_parameter_count(cfg: FlowConfig) -> int:
    """The trainable scalars of ``build_glow(cfg)``, in closed form (no model is built).

    Per step: ``2d`` for ActNorm (when ``cfg.actnorm``), ``d^2`` for the LU linear map and the
    conditioner MLP ``d_a -> hidden... -> 2 d_b`` with biases, where ``(d_a, d_b)`` is
    ``(d//2, d - d//2)`` on even steps and the reverse on odd ones.

    Example:
        >>> glow_parameter_count(FlowConfig(model="glow", n_blocks=8, hidden=(128, 128)))
        136272
    """
    d, half = cfg.dim, cfg.dim // 2
    total = 0
    for step in range(cfg.n_blocks):
        d_cond = half if step % 2 == 0 else d - half
        total += (2 * d if cfg.actnorm else 0) + d * d
        total += _mlp_count([d_cond, *cfg.hidden, 2 * (d - d_cond)])
    return total


def _glow_count_coefficients(cfg: FlowConfig, n_hidden: int) -> tuple[int, int, int]:
    """``(a, b, c)`` with ``glow_parameter_count == a h^2 + b h + c`` for ``n_hidden`` layers of
    width ``h``.

    Per step with conditioner ``d_a -> h -> ... -> h -> 2 d_b`` (``k = n_hidden`` hidden layers):
    ``(d_a h + h) + (k - 1)(h^2 + h) + (2 d_b h + 2 d_b) = (k-1) h^2 + (d_a + k + 2 d_b) h + 2
    d_b``, plus ``d^2`` (LU) and ``2d`` (ActNorm).
    """
    d, half, k = cfg.dim, cfg.dim // 2, n_hidden
    a = b = c = 0
    for step in range(cfg.n_blocks):
        d_a = half if step % 2 == 0 else d - half
        d_b = d - d_a
        a += k - 1
        b += d_a + k + 2 * d_b
        c += 2 * d_b + d * d + (2 * d if cfg.actnorm else 0)
    return a, b, c


def _iresnet_parameter_count(cfg: FlowConfig) -> int:
    """Trainable scalars of the i-ResNet ``cfg`` describes: per block an MLP ``d -> hidden... ->
    d`` with biases, plus ``2d`` for ActNorm when ``cfg.actnorm`` (spectral-norm vectors are
    buffers)."""
    per_block = _mlp_count([cfg.dim, *cfg.hidden, cfg.dim]) + (2 * cfg.dim if cfg.actnorm else 0)
    return cfg.n_blocks * per_block


def match_glow(cfg: FlowConfig) -> FlowConfig:
    """A Glow config with about the parameter count of the i-ResNet that ``cfg`` describes.

    Behrmann et al. (2019) compare i-ResNets to Glow (Kingma & Dhariwal 2018) at about equal
    parameter counts. The Glow keeps ``dim``, ``n_blocks``, ``actnorm``, ``seed`` and the number of
    hidden layers of ``cfg`` and uses one width ``h`` for all of them, chosen so that
    :func:`glow_parameter_count` is as close as possible to the i-ResNet's count. That count is
    ``a h^2 + b h + c`` (``a = 0`` with one hidden layer), so ``h`` is the positive root of
    ``a h^2 + b h + c = target``, rounded to the better neighbouring integer (at least 1).
    ``cfg`` is read as an i-ResNet architecture whatever its ``model`` field says.

    Returns:
        ``cfg`` with ``model="glow"``, ``hidden=(h,) * len(cfg.hidden)`` and ``extra`` holding
        ``{"matched_to": <i-ResNet count>, "parameters": <Glow count>}``.

    Example:
        >>> g = match_glow(FlowConfig(n_blocks=8, hidden=(128, 128)))
        >>> g.model, g.hidden
        ('glow', (128, 128))
    """
    target = _iresnet_parameter_count(cfg)
    n_hidden = len(cfg.hidden)

    a, b, c = _glow_count_coefficients(cfg, n_hidden)
    c -= target
    if a > 0:
        root = (-b + math.sqrt(max(b * b - 4 * a * c, 0))) / (2 * a)
    else:
        root = -c / b

    def count(h: int) -> int:
        return glow_parameter_count(cfg.replace(model="glow", hidden=(h,) * n_hidden))

    candidates = {max(1, math.floor(root)), max(1, math.ceil(root))}
    h = min(sorted(candidates), key=lambda w: abs(count(w) - target))
    params = count(h)
    return cfg.replace(
        model="glow",
        hidden=(h,) * n_hidden,
        extra={"matched_to": target, "parameters": params},
    )
