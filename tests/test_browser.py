"""A real browser on the real app: headless Debian Chromium driven by Playwright (never downloads one).

Starts ``streamlit run streamlit_app.py`` on a free loopback port, waits until the app is ready,
moves the ``c`` slider, presses Play, watches the step counter grow, presses Pause, and saves
screenshots into ``docs/screenshots/`` (the README shows them).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The README's screenshots are refreshed with `make screenshots` (SCREENSHOT_DIR=docs/screenshots);
# a plain test run writes them elsewhere so that it leaves the work tree clean.
SHOTS = Path(os.environ.get("SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "iresnet-playground-screenshots")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason="needs Debian's /usr/bin/chromium"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT), STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    log = open(Path(tempfile.gettempdir()) / "iresnet-playground-browser-test.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"),
         "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read().strip() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("streamlit did not become healthy in 60 s")
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


COUNTER = re.compile(r"^Step\s+(i-ResNet|Glow) \d")


def _steps(page) -> list[int]:
    text = page.get_by_text(COUNTER).first.inner_text()
    return [int(n.replace(",", "")) for n in re.findall(r"(?:i-ResNet|Glow) ([\d,]+)", text)]


def _wait_ready(page, n_charts: int, timeout_s: float = 90) -> None:
    page.get_by_text(COUNTER).first.wait_for(timeout=timeout_s * 1000)
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length >= {n_charts}",
                           timeout=timeout_s * 1000)
    page.wait_for_timeout(800)  # let plotly finish drawing


def test_slider_play_pause_and_screenshots(server, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1600, "height": 1300})
    t0 = time.time()
    page.goto(server, wait_until="domcontentloaded")
    _wait_ready(page, 6)
    ready_s = time.time() - t0
    assert _steps(page) == [0, 0]
    page.screenshot(path=str(SHOTS / "playground.png"))

    # move the c slider with the keyboard: 0.90 -> 0.85; the i-ResNet resets and says so
    thumb = page.get_by_label("Lipschitz coefficient c")
    if thumb.count() == 0 or thumb.first.get_attribute("role") != "slider":
        thumb = page.locator('[data-testid="stSlider"]', has_text="Lipschitz coefficient c").get_by_role("slider")
    thumb.first.focus()
    for _ in range(5):
        page.keyboard.press("ArrowLeft")
    page.get_by_text(re.compile(r"c 0\.9 → 0\.8")).first.wait_for(timeout=90_000)
    assert "c=0.85" in page.url or "c=0.8" in page.url  # the URL carries the setup
    _wait_ready(page, 6)

    # Play: the counter grows while the page redraws
    page.get_by_role("button", name=re.compile("Play")).click()
    page.get_by_role("button", name=re.compile("Pause")).wait_for(timeout=60_000)
    first = _steps(page)
    grew = False
    deadline = time.time() + 90
    while time.time() < deadline:
        page.wait_for_timeout(1000)
        now = _steps(page)
        if all(b > a for a, b in zip(first, now)) and min(now) >= 3:
            grew = True
            break
    assert grew, f"step counter did not grow: {first} -> {_steps(page)}"
    page.wait_for_timeout(3000)
    page.screenshot(path=str(SHOTS / "playground-training.png"))
    # each status line: the counter's own pace, redraws included, and the trainer's rate beside it
    body = page.inner_text("body").replace(",", "")
    paces = [(int(a), int(b)) for a, b in re.findall(r"(\d+) steps/s \(trainer (\d+)\)", body)]
    assert len(paces) == 2 and all(0 < live <= trainer for live, trainer in paces), paces

    # Pause: the counter stops
    page.get_by_role("button", name=re.compile("Pause")).click()
    page.get_by_role("button", name=re.compile("Play")).wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    stopped = _steps(page)
    page.wait_for_timeout(2500)
    assert _steps(page) == stopped
    (SHOTS / "browser-timing.txt").write_text(f"ready after {ready_s:.1f} s\n")


def test_presentation_mode_screenshot(server, browser):
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.goto(server + "/?presentation=true&models=i-ResNet", wait_until="domcontentloaded")
    _wait_ready(page, 3)
    assert not page.get_by_text("Hutchinson probes").count()  # a rare control is hidden
    page.screenshot(path=str(SHOTS / "playground-presentation.png"))
