"""AppTest of the three lens pages (inverse, log-determinant, Lipschitz): they run, their charts
follow c / N / the iterations, the unconstrained case says so in words, and they pick up the
Playground's model when the session has one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import iresnet_core as ic
from dashboard import lens_model
from dashboard.views import logdet as logdet_view
from tests.support import assert_clean, open_app

APPS = Path(__file__).resolve().parent / "apps"


@pytest.fixture(autouse=True)
def _cheap_cost(monkeypatch):
    # the cost chart times every estimator once per architecture: two N are enough for a test
    monkeypatch.setattr(logdet_view, "COST_NS", (1, 5))


def _app(page: str, **query) -> AppTest:
    return open_app(APPS / f"{page}_app.py", 240, **query)


def _specs(at: AppTest) -> list[str]:
    return [c.proto.spec for c in at.get("plotly_chart")]


def _changed(before: list[str], after: list[str]) -> int:
    return sum(a != b for a, b in zip(before, after))


def test_inverse_page_follows_c_and_iterations_and_warns_when_unconstrained():
    at = _app("inverse")
    assert_clean(at)
    specs = _specs(at)
    assert len(specs) == 3
    conv = json.loads(specs[0])
    assert conv["layout"]["yaxis"]["type"] == "log"
    assert any(t.get("line", {}).get("dash") == "dash" for t in conv["data"])  # Banach bounds
    names = " ".join(t.get("name", "") for t in conv["data"])
    for c in ("c=0.5", "c=0.7", "c=0.9", "c=0.99"):
        assert c in names
    cfg = json.loads(at.get("plotly_chart")[0].proto.config)
    assert cfg["toImageButtonOptions"]["filename"].startswith("8gaussians_inverse_convergence")
    assert len(at.dataframe) == 1 and "whole flow" in at.dataframe[0].value.columns
    assert not at.warning
    at.sidebar.slider(key="inv_c").set_value(0.8).run()
    assert_clean(at)
    moved = _specs(at)
    assert _changed(specs, moved) == 3  # current curve, whole flow, heatmap
    at.sidebar.slider(key="inv_n").set_value(12).run()
    assert_clean(at)
    assert _changed(moved, _specs(at)) == 3
    at.sidebar.toggle(key="inv_free").set_value(True).run()
    assert_clean(at)
    assert any("No guarantee" in w.value for w in at.warning)
    assert "unconstrained" in " ".join(at.dataframe[0].value["c"])


@pytest.mark.filterwarnings(
    "error::RuntimeWarning"
)  # diverged draws are reported, not averaged into NaN
def test_logdet_page_follows_c_and_n_and_warns_when_unconstrained():
    at = _app("logdet")
    assert_clean(at)
    specs = _specs(at)
    assert len(specs) == 5
    trunc = json.loads(specs[0])
    assert trunc["layout"]["yaxis"]["type"] == "log"
    assert any(
        t.get("line", {}).get("dash") == "dash" and t["name"].startswith("bound")
        for t in trunc["data"]
    )
    at.sidebar.slider(key="ld_N").set_value(10).run()
    assert_clean(at)
    moved = _specs(at)
    assert (
        _changed(specs, moved) >= 4
    )  # N marker, draws, heatmap (the cost chart only moves its marker)
    at.sidebar.slider(key="ld_c").set_value(0.6).run()
    assert_clean(at)
    assert _changed(moved, _specs(at)) >= 4
    at.sidebar.slider(key="ld_probes").set_value(3).run()
    at.sidebar.radio(key="ld_probe").set_value("rademacher").run()
    assert_clean(at)
    at.sidebar.toggle(key="ld_free").set_value(True).run()
    assert_clean(at)
    assert any("No guarantee" in w.value for w in at.warning)


def test_estimator_summary_counts_diverged_draws():
    from dashboard.views.logdet import mean_sd

    assert mean_sd(np.array([1.0, 3.0])) == ("2.000", "± 1.000 sd")
    assert mean_sd(np.array([1.0, np.nan, 3.0, np.inf])) == (
        "2.000",
        "± 1.000 sd; 2 of 4 diverged",
    )
    assert mean_sd(np.full(5, np.nan)) == ("diverged", "all 5 draws")
    assert mean_sd(np.array([9e10, 1.1e11])) == (
        "1.000e+11",
        "± 1.000e+10 sd",
    )  # fits a metric box


def test_numbers_switch_to_scientific_notation_when_large():
    from dashboard.views.logdet import number

    assert number(10.40271, 4) == "10.4027" and number(-0.5, sign=True) == "-0.500"
    assert number(90125625694.5, 4) == "9.013e+10" and number(2e6, sign=True) == "+2.000e+06"
    assert number(float("nan")) == "nan"


def test_lipschitz_page_follows_c_and_iterations_and_marks_folds():
    at = _app("lipschitz")
    assert_clean(at)
    specs = _specs(at)
    assert len(specs) == 4
    power = json.loads(specs[0])
    assert power["layout"]["yaxis2"]["type"] == "log"
    at.sidebar.slider(key="lip_k").set_value(25).run()
    assert_clean(at)
    moved = _specs(at)
    assert moved[0] != specs[0]
    at.sidebar.slider(key="lip_c").set_value(0.5).run()
    assert_clean(at)
    assert _changed(moved, _specs(at)) >= 3
    at.sidebar.toggle(key="lip_free").set_value(True).run()
    assert_clean(at)
    # the pre-trained 8gaussians model folds the plane once the constraint is off
    assert any("folds the plane" in w.value for w in at.warning)
    warp = json.loads(_specs(at)[1])
    assert any(t.get("name") == "det J ≤ 0 (fold)" for t in warp["data"])


def test_lens_pages_use_the_playground_model_and_fresh_models():
    from dashboard.state import Playground, Settings

    pg = Playground(
        Settings(dataset="moons", models="iresnet", blocks=2, width=16, pretrained=False)
    )
    at = AppTest.from_file(str(APPS / "lipschitz_app.py"), default_timeout=240)
    at.session_state[lens_model.PLAYGROUND_KEY] = pg
    at.run()
    assert_clean(at)
    assert "Playground" in " ".join(c.value for c in at.caption)
    assert at.sidebar.radio(key="model").value == "playground"
    at.sidebar.radio(key="model").set_value("fresh").run()
    assert_clean(at)
    assert "fresh" in " ".join(c.value for c in at.caption)
    lm = lens_model.get_model("pretrained", "no-such-set", {})
    assert lm.source in ("pretrained", "fresh") and lm.dataset in ic.datasets.NAMES
