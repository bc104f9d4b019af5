"""Training: metrics, determinism, live learning rate, and non-finite steps that never land."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import iresnet_core as ic
from iresnet_core.training.history import History


def small(seed=0, **kw):
    return ic.build_flow(ic.FlowConfig(n_blocks=2, hidden=(32, 32), seed=seed, **kw))


DATA = ic.datasets.sample("moons", 2000, seed=0)


def test_metrics_have_the_promised_keys_and_sense():
    trainer = ic.Trainer(small(), DATA, lr=3e-3, batch_size=200, seed=0)
    m = trainer.step(30)
    for key in (
        "step",
        "loss",
        "train_nll",
        "test_nll",
        "grad_norm",
        "lip",
        "steps_per_s",
        "skipped",
    ):
        assert key in m
    assert m["step"] == 30 and m["skipped"] == 0
    assert 0 < m["lip"] < 1
    assert m["steps_per_s"] > 0
    # The reported test NLL is the exact one on the held-out points, of the averaged weights.
    with torch.no_grad():
        exact = -trainer.eval_flow.eval().log_prob(trainer.test_x[:2000]).mean().item()
    assert m["test_nll"] == pytest.approx(exact, abs=1e-5)
    assert len(trainer.test_x) == 400 and len(trainer.train_x) == 1600


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["exact", "series", "hutchinson", "roulette"])
def test_every_estimator_trains(mode):
    trainer = ic.Trainer(
        small(logdet=mode, n_terms=5), DATA, lr=5e-3, batch_size=200, seed=0, eval_every_s=0
    )  # evaluated after every call: not only once a second of (machine-dependent) training
    before = trainer.step(1)["test_nll"]
    after = trainer.step(200)["test_nll"]
    assert after < before - 0.15


@pytest.mark.slow
def test_same_seed_same_run():
    runs = []
    for _ in range(2):
        trainer = ic.Trainer(small(logdet="hutchinson"), DATA, lr=3e-3, batch_size=100, seed=7)
        trainer.step(20)
        runs.append(torch.cat([p.detach().ravel() for p in trainer.flow.parameters()]))
    assert torch.equal(runs[0], runs[1])
    other = ic.Trainer(small(logdet="hutchinson"), DATA, lr=3e-3, batch_size=100, seed=8)
    other.step(20)
    assert not torch.equal(
        runs[0], torch.cat([p.detach().ravel() for p in other.flow.parameters()])
    )


def test_learning_rate_applies_live_without_reset():
    trainer = ic.Trainer(small(), DATA, lr=1e-3, seed=0)
    trainer.step(5)
    state = {k: v["exp_avg"].clone() for k, v in enumerate(trainer.optimizer.state.values())}
    trainer.set_lr(1e-2)
    assert trainer.lr == 1e-2 and trainer.step_count == 5
    assert all(
        torch.equal(state[k], v["exp_avg"]) for k, v in enumerate(trainer.optimizer.state.values())
    )
    with pytest.raises(ValueError):
        trainer.set_lr(-1)


def _max_move(trainer: ic.Trainer, steps: int = 1) -> float:
    before = [p.detach().clone() for p in trainer.flow.parameters()]
    for _ in range(steps):
        assert trainer._one_step()[2] is None
    return max(
        float((p.detach() - b).abs().max()) for p, b in zip(trainer.flow.parameters(), before)
    )


def test_warmup_bounds_adams_first_steps_on_trained_weights():
    # Adam's first update is lr * m / (sqrt(v) + eps) = lr * sign(g) (up to eps): every weight
    # moves by about lr, whatever its gradient. The warm-up's step k (1-based) is at most lr * k /
    # warmup.
    trained = small()
    ic.Trainer(trained, DATA, lr=1e-2, seed=0).step(100)
    state = {k: v.clone() for k, v in trained.state_dict().items()}
    lr = 2e-2
    cold = ic.Trainer(trained, DATA, lr=lr, seed=1, lr_decay=None)  # the subject: the warm-up
    assert _max_move(cold) == pytest.approx(lr, rel=1e-3)  # the jolt the warm-up prevents
    trained.load_state_dict(state)
    warm = ic.Trainer(trained, DATA, lr=lr, seed=1, warmup=10, lr_decay=None)
    assert lr / 10 * 0.99 < _max_move(warm) <= lr / 10 * (1 + 1e-5)
    _max_move(warm)
    assert warm.lr == lr and warm.optimizer.param_groups[0]["lr"] == pytest.approx(lr * 2 / 10)
    warm.set_lr(1e-2)  # a live change during the warm-up keeps the ramp
    warm._one_step()
    assert warm.lr == 1e-2 and warm.optimizer.param_groups[0]["lr"] == pytest.approx(1e-2 * 3 / 10)
    _max_move(warm, 7)
    assert warm.optimizer.param_groups[0]["lr"] == 1e-2  # ramp done after 10 updates
    warm.set_lr(3e-3)
    assert warm.optimizer.param_groups[0]["lr"] == 3e-3
    with pytest.raises(ValueError, match="warmup"):
        ic.Trainer(small(), DATA, warmup=-1)


def test_step_size_decays_as_lr_over_root_of_one_plus_t_over_tau():
    # Adam's first update moves every weight by about its step size (sign(g), as above), so the
    # step the optimiser takes, not only the number in its param group, follows the schedule.
    lr, tau = 4e-2, 8
    flow = small()
    ic.Trainer(flow, DATA, lr=1e-3, seed=0).step(1)  # ActNorm's data-dependent start, done once
    trainer = ic.Trainer(flow, DATA, lr=lr, seed=0, lr_decay=tau)
    assert _max_move(trainer) == pytest.approx(lr, rel=1e-3)  # t = 0
    trainer.step(23)  # t = 24 after these
    assert trainer.step_size == pytest.approx(lr / math.sqrt(1 + 24 / tau))
    m = trainer.step(1)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(
        lr / 2
    )  # the 25th update: t = 24
    assert m["lr"] == lr and m["step_size"] == pytest.approx(lr / math.sqrt(1 + 25 / tau))
    trainer.set_lr(1e-2)  # a live change moves the whole curve, the clock runs on
    assert trainer.step_size == pytest.approx(1e-2 / math.sqrt(1 + 25 / tau))
    # A resumed trainer starts where its weights' training left off, warm-up and decay together.
    resumed = ic.Trainer(flow, DATA, lr=lr, seed=0, lr_decay=tau, decay_from=3 * tau, warmup=4)
    assert resumed.step_size == pytest.approx(lr / 2 / 4)
    assert resumed.decayed_lr == pytest.approx(lr / 2) and resumed.warmup_left == 4
    assert _max_move(resumed) == pytest.approx(lr / 2 / 4, rel=1e-3)
    resumed.step(3)
    assert resumed.warmup_left == 0 and resumed.step_size == resumed.decayed_lr
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(
        lr / math.sqrt(4 + 3 / tau)
    )  # ramp done
    constant = ic.Trainer(small(), DATA, lr=lr, seed=0, lr_decay=None)
    constant.step(30)
    assert constant.step_size == constant.optimizer.param_groups[0]["lr"] == lr
    # the default is the model's own schedule
    default = ic.Trainer(small(), DATA, seed=0)
    assert (
        default.lr == ic.DEFAULT_LR["iresnet"]
        and default.lr_decay == ic.DEFAULT_LR_DECAY["iresnet"]
    )
    for bad in (0, -1.0, math.nan, "10"):
        with pytest.raises(ValueError, match="lr_decay"):
            ic.Trainer(small(), DATA, lr_decay=bad)
    with pytest.raises(ValueError, match="decay_from"):
        ic.Trainer(small(), DATA, lr_decay=10, decay_from=-1)


def test_clip_grad_norm_is_the_global_norm_and_clips_to_it():
    from iresnet_core.training.trainer import clip_grad_norm

    gen = torch.Generator().manual_seed(0)
    grads = [
        torch.randn(5, 3, generator=gen),
        torch.randn(7, generator=gen),
        torch.randn(2, 2, 2, generator=gen),
    ]
    exact = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads))
    kept = [g.clone() for g in grads]
    assert clip_grad_norm(grads, exact * 1.01) == pytest.approx(exact, rel=1e-6)
    assert all(torch.equal(g, k) for g, k in zip(grads, kept))  # under the bound: untouched
    assert clip_grad_norm(grads, None) == pytest.approx(exact, rel=1e-6)
    assert clip_grad_norm(grads, 1.0) == pytest.approx(exact, rel=1e-6)  # the norm before clipping
    after = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads))
    assert after == pytest.approx(1.0, rel=1e-5)
    assert all(
        torch.allclose(g, k / exact, rtol=1e-5) for g, k in zip(grads, kept)
    )  # one common scale
    grads[1][0] = math.inf
    before = [g.clone() for g in grads]
    assert clip_grad_norm(grads, 1.0) == math.inf  # reported, nothing scaled (the step is skipped)
    assert all(torch.equal(g, b) for g, b in zip(grads, before))
    assert clip_grad_norm([], 1.0) == 0.0


def test_non_finite_steps_are_skipped_and_the_last_good_model_kept():
    trainer = ic.Trainer(small(), DATA, lr=1e-3, seed=0, max_bad_steps=5)
    trainer.step(3)
    good = [p.detach().clone() for p in trainer.flow.parameters()]
    # Poison the data: every batch now has an infinite loss.
    trainer.train_x = trainer.train_x * float("inf")
    m = trainer.step(10)
    assert m["skipped"] == 5 and m["step"] == 3
    assert "non-finite" in m["skip_reason"]
    assert trainer.paused_reason and "paused" in trainer.paused_reason
    for p, g in zip(trainer.flow.parameters(), good):
        assert torch.equal(p.detach(), g)
    assert trainer.step(3)["steps"] == 0  # paused: nothing runs until resume()
    trainer.resume()
    assert trainer.paused_reason is None


def test_huge_learning_rate_never_produces_non_finite_weights():
    flow = small(coeff=None)
    trainer = ic.Trainer(flow, DATA * 50, lr=10.0, batch_size=50, seed=0, max_bad_steps=1000)
    trainer.step(60)
    assert all(torch.isfinite(p).all() for p in flow.parameters())


def test_a_non_finite_update_is_rolled_back_with_adams_state():
    """Unclipped gradients can overflow Adam's moments: such a step is undone, moments included."""
    trainer = ic.Trainer(small(), DATA, lr=1e-3, seed=0, clip_grad=None)
    trainer.step(2)
    params = [p for p in trainer.flow.parameters()]
    before = [p.detach().clone() for p in params]
    opt_params = trainer.optimizer.param_groups[0]["params"]
    moments = [{k: v.clone() for k, v in trainer.optimizer.state[p].items()} for p in opt_params]
    real_step = trainer.optimizer.step

    def poisoned_step():
        real_step()
        with torch.no_grad():
            params[0].fill_(float("nan"))

    trainer.optimizer.step = poisoned_step
    m = trainer.step(1)
    assert m["skipped"] == 1 and m["skip_reason"] == "non-finite parameters after the update"
    for p, b in zip(params, before):
        assert torch.equal(p.detach(), b)
    for p, mo in zip(opt_params, moments):
        assert all(torch.equal(trainer.optimizer.state[p][k], v) for k, v in mo.items())
    trainer.optimizer.step = real_step
    assert trainer.step(1)["skipped"] == 0


def test_time_budgeted_burst_stops_at_its_budget(monkeypatch):
    """``run_for(s)`` steps until ``s`` seconds have passed, then stops; at least one step. The
    clock is the test's: each step takes exactly 0.1 s of it, whatever the machine's load."""
    from iresnet_core.training import trainer as trainer_module

    now = [100.0]
    monkeypatch.setattr(trainer_module, "time", SimpleNamespace(perf_counter=lambda: now[0]))
    trainer = ic.Trainer(small(), DATA, seed=0)
    real_step = trainer._one_step

    def step_of_a_tenth():
        now[0] += 0.1
        return real_step()

    monkeypatch.setattr(trainer, "_one_step", step_of_a_tenth)
    m = trainer.run_for(0.35)  # 0.1, 0.2, 0.3 < 0.35; the fourth step ends past the budget
    assert m["steps"] == 4 and m["step"] == trainer.step_count == 4
    assert trainer.wall_time == pytest.approx(0.4) and m["steps_per_s"] == pytest.approx(10.0)
    assert trainer.run_for(0.0)["steps"] == 1  # a budget of nothing still takes one step
    assert trainer.run_for(1.0, max_steps=3)["steps"] == 3  # the step cap comes first


def test_bad_data_is_refused():
    flow = small()
    with pytest.raises(ValueError, match="shape"):
        ic.Trainer(flow, np.zeros((10, 3)))
    with pytest.raises(ValueError, match="NaN"):
        ic.Trainer(flow, np.full((10, 2), np.nan))
    with pytest.raises(ValueError, match="batch_size"):
        ic.Trainer(flow, DATA, batch_size=0)


def test_history_is_bounded_and_keeps_the_newest():
    h = History(("step", "v"), max_points=50)
    for i in range(10_000):
        h.append(step=i, v=i)
    assert len(h) <= 50
    assert h["step"][-1] == 9999 and h["step"][0] == 0
    assert h["step"] == sorted(h["step"])


def test_trainer_history_grows_per_call():
    trainer = ic.Trainer(small(), DATA, seed=0, history_points=10, eval_every_s=0)
    for _ in range(30):
        trainer.step(1)
    assert len(trainer.history) <= 10
    assert trainer.history["step"][-1] == 30
    assert math.isfinite(trainer.history["test_nll"][-1])


def test_evaluation_can_be_throttled_for_live_views():
    trainer = ic.Trainer(small(), DATA, seed=0, eval_every_s=3600)
    first = trainer.step(2)
    later = trainer.step(2)
    assert first["eval_step"] == 2 and later["eval_step"] == 2 and later["step"] == 4
    assert later["test_nll"] == first["test_nll"]  # the last evaluation, labelled by its step
    assert ic.Trainer(small(), DATA, seed=0).step(2)["eval_step"] == 2


def test_batch_size_changes_live():
    trainer = ic.Trainer(small(), DATA, seed=0, batch_size=100)
    trainer.step(1)
    trainer.set_batch_size(7)
    assert trainer.batch_size == 7 and trainer.step(1)["step"] == 2
    with pytest.raises(ValueError):
        trainer.set_batch_size(0)


def test_estimator_switches_live_and_refuses_architecture_changes():
    flow = small()
    before = [p.detach().clone() for p in flow.parameters()]
    flow.set_estimator(logdet="series", n_terms=9)
    assert flow.cfg.logdet == "series" and all(
        getattr(b, "cfg", flow.cfg).n_terms == 9 for b in flow.layers
    )
    assert all(torch.equal(a, b) for a, b in zip(before, flow.parameters()))
    with pytest.raises(ValueError, match="only"):
        flow.set_estimator(coeff=0.5)
