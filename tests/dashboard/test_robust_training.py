"""Diverging runs never break the Playground, and long runs stay bounded (issue 7, items 2 and 4).

* Learning rates up to 10, c = 0.99 with N = 1 (series), the unconstrained network, a batch of
  one: AppTest sessions press Play and Step; no exception ever reaches the page, non-finite steps
  are skipped, counted and shown, and after the configured number of bad steps in a row training
  pauses with a visible message and keeps the last good (finite) model.
* Histories, warnings and views stay bounded over many ticks (the soak in
  ``benchmarks/soak.py`` measures the server's memory itself).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

import dashboard.state as state
from dashboard.state import MAX_WARNINGS, Playground, Settings
from dashboard.views.playground import STATE_KEY
from tests.support import APP, open_app

TINY = {"blocks": "2", "width": "16", "pretrained": "false"}


def _app(**query) -> AppTest:
    return open_app(APP, 120, **{**TINY, **query})


def _finite(flow) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in flow.parameters())


def _play_until_paused(at: AppTest, max_runs: int = 10) -> None:
    at.button(key="play").click().run()
    for _ in range(max_runs):
        assert not at.exception, [e.value for e in at.exception]
        if not at.session_state[STATE_KEY].playing:
            return
        at.run()


CASES = [
    pytest.param(
        {"lr": "10", "unconstrained": "true", "models": "i-ResNet"}, True, id="lr10-unconstrained"
    ),
    pytest.param(  # the same on the torch engine (the default is the C kernel)
        {"lr": "10", "unconstrained": "true", "models": "i-ResNet", "engine": "torch"},
        True,
        id="lr10-unconstrained-torch",
    ),
    pytest.param({"lr": "10", "glow_lr": "10", "models": "Both"}, True, id="lr10-both"),
    pytest.param({"glow_lr": "10", "batch": "1", "models": "Glow"}, True, id="lr10-batch1-glow"),
    pytest.param(
        {"c": "0.99", "N": "1", "estimator": "series", "lr": "1", "models": "i-ResNet"},
        None,
        id="c0.99-N1-series",
    ),
    pytest.param(
        {"batch": "1", "lr": "1", "unconstrained": "true", "models": "i-ResNet"},
        None,
        id="batch1-unconstrained",
    ),
]


@pytest.mark.parametrize("query,must_pause", CASES)
def test_divergence_never_shows_a_traceback(query, must_pause):
    at = _app(max_bad="5", **query)
    assert not at.exception
    pg = at.session_state[STATE_KEY]
    assert pg.settings.max_bad == 5 and all(r.trainer.max_bad_steps == 5 for r in pg.shown_runs)
    assert pg.settings.engine == query.get("engine", "C kernel")  # the default unless asked
    at.button(key="step").click().run()  # Step, then Play
    assert not at.exception
    _play_until_paused(at)
    assert not at.exception
    pg = at.session_state[STATE_KEY]
    for run in pg.shown_runs:
        assert _finite(run.flow), "the kept model must be the last good (finite) one"
        assert np.isfinite(pg.view(run).density).all()
    skipped = sum(r.skipped for r in pg.shown_runs)
    captions = " ".join(c.value for c in at.caption)
    if skipped:  # skipped steps are counted and shown
        assert re.search(r"[\d,]+ non-finite steps skipped", captions), captions
    if must_pause:
        assert not pg.playing and at.button(key="play").label == "Play"
        warnings = [w.value for w in at.warning]
        assert any(
            "paused" in w and "5 steps in a row" in w and "last good model is kept" in w
            for w in warnings
        ), warnings
        assert any(r.trainer.paused_reason for r in pg.shown_runs)
        assert len(at.get("plotly_chart")) == 3 * len(
            pg.shown_runs
        )  # the last good model is still drawn


def test_the_number_of_bad_steps_is_configurable_and_live():
    """max_bad applies without a reset; a lower learning rate and Play again resume training."""
    at = _app(lr="10", unconstrained="true", models="i-ResNet")
    run = at.session_state[STATE_KEY].runs["iresnet"]
    at.number_input(key="max_bad").set_value(2).run()
    assert not at.exception
    assert at.session_state[STATE_KEY].runs["iresnet"] is run and run.trainer.max_bad_steps == 2
    assert not [i.value for i in at.info if "reset" in i.value]
    _play_until_paused(at)
    assert any("2 steps in a row" in w.value for w in at.warning)
    before = [p.detach().clone() for p in run.flow.parameters()]
    at.button(key="step").click().run()  # Step on a paused model does nothing, says nothing new
    assert not at.exception and all(
        torch.equal(a, b) for a, b in zip(before, run.flow.parameters())
    )
    at.select_slider(key="lr").set_value(1e-3).run()  # a sane learning rate resumes it
    assert not at.exception and run.trainer.paused_reason is None
    assert not any("paused" in w.value for w in at.warning)
    at.number_input(key="max_bad").set_value(1000).run()
    n, skipped = run.step, run.trainer.skipped_total
    at.button(key="play").click().run()
    at.run()
    # Training runs again: steps land, or (if lr 10 left the weights beyond repair) are tried and
    # counted as skipped; either way it is no longer paused.
    assert not at.exception and (run.step > n or run.trainer.skipped_total > skipped)


def test_histories_and_warnings_stay_bounded_over_many_ticks(monkeypatch):
    import iresnet_core.training.trainer as train

    monkeypatch.setattr(state, "EVAL_EVERY_S", 0.0)  # a history row after every tick
    monkeypatch.setattr(train, "EVAL_POINTS", 100)  # cheap evaluations: this test is about lengths
    pg = Playground(
        Settings(models="iresnet", blocks=1, width=16, grid=100, pretrained=False, batch=64)
    )
    for run in pg.shown_runs:
        run.trainer.history.max_points = 16
    for _ in range(120):
        pg.step(1)
    for run in pg.shown_runs:
        h = run.history
        assert 8 <= len(h["step"]) <= 16
        assert all(len(v) == len(h["step"]) for v in h.values())
        steps = h["step"]
        assert (
            steps[0] == 1 and steps[-1] == run.step == 120
        )  # the start kept (coarse), the end exact
        assert all(b > a for a, b in zip(steps, steps[1:]))
        assert steps[-1] - steps[-2] == 1  # the recent part at full resolution
    # repeated pauses and resumes never pile up warnings
    pg = Playground(
        Settings(
            models="both",
            blocks=1,
            width=16,
            grid=100,
            pretrained=False,
            lr=10.0,
            unconstrained=True,
            max_bad=1,
        )
    )
    for _ in range(15):
        pg.tick(0.02)
        pg.resume()
        pg._warn(f"something else {_}")
    assert len(pg.warnings) <= MAX_WARNINGS


def test_session_state_does_not_grow_while_playing():
    at = _app(models="Both", speed="slow motion")
    at.button(key="play").click().run()
    at.run()
    keys = set(at.session_state)
    pg = at.session_state[STATE_KEY]
    views = {m: r.view for m, r in pg.runs.items()}
    for _ in range(12):
        at.run()
    assert not at.exception
    assert set(at.session_state) == keys
    pg = at.session_state[STATE_KEY]
    assert len(pg.notes) == 0 and len(pg.warnings) <= MAX_WARNINGS and len(pg.runs) == 2
    assert all(r.step >= 12 for r in pg.shown_runs)
    assert all(r.view is not views[m] or r.view.key == views[m].key for m, r in pg.runs.items())
