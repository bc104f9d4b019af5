"""The guided tour end to end in a real browser: headless Debian Chromium driven by Playwright
(never downloads one), on ``streamlit run streamlit_app.py``.

The Tour page's card follows the arrow keys; "Open this scene" opens scene 1; then every scene in
turn, by the tour bar's Next button and by the → key alternately: each one's page, counter and
charts appear, with no exception; ← goes back; a scene link opens its scene in a fresh session.
Screenshots go where ``tests/browser/test_browser.py`` puts its own.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

import pytest

from benchmarks.app_server import start_server, stop_server
from benchmarks.pages import CHROMIUM, CHROMIUM_ARGS
from dashboard import tour as T

SHOTS = Path(
    os.environ.get("SCREENSHOT_DIR")
    or Path(tempfile.gettempdir()) / "iresnet-playground-screenshots"
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK), reason="needs Debian's /usr/bin/chromium"
    ),
]

#: charts each page draws at least (the Playground: one model's three; both models draw six)
CHARTS = {"playground": 3, "inverse": 3, "logdet": 5, "lipschitz": 4, "classify": 2}
#: plotly charts drawn and visible
_VISIBLE_PLOTS = """() => [...document.querySelectorAll('.js-plotly-plot')]
    .filter(p => p.offsetParent !== null && p.getBoundingClientRect().height > 0).length"""
#: the script run is over: no element left from the run before, no "Stop" in the status widget
_IDLE = """() => !document.querySelector('[data-stale=true]')
    && !document.querySelector('[data-testid=stStatusWidget] button')"""
TIMEOUT_MS = 180_000  # a cold page on two busy cores


@pytest.fixture(scope="module")
def server():
    try:
        proc, url = start_server(
            Path(tempfile.gettempdir()) / "iresnet-playground-tour-test.log", timeout_s=90
        )
    except RuntimeError as e:
        pytest.fail(str(e))
    yield url
    stop_server(proc)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _settled(page, n_charts: int = 0) -> None:
    page.wait_for_function(
        f"() => ({_IDLE})() && ({_VISIBLE_PLOTS})() >= {n_charts}",
        timeout=TIMEOUT_MS,
        polling=250,
    )


def _card(page) -> str:
    return page.locator(".st-key-tour_card h3").first.inner_text()


def _on_scene(page, number: int) -> None:
    """Scene ``number`` is on screen: its page (the URL's path), its bar, its charts."""
    s = T.scene(number)
    bar = page.locator(".st-key-tour_bar")
    bar.get_by_text(re.compile(rf"\b{T.counter(number)} · ")).first.wait_for(timeout=TIMEOUT_MS)
    _settled(page, CHARTS[s.page])
    path = re.sub(r"^https?://[^/]+/?", "", page.url).split("?")[0]
    assert path == s.page or (s.page == "playground" and path == ""), page.url  # default: /
    assert f"{T.RUNNING_PARAM}={number}" in page.url
    assert bar.get_by_text(s.title).count() == 1
    assert page.get_by_test_id("stException").count() == 0, f"scene {number}: an exception"


@pytest.mark.timeout(900)
def test_the_tour_end_to_end(server, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    t0 = time.time()
    page.goto(f"{server}/{T.TOUR_PATH}", wait_until="domcontentloaded")
    page.get_by_text("All scenes").wait_for(timeout=TIMEOUT_MS)
    _settled(page)
    assert _card(page).startswith(f"{T.counter(1)} · ")
    # the arrow keys leaf through the Tour page's cards (nothing focused: the page has them), once
    # the key script runs (Streamlit loads its HTML element's code on first use)
    page.wait_for_function("() => window.__iresnetTourKeys === true", timeout=TIMEOUT_MS)
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "() => document.querySelector('.st-key-tour_card h3')?.innerText.startsWith('2 / ')",
        timeout=60_000,
    )
    _settled(page)
    page.keyboard.press("ArrowLeft")
    page.wait_for_function(
        "() => document.querySelector('.st-key-tour_card h3')?.innerText.startsWith('1 / ')",
        timeout=60_000,
    )
    _settled(page)
    page.screenshot(path=str(SHOTS / "tour.png"))

    page.locator(".st-key-tour_card").get_by_role("button", name="Open this scene").click()
    _on_scene(page, 1)
    page.screenshot(path=str(SHOTS / "tour-scene-1.png"))
    # the scene opened the Playground by its path; the sidebar's link, its default page at /,
    # shows the same scene's bar
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Playground").click()
    page.wait_for_url(re.compile(r"^https?://[^/]+/(\?.*)?$"), timeout=60_000)
    page.locator(".st-key-tour_bar").get_by_text(T.scene(1).title).wait_for(timeout=TIMEOUT_MS)
    _settled(page, CHARTS["playground"])
    for number in range(2, len(T.SCENES) + 1):
        if number % 2:  # odd scenes by the → key, even ones by the Next button
            page.keyboard.press("ArrowRight")
        else:
            page.locator(".st-key-tour_bar").get_by_role("link", name="Next").click()
        _on_scene(page, number)
    page.screenshot(path=str(SHOTS / f"tour-scene-{len(T.SCENES)}.png"))
    # ← goes back a scene
    page.keyboard.press("ArrowLeft")
    _on_scene(page, len(T.SCENES) - 1)
    (SHOTS / "tour-timing.txt").write_text(f"every scene in {time.time() - t0:.0f} s\n")


@pytest.mark.timeout(300)
def test_a_scene_link_opens_its_scene(server, browser):
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.goto(f"{server}{T.link(4, presentation=True)}", wait_until="domcontentloaded")
    _on_scene(page, 4)
    page.wait_for_function("() => window.__iresnetTourKeys === true", timeout=TIMEOUT_MS)
    assert "inv_c=0.99" in page.url
    # presentation mode: the bar's title is a large heading, the rare controls stay hidden
    assert page.locator(".st-key-tour_bar h2").get_by_text(T.scene(4).title).count() == 1
    assert page.get_by_text("Camera button saves").count() == 0
    page.screenshot(path=str(SHOTS / "tour-scene-4-presentation.png"))
    # on through the tour, still presenting, and the address bar says so
    page.keyboard.press("ArrowRight")
    _on_scene(page, 5)
    assert page.locator(".st-key-tour_bar h2").count() == 1
    assert "presentation=true" in page.url
