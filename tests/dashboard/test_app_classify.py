"""AppTest of the Classifier page (issue 5): it runs, Table 1 fills for a reduced setting, c moves
the boundary."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from dashboard.views.classify import TABLE_KEY
from tests.support import assert_clean, open_app

APP = str(Path(__file__).resolve().parent / "apps" / "classify_page.py")
SMALL = {
    "clf_blocks": "2",
    "clf_width": "16",
    "clf_steps": "50",
}  # tiny models keep each run short


def _app(timeout: float = 120, **query) -> AppTest:
    return open_app(APP, timeout, **{**SMALL, **query})


def _specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _boundary_z(at: AppTest) -> str:
    return json.dumps(_specs(at)[0]["data"][0]["z"])


def test_page_runs_and_draws_boundary_and_warped_grid():
    at = _app()
    assert_clean(at)
    specs = _specs(at)
    assert len(specs) == 2
    assert specs[0]["layout"]["title"]["text"].startswith("Decision boundary (c=0.9)")
    assert (
        specs[0]["data"][0]["type"] == "heatmap"
        and specs[0]["data"][1]["name"] == "boundary p = 0.5"
    )
    names = {d.get("name") for d in specs[0]["data"]}
    assert {"class 0 (train)", "class 1 (test)"} <= names
    assert "warped" in specs[1]["layout"]["title"]["text"]
    labels = {m.label: m.value for m in at.metric}
    assert labels["Guaranteed inverse"] == "Yes" and labels["Folds (det J ≤ 0)"] == "0.0%"
    cfg = json.loads(at.get("plotly_chart")[0].proto.config)
    assert cfg["toImageButtonOptions"]["scale"] == 2
    assert cfg["toImageButtonOptions"]["filename"].startswith("moons_classifier_c=0.9_dim=2")
    dl = [d.label for d in at.get("download_button")]
    assert dl.count("⬇ HTML") == 2 and dl.count("⬇ CSV") == 2
    assert not at.dataframe  # the table waits for the button


def test_table1_fills_for_a_reduced_setting():
    at = _app(clf_steps="25", clf_dataset="xor", clf_dim="3")
    assert_clean(at)
    at.button(key="clf_fill").click().run()
    assert_clean(at)
    rows = at.session_state[TABLE_KEY]["rows"]
    assert [r["setting"] for r in rows] == ["vanilla", "c=0.9", "c=0.8", "c=0.7", "c=0.6", "c=0.5"]
    assert [r["guaranteed_inverse"] for r in rows] == ["No"] + ["Yes"] * 5
    assert all(r["reconstruction_error"] < 1e-4 and r["fold_share"] == 0 for r in rows[1:])
    df = at.dataframe[0].value
    assert (
        len(df) == 6
        and "Recon. error (100 it)" in df.columns
        and "Folds % (det J ≤ 0)" in df.columns
    )
    assert len(_specs(at)) == 3  # boundary, warped grid, Table 1 bars
    # a rerun shows the same table from the cache, without pressing again
    at.run()
    assert_clean(at)
    assert len(at.dataframe[0].value) == 6


def test_moving_c_changes_the_boundary():
    at = _app()
    before = _boundary_z(at)
    at.slider(key="clf_c").set_value(0.5).run()
    assert_clean(at)
    after = _boundary_z(at)
    assert after != before
    assert _specs(at)[0]["layout"]["title"]["text"].startswith("Decision boundary (c=0.5)")
    at.toggle(key="clf_free").set_value(True).run()
    assert_clean(at)
    assert _specs(at)[0]["layout"]["title"]["text"].startswith("Decision boundary (vanilla)")
    assert _boundary_z(at) != after


def test_the_url_sets_up_the_page():
    at = _app(clf_c="0.7", clf_dataset="circles", clf_dim="3")
    assert_clean(at)
    assert (
        at.slider(key="clf_c").value == 0.7 and at.selectbox(key="clf_dataset").value == "circles"
    )
    title = _specs(at)[1]["layout"]["title"]["text"]
    assert "first 2 of 3 coordinates" in title
    assert _specs(at)[0]["layout"]["title"]["text"].startswith("Decision boundary (c=0.7)")


def test_presentation_mode_hides_downloads_and_the_seed():
    at = _app(presentation="true")
    assert_clean(at)
    assert not at.get("download_button")
    assert len(_specs(at)) == 2
    assert not [n for n in at.number_input if n.key == "clf_seed"]
