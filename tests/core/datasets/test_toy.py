"""Tests of iresnet_core.datasets: the toy samplers and their entropy floors (``load_csv``:
test_csv_points.py).

The entropy floors are recomputed from the exact densities: closed forms where they exist
(checkerboard, 8gaussians, rings and circles through the Bessel function I0), numerical
quadrature over the generative recipe otherwise. Two independent estimates are compared: the
Monte Carlo average of -log p over the sampler's points (which also checks that the sampler
draws from that density: a wrong recipe adds KL(q || p) > 0) and a deterministic integral of
-p log p.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import i0e, logsumexp, ndtr

from iresnet_core import datasets as ds
from tests.support import ROOT

# --------------------------------------------------------------------------------------------
# Exact log densities
# --------------------------------------------------------------------------------------------


def _logp_8gaussians(x: np.ndarray) -> np.ndarray:
    a = np.arange(8) * np.pi / 4
    centres = 4.0 * np.stack([np.cos(a), np.sin(a)], 1) / 1.414
    s = 0.5 / 1.414
    d2 = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
    return logsumexp(-d2 / (2 * s * s), axis=1) - math.log(8) - math.log(2 * math.pi * s * s)


def _logp_rings(r: np.ndarray, radii, weights, s: float) -> np.ndarray:
    """Log density at distance r from the origin of sum_k w_k Uniform(circle R_k) * N(0, s^2 I).

    p(x) = sum_k w_k / (2 pi s^2) exp(-(|x|^2 + R_k^2) / (2 s^2)) I0(|x| R_k / s^2).
    """
    r = np.asarray(r, dtype=np.float64)[..., None]
    radii = np.asarray(radii, dtype=np.float64)
    z = r * radii / s**2
    terms = (
        np.log(weights)
        - math.log(2 * math.pi * s * s)
        - (r**2 + radii**2) / (2 * s * s)
        + np.log(i0e(z))
        + z
    )
    return logsumexp(terms, axis=-1)


RINGS = ([3.0, 2.25, 1.5, 0.75], [0.25] * 4, 0.08)
CIRCLES = ([3.0, 1.5], [0.5, 0.5], 0.24)  # make_circles adds noise 0.08 before the * 3


def _radial_entropy(radii, weights, s) -> tuple[float, float]:
    """(-integral p log p, integral p) of a radially symmetric density, by 1D quadrature."""

    def p(r):
        return math.exp(float(_logp_rings(r, radii, weights, s)))

    def plogp(r):
        lp = float(_logp_rings(r, radii, weights, s))
        return -2 * math.pi * r * math.exp(lp) * lp

    edges = sorted(
        {max(0.0, e) for R in radii for e in (R - 6 * s, R + 6 * s)} | {0.0, max(radii) + 12 * s}
    )
    h = sum(quad(plogp, a, b, limit=200)[0] for a, b in zip(edges[:-1], edges[1:]))
    mass = sum(
        quad(lambda r: 2 * math.pi * r * p(r), a, b, limit=200)[0]
        for a, b in zip(edges[:-1], edges[1:])
    )
    return h, mass


def _logp_moons(x: np.ndarray, m: int = 300) -> np.ndarray:
    th = (np.arange(m) + 0.5) / m * np.pi
    upper = np.stack([np.cos(th), np.sin(th)], 1)
    lower = np.stack([1 - np.cos(th), 0.5 - np.sin(th)], 1)
    c = np.concatenate([upper, lower]) * 2 + np.array([-1.0, -0.2])
    s = 0.2
    d2 = ((x[:, None, :] - c[None]) ** 2).sum(-1)
    return logsumexp(-d2 / (2 * s * s), axis=1) - math.log(2 * m) - math.log(2 * math.pi * s * s)


def _logp_swissroll(x: np.ndarray, m: int = 600) -> np.ndarray:
    t = 1.5 * np.pi * (1 + 2 * (np.arange(m) + 0.5) / m)
    c = np.stack([t * np.cos(t), t * np.sin(t)], 1) / 5
    s = 0.2
    d2 = ((x[:, None, :] - c[None]) ** 2).sum(-1)
    return logsumexp(-d2 / (2 * s * s), axis=1) - math.log(m) - math.log(2 * math.pi * s * s)


def _logp_2spirals(x: np.ndarray, m: int = 500) -> np.ndarray:
    t = 3 * np.pi * np.sqrt((np.arange(m) + 0.5) / m)  # equal-mass nodes of t = 3 pi sqrt(U)
    c = np.stack([-np.cos(t) * t, np.sin(t) * t], 1) / 3
    a, s = 0.5 / 3, 0.1  # uniform offset U[0, 0.5] / 3, then Gaussian noise
    parts = []
    for sign in (1.0, -1.0):
        lo = sign * c - (a if sign < 0 else 0.0)
        dens = (
            ndtr((x[:, None, :] - lo[None]) / s) - ndtr((x[:, None, :] - lo[None] - a) / s)
        ) / a
        parts.append(np.log(np.clip(dens, 1e-300, None)).sum(-1))
    return logsumexp(np.concatenate(parts, 1), axis=1) - math.log(2 * m)


def _logp_pinwheel(x: np.ndarray) -> np.ndarray:
    """Change of variables: x = 2 R(-phi(r)) (r, t), phi = 2 pi k / 5 + exp(r) / 4.

    The Jacobian determinant is 4 (1 + phi'(r) t).

    All preimages (r, t) of x are found by bracketing the roots of r = |y| cos(phi(r) + angle(y)).
    """
    y = x / 2
    rho = np.linalg.norm(y, axis=1)
    alpha = np.arctan2(y[:, 1], y[:, 0])
    grid = np.linspace(-0.8, 3.0, 1200)
    total = np.zeros(len(x))
    for k in range(5):

        def g(r, rho=rho, alpha=alpha):
            return r - rho * np.cos(2 * np.pi * k / 5 + 0.25 * np.exp(r) + alpha)

        gv = g(grid[None, :], rho[:, None], alpha[:, None])
        i, j = np.nonzero(np.signbit(gv[:, :-1]) != np.signbit(gv[:, 1:]))
        a, b = grid[j], grid[j + 1]
        ga = g(a, rho[i], alpha[i])
        for _ in range(40):
            mid = (a + b) / 2
            gm = g(mid, rho[i], alpha[i])
            left = np.signbit(gm) == np.signbit(ga)
            a, ga, b = np.where(left, mid, a), np.where(left, gm, ga), np.where(left, b, mid)
        r = (a + b) / 2
        phi = 2 * np.pi * k / 5 + 0.25 * np.exp(r)
        t = np.sin(phi) * y[i, 0] + np.cos(phi) * y[i, 1]
        dens = (
            np.exp(-((r - 1) ** 2) / (2 * 0.09))
            / math.sqrt(2 * math.pi * 0.09)
            * np.exp(-(t**2) / (2 * 0.01))
            / math.sqrt(2 * math.pi * 0.01)
            / np.abs(1 + 0.25 * np.exp(r) * t)
        )
        np.add.at(total, i, dens / 5)
    return np.log(total / 4)


def _mc_entropy(name: str, logp, n: int, seed: int = 1234) -> tuple[float, float]:
    x = ds.sample(name, n, seed).astype(np.float64)
    lp = np.concatenate([logp(c) for c in np.array_split(x, max(1, n // 4000))])
    return float(-lp.mean()), float(lp.std() / math.sqrt(n))


# --------------------------------------------------------------------------------------------
# Samplers
# --------------------------------------------------------------------------------------------


def test_names_and_labels():
    assert ds.NAMES == (
        "8gaussians",
        "checkerboard",
        "rings",
        "circles",
        "moons",
        "swissroll",
        "2spirals",
        "pinwheel",
    )
    assert set(ds.LABELS) == set(ds.NAMES)
    assert ds.LABELS["8gaussians"] == "8 Gaussians"


@pytest.mark.parametrize("name", ds.NAMES)
def test_sample_shape_dtype_determinism(name):
    x = ds.sample(name, 1001, seed=7)
    assert x.shape == (1001, 2) and x.dtype == np.float32
    assert np.isfinite(x).all()
    np.testing.assert_array_equal(x, ds.sample(name, 1001, seed=7))
    assert not np.array_equal(x, ds.sample(name, 1001, seed=8))
    assert x.std(axis=0).min() > 0.5  # a spread-out distribution, not a point
    for n in (1, 2, 3, 5):
        assert ds.sample(name, n, seed=0).shape == (n, 2)


def test_sample_rejects_bad_arguments():
    with pytest.raises(ValueError, match="valid names: 8gaussians"):
        ds.sample("9gaussians", 10, 0)
    for n in (0, -5, 2.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            ds.sample("moons", n, 0)


# --------------------------------------------------------------------------------------------
# Entropy floors
# --------------------------------------------------------------------------------------------


def test_entropy_values():
    assert ds.entropy("checkerboard") == math.log(32)
    assert ds.entropy("my_points.csv") is None
    for name in ds.NAMES:
        h = ds.entropy(name)
        assert isinstance(h, float) and 2.0 < h < 3.5


def test_checkerboard_is_uniform_on_8_squares_of_area_4():
    x = ds.sample("checkerboard", 20_000, seed=3).astype(np.float64)
    assert (np.abs(x) <= 4).all()
    cells = np.floor(x / 2).astype(int)  # squares of side 2 (side 1 before the * 2)
    assert ((cells.sum(1) % 2) == 0).all()  # only the "black" squares
    idx = (cells[:, 0] + 2) * 4 + (cells[:, 1] + 2)
    counts = np.bincount(idx, minlength=16)
    occupied = counts[counts > 0]
    assert len(occupied) == 8
    sd = math.sqrt(20_000 * (1 / 8) * (7 / 8))
    assert np.abs(occupied - 2500).max() < 5 * sd
    # uniform inside each square: the position within the square has mean 1 and variance 4/12
    frac = x - 2 * cells
    np.testing.assert_allclose(frac.mean(0), [1.0, 1.0], atol=0.03)
    np.testing.assert_allclose(frac.var(0), [4 / 12, 4 / 12], atol=0.02)
    # support area 8 * 2 * 2 = 32, so the density is 1/32 and the entropy ln 32
    assert math.isclose(ds.entropy("checkerboard"), math.log(8 * 2 * 2), rel_tol=1e-15)


def test_8gaussians_entropy():
    # deterministic: -integral p log p on a grid
    h = 0.02
    g = np.arange(-5, 5, h) + h / 2
    xx, yy = np.meshgrid(g, g)
    lp = _logp_8gaussians(np.stack([xx.ravel(), yy.ravel()], 1))
    p = np.exp(lp)
    assert abs(p.sum() * h * h - 1) < 1e-6
    h_grid = float(-(p * lp).sum() * h * h)
    assert abs(h_grid - ds.entropy("8gaussians")) < 0.01
    # Monte Carlo over the sampler's own points
    h_mc, se = _mc_entropy("8gaussians", _logp_8gaussians, 200_000)
    assert abs(h_mc - ds.entropy("8gaussians")) < 0.01
    assert abs(h_mc - h_grid) < 5 * se + 1e-3
    # the components themselves: centres at radius 4 / 1.414, each N(centre, (0.5 / 1.414)^2 I)
    x = ds.sample("8gaussians", 80_000, seed=2).astype(np.float64)
    k = np.round(np.arctan2(x[:, 1], x[:, 0]) / (np.pi / 4)) % 8
    centres = 4 / 1.414 * np.stack([np.cos(k * np.pi / 4), np.sin(k * np.pi / 4)], 1)
    u = centres / np.linalg.norm(centres, axis=1, keepdims=True)
    radial = (x * u).sum(1)
    tangential = x[:, 1] * u[:, 0] - x[:, 0] * u[:, 1]
    assert abs(radial.mean() - 4 / 1.414) < 0.005 and abs(tangential.mean()) < 0.005
    np.testing.assert_allclose([radial.std(), tangential.std()], [0.5 / 1.414] * 2, rtol=0.01)
    np.testing.assert_allclose(np.bincount(k.astype(int), minlength=8) / len(x), 1 / 8, atol=0.006)
    # well-separated mixture: just below ln 8 + entropy of one Gaussian (overlap lowers it)
    one = math.log(2 * math.pi * math.e) + 2 * math.log(0.5 / 1.414)
    assert 0 < math.log(8) + one - h_grid < 0.02


@pytest.mark.parametrize("name, params", [("rings", RINGS), ("circles", CIRCLES)])
def test_ring_entropies(name, params):
    h_quad, mass = _radial_entropy(*params)
    assert abs(mass - 1) < 1e-6
    assert abs(h_quad - ds.entropy(name)) < 0.01
    h_mc, se = _mc_entropy(
        name, lambda x: _logp_rings(np.linalg.norm(x, axis=1), *params), 200_000
    )
    assert abs(h_mc - ds.entropy(name)) < 0.01
    assert abs(h_mc - h_quad) < 5 * se + 1e-3


def test_circles_noise_is_scaled_with_the_rings():
    # sklearn adds N(0, 0.08^2) before the * 3: radial spread 0.24 around radii 3 and 1.5
    r = np.linalg.norm(ds.sample("circles", 100_000, seed=5), axis=1)
    outer, inner = r[r > 2.25], r[r <= 2.25]
    assert abs(len(outer) / len(r) - 0.5) < 0.01
    assert abs(outer.std() - 0.24) < 0.01 and abs(inner.std() - 0.24) < 0.015
    assert abs(np.median(outer) - 3.0) < 0.02 and abs(np.median(inner) - 1.5) < 0.03


@pytest.mark.parametrize(
    "name, logp, n",
    [
        ("moons", _logp_moons, 12_000),
        ("swissroll", _logp_swissroll, 10_000),
        ("2spirals", _logp_2spirals, 3_000),
        ("pinwheel", _logp_pinwheel, 10_000),
    ],
)
def test_other_entropies_by_quadrature(name, logp, n):
    """MC average NLL under the recipe's exact density (quadrature over its latent variable)."""
    h_mc, se = _mc_entropy(name, logp, n)
    assert abs(h_mc - ds.entropy(name)) < max(0.02, 4 * se)


def test_nll_under_a_wrong_density_exceeds_the_floor():
    """-E_p log q = H(p) + KL(p||q) >= H(p): a model with the wrong noise scale sits above it."""
    x = ds.sample("rings", 100_000, seed=9).astype(np.float64)
    r = np.linalg.norm(x, axis=1)
    radii, w, _ = RINGS
    for s_wrong in (0.05, 0.12):
        nll = float(-_logp_rings(r, radii, w, s_wrong).mean())
        assert nll > ds.entropy("rings") + 0.05


# --------------------------------------------------------------------------------------------
# Plotting boxes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ds.NAMES)
def test_bounds_hold_the_mass(name):
    xmin, xmax, ymin, ymax = ds.bounds(name)
    assert math.isclose(xmax - xmin, ymax - ymin)  # square
    x = ds.sample(name, 10_000, seed=11)
    inside = (x[:, 0] >= xmin) & (x[:, 0] <= xmax) & (x[:, 1] >= ymin) & (x[:, 1] <= ymax)
    assert inside.mean() >= 0.995
    assert xmax - xmin <= 2 * 1.5 * np.abs(x).max()  # not absurdly large


def test_bounds_unknown_name():
    with pytest.raises(ValueError, match="unknown"):
        ds.bounds("nope")


def test_extent():
    rng = np.random.default_rng(0)
    p = rng.normal(size=(500, 2)) * [10.0, 1.0] + [100.0, -3.0]
    xmin, xmax, ymin, ymax = ds.extent(p, margin=0.1)
    assert math.isclose(xmax - xmin, ymax - ymin)
    assert (p[:, 0] > xmin).all() and (p[:, 0] < xmax).all()
    assert (p[:, 1] > ymin).all() and (p[:, 1] < ymax).all()
    span = np.ptp(p[:, 0])
    assert math.isclose(xmax - xmin, span * 1.2, rel_tol=1e-9)
    assert ds.extent(np.array([[0.0, 0.0], [2.0, 1.0]]), margin=0.0) == (0.0, 2.0, -0.5, 1.5)
    assert ds.extent(np.array([[1.0, 1.0]]), margin=0.0) == (0.0, 2.0, 0.0, 2.0)
    with pytest.raises(ValueError):
        ds.extent(np.zeros((5, 3)))


@pytest.mark.slow
def test_preload_imports_scikit_learn_once_in_the_background():
    """preload_generators: one daemon thread per process that leaves sklearn.datasets imported
    (in a fresh process, so this one's imports say nothing)."""
    import subprocess
    import sys

    code = (
        "import sys, iresnet_core.datasets as d; assert 'sklearn' not in sys.modules; "
        "t = d.preload_generators(); assert d.preload_generators() is t and t.daemon; "
        "t.join(120); "
        "print('sklearn.datasets' in sys.modules, d.sample('moons', 5, seed=0).shape)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=str(ROOT)
    )
    assert out.stdout.split() == ["True", "(5,", "2)"]
