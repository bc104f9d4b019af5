"""Tests of iresnet_core.classify.data: labelled 2D sets and the stratified split."""

from __future__ import annotations

import numpy as np
import pytest

from iresnet_core.classify import data as cd


@pytest.mark.parametrize("name", cd.CLASS_NAMES)
@pytest.mark.parametrize("n", [2, 3, 101, 1000])
def test_make_shapes_balance_determinism(name, n):
    x, y = cd.make(name, n, noise=0.1, seed=3)
    assert x.shape == (n, 2) and x.dtype == np.float32 and np.isfinite(x).all()
    assert y.shape == (n,) and y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1}
    assert abs(int((y == 0).sum()) - int((y == 1).sum())) <= 1
    x2, y2 = cd.make(name, n, noise=0.1, seed=3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    x3, _ = cd.make(name, n, noise=0.1, seed=4)
    assert not np.array_equal(x, x3)


@pytest.mark.parametrize("name", cd.CLASS_NAMES)
def test_make_scale(name):
    x, y = cd.make(name, 5000, noise=0.0, seed=0)
    assert np.abs(x).max() <= 3.0 + 1e-6
    assert np.abs(x).max() > 1.4  # uses the box, not a speck in it
    # labels are not in blocks: both classes appear in each half of the array
    assert 0 < y[:2500].mean() < 1 and 0 < y[2500:].mean() < 1


def test_noise_is_isotropic_gaussian_of_the_given_std():
    x0, _ = cd.make("circles", 20_000, noise=0.0, seed=5)
    x1, _ = cd.make("circles", 20_000, noise=0.3, seed=5)
    d = (x1 - x0).astype(np.float64)  # same seed: same clean points, noise added last
    np.testing.assert_allclose(d.std(0), [0.3, 0.3], rtol=0.03)
    np.testing.assert_allclose(d.mean(0), [0.0, 0.0], atol=0.01)


def test_noise_free_sets_are_separable():
    x, y = cd.make("xor", 2000, noise=0.0, seed=0)
    np.testing.assert_array_equal(np.sign(x[:, 0] * x[:, 1]) < 0, y == 1)
    x, y = cd.make("circles", 2000, noise=0.0, seed=0)
    r = np.linalg.norm(x, axis=1)
    np.testing.assert_array_equal(r < 1.875, y == 1)
    np.testing.assert_allclose(r, np.where(y == 1, 1.25, 2.5), atol=1e-5)
    x, y = cd.make("spirals", 2000, noise=0.0, seed=0)
    np.testing.assert_allclose(cd.make("spirals", 2000, noise=0.0, seed=0)[0], x)
    # the two arms are point reflections of each other and never meet: nearest other-class
    # point is far away
    a, b = x[y == 0].astype(np.float64), x[y == 1].astype(np.float64)
    gap = np.sqrt(((a[:, None, :] - b[None]) ** 2).sum(-1)).min()
    assert gap > 0.4
    x, y = cd.make("moons", 2000, noise=0.0, seed=0)
    a, b = x[y == 0].astype(np.float64), x[y == 1].astype(np.float64)
    assert np.sqrt(((a[:, None, :] - b[None]) ** 2).sum(-1)).min() > 0.3


def test_make_rejects_bad_arguments():
    with pytest.raises(ValueError, match="valid names: moons"):
        cd.make("spiral", 10, 0.1, 0)
    with pytest.raises(ValueError, match="noise"):
        cd.make("moons", 10, -0.1, 0)
    with pytest.raises(ValueError, match="noise"):
        cd.make("moons", 10, float("nan"), 0)
    for n in (0, 1, -3, 2.0):
        with pytest.raises(ValueError, match="n must"):
            cd.make("moons", n, 0.1, 0)


@pytest.mark.parametrize("frac", [0.1, 0.25, 0.5, 0.9])
def test_split_partitions_and_stratifies(frac):
    x, y = cd.make("moons", 401, noise=0.1, seed=1)
    x_tr, y_tr, x_te, y_te = cd.split(x, y, frac, seed=2)
    assert len(x_te) == round(401 * frac) and len(x_tr) + len(x_te) == 401
    assert x_tr.dtype == np.float32 and y_tr.dtype == np.int64
    # a partition: every point exactly once, with its own label
    both = np.concatenate([np.c_[x_tr, y_tr], np.c_[x_te, y_te]])
    ref = np.c_[x, y]
    np.testing.assert_array_equal(both[np.lexsort(both.T)], ref[np.lexsort(ref.T)])
    # stratified: each class's share of the test set matches its share of the data
    for c in (0, 1):
        assert abs((y_te == c).sum() - (y == c).sum() * frac) <= 1
    a = cd.split(x, y, frac, seed=2)
    for u, v in zip(a, (x_tr, y_tr, x_te, y_te)):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(cd.split(x, y, frac, seed=3)[2], x_te)


def test_split_small_and_bad():
    x, y = cd.make("xor", 2, 0.0, 0)
    x_tr, y_tr, x_te, y_te = cd.split(x, y, 0.01, seed=0)
    assert len(x_tr) == 1 and len(x_te) == 1
    for frac in (0.0, 1.0, -0.2, 1.5, float("nan"), "half"):
        with pytest.raises(ValueError, match="test_fraction"):
            cd.split(x, y, frac, seed=0)
    with pytest.raises(ValueError, match="length"):
        cd.split(x, y[:1], 0.5, seed=0)
