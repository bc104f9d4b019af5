"""``dashboard.view.compute_view``: one redraw's density, samples and inverse report."""

from __future__ import annotations

import numpy as np
import torch

import iresnet_core as ic
from dashboard.view import compute_view
from tests.support import trained_flow

BOX = (-4.0, 4.0, -4.0, 4.0)


def test_a_trained_flow_gives_mass_one_and_converged_samples():
    """The shipped 8gaussians i-ResNet bends the plane far from the identity (its density without
    the log-det term has a mass of about 3), so a mass of 1 on the grid checks the change of
    variables, eq. 1: the log-det, its sign and the base density together."""
    flow = trained_flow("8gaussians")
    v = compute_view(flow, 7, BOX, grid=80, n_samples=200, key=("k",))
    assert (v.step, v.key) == (7, ("k",))
    cell = (v.xs[1] - v.xs[0]) * (v.ys[1] - v.ys[0])
    assert (
        abs(v.mass - float(v.density.sum(dtype=np.float64) * cell)) < 1e-4
    )  # the mass of what is drawn
    assert abs(v.mass - 1) < 5e-3
    assert v.inverse_converged and not v.inverse_diverged and v.samples.shape == (200, 2)
    assert np.isfinite(v.samples).all() and 0.5 < v.lip < 1
    # the companion: the same grid without the log-det term is nowhere near mass 1
    gx, gy = np.meshgrid(v.xs, v.ys)
    with torch.no_grad():
        z, _ = flow(torch.as_tensor(np.stack([gx.ravel(), gy.ravel()], -1), dtype=torch.float32))
    no_logdet = float(torch.exp(-0.5 * (z**2).sum(-1)).sum()) / (2 * np.pi) * cell
    assert abs(no_logdet - 1) > 0.5


def test_an_inverse_that_fails_shows_no_samples_and_says_so(monkeypatch):
    flow = ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(16, 16), coeff=None, seed=1))

    def failing(*args, **kwargs):
        raise FloatingPointError("overflow in the fixed point")

    monkeypatch.setattr(ic.analysis, "samples", failing)
    v = compute_view(flow, 0, BOX, grid=20, n_samples=50)
    assert v.inverse_diverged and not v.inverse_converged and v.samples.shape == (0, 2)
    assert v.density.shape == (20, 20)  # the density is still drawn
