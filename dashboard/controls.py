"""Sidebar widgets shared by the pages: the presentation switch and the URL-bound control helpers.

Every control is bound to the URL with ``bind="query-params"`` (Streamlit >= 1.5x); the widget key
is the query parameter, so a copied link reopens the same setup. Controls hidden in presentation
mode keep their value for the session (``persist_state="session"``).
"""

from __future__ import annotations

import streamlit as st

__all__ = ["URL", "presentation_switch", "is_presentation", "PRESENTATION_CSS"]

URL = "query-params"

PRESENTATION_CSS = """
<style>
html, body, [data-testid="stAppViewContainer"] { font-size: 20px; }
[data-testid="stMarkdownContainer"] p, [data-testid="stCaptionContainer"] { font-size: 1.15rem; }
[data-testid="stMetricValue"],
[data-testid="stMetricValue"] [data-testid="stMarkdownContainer"] p { font-size: 2.6rem; }
[data-testid="stMetricLabel"] { min-height: 3.1em; align-items: flex-start; }
[data-testid="stMetricLabel"] [data-testid="stMarkdownContainer"] p { white-space: normal; }
[data-testid="stSidebar"] label p { font-size: 1.1rem; }
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
