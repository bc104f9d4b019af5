"""Log-det estimators: the mathematics of Sec. 3 (series, bound, Hutchinson, Russian roulette)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from iresnet_core.ops import logdet as L


def random_contractions(B, c, seed, d=2):
    """Jacobians with spectral norm exactly c (so Lip(g) <= c)."""
    g = torch.Generator().manual_seed(seed)
    J = torch.randn(B, d, d, generator=g, dtype=torch.float64)
    return J * (c / torch.linalg.matrix_norm(J, ord=2))[:, None, None]


def test_truncation_bound_values_of_design():
    assert L.truncation_bound(0.9, 5) == pytest.approx(0.945, abs=1e-3)
    assert L.truncation_bound(0.9, 10) == pytest.approx(0.368, abs=1e-3)
    assert L.truncation_bound(0.9, 20) == pytest.approx(0.079, abs=1e-3)


@settings(max_examples=60, deadline=None)
@given(c=st.floats(0.05, 0.99), n=st.integers(1, 20), seed=st.integers(0, 10_000))
def test_series_with_exact_traces_stays_within_bound(c, n, seed):
    J = random_contractions(64, c, seed)
    err = (L.exact_logdet(J) - L.series_logdet(J, n)).abs().max().item()
    assert err <= L.truncation_bound(c, n) + 1e-12


def test_series_converges_to_exact():
    J = random_contractions(100, 0.6, 0)
    assert (L.exact_logdet(J) - L.series_logdet(J, 60)).abs().max() < 1e-12


def _logdet_by_eigenvalues(J):
    """``sum_i ln |1 + lambda_i(J)|``: the log-determinant from the spectrum, no determinant
    taken (a reference independent of ``slogdet``)."""
    return torch.log(torch.abs(1 + torch.linalg.eigvals(J))).sum(-1)


@pytest.mark.parametrize("d", [2, 3, 5])
def test_exact_logdet_matches_the_eigenvalues_and_the_long_series(d):
    """Two references that share no code with ``exact_logdet``: the eigenvalues of J (complex
    pairs included) and the power series of eq. 5 run until its tail is below 1e-13 (c = 0.8: the
    tail after 150 terms is at most d 0.8^151 / (151 * 0.2) < 1e-15)."""
    J = random_contractions(10, 0.8, 1, d=d)
    ld = L.exact_logdet(J)
    torch.testing.assert_close(ld, _logdet_by_eigenvalues(J), rtol=0, atol=1e-12)
    torch.testing.assert_close(ld, L.series_terms(J, 150).sum(-1), rtol=0, atol=1e-12)
    assert ld.abs().mean() > 0.1  # far from the identity: an estimator of 0 would not pass


def test_eigenvalue_reference_tells_a_wrong_logdet():
    """The reference above is sharp: ``ln |det(I - J)|`` (the inverse block's sign slip),
    ``ln |det J|`` (the identity forgotten) and 0 all miss it by far more than its 1e-12."""
    J = random_contractions(10, 0.8, 1, d=5)
    eye = torch.eye(5, dtype=J.dtype)
    ref = _logdet_by_eigenvalues(J)
    for wrong in (torch.linalg.slogdet(eye - J)[1], torch.linalg.slogdet(J)[1], J.new_zeros(10)):
        assert (wrong - ref).abs().max() > 0.1


@pytest.mark.parametrize("probe", ["gaussian", "rademacher"])
def test_hutchinson_mean_reaches_the_truncated_series(probe):
    J = random_contractions(1, 0.8, 2).expand(20000, 2, 2)
    gen = torch.Generator().manual_seed(0)
    est = L.hutchinson_logdet(J, 5, n_probes=1, probe=probe, generator=gen)
    target = L.series_logdet(J[:1], 5).item()
    se = est.std().item() / math.sqrt(len(est))
    assert abs(est.mean().item() - target) < 4 * se
    assert se > 0  # a real estimator, not the exact value


def test_rademacher_probes_are_signs():
    v = L.make_probes((1000, 2), "rademacher", torch.Generator().manual_seed(0))
    assert set(v.unique().tolist()) == {-1.0, 1.0}


def test_russian_roulette_is_unbiased():
    # c = 0.6: the roulette's variance is finite (c^2 / (1 - p) < 1).
    J = torch.diag(torch.tensor([0.6, -0.5], dtype=torch.float64))[
        None
    ]  # no cancellation between terms
    exact = L.exact_logdet(J).item()
    gen = torch.Generator().manual_seed(0)
    draws = np.array(
        [
            L.roulette_logdet(J, n_exact=2, generator=gen, exact_traces=True).item()
            for _ in range(4000)
        ]
    )
    se = draws.std() / math.sqrt(len(draws))
    assert abs(draws.mean() - exact) < 4 * se
    # and it is not the (biased) 2-term series
    assert abs(L.series_logdet(J, 2).item() - exact) > 10 * se


def test_russian_roulette_with_hutchinson_probes_is_unbiased():
    J = random_contractions(1, 0.5, 4).expand(8000, 2, 2)
    exact = L.exact_logdet(J[:1]).item()
    gen = torch.Generator().manual_seed(1)
    means = np.array([L.roulette_logdet(J, generator=gen).mean().item() for _ in range(200)])
    se = means.std() / math.sqrt(len(means))
    assert abs(means.mean() - exact) < 4 * se


def test_estimators_are_differentiable():
    J = random_contractions(8, 0.5, 5).requires_grad_(True)
    for mode in ("exact", "series", "hutchinson", "roulette"):
        J.grad = None
        L.estimate_logdet(
            J, mode, n_terms=4, generator=torch.Generator().manual_seed(0)
        ).sum().backward()
        assert J.grad is not None and torch.isfinite(J.grad).all()


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="log-det mode"):
        L.estimate_logdet(torch.zeros(1, 2, 2), "magic")


@pytest.mark.parametrize("n_terms", [1, 2, 5, 13])
def test_2d_closed_forms_equal_the_matrix_powers(n_terms):
    """The Cayley-Hamilton forms of the 2D estimators: the values and gradients of the powers."""
    J = random_contractions(300, 0.9, 3).requires_grad_()
    gen = torch.Generator().manual_seed(1)
    v = L.make_probes((300, 3, 2), "gaussian", gen, J.dtype)
    cases = [
        (L.series_logdet(J, n_terms), L.series_terms(J, n_terms).sum(-1)),
        (
            L.hutchinson_logdet(J, n_terms, 3, "gaussian", torch.Generator().manual_seed(1)),
            L.hutchinson_terms(J, n_terms, v).sum(-1).mean(-1),
        ),
    ]
    # Roulette: the same draw of M, then the weighted terms written out.
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    rou = L.roulette_logdet(J, 2, 0.5, 3, "gaussian", g1)
    u = torch.rand((), generator=g2).item()
    n = min(2 + int(math.floor(math.log(max(u, 1e-300)) / math.log(0.5))), L.ROULETTE_MAX_TERMS)
    w = torch.tensor([0.5 ** -max(k - 2, 0) for k in range(1, n + 1)], dtype=J.dtype)
    ref = (
        L.hutchinson_terms(J, n, L.make_probes((300, 3, 2), "gaussian", g2, J.dtype)).mean(1) * w
    ).sum(-1)
    cases.append((rou, ref))
    for fast, slow in cases:
        torch.testing.assert_close(fast, slow, rtol=1e-10, atol=1e-12)
        (gf,) = torch.autograd.grad(fast.sum(), J)
        (gs,) = torch.autograd.grad(slow.sum(), J)
        torch.testing.assert_close(gf, gs, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("probe", ["gaussian", "rademacher"])
def test_series_forms_read_by_probe_moments_are_the_hutchinson_terms(probe):
    """Term k of the 2D Hutchinson estimate through the probes' second moments only: the same
    numbers as v^T J^k v averaged over the probes, and with (1, 0, 1) the exact trace."""
    J = random_contractions(50, 0.9, 4)
    forms = L.series_forms(J, 7)  # (B, N, 3)
    v = L.make_probes((50, 6, 2), probe, torch.Generator().manual_seed(2), J.dtype)
    m = torch.stack(
        [(v[..., 0] ** 2).mean(1), (v[..., 0] * v[..., 1]).mean(1), (v[..., 1] ** 2).mean(1)], -1
    )
    torch.testing.assert_close(
        torch.einsum("bnq,bq->bn", forms, m),
        L.hutchinson_terms(J, 7, v).mean(1),
        rtol=1e-12,
        atol=1e-14,
    )
    trace = torch.tensor([1.0, 0.0, 1.0], dtype=J.dtype)
    torch.testing.assert_close(forms @ trace, L.series_terms(J, 7), rtol=1e-12, atol=1e-14)
    # the moments of fresh probes: shape, E[v v^T] = I, and Rademacher's squares are exactly 1
    mo = L.probe_moments((4000,), 3, probe, torch.Generator().manual_seed(0))
    assert mo.shape == (4000, 3) and mo.dtype == torch.float64
    assert torch.allclose(mo.mean(0), torch.tensor([1.0, 0.0, 1.0], dtype=mo.dtype), atol=0.06)
    if probe == "rademacher":
        assert torch.equal(mo[:, 0], torch.ones(4000, dtype=mo.dtype))
    with pytest.raises(ValueError, match="2 x 2"):
        L.series_forms(torch.zeros(3, 3, 3), 2)


@pytest.mark.parametrize("probe", ["gaussian", "rademacher"])
@pytest.mark.parametrize("n_probes", [3, 16])
def test_probe_moments_follow_the_law_of_the_probes(probe, n_probes):
    """Below EXACT_LAW_PROBES the moments are averaged from drawn probes, from it on drawn from
    their own law (Wishart by Bartlett; 2 Binomial - n): the same first two moments either way,
    E m = (1, 0, 1) and Var m = (2/n, 1/n, 2/n) for Gaussian probes, (0, 1/n, 0) for Rademacher."""
    assert (n_probes >= L.EXACT_LAW_PROBES) == (n_probes == 16)
    m = L.probe_moments((40_000,), n_probes, probe, torch.Generator().manual_seed(7))
    assert m.shape == (40_000, 3) and m.dtype == torch.float64
    torch.testing.assert_close(
        m.mean(0), torch.tensor([1.0, 0.0, 1.0], dtype=m.dtype), atol=0.02, rtol=0
    )
    var = (
        torch.tensor([2.0, 1.0, 2.0] if probe == "gaussian" else [0.0, 1.0, 0.0], dtype=m.dtype)
        / n_probes
    )
    torch.testing.assert_close(m.var(0), var, atol=0.01, rtol=0.06)
    if probe == "rademacher":
        assert torch.equal(m[:, 0], torch.ones(40_000, dtype=m.dtype)) and torch.equal(
            m[:, 2], m[:, 0]
        )
    a = L.probe_moments((5,), n_probes, probe, torch.Generator().manual_seed(1))
    assert torch.equal(
        a, L.probe_moments((5,), n_probes, probe, torch.Generator().manual_seed(1))
    )  # seeded
