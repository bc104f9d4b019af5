"""The status line's steps/s of Play: the step counter against the wall clock, pauses excluded."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dashboard.play_rate import PlayRate
from dashboard.state import Playground, Settings


def test_rate_is_the_counter_over_the_window():
    r = PlayRate(window_s=2.0)
    assert r.per_s() is None
    for i in range(11):  # 0.5 s apart, 0.25 s of it training: 30 steps per tick early, 10 later
        r.add(0.5 * i, 30 * min(i, 5) + 10 * max(i - 5, 0), 0.25 * i)
    # only the last 2 s (t = 3.0 .. 5.0) count: 10 steps per 0.5 s, per 0.25 s of training
    assert r.per_s() == pytest.approx(20.0)
    assert r.trainer_per_s() == pytest.approx(40.0)
    assert r.points[0][0] == pytest.approx(3.0)


def test_a_pause_or_a_reset_starts_a_new_window():
    r = PlayRate(max_gap_s=1.0)
    r.add(0.0, 0, 0.0)
    r.add(0.6, 12, 0.3)
    assert r.per_s() == pytest.approx(20.0)
    r.add(5.0, 20, 0.4)  # played again after a pause: the pause is not averaged in
    assert r.per_s() is None and r.trainer_per_s() is None
    r.add(5.5, 25, 0.5)
    assert r.per_s() == pytest.approx(10.0)
    assert r.trainer_per_s() == pytest.approx(50.0)
    r.add(5.9, 0, 0.0)  # Reset: a new trainer, the counter went back
    assert len(r.points) == 1
    r.reset()
    assert r.per_s() is None


def test_no_rate_from_too_short_a_span():
    r = PlayRate(min_span_s=0.5)
    r.add(0.0, 0, 0.0)
    r.add(0.1, 5, 0.05)
    assert r.per_s() is None and r.trainer_per_s() is None


@pytest.mark.parametrize(
    "budget,steps",
    [
        ("equal time", [4, 8, 12, 16]),  # each model trains for the budget: four steps a tick
        ("equal steps", [1, 5, 9, 13]),  # one step each first, then as many as fit at 1/64 s
    ],
)
def test_playground_ticks_feed_each_models_rate(monkeypatch, budget, steps):
    """Each tick adds each model's counter at the tick's end and its trainer's training time; the
    rates are the counters over the wall clock and over the training time. The clock is the
    test's (the page's and the trainers'): a step takes 1/64 s of it and a redraw between ticks
    1/2 s, so every number is exact whatever the machine's load."""
    from dashboard import state
    from iresnet_core.training import trainer as trainer_module

    now = [1000.0]
    clock = SimpleNamespace(perf_counter=lambda: now[0])
    monkeypatch.setattr(state, "time", clock)
    monkeypatch.setattr(trainer_module, "time", clock)
    pg = Playground(Settings(models="both", blocks=2, width=16, pretrained=False, budget=budget))
    for run in pg.shown_runs:

        def step(real=run.trainer._one_step):
            now[0] += 1 / 64
            return real()

        monkeypatch.setattr(run.trainer, "_one_step", step)
    pg.playing = True
    ends = []
    for _ in range(4):
        pg.tick(budget_s=4 / 64)
        ends.append(now[0])
        now[0] += 0.5  # a redraw between ticks: Play's rate counts it, the trainer's does not
    for run in pg.shown_runs:
        # the counter after each tick, stamped at the tick's end, with the training time so far
        assert [p[1] for p in run.rate.points] == steps
        assert [p[0] for p in run.rate.points] == pytest.approx(ends, abs=1e-9)
        assert [p[2] for p in run.rate.points] == pytest.approx([n / 64 for n in steps])
        # 12 steps per model between the first and the last tick, each tick 8/64 s of training
        # (both models) and a 1/2 s redraw apart
        assert run.rate.per_s() == pytest.approx(12 / (3 * (8 / 64 + 0.5)), rel=1e-12)
        assert run.rate.trainer_per_s() == pytest.approx(64.0, rel=1e-12)  # 1/64 s a step


def test_while_playing_the_models_redraws_take_turns(monkeypatch):
    """During Play one call recomputes at most one model's view (the older of those past their
    age), so a tick draws one model's density anew and never both; still, every view is at most
    one call later than its age allows. The page's clock is the test's."""
    from dashboard import state, view

    now = [1000.0]
    clock = SimpleNamespace(perf_counter=lambda: now[0])
    monkeypatch.setattr(state, "time", clock)
    monkeypatch.setattr(view, "time", clock)
    pg = Playground(Settings(models="both", blocks=2, width=16, pretrained=False))
    pg.step(1)  # past step 0, whose views are shared and were made by another clock
    first = pg.views(1.0)  # none there yet: both computed
    assert [v.step for v in first] == [1, 1]
    pg.step(1)
    now[0] += 0.5
    assert pg.views(1.0) == first  # younger than their age: reused
    now[0] += 1.0
    turn1 = pg.views(1.0)
    assert sorted(v.step for v in turn1) == [1, 2]  # one model redrawn, the other waits
    now[0] += 0.1
    turn2 = pg.views(1.0)
    assert [v.step for v in turn2] == [2, 2]  # the other's turn
    assert sum(a is not b for a, b in zip(turn1, turn2)) == 1
    now[0] += 0.1
    assert pg.views(1.0) == turn2
    # paused (no age): every view at the current step
    pg.step(1)
    assert [v.step for v in pg.views()] == [3, 3]
