"""Tests of :mod:`iresnet_core.datasets.scaling`: own points standardised for training, densities
and NLLs converted back by the change of variables ``log p_x(x) = log p_z(s(x)) + log|ds/dx|``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import iresnet_core as ic
from iresnet_core.datasets.scaling import IDENTITY, TOY_SPREAD, Scaling

SCALES = [1e-6, 1e-2, 1.0, 1e3, 1e9]


def _gaussian(scale: float, n: int = 4000, seed: int = 0) -> np.ndarray:
    """A correlated 2D Gaussian at ``scale``, away from the origin (a shift to undo too)."""
    z = np.random.default_rng(seed).normal(size=(n, 2))
    return (z @ np.array([[1.0, 0.0], [0.6, 0.8]]) + [3.0, -2.0]) * scale


@pytest.mark.parametrize("scale", SCALES)
def test_fit_standardises_and_inverts(scale):
    x = _gaussian(scale)
    s = Scaling.fit(x)
    z = s.transform(x)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=0), 1.0, atol=1e-5)
    np.testing.assert_allclose(s.inverse(z), x, rtol=1e-6, atol=1e-6 * scale)
    # the log-det of s is -sum(log sigma): -2 log(scale) plus that of the unit-scale data
    unit = Scaling.fit(_gaussian(1.0))
    assert s.log_det == pytest.approx(unit.log_det - 2 * math.log(scale), rel=1e-9, abs=1e-9)


def test_log_det_is_the_jacobian_of_the_map():
    """``log_det`` is ``log|det ds/dx|`` of the map itself (autograd's Jacobian, not the rule)."""
    s = Scaling(np.array([0.5, -3.0]), np.array([2e-4, 7e5]))

    def f(x: torch.Tensor) -> torch.Tensor:
        return (x - torch.tensor(s.shift)) / torch.tensor(s.scale)

    jac = torch.autograd.functional.jacobian(f, torch.tensor([1.0, 2.0], dtype=torch.float64))
    assert s.log_det == pytest.approx(float(torch.linalg.slogdet(jac)[1]), rel=1e-12)


@pytest.mark.parametrize("scale", SCALES)
def test_density_in_own_units_has_mass_one(scale):
    """A flow's density on a grid in standard units, converted to the data's units, integrates
    to 1 over the grid in those units (the grid's cell is scale^2 larger or smaller)."""
    x = _gaussian(scale)
    s = Scaling.fit(x)
    flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16, 16), seed=0))
    box = ic.datasets.extent(x, margin=0.6)
    grid = ic.analysis.density_grid(flow, s.transform_box(box), n=300)
    xs = s.inverse(np.stack([grid.xs, np.zeros_like(grid.xs)], 1))[:, 0]
    ys = s.inverse(np.stack([np.zeros_like(grid.ys), grid.ys], 1))[:, 1]
    p = s.density(grid.density)
    mass = float(p.sum() * (xs[1] - xs[0]) * (ys[1] - ys[0]))
    assert grid.mass == pytest.approx(1.0, abs=0.01)  # the flow's own mass in standard units
    assert mass == pytest.approx(grid.mass, rel=1e-4)
    assert xs[0] == pytest.approx(box[0], rel=1e-6, abs=1e-9 * scale)
    assert ys[-1] == pytest.approx(box[3], rel=1e-6, abs=1e-9 * scale)


@pytest.mark.parametrize("scale", SCALES)
def test_nll_in_own_units_is_standard_nll_minus_log_det(scale):
    """The exact NLL of the data in their own units (log p_x computed point by point from the
    flow's log p_z and the map) equals the standard-unit NLL minus the log-det."""
    x = _gaussian(scale, n=500)
    s = Scaling.fit(x)
    flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16, 16), seed=1))
    with torch.no_grad():
        log_pz = flow.log_prob(torch.from_numpy(s.transform(x))).double().numpy()
    nll_z = float(-log_pz.mean())
    nll_x = float(-np.mean(s.log_prob(log_pz)))
    assert s.nll(nll_z) == pytest.approx(nll_x, rel=1e-12, abs=1e-9)
    assert s.nll(nll_z) == pytest.approx(nll_z - s.log_det)


@pytest.mark.parametrize("scale", SCALES)
def test_gaussian_entropy_gap_is_scale_free(scale):
    """For the exact density of a Gaussian, NLL minus entropy in the data's own units is the
    same at every scale (the entropy of N(mu, Sigma) is log(2 pi e) + log det Sigma / 2 in 2D)."""
    x = _gaussian(scale, n=20000)
    s = Scaling.fit(x)
    z = s.transform(x).astype(np.float64)
    cov_z = np.cov(z.T, bias=True)
    inv, (_, logdet_z) = np.linalg.inv(cov_z), np.linalg.slogdet(cov_z)
    log_pz = -0.5 * np.einsum("ni,ij,nj->n", z, inv, z) - math.log(2 * math.pi) - 0.5 * logdet_z
    cov_x = np.array([[1.0, 0.6], [0.6, 1.0]]) * scale**2  # the true covariance of _gaussian
    entropy = math.log(2 * math.pi * math.e) + 0.5 * np.linalg.slogdet(cov_x)[1]
    gap = s.nll(float(-log_pz.mean())) - entropy
    assert abs(gap) < 0.02


def test_spread_sets_the_standard_deviation_trained_at():
    x = _gaussian(1e4)
    s = Scaling.fit(x, spread=TOY_SPREAD)
    np.testing.assert_allclose(s.transform(x).std(axis=0), TOY_SPREAD, rtol=1e-5)
    assert s.log_det == pytest.approx(Scaling.fit(x).log_det + 2 * math.log(TOY_SPREAD))
    with pytest.raises(ValueError):
        Scaling.fit(x, spread=0.0)


def test_identity_and_refusals():
    assert IDENTITY.is_identity and IDENTITY.log_det == 0.0
    assert IDENTITY.nll(2.5) == 2.5 and IDENTITY.nll(None) is None
    assert math.isnan(IDENTITY.nll(float("nan")))
    assert not Scaling.fit(_gaussian(1e-3)).is_identity
    assert Scaling.fit(np.array([[1.0, 2.0], [1.0, 4.0]])).scale.tolist() == [1.0, 1.0]
    with pytest.raises(ValueError):
        Scaling(np.zeros(2), np.array([1.0, 0.0]))
    with pytest.raises(ValueError):
        Scaling.fit(np.array([[np.nan, 1.0]]))
