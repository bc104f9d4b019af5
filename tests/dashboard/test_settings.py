"""The Playground's settings and what follows from them alone."""

from __future__ import annotations

import pytest

from dashboard.control_list import read_link
from dashboard.settings import Settings, describe, truncation_bound, what_changed


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


def test_the_c_engine_is_the_default_and_a_link_can_ask_for_torch():
    assert Settings().engine == "C kernel" and Settings().native
    values, notes = read_link({"engine": "TORCH"})
    assert values == {"engine": "torch"} and notes == []
    assert not Settings(engine="torch").native


@pytest.mark.parametrize(
    "params, values, note",
    [
        ({"models": "iresnet"}, {"models": "i-ResNet"}, None),
        ({"models": "I-RESNET"}, {"models": "i-ResNet"}, None),
        ({"Dataset": "Moons"}, {"dataset": "moons"}, None),
        ({"c": "5"}, {"c": 0.99}, "c=5 is above 0.99: using 0.99."),
        ({"c": "0.001"}, {"c": 0.05}, "c=0.001 is below 0.05: using 0.05."),
        ({"blocks": "100000"}, {"blocks": 64}, "blocks=100000 is above 64: using 64."),
        ({"blocks": "2.5"}, {"blocks": 2}, "blocks=2.5 is not a whole number: using 2."),
        ({"lr": "abc"}, {"lr": 0.01}, "lr=abc is not a number: using 0.01."),
        ({"lr": "0.05"}, {"lr": 0.06}, "lr=0.05 is not one of the choices: using 0.06."),
        ({"width": "100"}, {"width": 128}, "width=100 is not one of the choices: using 128."),
        ({"average": "no"}, {"average": False}, None),
        (
            {"average": "maybe"},
            {"average": True},
            "average=maybe is not true or false: using True.",
        ),
        ({"estimator": "magic"}, {"estimator": "exact"}, "estimator=magic is not one of"),
    ],
)
def test_links_accept_tokens_and_labels_and_clamp_out_of_range_values_with_a_note(
    params, values, note
):
    got, notes = read_link(params)
    assert got == values
    if note is None:
        assert notes == []
    else:
        assert len(notes) == 1 and notes[0].startswith(note)


def test_every_control_s_default_reads_back_from_its_own_link():
    """A link written by the controls themselves opens the same settings, with no note."""
    from dashboard.control_list import PLAYGROUND

    for c in PLAYGROUND:
        raw = c.fmt(c.default) if c.widget == "select_slider" else str(c.default)
        value, note = c.parse(raw.lower() if c.widget == "toggle" else raw)
        assert note is None and value == c.default, (c.key, raw, value, note)
