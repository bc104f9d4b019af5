"""The Playground's settings and what follows from them alone."""

from __future__ import annotations

import doctest

import pytest

import iresnet_core as ic
from dashboard import settings
from dashboard.settings import Settings, describe, truncation_bound, what_changed


def test_docstring_example():
    assert doctest.testmod(settings).failed == 0


@pytest.mark.parametrize("n, bound", [(5, 0.945), (10, 0.368), (20, 0.079)])
def test_truncation_bound_at_the_defaults_c(n, bound):
    """DESIGN.md's figures for d = 2, c = 0.9."""
    cfg = Settings(estimator="series", N=n).iresnet_config()
    assert truncation_bound(cfg) == pytest.approx(bound, rel=1e-2)  # DESIGN rounds to 3 decimals


@pytest.mark.parametrize(
    "changes", [dict(estimator="exact"), dict(estimator="roulette"), dict(unconstrained=True)]
)
def test_no_truncation_bound_where_none_applies(changes):
    assert truncation_bound(Settings(**changes).iresnet_config()) is None
    assert truncation_bound(Settings(estimator="series").flow_config("glow")) is None


def test_describe_says_what_the_model_is():
    s = Settings(estimator="hutchinson", N=7, probes=2)
    assert (
        describe(s.iresnet_config(), "moons")
        == "moons · c=0.9 · hutchinson N=7, 2 gaussian probes log-det · 32 × 2-32-32-2 · elu"
    )
    assert describe(s.flow_config("glow"), "moons").startswith(
        "moons · 32 Glow steps, coupling 1-"
    )


def test_what_changed_names_the_fields_since_the_last_note():
    base = Settings()
    moved = base.replace(c=0.85)
    now = moved.replace(c=0.8)
    # a fast slider drag: the note says the whole move since the person last saw one
    assert what_changed(base, moved, now) == "c 0.9 → 0.8"
    # the last note already showed these settings: the change since the last rerun
    assert what_changed(now, moved, now) == "c 0.85 → 0.8"


def test_the_compiled_step_starts_on_where_it_can_and_the_environment_can_turn_it_off(monkeypatch):
    from dashboard.settings import COMPILE_ENV, compiled_by_default

    monkeypatch.delenv(COMPILE_ENV, raising=False)
    monkeypatch.setenv("CXX", "g++")
    assert (
        ic.compiler_missing() is None
    )  # this machine has gcc (the compiled step's tests need it too)
    assert compiled_by_default() is True and Settings().compiled is True
    for off in ("0", "off", "False", " no "):
        monkeypatch.setenv(COMPILE_ENV, off)
        assert compiled_by_default() is False and Settings().compiled is False
    monkeypatch.setenv(COMPILE_ENV, "1")
    monkeypatch.setenv("CXX", "no-such-compiler-here")
    assert ic.compiler_missing() == "no C++ compiler (no-such-compiler-here) on this machine"
    # no C++ compiler, but a C one: the C training kernel still makes the step fast
    assert ic.native.compiler_found() and compiled_by_default() is True
    monkeypatch.setattr(ic.native, "compiler_found", lambda: False)  # and with neither: off
    assert compiled_by_default() is False
