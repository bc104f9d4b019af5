"""The animation export and the drawing canvas in a real browser (headless Debian Chromium).

Record: press Play, then "Record the next N steps"; the progress bar runs (unless the recording
is over before the browser looks), and the GIF and HTML that come back hold the frames asked
for. Draw: two strokes on the canvas under the CSV upload, "Use this drawing", and both models
reset onto the drawn points and train on them.
"""

from __future__ import annotations

import math
import re

import imageio.v3 as iio
import pytest

from dashboard.animation import frame_count, html_frame_count
from tests.browser.test_browser import SHOTS, _wait_ready, browser, server  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.timeout(900)
def test_record_the_next_steps_gives_a_gif_and_an_html_with_the_frames(server, browser):  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
    page.goto(server, wait_until="domcontentloaded")
    _wait_ready(page, 6)
    panel = page.get_by_text("Record the training as an animation")
    panel.scroll_into_view_if_needed()
    panel.click()
    steps = page.get_by_label("Steps to record")
    steps.fill("12")
    steps.press("Enter")
    page.get_by_role("button", name=re.compile(r"Record the next 12 steps")).wait_for()
    page.get_by_role("button", name=re.compile("Play")).click()  # recording pauses Play
    page.wait_for_timeout(2000)
    page.get_by_role("button", name=re.compile(r"Record the next 12 steps")).click()
    gif_button = page.get_by_role("button", name=re.compile(r"⬇ GIF"))
    # On an idle machine twelve steps record in a second or two: the bar may come and go
    # between two polls, so the test waits for the bar or the finished buttons, whichever shows.
    page.locator("[data-testid='stProgress']").or_(gif_button).first.wait_for(timeout=120_000)
    page.screenshot(path=str(SHOTS / "record_progress.png"), full_page=True)
    gif_button.wait_for(timeout=600_000)
    page.screenshot(path=str(SHOTS / "record_done.png"), full_page=True)
    expected = frame_count(12, 2)
    for fmt, name in (("gif", r"⬇ GIF"), ("html", r"⬇ HTML \(")):
        with page.expect_download(timeout=120_000) as d:
            page.get_by_role("button", name=re.compile(name)).click()
        data = open(d.value.path(), "rb").read()
        assert d.value.suggested_filename.endswith(f".{fmt}")
        if fmt == "gif":
            assert iio.imread(data, index=None, extension=".gif").shape[0] == expected
        else:
            assert html_frame_count(data) == expected
    page.close()


@pytest.mark.timeout(600)
def test_drawn_points_become_the_data_and_train(server, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.goto(server.rstrip("/") + "/?dataset=custom", wait_until="domcontentloaded")
    _wait_ready(page, 6)
    page.get_by_text("…or draw your points").click()
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for(timeout=60_000)
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x0 + 0.8 * w, y0 + h / 2)
    page.mouse.down()
    for k in range(1, 41):  # a circle
        a = 2 * math.pi * k / 40
        page.mouse.move(x0 + w / 2 + 0.3 * w * math.cos(a), y0 + h / 2 + 0.3 * h * math.sin(a))
    page.mouse.up()
    page.mouse.move(x0 + 0.2 * w, y0 + 0.8 * h)  # and a diagonal
    page.mouse.down()
    page.mouse.move(x0 + 0.8 * w, y0 + 0.2 * h, steps=20)
    page.mouse.up()
    page.get_by_text(re.compile(r"2 stroke\(s\) → [\d,]+ points")).wait_for(timeout=60_000)
    page.screenshot(path=str(SHOTS / "draw_canvas.png"))
    page.get_by_role("button", name="Use this drawing").click()
    page.get_by_text(re.compile("Data changed to your points")).first.wait_for(timeout=120_000)
    _wait_ready(page, 6)
    assert page.get_by_text(re.compile("no entropy floor")).count() >= 1
    page.get_by_role("button", name=re.compile("Play")).click()
    page.wait_for_timeout(8000)
    page.get_by_role("button", name=re.compile("Pause")).click()
    page.wait_for_timeout(3000)
    page.screenshot(path=str(SHOTS / "draw_trained.png"), full_page=True)
    page.close()
