"""AppTest of the guided tour (the whole app, as ``streamlit run`` mounts it): every scene opens
its page with its controls set, the counter follows Next / Back on the Tour page and in the tour
bar, a scene link (``/tour?scene=3``) opens that scene, and a scene resets what the scene before
it set on the same page. The tour bar's Back / Next are page links, followed here as the browser
follows them (their page and query string)."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from dashboard import tour as T
from dashboard.views import logdet as logdet_view
from dashboard.views import tour as tour_view
from tests.support import APP, assert_clean

#: the pages' titles, to tell which page a run drew
TITLES = {
    "playground": "i-ResNet Playground",
    "inverse": "Fixed-point inverse",
    "logdet": "Log-determinant",
    "lipschitz": "Lipschitz constants",
    "classify": "i-ResNet classifiers",
    "tour": "A guided tour",
}
#: controls no scene sets, made small so that every page runs in seconds
SMALL = {"blocks": 2, "width": 16, "clf_steps": 25, "clf_blocks": 1, "clf_width": 16}
WIDGETS = (
    "slider",
    "select_slider",
    "toggle",
    "radio",
    "selectbox",
    "number_input",
    "checkbox",
    "button_group",  # st.segmented_control
)


@pytest.fixture(autouse=True)
def _cheap_cost(monkeypatch):
    # the log-det page times every estimator once per architecture: two N are enough for a test
    monkeypatch.setattr(logdet_view, "COST_NS", (1, 5))


def _tour(**query: str) -> AppTest:
    """The app opened at ``/tour`` (with ``query``), small models preset."""
    at = AppTest.from_file(APP, default_timeout=300)
    for k, v in query.items():
        at.query_params[k] = v
    for k, v in SMALL.items():
        at.session_state[k] = v
    # AppTest.switch_page takes file pages only: ask for the Tour page's hash (its url_path's) for
    # the first run, then let the app's own st.switch_page choose the pages.
    at._page_hash = calc_hash(T.TOUR_PATH)
    at.run()
    at._page_hash = ""
    return at


def _page(at: AppTest) -> str:
    titles = [t.value for t in at.title]
    pages = [p for p, t in TITLES.items() if t in titles]
    assert len(pages) == 1, titles
    return pages[0]


def _bar(at: AppTest) -> int | None:
    """The scene number the tour bar shows, or None without a bar."""
    for m in at.markdown:
        hit = re.match(r"\*\*Tour (\d+) / (\d+)\*\*", m.value)
        if hit:
            assert int(hit.group(2)) == len(T.SCENES)
            return int(hit.group(1))
    return None


def _card(at: AppTest) -> int:
    """The scene number the Tour page's card shows."""
    hit = next(re.match(r"(\d+) / (\d+) · ", h.value) for h in at.subheader if " / " in h.value)
    return int(hit.group(1))


def _widget(at: AppTest, key: str):
    hits = [w for kind in WIDGETS for w in at.get(kind) if getattr(w, "key", None) == key]
    assert len(hits) == 1, f"no single widget with key {key!r}"
    return hits[0]


def _press(at: AppTest, key: str) -> AppTest:
    return at.button(key=key).click().run()


def _bar_link(at: AppTest, label: str):
    hits = [p for p in at.get("page_link") if p.proto.label == label]
    assert len(hits) == 1, f"no single link {label!r} in the tour bar"
    return hits[0]


def _follow(at: AppTest, label: str) -> AppTest:
    """Click the tour bar's link ``label`` as the browser does: its page, its query alone."""
    link = _bar_link(at, label)
    at.query_params.clear()
    at.query_params.update(parse_qsl(link.proto.query_string))
    at._page_hash = link.proto.page_script_hash
    at.run()
    at._page_hash = ""
    return at


def _shows(at: AppTest, number: int) -> None:
    """The run drew scene ``number``: its page, its bar, its controls at its values."""
    assert_clean(at)
    s = T.scene(number)
    assert _page(at) == s.page
    assert _bar(at) == number
    assert at.query_params.get(T.RUNNING_PARAM) in (str(number), [str(number)])
    for key, value in s.params.items():
        assert _widget(at, key).value == value, key
    assert at.get("plotly_chart"), f"scene {number} drew no chart"


def test_scenes_are_data_the_pages_understand():
    assert 7 <= len(T.SCENES) <= 10
    assert {s.page for s in T.SCENES} == set(T.PAGES)  # the tour visits every page
    for s in T.SCENES:
        assert s.do and s.watch and s.paper
        # each scene says where the paper says it
        assert re.search(r"Sec\. \d|Theorem \d|Algorithm \d|Table \d|eq\. \d", s.paper), s.title
    # a scene on a page resets what the other scenes set there and it does not
    values, cleared = T.preset(1)
    assert "unconstrained" in cleared and T.scene(2).params["unconstrained"] is True
    assert set(cleared) | set(values) == T.preset_keys("playground")
    assert not set(cleared) & set(values)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_every_scene_opens_its_page_with_its_controls():
    at = _tour()
    assert_clean(at)
    assert _page(at) == "tour" and _card(at) == 1 and _bar(at) is None
    _press(at, tour_view.OPEN)
    _shows(at, 1)
    for number in range(2, len(T.SCENES) + 1):
        _follow(at, "Next")
        _shows(at, number)
    # the last scene's Next is "Finish": back to the Tour page, the tour over, its card on the last
    _follow(at, "Finish")
    assert_clean(at)
    assert _page(at) == "tour" and _card(at) == len(T.SCENES)
    assert tour_view.RUN_KEY not in at.session_state


def test_next_and_back_move_the_counter():
    at = _tour()
    assert _card(at) == 1
    assert at.button(key=tour_view.BACK).disabled  # nothing before the first scene
    _press(at, tour_view.NEXT)
    _press(at, tour_view.NEXT)
    assert _card(at) == 3 and _page(at) == "tour"  # on the Tour page, Next leafs through cards
    _press(at, tour_view.BACK)
    assert _card(at) == 2
    # in the bar, Next and Back go from scene to scene through the pages
    _press(at, tour_view.OPEN)
    _shows(at, 2)
    _follow(at, "Next")
    _shows(at, 3)
    _follow(at, "Back")
    _shows(at, 2)
    _follow(at, "Back")
    _shows(at, 1)
    # Back from the first scene: the Tour page, the tour over
    _follow(at, "Back")
    assert_clean(at)
    assert _page(at) == "tour" and _card(at) == 1 and _bar(at) is None


def test_a_scene_resets_what_the_scene_before_set_on_its_page():
    at = _tour(scene="2")  # the Playground, unconstrained, i-ResNet alone
    _shows(at, 2)
    assert _widget(at, "unconstrained").value is True
    _follow(at, "Back")  # the Playground again: both models, the constraint back on
    _shows(at, 1)
    assert _widget(at, "unconstrained").value is False
    assert _widget(at, "models").value == "Both"
    # controls no scene sets stay as the person set them
    assert _widget(at, "blocks").value == SMALL["blocks"]


def test_a_control_moved_in_a_scene_stays_moved():
    at = _tour(scene="2")  # the Playground, unconstrained
    _shows(at, 2)
    _widget(at, "unconstrained").set_value(False).run()
    assert_clean(at)
    assert _bar(at) == 2 and _widget(at, "unconstrained").value is False
    # a reload of the scene's address is no arrival either
    at.run()
    assert _widget(at, "unconstrained").value is False
    # arriving again by the tour writes the scene's values
    _follow(at, "Next")
    _follow(at, "Back")
    _shows(at, 2)


def test_a_scene_link_opens_that_scene():
    at = _tour(scene="4")
    _shows(at, 4)
    assert _widget(at, "inv_c").value == pytest.approx(0.99)
    assert at.session_state[tour_view.CARD_KEY] == 4


def test_a_link_past_the_last_scene_opens_the_last_and_says_so():
    at = _tour(scene="12")
    _shows(at, len(T.SCENES))
    notes = " ".join(i.value for i in at.info)
    assert "scene=12 is past the last scene" in notes


def test_a_malformed_scene_link_stays_on_the_tour_page_and_says_so():
    at = _tour(scene="three")
    assert_clean(at)
    assert _page(at) == "tour" and _card(at) == 1
    assert any("scene=three is not a scene number" in w.value for w in at.warning)


def test_ending_the_tour_leaves_the_page_as_it_is():
    at = _tour(scene="5")
    _shows(at, 5)
    _press(at, tour_view.END)
    assert_clean(at)
    assert _page(at) == "logdet" and _bar(at) is None
    assert T.RUNNING_PARAM not in at.query_params
    assert _widget(at, "ld_N").value == 2  # the scene's setting stays
