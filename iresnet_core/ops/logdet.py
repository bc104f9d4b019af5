"""Estimators of ``ln det(I + J_g)`` for a residual block, from a batch of Jacobians ``J_g``.

Behrmann et al. (2019), Sec. 3, eq. 5-7: for ``Lip(g) < 1``,

    ln det(I + J_g) = tr(ln(I + J_g)) = sum_{k>=1} (-1)^(k+1) tr(J_g^k) / k.

* :func:`exact_logdet` — the determinant itself (cheap in 2D).
* :func:`series_logdet` — the series cut after ``N`` terms with exact traces: pure truncation
  error.
* :func:`hutchinson_logdet` — the same series with ``tr(A) ~ v^T A v`` (eq. 6-7; Gaussian or
  Rademacher probes): the paper's estimator, biased by the truncation.
* :func:`roulette_logdet` — Russian roulette (Chen et al. 2019, Residual Flows): ``n_exact`` terms
  always, then ``M ~ Geometric(p)`` more, term ``k`` weighted by ``1 / P(M >= k - n_exact)``;
  unbiased.
* :func:`truncation_bound` — ``d * (-ln(1 - c) - sum_{k<=N} c^k / k)`` (paper, Theorem 3).

All are differentiable in ``J`` for training. The Jacobians come from the block itself
(``InvertibleResidualBlock.g_and_jacobian``), so a d x d matrix per sample replaces the
vector-Jacobian products a high-dimensional model needs; the estimators are the same.

Example:
    >>> import torch
    >>> J = torch.randn(100, 2, 2, generator=torch.Generator().manual_seed(0))
    >>> J = 0.7 * J / torch.linalg.matrix_norm(J, ord=2)[:, None, None]  # Lip(g) = 0.7
    >>> err = (exact_logdet(J) - series_logdet(J, 10)).abs().max().item()
    >>> round(truncation_bound(0.7, 10), 4), err < truncation_bound(0.7, 10)  # Theorem 3
    (0.0102, True)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "exact_logdet",
    "series_logdet",
    "series_terms",
    "hutchinson_terms",
    "hutchinson_logdet",
    "roulette_logdet",
    "truncation_bound",
    "estimate_logdet",
    "make_probes",
    "probe_moments",
    "series_forms",
    "SeriesPlan",
    "series_plan",
    "power_series_2x2_partials",
]

#: :func:`probe_moments` draws the probes' moments from their own law from this many probes on,
#: where that is cheaper than drawing the probes (see docs/benchmarks.md)
EXACT_LAW_PROBES = 10

#: Russian roulette never evaluates more terms than this (P(M >= 200) = 2^-200 at p = 0.5).
ROULETTE_MAX_TERMS = 200


def exact_logdet(J: Tensor) -> Tensor:
    """``ln |det(I + J)|`` per sample, shape ``(B,)``; a closed form in 2D."""
    if J.shape[-1] == 2:
        det = (1 + J[:, 0, 0]) * (1 + J[:, 1, 1]) - J[:, 0, 1] * J[:, 1, 0]
        return det.abs().log()
    eye = torch.eye(J.shape[-1], dtype=J.dtype, device=J.device)
    return torch.linalg.slogdet(eye + J)[1]


def series_terms(J: Tensor, n_terms: int) -> Tensor:
    """The signed terms ``(-1)^(k+1) tr(J^k) / k`` for k = 1..N, shape ``(B, N)`` (exact
    traces)."""
    terms = []
    power = J
    for k in range(1, n_terms + 1):
        if k > 1:
            power = power @ J
        sign = 1.0 if k % 2 else -1.0
        terms.append(sign * torch.diagonal(power, dim1=-2, dim2=-1).sum(-1) / k)
    return torch.stack(terms, dim=-1)


def series_logdet(J: Tensor, n_terms: int) -> Tensor:
    """The power series cut after ``n_terms`` terms, with exact traces (eq. 5 truncated)."""
    if J.shape[-1] == 2:
        return _estimate_2x2(J, SeriesPlan(_log_coeffs(n_terms), None))
    return series_terms(J, n_terms).sum(-1)


def _log_coeffs(n_terms: int, weights: list[float] | None = None) -> list[float]:
    """``(-1)^(k+1) / k`` for k = 1..N, times ``weights[k-1]`` when given."""
    return [
        (1.0 if k % 2 else -1.0) / k * (1.0 if weights is None else weights[k - 1])
        for k in range(1, n_terms + 1)
    ]


def _power_series_2x2(J: Tensor, coeffs: list[float]) -> tuple[Tensor, Tensor]:
    """``(alpha, beta)`` per sample with ``sum_k coeffs[k-1] J^k = alpha J + beta I`` for 2 x 2
    ``J`` (differentiable; :func:`power_series_2x2_partials` has the recursion)."""
    t = J[:, 0, 0] + J[:, 1, 1]
    minus_det = J[:, 0, 1] * J[:, 1, 0] - J[:, 0, 0] * J[:, 1, 1]
    acc_p, acc_q = power_series_2x2_partials(t, minus_det, coeffs)
    return acc_p[0], acc_q[0]


def _estimate_2x2(J: Tensor, plan: SeriesPlan) -> Tensor:
    """``tr_v(sum_k c_k J^k)`` for 2 x 2 ``J``: ``alpha tr(J) + 2 beta`` with exact traces, else
    ``alpha v^T J v + beta v^T v`` averaged over the probes."""
    if not plan.coeffs:
        return J.new_zeros(J.shape[0])
    alpha, beta = _power_series_2x2(J, plan.coeffs)
    if plan.probes is None:
        return alpha * (J[:, 0, 0] + J[:, 1, 1]) + 2 * beta
    vjv, vv = _quadratic_forms_2x2(J, plan.probes)
    return alpha * vjv + beta * vv


def power_series_2x2_partials(
    t: Tensor, minus_det: Tensor, coeffs: list[float]
) -> tuple[Tensor, Tensor]:
    """``sum_k coeffs[k-1] J^k = alpha J + beta I`` for 2 x 2 ``J``, from ``t = tr(J)`` and
    ``m = -det(J)``, with the partial derivatives a hand-written backward needs: two ``(3, B)``
    tensors, rows ``(value, d/dt, d/dm)`` of ``alpha``, then of ``beta``.

    Cayley-Hamilton, ``J^2 = t J + m I``, gives ``J^k = p_k J + q_k I`` with
    ``p_{k+1} = t p_k + q_k`` and ``q_{k+1} = m p_k``: a series of ``N`` matrix powers becomes two
    scalars per sample, and any trace estimate of it reads ``v^T J v`` and ``v^T v`` only (the same
    numbers as the powers themselves, to rounding). The partials travel along the recursion:
    ``dp_{k+1}/dt = p_k + t dp_k/dt + dq_k/dt``, ``dq_{k+1}/dm = p_k + m dq_k/dm``, and so on.
    """
    B = t.shape[0]
    acc_p = t.new_zeros(3, B)
    acc_p[0] = coeffs[0]
    acc_q = t.new_zeros(3, B)
    if len(coeffs) > 1:
        P = torch.stack([t, torch.ones_like(t), torch.zeros_like(t)])  # p_2 = t and its partials
        Q = torch.stack([minus_det, torch.zeros_like(t), torch.ones_like(t)])  # q_2 = m
        for k, c in enumerate(coeffs[1:], start=2):
            if k > 2:
                p = P[0]
                P, Q = torch.addcmul(Q, t, P), minus_det * P
                P[1] += p
                Q[2] += p
            acc_p.add_(P, alpha=c)
            acc_q.add_(Q, alpha=c)
    return acc_p, acc_q


class SeriesPlan(NamedTuple):
    """One draw of a series estimator: ``ln det(I + J) ~ tr_v(sum_k coeffs[k-1] J^k)``.

    ``probes`` (``(B, P, d)``) make the trace a Hutchinson estimate; ``None`` means exact traces.
    An empty ``coeffs`` (Russian roulette drew no terms) estimates 0.
    """

    coeffs: list[float]
    probes: Tensor | None


def series_plan(
    mode: str,
    batch: int,
    dim: int,
    n_terms: int,
    n_probes: int = 1,
    probe: str = "gaussian",
    n_exact_terms: int = 2,
    generator: torch.Generator | None = None,
    dtype=torch.float32,
    p: float = 0.5,
) -> SeriesPlan:
    """The coefficients and probes that :func:`estimate_logdet` draws for ``mode`` (not ``exact``),
    from the generator in the same order, so a fused estimate gives the same numbers."""
    if mode == "series":
        return SeriesPlan(_log_coeffs(n_terms), None)
    if mode == "hutchinson":
        return SeriesPlan(
            _log_coeffs(n_terms), make_probes((batch, n_probes, dim), probe, generator, dtype)
        )
    if mode == "roulette":
        weights = _roulette_weights(n_exact_terms, p, generator)
        if not weights:
            return SeriesPlan([], None)
        return SeriesPlan(
            _log_coeffs(len(weights), weights),
            make_probes((batch, n_probes, dim), probe, generator, dtype),
        )
    raise ValueError(
        f"unknown log-det mode {mode!r}; choose exact, series, hutchinson or roulette"
    )


def _roulette_weights(n_exact: int, p: float, generator: torch.Generator | None) -> list[float]:
    """One Russian-roulette draw: ``M ~ Geometric(p)`` on {0, 1, ...}, then the weight
    ``1 / P(M >= k - n_exact)`` of each of the ``n_exact + M`` terms (at most
    ``ROULETTE_MAX_TERMS``)."""
    u = torch.rand((), generator=generator).item()
    m = int(math.floor(math.log(max(u, 1e-300)) / math.log(1 - p)))  # P(M >= m) = (1-p)^m
    n_terms = min(n_exact + m, ROULETTE_MAX_TERMS)
    return [(1 - p) ** -max(k - n_exact, 0) for k in range(1, n_terms + 1)]


def _quadratic_forms_2x2(J: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """``(v^T J v, v^T v)`` averaged over the probes ``v`` of shape ``(B, P, 2)``: shape ``(B,)``
    each."""
    v0, v1 = v[..., 0], v[..., 1]
    vjv = (
        J[:, 0, 0, None] * v0 * v0
        + (J[:, 0, 1, None] + J[:, 1, 0, None]) * v0 * v1
        + J[:, 1, 1, None] * v1 * v1
    )
    return vjv.mean(-1), (v0 * v0 + v1 * v1).mean(-1)


def make_probes(
    shape: tuple[int, ...], probe: str, generator: torch.Generator | None, dtype=torch.float32
) -> Tensor:
    """Probe vectors with ``E[v v^T] = I``: standard Gaussian or Rademacher (+-1)."""
    if probe == "gaussian":
        return torch.randn(shape, generator=generator, dtype=dtype)
    if probe == "rademacher":
        return torch.randint(0, 2, shape, generator=generator).to(dtype) * 2 - 1
    raise ValueError(f"probe must be 'gaussian' or 'rademacher', got {probe!r}")


def hutchinson_terms(J: Tensor, n_terms: int, v: Tensor) -> Tensor:
    """``(-1)^(k+1) v^T J^k v / k`` for k = 1..N per probe, shape ``(B, P, N)``; ``v``: ``(B, P,
    d)``.

    In 2D the products ``J^k v`` are written out elementwise: thousands of probes per point cost a
    few vector operations instead of batches of tiny matrix products.
    """
    terms = []
    if J.shape[-1] == 2:
        a, b, c, d = (J[:, i, j, None] for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)))
        v0, v1 = v[..., 0], v[..., 1]
        w0, w1 = v0, v1
        for k in range(1, n_terms + 1):
            w0, w1 = a * w0 + b * w1, c * w0 + d * w1  # w = J^k v
            terms.append((v0 * w0 + v1 * w1) * ((1.0 if k % 2 else -1.0) / k))
        return torch.stack(terms, dim=-1)
    w = v
    Jt = J.transpose(-1, -2)
    for k in range(1, n_terms + 1):
        w = w @ Jt  # w_k = J^k v, row-vector form
        sign = 1.0 if k % 2 else -1.0
        terms.append(sign * (v * w).sum(-1) / k)
    return torch.stack(terms, dim=-1)


def probe_moments(
    shape: tuple[int, ...],
    n_probes: int,
    probe: str,
    generator: torch.Generator | None,
    dtype=torch.float64,
) -> Tensor:
    """``mean_p v_p v_p^T`` over ``n_probes`` fresh 2D probes (:func:`make_probes`), as the three
    numbers
    ``(v0^2, v0 v1, v1^2)``: shape ``(*shape, 3)``.

    A 2D Hutchinson estimate ``mean_p v_p^T A v_p`` reads nothing else of its probes: it is
    ``A00 m0 + (A01 + A10) m1 + A11 m2`` (:func:`series_forms`), so many draws of many probes cost
    one contraction instead of a pass per probe and series term. The probes are drawn in float32
    (a float64 Gaussian draw costs four times as much; the moments' rounding, 1e-7, is far below
    the estimate's own spread) and the moments returned as ``dtype``.

    From :data:`EXACT_LAW_PROBES` probes on, the moments are drawn from their own law instead of
    through the probes (3 random numbers per draw instead of ``2 n_probes``; at 16 probes the Log-
    determinant page drew 24 million normals per move): for Gaussian probes ``sum_p v_p v_p^T`` is
    Wishart(n_probes, I), drawn by Bartlett's decomposition ``L L^T`` with ``L = [[c1, 0], [z,
    c2]]``,
    ``c1^2 ~ chi2(n)``, ``c2^2 ~ chi2(n - 1)``, ``z ~ N(0, 1)``; for Rademacher probes ``v0^2 =
    v1^2 = 1`` and ``sum_p v0 v1 = 2 Binomial(n, 1/2) - n``.
    """
    if n_probes >= EXACT_LAW_PROBES and probe in ("gaussian", "rademacher"):
        n = float(n_probes)
        if probe == "gaussian":
            c1 = 2.0 * torch._standard_gamma(torch.full(shape, n / 2), generator=generator)
            c2 = 2.0 * torch._standard_gamma(torch.full(shape, (n - 1) / 2), generator=generator)
            z = torch.randn(shape, generator=generator)
            m = torch.stack([c1, c1.sqrt() * z, z * z + c2], -1) / n
        else:
            k = torch.binomial(torch.full(shape, n), torch.full(shape, 0.5), generator=generator)
            one = torch.ones(shape)
            m = torch.stack([one, (2.0 * k - n) / n, one], -1)
        return m.to(dtype)
    v = make_probes((*shape, n_probes, 2), probe, generator, torch.float32)
    v0, v1 = v[..., 0], v[..., 1]
    return torch.stack([(v0 * v0).mean(-1), (v0 * v1).mean(-1), (v1 * v1).mean(-1)], -1).to(dtype)


def series_forms(J: Tensor, n_terms: int) -> Tensor:
    """The series terms ``(-1)^(k+1) J^k / k`` (eq. 5) of 2 x 2 Jacobians, k = 1..N, each as the
    three numbers a quadratic form reads, ``(A00, A01 + A10, A11)``: shape ``(..., N, 3)`` for
    ``J`` of shape ``(..., 2, 2)``.

    Contracted with :func:`probe_moments` over the last axis, term k is :func:`hutchinson_terms`'s
    k-th term averaged over the probes; with ``(1, 0, 1)`` it is the exact trace.
    """
    if J.shape[-2:] != (2, 2):
        raise ValueError(f"series_forms is for 2 x 2 Jacobians, got {tuple(J.shape[-2:])}")
    a, b, c, d = J[..., 0, 0], J[..., 0, 1], J[..., 1, 0], J[..., 1, 1]
    p00, p01, p10, p11 = a, b, c, d  # J^k
    forms = []
    for k in range(1, n_terms + 1):
        if k > 1:
            p00, p01, p10, p11 = (
                p00 * a + p01 * c,
                p00 * b + p01 * d,
                p10 * a + p11 * c,
                p10 * b + p11 * d,
            )
        sign = (1.0 if k % 2 else -1.0) / k
        forms.append(torch.stack([p00 * sign, (p01 + p10) * sign, p11 * sign], -1))
    return torch.stack(forms, -2)


def hutchinson_logdet(
    J: Tensor,
    n_terms: int,
    n_probes: int = 1,
    probe: str = "gaussian",
    generator: torch.Generator | None = None,
    reduce: bool = True,
) -> Tensor:
    """The truncated series with Hutchinson traces (paper eq. 6-7).

    Returns the mean over ``n_probes`` probes, shape ``(B,)``, or with ``reduce=False`` every
    probe's estimate, shape ``(B, n_probes)``.
    """
    B, d, _ = J.shape
    v = make_probes((B, n_probes, d), probe, generator, J.dtype)
    if d == 2 and reduce:
        return _estimate_2x2(J, SeriesPlan(_log_coeffs(n_terms), v))
    per_probe = hutchinson_terms(J, n_terms, v).sum(-1)
    return per_probe.mean(-1) if reduce else per_probe


def roulette_logdet(
    J: Tensor,
    n_exact: int = 2,
    p: float = 0.5,
    n_probes: int = 1,
    probe: str = "gaussian",
    generator: torch.Generator | None = None,
    exact_traces: bool = False,
) -> Tensor:
    """Unbiased Russian-roulette estimate of ``ln det(I + J)`` (Chen et al. 2019, eq. 6).

    One ``M ~ Geometric(p)`` on {0, 1, ...} is drawn per call (per batch, as Residual Flows does);
    ``n_exact + M`` terms are summed, term ``k > n_exact`` weighted by
    ``1 / P(M >= k - n_exact) = (1 - p)^-(k - n_exact)``. Traces are Hutchinson estimates unless
    ``exact_traces``. The variance is finite when ``Lip(g)^2 / (1 - p) < 1``.
    """
    weights = _roulette_weights(n_exact, p, generator)
    if not weights:
        return J.new_zeros(J.shape[0])
    B, d, _ = J.shape
    v = None if exact_traces else make_probes((B, n_probes, d), probe, generator, J.dtype)
    if d == 2:
        return _estimate_2x2(J, SeriesPlan(_log_coeffs(len(weights), weights), v))
    terms = (
        series_terms(J, len(weights))
        if v is None
        else hutchinson_terms(J, len(weights), v).mean(1)
    )
    weights = torch.tensor(weights, dtype=J.dtype)
    return (terms * weights).sum(-1)


def truncation_bound(coeff: float, n_terms: int, dim: int = 2) -> float:
    """``d * (-ln(1 - c) - sum_{k<=N} c^k / k)``: the largest error of the N-term series when
    ``Lip(g) <= c < 1`` (paper, Theorem 3). For d = 2, c = 0.9: 0.945 at N = 5, 0.079 at N = 20.
    """
    if not 0 < coeff < 1:
        return math.inf
    return dim * (-math.log1p(-coeff) - sum(coeff**k / k for k in range(1, n_terms + 1)))


def estimate_logdet(
    J: Tensor,
    mode: str,
    n_terms: int = 5,
    n_probes: int = 1,
    probe: str = "gaussian",
    n_exact_terms: int = 2,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Dispatch on ``mode`` in ``exact | series | hutchinson | roulette``."""
    if mode == "exact":
        return exact_logdet(J)
    if mode == "series":
        return series_logdet(J, n_terms)
    if mode == "hutchinson":
        return hutchinson_logdet(J, n_terms, n_probes, probe, generator)
    if mode == "roulette":
        return roulette_logdet(J, n_exact_terms, 0.5, n_probes, probe, generator)
    raise ValueError(
        f"unknown log-det mode {mode!r}; choose exact, series, hutchinson or roulette"
    )
