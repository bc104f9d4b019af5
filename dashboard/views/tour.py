"""The Tour page and the tour bar: scenes that open the real pages with their controls preset
(:mod:`dashboard.tour` holds them as plain data).

* The Tour page (``/tour``): a card per scene with a counter ("3 / 8"), Back / Next (and the
  keyboard's arrow keys) to leaf through them, "Open this scene", and a link per scene
  (``/tour?scene=3``) that opens that scene directly, for a slide.
* Opening a scene: its page with ``?tour=<n>`` and the scene's query parameters. The first run
  there that arrives by the tour writes the scene's values into ``st.session_state`` under the
  widget keys (and clears the keys that other scenes set on that page, back to the page's
  defaults) before the page draws its widgets. The session values are what the widgets take: a
  bound widget seeds itself from the URL only on its first run (a page visited before keeps its
  controls across a page change).
* Who changes the page: from the Tour page (no timers run there) the server does, with
  ``st.switch_page``. From a scene's page the tour bar's Back / Next (and Finish) are page links:
  the browser changes the page. A page that plays (the Playground's fragment reruns itself every
  tenth of a second) has timer ticks in flight until the browser hears of the next run; when the
  server switched pages, a tick sent in that window reached it after the new page's run began, ran
  as a fragment run of the old page, found no such fragment and left the new page blank. The
  browser stops the timers before it asks for another page, so no tick of the old page follows.
* :func:`tour_bar`, which every page calls once at the top of its ``render()``, shows the running
  scene's text with Back / Next, the counter and an end button on that scene's page; in
  presentation mode (``?presentation=true``) it is large. The arrow keys press its Back / Next.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NoReturn

import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.runtime.scriptrunner import get_script_run_ctx

from dashboard import tour as T
from dashboard.controls import is_presentation

__all__ = [
    "render",
    "tour_bar",
    "RUN_KEY",
    "CARD_KEY",
    "NOTE_KEY",
    "PENDING_KEY",
    "CARD_PARAM",
    "KEYS_JS",
    "BACK",
    "NEXT",
    "END",
    "OPEN",
]

RUN_KEY = "_tour_scene"  #: session: the number of the scene the tour is on (absent: no tour)
CARD_KEY = "_tour_card"  #: session: the scene the Tour page's card shows
NOTE_KEY = "_tour_note"  #: session: a note about the link that opened the scene, shown once
#: session: the scenes whose values the next arrival on their page writes (the one opened from the
#: Tour page, or the two a tour bar links to)
PENDING_KEY = "_tour_apply"
CARD_PARAM = "card"  #: ``/tour?card=<n>``: the tour bar's way back to the Tour page, card n shown
#: keys of the Back / Next / end / open buttons (in the tour bar, Back / Next are links)
BACK, NEXT, END, OPEN = "tour_back", "tour_next", "tour_end", "tour_open"

#: ArrowLeft / ArrowRight press the Back / Next button on the page (the Tour page's buttons or the
#: tour bar's links; ``key=...`` gives a widget's or container's element the class
#: ``st-key-<key>``, which can also hold a hidden copy: the visible one is pressed). Keys typed
#: into a control (a focused slider, radio, select or text field) stay the control's.
#: ``st.html`` runs it in the app's own document; the flag keeps one listener however often the
#: element is redrawn.
KEYS_JS = f"""<script>
(() => {{
  if (window.__iresnetTourKeys) return;
  window.__iresnetTourKeys = true;
  const own = "input, textarea, select, [contenteditable=true], [role=slider], [role=radio], "
    + "[role=radiogroup], [role=tab], [role=listbox], [role=option], [role=combobox], "
    + "[role=spinbutton]";
  document.addEventListener("keydown", (e) => {{
    const key = {{ArrowRight: "{NEXT}", ArrowLeft: "{BACK}"}}[e.key];
    if (!key || e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    const focus = document.activeElement;
    if (focus && focus.closest && focus.closest(own)) return;
    const button = [...document.querySelectorAll(
      ".st-key-" + key + " button, .st-key-" + key + " a")].find(
      (b) => b.checkVisibility ? b.checkVisibility({{visibilityProperty: true}})
                               : b.offsetParent !== null);
    if (!button || button.disabled || button.getAttribute("aria-disabled") === "true") return;
    e.preventDefault();
    button.click();
  }});
}})();
</script>"""

_HIDE_KEYS = "<style>.st-key-tour_keys{display:none}</style>"
#: the tour bar's Back / Next are page links drawn as buttons (Next as the primary one)
_BAR_LINKS_CSS = """<style>
.st-key-tour_back a, .st-key-tour_next a {
  justify-content: center; border: 1px solid rgba(49, 51, 63, 0.2); border-radius: 0.5rem;
  padding: 0.25rem 0.75rem; min-height: 2.5rem; text-decoration: none;
}
.st-key-tour_next a { background-color: rgb(255, 75, 75); border-color: rgb(255, 75, 75); }
.st-key-tour_next a, .st-key-tour_next a * { color: white !important; }
.st-key-tour_back a:hover { border-color: rgb(255, 75, 75); }
.st-key-tour_next a:hover { background-color: rgb(255, 51, 51); }
</style>"""
#: presentation mode: a large bar for the back of the room
_BIG_BAR_CSS = """<style>
.st-key-tour_bar [data-testid="stMarkdownContainer"] p { font-size: 1.3rem; line-height: 1.4; }
.st-key-tour_bar h2 { font-size: 1.9rem; padding: 0 0 0.4rem 0; }
.st-key-tour_bar [data-testid="stCaptionContainer"] p { font-size: 1.05rem; }
.st-key-tour_bar button, .st-key-tour_bar a { min-height: 3rem; }
.st-key-tour_bar button p, .st-key-tour_bar a p { font-size: 1.2rem; }
</style>"""


def _noop() -> None:  # pragma: no cover - the registered page of the same url_path runs instead
    pass


def _page(url_path: str) -> st.Page:
    """A ``Page`` for ``st.switch_page`` / ``st.page_link``: Streamlit finds the registered page by
    its ``url_path`` alone, so the callable is never run."""
    return st.Page(_noop, title=T.PAGE_TITLES.get(url_path, url_path), url_path=url_path)


def _here() -> str | None:
    """The ``url_path`` of the page this run draws (None outside a multipage run). The default
    page is served at ``/`` (its registered path is empty): it is known by its title."""
    ctx = get_script_run_ctx()
    info = ctx.pages_manager.get_pages().get(ctx.page_script_hash) if ctx is not None else None
    if not info:
        return None
    path = info.get("url_pathname") or ""
    if path in (*T.PAGES, T.TOUR_PATH):
        return path
    by_title = {title: p for p, title in T.PAGE_TITLES.items()}
    return by_title.get(str(info.get("page_name")))


def _keys() -> None:
    """The arrow keys' listener (hidden)."""
    with st.container(key="tour_keys"):
        st.html(_HIDE_KEYS + KEYS_JS, unsafe_allow_javascript=True)


def _bound(keys: Iterable[str]) -> set[str]:
    """Those of ``keys`` that a widget binds to the URL now: Streamlit refuses to set them as query
    parameters (the widget writes its own value into the URL instead)."""
    ctx = get_script_run_ctx()
    if ctx is None:
        return set(keys)
    with ctx.session_state.query_params() as qp:
        return {k for k in keys if qp.is_bound(k)}


def _open(number: int, note: str | None = None) -> NoReturn:
    """Go to scene ``number`` from the Tour page: its page, with its query parameters where they
    can be set; the values themselves are written by :func:`tour_bar` at the top of that page's
    run."""
    s = T.scene(number)
    st.session_state[PENDING_KEY] = (number,)
    st.session_state[RUN_KEY] = number
    st.session_state[CARD_KEY] = number
    if note:
        st.session_state[NOTE_KEY] = note
    query = {k: v for k, v in s.query().items() if k not in _bound(s.params)}
    st.switch_page(_page(s.page), query_params={**query, T.RUNNING_PARAM: str(number)})


def _apply(number: int) -> None:
    """Scene ``number``'s values into the session, under the widget keys, before the page draws
    its widgets: its values set, the keys other scenes set on its page back to their defaults.

    Here and not in the run that asked for the switch: a page that plays (the Playground's
    fragment reruns itself every tenth of a second) has timer reruns in flight that carry the
    browser's old widget values; Streamlit folds them into the switch's rerun, where they count as
    the person's input and would undo values written before. Written in the new page's run, after
    those values were taken in, the scene's win.
    """
    values, cleared = T.preset(number)
    for key in cleared:
        if key in st.session_state:
            del st.session_state[key]
    for key, value in values.items():
        st.session_state[key] = value


def _link(
    container: DeltaGenerator, key: str, target: int, label: str, icon: str, help: str
) -> None:
    """A link in the tour bar to scene ``target``, or to the Tour page (its card at the scene the
    tour leaves) when ``target`` is outside the tour. The browser follows it (see the module's
    notes); the arrival writes the scene's values."""
    last = len(T.SCENES)
    extra = {"presentation": "true"} if is_presentation() else {}
    if 1 <= target <= last:
        page = _page(T.scene(target).page)
        query = {**T.scene(target).query(), T.RUNNING_PARAM: str(target), **extra}
    else:
        page = _page(T.TOUR_PATH)
        query = {CARD_PARAM: str(max(1, min(last, target))), **extra}
    with container.container(key=key):
        st.page_link(
            page,
            label=label,
            icon=icon,
            icon_position="right" if key == NEXT else "left",
            help=help,
            width="stretch",
            query_params=query,
        )


def _running_here() -> int | None:
    """The scene the tour is on, if this page is its page: the URL's ``tour=<n>`` first (a reload,
    the browser's Back), else the session's."""
    here = _here()
    number, _ = T.parse_scene(st.query_params.get(T.RUNNING_PARAM))
    if number is None or T.scene(number).page != here:
        number = st.session_state.get(RUN_KEY)
    if number is None or T.scene(number).page != here:
        return None
    st.session_state[RUN_KEY] = number
    return number


def _end() -> None:
    st.session_state.pop(RUN_KEY, None)
    st.query_params.pop(T.RUNNING_PARAM, None)


def _text(s: T.Scene) -> None:
    st.markdown(f"**Do:** {s.do}  \n**Watch:** {s.watch}")
    st.caption(f"**Paper:** {s.paper}")


def tour_bar() -> None:
    """The running scene's bar, at the top of its page: counter, title, text, Back / Next, end.
    Draws nothing when no tour runs or the tour's scene is on another page."""
    number = _running_here()
    if number is None:
        return
    last = len(T.SCENES)
    if number in st.session_state.get(PENDING_KEY, ()):
        _apply(number)
    # the next arrival by this bar's links writes its scene's values; other runs of this page
    # (a control moved, a reload) leave the controls alone
    st.session_state[PENDING_KEY] = tuple(n for n in (number - 1, number + 1) if 1 <= n <= last)
    s = T.scene(number)
    presentation = is_presentation()
    with st.container(border=True, key="tour_bar"):
        st.html(_BAR_LINKS_CSS + (_BIG_BAR_CSS if presentation else ""))
        widths = [5, 1.5, 1.5, 0.55] if presentation else [8, 1.3, 1.3, 0.5]
        head, back, nxt, end = st.columns(widths, vertical_alignment="center")
        with head:
            if presentation:
                st.header(f"{T.counter(number)} · {s.title}", anchor=False)
            else:
                st.markdown(f"**Tour {T.counter(number)}** · **{s.title}**")
        _link(
            back,
            BACK,
            number - 1,
            "Back",
            ":material/arrow_back:",
            "The previous scene (←)" if number > 1 else "Back to the Tour page (←)",
        )
        _link(
            nxt,
            NEXT,
            number + 1,
            "Next" if number < last else "Finish",
            ":material/arrow_forward:" if number < last else ":material/flag:",
            "The next scene (→)" if number < last else "The end: back to the Tour page (→)",
        )
        end.button(
            "",
            key=END,
            icon=":material/close:",
            on_click=_end,
            help="End the tour (the page stays as it is)",
        )
        note = st.session_state.pop(NOTE_KEY, None)
        if note:
            st.info(note, icon=":material/info:")
        _text(s)
        _keys()


# ------------------------------------------------------------------ the Tour page
def _card_to(number: int) -> None:
    st.session_state[CARD_KEY] = max(1, min(len(T.SCENES), number))


def render() -> None:
    """Draw the Tour page (call from the ``st.Page``); ``?scene=<n>`` opens scene n directly."""
    card_number, card_note = T.parse_scene(st.query_params.get(CARD_PARAM), CARD_PARAM)
    if st.query_params.get(CARD_PARAM) is not None:
        # the tour bar's way back (Finish, or Back from the first scene): the tour is over
        st.query_params.pop(CARD_PARAM, None)
        st.session_state.pop(RUN_KEY, None)
        _card_to(card_number or 1)
    number, note = T.parse_scene(st.query_params.get(T.SCENE_PARAM))
    note = note or card_note
    if number is not None:
        ctx = get_script_run_ctx()
        if ctx is not None and ctx.is_history_navigation:
            # the browser's Back into a scene link: show its card rather than open it again
            # (which would send the person straight back to where they came from)
            st.session_state[CARD_KEY] = number
        else:
            _open(number, note)
    presentation = is_presentation()
    last = len(T.SCENES)
    st.title("A guided tour" if not presentation else f"Invertible ResNets in {last} scenes")
    if note:
        st.warning(note, icon="⚠️")
    if not presentation:
        st.caption(
            f"{last} scenes, each a real page of the Playground with its controls preset: the "
            "models train and the charts compute as they do when you move the controls yourself. "
            "Open a scene, and a bar on top of its page carries the text, Back / Next and the "
            "counter; the arrow keys ← → press Back and Next. For a talk, switch on presentation "
            "mode first (bigger fonts, rare controls hidden), or put a scene's link on a slide."
        )
    card = int(st.session_state.get(CARD_KEY, 1))
    card = max(1, min(last, card))
    s = T.scene(card)
    with st.container(border=True, key="tour_card"):
        if presentation:
            st.html(_BIG_BAR_CSS.replace("tour_bar", "tour_card"))
        st.subheader(f"{T.counter(card)} · {s.title}", anchor=False)
        st.caption(f"Opens the **{T.PAGE_TITLES[s.page]}** page.")
        _text(s)
        b, n, o, _ = st.columns([1, 1, 2, 3], vertical_alignment="center")
        b.button(
            "Back",
            key=BACK,
            icon=":material/arrow_back:",
            width="stretch",
            disabled=card <= 1,
            on_click=_card_to,
            args=(card - 1,),
            help="The previous scene (←)",
        )
        n.button(
            "Next",
            key=NEXT,
            icon=":material/arrow_forward:",
            icon_position="right",
            width="stretch",
            disabled=card >= last,
            on_click=_card_to,
            args=(card + 1,),
            help="The next scene (→)",
        )
        if o.button(
            "Open this scene",
            key=OPEN,
            type="primary",
            icon=":material/play_circle:",
            width="stretch",
        ):
            _open(card)
        _keys()
    st.subheader("All scenes", anchor=False)
    extra = {"presentation": "true"} if presentation else {}
    for i, sc in enumerate(T.SCENES, start=1):
        left, right = st.columns(2, vertical_alignment="center")
        left.page_link(
            _page(T.TOUR_PATH),
            label=f"{i}. {sc.title}",
            query_params={T.SCENE_PARAM: str(i), **extra},
            icon=":material/slideshow:",
        )
        right.caption(f"{T.PAGE_TITLES[sc.page]} · `{T.link(i, presentation)}`")
