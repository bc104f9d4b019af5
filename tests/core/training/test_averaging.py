"""The running average of the weights: its arithmetic, the constraint it keeps, what it is fed."""

import math

import numpy as np
import pytest
import torch

import iresnet_core as ic
from iresnet_core.training.averaging import RunningAverage, warmup_decay

DATA = ic.datasets.sample("8gaussians", 2000, seed=0)


def small(**kw):
    return ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(32, 32), **kw))


def test_the_average_is_the_warmed_up_exponential_average_of_the_iterates():
    flow = small()
    avg = RunningAverage(flow, decay=0.9)
    p = flow.layers[0].g.linears[1].bias
    seq = [torch.randn_like(p) for _ in range(40)]
    expected = torch.zeros_like(p, dtype=torch.float64)
    for n, value in enumerate(seq, start=1):
        with torch.no_grad():
            p.copy_(value)
        avg.update()
        beta = warmup_decay(0.9, n)
        expected = beta * expected + (1 - beta) * value.double()
    assert warmup_decay(0.9, 1) == 0.0 and warmup_decay(0.9, 2) == pytest.approx(0.1)
    assert warmup_decay(0.9, 1000) == 0.9
    torch.testing.assert_close(
        avg.flow.layers[0].g.linears[1].bias.double(), expected, rtol=0, atol=1e-6
    )
    # A convex combination: inside the iterates' range, element by element.
    stacked = torch.stack(seq)
    got = avg.flow.layers[0].g.linears[1].bias
    assert bool(
        (got >= stacked.min(0).values - 1e-6).all() and (got <= stacked.max(0).values + 1e-6).all()
    )


def test_bad_decays_are_refused():
    for bad in (0, 1, -0.5, 1.5, math.nan, "0.9"):
        with pytest.raises(ValueError, match="decay"):
            RunningAverage(small(), bad)
    with pytest.raises(ValueError, match="decay"):
        ic.Trainer(small(), DATA, average=1.0)


def test_trainer_evaluates_and_reports_the_averaged_flow():
    trainer = ic.Trainer(small(), DATA, lr=2e-2, batch_size=200, seed=0)
    m = trainer.step(60)
    avg = trainer.eval_flow
    assert avg is not trainer.flow
    with torch.inference_mode():
        exact = -avg.eval().log_prob(trainer.test_x[:2000]).mean().item()
        live = -trainer.flow.eval().log_prob(trainer.test_x[:2000]).mean().item()
    assert m["test_nll"] == pytest.approx(exact, abs=1e-5)
    assert exact != pytest.approx(live, abs=1e-6)  # a different model from the last iterate
    assert m["lip"] == pytest.approx(trainer.lipschitz())


def test_the_averaged_i_resnet_keeps_its_constraint_and_inverts():
    """Averaging raw weights, then applying the soft rule: every block stays below c."""
    c = 0.9
    trainer = ic.Trainer(small(coeff=c), DATA, lr=5e-2, batch_size=200, seed=0)
    trainer.step(150)
    flow = trainer.eval_flow.eval()
    assert 0 < trainer.lipschitz() <= c * 1.01  # power iteration may undershoot sigma a little
    x = torch.as_tensor(DATA[:500])
    with torch.no_grad():
        z, _ = flow(x)
        x_rec, info = flow.inverse(z, max_iter=200, tol=1e-7)
    assert info.converged and float((x_rec - x).abs().max()) < 1e-4


def test_actnorm_initialisation_reaches_the_average():
    trainer = ic.Trainer(small(), DATA, lr=1e-2, batch_size=200, seed=0)
    trainer.step(1)  # the first update copies the data-initialised weights
    live, avg = trainer.flow, trainer.eval_flow
    flags = [
        (n, a, b)
        for (n, a), (_, b) in zip(avg.named_buffers(), live.named_buffers())
        if n.endswith("initialized")
    ]
    assert len(flags) == 2  # one ActNorm per block
    for name, a, b in flags:
        assert bool(a) and bool(b), name
    for (name, a), (_, b) in zip(avg.named_parameters(), live.named_parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_a_skipped_step_leaves_the_average_alone():
    trainer = ic.Trainer(small(), DATA, lr=1e-2, batch_size=200, seed=0)
    trainer.step(5)
    before = [p.detach().clone() for p in trainer.eval_flow.parameters()]
    with torch.no_grad():
        trainer.flow.layers[0].g.linears[0].weight[0, 0] = math.nan  # every loss is now NaN
    m = trainer.step(3)
    assert m["skipped"] == 3
    for a, b in zip(trainer.eval_flow.parameters(), before):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_averaging_can_be_switched_off_and_restarted():
    trainer = ic.Trainer(small(), DATA, lr=1e-2, batch_size=200, seed=0, average=None)
    assert trainer.average is None and trainer.eval_flow is trainer.flow
    trainer.step(10)
    trainer.set_average(0.95)
    # no copy before the next step: it would equal the weights (a page left alone never copies)
    assert trainer.average == 0.95 and trainer.eval_flow is trainer.flow
    trainer.step(1)
    kept = trainer.eval_flow
    assert kept is not trainer.flow
    trainer.set_average(0.95)  # unchanged: the same average goes on
    assert trainer.eval_flow is kept
    m = trainer.step(5)
    assert np.isfinite(m["test_nll"])
    trainer.set_average(None)
    assert trainer.eval_flow is trainer.flow


def test_glow_is_averaged_too():
    trainer = ic.Trainer(
        ic.build_flow(ic.match_glow(ic.FlowConfig(n_blocks=2, hidden=(32, 32)))),
        DATA,
        lr=3e-3,
        batch_size=200,
        seed=0,
    )
    m = trainer.step(30)
    assert trainer.eval_flow is not trainer.flow and np.isfinite(m["test_nll"])


def test_a_module_of_mixed_dtypes_is_averaged_per_tensor_and_left_as_it_is():
    """Without the trainer's flat vector (another library's module, here with a float64 and a
    float32 parameter) each parameter is averaged on its own; the module's own parameters keep
    their storage (nothing binds them to one vector)."""
    module = torch.nn.Module()
    module.a = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    module.b = torch.nn.Parameter(torch.zeros(2, dtype=torch.float32))
    storage = [p.data_ptr() for p in module.parameters()]
    avg = RunningAverage(module, decay=0.5)
    for value in (1.0, 3.0):
        with torch.no_grad():
            for p in module.parameters():
                p.fill_(value)
        avg.update()
    # update 1 copies (1.0); update 2 keeps warmup_decay(0.5, 2) = 0.1 of it: 0.1 + 0.9 * 3
    for p in avg.flow.parameters():
        torch.testing.assert_close(p, torch.full_like(p, 0.1 * 1.0 + 0.9 * 3.0))
    assert [p.data_ptr() for p in module.parameters()] == storage
