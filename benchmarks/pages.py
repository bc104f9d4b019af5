"""Headless Chromium on the app's pages, as the browser tests and the benchmarks drive them:
Debian's Chromium (:data:`CHROMIUM`, never a browser Playwright downloads), waiting for charts,
reading the step counter, pressing Play, a probe inside each page that notes stalls, longtasks
and errors (:data:`PROBE_JS`), and one pass through the guided tour as a presenter clicks it
(:func:`tour_pass`). Not part of the app.

Example:
    >>> stats = PageStats()
    >>> stats.add({"gap_max_ms": 1500, "gaps_over": 1, "changes": 12, "watched_ms": 10000,
    ...            "longtasks": 3, "longtask_max_ms": 200, "longtasks_over": 0,
    ...            "excluded_longtasks": 0, "excluded_longtask_max_ms": 0, "boxes_seen": 0})
    >>> stats.gap_max_s, stats.gaps_over, stats.longtask_max_s
    (1.5, 1, 0.2)
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "COUNTER",
    "STALL_S",
    "wait_ready",
    "steps_of",
    "press_play",
    "is_playing",
    "is_presenting",
    "PROBE_JS",
    "PageStats",
    "read_probe",
    "probe_action",
    "exception_boxes",
    "SCENE_CHARTS",
    "tour_pass",
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
COUNTER = re.compile(r"^Step\s+(i-ResNet|Glow) \d")
STALL_S = 1.0  #: a page blocked, or its step counter still, for longer than this is a stall


def wait_ready(page, n_charts: int = 1, timeout_s: float = 120) -> None:
    """Wait until the Playground shows its step counter and at least ``n_charts`` plotly charts."""
    page.get_by_text(COUNTER).first.wait_for(timeout=timeout_s * 1000)
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot').length >= {n_charts}",
        timeout=timeout_s * 1000,
    )


def steps_of(page) -> list[int]:
    """The step counter(s) the page shows; [] when it cannot be read right now."""
    try:
        text = page.get_by_text(COUNTER).first.inner_text(timeout=5000)
    except Exception:
        return []
    return [int(n.replace(",", "")) for n in re.findall(r"(?:i-ResNet|Glow) ([\d,]+)", text)]


def _transport(page, name: str):
    return page.get_by_test_id("stMainBlockContainer").get_by_role(
        "button", name=re.compile(f"^(\\S+ )?{name}$")
    )


def press_play(page, timeout_s: float = 60) -> None:
    """Press the Playground's Play and wait until its button says Pause."""
    _transport(page, "Play").first.click()
    _transport(page, "Pause").first.wait_for(timeout=timeout_s * 1000)


def is_playing(page) -> bool:
    """Whether the Playground's transport shows Pause (i.e. Play is on)."""
    return _transport(page, "Pause").count() > 0


# ---------------------------------------------------------------- the probe inside each page
#: Installed into every document of a soak page (``page.add_init_script``). ``window.__soak``:
#: ``resume()`` / ``pause()`` bracket the time the script leaves the page alone (it starts paused:
#: a page load is the script's doing); ``take()`` returns what was seen since the last ``take()``
#: and starts over. Every 50 ms it reads the Playground's step counter (the ``h3`` that starts
#: "Step i-ResNet …"): while watching and the counter says "training", the time between two changes
#: of its text is a gap; its clock starts at the first sight of a training counter and stops when
#: the counter stops training (a divergence pause) or leaves the page. Longtasks (the main thread
#: blocked over 50 ms) that start while paused are counted apart as ``excluded``.
PROBE_JS = """
(() => {
  if (window.__soak) return;
  const COUNTER = /^Step\\s+(i-ResNet|Glow) \\d/;
  const s = {
    watching: false, pausedAt: 0, excluded: [], text: null, last: null, prev: null,
    gapMax: 0, gapsOver: 0, changes: 0, watchedMs: 0,
    ltCount: 0, ltMax: 0, ltOver: 0, exCount: 0, exMax: 0,
    boxes: 0, boxesSeen: 0, boxText: "", longtasks: false,
  };
  s.pause = () => {
    if (s.watching) { s.watching = false; s.pausedAt = performance.now(); s.last = null; }
  };
  s.resume = () => {
    if (s.watching) return;
    s.excluded.push([s.pausedAt, performance.now()]);
    s.excluded = s.excluded.slice(-32);
    s.watching = true; s.last = null; s.prev = null;
  };
  const excluded = (t) => (!s.watching && t >= s.pausedAt)
    || s.excluded.some(([a, b]) => t >= a && t <= b);
  s.take = () => {
    const now = performance.now();
    const open = s.watching && s.last !== null ? now - s.last : 0;
    const out = {
      gap_max_ms: Math.max(s.gapMax, open), gaps_over: s.gapsOver, changes: s.changes,
      watched_ms: s.watchedMs, longtasks: s.ltCount, longtask_max_ms: s.ltMax,
      longtasks_over: s.ltOver, excluded_longtasks: s.exCount,
      excluded_longtask_max_ms: s.exMax, boxes_now: s.boxes, boxes_seen: s.boxesSeen,
      box_text: s.boxText, watching: s.watching, longtask_api: s.longtasks,
    };
    Object.assign(s, {gapMax: 0, gapsOver: 0, changes: 0, watchedMs: 0, ltCount: 0, ltMax: 0,
                      ltOver: 0, exCount: 0, exMax: 0, boxesSeen: 0, boxText: ""});
    return out;
  };
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (excluded(e.startTime)) { s.exCount++; s.exMax = Math.max(s.exMax, e.duration); }
        else {
          s.ltCount++; s.ltMax = Math.max(s.ltMax, e.duration);
          if (e.duration > STALL_MS) s.ltOver++;
        }
      }
    }).observe({type: "longtask", buffered: true});
    s.longtasks = true;
  } catch (err) { s.longtasks = false; }
  const counter = () => {
    for (const h of document.querySelectorAll("h3")) {
      const t = h.textContent.replace(/\\u00a0/g, " ").trim();
      if (COUNTER.test(t)) return t;
    }
    return null;
  };
  let tick = 0;
  setInterval(() => {
    const now = performance.now();
    if (++tick % 5 === 0) {
      const boxes = document.querySelectorAll("[data-testid='stException']");
      if (boxes.length > s.boxes) {
        s.boxesSeen += boxes.length - s.boxes;
        s.boxText = s.boxText || boxes[boxes.length - 1].innerText.slice(0, 400);
      }
      s.boxes = boxes.length;
    }
    const t = counter();
    if (!s.watching || t === null || !t.includes("training")) {
      s.last = null; s.prev = null; s.text = t; return;
    }
    if (s.prev !== null) s.watchedMs += now - s.prev;
    s.prev = now;
    if (s.last === null) { s.last = now; s.text = t; return; }
    if (t !== s.text) {
      const gap = now - s.last;
      s.changes++; s.gapMax = Math.max(s.gapMax, gap);
      if (gap > STALL_MS) s.gapsOver++;
      s.last = now; s.text = t;
    }
  }, 50);
  window.__soak = s;
})();
""".replace("STALL_MS", str(round(1000 * STALL_S)))


@dataclass
class PageStats:
    """What one soak page saw over the whole run (sums and maxima of its probe's readings).

    Stalls and longtasks count only while the script left the page alone; ``excluded_*`` are the
    longtasks during the script's own navigation (page loads, tour passes).

    >>> st = PageStats()
    >>> st.add({"gap_max_ms": 1500, "gaps_over": 1, "changes": 40, "watched_ms": 20000,
    ...         "longtasks": 3, "longtask_max_ms": 120, "longtasks_over": 0,
    ...         "excluded_longtasks": 2, "excluded_longtask_max_ms": 900, "boxes_seen": 0})
    >>> st.gap_max_s, st.gaps_over, st.watched_s, st.longtask_max_s, st.excluded_longtask_max_s
    (1.5, 1, 20.0, 0.12, 0.9)
    """

    gap_max_s: float = 0.0  #: longest time the step counter stood still while training
    gaps_over: int = 0  #: gaps over STALL_S
    changes: int = 0  #: changes of the step counter seen
    watched_s: float = 0.0  #: seconds the counter was watched while training
    longtasks: int = 0
    longtask_max_s: float = 0.0
    longtasks_over: int = 0  #: longtasks over STALL_S
    excluded_longtasks: int = 0
    excluded_longtask_max_s: float = 0.0
    exception_boxes: int = 0  #: Streamlit exception boxes that appeared
    exception_text: str = ""
    page_errors: int = 0  #: uncaught JavaScript errors (Playwright's "pageerror")
    page_error_text: str = ""
    readings: int = 0

    def add(self, r: dict[str, Any]) -> None:
        """Fold in one reading of :data:`PROBE_JS`'s ``take()``."""
        self.gap_max_s = max(self.gap_max_s, r["gap_max_ms"] / 1000)
        self.gaps_over += int(r["gaps_over"])
        self.changes += int(r["changes"])
        self.watched_s += r["watched_ms"] / 1000
        self.longtasks += int(r["longtasks"])
        self.longtask_max_s = max(self.longtask_max_s, r["longtask_max_ms"] / 1000)
        self.longtasks_over += int(r["longtasks_over"])
        self.excluded_longtasks += int(r["excluded_longtasks"])
        self.excluded_longtask_max_s = max(
            self.excluded_longtask_max_s, r["excluded_longtask_max_ms"] / 1000
        )
        self.exception_boxes += int(r["boxes_seen"])
        if r.get("box_text") and not self.exception_text:
            self.exception_text = str(r["box_text"])
        self.readings += 1


def read_probe(page) -> dict[str, Any] | None:
    """The page's probe reading since the last one (None if it cannot be read now: a page in the
    middle of a load)."""
    try:
        return page.evaluate("() => window.__soak ? window.__soak.take() : null")
    except Exception:
        return None


def probe_action(page, action: str) -> None:
    """``pause`` or ``resume`` the page's probe (nothing if it is not there yet)."""
    with contextlib.suppress(Exception):
        page.evaluate(f"() => window.__soak && window.__soak.{action}()")


def exception_boxes(page) -> int:
    """Streamlit exception boxes on the page now."""
    try:
        return page.locator("[data-testid='stException']").count()
    except Exception:
        return 0


# ---------------------------------------------------------------- the tour
#: plotly charts each tour page draws at least (the Playground: one model's three)
SCENE_CHARTS = {"playground": 3, "inverse": 3, "logdet": 5, "lipschitz": 4, "classify": 2}
#: plotly charts drawn and visible
_VISIBLE_PLOTS = """() => [...document.querySelectorAll('.js-plotly-plot')]
    .filter(p => p.offsetParent !== null && p.getBoundingClientRect().height > 0).length"""
#: the script run is over: no element left from the run before, no "Stop" in the status widget
_IDLE = """() => !document.querySelector('[data-stale=true]')
    && !document.querySelector('[data-testid=stStatusWidget] button')"""


def _sidebar_link(page, title: str) -> None:
    """Click the sidebar navigation's link to the page titled ``title`` (a presenter's click:
    the same session)."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()


def _wait_scene(page, number: int, timeout_s: float) -> None:
    """Scene ``number``'s bar and its page's charts are on screen and the page's run is over
    (a Playground that still plays never is: there the charts suffice)."""
    from dashboard import tour as T

    s = T.scene(number)
    bar = page.locator(".st-key-tour_bar")
    bar.get_by_text(re.compile(rf"\b{re.escape(T.counter(number))} · ")).first.wait_for(
        timeout=timeout_s * 1000
    )
    page.wait_for_function(
        f"() => ({_VISIBLE_PLOTS})() >= {SCENE_CHARTS[s.page]}",
        timeout=timeout_s * 1000,
        polling=250,
    )
    with contextlib.suppress(Exception):
        page.wait_for_function(f"() => ({_IDLE})()", timeout=30_000, polling=250)


def tour_pass(
    page,
    timeout_s: float = 180,
    each: Callable[[int], None] | None = None,
    shots: Path | None = None,
) -> int:
    """One pass of the guided tour, as a presenter clicks it: the sidebar's Tour link, the Tour
    page's link to scene 1, the tour bar's Next on every scene (each scene's bar and charts waited
    for, ``each(number)`` called there), Finish (back to the Tour page), the sidebar's Playground
    link and Play. Returns the number of scenes seen; raises (Playwright's ``TimeoutError``) if a
    scene does not appear within ``timeout_s``. Screenshots of the scenes go to ``shots`` if
    given."""
    from dashboard import tour as T

    last = len(T.SCENES)
    _sidebar_link(page, T.PAGE_TITLES[T.TOUR_PATH])
    page.get_by_text("All scenes").wait_for(timeout=timeout_s * 1000)
    first = page.get_by_role("link", name=re.compile(rf"1\. {re.escape(T.scene(1).title)}$"))
    first.click()
    seen = 0
    for number in range(1, last + 1):
        _wait_scene(page, number, timeout_s)
        seen += 1
        if shots is not None:
            page.screenshot(path=str(shots / f"scene-{number}.png"))
        if each is not None:
            each(number)
        name = "Next" if number < last else "Finish"
        page.locator(".st-key-tour_bar").get_by_role(
            "link", name=re.compile(rf"{name}")
        ).first.click()
    page.get_by_text("All scenes").wait_for(timeout=timeout_s * 1000)
    _sidebar_link(page, T.PAGE_TITLES["playground"])
    wait_ready(page, 3, timeout_s)
    if not is_playing(page):
        press_play(page, timeout_s)
    return seen


_PRESENTING = """() => {
  for (const label of document.querySelectorAll("[data-testid=stSidebar] label")) {
    const input = label.querySelector("input[type=checkbox]");
    if (input && label.innerText.includes("Presentation mode")) return input.checked;
  }
  return false;
}"""


def is_presenting(page) -> bool:
    """Whether the sidebar's "Presentation mode" toggle is on."""
    try:
        return bool(page.evaluate(_PRESENTING))
    except Exception:
        return False
