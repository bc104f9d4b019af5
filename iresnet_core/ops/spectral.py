"""Spectral normalisation with a coefficient c: the constraint that makes a ResNet invertible.

Behrmann et al. (2019), Sec. 2-3: ``Lip(g) < 1`` holds when every linear map of ``g`` has spectral
norm below 1, since the activations are 1-Lipschitz. The paper's soft rule rescales only when
needed (eq. 9 with Algorithm 1's ``W / max(1, sigma/c)``), with ``sigma`` from power iteration
whose vectors ``u, v`` persist between training steps (Miyato et al. 2018). Power iteration
approaches sigma from below, so the enforced norm can briefly exceed ``c``: :func:`spectral_report`
shows the estimate beside the exact value by SVD.

Example:
    >>> layer = SpectralLinear(2, 128, coeff=0.9)
    >>> w = layer.normalized_weight()  # ||w||_2 <= 0.9 (up to the power estimate)
    >>> round(torch.linalg.matrix_norm(w, ord=2).item(), 3)
    0.9
    >>> (row,) = spectral_report(torch.nn.Sequential(layer))
    >>> row.coeff, row.sigma_power <= row.sigma_exact + 1e-6  # power iteration: from below
    (0.9, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "spectral_layers",
    "SpectralLinear",
    "SpectralRow",
    "spectral_report",
    "exact_sigma",
    "power_iteration",
    "refresh_power_iteration",
    "Rescale",
    "prefetch_training_rescales",
    "drop_prefetched",
]


def exact_sigma(weight: Tensor) -> Tensor:
    """The largest singular value by SVD."""
    return torch.linalg.matrix_norm(weight.detach(), ord=2)


def power_iteration(weight: Tensor, u: Tensor, v: Tensor, n_iter: int) -> tuple[Tensor, Tensor]:
    """``n_iter`` steps of ``v <- W^T u / ||.||``, ``u <- W v / ||.||`` (paper, Appendix B eq.
    34)."""
    for _ in range(n_iter):
        v = F.normalize(weight.t() @ u, dim=0, eps=1e-12)
        u = F.normalize(weight @ v, dim=0, eps=1e-12)
    return u, v


class Rescale(NamedTuple):
    """An active soft rule, ``W_n = W / s`` with ``s = sigma / c >= 1`` and ``sigma = u^T W v``.

    With ``u, v`` held constant (as in Miyato et al. 2018), the gradient with respect to the raw
    ``W`` of a loss whose gradient with respect to ``W_n`` is ``G`` is
    ``(G - <G, W_n> / c * u v^T) / s``: what the hand-written backward of
    :mod:`iresnet_core.ops.mlp` applies instead of recording the rule in autograd.
    ``normalized`` is ``W_n`` itself when it was computed already (by the batched iteration,
    :func:`prefetch_training_rescales`, for all layers of a shape at once), else ``None``.
    """

    s: float
    coeff: float
    u: Tensor
    v: Tensor
    normalized: Tensor | None = None


class SpectralLinear(nn.Module):
    """A linear layer whose spectral norm is held at most ``coeff`` by the soft rule.

    Args:
        in_features, out_features: the shape of the map.
        coeff: the coefficient ``c``; ``None`` for a plain unconstrained linear layer.
        n_power_iter: power iterations per training forward; the vectors persist.
        exact: use the SVD instead of power iteration (slow; for verification).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        coeff: float | None = 0.9,
        n_power_iter: int = 1,
        exact: bool = False,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.coeff = coeff
        self.n_power_iter = n_power_iter
        self.exact = exact
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        bound = 1 / math.sqrt(in_features)
        nn.init.uniform_(self.bias, -bound, bound)
        u0 = F.normalize(torch.randn(out_features), dim=0)
        # A random start for v too, which the SVD does not need: still drawn, so that a seed keeps
        # building the weights that seeded runs, tests and the checkpoints' training were built
        # with.
        torch.randn(in_features)
        with torch.no_grad():
            # The power iteration's vectors start where fifty iterations from the random u0 would
            # have converged: the top singular pair, signed by u0 (one SVD per layer; the fifty
            # iterations had been most of what building the default flow cost).
            svd_u, svd_s, svd_vh = torch.linalg.svd(self.weight, full_matrices=False)
            if coeff is not None:
                # Start on the constraint's boundary, not far outside it: Adam moves raw weights by
                # about lr per step, so a raw sigma of k*c would slow learning k-fold.
                self.weight.mul_(coeff / svd_s[0])
            sign = 1.0 if float(u0 @ svd_u[:, 0]) >= 0 else -1.0
        self.register_buffer("u", (sign * svd_u[:, 0]).contiguous())
        self.register_buffer("v", (sign * svd_vh[0]).contiguous())

    def sigma_estimate(self, n_iter: int | None = None, persist: bool = False) -> Tensor:
        """``u^T W v`` after ``n_iter`` more power iterations (differentiable in ``W``).

        With ``persist`` the refined vectors are stored (training); otherwise they are discarded,
        so evaluation never changes the module.
        """
        n_iter = self.n_power_iter if n_iter is None else n_iter
        with torch.no_grad():
            u, v = power_iteration(self.weight, self.u, self.v, n_iter)
            if persist:
                self.u.copy_(u)
                self.v.copy_(v)
        return torch.dot(u, self.weight @ v)

    def normalized_weight(self) -> Tensor:
        """``W / max(1, sigma / c)``, or ``W`` when unconstrained."""
        if self.coeff is None:
            return self.weight
        if self.exact:
            sigma = torch.linalg.matrix_norm(self.weight, ord=2)
        else:
            # Training refines and stores u, v; evaluation reuses them as they are, so it sees
            # exactly the weights of the last training forward.
            sigma = self.sigma_estimate(n_iter=None if self.training else 0, persist=self.training)
        return self.weight / torch.clamp(sigma / self.coeff, min=1.0)

    def training_rescale(self) -> Rescale | None:
        """The soft rule as plain numbers for a hand-written backward: ``None`` when it leaves
        ``W`` as it is (unconstrained, or ``sigma < c``), else a :class:`Rescale`.

        Same power iteration and the same persistence as :meth:`normalized_weight`, so a training
        forward through either sees the same weights; not for ``exact`` layers (the SVD's vectors
        would be needed).
        """
        if self.coeff is None:
            return None
        if self.exact:
            raise ValueError("training_rescale needs power iteration; this layer uses the SVD")
        if "_prefetched" in self.__dict__:  # this forward's share of a batched iteration
            return self.__dict__.pop("_prefetched")
        with torch.no_grad():  # entered only here, not once per call (96 calls a step)
            return self._own_rescale()

    def _own_rescale(self) -> Rescale | None:
        """:meth:`training_rescale` for this layer alone (no batched iteration ran)."""
        w, u, v = self.weight, self.u, self.v
        n_iter = self.n_power_iter if self.training else 0
        if n_iter:
            for _ in range(n_iter):
                v = torch.mv(w.t(), u)
                v = v / v.norm().clamp_(min=1e-12)
                u = torch.mv(w, v)
                sigma = u.norm()
                u = u / sigma.clamp(min=1e-12)
            if (
                self.training
            ):  # rebinding, not copying: a graph still holding the old vectors keeps them
                self.u, self.v = u, v
        else:
            sigma = torch.dot(u, torch.mv(w, v))
        s = float(sigma) / self.coeff
        return Rescale(s, self.coeff, u, v) if s >= 1.0 else None

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.normalized_weight(), self.bias)

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {self.out_features}, coeff={self.coeff}"


@torch.no_grad()
def prefetch_training_rescales(layers: list[SpectralLinear]) -> list[SpectralLinear]:
    """Run the next training forward's power iteration of all ``layers`` at once; returns the
    layers whose :meth:`SpectralLinear.training_rescale` will hand out its share (call
    :func:`drop_prefetched` on them when the forward is over).

    A training forward runs one power iteration per linear map: 96 for the default flow, each a
    dozen operations on vectors of 2-32 numbers, a noticeable share of a step (see
    docs/benchmarks.md). Layers of one shape are
    stacked and iterated together here (a few operations per shape); each layer keeps its own
    vectors (persisted when training, as :meth:`SpectralLinear.training_rescale` does) and the same
    numbers up to the rounding of a batched product.
    """
    groups: dict[tuple, list[SpectralLinear]] = {}
    for layer in layers:
        if layer.coeff is None or layer.exact:
            continue
        n_iter = layer.n_power_iter if layer.training else 0
        groups.setdefault((tuple(layer.weight.shape), layer.weight.dtype, n_iter), []).append(
            layer
        )
    done: list[SpectralLinear] = []
    for (_, _, n_iter), group in groups.items():
        w = torch.stack([layer.weight for layer in group])
        u = torch.stack([layer.u for layer in group])
        v = torch.stack([layer.v for layer in group])
        if n_iter:
            for _ in range(n_iter):
                v = torch.bmm(u.unsqueeze(1), w).squeeze(1)  # W^T u, as a row
                v = v / v.norm(dim=1, keepdim=True).clamp_(min=1e-12)
                u = torch.bmm(w, v.unsqueeze(2)).squeeze(2)
                sigma = u.norm(dim=1)
                u = u / sigma.clamp(min=1e-12).unsqueeze(1)
        else:
            sigma = (u * torch.bmm(w, v.unsqueeze(2)).squeeze(2)).sum(1)
        coeffs = torch.tensor([layer.coeff for layer in group], dtype=w.dtype)
        # W / s for the whole group in one division (each forward divided its own: 96 a step)
        normalized = w / (sigma / coeffs).clamp_(min=1.0).view(-1, 1, 1)
        for layer, uk, vk, sk, wk in zip(
            group, u.unbind(), v.unbind(), sigma.tolist(), normalized.unbind()
        ):
            if n_iter:  # rebinding, as training_rescale does; straight into the buffer dict, as
                # nn.Module.__setattr__ would put them, without its checks at every call
                buffers = layer._buffers
                buffers["u"], buffers["v"] = uk, vk
            coeff = layer.coeff
            s = sk / coeff
            layer.__dict__["_prefetched"] = Rescale(s, coeff, uk, vk, wk) if s >= 1.0 else None
            done.append(layer)
    return done


def drop_prefetched(layers: list[SpectralLinear]) -> None:
    """Forget what :func:`prefetch_training_rescales` left that no forward took."""
    for layer in layers:
        layer.__dict__.pop("_prefetched", None)


def spectral_layers(module: nn.Module) -> list[SpectralLinear]:
    """The :class:`SpectralLinear` layers of ``module`` that power iteration refreshes."""
    return [
        m
        for m in module.modules()
        if isinstance(m, SpectralLinear) and m.coeff is not None and not m.exact
    ]


@torch.no_grad()
def refresh_power_iteration(
    module: nn.Module, n_iter: int = 1, layers: list[SpectralLinear] | None = None
) -> None:
    """Advance the stored ``u, v`` of every :class:`SpectralLinear` by ``n_iter`` iterations.

    Called after each optimiser step so that the vectors follow the weights they estimate;
    ``layers`` (from :func:`spectral_layers`) skips the module walk.
    """
    for layer in spectral_layers(module) if layers is None else layers:
        if layer.coeff is not None and not layer.exact:
            u, v = power_iteration(layer.weight, layer.u, layer.v, n_iter)
            layer.u.copy_(u)
            layer.v.copy_(v)


@dataclass(frozen=True)
class SpectralRow:
    """One layer's spectral norms: the power estimate (what training used) and the truth."""

    name: str
    shape: tuple[int, int]
    coeff: float | None
    sigma_raw_power: float  # estimate of ||W|| from the stored vectors
    sigma_raw_exact: float  # ||W|| by SVD
    sigma_power: float  # estimate of the normalised weight's norm: min(c, estimate)
    sigma_exact: float  # the normalised weight's true norm, by SVD


@torch.no_grad()
def spectral_report(module: nn.Module) -> list[SpectralRow]:
    """Per :class:`SpectralLinear` in ``module``: the power estimate beside the exact sigma."""
    rows = []
    was_training = module.training
    module.eval()
    try:
        for name, layer in module.named_modules():
            if not isinstance(layer, SpectralLinear):
                continue
            raw_power = float(layer.sigma_estimate(n_iter=0))
            raw_exact = float(exact_sigma(layer.weight))
            w = layer.normalized_weight()
            power = raw_power if layer.coeff is None else min(raw_power, layer.coeff)
            rows.append(
                SpectralRow(
                    name,
                    tuple(layer.weight.shape),
                    layer.coeff,
                    raw_power,
                    raw_exact,
                    power,
                    float(exact_sigma(w)),
                )
            )
    finally:
        module.train(was_training)
    return rows
