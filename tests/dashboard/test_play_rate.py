"""The status line's steps/s of Play: the step counter against the wall clock, pauses excluded."""

from __future__ import annotations

import doctest
import time

import pytest

from dashboard import play_rate
from dashboard.play_rate import PlayRate
from dashboard.state import Playground, Settings


def test_docstring_example():
    assert doctest.testmod(play_rate).failed == 0


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


def test_playground_ticks_feed_each_models_rate():
    # equal time: each model trains for the tick's budget in a burst of its own
    pg = Playground(
        Settings(models="both", blocks=2, width=16, pretrained=False, budget="equal time")
    )
    pg.playing = True
    seen = []  # (time, steps of each model) after each tick, as the page would read the counter
    for _ in range(4):
        pg.tick(budget_s=0.15)
        seen.append((time.perf_counter(), [run.step for run in pg.shown_runs]))
        time.sleep(0.05)  # a redraw between ticks: Play's rate counts it, the trainer's does not
    (t0, s0), (t1, s1) = seen[0], seen[-1]
    for i, run in enumerate(pg.shown_runs):
        rate = run.rate.per_s()
        assert rate == pytest.approx((s1[i] - s0[i]) / (t1 - t0), rel=0.05)
        # each model trains in its own burst of each tick, so its counter advances at well under
        # half the trainer's own rate, which is its steps over its training time
        own = run.rate.trainer_per_s()
        assert rate < 0.6 * own
        trained = run.rate.points[-1][2] - run.rate.points[0][2]
        assert own == pytest.approx((s1[i] - s0[i]) / trained, rel=1e-9)
        assert 0.45 * 3 * 0.15 < trained < 3 * 0.15 * 2  # three bursts of about 0.15 s counted
