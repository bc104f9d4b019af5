"""AppTest of the Sweeps page: the shipped results fill it, an upload replaces them, a table that
is not a sweep's is refused with a message."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.views.sweeps import REQUIRED, SHIPPED, load_table
from tests.support import assert_clean

APP = str(Path(__file__).resolve().parent / "apps" / "sweeps_page.py")


@pytest.mark.skipif(not SHIPPED.exists(), reason="no shipped sweep results")
def test_the_shipped_results_fill_every_chart_and_the_claims():
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert_clean(at)
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    titles = [s["layout"]["title"]["text"] for s in specs]
    assert len(specs) == 5 and titles[0].startswith("NLL − entropy over c × N")
    assert all(s["data"] for s in specs), "every chart has data from the shipped sweep"
    claims = at.dataframe[0].value
    assert len(claims) == 5 and set(claims["verdict"]) - {"not measured"}
    assert "not measured" not in set(claims["verdict"])
    dl = [d.label for d in at.get("download_button")]
    assert dl.count("⬇ HTML") == 5 and dl.count("⬇ CSV") == 5
    cells = {m.label: m.value for m in at.metric}["Cells"]
    assert int(cells.replace(",", "")) == len(pd.read_parquet(SHIPPED))


def test_the_upload_source_waits_for_a_file():
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["sw_source"] = "Upload a table"
    at.run()
    assert_clean(at)
    assert not at.get("plotly_chart") and "Upload a results table" in at.info[0].value


def test_a_table_that_is_not_a_sweeps_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not a sweep's results table: no column key"):
        load_table(b"a,b\n1,2\n", "points.csv")
    with pytest.raises(ValueError, match="not a readable Parquet"):
        load_table(b"garbage", "results.parquet")
    ok = pd.DataFrame({k: ["x"] for k in REQUIRED}).to_csv(index=False).encode()
    assert list(load_table(ok, "results.csv").columns) == list(REQUIRED)
