"""AppTest of the Playground's record panel: "Record the next N steps" pauses Play, trains through
the page's own Playground, and leaves the files it recorded for the download buttons."""

from __future__ import annotations

import imageio.v3 as iio
from streamlit.testing.v1 import AppTest

from dashboard.animation import frame_count, html_frame_count
from dashboard.views.playground import STATE_KEY
from dashboard.views.recording import RESULT_KEY
from tests.support import APP

SMALL = {"blocks": "2", "width": "16", "grid": "100", "pretrained": "false"}


def test_record_the_next_steps_from_the_page():
    at = AppTest.from_file(APP, default_timeout=300)
    for k, v in SMALL.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception
    pg = at.session_state[STATE_KEY]
    at.number_input(key="rec_steps").set_value(5)
    at.number_input(key="rec_every").set_value(2)
    at.run()
    button = at.button(key="rec_go")
    assert button.label.startswith("Record the next 5 steps (4 frames)")
    pg.playing = True  # the button pauses Play before it records
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not pg.playing
    assert [r.step for r in pg.shown_runs] == [5, 5]  # the page's own models trained on
    result = at.session_state[RESULT_KEY]
    assert result["frames"] == frame_count(5, 2) == 4 and result["steps"] == (0, 5)
    files = result["files"]
    assert set(files) == {"gif", "mp4", "html"}
    assert iio.imread(files["gif"], index=None, extension=".gif").shape[0] == 4
    assert html_frame_count(files["html"]) == 4
    assert any("Recorded steps 0–5" in c.value for c in at.caption)
