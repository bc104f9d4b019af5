"""AppTest of the Layers page: it runs on the pre-trained models, the depth slider moves the
clouds and the partial densities (and only those), the measured claim is on screen, lifting the
constraint adds the ResNet's marked paths, and it follows the Playground's two models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import lens_model
from dashboard.views import layers as layers_view
from tests.support import assert_clean

APPS = Path(__file__).resolve().parent / "apps"


def _specs(at: AppTest) -> list[str]:
    return [c.proto.spec for c in at.get("plotly_chart")]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_layers_page_follows_the_depth_and_measures_the_claim():
    at = AppTest.from_file(str(APPS / "layers_app.py"), default_timeout=300).run()
    assert_clean(at)
    specs = _specs(at)
    assert len(specs) == 7  # clouds, two densities, animation, paths, roses, movement
    names = [
        json.loads(c.proto.config)["toImageButtonOptions"]["filename"]
        for c in at.get("plotly_chart")
    ]
    assert names[0].startswith("8gaussians_layers_clouds_depth=0.50")
    assert any(n.startswith("8gaussians_layers_animation") for n in names)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Glow: coupling moves along one coordinate"] == "100.0 %"
    assert float(metrics["i-ResNet: blocks' moves along one coordinate"].rstrip(" %")) < 5
    anim = json.loads(specs[3])
    assert len(anim["frames"]) == 33 and anim["layout"]["updatemenus"][0]["buttons"]
    # the depth slider: clouds and the two partial densities follow, the rest stays
    at.slider(key="lay_k").set_value(4).run()
    assert_clean(at)
    moved = _specs(at)
    assert [a != b for a, b in zip(specs, moved)] == [True, True, True] + [False] * 4
    cloud = json.loads(moved[0])
    assert "after block 4 (4/32)" in " ".join(a["text"] for a in cloud["layout"]["annotations"])
    # the constraint lifted: a third panel of paths, folds marked, said in words
    at.sidebar.toggle(key="lay_free").set_value(True).run()
    assert_clean(at)
    paths = json.loads(_specs(at)[4])
    assert "xaxis3" in paths["layout"]
    assert any(t.get("name", "").startswith("fold") for t in paths["data"])
    assert any("fold or crush" in w.value for w in at.warning)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_layers_page_shows_the_playgrounds_two_models():
    from dashboard.state import Playground, Settings

    pg = Playground(Settings(dataset="moons", models="both", blocks=2, width=16, pretrained=False))
    at = AppTest.from_file(str(APPS / "layers_app.py"), default_timeout=300)
    at.session_state[lens_model.PLAYGROUND_KEY] = pg
    at.run()
    assert_clean(at)
    caption = " ".join(c.value for c in at.caption)
    assert "the Playground's i-ResNet" in caption and "the Playground's Glow" in caption
    assert at.slider(key="lay_k").max == 2  # two blocks each
    _, glow = at.session_state["_layers_glow"]["playground"]
    assert glow.flow is pg.runs["glow"].shown


def test_glow_beside_comes_from_where_the_i_resnet_comes_from():
    state: dict = {}
    pre = layers_view.glow_beside(lens_model.get_model("pretrained", "moons", state), state)
    assert pre.label == "the pre-trained Glow for moons" and pre.flow.cfg.model == "glow"
    fresh = layers_view.glow_beside(lens_model.get_model("fresh", "moons", state), state)
    assert "fresh" in fresh.label and fresh.key != pre.key
    again = layers_view.glow_beside(lens_model.get_model("pretrained", "moons", state), state)
    assert again is pre  # kept in the session
