"""``dashboard.view.compute_view``: one redraw's density, samples and inverse report."""

from __future__ import annotations

import doctest

import numpy as np

import iresnet_core as ic
from dashboard import view
from dashboard.view import compute_view

BOX = (-4.0, 4.0, -4.0, 4.0)


def test_docstring_example():
    assert doctest.testmod(view).failed == 0


def test_a_constrained_flow_gives_mass_one_and_converged_samples():
    flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16, 16), seed=1))
    v = compute_view(flow, 7, BOX, grid=80, n_samples=200, key=("k",))
    assert (v.step, v.key) == (7, ("k",))
    cell = (v.xs[1] - v.xs[0]) * (v.ys[1] - v.ys[0])
    assert (
        abs(v.mass - float(v.density.sum(dtype=np.float64) * cell)) < 1e-4
    )  # the mass of what is drawn
    assert abs(v.mass - 1) < 0.02  # a near-identity flow keeps its Gaussian inside the box
    assert v.inverse_converged and not v.inverse_diverged and v.samples.shape == (200, 2)
    assert np.isfinite(v.samples).all() and 0 < v.lip < 1


def test_an_inverse_that_fails_shows_no_samples_and_says_so(monkeypatch):
    flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16, 16), coeff=None, seed=1))

    def failing(*args, **kwargs):
        raise FloatingPointError("overflow in the fixed point")

    monkeypatch.setattr(ic.analysis, "samples", failing)
    v = compute_view(flow, 0, BOX, grid=20, n_samples=50)
    assert v.inverse_diverged and not v.inverse_converged and v.samples.shape == (0, 2)
    assert v.density.shape == (20, 20)  # the density is still drawn
