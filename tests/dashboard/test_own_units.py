"""Own points at any scale, in the Playground: standardised for training, shown in their own units.

The same 2D Gaussian uploaded at standard deviations from 1e-5 to 1e8 ends at the same
NLL-minus-entropy after the same steps, for both models (before, 1e-2 ended 1.5 nats away, 1e-3
8.3, and Glow's steps were all non-finite at 1e-5; issue 31); its density on screen has mass 1 in
its own units, and its samples lie where the points do.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from dashboard.drawing import points_csv
from dashboard.settings import CUSTOM
from dashboard.state import Playground, Settings
from iresnet_core.datasets.scaling import TOY_SPREAD

SCALES = [1e-5, 1e-2, 1.0, 1e3, 1e8]
MIX = np.array([[1.0, 0.0], [0.6, 0.8]])  # x = (z @ MIX + offset) * scale: covariance MIX^T MIX
OFFSET = np.array([3.0, -2.0])
STEPS = 40


def _upload(scale: float) -> Playground:
    z = np.random.default_rng(0).normal(size=(2000, 2))
    x = (z @ MIX + OFFSET) * scale
    pg = Playground(Settings(blocks=4, width=16, pretrained=False, grid=60, n_samples=200))
    assert pg.upload(points_csv(x).replace(b"7g", b"9g"), f"gauss-{scale:g}.csv") is None
    pg.apply(pg.settings.replace(dataset=CUSTOM))
    return pg


def _entropy(scale: float) -> float:
    """log(2 pi e) + log det(Sigma) / 2 for the 2D Gaussian of covariance scale^2 MIX^T MIX."""
    return (
        math.log(2 * math.pi * math.e)
        + 0.5 * np.linalg.slogdet(MIX.T @ MIX)[1]
        + 2 * math.log(scale)
    )


@pytest.fixture(scope="module")
def gaps() -> dict[float, dict[str, float]]:
    out = {}
    for scale in SCALES:
        pg = _upload(scale)
        pg.step(STEPS)
        for run in pg.shown_runs:
            run.evaluate()
        out[scale] = {r.model: r.metrics["test_nll"] - _entropy(scale) for r in pg.shown_runs}
    return out


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_same_gaussian_fits_equally_well_at_every_scale(gaps):
    for model in ("iresnet", "glow"):
        values = np.array([gaps[s][model] for s in SCALES])
        assert np.isfinite(values).all(), (model, values)
        assert np.ptp(values) < 0.01, (model, values)  # the same fit, whatever the units
        assert abs(values[0]) < 2  # and a fit: a few nats from the floor after 40 steps


@pytest.mark.parametrize("scale", [1e-5, 1e8])
def test_density_samples_and_nll_are_in_the_points_own_units(scale):
    pg = _upload(scale)
    run = pg.shown_runs[0]
    v = pg.view(run)
    cell = (v.xs[1] - v.xs[0]) * (v.ys[1] - v.ys[0])
    assert float(v.density.astype(np.float64).sum() * cell) == pytest.approx(v.mass, rel=1e-3)
    x0, x1, y0, y1 = pg.bounds  # the grid spans the view box in the points' units
    assert v.xs[0] == pytest.approx(x0, rel=1e-5) and v.ys[-1] == pytest.approx(y1, rel=1e-5)
    centre = np.median(v.samples, axis=0)
    np.testing.assert_allclose(centre, np.median(pg.data, axis=0), atol=1.5 * scale)
    # the NLL on screen is the trainer's (standard units) minus the map's log-det
    train, test = run.trainer.evaluate()
    run.evaluate()
    assert run.metrics["test_nll"] == pytest.approx(test - pg.scaling.log_det, rel=1e-9)
    sd = pg.data.astype(np.float64).std(axis=0)  # the map standardises to the toy sets' spread
    assert pg.scaling.log_det == pytest.approx(-np.log(sd / TOY_SPREAD).sum(), rel=1e-6)
    assert all(
        h == pytest.approx(t - pg.scaling.log_det)
        for h, t in zip(run.history["test_nll"], run.trainer.history.as_dict()["test_nll"])
    )
    assert pg.entropy is None  # own points: no floor


def test_toy_sets_are_not_rescaled():
    pg = Playground(Settings(blocks=2, width=16, pretrained=False))
    assert pg.scaling.is_identity and pg.train_data is pg.data
