"""The i-ResNet classifier (issue 5): the inverse the paper guarantees, accuracy, Table 1's
rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from iresnet_core import classify as C
from iresnet_core.classify import data as cd


def _moons(n: int = 600, seed: int = 0):
    x, y = cd.make("moons", n, noise=0.1, seed=seed)
    return cd.split(x, y, 0.3, seed)


def _trained(coeff, dim=2, steps=30, **kw):
    x_tr, y_tr, x_te, y_te = _moons()
    model, metrics = C.train_classifier(
        x_tr,
        y_tr,
        x_te,
        y_te,
        coeff=coeff,
        dim=dim,
        n_blocks=3,
        hidden=(32, 32),
        steps=steps,
        seed=0,
        **kw,
    )
    return model, metrics, x_te


@pytest.mark.slow
@pytest.mark.parametrize("coeff,dim", [(0.9, 2), (0.9, 4), (0.5, 3)])
def test_constrained_feature_map_inverts_within_1e_5(coeff, dim):
    model, _, x_te = _trained(coeff, dim)
    x = torch.as_tensor(x_te)
    with torch.no_grad():
        model.eval()
        z = model.features(x)
    x_rec, info = model.invert_features(z, max_iter=200, tol=1e-9)
    assert info.converged and not info.diverged
    assert float((x_rec - x).abs().max()) < 1e-5
    assert info.padding < 1e-5  # the padded coordinates come back as zeros
    # Theorem 1 + Banach: every block certified, with an a-posteriori bound below the tolerance
    # asked
    assert all(b.lipschitz is not None and b.lipschitz < 1 for b in info.blocks)
    assert model.lipschitz_bound() <= coeff**3 + 1e-4  # three linear maps of norm <= c each
    err, _ = C.reconstruction_error(model, x_te)
    assert err < 1e-5


@pytest.mark.slow
def test_short_training_beats_chance_on_moons():
    x_tr, y_tr, x_te, y_te = _moons()
    model = C.IResNetClassifier(dim=2, n_blocks=3, hidden=(32, 32), coeff=0.9, seed=0)
    trainer = C.ClassifierTrainer(model, x_tr, y_tr, x_te, y_te, lr=1e-2, seed=0)
    before = trainer.evaluate()[1]
    m = trainer.step(150)
    assert m["step"] == 150 and m["skipped"] == 0 and math.isfinite(m["loss"])
    assert m["test_error"] < 0.2 < 0.5  # chance is 0.5
    assert m["test_error"] <= before


@pytest.mark.slow
def test_training_is_seeded():
    a = _trained(0.9, steps=10)[1]
    b = _trained(0.9, steps=10)[1]
    assert a["loss"] == b["loss"] and a["test_error"] == b["test_error"]


@pytest.mark.timeout(60)
def test_unconstrained_with_huge_weights_does_not_hang():
    model = C.IResNetClassifier(
        dim=3, n_blocks=3, hidden=(32, 32), coeff=None, actnorm=False, seed=0
    )
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(100.0)
    x = torch.as_tensor(cd.make("moons", 200, seed=0)[0])
    with torch.no_grad():
        z = model.features(x)
    x_rec, info = model.invert_features(z, max_iter=100, tol=1e-6)  # within the test's timeout
    assert not info.converged
    assert all(b.iterations <= 100 for b in info.blocks) and info.blocks[0].lipschitz is None
    err, info = C.reconstruction_error(model, x)
    assert err == math.inf or err > 1e-3


def test_jacobian_matches_autograd_and_constrained_maps_never_fold():
    model = C.IResNetClassifier(dim=3, n_blocks=2, hidden=(16,), coeff=None, seed=1)
    model.eval()
    x = torch.randn(5, 2)
    jac = model.jacobian(x)
    for i in range(5):
        ref = torch.autograd.functional.jacobian(
            lambda h: model.features_padded(h[None])[0], model.pad(x[i : i + 1])[0]
        )
        assert torch.allclose(jac[i], ref, atol=1e-5)
    for dim in (2, 3):
        m = C.IResNetClassifier(dim=dim, n_blocks=3, hidden=(16,), coeff=0.9, seed=2)
        fm = C.fold_map(m, (-3, 3, -3, 3), n=30)
        assert fm.sign.shape == (30, 30) and (fm.sign > 0).all() and fm.share == 0.0
        assert (fm.sigma_min > 0).all()


def test_fold_share_sees_an_orientation_reversing_block():
    # g(x) = -2 x_1 e_1 through an ELU-free path: one hidden unit, weights chosen by hand.
    model = C.IResNetClassifier(dim=2, n_blocks=1, hidden=(2,), coeff=None, actnorm=False, seed=0)
    first, last = model.blocks[0].g.linears
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
        first.bias.fill_(10.0)  # ELU is the identity on the positive half-line
        last.weight.copy_(torch.tensor([[-1.0, 1.0], [0.0, 0.0]]))  # -(x+10) + (-x+10) = -2x
        last.bias.zero_()
    assert C.fold_share(model, (-3, 3, -3, 3), n=20) == 1.0  # det(I + diag(-2, 0)) = -1 everywhere


def test_decision_and_warped_grids():
    model = C.IResNetClassifier(dim=2, n_blocks=2, hidden=(16,), coeff=0.9, actnorm=False, seed=0)
    xs, ys, p = C.decision_grid(model, (-1, 1, -2, 2), n=20)
    assert p.shape == (20, 20) and ((p >= 0) & (p <= 1)).all() and ys[0] == -2 and xs[-1] == 1
    with torch.no_grad():
        for b in model.blocks:  # g = 0: the feature map is the identity
            b.g.linears[-1].weight.zero_()
            b.g.linears[-1].bias.zero_()
    wg = C.warped_grid(model, (-1, 1, -2, 2), n_lines=5, n_points=7)
    assert wg.horizontal.shape == (5, 7, 2) and wg.vertical.shape == (5, 7, 2)
    assert np.allclose(wg.horizontal[:, :, 1], wg.levels_y[:, None], atol=1e-6)
    assert np.allclose(wg.vertical[:, :, 0], wg.levels_x[:, None], atol=1e-6)


def test_table1_reduced_returns_a_row_per_setting():
    calls = []
    rows = C.table1(
        "moons",
        coeffs=(None, 0.9, 0.5),
        steps=20,
        seed=0,
        n=300,
        n_blocks=2,
        hidden=(16,),
        fold_n=30,
        progress=lambda i, n, label: calls.append((i, n, label)),
    )
    assert [r["setting"] for r in rows] == ["vanilla", "c=0.9", "c=0.5"]
    assert calls == [(0, 3, "vanilla"), (1, 3, "c=0.9"), (2, 3, "c=0.5"), (3, 3, "done")]
    for r in rows:
        assert tuple(r) == C.TABLE1_COLUMNS
        assert 0 <= r["test_error"] <= 1 and 0 <= r["fold_share"] <= 1 and r["train_time_s"] > 0
        assert r["steps"] == 20
    assert [r["guaranteed_inverse"] for r in rows] == ["No", "Yes", "Yes"]
    for r in rows[1:]:  # shown, not asserted: the constrained rows invert and never fold
        assert r["reconstruction_error"] < 1e-4 and r["inverse_converged"] and r["fold_share"] == 0
        assert r["lipschitz"] < 1


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="dim"):
        C.IResNetClassifier(dim=1)
    with pytest.raises(ValueError, match="coeff"):
        C.IResNetClassifier(coeff=1.2)
    model = C.IResNetClassifier(n_blocks=1, hidden=(8,))
    x = np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError, match="labels"):
        C.ClassifierTrainer(model, x, np.array([0, 1, 2, 0]), x, np.zeros(4, int))
    with pytest.raises(ValueError, match="shape"):
        C.ClassifierTrainer(model, np.zeros((4, 3)), np.zeros(4, int), x, np.zeros(4, int))
