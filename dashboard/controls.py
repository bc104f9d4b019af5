"""Sidebar widgets shared by the pages: the presentation switch, and the controls of a table
(:mod:`dashboard.control_list`) drawn and bound to the URL.

Every control is bound to the URL with ``bind="query-params"`` (Streamlit >= 1.5x); the widget key
is the query parameter, so a copied link reopens the same setup. Controls hidden in presentation
mode keep their value for the session (``persist_state="session"``).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.control_list import Control, read_link

__all__ = [
    "URL",
    "presentation_switch",
    "is_presentation",
    "PRESENTATION_CSS",
    "render_control",
    "apply_link",
]

URL = "query-params"

#: Bigger type for a projector, and less empty space above the page's first element (Streamlit's
#: top padding is 6rem; 4rem clears its 3.75rem toolbar), so that more of the charts fit a
#: 1280 x 720 or 1366 x 768 screen.
PRESENTATION_CSS = """
<style>
html, body, [data-testid="stAppViewContainer"] { font-size: 20px; }
[data-testid="stMarkdownContainer"] p, [data-testid="stCaptionContainer"] { font-size: 1.15rem; }
[data-testid="stMetricValue"],
[data-testid="stMetricValue"] [data-testid="stMarkdownContainer"] p { font-size: 2.6rem; }
[data-testid="stMetricLabel"] { min-height: 3.1em; align-items: flex-start; }
[data-testid="stMetricLabel"] [data-testid="stMarkdownContainer"] p { white-space: normal; }
[data-testid="stSidebar"] label p { font-size: 1.1rem; }
[data-testid="stMainBlockContainer"] { padding-top: 4rem; }
[data-testid="stMainBlockContainer"] h1 { padding-top: 0; }
[data-testid="stMainBlockContainer"] h3 { padding: 0.25rem 0; }
</style>
"""


def presentation_switch() -> bool:
    """The "presentation" toggle (bigger fonts, rare controls hidden); bound to
    ``?presentation=true``."""
    on = st.sidebar.toggle(
        "Presentation mode",
        key="presentation",
        bind=URL,
        help="Bigger fonts for a projector; hides the rarely used controls.",
    )
    if on:
        st.html(PRESENTATION_CSS)
    return bool(on)


def is_presentation() -> bool:
    return bool(st.session_state.get("presentation", False))


def render_control(c: Control, presentation: bool, disabled: bool = False) -> Any:
    """Draw ``c`` in the sidebar, bound to the URL, and return its :class:`Settings` value. A rare
    control in presentation mode is not drawn: its value is the session's (or the default)."""
    if c.rare and presentation:
        return c.setting(st.session_state.get(c.key, c.default))
    sb = st.sidebar
    common: dict[str, Any] = {"key": c.key, "bind": URL, "help": c.help or None}
    if c.rare:
        common["persist_state"] = "session"  # kept while presentation mode hides it
    options = [c.widget_value(o) for o in c.options]
    default = c.default
    if c.widget == "selectbox":
        value = sb.selectbox(c.label, options, index=options.index(default), **common)
    elif c.widget == "radio":
        value = sb.radio(c.label, options, index=options.index(default), horizontal=True, **common)
    elif c.widget == "segmented_control":
        value = sb.segmented_control(
            c.label, options, default=default, required=True, disabled=disabled, **common
        )
    elif c.widget == "select_slider":
        value = sb.select_slider(c.label, options, value=default, format_func=c.fmt, **common)
    elif c.widget == "slider":
        lo, hi = c.bounds or (0, 1)
        cast = int if c.integer else float
        value = sb.slider(
            c.label,
            cast(lo),
            cast(hi),
            cast(default),
            cast(c.step or 1),
            disabled=disabled,
            **common,
        )
    elif c.widget == "number_input":
        lo, hi = c.bounds or (0, 1)
        value = sb.number_input(c.label, int(lo), int(hi), int(default), **common)
    elif c.widget == "toggle":
        value = sb.toggle(c.label, value=bool(default), disabled=disabled, **common)
    else:  # pragma: no cover - the table names only the widgets above
        raise ValueError(f"unknown widget {c.widget!r} for {c.key}")
    return c.setting(value)


def apply_link(controls: tuple[Control, ...]) -> list[str]:
    """Take the link's values for ``controls`` (:func:`dashboard.control_list.read_link`): a value
    given as a label, in another case, out of range or malformed is put into the session before
    the widgets are drawn, so the page opens with what the link meant, and a note says what was
    changed. Runs once per link: a rerun with the same query parameters does nothing."""
    params = {k: st.query_params.get_all(k) for k in st.query_params}
    seen = st.session_state.get("_link_seen")
    if seen == params:
        return []
    st.session_state["_link_seen"] = params
    values, notes = read_link(params, controls)
    raw = {k.lower(): v[-1] for k, v in params.items() if v}
    by_key = {c.key: c for c in controls}
    for key, value in values.items():
        if raw.get(key.lower()) != _canonical(by_key[key], value):
            st.session_state[key] = value
    return notes


def _canonical(c: Control, value: Any) -> str:
    """How Streamlit writes ``value`` of ``c`` into the URL (a value written so is not touched)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if c.widget == "select_slider":
        return c.fmt(value)
    return str(value)
